// SPDX-License-Identifier: GPL-2.0
/*
 * log.c - pviod log lines: "pviod[pid] LEVEL tag: message" on stderr.
 * Any thread of a worker may log; a line is one stdio call, and what is
 * kept between lines (the last error, the limiters) is under a lock.
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

int pvbe_log_level = PVBE_LOG_INFO;
char pvbe_log_last_err[256];
bool pvbe_log_to_supervisor;

static pthread_mutex_t last_err_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t rl_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_name[] = { "error", "warn", "info", "debug" };

void pvbe_log_line(int pid, int level, const char *tag, const char *msg)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* One write per line so lines from supervisor and worker never mix. */
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
