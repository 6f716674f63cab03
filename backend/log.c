// SPDX-License-Identifier: GPL-2.0
/* log.c - pviod log lines: "pviod[pid] LEVEL tag: message" on stderr. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int pvbe_log_level = PVBE_LOG_INFO;

static const char *const level_name[] = { "error", "warn", "info", "debug" };

void pvbe_log(int level, const char *tag, const char *fmt, ...)
{
	struct timespec ts;
	char msg[512];
	va_list ap;

	if (level > pvbe_log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	/* One write per line so lines from supervisor and worker never mix. */
	fprintf(stderr, "%ld.%03ld pviod[%d] %s %s: %s\n", (long)ts.tv_sec,
		ts.tv_nsec / 1000000, (int)getpid(), level_name[level],
		tag ? tag : "-", msg);
}
