// SPDX-License-Identifier: GPL-2.0
/*
 * log.c - pviod log lines: "pviod[pid] LEVEL tag: message" on stderr.
 * Any thread of a worker may log; a line is one stdio call, and what is
 * kept between lines (the last error, the limiters) is under a lock.
 * When stderr is systemd's journal stream, a line starts with its syslog
 * priority instead of a time stamp (sd-daemon(3)): the journal stamps it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "core/log.h"

int pvbe_log_level = PVBE_LOG_INFO;
char pvbe_log_last_err[256];
bool pvbe_log_to_supervisor;

static pthread_mutex_t last_err_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t rl_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_name[] = { "error", "warn", "info", "debug" };
static const char *const level_prio[] = { SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG };

static pthread_once_t journal_once = PTHREAD_ONCE_INIT;
static bool journal;

/*
 * systemd.exec(5): JOURNAL_STREAM is "device:inode" of the stream it
 * connected stdout and stderr to; only a stderr that is still that stream
 * is the journal's (not one a service redirected, nor a worker's pipe).
 */
static void journal_probe(void)
{
	unsigned long long dev, ino;
	const char *env = getenv("JOURNAL_STREAM");
	struct stat st;

	journal = env && sscanf(env, "%llu:%llu", &dev, &ino) == 2 &&
		  fstat(STDERR_FILENO, &st) == 0 &&
		  (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

bool pvbe_log_journal(void)
{
	pthread_once(&journal_once, journal_probe);
	return journal;
}

const char *pvbe_log_prio(int level)
{
	return pvbe_log_journal() ? level_prio[level] : "";
}

void pvbe_log_line(int pid, int level, const char *tag, const char *msg)
{
	struct timespec ts;

	/* One write per line so lines from supervisor and worker never mix. */
	if (pvbe_log_journal()) {
		fprintf(stderr, "%spviod[%d] %s %s: %s\n", level_prio[level], pid,
			level_name[level], tag ? tag : "-", msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(stderr, "%ld.%03ld pviod[%d] %s %s: %s\n", (long)ts.tv_sec,
		ts.tv_nsec / 1000000, pid, level_name[level], tag ? tag : "-", msg);
}

void pvbe_log(int level, const char *tag, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (level > pvbe_log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (level == PVBE_LOG_ERR) {
		pthread_mutex_lock(&last_err_mu);
		snprintf(pvbe_log_last_err, sizeof(pvbe_log_last_err), "%.60s%s%.190s",
			 tag ? tag : "", tag ? ": " : "", msg);
		pthread_mutex_unlock(&last_err_mu);
	}
	if (pvbe_log_to_supervisor) {
		/* A record for the supervisor, which stamps and writes it. */
		fprintf(stderr, "%c%d\t%s\t%s\n", PVBE_LOG_RECORD, level, tag ? tag : "-", msg);
		return;
	}
	pvbe_log_line((int)getpid(), level, tag, msg);
}

bool pvbe_ratelimit(struct pvbe_ratelimit *rl, const char *tag)
{
	unsigned int suppressed = 0;
	struct timespec ts;
	uint64_t now;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	pthread_mutex_lock(&rl_mu);
	if (now - rl->window >= 5000) {
		if (rl->count > 5)
			suppressed = rl->count - 5;
		rl->window = now;
		rl->count = 0;
	}
	ok = rl->count++ < 5;
	pthread_mutex_unlock(&rl_mu);
	if (suppressed)
		pvbe_warn(tag, "%u more data-path warnings suppressed", suppressed);
	return ok;
}
