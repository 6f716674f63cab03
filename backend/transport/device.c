// SPDX-License-Identifier: GPL-2.0
/*
 * device.c - the device status state machine (protocol.md 5.4) and the
 * table of device classes pviod serves.
 *
 * Nothing here runs from a data path.  Whatever may change a device's
 * state -- a doorbell on vector 0, the heartbeat's poll, a queue that finds
 * the guest's status changed (pvbe_queue_may_run), a class that finds a
 * protocol violation (pvbe_dev_mark_broken) -- only raises an event, and
 * pvbe_guest_service() acts on events at the top of the worker's loop.  It
 * never runs a queue itself: a device it starts gets its queues' kick
 * flags set, which the loop serves next.  So no kick, completion or poll
 * re-enters reset or start, and the stack depth does not depend on what
 * the guest writes.
 *
 * Stopping is asynchronous.  A class with host I/O in flight (blk) says so
 * from ops->stop; the device stays "stopping" -- no reset echoed, no new
 * start -- until the class has seen its last completion and raised an
 * event.  The worker never blocks waiting for I/O.
 *
 * Private state only: device_state, broken_reason, reset_count and the
 * accepted features live here and are written out; what the guest writes
 * (driver_status, reset_request, guest_features, num_queues, enabled) is
 * read once per decision.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/threads.h"
#include "transport/guest.h"
#include "transport/hostile.h"

extern const struct pvbe_dev_ops pvbe_echo_ops;
extern const struct pvbe_dev_ops pvbe_net_ops;
extern const struct pvbe_dev_ops pvbe_blk_ops;
extern const struct pvbe_dev_ops pvbe_balloon_ops;

static const struct pvbe_dev_ops *const pvbe_classes[] = {
	&pvbe_echo_ops,
	&pvbe_net_ops,
	&pvbe_blk_ops,
	&pvbe_balloon_ops,
};

const struct pvbe_dev_ops *pvbe_dev_ops_find(int type)
{
	size_t i;

	for (i = 0; i < sizeof(pvbe_classes) / sizeof(pvbe_classes[0]); i++)
		if (pvbe_classes[i]->type == type)
			return pvbe_classes[i];
	return NULL;
}

/* Look at @dev at the top of the worker's main loop (from any thread). */
void pvbe_dev_event(struct pvbe_dev *dev)
{
	dev->event = true;
	dev->g->events = true;
	pvbe_threads_wake_main();
}

void pvbe_guest_event(struct pvbe_guest *g)
{
	int i;

	for (i = 0; i < g->ndev; i++)
		pvbe_dev_event(&g->dev[i]);
}

const char *pvbe_dev_state_name(const struct pvbe_dev *d)
{
	if (!d->desc)
		return "idle";
	if (d->state == PVIO_DEV_S_BROKEN)
		return "broken";
	if (d->state == PVIO_DEV_S_NEEDS_RESET)
		return "needs-reset";
	if (d->stopping)
		return "stopping";
	if (d->live)
		return "running";
	return "idle";
}

static void write_state(struct pvbe_dev *d)
{
	pvio_write_once(d->desc->broken_reason, pvio_cpu_to_le32(d->broken_reason));
	pvio_write_once(d->desc->device_state, pvio_cpu_to_le32(d->state));
}

static void init_rings(struct pvbe_dev *d)
{
	unsigned int q;

	for (q = 0; q < d->nqueues; q++) {
		pvio_ring_shared_init(d->q[q].sq_mem, 0);
		pvio_ring_shared_init(d->q[q].cq_mem, 0);
		pvio_write_once(d->q[q].desc->enabled, 0);
	}
}

/*
 * At a fresh layout (@driver_status 0) and at a takeover (@driver_status
 * as the guest left it): a device the guest was using needs a reset
 * before anything else; the others are LIVE with fresh rings.  The reset
 * count continues from what the last worker echoed.
 */
void pvbe_dev_init_state(struct pvbe_dev *d, uint32_t driver_status)
{
	unsigned int q;

	for (q = 0; q < d->nqueues; q++)
		pvbe_queue_stop(&d->q[q]);
	d->live = false;
	d->stopping = false;
	d->reset_pending = false;
	d->wait_ram = false;
	d->event = false;
	d->broken_pending = false;
	d->guest_features = 0;
	d->num_queues = 0;
	d->broken_reason = PVIO_BROKEN_NONE;
	d->seen_status = driver_status;
	d->seen_reset = d->persist->reset_served;
	d->state = driver_status ? PVIO_DEV_S_NEEDS_RESET : PVIO_DEV_S_LIVE;
	if (!driver_status)
		init_rings(d);
	write_state(d);
	pvio_write_once(d->desc->reset_count, pvio_cpu_to_le32(d->seen_reset));
}

