// SPDX-License-Identifier: GPL-2.0
/*
 * hostile_ring.c - the hostile backend's lies about requests: completions
 * bent on their way into the CQ, ring indices rewritten after a commit,
 * the reset echo held back, and the table of requests taken but not
 * completed that tells where a backend may still write (hostile.c lists
 * the scenarios, hostile.h the hooks).  Test builds only.
 */
#ifdef PVBE_TEST_HOOKS

#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "pvio/balloon.h"
#include "pvio/blk.h"
#include "pvio/net.h"
#include "transport/hostile_internal.h"

static void post_extra(struct pvbe_queue *q, const struct pvio_cpl *c)
{
	memcpy(pvio_ring_prod_slot(&q->cq, q->pending), c, sizeof(*c));
	q->pending++;
}

/* ---- requests the backend took: where it may still write --------------- */

void pvbe_hostile_rec_clear(struct pvbe_hostile *h)
{
	unsigned int i;

	for (i = 0; i < PVIO_MAX_QUEUES; i++)
		if (h->q[i].rec)
			memset(h->q[i].rec, 0, sizeof(*h->q[i].rec) * (h->q[i].mask + 1));
}

/* The request @id was taken for, if the table has it (@slot: its entry). */
static bool rec_find(struct h_queue *hq, uint16_t id, struct h_rec *out,
		     struct h_rec **slot)
{
	struct h_rec *r;

	if (!hq->rec)
		return false;
	r = &hq->rec[id & hq->mask];
	if (!r->used || r->id != id)
		return false;
	*out = *r;
	*slot = r;
	return true;
}

/*
 * cpl-dup-late: @req has the id of the saved completion modulo the ring
 * size.  Post that completion again now, before @req runs, and give the
 * guest time to take it: one that ends @req with it ends it before its
 * data is there.  Room for it beside what the class holds and @req.
 */
static void dup_late(struct pvbe_queue *q, struct h_queue *hq, const struct pvbe_req *req)
{
	unsigned int held = q->dev->ops->held ? q->dev->ops->held(q) : 0;
	uint16_t old = pvio_le16_to_cpu(hq->late.id);

	if (((req->id ^ old) & hq->mask) || pvbe_queue_cq_room(q, held + 2) < (int)held + 2)
		return;
	hq->late_saved = false;
	post_extra(q, &hq->late);
	pvbe_queue_flush(q);
	pvbe_hostile_fire(q->dev, S_CPL_DUP_LATE,
			  "queue %u: id %u completed again after id %u took its slot, before it ran",
			  q->index, old, req->id);
	usleep(H_LATE_US);
}

void pvbe_hostile_pop(struct pvbe_queue *q, const struct pvbe_req *req)
{
	struct pvbe_hostile *h = q->dev->hostile;
	struct h_queue *hq;
	struct h_rec *r;
	unsigned int i;

	if (!h || !(hq = &h->q[q->index])->rec)
		return;
	if (hq->late_saved)
		dup_late(q, hq, req);
	r = &hq->rec[req->id & hq->mask];
	memset(r, 0, sizeof(*r));
	r->used = true;
	r->id = req->id;
	r->out_bytes = req->out_bytes;
	for (i = 0; i < req->nslots && r->nw < H_REC_BUFS; i++) {
		uint16_t f = pvio_le16_to_cpu(req->d[i].flags);

		if (!(f & PVIO_DESC_F_WRITE) || (f & PVIO_DESC_F_HDR) || !req->buf[i])
			continue;
		r->wbuf[r->nw] = req->buf[i];
		r->wlen[r->nw] = pvio_le32_to_cpu(req->d[i].len);
		r->nw++;
	}
}

/*
 * The echo comes late: first write where a stalled backend that woke up
 * could have written (the guest must not have given those buffers away),
 * then echo the last reset served.
 */
