// SPDX-License-Identifier: GPL-2.0
/*
 * pvio_balloon_queue.c - requests to the host (protocol 9.3): a batch of page
 * ranges on a queue, one request outstanding per queue, its completion
 * checked against it; the queues set up after a reset; the balloon's size
 * published in the config area.  pvio_balloon_main.c decides what to send
 * (inflate, deflate, reset), pvio_balloon_mm.c sends for the kernel's own
 * callers (compaction, OOM, free page reporting).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include "pvio_balloon.h"

/* Pages in the balloon, in 4 KiB units. */
u64 pvbal_actual(struct pvbal *b)
{
	return ((u64)READ_ONCE(b->nr_chunks) * PVBAL_CHUNK_PAGES +
		READ_ONCE(b->nr_small) + READ_ONCE(b->nr_parked)) * PVBAL_PER_PAGE;
}

/* Called with @lock held. */
void pvbal_publish_actual(struct pvbal *b)
{
	b->shown = pvbal_actual(b);
	WRITE_ONCE(pvbal_cfg(b)->actual_pages, cpu_to_le64(b->shown));
	pvio_config_notify(b->pdev);
}

static void pvbal_irq(struct pvio_queue *q)
{
	struct pvbal_vq *vq = pvio_queue_priv(q);
	struct pvbal *b = vq->b;
	struct pvio_cpl c;
	unsigned long flags;
	bool bad = false;
	int n;

	spin_lock_irqsave(&vq->lock, flags);
	do {
		pvio_queue_disable_cb(q);
		while ((n = pvio_queue_reap(q, &c, 1)) > 0) {
			if (!vq->busy || vq->done || le16_to_cpu(c.id) != vq->id ||
			    c.len) {
				bad = true;
				break;
			}
			vq->status = le32_to_cpu(c.status);
			vq->done = true;
		}
		if (n < 0 || bad)
			break;
	} while (!pvio_queue_enable_cb(q));
	spin_unlock_irqrestore(&vq->lock, flags);
	if (bad || n < 0) {
		if (bad)
			pvio_device_failed(b->pdev, "completion for no outstanding request");
		WRITE_ONCE(b->resetting, true);
		mod_delayed_work(system_wq, &b->reset_work, 0);
	}
	wake_up(&vq->wq);
}

/*
 * Send @bt's ranges on queue @qi and wait for the answer.  0: done; -EIO:
 * the host refused (error status) or never got the request (queues down,
 * being reset, ring broken); -ETIMEDOUT, -ENODEV: sent, outcome unknown,
 * the device is being reset.  Caller holds the queue's lock.
 */
int pvbal_send(struct pvbal *b, unsigned int qi, struct pvbal_batch *bt)
{
	struct pvbal_vq *vq = &b->vq[qi];
	struct pvio_desc d[PVIO_MAX_CHAIN];
	bool kick, done;
	unsigned int i;
	long left;
	int ret;

	if (!b->queues_up || !vq->q || READ_ONCE(b->resetting) || !bt->nr)
		return -EIO;
	spin_lock_irq(&vq->lock);
	if (vq->busy) {
		/* An earlier request never came back: wait for the reset. */
		spin_unlock_irq(&vq->lock);
		return -EIO;
	}
	vq->id++;
	for (i = 0; i < bt->nr; i++) {
		d[i].addr = cpu_to_le64(bt->r[i].addr);
		d[i].len = cpu_to_le32(bt->r[i].len);
		d[i].id = cpu_to_le16(vq->id);
		d[i].flags = cpu_to_le16(i + 1 < bt->nr ? PVIO_DESC_F_NEXT : 0);
	}
	ret = pvio_queue_submit(vq->q, d, bt->nr);
	if (ret) {
		spin_unlock_irq(&vq->lock);
		/*
		 * Not published: the host never saw it.  A ring index the
		 * host made impossible broke the device: reset it, as after a
		 * bad completion, or every later request fails the same way.
		 */
		if (READ_ONCE(b->pdev->broken)) {
			WRITE_ONCE(b->resetting, true);
			mod_delayed_work(system_wq, &b->reset_work, 0);
		}
		return -EIO;
	}
	vq->busy = true;
	vq->done = false;
	kick = pvio_queue_kick_prepare(vq->q);
	spin_unlock_irq(&vq->lock);
	if (kick)
		pvio_queue_notify(vq->q);

	left = wait_event_timeout(vq->wq, READ_ONCE(vq->done) ||
				  READ_ONCE(b->resetting), PVBAL_TIMEOUT);
	spin_lock_irq(&vq->lock);
	done = vq->done;
	if (done) {
		vq->busy = false;
		vq->done = false;
	}
	spin_unlock_irq(&vq->lock);
	if (!done) {
		if (!left)
			dev_warn_ratelimited(&b->pdev->dev, "queue %u: no answer in %d s: resetting\n",
					     qi, PVBAL_TIMEOUT / HZ);
		WRITE_ONCE(b->unsettled, true);
		WRITE_ONCE(b->resetting, true);
		mod_delayed_work(system_wq, &b->reset_work, 0);
		return left ? -ENODEV : -ETIMEDOUT;
	}
	if (vq->status != PVIO_S_OK) {
		dev_warn_ratelimited(&b->pdev->dev, "queue %u: host answered status %u\n",
				     qi, vq->status);
		return -EIO;
	}
	return 0;
}

void pvbal_batch_init(struct pvbal_batch *bt)
{
	bt->nr = 0;
	bt->pages = 0;
	INIT_LIST_HEAD(&bt->small);
	INIT_LIST_HEAD(&bt->chunks);
}

/* Add [pa, pa + len) to @bt, merged with the last range when adjacent. */
void pvbal_add_range(struct pvbal_batch *bt, u64 pa, u32 len)
{
	typeof(bt->r[0]) *r = bt->nr ? &bt->r[bt->nr - 1] : NULL;

	if (r && r->len <= PVBAL_MAX_RANGE - len) {
		if (r->addr + r->len == pa) {
			r->len += len;
			return;
		}
		if (pa + len == r->addr) {
			r->addr = pa;
			r->len += len;
			return;
		}
	}
	/* Callers stop before the 64th range is used. */
	bt->r[bt->nr].addr = pa;
	bt->r[bt->nr].len = len;
	bt->nr++;
}

/* ---- the queues ------------------------------------------------------------- */

/* Called with both locks held. */
int pvbal_queues_up(struct pvbal *b)
{
	unsigned int i;
	int ret;

	ret = pvio_negotiate(b->pdev, b->features);
	if (ret)
		return ret;
	for (i = 0; i < b->nq; i++) {
		struct pvio_queue *q;

		spin_lock_irq(&b->vq[i].lock);
		b->vq[i].busy = false;
		b->vq[i].done = false;
		spin_unlock_irq(&b->vq[i].lock);
		q = pvio_queue_setup(b->pdev, i, pvbal_irq, &b->vq[i]);
		if (IS_ERR(q))
			return PTR_ERR(q);
		b->vq[i].q = q;
	}
	ret = pvio_device_ready(b->pdev, b->nq);
	if (ret)
		return ret;
	b->queues_up = true;
	pvbal_publish_actual(b);
	return 0;
}

/* Called with both locks held. */
void pvbal_queues_forget(struct pvbal *b)
{
	unsigned int i;

	b->queues_up = false;
	for (i = 0; i < b->nq; i++)
		b->vq[i].q = NULL;
}