/* Queues off, the class lets go.  Returns >0 while it has I/O in flight. */
static int dev_stop(struct pvbe_dev *d)
{
	unsigned int q;
	int n = 0;

	for (q = 0; q < d->nqueues; q++)
		pvbe_queue_stop(&d->q[q]);
	if ((d->live || d->stopping) && d->ops->stop)
		n = d->ops->stop(d);
	d->live = false;
	d->stopping = n > 0;
	return n;
}

/* Client gone or worker stopping: stop every device; >0 while I/O is in flight. */
int pvbe_guest_stop_all(struct pvbe_guest *g)
{
	int i, n = 0;

	for (i = 0; i < g->ndev; i++)
		n += dev_stop(&g->dev[i]);
	return n;
}

static pthread_mutex_t defer_mu = PTHREAD_MUTEX_INITIALIZER;

/*
 * A data path on a worker with several threads found @d broken: the
 * first reason is kept, the device's queues stop at their gate
 * (pvbe_queue_may_run) and the main thread marks it at the top of its
 * loop.
 */
static void defer_broken(struct pvbe_dev *d, uint32_t reason, const char *msg)
{
	pthread_mutex_lock(&defer_mu);
	if (!d->broken_pending) {
		d->broken_pending_reason = reason;
		snprintf(d->broken_pending_msg, sizeof(d->broken_pending_msg), "%s", msg);
		d->broken_pending = true;
	}
	pthread_mutex_unlock(&defer_mu);
	pvbe_dev_event(d);
}

void pvbe_dev_mark_broken(struct pvbe_dev *d, uint32_t reason,
			  const char *fmt, ...)
{
	char msg[256];
	unsigned int q;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (d->ops->defer_broken && d->ops->defer_broken(d, reason, msg))
		return;		/* off the worker thread: redone on it */
	if (!pvbe_threads_exclusive()) {
		defer_broken(d, reason, msg);
		return;
	}
	if (d->state == PVIO_DEV_S_BROKEN || !d->desc)
		return;
	pvbe_err(d->tag, "device broken (reason %u): %s", reason, msg);
	d->state = PVIO_DEV_S_BROKEN;
	d->broken_reason = reason;
	/* The data path that found it stops at its next pop... */
	for (q = 0; q < d->nqueues; q++)
		d->q[q].running = false;
	write_state(d);
	pvbe_guest_notify(d->g, PVIO_CONFIG_VECTOR);
	/* ...and the class stops at the top of the loop. */
	pvbe_dev_event(d);
}

static struct pvbe_ratelimit throttle_rl;

/*
 * Resets and status changes cost the worker's time; a guest that makes
 * more of them than any driver needs in one heartbeat period gets the
 * rest served at the next tick, not at once.
 */
static void count_event(struct pvbe_dev *d)
{
	if (++d->tick_events < PVBE_EVENTS_PER_TICK || d->throttled)
		return;
	d->throttled = true;
	d->throttles++;
	if (pvbe_ratelimit(&throttle_rl, d->tag))
		pvbe_warn(d->tag, "%u resets and status changes in one heartbeat period: the rest waits for the next",
			  d->tick_events);
}

/* The guest's reset, once nothing is in flight any more. */
static void finish_reset(struct pvbe_dev *d)
{
	init_rings(d);
	d->reset_pending = false;
	d->wait_ram = false;	/* a DRIVER_OK that waited for RAM is void */
	d->state = PVIO_DEV_S_LIVE;
	d->broken_reason = PVIO_BROKEN_NONE;
	d->guest_features = 0;
	d->num_queues = 0;
	d->seen_status = 0;
	d->seen_reset = d->reset_req;
	d->persist->reset_served = d->reset_req;
	pvio_write_once(d->desc->guest_features, 0);
	pvio_write_once(d->desc->num_queues, 0);
	write_state(d);
	/* Last: the guest waits for this echo before it sets up again. */
	if (!pvbe_hostile_reset(d))
		pvio_store_release(&d->desc->reset_count, pvio_cpu_to_le32(d->reset_req));
	if (d->tick_events < 4)
		pvbe_info(d->tag, "reset by guest (request %u)", d->reset_req);
	count_event(d);
}

static void dev_start(struct pvbe_dev *d)
{
	uint16_t nq = pvio_le16_to_cpu(pvio_read_once(d->desc->num_queues));
	unsigned int q;

	if (nq == 0 || nq > d->nqueues) {
		pvbe_dev_mark_broken(d, PVIO_BROKEN_QUEUE,
				     "guest enabled %u queues, device has %u",
				     nq, d->nqueues);
		return;
	}
	for (q = 0; q < nq; q++) {
		if (!pvio_read_once(d->q[q].desc->enabled))
			continue;
		if (pvbe_queue_start(&d->q[q])) {
			pvbe_dev_mark_broken(d, PVIO_BROKEN_RING_INDEX,
					     "queue %u: ring indices impossible at start", q);
			return;
		}
	}
	d->num_queues = nq;
	d->live = true;
	if (d->ops->start)
		d->ops->start(d);
	if (d->state != PVIO_DEV_S_LIVE)
		return;		/* the class could not start it */
	pvbe_info(d->tag, "driver ready, %u queue(s), features %#" PRIx64, nq,
		  d->guest_features);
	/* Requests may have been queued before DRIVER_OK: look, from the loop. */
	for (q = 0; q < nq; q++)
		if (d->q[q].running)
			d->q[q].kick = true;
}

