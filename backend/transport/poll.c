// SPDX-License-Identifier: GPL-2.0
/*
 * poll.c - busy-poll mode, DPDK style, next to the event mode: the queues
 * named by a device's `poll` key are served by the worker's poll round,
 * which the event loop runs between its (then non-blocking) epoll waits,
 * instead of by doorbells.  A polled queue never arms an event index
 * (queue.c), so its guest does not ring for it either: no doorbell, no
 * eventfd, no wake-up on either side, at the price of the worker's core,
 * which stays at 100% while any polled queue exists.
 *
 *   poll = no            event mode (the default)
 *   poll = yes           every queue of the device
 *   poll = 0,3,...       those queue indices only (net: 2n is pair n's rx
 *                        queue, 2n+1 its tx queue)
 *
 * Interrupts to the guest are unchanged: the guest still sleeps on them
 * unless it polls too.  Pin pviod to a core of its own (taskset) when
 * polling.  Parse in the supervisor, the round in the guest's worker.
 *
 * [pviod] poll_idle_us = N (0: never) lets the worker sleep when no polled
 * queue has moved for N microseconds: every polled queue goes back to event
 * mode (its kick arms the event index and re-checks, as always), the loop
 * blocks in epoll, and the first event of any kind brings polling back.
 *
 * With several worker threads (core/threads.h) each thread polls the
 * queues it owns, and sleeps and wakes on its own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/pviod.h"
#include "core/threads.h"

/* Per worker thread, for the queues it owns. */
static __thread bool asleep;		/* polled queues in event mode until an event */
static __thread uint64_t idle_since;	/* ns, CLOCK_MONOTONIC; 0: the last round worked */

int pvbe_dev_poll_parse(struct pvbe_dev *dev)
{
	const struct pvbe_dev_cfg *c = dev->cfg;
	uint32_t mask = 0;
	const char *s = c->poll;
	unsigned int q, n = 0;

	if (!s[0] || !strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "0"))
		return 0;
	if (!dev->ops->can_poll) {
		pvbe_err(dev->tag, "line %d: poll = %s: %s devices are not served by the worker's queues (net = dpdk polls on a thread of its own)",
			 c->poll_line, s, dev->ops->name);
		return -EINVAL;
	}
	if (!strcmp(s, "yes") || !strcmp(s, "true")) {
		mask = dev->nqueues >= 32 ? ~0u : (1u << dev->nqueues) - 1;
	} else {
		while (*s) {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(s, &end, 10);
			if (errno || end == s || *s == '-' || v >= dev->nqueues ||
			    (*end && *end != ',') || (*end == ',' && !end[1])) {
				pvbe_err(dev->tag, "line %d: poll = %s: want no, yes, or queue indices 0..%u separated by commas",
					 c->poll_line, c->poll, dev->nqueues - 1);
				return -EINVAL;
			}
			mask |= 1u << v;
			s = *end ? end + 1 : end;
		}
	}
	for (q = 0; q < dev->nqueues; q++) {
		dev->q[q].polled = mask & (1u << q);
		dev->q[q].poll = dev->q[q].polled;
		n += dev->q[q].polled;
	}
	pvbe_info(dev->tag, "%u of %u queue(s) busy-polled", n, dev->nqueues);
	return 0;
}

/* Does worker thread @thread own a busy-polled queue? */
bool pvbe_poll_wanted_by(const struct pvbe_guest *g, unsigned int thread)
{
	unsigned int q;
	int j;

	for (j = 0; j < g->ndev; j++)
		for (q = 0; q < g->dev[j].nqueues; q++)
			if (g->dev[j].q[q].polled && g->dev[j].q[q].thread == thread)
				return true;
	return false;
}

bool pvbe_poll_wanted(const struct pvbe_guest *g)
{
	return pvbe_poll_wanted_by(g, 0);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* What a queue has done so far: requests taken and completed, packets moved. */
static uint64_t progress(const struct pvbe_queue *q)
{
	return q->st.popped + q->st.reqs + q->st.packets;
}

/*
 * Every configured polled queue: @fn on it.  Queues of a guest with no
 * client are skipped; a queue that is not running is passed to @fn too
 * when @all (mode changes), never kicked.  Returns the work @fn did.
 */
static uint64_t for_each_polled(struct pvbe_guest *g, void (*fn)(struct pvbe_queue *q),
				bool all)
{
	unsigned int q, me = pvbe_thread_self();
	uint64_t done = 0, before;
	int j;

	for (j = 0; j < g->ndev; j++) {
		struct pvbe_dev *d = &g->dev[j];

		for (q = 0; q < d->nqueues; q++) {
			struct pvbe_queue *pq = &d->q[q];

			if (!pq->polled || pq->thread != me ||
			    (!all && (!pq->running || !g->connected)))
				continue;
			before = progress(pq);
			fn(pq);
			done += progress(pq) - before;
		}
	}
	return done;
}

static void kick(struct pvbe_queue *q)
{
	pvbe_queue_run(q);
}

/* Back to polling: the guest stops ringing. */
static void wake(struct pvbe_queue *q)
{
	q->poll = true;
	if (q->running)
		pvbe_queue_disarm(q);
}

/* To event mode: the kick arms the event index and re-checks the ring. */
static void doze(struct pvbe_queue *q)
{
	q->poll = false;
	if (q->running && q->dev->g->connected)
		pvbe_queue_run(q);
}

/*
 * One round over every running polled queue of the calling thread.  Returns 1 to go on polling,
 * 0 when the polled queues went back to event mode after poll_idle_us
 * without work: the loop may then block.
 */
int pvbe_poll_round(struct pvbe_guest *g)
{
	uint64_t t;

	if (asleep) {
		for_each_polled(g, wake, true);
		asleep = false;
		idle_since = 0;
	}
	if (for_each_polled(g, kick, false) || !pvbe.cfg.poll_idle_us) {
		idle_since = 0;
		return 1;
	}
	t = now_ns();
	if (!idle_since) {
		idle_since = t;
		return 1;
	}
	if (t - idle_since < (uint64_t)pvbe.cfg.poll_idle_us * 1000)
		return 1;
	for_each_polled(g, doze, true);
	asleep = true;
	return 0;
}
