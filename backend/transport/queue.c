// SPDX-License-Identifier: GPL-2.0
/*
 * queue.c - one queue's data path in the backend: take chains off the
 * submission ring, copy them once into private memory, validate them, hand
 * them to the device class, post completions, notify only when asked.
 *
 * pvbe_queue_run() is the one queue loop every class uses (net = dpdk's
 * poll thread uses the primitives below it on a thread of its own):
 *
 *   gate: the guest asked for a reset or changed its status?  Then not now:
 *         the state machine acts first, at the top of the worker's loop
 *         (protocol.md 9.2, "act on a reset first")
 *   loop: a CQ slot for one more request and for every one the class holds
 *         -> pop -> ops->request; until the SQ is empty (armed), the CQ is
 *         full (armed for the slots needed) or the budget is spent
 *   then: ops->run_end (submit to io_uring, read the TAP); it may make room
 *         and ask for another round; flush: publish, notify if asked
 *
 * Anything impossible in what the guest wrote (an index, a chain, a
 * length, an address) marks the device broken: that guest's device stops,
 * everything else carries on.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "transport/guest.h"
#include "transport/hostile.h"

#define PVBE_CPL_BATCH		32

void pvbe_queue_init(struct pvbe_queue *q)
{
	q->running = false;
	q->kick = false;
	q->pending = 0;
	memset(&q->st, 0, sizeof(q->st));
}

int pvbe_queue_start(struct pvbe_queue *q)
{
	struct pvbe_dev *d = q->dev;

	if (pvio_ring_attach(&q->sq, q->sq_mem, q->sq_size, d->ops->sq_esize, false) ||
	    pvio_ring_attach(&q->cq, q->cq_mem, q->cq_size, d->ops->cq_esize, true))
		return -EPROTO;
	q->running = true;
	q->pending = 0;
	q->sq_unpub = 0;
	if (q->poll)
		pvbe_queue_disarm(q);
	return 0;
}

/* Polled: the guest need not ring for this queue, nor for room in its CQ. */
void pvbe_queue_disarm(struct pvbe_queue *q)
{
	pvio_ring_cons_disarm(&q->sq);
	pvio_ring_prod_disarm(&q->cq);
}

void pvbe_queue_stop(struct pvbe_queue *q)
{
	q->running = false;
	q->kick = false;
}

/*
 * Before serving a queue: a reset or a status change the guest wrote comes
 * first, even when its doorbell has not been read yet (a worker that was
 * stalled finds both at once).  Not acted on here: the device gets an
 * event and the queue is looked at again after it.
 */
bool pvbe_queue_may_run(struct pvbe_queue *q)
{
	struct pvbe_dev *d = q->dev;

	if (!q->running || d->broken_pending)
		return false;
	if (pvio_le32_to_cpu(pvio_read_once(d->desc->reset_request)) != d->seen_reset ||
	    pvio_le32_to_cpu(pvio_read_once(d->desc->driver_status)) != d->seen_status) {
		/*
		 * A throttled device's change waits for the tick, which kicks
		 * every running queue again: no event and no kick now, or the
		 * loop would never block until then.
		 */
		if (!d->throttled) {
			pvbe_dev_event(d);
			q->kick = true;
		}
		return false;
	}
	return true;
}

/*
 * Copy one chain starting at the SQ consumer position into @req and
 * validate it.  Returns slots used (>0) or a negative PVIO_BROKEN_*.
 */
static int read_chain(struct pvbe_queue *q, unsigned int avail,
		      struct pvbe_req *req)
{
	const struct pvbe_memtable *mt = &q->dev->g->mem;
	uint64_t in = 0, out = 0;
	unsigned int i;
	uint16_t flags;

	for (i = 0; i < avail && i < PVIO_MAX_CHAIN; i++) {
		memcpy(&req->d[i], pvio_ring_cons_slot(&q->sq, i), sizeof(req->d[i]));
		if (!(pvio_le16_to_cpu(req->d[i].flags) & PVIO_DESC_F_NEXT))
			break;
	}
	if (i == PVIO_MAX_CHAIN)
		return -PVIO_BROKEN_DESC;	/* chain too long */
	if (i == avail)
		return -PVIO_BROKEN_DESC;	/* chain not published whole */
	req->nslots = i + 1;
	req->id = pvio_le16_to_cpu(req->d[0].id);

