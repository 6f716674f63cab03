// SPDX-License-Identifier: GPL-2.0
/*
 * loop.c - fd -> callback table over epoll.
 *
 * The subtle case: a callback may delete another fd whose event is already
 * in the batch epoll_wait() returned.  Entries are therefore looked up by
 * fd at dispatch time, and a deleted slot is marked so that its pending
 * event is dropped instead of calling a stale callback.  The same holds
 * for a table changed by another thread between the wait and the
 * dispatch (threads.c holds the loop's thread out of its callbacks while
 * it does).
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

struct pvbe_loop {
	int epfd;
	int stop;
	int (*prepare)(void);
	struct pvbe_loop_ent ent[PVBE_LOOP_MAX_FDS];
};

/* The process's first loop, and each thread's current one. */
static struct pvbe_loop first = { .epfd = -1 };
static __thread struct pvbe_loop *cur;

static struct pvbe_loop *me(void)
{
	return cur ? cur : &first;
}

struct pvbe_loop *pvbe_loop_cur(void)
{
	return me();
}

void pvbe_loop_use(struct pvbe_loop *l)
{
	cur = l;
}

void pvbe_loop_set_prepare(int (*fn)(void))
{
	me()->prepare = fn;
}

int pvbe_loop_init(void)
{
	first.epfd = epoll_create1(EPOLL_CLOEXEC);
	return first.epfd < 0 ? -errno : 0;
}

int pvbe_loop_reinit(void)
{
	/* The parent's epoll set is shared with it: only our fd goes. */
	if (first.epfd >= 0)
		close(first.epfd);
	memset(first.ent, 0, sizeof(first.ent));
	first.stop = 0;
	first.prepare = NULL;
	cur = NULL;
	return pvbe_loop_init();
}

int pvbe_loop_fd(void)
{
	return me()->epfd;
}

void pvbe_loop_uninit(void)
{
	if (first.epfd >= 0)
		close(first.epfd);
	first.epfd = -1;
}

struct pvbe_loop *pvbe_loop_new(void)
{
	struct pvbe_loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	return l;
}

void pvbe_loop_free(struct pvbe_loop *l)
{
	if (!l)
		return;
	close(l->epfd);
	free(l);
}

int pvbe_loop_add_to(struct pvbe_loop *l, int fd, uint32_t events, pvbe_fd_cb cb,
		     void *arg)
{
	struct epoll_event ev = { .events = events };

	if (fd < 0 || fd >= PVBE_LOOP_MAX_FDS)
		return -EMFILE;
	ev.data.u64 = (uint64_t)fd | ((uint64_t)(l->ent[fd].gen + 1) << 32);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	l->ent[fd].gen++;
	l->ent[fd].cb = cb;
	l->ent[fd].arg = arg;
	return 0;
}

void pvbe_loop_del_from(struct pvbe_loop *l, int fd)
{
	if (fd < 0 || fd >= PVBE_LOOP_MAX_FDS || !l->ent[fd].cb)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->ent[fd].cb = NULL;
	l->ent[fd].gen++;
}

int pvbe_loop_add(int fd, uint32_t events, pvbe_fd_cb cb, void *arg)
{
	return pvbe_loop_add_to(me(), fd, events, cb, arg);
}

void pvbe_loop_del(int fd)
{
	pvbe_loop_del_from(me(), fd);
}

void pvbe_loop_stop(void)
{
	me()->stop = 1;
}

int pvbe_loop_wait(struct pvbe_loop *l, struct epoll_event *evs, int timeout)
{
	int n = epoll_wait(l->epfd, evs, PVBE_LOOP_BATCH, timeout);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	return n;
}

void pvbe_loop_dispatch(struct pvbe_loop *l, const struct epoll_event *evs, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		int fd = (int)(evs[i].data.u64 & 0xffffffff);
		unsigned int gen = (unsigned int)(evs[i].data.u64 >> 32);
		struct pvbe_loop_ent *e = &l->ent[fd];

		if (!e->cb || e->gen != gen)
			continue;	/* deleted (or re-added) meanwhile */
		e->cb(fd, evs[i].events, e->arg);
	}
}

/* Wait up to @timeout ms (-1: for ever) and serve what is ready. */
int pvbe_loop_once(int timeout)
{
	struct epoll_event evs[PVBE_LOOP_BATCH];
	struct pvbe_loop *l = me();
	int n;

	n = pvbe_loop_wait(l, evs, timeout);
	if (n > 0)
		pvbe_loop_dispatch(l, evs, n);
	return n;
}

int pvbe_loop_run(void)
{
	struct pvbe_loop *l = me();
	int ret;

	while (!l->stop) {
		int timeout = -1;

		if (l->prepare && l->prepare())
			timeout = 0;	/* more to do: only look at the fds */
		if (l->stop)
			break;
		ret = pvbe_loop_once(timeout);
		if (ret < 0)
			return ret;
	}
	return 0;
}
