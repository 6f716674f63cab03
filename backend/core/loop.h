/* SPDX-License-Identifier: GPL-2.0 */
/*
 * loop.h - the worker's event loop: an epoll set with one callback per fd.
 * Single-threaded: callbacks run one at a time and may add or remove fds,
 * including their own.
 */
#ifndef PVBE_LOOP_H
#define PVBE_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

typedef void (*pvbe_fd_cb)(int fd, uint32_t events, void *arg);

int pvbe_loop_init(void);
void pvbe_loop_uninit(void);
int pvbe_loop_add(int fd, uint32_t events, pvbe_fd_cb cb, void *arg);
void pvbe_loop_del(int fd);
/* Run until pvbe_loop_stop() or a fatal error; returns 0 or -errno. */
int pvbe_loop_run(void);
void pvbe_loop_stop(void);
/*
 * Busy-poll: call @fn in rounds between non-blocking waits (NULL: off).
 * @fn returns 0 when it has armed everything and the loop may block until
 * an fd is ready, 1 to keep polling.
 */
void pvbe_loop_set_poll(int (*fn)(void));

#endif
