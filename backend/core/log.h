/* SPDX-License-Identifier: GPL-2.0 */
/*
 * log.h - pviod logging.  One macro per subsystem level; every line that
 * concerns a guest or a device carries its tag ("g1", "g1/blk0").
 */
#ifndef PVBE_LOG_H
#define PVBE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum pvbe_log_level { PVBE_LOG_ERR, PVBE_LOG_WARN, PVBE_LOG_INFO, PVBE_LOG_DEBUG };

extern int pvbe_log_level;
/* The last error line logged (tag: message), for control-socket replies. */
extern char pvbe_log_last_err[256];

void pvbe_log(int level, const char *tag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define pvbe_err(tag, ...)	pvbe_log(PVBE_LOG_ERR, tag, __VA_ARGS__)
#define pvbe_warn(tag, ...)	pvbe_log(PVBE_LOG_WARN, tag, __VA_ARGS__)
#define pvbe_info(tag, ...)	pvbe_log(PVBE_LOG_INFO, tag, __VA_ARGS__)
/* At most 5 lines per 5 s through one limiter; then a count of the rest. */
struct pvbe_ratelimit {
	uint64_t window;	/* ms, CLOCK_MONOTONIC */
	unsigned int count;
};

bool pvbe_ratelimit(struct pvbe_ratelimit *rl, const char *tag);

#define pvbe_dbg(tag, ...)	do { if (pvbe_log_level >= PVBE_LOG_DEBUG) \
		pvbe_log(PVBE_LOG_DEBUG, tag, __VA_ARGS__); } while (0)

#endif
