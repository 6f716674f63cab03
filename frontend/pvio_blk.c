// SPDX-License-Identifier: GPL-2.0
/*
 * pvio_blk - paravirtual block device driver for pvio.
 *
 * One blk-mq disk per pvio block device, named pvda, pvdb, ... (pvdaa after
 * pvdz), partitions pvda1, ...  Hardware queue i is pvio queue i; a request
 * is one chain: a pvio_blk_req header slot, then its data segments (or a
 * pvio_blk_range slot for discard and write-zeroes).  The chain's id is the
 * blk-mq tag in its low 10 bits and, above them, a 6-bit generation that
 * changes every time the tag is sent, so a completion names its request
 * directly; a per-queue bitmap of the tags handed to the backend rejects
 * ids that are not outstanding, and the generation rejects a completion
 * for an earlier use of a tag that is outstanding again (as nvme does with
 * its command ids), so a duplicate, late or invented completion never
 * ends a request.
 *
 * Recovery: a bad completion, a request that times out and a restarted
 * backend all end in the same place: queues quiesced, the device reset (once
 * the backend acknowledges, it touches none of our buffers), outstanding
 * requests requeued (or failed once they have used up their retries), the
 * queues set up again.  A reset the backend does not acknowledge leaves
 * the requests it holds outstanding: their pages belong to the caller, who
 * would reuse or free them the moment they end, while a stalled backend
 * may still write into them (a read) or read them (a write).  They end
 * only after the backend has served the reset, late, or a later one.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/ctype.h>
#include <linux/dma-mapping.h>
#include <linux/idr.h>
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include "pvio.h"
#include "pvio/blk.h"

#define PVBLK_MINORS		16	/* partitions per disk, like vd* */
#define PVBLK_MAX_QUEUES	64
#define PVBLK_MAX_DEPTH		1024
#define PVBLK_TAG_BITS		10	/* of an id; the generation above */
#define PVBLK_TAG_MASK		((1u << PVBLK_TAG_BITS) - 1)
#define PVBLK_GEN_MASK		(0xffffu >> PVBLK_TAG_BITS)
static_assert(PVBLK_MAX_DEPTH <= 1u << PVBLK_TAG_BITS);
#define PVBLK_MAX_SEGS		(PVIO_MAX_CHAIN - 1)	/* plus the header */
#define PVBLK_RETRIES		3
#define PVBLK_CPL_BATCH		32
/* How often held requests look for the backend's late reset echo. */
#define PVBLK_HELD_POLL		(HZ / 2)

static unsigned int io_timeout = 30;
module_param(io_timeout, uint, 0444);
MODULE_PARM_DESC(io_timeout, "Seconds before an unanswered request resets the device (default 30)");

static int pvblk_major;
static DEFINE_IDA(pvblk_index_ida);

struct pvblk;

struct pvblk_queue {
	struct pvblk *b;
	struct pvio_queue *q;		/* NULL while the queues are down */
	struct blk_mq_hw_ctx *hctx;
	spinlock_t sq_lock;		/* submission side of q */
	spinlock_t cpl_lock;		/* completion side of q, @outstanding */
	unsigned long *outstanding;	/* tags handed to the backend */
	u8 *gen;			/* per tag: the generation of its last id */
};

struct pvblk {
	struct pvio_device *pdev;
	struct gendisk *disk;
	struct blk_mq_tag_set tag_set;
	struct mutex lock;		/* queues up/down, resets, config */
	struct delayed_work reset_work;
	struct pvio_blk_config cfg;	/* sanitised copy */
	unsigned int nq;
	unsigned int depth;
	unsigned int max_segs;		/* data slots per request */
	u64 features;			/* negotiated at probe */
	int index;
	bool frozen;			/* between freeze() and restore() */
	bool removing;			/* no more resets */
	bool live;			/* interrupts may be served */
	bool probe_undone;
	bool queues_up;
	/*
	 * A reset the backend has not acknowledged: the requests outstanding
	 * then stay so, and the queues down, until it has (@lock).
	 */
	bool held;
	struct pvblk_queue qs[PVBLK_MAX_QUEUES];
};