void pvbe_hostile_echo_late(struct pvbe_dev *d)
{
	struct pvbe_hostile *h = d->hostile;
	struct pvbe_guest *g = d->g;
	uint64_t bytes = 0;
	unsigned int i, j, k, bufs = 0;

	if (!h->echo_held || !d->desc)
		return;
	for (i = 0; g->mem_ready && i < d->nqueues; i++) {
		struct h_queue *hq = &h->q[i];

		for (j = 0; hq->rec && j <= hq->mask; j++) {
			struct h_rec *r = &hq->rec[j];

			for (k = 0; r->used && k < r->nw; k++) {
				memset(r->wbuf[k], H_SCRIBBLE, r->wlen[k]);
				bytes += r->wlen[k];
				bufs++;
			}
		}
	}
	pvbe_hostile_rec_clear(h);
	h->echo_held = false;
	/* Pairs with the guest's acquire of reset_count. */
	pvio_store_release(&d->desc->reset_count, pvio_cpu_to_le32(d->seen_reset));
	pvbe_guest_notify(g, PVIO_CONFIG_VECTOR);
	pvbe_warn(d->tag, "hostile off: %" PRIu64 " bytes scribbled into %u buffers the guest still held, reset %u echoed late",
		  bytes, bufs, d->seen_reset);
}


static bool mrg_rx(const struct pvbe_queue *q)
{
	return q->dev->ops->type == PVIO_DEV_NET && !(q->index & 1) &&
	       (q->dev->guest_features & (1ull << PVIO_NET_F_MRG_RXBUF));
}

/* Room for one completion more than the caller posts. */
static bool cq_room2(struct pvbe_queue *q)
{
	return pvbe_queue_cq_room(q, 2) >= 2;
}

/* Apply one-completion scenario @s to @out if it fits; true if it did. */
static bool cpl_bend(struct pvbe_queue *q, int s, struct pvio_cpl *out,
		     const struct h_rec *r, bool first)
{
	struct pvbe_dev *d = q->dev;
	uint16_t id = pvio_le16_to_cpu(out->id), nb, old;
	uint32_t st = pvio_le32_to_cpu(out->status);
	struct pvio_cpl extra;
	struct h_queue *hq;
	unsigned char *hdr;

	switch (s) {
	case S_CPL_ID_RANGE:
		out->id = pvio_cpu_to_le16(id ^ 0x8000);
		pvbe_hostile_fire(d, s, "queue %u: id %u posted as %u", q->index, id, id ^ 0x8000);
		return true;
	case S_CPL_DUP:
		if (!cq_room2(q))
			return false;
		post_extra(q, out);
		pvbe_hostile_fire(d, s, "queue %u: id %u completed twice", q->index, id);
		return true;
	case S_CPL_DUP_LATE:
		/* Kept for the next request that reuses the slot (dup_late). */
		hq = &d->hostile->q[q->index];
		if (!hq->rec || st)
			return false;
		hq->late = *out;
		hq->late_saved = true;
		return true;
	case S_CPL_UNPOSTED:
		/* A net rx ring has every id posted: a tx queue then. */
		if ((d->ops->type == PVIO_DEV_NET && !(q->index & 1)) || !cq_room2(q))
			return false;
		extra = *out;
		extra.id = pvio_cpu_to_le16((id + q->sq_size / 2) & (q->sq_size - 1));
		post_extra(q, &extra);
		pvbe_hostile_fire(d, s, "queue %u: a completion for id %u, never posted, before id %u's",
				  q->index, pvio_le16_to_cpu(extra.id), id);
		return true;
	case S_CPL_LEN:
		if (!r || (!r->out_bytes && d->ops->type != PVIO_DEV_BALLOON))
			return false;
		out->len = pvio_cpu_to_le32(r->out_bytes + 1);
		pvbe_hostile_fire(d, s, "queue %u: id %u, %u writable bytes, completed with len %u",
				  q->index, id, r->out_bytes, r->out_bytes + 1);
		return true;
	case S_CPL_STATUS:
		if (st || (mrg_rx(q) && !first))
			return false;
		out->status = pvio_cpu_to_le32(0xdeadbeef);
		pvbe_hostile_fire(d, s, "queue %u: id %u completed with status 0xdeadbeef", q->index, id);
		return true;
	case S_MRG_NB_BIG:
	case S_MRG_NB_ZERO:
	case S_MRG_NB_LIE:
		if (!mrg_rx(q) || !first || st || !r || !r->nw || r->wlen[0] < 12)
			return false;
		hdr = r->wbuf[0];
		old = (uint16_t)(hdr[10] | hdr[11] << 8);
		nb = s == S_MRG_NB_BIG ? 0xffff : s == S_MRG_NB_ZERO ? 0 : old + 1;
		hdr[10] = nb & 0xff;
		hdr[11] = nb >> 8;
		pvbe_hostile_fire(d, s, "queue %u: id %u, a packet of %u buffer(s) says num_buffers %u",
				  q->index, id, old, nb);
		return true;
	}
	return false;
}

