// SPDX-License-Identifier: GPL-2.0
/* test_util.c - helpers shared by the native backend tests. */
#include <dirent.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
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
	char line[4200];
	ssize_t n, got = 0;
	int fd, l;

	l = snprintf(line, sizeof(line), "%s\n", req);
	if (l < 0 || l >= (int)sizeof(line))
		return -1;

	strncpy(sa.sun_path, sock, sizeof(sa.sun_path) - 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
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
	/* ASan/UBSan/TSan reports land in the log: a test with one fails. */
	if (log_contains(log, "ERROR: AddressSanitizer") ||
	    log_contains(log, "WARNING: ThreadSanitizer") ||
	    log_contains(log, "runtime error:")) {
		fprintf(stderr, "# pviod sanitizer report in %s\n", log);
		return 1;
	}
	return 0;
}

pid_t pviod_start(const char *cfg, const char *log, const char *ctl)
{
	return pviod_start_in(NULL, cfg, log, ctl);
}

pid_t pviod_start_in(const char *netns, const char *cfg, const char *log, const char *ctl)
{
	int fd, i, status;
	pid_t pid;

	unlink(ctl);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* A test that dies (a failed assertion in a fixture's set-up
		 * skips its teardown) takes its pviod with it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(fd, 2);
		if (netns)
			/* ip netns exec execs pviod: the PID stays the supervisor's. */
			execlp("ip", "ip", "netns", "exec", netns, pviod_bin(), "-c", cfg,
			       (char *)NULL);
		else
			execl(pviod_bin(), "pviod", "-c", cfg, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 500; i++) {
		if (access(ctl, F_OK) == 0)
			return pid;
		if (waitpid(pid, &status, WNOHANG) == pid)
			return -1;
		msleep(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

int guest_worker_pid(const char *ctl, const char *guest)
{
	char json[8192], pat[64];
	const char *p;

	if (control(ctl, "workers", json, sizeof(json)))
		return -1;
	snprintf(pat, sizeof(pat), "\"name\":\"%s\"", guest);
	p = strstr(json, pat);
	if (p && (p = strstr(p, "\"worker_pid\":")))
		return atoi(p + strlen("\"worker_pid\":"));
	/* A pviod before one worker per guest: its one worker serves all. */
	if (control(ctl, "list", json, sizeof(json)))
		return -1;
	p = strstr(json, "\"worker_pid\":");
	return p ? atoi(p + strlen("\"worker_pid\":")) : -1;
}

int log_count(const char *path, const char *needle)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

int proc_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* One "Key:  value" line of /proc/PID/status, as a number. */
static long status_field(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t k = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, k) && line[k] == ':') {
			v = strtol(line + k + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

long proc_rss_kb(pid_t pid)
{
	return status_field(pid, "VmRSS");
}

long proc_cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	/* Fields after the command name, which may hold spaces. */
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	p += 2;
	for (i = 0; i < 11 && p; i++)
		p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL;
	if (!p || sscanf(p, "%lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

/* ---- libpvio-front ------------------------------------------------------- */

void fill_desc(struct pvio_desc *d, uint64_t addr, uint32_t len, uint16_t id,
	       uint16_t flags)
{
	d->addr = pvio_cpu_to_le64(addr);
	d->len = pvio_cpu_to_le32(len);
	d->id = pvio_cpu_to_le16(id);
	d->flags = pvio_cpu_to_le16(flags);
}

/* Wait for @d's device_state to become @state; 0 or -1 after @ms. */
int wait_dev_state(struct pvfront_dev *d, uint32_t state, int ms)
{
	for (; ms > 0; ms -= 10) {
		if (pvfront_device_state(d) == state)
			return 0;
		msleep(10);
	}
	return -1;
}

int echo_once(struct pvfront *f, struct pvfront_queue *q, unsigned char *in,
	      uint64_t gin, unsigned char *out, uint64_t gout, unsigned int len,
	      uint16_t id, unsigned int seed)
{
	struct pvio_desc d[2];
	struct pvio_cpl c;
	unsigned int k;
	int tries, got;

	(void)f;
	for (k = 0; k < len; k++)
		in[k] = (unsigned char)(seed + k * 7);
	memset(out, 0, len);
	d[0].addr = pvio_cpu_to_le64(gin);
	d[0].len = pvio_cpu_to_le32(len);
	d[0].id = pvio_cpu_to_le16(id);
	d[0].flags = pvio_cpu_to_le16(PVIO_DESC_F_NEXT);
	d[1].addr = pvio_cpu_to_le64(gout);
	d[1].len = pvio_cpu_to_le32(len);
	d[1].id = pvio_cpu_to_le16(id);
	d[1].flags = pvio_cpu_to_le16(PVIO_DESC_F_WRITE);
	if (pvfront_submit(q, d, 2))
		return -1;
	pvfront_kick(q);
	for (tries = 0; (got = pvfront_reap(q, &c, 1)) == 0 && tries < 50; tries++)
		pvfront_wait(q, 100);
	if (got != 1 || pvio_le16_to_cpu(c.id) != id || c.status ||
	    pvio_le32_to_cpu(c.len) != len || memcmp(in, out, len))
		return -1;
	return 0;
}

long proc_status_num(pid_t pid, int tid, const char *key)
{
	char path[96], line[256];
	size_t k = strlen(key);
	long v = -1;
	FILE *f;

	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, k) && line[k] == ':')
			v = strtol(line + k + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && !bind(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
	    !getsockname(fd, (struct sockaddr *)&sa, &len))
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}
