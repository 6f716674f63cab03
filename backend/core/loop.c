// SPDX-License-Identifier: GPL-2.0
/*
 * loop.c - fd -> callback table over epoll.
 *
 * The subtle case: a callback may delete another fd whose event is already
 * in the batch epoll_wait() returned.  Entries are therefore looked up by
 * fd at dispatch time, and a deleted slot is marked so that its pending
 * event is dropped instead of calling a stale callback.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/loop.h"
#include "core/log.h"

#define PVBE_LOOP_MAX_FDS	65536

struct pvbe_loop_ent {
	pvbe_fd_cb cb;
	void *arg;
	unsigned int gen;	/* bumped on every add/del of this fd */
};

static struct {
	int epfd;
	int stop;
	struct pvbe_loop_ent ent[PVBE_LOOP_MAX_FDS];
	int (*prepare)(void);
} loop = { .epfd = -1 };

void pvbe_loop_set_prepare(int (*fn)(void))
{
	loop.prepare = fn;
}

int pvbe_loop_init(void)
{
	loop.epfd = epoll_create1(EPOLL_CLOEXEC);
	return loop.epfd < 0 ? -errno : 0;
}

int pvbe_loop_reinit(void)
{
	/* The parent's epoll set is shared with it: only our fd goes. */
	if (loop.epfd >= 0)
		close(loop.epfd);
	memset(loop.ent, 0, sizeof(loop.ent));
	loop.stop = 0;
	loop.prepare = NULL;
	return pvbe_loop_init();
}

int pvbe_loop_fd(void)
{
	return loop.epfd;
}

void pvbe_loop_uninit(void)
{
	if (loop.epfd >= 0)
		close(loop.epfd);
	loop.epfd = -1;
}

int pvbe_loop_add(int fd, uint32_t events, pvbe_fd_cb cb, void *arg)
{
	struct epoll_event ev = { .events = events };

	if (fd < 0 || fd >= PVBE_LOOP_MAX_FDS)
		return -EMFILE;
	ev.data.u64 = (uint64_t)fd | ((uint64_t)(loop.ent[fd].gen + 1) << 32);
	if (epoll_ctl(loop.epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	loop.ent[fd].gen++;
	loop.ent[fd].cb = cb;
	loop.ent[fd].arg = arg;
	return 0;
}

void pvbe_loop_del(int fd)
{
	if (fd < 0 || fd >= PVBE_LOOP_MAX_FDS || !loop.ent[fd].cb)
		return;
	epoll_ctl(loop.epfd, EPOLL_CTL_DEL, fd, NULL);
	loop.ent[fd].cb = NULL;
	loop.ent[fd].gen++;
}

void pvbe_loop_stop(void)
{
	loop.stop = 1;
}

/* Wait up to @timeout ms (-1: for ever) and serve what is ready. */
int pvbe_loop_once(int timeout)
{
	struct epoll_event evs[64];
	int n, i;

	n = epoll_wait(loop.epfd, evs, 64, timeout);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		int fd = (int)(evs[i].data.u64 & 0xffffffff);
		unsigned int gen = (unsigned int)(evs[i].data.u64 >> 32);
		struct pvbe_loop_ent *e = &loop.ent[fd];

		if (!e->cb || e->gen != gen)
			continue;	/* deleted (or re-added) meanwhile */
		e->cb(fd, evs[i].events, e->arg);
	}
	return n;
}

int pvbe_loop_run(void)
{
	int ret;

	while (!loop.stop) {
		int timeout = -1;

		if (loop.prepare && loop.prepare())
			timeout = 0;	/* more to do: only look at the fds */
		if (loop.stop)
			break;
		ret = pvbe_loop_once(timeout);
		if (ret < 0)
			return ret;
	}
	return 0;
}
