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
 * polling.  Parse in the supervisor, the round in the worker.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pviod.h"

static unsigned int npolled;

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
		dev->q[q].poll = mask & (1u << q);
		n += dev->q[q].poll;
	}
	npolled += n;
	pvbe_info(dev->tag, "%u of %u queue(s) busy-polled", n, dev->nqueues);
	return 0;
}

bool pvbe_poll_wanted(void)
{
	return npolled > 0;
}

/* Serve every running polled queue once; returns how many there were. */
unsigned int pvbe_poll_round(void)
{
	unsigned int q, n = 0;
	int i, j;

	for (i = 0; i < pvbe.nguests; i++) {
		struct pvbe_guest *g = &pvbe.guests[i];

		if (g->conn_fd < 0)
			continue;
		for (j = 0; j < g->ndev; j++) {
			struct pvbe_dev *d = &g->dev[j];

			for (q = 0; q < d->nqueues; q++) {
				if (!d->q[q].poll || !d->q[q].running)
					continue;
				pvbe_queue_kick(&d->q[q]);
				n++;
			}
		}
	}
	return n;
}
