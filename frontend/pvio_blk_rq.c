// SPDX-License-Identifier: GPL-2.0
/*
 * pvio_blk_rq.c - the request path: a blk-mq request becomes one chain (a
 * header slot, then its data segments or a range), its id the tag and a
 * generation; the queue interrupt reaps completions and ends requests
 * only for ids outstanding in this generation (pvio_blk_main.c has the
 * whole picture).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/dma-mapping.h>
#include "pvio_blk.h"

/* ---- requests ------------------------------------------------------------- */

static blk_status_t pvblk_status(u32 st)
{
	switch (st) {
	case PVIO_S_OK:
		return BLK_STS_OK;
	case PVIO_S_UNSUPP:
		return BLK_STS_NOTSUPP;
	case PVIO_S_RANGE:
		return BLK_STS_TARGET;
	case PVIO_S_NOSPC:
		return BLK_STS_NOSPC;
	case PVIO_S_AGAIN:
		return BLK_STS_AGAIN;	/* retried, see pvblk_complete_rq() */
	default:	/* IOERR, INVAL, ROFS, and values we do not know */
		return BLK_STS_IOERR;
	}
}

void pvblk_unmap(struct pvblk *b, struct request *rq)
{
	struct pvblk_cmd *cmd = pvblk_cmd(rq);

	if (cmd->nents) {
		dma_unmap_sg(pvio_dma_dev(b->pdev), cmd->sg, cmd->nents,
			     rq_dma_dir(rq));
		cmd->nents = 0;
	}
}

/* A live migration logs what the backend wrote (protocol 6.4). */
static void pvblk_log_dirty(struct request *rq)
{
	struct req_iterator iter;
	struct bio_vec bv;
	void *p;

	rq_for_each_segment(bv, rq, iter) {
		p = bvec_kmap_local(&bv);
		pvio_touch(p, bv.bv_len);
		kunmap_local(p);
	}
}

static void pvblk_complete_rq(struct request *rq)
{
	struct pvblk *b = rq->q->queuedata;
	struct pvblk_cmd *cmd = pvblk_cmd(rq);

	pvblk_unmap(b, rq);
	if (unlikely(pvio_log_dirty(b->pdev)) && rq_data_dir(rq) == READ &&
	    blk_rq_bytes(rq) && !cmd->status) {
		pvblk_log_dirty(rq);
		/* Touched at the destination: the data may be older (6.4). */
		if (pvio_backend_moved(b->pdev)) {
			blk_mq_requeue_request(rq, true);
			return;
		}
	}
	if (unlikely(cmd->status == BLK_STS_AGAIN)) {
		/* The backend said "transient": go round again, a few times. */
		if (++cmd->retries <= PVBLK_RETRIES) {
			blk_mq_requeue_request(rq, true);
			return;
		}
		cmd->status = BLK_STS_IOERR;
	}
	/* The pdu outlives the request: the next one starts afresh. */
	cmd->retries = 0;
	blk_mq_end_request(rq, cmd->status);
}

/* Fill the header slot (and the range slot); returns the slots used. */
static int pvblk_setup_hdr(struct pvblk *b, struct request *rq,
			   struct pvio_desc *d, u16 id)
{
	struct pvio_blk_req *h = (struct pvio_blk_req *)&d[0];
	struct pvio_blk_range *r = (struct pvio_blk_range *)&d[1];
	u8 op, rflags = 0;