	/* Validate the private copy only. */
	for (i = 0; i < req->nslots; i++) {
		const struct pvio_desc *d = &req->d[i];
		uint64_t addr = pvio_le64_to_cpu(d->addr);
		uint32_t len = pvio_le32_to_cpu(d->len);

		flags = pvio_le16_to_cpu(d->flags);
		if (flags & ~PVIO_DESC_F_MASK || pvio_le16_to_cpu(d->id) != req->id)
			return -PVIO_BROKEN_DESC;
		if (flags & PVIO_DESC_F_HDR) {
			req->buf[i] = NULL;
			continue;
		}
		if (len == 0)
			return -PVIO_BROKEN_LEN;
		req->buf[i] = pvbe_gpa(mt, addr, len);
		if (!req->buf[i])
			return -PVIO_BROKEN_ADDR;
		if (flags & PVIO_DESC_F_WRITE)
			out += len;
		else
			in += len;
	}
	if (in > UINT32_MAX || out > UINT32_MAX)
		return -PVIO_BROKEN_LEN;
	req->in_bytes = (uint32_t)in;
	req->out_bytes = (uint32_t)out;
	return (int)req->nslots;
}

static const char *const broken_what[] = {
	[PVIO_BROKEN_DESC] = "malformed chain (flags, ids, or not published whole)",
	[PVIO_BROKEN_LEN] = "zero or overflowing length",
	[PVIO_BROKEN_ADDR] = "buffer outside guest RAM",
};

int pvbe_queue_pop(struct pvbe_queue *q, struct pvbe_req *req)
{
	struct pvbe_dev *d = q->dev;
	int avail, n;

	if (!q->running)
		return -EIO;
	avail = pvio_ring_cons_avail(&q->sq, PVIO_MAX_CHAIN);
	if (avail < 0) {
		pvbe_queue_flush(q);
		pvbe_dev_mark_broken(d, PVIO_BROKEN_RING_INDEX,
				     "queue %u: submission producer index impossible (more than %u ahead of consumer %u)",
				     q->index, q->sq_size, q->sq.idx);
		return -EPROTO;
	}
	if (avail == 0)
		return 0;
	n = read_chain(q, (unsigned int)avail, req);
	if (n < 0) {
		pvbe_queue_flush(q);
		pvbe_dev_mark_broken(d, (uint32_t)-n, "queue %u: request at index %u: %s",
				     q->index, q->sq.idx,
				     broken_what[-n] ? broken_what[-n] : "bad request");
		return -EPROTO;
	}
	/*
	 * The chain is in private memory: its slots are free, but the guest
	 * hears so once per batch (or at the next flush), not once per chain.
	 */
	pvbe_hostile_pop(q, req);
	pvio_ring_cons_advance(&q->sq, (uint32_t)n);
	if (++q->sq_unpub == PVBE_CPL_BATCH) {
		pvio_ring_cons_publish(&q->sq);
		q->sq_unpub = 0;
	}
	q->st.popped++;
	return 1;
}

int pvbe_queue_arm(struct pvbe_queue *q)
{
	pvbe_queue_flush(q);
	if (q->poll)
		return 0;	/* the next poll round looks again */
	return pvio_ring_cons_arm(&q->sq);
}

int pvbe_queue_cq_space(struct pvbe_queue *q)
{
	return pvbe_queue_cq_room(q, 1);
}

/*
 * Free CQ slots beyond the completions already pending, re-reading the
 * guest's index only when the cached one shows fewer than @want.  We are
 * the only producer, so the answer never shrinks until we post.
 */
int pvbe_queue_cq_room(struct pvbe_queue *q, unsigned int want)
{
	int space = pvio_ring_prod_space(&q->cq, q->pending + want);

	if (space < 0) {
		pvbe_dev_mark_broken(q->dev, PVIO_BROKEN_RING_INDEX,
				     "queue %u: completion consumer index impossible",
				     q->index);
		return -EPROTO;
	}
	return space - (int)q->pending;
}

/*
 * The CQ has fewer than @k free slots: publish what is pending and ask the
 * guest to kick this queue's vector once it has freed @k (protocol 7.4:
 * cons_event = prod - size + k - 1).  Returns >0 when the room is there
 * already (go on), 0 to sleep, <0 when the device broke.
 */
int pvbe_queue_cq_wait(struct pvbe_queue *q, unsigned int k)
{
	int r;

	pvbe_queue_flush(q);
	if (q->poll)
		return 0;	/* the next poll round looks again */
	pvio_write_once(q->cq.sh->cons_event,
			pvio_cpu_to_le32(q->cq.idx - q->cq_size + k - 1));
	/* [M4] pairs with [M3]: cons_event is visible before cons is re-read. */
	pvio_mb();
	r = pvbe_queue_cq_room(q, k);
	if (r < 0)
		return r;
	return (unsigned int)r >= k;
}

void pvbe_queue_post(struct pvbe_queue *q, const struct pvio_cpl *c)
{
	struct pvio_cpl hc;

	c = pvbe_hostile_cpl(q, c, &hc);
	if (!c)
		return;
	memcpy(pvio_ring_prod_slot(&q->cq, q->pending), c, sizeof(*c));
	if (c->status) {
		q->st.errors++;
		q->tick_errors++;
	}
	q->st.reqs++;
	if (++q->pending == PVBE_CPL_BATCH)
		pvbe_queue_flush(q);
}

