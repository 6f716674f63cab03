/* SPDX-License-Identifier: GPL-2.0 */
/* test_util.h - helpers shared by the native backend tests. */
#ifndef PVIO_TEST_UTIL_H
#define PVIO_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pvio_front.h"

/* The pviod under test: $PVIOD, default build/pviod-san. */
const char *pviod_bin(void);
void msleep(int ms);
/* CLOCK_MONOTONIC in milliseconds. */
uint64_t now_ms(void);
/* 0 once @path exists, -1 after @ms milliseconds. */
int wait_path(const char *path, int ms);
/* Run a shell command line; its exit status, -1 if it did not exit. */
int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One control request; the JSON line back in @buf.  0 or -1. */
int control(const char *sock, const char *req, char *buf, size_t len);
/* Does any line of the file at @path contain @needle? */
int log_contains(const char *path, const char *needle);
/*
 * Stop the pviod at *@pid (if any) with SIGTERM, wait for it, set *@pid to
 * -1.  Returns 1, after saying so, when its log holds a sanitizer report.
 */
int pviod_stop(pid_t *pid, const char *log);
/*
 * Start pviod -c @cfg with stderr appended to @log; wait up to 5 s for
 * @ctl to appear (every guest socket exists once it does).  Returns the
 * supervisor's PID, or -1 (pviod exited: its log says why).
 */
pid_t pviod_start(const char *cfg, const char *log, const char *ctl);
/* The same inside network namespace @netns (ip netns exec). */
pid_t pviod_start_in(const char *netns, const char *cfg, const char *log,
		     const char *ctl);
/* A loopback TCP port nobody listens on now (the kernel's pick), or -1. */
int free_port(void);
/* The PID of @guest's worker from the control socket, or -1. */
int guest_worker_pid(const char *ctl, const char *guest);
/* How many lines of the file at @path contain @needle. */
int log_count(const char *path, const char *needle);
/* A numeric field of /proc/PID/status (@tid 0) or /proc/PID/task/TID/status, or -1. */
long proc_status_num(pid_t pid, int tid, const char *key);
/* /proc facts about a process: open fds, resident KiB, CPU ticks used. */
int proc_fds(pid_t pid);
long proc_rss_kb(pid_t pid);
long proc_cpu_ticks(pid_t pid);

/* libpvio-front: one descriptor, in the wire's byte order. */
void fill_desc(struct pvio_desc *d, uint64_t addr, uint32_t len, uint16_t id,
	       uint16_t flags);
/* Wait for @d's device_state to become @state; 0 or -1 after @ms. */
int wait_dev_state(struct pvfront_dev *d, uint32_t state, int ms);
/*
 * One echo round trip of @len bytes (pattern from @seed) from @in to @out
 * on @q, checked byte for byte; 0, or -1 on any difference or timeout.
 */
int echo_once(struct pvfront *f, struct pvfront_queue *q, unsigned char *in,
	      uint64_t gin, unsigned char *out, uint64_t gout, unsigned int len,
	      uint16_t id, unsigned int seed);
#endif
