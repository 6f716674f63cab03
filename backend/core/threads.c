// SPDX-License-Identifier: GPL-2.0
/*
 * threads.c - a worker's queue threads (threads.h says who owns what).
 *
 * The lock protocol.  Each queue thread t has two mutexes, gate and mu.
 * t holds mu whenever it is not in epoll_wait(); it takes mu again after
 * a wait through gate (lock gate, lock mu, unlock gate).  Thread 0
 * holds t out by taking gate then mu: once it has gate, t cannot slip
 * back in between two of its own passes, however busy it is, so thread
 * 0 waits at most for one pass of t's loop (a queue budget).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/pviod.h"
#include "core/threads.h"

#define PVBE_THREAD_STACK	(1u << 20)

struct pvbe_wthread {
	unsigned int idx;
	pthread_t tid;
	bool started;
	struct pvbe_loop *loop;
	int wake_fd;
	pthread_mutex_t gate, mu;
	bool polling;		/* (own) it has busy-polled queues */
};

static struct {
	unsigned int n;
	struct pvbe_guest *g;
	unsigned int hold;		/* thread 0's nesting depth */
	atomic_bool stop;
	pthread_mutex_t go_mu;
	pthread_cond_t go_cv;
	bool go;
	struct pvbe_wthread t[PVBE_MAX_THREADS];
} th = {
	.n = 1,
	.go_mu = PTHREAD_MUTEX_INITIALIZER,
	.go_cv = PTHREAD_COND_INITIALIZER,
	.t[0] = { .wake_fd = -1 },
};

static __thread unsigned int self;

unsigned int pvbe_threads_count(void)
{
	return th.n;
}

unsigned int pvbe_thread_self(void)
{
	return self;
}

struct pvbe_loop *pvbe_queue_loop(const struct pvbe_queue *q)
{
	if (th.n == 1 || q->thread >= th.n)
		return th.t[0].loop ? th.t[0].loop : pvbe_loop_cur();
	return th.t[q->thread].loop;
}

static void wake(int fd)
{
	uint64_t one = 1;

	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0)
		(void)0;	/* full: it is awake already */
}