	switch (req_op(rq)) {
	case REQ_OP_READ:
		op = PVIO_BLK_OP_READ;
		break;
	case REQ_OP_WRITE:
		op = PVIO_BLK_OP_WRITE;
		if ((rq->cmd_flags & REQ_FUA) &&
		    pvio_has_feature(b->pdev, PVIO_BLK_F_FUA))
			rflags |= PVIO_BLK_RF_FUA;
		break;
	case REQ_OP_FLUSH:
		op = PVIO_BLK_OP_FLUSH;
		break;
	case REQ_OP_DISCARD:
		op = PVIO_BLK_OP_DISCARD;
		break;
	case REQ_OP_WRITE_ZEROES:
		op = PVIO_BLK_OP_WRITE_ZEROES;
		if (!(rq->cmd_flags & REQ_NOUNMAP))
			rflags |= PVIO_BLK_RF_UNMAP;
		break;
	case REQ_OP_DRV_IN:
		op = PVIO_BLK_OP_GET_ID;
		break;
	default:
		return -EOPNOTSUPP;
	}
	memset(h, 0, sizeof(*h));
	h->sector = cpu_to_le64(op == PVIO_BLK_OP_FLUSH ||
				op == PVIO_BLK_OP_GET_ID ? 0 : blk_rq_pos(rq));
	h->op = op;
	h->rflags = rflags;
	h->id = cpu_to_le16(id);
	h->flags = cpu_to_le16(PVIO_DESC_F_HDR);
	if (op != PVIO_BLK_OP_DISCARD && op != PVIO_BLK_OP_WRITE_ZEROES)
		return 1;
	h->flags |= cpu_to_le16(PVIO_DESC_F_NEXT);
	memset(r, 0, sizeof(*r));
	r->nr_sectors = cpu_to_le64(blk_rq_sectors(rq));
	r->id = cpu_to_le16(id);
	r->flags = cpu_to_le16(PVIO_DESC_F_HDR);
	return 2;
}

/* Map the data and append one slot per segment; returns the slot count. */
static int pvblk_map_data(struct pvblk *b, struct request *rq,
			  struct pvio_desc *d, unsigned int n, u16 id)
{
	struct pvblk_cmd *cmd = pvblk_cmd(rq);
	struct scatterlist *sg;
	u16 flags = rq_data_dir(rq) == WRITE ? 0 : PVIO_DESC_F_WRITE;
	int nents, mapped, i;

	/* Only these carry data; discard and write-zeroes have only a range. */
	if (req_op(rq) != REQ_OP_READ && req_op(rq) != REQ_OP_WRITE &&
	    req_op(rq) != REQ_OP_DRV_IN)
		return n;
	if (!blk_rq_nr_phys_segments(rq))
		return n;
	sg_init_table(cmd->sg, blk_rq_nr_phys_segments(rq));
	nents = blk_rq_map_sg(rq->q, rq, cmd->sg);
	if (!nents)
		return n;
	mapped = dma_map_sg(pvio_dma_dev(b->pdev), cmd->sg, nents, rq_dma_dir(rq));
	if (!mapped)
		return -ENOMEM;
	cmd->nents = nents;
	d[n - 1].flags |= cpu_to_le16(PVIO_DESC_F_NEXT);
	for_each_sg(cmd->sg, sg, mapped, i) {
		d[n].addr = cpu_to_le64(sg_dma_address(sg));
		d[n].len = cpu_to_le32(sg_dma_len(sg));
		d[n].id = cpu_to_le16(id);
		d[n].flags = cpu_to_le16(flags | PVIO_DESC_F_NEXT);
		n++;
	}
	d[n - 1].flags &= ~cpu_to_le16(PVIO_DESC_F_NEXT);
	return n;
}

/*
 * The queues are down (reset in progress, or they could not be set up
 * again) or the device is broken: blk-mq retries a BLK_STS_RESOURCE request
 * shortly, and the request fails once it has waited pvblk_io_timeout seconds, so
 * a caller never waits forever on a backend that does not come back.
 */
static blk_status_t pvblk_wait_queues(struct pvblk *b, struct pvblk_cmd *cmd)
{
	if (!cmd->give_up) {
		cmd->give_up = jiffies + pvblk_io_timeout * HZ ?: 1;
	} else if (time_after(jiffies, cmd->give_up)) {
		dev_warn_ratelimited(&b->pdev->dev, "device not usable for %u s: failing requests\n",
				     pvblk_io_timeout);
		cmd->give_up = 0;
		cmd->retries = 0;
		return BLK_STS_IOERR;
	}
	return BLK_STS_RESOURCE;
}

