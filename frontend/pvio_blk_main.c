// SPDX-License-Identifier: GPL-2.0
/*
 * pvio_blk - paravirtual block device driver for pvio (the device half;
 * the request path is pvio_blk_rq.c).
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

#include <linux/ctype.h>
#include <linux/dma-mapping.h>
#include <linux/idr.h>
#include <linux/module.h>
#include <linux/slab.h>
#include "pvio_blk.h"

unsigned int pvblk_io_timeout = 30;
module_param_named(io_timeout, pvblk_io_timeout, uint, 0444);
MODULE_PARM_DESC(io_timeout, "Seconds before an unanswered request resets the device (default 30)");

static int pvblk_major;
static DEFINE_IDA(pvblk_index_ida);

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
 * The undo of making the device live in probe: no interrupt handler or
 * reset work uses the queues, tags or disk once this returns.  Requests
 * went out only from device_add_disk(), which waited for them: none is
 * outstanding, the backend holds no buffer, and the tag set and disk may
 * go before the device is reset (the teardown, last).
 */
static void pvblk_quiesce(struct pvblk *b)
{
	unsigned int i;

	WRITE_ONCE(b->live, false);
	for (i = 0; i < b->nq; i++)
		pvio_queue_sync(b->qs[i].q);
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
			goto err_bitmaps;
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
	b->tag_set.timeout = pvblk_io_timeout * HZ;
	ret = blk_mq_alloc_tag_set(&b->tag_set);
	if (ret)
		goto err_bitmaps;
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
		goto err_live;
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
	b->queues_up = false;
err_live:
	pvblk_quiesce(b);
	put_disk(b->disk);
err_tags:
	blk_mq_free_tag_set(&b->tag_set);
err_bitmaps:
	for (i = 0; i < b->nq; i++) {
		bitmap_free(b->qs[i].outstanding);
		kfree(b->qs[i].gen);
	}
err_queues:
	/* The bus waits for the echo before the next probe. */
	if (pvio_device_teardown(pdev))
		dev_warn(&pdev->dev, "probe failed with the reset not acknowledged\n");
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