static void on_wake(int fd, uint32_t events, void *arg)
{
	uint64_t v;

	(void)events;
	(void)arg;
	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

void pvbe_threads_wake_main(void)
{
	if (self != 0)
		wake(th.t[0].wake_fd);
}

bool pvbe_threads_exclusive(void)
{
	return th.n == 1 || (self == 0 && th.hold > 0);
}

void pvbe_threads_hold(void)
{
	unsigned int i;

	if (th.n == 1 || self != 0 || th.hold++ > 0)
		return;
	for (i = 1; i < th.n; i++) {
		pthread_mutex_lock(&th.t[i].gate);
		pthread_mutex_lock(&th.t[i].mu);
	}
}

void pvbe_threads_release(void)
{
	unsigned int i;

	if (th.n == 1 || self != 0 || --th.hold > 0)
		return;
	for (i = 1; i < th.n; i++) {
		pthread_mutex_unlock(&th.t[i].mu);
		pthread_mutex_unlock(&th.t[i].gate);
		wake(th.t[i].wake_fd);
	}
}

/* Deal the queues: a group of a device stays on one thread. */
static void deal(struct pvbe_guest *g)
{
	unsigned int next = 0, q, grp, ngrp;
	int j;

	for (j = 0; j < g->ndev; j++) {
		struct pvbe_dev *d = &g->dev[j];

		ngrp = 0;
		for (q = 0; q < d->nqueues; q++) {
			grp = d->ops->queue_group ? d->ops->queue_group(&d->q[q]) : q;
			if (grp == PVBE_QUEUE_GROUP_MAIN) {
				d->q[q].thread = 0;
				continue;
			}
			d->q[q].thread = (next + grp) % th.n;
			ngrp = grp + 1 > ngrp ? grp + 1 : ngrp;
		}
		next += ngrp;
	}
}

int pvbe_threads_init(struct pvbe_guest *g)
{
	unsigned int i, n = g->cfg->threads ? g->cfg->threads : 1;
	int ret;

	th.g = g;
	th.n = n;
	th.hold = 0;
	self = 0;
	if (n == 1)
		return 0;
	deal(g);
	th.t[0].loop = pvbe_loop_cur();
	for (i = 0; i < n; i++) {
		struct pvbe_wthread *t = &th.t[i];

		t->idx = i;
		if (i > 0) {
			t->loop = pvbe_loop_new();
			if (!t->loop)
				return -ENOMEM;
			pthread_mutex_init(&t->gate, NULL);
			pthread_mutex_init(&t->mu, NULL);
		}
		t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (t->wake_fd < 0)
			return -errno;
		ret = pvbe_loop_add_to(t->loop, t->wake_fd, EPOLLIN, on_wake, NULL);
		if (ret)
			return ret;
	}
	for (i = 1; i < n; i++)
		th.t[i].polling = pvbe_poll_wanted_by(g, i);
	return 0;
}

/* Before every wait of a queue thread: its queues that asked to run. */
static int thread_prepare(struct pvbe_wthread *t)
{
	struct pvbe_guest *g = th.g;
	bool busy = false;
	unsigned int q;
	int j, r;

	for (j = 0; j < g->ndev; j++) {
		struct pvbe_dev *d = &g->dev[j];

		for (q = 0; q < d->nqueues; q++) {
			struct pvbe_queue *pq = &d->q[q];

			if (pq->thread != t->idx || !pq->kick)
				continue;
			pvbe_queue_run(pq);
			busy |= pq->kick;
		}
	}
	if (t->polling && g->connected && !g->leaving) {
		for (r = 0; r < 64; r++)
			if (!pvbe_poll_round(g))
				return busy;
		return 1;
	}
	return busy;
}

static void lock_pass(struct pvbe_wthread *t)
{
	pthread_mutex_lock(&t->gate);
	pthread_mutex_lock(&t->mu);
	pthread_mutex_unlock(&t->gate);
}

static void *thread_main(void *arg)
{
	struct pvbe_wthread *t = arg;
	struct epoll_event evs[PVBE_LOOP_BATCH];
	char name[16];
	int n, busy;

	self = t->idx;
	pvbe_loop_use(t->loop);
	snprintf(name, sizeof(name), "pviod:%.7s/%u", th.g->cfg->name, t->idx);
	pthread_setname_np(pthread_self(), name);
	pthread_mutex_lock(&th.go_mu);
	while (!th.go && !atomic_load(&th.stop))
		pthread_cond_wait(&th.go_cv, &th.go_mu);
	pthread_mutex_unlock(&th.go_mu);
	lock_pass(t);
	while (!atomic_load(&th.stop)) {
		busy = thread_prepare(t);
		pthread_mutex_unlock(&t->mu);
		n = pvbe_loop_wait(t->loop, evs, busy ? 0 : -1);
		lock_pass(t);
		if (n < 0) {
			/* Its queues would never run again: let the worker be restarted. */
			pvbe_err(th.g->tag, "thread %u: epoll: %s: worker exits", t->idx,
				 strerror(-n));
			_exit(1);
		}
		pvbe_loop_dispatch(t->loop, evs, n);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

int pvbe_threads_start(void)
{
	pthread_attr_t attr;
	unsigned int i;
	int j, ret = 0;

	/* The classes' own threads (net = dpdk's poll thread), parked. */
	for (j = 0; th.g && j < th.g->ndev && !ret; j++)
		if (th.g->dev[j].ops->spawn)
			ret = th.g->dev[j].ops->spawn(&th.g->dev[j]);
	if (ret || th.n == 1)
		return ret;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, PVBE_THREAD_STACK);
	for (i = 1; i < th.n && !ret; i++) {
		ret = -pthread_create(&th.t[i].tid, &attr, thread_main, &th.t[i]);
		th.t[i].started = !ret;
	}
	pthread_attr_destroy(&attr);
	if (ret)
		pvbe_err(th.g->tag, "start thread %u: %s", i - 1, strerror(-ret));
	return ret;
}

void pvbe_threads_go(void)
{
	pthread_mutex_lock(&th.go_mu);
	th.go = true;
	pthread_cond_broadcast(&th.go_cv);
	pthread_mutex_unlock(&th.go_mu);
}

void pvbe_threads_stop(void)
{
	unsigned int i;

	if (th.n == 1)
		return;
	atomic_store(&th.stop, true);
	pthread_mutex_lock(&th.go_mu);
	pthread_cond_broadcast(&th.go_cv);
	pthread_mutex_unlock(&th.go_mu);
	for (i = 1; i < th.n; i++) {
		if (!th.t[i].started)
			continue;
		wake(th.t[i].wake_fd);
		pthread_join(th.t[i].tid, NULL);
		th.t[i].started = false;
	}
}
