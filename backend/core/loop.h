/* SPDX-License-Identifier: GPL-2.0 */
/*
 * loop.h - the event loops of pviod: an epoll set with one callback per
 * fd.  Each thread has a current loop (the supervisor and a worker's
 * main thread: the process's first; a worker's queue threads: their
 * own, core/threads.c).  Callbacks of one loop run one at a time, on the
 * thread that runs it, and may add or remove fds, including their own.
 * Another thread may change a loop's table only while that loop's thread
 * is kept out of its callbacks (threads.c: pvbe_threads_hold()).
 */
#ifndef PVBE_LOOP_H
#define PVBE_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

typedef void (*pvbe_fd_cb)(int fd, uint32_t events, void *arg);

struct pvbe_loop;

#define PVBE_LOOP_BATCH		64

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

/* More loops, for a worker's queue threads. */
struct pvbe_loop *pvbe_loop_new(void);
void pvbe_loop_free(struct pvbe_loop *l);
/* The calling thread's current loop; set it (NULL: the first one). */
struct pvbe_loop *pvbe_loop_cur(void);
void pvbe_loop_use(struct pvbe_loop *l);
int pvbe_loop_add_to(struct pvbe_loop *l, int fd, uint32_t events, pvbe_fd_cb cb,
		     void *arg);
void pvbe_loop_del_from(struct pvbe_loop *l, int fd);
/* The two halves of pvbe_loop_once(), for a caller that locks between. */
int pvbe_loop_wait(struct pvbe_loop *l, struct epoll_event *evs, int timeout);
void pvbe_loop_dispatch(struct pvbe_loop *l, const struct epoll_event *evs, int n);

#endif
