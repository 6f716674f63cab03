/* SPDX-License-Identifier: GPL-2.0 */
/*
 * loop.h - the event loop of each pviod process (the supervisor, every
 * worker): an epoll set with one callback per fd.  Single-threaded:
 * callbacks run one at a time and may add or remove fds, including their
 * own.
 */
#ifndef PVBE_LOOP_H
#define PVBE_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

typedef void (*pvbe_fd_cb)(int fd, uint32_t events, void *arg);

int pvbe_loop_init(void);
/* A forked child: drop the parent's epoll set and table, start afresh. */
int pvbe_loop_reinit(void);
void pvbe_loop_uninit(void);
int pvbe_loop_fd(void);
int pvbe_loop_add(int fd, uint32_t events, pvbe_fd_cb cb, void *arg);
void pvbe_loop_del(int fd);
/* One wait of up to @timeout ms, then every ready fd served; -errno. */
int pvbe_loop_once(int timeout);
/* Run until pvbe_loop_stop() or a fatal error; returns 0 or -errno. */
int pvbe_loop_run(void);
void pvbe_loop_stop(void);
/*
 * Deferred work: @fn runs before every wait (device events, queues to run,
 * busy-poll rounds).  It returns 0 when the loop may block until an fd is
 * ready, 1 when it has more to do: the loop then only looks at the fds
 * that are ready, serves them and calls @fn again.
 */
void pvbe_loop_set_prepare(int (*fn)(void));

#endif