/* What the guest's driver_status says now, against what we acted on. */
static void status_changed(struct pvbe_dev *d, uint32_t st)
{
	struct pvbe_guest *g = d->g;
	uint32_t old = d->seen_status;
	uint64_t gf;

	count_event(d);
	d->seen_status = st;
	/* Waiting for RAM is for a DRIVER_OK still set (then set again below). */
	d->wait_ram = false;
	if (st == 0) {
		dev_stop(d);
		return;
	}
	if (d->state != PVIO_DEV_S_LIVE)
		return;			/* BROKEN, NEEDS_RESET: only a reset */
	if (st & ~(uint32_t)(PVIO_DS_ACKNOWLEDGE | PVIO_DS_DRIVER |
			     PVIO_DS_FEATURES_OK | PVIO_DS_DRIVER_OK |
			     PVIO_DS_FAILED)) {
		pvbe_dev_mark_broken(d, PVIO_BROKEN_STATUS,
				     "unknown driver_status bits %#x", st);
		return;
	}
	if (st & PVIO_DS_FAILED) {
		dev_stop(d);
		pvbe_warn(d->tag, "guest driver reported failure");
		return;
	}
	if ((st & ~old) & PVIO_DS_FEATURES_OK) {
		/* Checked and kept here: later changes in the window count for nothing. */
		gf = pvio_le64_to_cpu(pvio_read_once(d->desc->guest_features));
		if (gf & ~d->host_features) {
			pvbe_dev_mark_broken(d, PVIO_BROKEN_STATUS,
					     "guest features %#" PRIx64 " not offered (%#" PRIx64 ")",
					     gf, d->host_features);
			return;
		}
		d->guest_features = gf;
	}
	if ((st & PVIO_DS_DRIVER_OK) && !(st & PVIO_DS_FEATURES_OK)) {
		pvbe_dev_mark_broken(d, PVIO_BROKEN_STATUS,
				     "DRIVER_OK without FEATURES_OK");
		return;
	}
	if ((st & ~old) & PVIO_DS_DRIVER_OK) {
		if (!g->mem_ready) {
			/*
			 * Guest RAM comes later: the configured file from the
			 * supervisor, or a frontend's offer on its socket.
			 * Look again when it arrives (pvbe_guest_ram_result).
			 */
			d->seen_status = old;
			d->wait_ram = true;
			return;
		}
		dev_start(d);
	} else if ((old & PVIO_DS_DRIVER_OK) && !(st & PVIO_DS_DRIVER_OK)) {
		dev_stop(d);
	}
}

static void dev_service(struct pvbe_dev *d)
{
	struct pvbe_guest *g = d->g;
	uint32_t rr, st;

	d->event = false;
	if (!d->desc)
		return;
	if (d->broken_pending) {
		char msg[sizeof(d->broken_pending_msg)];
		uint32_t reason;

		pthread_mutex_lock(&defer_mu);
		reason = d->broken_pending_reason;
		memcpy(msg, d->broken_pending_msg, sizeof(msg));
		d->broken_pending = false;
		pthread_mutex_unlock(&defer_mu);
		pvbe_dev_mark_broken(d, reason, "%s", msg);
	}
	/* BROKEN from a data path: the class stops here, not there. */
	if (d->state == PVIO_DEV_S_BROKEN && d->live)
		dev_stop(d);
	/* A stop under way finishes before anything else happens. */
	if (d->stopping && dev_stop(d) > 0)
		return;		/* the class raises an event when it is done */
	if (!g->connected || g->leaving)
		return;
	if (d->throttled)
		return;		/* the tick looks again */
	if (d->reset_pending)
		finish_reset(d);
	/* Pairs with the guest's release of reset_request after driver_status = 0. */
	rr = pvio_le32_to_cpu(pvio_load_acquire(&d->desc->reset_request));
	if (rr != d->seen_reset) {
		d->reset_req = rr;
		d->reset_pending = true;
		if (dev_stop(d) > 0)
			return;
		finish_reset(d);
	}
	st = pvio_le32_to_cpu(pvio_read_once(d->desc->driver_status));
	if (st != d->seen_status)
		status_changed(d, st);
}

/*
 * The top of the worker's loop: act on every device event, a bounded
 * number of passes.  Returns true while events are left (the loop then
 * does not block, so they are served after the fds that are ready).
 */
bool pvbe_guest_service(struct pvbe_guest *g)
{
	int i, pass;

	for (pass = 0; g->events && pass < 4; pass++) {
		g->events = false;
		for (i = 0; i < g->ndev; i++)
			if (g->dev[i].event)
				dev_service(&g->dev[i]);
	}
	return g->events;
}