static blk_status_t pvblk_queue_rq(struct blk_mq_hw_ctx *hctx,
				   const struct blk_mq_queue_data *bd)
{
	struct pvblk_queue *bq = hctx->driver_data;
	struct pvblk *b = bq->b;
	struct request *rq = bd->rq;
	struct pvblk_cmd *cmd = pvblk_cmd(rq);
	struct pvio_desc d[PVIO_MAX_CHAIN];
	unsigned long flags;
	bool kick = false;
	u8 gen = (bq->gen[rq->tag] + 1) & PVBLK_GEN_MASK;
	u16 id = rq->tag | gen << PVBLK_TAG_BITS;
	int n, ret;

	/* Seen by pvblk_handle_cpl() before the outstanding bit (below). */
	WRITE_ONCE(bq->gen[rq->tag], gen);
	cmd->status = BLK_STS_OK;
	cmd->nents = 0;
	n = pvblk_setup_hdr(b, rq, d, id);
	if (n < 0)
		return BLK_STS_NOTSUPP;
	blk_mq_start_request(rq);
	n = pvblk_map_data(b, rq, d, n, id);
	if (n < 0)
		return BLK_STS_RESOURCE;

	spin_lock_irqsave(&bq->sq_lock, flags);
	if (unlikely(!bq->q)) {
		/* Between a reset and the queues coming back: try again. */
		spin_unlock_irqrestore(&bq->sq_lock, flags);
		pvblk_unmap(b, rq);
		return pvblk_wait_queues(b, cmd);
	}
	/* Outstanding before visible: a completion may follow at once. */
	smp_mb__before_atomic();
	set_bit(rq->tag, bq->outstanding);
	ret = pvio_queue_submit(bq->q, d, n);
	if (unlikely(ret)) {
		clear_bit(rq->tag, bq->outstanding);
		kick = ret == -ENOSPC && pvio_queue_kick_prepare(bq->q);
		if (ret == -ENOSPC)
			blk_mq_stop_hw_queue(hctx);
		spin_unlock_irqrestore(&bq->sq_lock, flags);
		if (kick)
			pvio_queue_notify(bq->q);
		pvblk_unmap(b, rq);
		if (ret == -ENOSPC)
			return BLK_STS_DEV_RESOURCE;
		/* Broken: a reset brings the queues back. */
		pvblk_schedule_reset(b, 0);
		return pvblk_wait_queues(b, cmd);
	}
	cmd->give_up = 0;
	if (bd->last)
		kick = pvio_queue_kick_prepare(bq->q);
	spin_unlock_irqrestore(&bq->sq_lock, flags);
	if (kick)
		pvio_queue_notify(bq->q);
	return BLK_STS_OK;
}

static void pvblk_commit_rqs(struct blk_mq_hw_ctx *hctx)
{
	struct pvblk_queue *bq = hctx->driver_data;
	unsigned long flags;
	bool kick = false;

	spin_lock_irqsave(&bq->sq_lock, flags);
	if (bq->q)
		kick = pvio_queue_kick_prepare(bq->q);
	spin_unlock_irqrestore(&bq->sq_lock, flags);
	if (kick)
		pvio_queue_notify(bq->q);
}

/*
 * Validate one completion: NULL, or why it is refused (the device is then
 * marked broken).  A refused completion leaves the request outstanding:
 * the reset that follows holds or resends it, and nothing else would
 * ever end it.
 */
