// SPDX-License-Identifier: GPL-2.0
/*
 * queue.c - one queue's data path in the backend: take chains off the
 * submission ring, copy them once into private memory, validate them, hand
 * them to the device class, post completions, notify only when asked.
 *
 * Anything impossible in what the guest wrote (an index, a chain, a
 * length, an address) marks the device broken: that guest's device stops,
 * the daemon and every other guest carry on.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "transport/guest.h"
#include "core/log.h"

/* Requests handled per kick before yielding to other queues. */
#define PVBE_QUEUE_BUDGET	1024
#define PVBE_CPL_BATCH		32

void pvbe_queue_init(struct pvbe_queue *q)
{
	q->running = false;
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
}

/*
 * Copy one chain starting at the SQ consumer position into @req and
 * validate it.  Returns slots used (>0), 0 when the chain is not complete
 * yet... which a conforming guest never does, or a negative PVIO_BROKEN_*.
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
	pvio_ring_cons_advance(&q->sq, (uint32_t)n);
	if (++q->sq_unpub == PVBE_CPL_BATCH) {
		pvio_ring_cons_publish(&q->sq);
		q->sq_unpub = 0;
	}
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
 * CQ full: publish what is pending and ask the guest to kick this queue's
 * vector when it reaps.  >0: room appeared meanwhile, go on; 0: sleep.
 */
int pvbe_queue_cq_arm(struct pvbe_queue *q)
{
	int r;

	pvbe_queue_flush(q);
	if (q->poll)
		return 0;
	r = pvio_ring_prod_arm(&q->cq);
	if (r < 0) {
		pvbe_dev_mark_broken(q->dev, PVIO_BROKEN_RING_INDEX,
				     "queue %u: completion consumer index impossible",
				     q->index);
		return -EPROTO;
	}
	return r;
}

void pvbe_queue_post(struct pvbe_queue *q, const struct pvio_cpl *c)
{
	memcpy(pvio_ring_prod_slot(&q->cq, q->pending), c, sizeof(*c));
	if (c->status)
		q->st.errors++;
	q->st.reqs++;
	if (++q->pending == PVBE_CPL_BATCH)
		pvbe_queue_flush(q);
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
}

void pvbe_queue_yield(struct pvbe_queue *q)
{
	uint64_t one = 1;

	if (q->poll)
		return;		/* the next poll round comes back anyway */
	/* Our own doorbell brings us back after the other fds had a turn. */
	if (write(q->dev->g->be_efd[q->vector], &one, sizeof(one)) < 0)
		pvbe_warn(q->dev->tag, "reschedule: %s", strerror(errno));
}

void pvbe_queue_kick(struct pvbe_queue *q)
{
	struct pvbe_dev *d = q->dev;
	struct pvbe_req req;
	struct pvio_cpl cpl;
	unsigned int done = 0;
	int r;

	if (!pvbe_queue_may_run(q))
		return;
	if (d->ops->kick) {
		d->ops->kick(q);
		return;
	}
	for (;;) {
		if (done >= PVBE_QUEUE_BUDGET) {
			pvbe_queue_yield(q);
			break;
		}
		r = pvbe_queue_cq_space(q);
		if (r < 0)
			return;
		if (r == 0)
			break;		/* guest not reaping: its kick brings us back */
		r = pvbe_queue_pop(q, &req);
		if (r < 0)
			return;
		if (r == 0) {
			r = pvbe_queue_arm(q);
			if (r == 0)
				return;	/* flushed by arm; sleep until kicked */
			continue;
		}
		memset(&cpl, 0, sizeof(cpl));
		d->ops->process(q, &req, &cpl);
		cpl.id = pvio_cpu_to_le16(req.id);
		q->st.bytes += pvio_le32_to_cpu(cpl.len) + req.in_bytes;
		pvbe_queue_post(q, &cpl);
		done++;
	}
	pvbe_queue_flush(q);
}
