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
/* Is stderr systemd's journal stream (JOURNAL_STREAM)? */
bool pvbe_log_journal(void);
/* The syslog priority prefix of @level for the journal ("<3>"), or "". */
const char *pvbe_log_prio(int level);
/* One line as process @pid would log it (the supervisor, for a worker). */
void pvbe_log_line(int pid, int level, const char *tag, const char *msg);

/*
 * In a worker: stderr is a pipe to the supervisor, and pvbe_log() writes
 * records there -- PVBE_LOG_RECORD, the level digit, tab, tag, tab,
 * message, newline -- which the supervisor checks, limits and stamps.
 * Anything else a worker writes (a sanitizer report, the seccomp
 * handler) arrives as plain lines and is logged as the guest's.
 */
#define PVBE_LOG_RECORD		'\x1e'
#define PVBE_LOG_LINE_MAX	1024	/* longer lines are cut */
#define PVBE_LOG_BUDGET		2000	/* lines per worker per window ... */
#define PVBE_LOG_WINDOW_MS	10000	/* ... of this length */
extern bool pvbe_log_to_supervisor;

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