struct pvblk_cmd {
	blk_status_t status;
	unsigned int nents;		/* mapped sg entries, 0 if none */
	unsigned int retries;
	unsigned long give_up;		/* jiffies; 0: not waiting for queues */
	struct scatterlist sg[];
};

static inline struct pvblk_cmd *pvblk_cmd(struct request *rq)
{
	return blk_mq_rq_to_pdu(rq);
}

static void pvblk_schedule_reset(struct pvblk *b, unsigned long delay)
{
	mod_delayed_work(system_wq, &b->reset_work, delay);
}

/* ---- config --------------------------------------------------------------- */

/* Copy and sanitise the config; -EPROTO if it cannot describe a disk. */
static int pvblk_read_config(struct pvblk *b, struct pvio_blk_config *c)
{
	u32 lbs, pbs;
	int ret;

	/* A torn copy (-EAGAIN) is not used: capacity could be garbage. */
	ret = pvio_config_read(b->pdev, c, sizeof(*c));
	if (ret < 0)
		return ret;
	lbs = le32_to_cpu(c->logical_block_size);
	pbs = le32_to_cpu(c->physical_block_size);
	if (lbs < SECTOR_SIZE || lbs > PAGE_SIZE || !is_power_of_2(lbs)) {
		dev_err(&b->pdev->dev, "invalid logical block size %u\n", lbs);
		return -EPROTO;
	}
	if (pbs < lbs || pbs > SZ_64K || !is_power_of_2(pbs))
		c->physical_block_size = c->logical_block_size;
	return 0;
}

/* Sectors, whole logical blocks, never beyond what Linux can address. */
static sector_t pvblk_capacity(const struct pvio_blk_config *c)
{
	u64 cap = le64_to_cpu(c->capacity);
	u32 lbs = le32_to_cpu(c->logical_block_size);

	cap = round_down(cap, lbs >> SECTOR_SHIFT);
	return min_t(u64, cap, (u64)MAX_LFS_FILESIZE >> SECTOR_SHIFT);
}

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

static void pvblk_unmap(struct pvblk *b, struct request *rq)
{
	struct pvblk_cmd *cmd = pvblk_cmd(rq);

	if (cmd->nents) {
		dma_unmap_sg(pvio_dma_dev(b->pdev), cmd->sg, cmd->nents,
			     rq_dma_dir(rq));
		cmd->nents = 0;
	}
}