static const char *pvblk_handle_cpl(struct pvblk_queue *bq, const struct pvio_cpl *c)
{
	static const char not_ours[] = "completion for a request not outstanding, or too long";
	static const char stale[] =
		"completion for a request not outstanding (an earlier use of its tag)";
	struct pvblk *b = bq->b;
	u16 id = le16_to_cpu(c->id);
	unsigned int tag = id & PVBLK_TAG_MASK;
	u32 len = le32_to_cpu(c->len);
	u32 st = le32_to_cpu(c->status);
	struct request *rq;
	struct pvblk_cmd *cmd;

	if (tag >= b->depth || !test_bit(tag, bq->outstanding))
		return not_ours;
	/* Pairs with queue_rq's barrier: the generation of this use. */
	smp_rmb();
	if (id >> PVBLK_TAG_BITS != READ_ONCE(bq->gen[tag]))
		return stale;
	rq = blk_mq_tag_to_rq(bq->hctx->tags, tag);
	if (!rq)
		return not_ours;
	cmd = pvblk_cmd(rq);
	/* Never more than the request's writable bytes. */
	if (len > (rq_data_dir(rq) == READ ? blk_rq_bytes(rq) : 0))
		return not_ours;
	clear_bit(tag, bq->outstanding);
	cmd->status = pvblk_status(st);
	/* A read that says OK but came back short is an I/O error. */
	if (!st && req_op(rq) == REQ_OP_READ && len != blk_rq_bytes(rq))
		cmd->status = BLK_STS_IOERR;
	if (likely(!blk_should_fake_timeout(rq->q)))
		blk_mq_complete_request(rq);
	return NULL;
}

/* Queue interrupt: reap with interrupts suppressed, re-arm, re-check. */
void pvblk_irq(struct pvio_queue *q)
{
	struct pvblk_queue *bq = pvio_queue_priv(q);
	struct pvio_cpl c[PVBLK_CPL_BATCH];
	const char *bad = NULL;
	unsigned long flags;
	bool done = false;
	int n, i;

	/*
	 * Not before probe has the state completions need (a host's early
	 * completions are a violation anyway; the reset clears them).
	 */
	if (unlikely(!READ_ONCE(bq->b->live)))
		return;
	spin_lock_irqsave(&bq->cpl_lock, flags);
	do {
		pvio_queue_disable_cb(q);
		while ((n = pvio_queue_reap(q, c, ARRAY_SIZE(c))) > 0) {
			for (i = 0; i < n && !bad; i++)
				bad = pvblk_handle_cpl(bq, &c[i]);
			done = true;
			if (bad)
				break;
		}
		if (n < 0 || bad)
			break;
	} while (!pvio_queue_enable_cb(q));
	spin_unlock_irqrestore(&bq->cpl_lock, flags);
	if (bad)
		pvio_device_failed(bq->b->pdev, bad);
	if (bad || n < 0)
		pvblk_schedule_reset(bq->b, 0);
	if (done) {
		/*
		 * Under sq_lock: queue_rq stops the queue under it when the
		 * SQ is full, so a restart cannot slip in between.
		 */
		spin_lock_irqsave(&bq->sq_lock, flags);
		blk_mq_start_stopped_hw_queue(bq->hctx, true);
		spin_unlock_irqrestore(&bq->sq_lock, flags);
	}
}

static enum blk_eh_timer_return pvblk_timeout(struct request *rq)
{
	struct pvblk *b = rq->q->queuedata;

	dev_warn_ratelimited(&b->pdev->dev, "request %d (op %u) timed out: resetting\n",
			     rq->tag, req_op(rq));
	pvblk_schedule_reset(b, 0);
	return BLK_EH_RESET_TIMER;
}

static int pvblk_init_hctx(struct blk_mq_hw_ctx *hctx, void *data,
			   unsigned int idx)
{
	struct pvblk *b = data;

	b->qs[idx].hctx = hctx;
	hctx->driver_data = &b->qs[idx];
	return 0;
}

static int pvblk_init_request(struct blk_mq_tag_set *set, struct request *rq,
			      unsigned int hctx_idx, unsigned int numa_node)
{
	pvblk_cmd(rq)->retries = 0;
	pvblk_cmd(rq)->give_up = 0;
	return 0;
}

const struct blk_mq_ops pvblk_mq_ops = {
	.queue_rq = pvblk_queue_rq,
	.commit_rqs = pvblk_commit_rqs,
	.complete = pvblk_complete_rq,
	.timeout = pvblk_timeout,
	.init_hctx = pvblk_init_hctx,
	.init_request = pvblk_init_request,
};