const struct pvio_cpl *pvbe_hostile_cpl(struct pvbe_queue *q, const struct pvio_cpl *c,
					struct pvio_cpl *out)
{
	struct pvbe_hostile *h = q->dev->hostile;
	struct h_rec r, *slot = NULL;
	const unsigned char *hdr;
	bool have, first = false;
	struct h_queue *hq;
	int s, bent = -1;

	if (!h)
		return c;
	if (h->armed & BIT(S_SILENT)) {
		/* The request stays the guest's, and its buffers ours to write. */
		if (!h->fired[S_SILENT]++)
			pvbe_warn(q->dev->tag, "hostile silent: no completion is posted any more");
		return NULL;
	}
	hq = &h->q[q->index];
	have = rec_find(hq, pvio_le16_to_cpu(c->id), &r, &slot);
	/* Net rx with MRG_RXBUF: follow packet boundaries, from the headers. */
	if (mrg_rx(q) && !c->status) {
		first = !hq->pkt_left;
		if (first && have && r.nw && r.wlen[0] >= 12) {
			hdr = r.wbuf[0];
			hq->pkt_left = (uint32_t)(hdr[10] | hdr[11] << 8);
			hq->pkt_left = hq->pkt_left ? hq->pkt_left - 1 : 0;
		} else if (!first) {
			hq->pkt_left--;
		}
	}
	*out = *c;
	for (s = S_CPL_FIRST; s <= S_CPL_LAST && bent < 0; s++) {
		if (!(h->armed & BIT(s)) || !cpl_bend(q, s, out, have ? &r : NULL, first))
			continue;
		h->armed &= ~BIT(s);
		bent = s;
	}
	/*
	 * A completion the guest must refuse leaves its request outstanding:
	 * the backend may still write into its buffers as far as the guest
	 * can tell, so they stay in the table (reset-noack scribbles there).
	 */
	if (have && bent != S_CPL_ID_RANGE && bent != S_CPL_LEN)
		slot->used = false;
	return bent < 0 ? c : out;
}

void pvbe_hostile_flush(struct pvbe_queue *q)
{
	struct pvbe_hostile *h = q->dev->hostile;
	struct h_queue *hq;
	uint32_t cons;
	int s;

	if (!h)
		return;
	hq = &h->q[q->index];
	if (hq->sticky < 0) {
		if (!q->running)
			return;
		for (s = S_RING_FIRST; s <= S_RING_LAST; s++) {
			if (!(h->armed & BIT(s)))
				continue;
			h->armed &= ~BIT(s);
			hq->sticky = s;
			pvbe_hostile_fire(q->dev, s, "queue %u: index rewritten after every commit until a reset",
					  q->index);
			break;
		}
		if (hq->sticky < 0)
			return;
	}
	switch (hq->sticky) {
	case S_CQ_JUMP:
		pvio_store_release(&q->cq.sh->prod, pvio_cpu_to_le32(q->cq.idx + 3 * q->cq_size));
		break;
	case S_CQ_BACK:
		cons = pvio_le32_to_cpu(pvio_read_once(q->cq.sh->cons));
		pvio_store_release(&q->cq.sh->prod, pvio_cpu_to_le32(cons - 1));
		break;
	case S_SQ_CONS:
		pvio_store_release(&q->sq.sh->cons, pvio_cpu_to_le32(q->sq.idx + 2 * q->sq_size));
		break;
	}
	pvbe_guest_notify(q->dev->g, q->vector);
}

bool pvbe_hostile_reset(struct pvbe_dev *d)
{
	struct pvbe_hostile *h = d->hostile;
	unsigned int i;

	if (!h)
		return false;
	/* The rings were initialised: every index is the truth again. */
	for (i = 0; i < PVIO_MAX_QUEUES; i++) {
		h->q[i].sticky = -1;
		h->q[i].pkt_left = 0;
		h->q[i].late_saved = false;
	}
	h->state_touched = false;
	if (h->armed & (BIT(S_RESET_NOACK) | BIT(S_SILENT))) {
		h->echo_held = true;
		pvbe_hostile_fire(d, h->armed & BIT(S_SILENT) ? S_SILENT : S_RESET_NOACK,
				  "reset %u served, its echo held back", d->reset_req);
		return true;
	}
	/* What the requests before the reset were given is the guest's again. */
	if (!h->echo_held)
		pvbe_hostile_rec_clear(h);
	return h->echo_held;
}

#endif /* PVBE_TEST_HOOKS */