static void pvblk_complete_rq(struct request *rq)
{
	struct pvblk *b = rq->q->queuedata;
	struct pvblk_cmd *cmd = pvblk_cmd(rq);

	pvblk_unmap(b, rq);
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
 * shortly, and the request fails once it has waited io_timeout seconds, so
 * a caller never waits forever on a backend that does not come back.
 */
static blk_status_t pvblk_wait_queues(struct pvblk *b, struct pvblk_cmd *cmd)
{
	if (!cmd->give_up) {
		cmd->give_up = jiffies + io_timeout * HZ ?: 1;
	} else if (time_after(jiffies, cmd->give_up)) {
		dev_warn_ratelimited(&b->pdev->dev, "device not usable for %u s: failing requests\n",
				     io_timeout);
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
static void pvblk_irq(struct pvio_queue *q)
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

static const struct blk_mq_ops pvblk_mq_ops = {
	.queue_rq = pvblk_queue_rq,
	.commit_rqs = pvblk_commit_rqs,
	.complete = pvblk_complete_rq,
	.timeout = pvblk_timeout,
	.init_hctx = pvblk_init_hctx,
	.init_request = pvblk_init_request,
};

/* ---- queues up and down, resets -------------------------------------------- */

/* Each queue's interrupt goes to the CPUs blk-mq maps onto that queue. */
static void pvblk_set_affinity(struct pvblk *b)
{
	const struct blk_mq_queue_map *map = &b->tag_set.map[HCTX_TYPE_DEFAULT];
	cpumask_var_t mask;
	unsigned int i, cpu;

	if (!zalloc_cpumask_var(&mask, GFP_KERNEL))
		return;
	for (i = 0; i < b->nq; i++) {
		cpumask_clear(mask);
		for_each_possible_cpu(cpu)
			if (map->mq_map[cpu] == i)
				cpumask_set_cpu(cpu, mask);
		if (!cpumask_empty(mask) && b->qs[i].q)
			pvio_queue_set_affinity(b->qs[i].q, mask);
	}
	free_cpumask_var(mask);
}

static int pvblk_queues_up(struct pvblk *b)
{
	unsigned int i;
	int ret;

	/* A reset forgets the features: the same set again. */
	ret = pvio_negotiate(b->pdev, b->features);
	if (ret)
		return ret;
	if (b->pdev->features != b->features)
		dev_warn(&b->pdev->dev, "backend now offers features %#llx of %#llx; requests needing the others will fail\n",
			 b->pdev->features, b->features);
	for (i = 0; i < b->nq; i++) {
		struct pvio_queue *q = pvio_queue_setup(b->pdev, i, pvblk_irq,
							&b->qs[i]);

		if (IS_ERR(q))
			return PTR_ERR(q);
		if (pvio_queue_size(q) < max(b->depth, b->max_segs + 1)) {
			dev_err(&b->pdev->dev, "queue %u shrank to %u entries\n",
				i, pvio_queue_size(q));
			return -EPROTO;
		}
		spin_lock_irq(&b->qs[i].sq_lock);
		b->qs[i].q = q;
		spin_unlock_irq(&b->qs[i].sq_lock);
	}
	pvblk_set_affinity(b);
	ret = pvio_device_ready(b->pdev, b->nq);
	if (!ret)
		b->queues_up = true;
	return ret;
}

/* The device has been reset: no completion can arrive any more. */
static void pvblk_queues_forget(struct pvblk *b)
{
	unsigned int i;

	for (i = 0; i < b->nq; i++) {
		spin_lock_irq(&b->qs[i].sq_lock);
		b->qs[i].q = NULL;
		spin_unlock_irq(&b->qs[i].sq_lock);
	}
	b->queues_up = false;
}

/*
 * After an acknowledged reset the backend has let go of every buffer: hand
 * each request it had back to the block layer, to go round again,
 * PVBLK_RETRIES times at most.
 */
static void pvblk_requeue_outstanding(struct pvblk *b)
{
	unsigned int i, tag;
	int requeued = 0, failed = 0;

	for (i = 0; i < b->nq; i++) {
		struct pvblk_queue *bq = &b->qs[i];

		for_each_set_bit(tag, bq->outstanding, b->depth) {
			struct request *rq = blk_mq_tag_to_rq(bq->hctx->tags, tag);
			struct pvblk_cmd *cmd;

			clear_bit(tag, bq->outstanding);
			if (!rq)
				continue;
			cmd = pvblk_cmd(rq);
			pvblk_unmap(b, rq);
			if (++cmd->retries > PVBLK_RETRIES) {
				cmd->status = BLK_STS_IOERR;
				blk_mq_complete_request(rq);
				failed++;
			} else {
				blk_mq_requeue_request(rq, false);
				requeued++;
			}
		}
	}
	if (requeued || failed)
		dev_info(&b->pdev->dev, "after reset: %d request(s) requeued, %d failed\n",
			 requeued, failed);
}

static unsigned int pvblk_outstanding(struct pvblk *b)
{
	unsigned int i, n = 0;

	for (i = 0; i < b->nq; i++)
		n += bitmap_weight(b->qs[i].outstanding, b->depth);
	return n;
}

/*
 * The reset was not acknowledged: the backend may still use the buffers
 * of every outstanding request.  They stay outstanding (mapped, never
 * ended) and the queues down until it has served the reset; reset_work
 * looks every PVBLK_HELD_POLL.  New requests wait, and fail after
 * io_timeout without ever reaching the backend.
 */
static void pvblk_hold(struct pvblk *b)
{
	if (!b->held)
		dev_warn(&b->pdev->dev, "reset not acknowledged: holding %u request(s) until the backend lets go of their buffers\n",
			 pvblk_outstanding(b));
	b->held = true;
	if (!b->removing)
		pvblk_schedule_reset(b, PVBLK_HELD_POLL);
}

static void pvblk_stop(struct pvblk *b)
{
	blk_mq_quiesce_queue(b->disk->queue);
}

/* After an acknowledged reset: requests go round again, queues come up. */
static int pvblk_start(struct pvblk *b)
{
	int ret;

	if (b->held)
		dev_info(&b->pdev->dev, "backend acknowledged the reset: %u held request(s) go round again\n",
			 pvblk_outstanding(b));
	b->held = false;
	pvblk_requeue_outstanding(b);
	ret = pvblk_queues_up(b);
	if (ret) {
		dev_err(&b->pdev->dev, "cannot set the queues up again (%d): retrying in 1 s\n",
			ret);
		/* Nothing was submitted: queue_rq waits while quiesced. */
		if (pvio_device_teardown(b->pdev))
			b->held = true;
		pvblk_queues_forget(b);
		if (!b->removing)
			pvblk_schedule_reset(b, HZ);
	}
	blk_mq_unquiesce_queue(b->disk->queue);
	/* A queue stopped on a full SQ has nothing in flight to restart it. */
	blk_mq_start_stopped_hw_queues(b->disk->queue, true);
	blk_mq_kick_requeue_list(b->disk->queue);
	return ret;
}

static void pvblk_reset_work(struct work_struct *work)
{
	struct pvblk *b = container_of(to_delayed_work(work), struct pvblk, reset_work);

	mutex_lock(&b->lock);
	/* A backend restart in progress resets us anyway. */
	if (b->frozen || b->removing)
		goto out;
	if (b->held) {
		/* Only the backend's (late) echo lets the requests go. */
		if (!pvio_device_reset_acked(b->pdev)) {
			pvblk_schedule_reset(b, PVBLK_HELD_POLL);
			goto out;
		}
		pvblk_stop(b);
	} else {
		pvblk_stop(b);
		if (pvio_device_teardown(b->pdev)) {
			/*
			 * Gone or stalled.  Keep the queues down too: a
			 * stalled backend that wakes up acts on our reset
			 * request first, and must not find queues we set
			 * up before it did.
			 */
			pvblk_queues_forget(b);
			pvblk_hold(b);
			blk_mq_unquiesce_queue(b->disk->queue);
			goto out;
		}
		pvblk_queues_forget(b);
	}
	pvblk_start(b);
out:
	mutex_unlock(&b->lock);
}

/* ---- sysfs: serial --------------------------------------------------------- */

static ssize_t serial_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	struct gendisk *disk = dev_to_disk(dev);
	struct request_queue *q = disk->queue;
	char id[PVIO_BLK_ID_BYTES + 1] = "";
	struct request *rq;
	blk_status_t st;
	char *kbuf;
	int ret, i;

	kbuf = kzalloc(PVIO_BLK_ID_BYTES, GFP_KERNEL);
	if (!kbuf)
		return -ENOMEM;
	rq = blk_mq_alloc_request(q, REQ_OP_DRV_IN, 0);
	if (IS_ERR(rq)) {
		kfree(kbuf);
		return PTR_ERR(rq);
	}
	ret = blk_rq_map_kern(q, rq, kbuf, PVIO_BLK_ID_BYTES, GFP_KERNEL);
	if (!ret) {
		st = blk_execute_rq(rq, false);
		ret = blk_status_to_errno(st);
	}
	blk_mq_free_request(rq);
	if (!ret) {
		/* ASCII, NUL-padded, not necessarily terminated: sanitise. */
		memcpy(id, kbuf, PVIO_BLK_ID_BYTES);
		ret = sysfs_emit(buf, "%s\n", strim(id));
		for (i = 0; i < ret; i++)
			if (!isprint(buf[i]) && buf[i] != '\n')
				buf[i] = '?';
	}
	kfree(kbuf);
	return ret;
}
static DEVICE_ATTR_RO(serial);

static struct attribute *pvblk_attrs[] = {
	&dev_attr_serial.attr,
	NULL,
};

static const struct attribute_group pvblk_attr_group = {
	.attrs = pvblk_attrs,
};

static const struct attribute_group *pvblk_attr_groups[] = {
	&pvblk_attr_group,
	NULL,
};

static const struct block_device_operations pvblk_fops = {
	.owner = THIS_MODULE,
};

/* ---- pvio driver ------------------------------------------------------------ */

/* pvda .. pvdz, pvdaa .. pvdzz, like sd and vd. */
static void pvblk_name(char *buf, size_t len, int index)
{
	if (index < 26)
		snprintf(buf, len, "pvd%c", 'a' + index);
	else
		snprintf(buf, len, "pvd%c%c", 'a' + index / 26 - 1, 'a' + index % 26);
}

static void pvblk_apply_limits(struct pvblk *b)
{
	struct request_queue *q = b->disk->queue;
	struct pvio_blk_config *c = &b->cfg;
	u32 lbs = le32_to_cpu(c->logical_block_size);
	u32 v;

	blk_queue_logical_block_size(q, lbs);
	blk_queue_physical_block_size(q, le32_to_cpu(c->physical_block_size));
	blk_queue_io_min(q, le32_to_cpu(c->physical_block_size));
	/* Every segment aligned: the backend may use O_DIRECT. */
	blk_queue_dma_alignment(q, lbs - 1);
	blk_queue_max_segments(q, b->max_segs);
	/* No larger than the DMA device maps in one piece either. */
	v = min_t(u32, le32_to_cpu(c->max_segment_size),
		  dma_get_max_seg_size(pvio_dma_dev(b->pdev)));
	blk_queue_max_segment_size(q, max_t(u32, round_down(v, lbs), PAGE_SIZE));
	v = max_t(u32, le32_to_cpu(c->max_sectors), PAGE_SECTORS);
	blk_queue_max_hw_sectors(q, round_down(v, lbs >> SECTOR_SHIFT));
	blk_queue_flag_set(QUEUE_FLAG_NONROT, q);
	blk_queue_flag_clear(QUEUE_FLAG_ADD_RANDOM, q);
	blk_queue_write_cache(q, pvio_has_feature(b->pdev, PVIO_BLK_F_FLUSH),
			      pvio_has_feature(b->pdev, PVIO_BLK_F_FUA));
	if (pvio_has_feature(b->pdev, PVIO_BLK_F_DISCARD)) {
		v = min_t(u32, le32_to_cpu(c->max_discard_sectors), UINT_MAX >> SECTOR_SHIFT);
		blk_queue_max_discard_sectors(q, round_down(v, lbs >> SECTOR_SHIFT));
		blk_queue_max_discard_segments(q, 1);
		v = le32_to_cpu(c->discard_granularity);
		q->limits.discard_granularity = v && is_power_of_2(v) ? max(v, lbs) : lbs;
	}
	if (pvio_has_feature(b->pdev, PVIO_BLK_F_WRITE_ZEROES)) {
		v = min_t(u32, le32_to_cpu(c->max_write_zeroes_sectors), UINT_MAX >> SECTOR_SHIFT);
		blk_queue_max_write_zeroes_sectors(q, round_down(v, lbs >> SECTOR_SHIFT));
	}
}

static void pvblk_config_changed(struct pvio_device *pdev)
{
	struct pvblk *b = dev_get_drvdata(&pdev->dev);
	struct pvio_blk_config c;
	sector_t old, cap;

	if (!b)
		return;
	if (pdev->broken) {
		pvblk_schedule_reset(b, 0);
		return;
	}
	mutex_lock(&b->lock);
	if (!pvblk_read_config(b, &c)) {
		/* Only the capacity may change at run time. */
		old = pvblk_capacity(&b->cfg);
		cap = pvblk_capacity(&c);
		b->cfg.capacity = c.capacity;
		if (cap != old) {
			dev_info(&pdev->dev, "%s: capacity %llu -> %llu sectors\n",
				 b->disk->disk_name, (u64)old, (u64)cap);
			set_capacity_and_notify(b->disk, cap);
		}
	}
	mutex_unlock(&b->lock);
}

static const u64 pvblk_features =
	BIT_ULL(PVIO_BLK_F_RO) | BIT_ULL(PVIO_BLK_F_FLUSH) |
	BIT_ULL(PVIO_BLK_F_FUA) | BIT_ULL(PVIO_BLK_F_DISCARD) |
	BIT_ULL(PVIO_BLK_F_WRITE_ZEROES) | BIT_ULL(PVIO_BLK_F_MQ);

/*
 * Probe failed with queues set up: reset the device and free the queue
 * interrupts (the bus would, but only after b is gone), then make sure no
 * reset is pending, before anything of b is freed.
 */
static void pvblk_probe_undo(struct pvblk *b)
{
	if (b->probe_undone)
		return;
	b->probe_undone = true;
	WRITE_ONCE(b->live, false);
	/*
	 * Requests went out only from device_add_disk(), which waited for
	 * them: none is outstanding, nothing to hold.  The bus waits for the
	 * echo before the next probe.
	 */
	if (pvio_device_teardown(b->pdev))
		dev_warn(&b->pdev->dev, "probe failed with the reset not acknowledged\n");
	cancel_delayed_work_sync(&b->reset_work);
}

static int pvblk_probe(struct pvio_device *pdev)
{
	struct pvblk *b;
	unsigned int i, maxq, minsq = UINT_MAX;
	int ret;

	if (!pdev->config || pdev->config_len < sizeof(struct pvio_blk_config) ||
	    !pdev->max_queues) {
		dev_err(&pdev->dev, "block device without config area or queue\n");
		return -EINVAL;
	}
	b = kzalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		return -ENOMEM;
	b->pdev = pdev;
	mutex_init(&b->lock);
	INIT_DELAYED_WORK(&b->reset_work, pvblk_reset_work);
	ret = ida_alloc(&pvblk_index_ida, GFP_KERNEL);
	if (ret < 0)
		goto err_free;
	b->index = ret;
	if (b->index >= 26 * 27) {
		ret = -ENOSPC;
		goto err_ida;
	}

	ret = pvio_negotiate(pdev, pvblk_features);
	if (ret)
		goto err_ida;
	b->features = pdev->features;
	ret = pvblk_read_config(b, &b->cfg);
	if (ret)
		goto err_ida;
	/* Never trust what the host says: cap every count. */
	maxq = min_t(unsigned int, pdev->max_queues, PVBLK_MAX_QUEUES);
	if (!pvio_has_feature(pdev, PVIO_BLK_F_MQ))
		maxq = 1;
	maxq = clamp_t(unsigned int, le16_to_cpu(b->cfg.num_queues), 1, maxq);
	b->nq = min_t(unsigned int, maxq, num_online_cpus());

	for (i = 0; i < b->nq; i++) {
		struct pvblk_queue *bq = &b->qs[i];

		bq->b = b;
		spin_lock_init(&bq->sq_lock);
		spin_lock_init(&bq->cpl_lock);
	}
	/* Depth: what the config suggests, bounded by the smallest ring. */
	b->depth = clamp_t(unsigned int, le16_to_cpu(b->cfg.queue_depth), 1,
			   PVBLK_MAX_DEPTH);
	for (i = 0; i < b->nq; i++) {
		struct pvio_queue *q = pvio_queue_setup(pdev, i, pvblk_irq, &b->qs[i]);

		if (IS_ERR(q)) {
			ret = PTR_ERR(q);
			goto err_queues;
		}
		b->depth = min(b->depth, pvio_queue_size(q));
		minsq = min(minsq, pvio_queue_size(q));
		b->qs[i].q = q;
	}
	/* A request of max_segs data slots + its header fits an empty SQ. */
	if (minsq < 2) {
		ret = -EPROTO;
		goto err_queues;
	}
	b->max_segs = clamp_t(u32, le32_to_cpu(b->cfg.max_segments), 1,
			      min_t(u32, PVBLK_MAX_SEGS, minsq - 1));
	for (i = 0; i < b->nq; i++) {
		b->qs[i].outstanding = bitmap_zalloc(b->depth, GFP_KERNEL);
		b->qs[i].gen = kcalloc(b->depth, sizeof(*b->qs[i].gen), GFP_KERNEL);
		if (!b->qs[i].outstanding || !b->qs[i].gen) {
			ret = -ENOMEM;
			goto err_queues;
		}
	}

	b->tag_set.ops = &pvblk_mq_ops;
	b->tag_set.nr_hw_queues = b->nq;
	b->tag_set.queue_depth = b->depth;
	b->tag_set.numa_node = NUMA_NO_NODE;
	b->tag_set.flags = BLK_MQ_F_SHOULD_MERGE;
	b->tag_set.cmd_size = sizeof(struct pvblk_cmd) +
			      sizeof(struct scatterlist) * PVBLK_MAX_SEGS;
	b->tag_set.driver_data = b;
	b->tag_set.timeout = io_timeout * HZ;
	ret = blk_mq_alloc_tag_set(&b->tag_set);
	if (ret)
		goto err_queues;
	pvblk_set_affinity(b);
	b->disk = blk_mq_alloc_disk(&b->tag_set, b);
	if (IS_ERR(b->disk)) {
		ret = PTR_ERR(b->disk);
		b->disk = NULL;
		goto err_tags;
	}
	pvblk_name(b->disk->disk_name, DISK_NAME_LEN, b->index);
	b->disk->major = pvblk_major;
	b->disk->first_minor = b->index * PVBLK_MINORS;
	b->disk->minors = PVBLK_MINORS;
	b->disk->fops = &pvblk_fops;
	b->disk->private_data = b;
	pvblk_apply_limits(b);
	if (pvio_has_feature(pdev, PVIO_BLK_F_RO))
		set_disk_ro(b->disk, true);
	set_capacity(b->disk, pvblk_capacity(&b->cfg));

	WRITE_ONCE(b->live, true);
	ret = pvio_device_ready(pdev, b->nq);
	if (ret)
		goto err_disk;
	b->queues_up = true;
	dev_set_drvdata(&pdev->dev, b);
	ret = device_add_disk(&pdev->dev, b->disk, pvblk_attr_groups);
	if (ret)
		goto err_drvdata;
	dev_info(&pdev->dev, "%s: %llu sectors of %u bytes, %u queue(s) x %u, features %#llx%s\n",
		 b->disk->disk_name, (u64)get_capacity(b->disk),
		 le32_to_cpu(b->cfg.logical_block_size), b->nq, b->depth,
		 pdev->features, pvio_has_feature(pdev, PVIO_BLK_F_RO) ? ", read-only" : "");
	return 0;

err_drvdata:
	dev_set_drvdata(&pdev->dev, NULL);
err_disk:
	pvblk_probe_undo(b);
	put_disk(b->disk);
err_tags:
	blk_mq_free_tag_set(&b->tag_set);
err_queues:
	pvblk_probe_undo(b);
	for (i = 0; i < b->nq; i++) {
		bitmap_free(b->qs[i].outstanding);
		kfree(b->qs[i].gen);
	}
err_ida:
	ida_free(&pvblk_index_ida, b->index);
err_free:
	kfree(b);
	return ret;
}

static void pvblk_remove(struct pvio_device *pdev)
{
	struct pvblk *b = dev_get_drvdata(&pdev->dev);
	unsigned int i;

	/*
	 * Flushes and waits for I/O; timeouts and resets still work.  Held
	 * requests (a reset not acknowledged) end only once the backend
	 * answers: until then this waits.
	 */
	del_gendisk(b->disk);
	mutex_lock(&b->lock);
	b->removing = true;
	dev_set_drvdata(&pdev->dev, NULL);
	mutex_unlock(&b->lock);
	cancel_delayed_work_sync(&b->reset_work);
	/*
	 * Reset before freeing the tag set.  Every request has ended, so the
	 * backend holds no buffer of ours whatever it answers; the bus waits
	 * for the echo before the next probe.
	 */
	if (pvio_device_teardown(pdev))
		dev_warn(&pdev->dev, "unbound with the reset not acknowledged\n");
	pvblk_queues_forget(b);
	/* An interrupt before the teardown may have queued one more. */
	cancel_delayed_work_sync(&b->reset_work);
	blk_mq_free_tag_set(&b->tag_set);
	put_disk(b->disk);
	for (i = 0; i < b->nq; i++) {
		bitmap_free(b->qs[i].outstanding);
		kfree(b->qs[i].gen);
	}
	ida_free(&pvblk_index_ida, b->index);
	kfree(b);
}

/* Backend restarted: the transport resets us between these two. */
static void pvblk_freeze(struct pvio_device *pdev)
{
	struct pvblk *b = dev_get_drvdata(&pdev->dev);

	mutex_lock(&b->lock);
	b->frozen = true;
	pvblk_stop(b);
	mutex_unlock(&b->lock);
}

static int pvblk_restore(struct pvio_device *pdev)
{
	struct pvblk *b = dev_get_drvdata(&pdev->dev);
	int ret;

	mutex_lock(&b->lock);
	pvblk_queues_forget(b);
	b->frozen = false;
	/* The transport's reset was acknowledged: nothing is held any more. */
	ret = pvblk_start(b);
	mutex_unlock(&b->lock);
	if (!ret)
		dev_info(&pdev->dev, "%s: restored after backend restart\n",
			 b->disk->disk_name);
	return ret;
}

static struct pvio_driver pvblk_driver = {
	.driver.name = KBUILD_MODNAME,
	.type = PVIO_DEV_BLK,
	.probe = pvblk_probe,
	.remove = pvblk_remove,
	.config_changed = pvblk_config_changed,
	.freeze = pvblk_freeze,
	.restore = pvblk_restore,
};

static int __init pvblk_init(void)
{
	int ret;

	pvblk_major = register_blkdev(0, "pvblk");
	if (pvblk_major < 0)
		return pvblk_major;
	ret = pvio_register_driver(&pvblk_driver);
	if (ret)
		unregister_blkdev(pvblk_major, "pvblk");
	return ret;
}

static void __exit pvblk_exit(void)
{
	pvio_unregister_driver(&pvblk_driver);
	unregister_blkdev(pvblk_major, "pvblk");
	ida_destroy(&pvblk_index_ida);
}
module_init(pvblk_init);
module_exit(pvblk_exit);

MODULE_ALIAS("pvio:t0002");
MODULE_DESCRIPTION("pvio paravirtual block driver");
MODULE_LICENSE("GPL");
