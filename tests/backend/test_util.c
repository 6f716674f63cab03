// SPDX-License-Identifier: GPL-2.0
/* test_util.c - helpers shared by the native backend tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

const char *pviod_bin(void)
{
	const char *p = getenv("PVIOD");

	return p ? p : "build/pviod-san";
}

void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int wait_path(const char *path, int ms)
{
	struct stat st;

	for (; ms > 0; ms -= 10) {
		if (stat(path, &st) == 0)
			return 0;
		msleep(10);
	}
	return -1;
}

int control(const char *sock, const char *req, char *buf, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[256];
	ssize_t n, got = 0;
	int fd, l;

	strncpy(sa.sun_path, sock, sizeof(sa.sun_path) - 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	l = snprintf(line, sizeof(line), "%s\n", req);
	if (send(fd, line, l, MSG_NOSIGNAL) != l) {
		close(fd);
		return -1;
	}
	while ((n = read(fd, buf + got, len - 1 - got)) > 0)
		got += n;
	buf[got] = '\0';
	close(fd);
	return got > 0 ? 0 : -1;
}

int log_contains(const char *path, const char *needle)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

int pviod_stop(pid_t *pid, const char *log)
{
	int status;

	if (*pid <= 0)
		return 0;
	kill(*pid, SIGTERM);
	waitpid(*pid, &status, 0);
	*pid = -1;
	/* ASan/UBSan reports land in the log: a test with one fails. */
	if (log_contains(log, "ERROR: AddressSanitizer") ||
	    log_contains(log, "runtime error:")) {
		fprintf(stderr, "# pviod sanitizer report in %s\n", log);
		return 1;
	}
	return 0;
}