void pvbe_queue_complete(struct pvbe_queue *q, uint16_t id, uint32_t status,
			 uint32_t len)
{
	struct pvio_cpl c;

	memset(&c, 0, sizeof(c));
	c.id = pvio_cpu_to_le16(id);
	c.status = pvio_cpu_to_le32(status);
	c.len = pvio_cpu_to_le32(len);
	pvbe_queue_post(q, &c);
}

void pvbe_queue_flush(struct pvbe_queue *q)
{
	bool notify;

	/*
	 * Slots first, then completions: a guest that sees a request done
	 * also finds its slots free (one that stopped for want of slots and
	 * has nothing left in flight would otherwise wait for nothing).
	 */
	if (q->sq_unpub) {
		pvio_ring_cons_publish(&q->sq);
		q->sq_unpub = 0;
	}
	if (q->pending) {
		pvio_ring_prod_commit(&q->cq, q->pending);
		q->pending = 0;
	}
	/* Completions for the guest, or room in the SQ for a blocked guest. */
	notify = pvio_ring_prod_need_notify(&q->cq);
	notify |= pvio_ring_cons_need_notify(&q->sq);
	if (notify) {
		pvbe_guest_notify(q->dev->g, q->vector);
		q->st.irqs++;
	}
	pvbe_hostile_flush(q);
}

/* Budget spent: run again after the fds that are ready had their turn. */
void pvbe_queue_yield(struct pvbe_queue *q)
{
	q->st.yields++;
	if (!q->poll)
		q->kick = true;		/* a poll round comes back anyway */
}

static bool over_budget(unsigned int done, uint64_t work)
{
	return done >= PVBE_QUEUE_BUDGET || work >= PVBE_QUEUE_BUDGET_BYTES;
}

/*
 * Take requests while the budget and the CQ allow: until the SQ is empty
 * (armed), the CQ has no slot for one more (armed for the slots needed)
 * or the budget is spent.  0, or <0 when the device broke.
 */
static int take(struct pvbe_queue *q, unsigned int *done, uint64_t *work)
{
	const struct pvbe_dev_ops *ops = q->dev->ops;
	struct pvbe_req req;
	unsigned int held;
	int64_t w;
	int r;

	while (!over_budget(*done, *work)) {
		/* A guest that keeps sending what fails waits for the tick. */
		if (q->tick_errors >= PVBE_ERRORS_PER_TICK) {
			if (!q->throttled)
				q->st.throttled++;
			q->throttled = true;
			return 0;
		}
		/*
		 * Nothing posted: no CQ room to wait for (a guest that keeps
		 * a chain posted for every CQ slot, a full rx ring, would
		 * otherwise be asked for a doorbell at every reap).  The class
		 * may come back by itself; else arm: the guest kicks when it
		 * posts, and what it published meanwhile (or an impossible
		 * index, which the pop reports) goes round again.
		 */
		if (q->running && pvio_ring_cons_avail(&q->sq, 1) == 0) {
			if ((ops->sq_quiet && ops->sq_quiet(q)) || pvbe_queue_arm(q) == 0)
				return 0;
			continue;
		}
		/* A CQ slot for this one and for every one the class holds. */
		held = ops->held ? ops->held(q) : 0;
		r = pvbe_queue_cq_room(q, held + 1);
		if (r < 0)
			return r;
		if ((unsigned int)r <= held) {
			r = pvbe_queue_cq_wait(q, held + 1);
			if (r <= 0)
				return r;	/* the guest kicks when it reaps */
			continue;
		}
		r = pvbe_queue_pop(q, &req);
		if (r <= 0)
			return r;	/* 0 only if the check above was wrong */
		w = ops->request(q, &req);
		if (w < 0)
			return -EPROTO;
		*work += (uint64_t)w;
		(*done)++;
	}
	return 0;
}

void pvbe_queue_run(struct pvbe_queue *q)
{
	const struct pvbe_dev_ops *ops = q->dev->ops;
	unsigned int done = 0;
	uint64_t work = 0;
	int r;

	q->kick = false;
	if (q->throttled || !pvbe_queue_may_run(q))
		return;
	if (ops->kick) {
		ops->kick(q);
		return;
	}
	for (;;) {
		if (take(q, &done, &work) < 0)
			return;
		if (!ops->run_end)
			break;
		/* The class's own work; it may make room for another round. */
		r = ops->run_end(q, &work);
		if (r < 0 || !q->running)
			return;
		if (r == 0 || over_budget(done, work))
			break;
	}
	if (over_budget(done, work))
		pvbe_queue_yield(q);
	pvbe_queue_flush(q);
}
