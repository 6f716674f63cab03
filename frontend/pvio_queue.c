// SPDX-License-Identifier: GPL-2.0
/*
 * pvio_queue.c - queues for class drivers: ring attach with validation of
 * every backend-written field, MSI-X vector per queue, submit, kick with
 * event-index suppression, reap.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/interrupt.h>
#include <linux/module.h>
#include "pvio_internal.h"

static irqreturn_t pvio_queue_interrupt(int irq, void *data)
{
	struct pvio_queue *q = data;

	if (q->cb)
		q->cb(q);
	return IRQ_HANDLED;
}

struct pvio_queue *pvio_queue_setup(struct pvio_device *pdev,
				    unsigned int index, pvio_queue_cb cb,
				    void *priv)
{
	struct pvio_transport *t = pdev->t;
	struct pvio_queue *q;
	struct pvio_queue_desc *qd;
	u32 qoff, sqo, cqo, sqn, cqn, sqe, cqe, vec;
	int ret;

	if (index >= pdev->max_queues)
		return ERR_PTR(-EINVAL);
	q = &pdev->queues[index];
	if (q->ready)
		return ERR_PTR(-EBUSY);
	/* The backend would wipe this queue when it serves the reset. */
	if (!pvio_device_reset_acked(pdev))
		return ERR_PTR(-EBUSY);
	qoff = le32_to_cpu(READ_ONCE(pdev->desc->queue_off));
	if (!pvio_abi_range_ok(qoff, (u64)(index + 1) * sizeof(*qd), t->win_size))
		return ERR_PTR(-EPROTO);
	qd = (struct pvio_queue_desc *)(t->win + qoff) + index;
	/* Read each field once; only the copies are checked and used. */
	sqo = le32_to_cpu(READ_ONCE(qd->sq_off));
	cqo = le32_to_cpu(READ_ONCE(qd->cq_off));
	sqn = le32_to_cpu(READ_ONCE(qd->sq_size));
	cqn = le32_to_cpu(READ_ONCE(qd->cq_size));
	sqe = le16_to_cpu(READ_ONCE(qd->sq_esize));
	cqe = le16_to_cpu(READ_ONCE(qd->cq_esize));
	vec = le16_to_cpu(READ_ONCE(qd->vector));
	if (!pvio_ring_size_valid(sqn, sqe) || !pvio_ring_size_valid(cqn, cqe) ||
	    sqe != sizeof(struct pvio_desc) || cqe != sizeof(struct pvio_cpl) ||
	    cqn < sqn || !IS_ALIGNED(sqo, 64) || !IS_ALIGNED(cqo, 64) ||
	    !pvio_abi_range_ok(sqo, pvio_ring_bytes(sqn, sqe), t->win_size) ||
	    !pvio_abi_range_ok(cqo, pvio_ring_bytes(cqn, cqe), t->win_size) ||
	    vec == PVIO_CONFIG_VECTOR || vec >= t->nvec) {
		dev_err(&pdev->dev, "queue %u: backend published an invalid layout\n",
			index);
		return ERR_PTR(-EPROTO);
	}
	ret = pvio_ring_attach(&q->sq, t->win + sqo, sqn, sqe, true);
	if (!ret)
		ret = pvio_ring_attach(&q->cq, t->win + cqo, cqn, cqe, false);
	if (ret)
		return ERR_PTR(ret);
	q->pdev = pdev;
	q->index = index;
	q->vector = vec;
	q->size = sqn;
	q->cb = cb;
	q->priv = priv;
	snprintf(q->name, sizeof(q->name), "%s-q%u", dev_name(&pdev->dev), index);
	q->irq = pci_irq_vector(t->pci, vec);
	if (q->irq < 0)
		return ERR_PTR(q->irq);
	ret = request_irq(q->irq, pvio_queue_interrupt, 0, q->name, q);
	if (ret) {
		q->irq = 0;
		return ERR_PTR(ret);
	}
	WRITE_ONCE(qd->enabled, cpu_to_le32(1));
	q->ready = true;
	return q;
}
EXPORT_SYMBOL_GPL(pvio_queue_setup);

void pvio_queues_free(struct pvio_device *pdev)
{
	unsigned int i;

	for (i = 0; i < pdev->max_queues; i++) {
		struct pvio_queue *q = &pdev->queues[i];

		if (q->irq > 0) {
			/* free_irq() insists the hint is gone. */
			irq_update_affinity_hint(q->irq, NULL);
			free_irq(q->irq, q);
		}
		memset(q, 0, sizeof(*q));
	}
}

/*
 * Steer the queue's interrupt to @mask, the CPUs that submit on it: the
 * completion then runs where the request came from, without an IPI.
 */
int pvio_queue_set_affinity(struct pvio_queue *q, const struct cpumask *mask)
{
	if (q->irq <= 0)
		return -EINVAL;
	return irq_set_affinity_and_hint(q->irq, mask);
}
EXPORT_SYMBOL_GPL(pvio_queue_set_affinity);

/* Wait until no interrupt handler of @q runs any more (synchronize_irq()). */
void pvio_queue_sync(struct pvio_queue *q)
{
	if (q->irq > 0)
		synchronize_irq(q->irq);
}
EXPORT_SYMBOL_GPL(pvio_queue_sync);

void *pvio_queue_priv(struct pvio_queue *q)
{
	return q->priv;
}
EXPORT_SYMBOL_GPL(pvio_queue_priv);

unsigned int pvio_queue_size(struct pvio_queue *q)
{
	return q->size;
}
EXPORT_SYMBOL_GPL(pvio_queue_size);

static void pvio_queue_protocol_error(struct pvio_queue *q, const char *what)
{
	if (!q->pdev->broken)
		dev_err_ratelimited(&q->pdev->dev, "queue %u: %s: device marked broken\n",
				    q->index, what);
	q->pdev->broken = true;
}

int pvio_queue_space(struct pvio_queue *q, unsigned int want)
{
	int space;

	if (unlikely(q->pdev->broken))
		return -EIO;
	space = pvio_ring_prod_space(&q->sq, want);
	if (unlikely(space < 0))
		pvio_queue_protocol_error(q, "impossible submission consumer index");
	return space;
}
EXPORT_SYMBOL_GPL(pvio_queue_space);

int pvio_queue_submit(struct pvio_queue *q, const struct pvio_desc *d,
		      unsigned int n)
{
	int ret;

	if (unlikely(q->pdev->broken))
		return -EIO;
	/* The whole chain in one release: the backend never sees half. */
	ret = pvio_ring_enqueue_bulk(&q->sq, d, n);
	if (unlikely(ret < 0)) {
		pvio_queue_protocol_error(q, "impossible submission consumer index");
		return ret;
	}
	return ret == (int)n ? 0 : -ENOSPC;
}
EXPORT_SYMBOL_GPL(pvio_queue_submit);

bool pvio_queue_kick_prepare(struct pvio_queue *q)
{
	return pvio_ring_prod_need_notify(&q->sq);
}
EXPORT_SYMBOL_GPL(pvio_queue_kick_prepare);

void pvio_queue_notify(struct pvio_queue *q)
{
	pvio_ring_doorbell(q->pdev->t, q->vector);
}
EXPORT_SYMBOL_GPL(pvio_queue_notify);

int pvio_queue_reap(struct pvio_queue *q, struct pvio_cpl *c, unsigned int max)
{
	int n;

	if (unlikely(q->pdev->broken))
		return -EIO;
	/*
	 * While a live migration logs (protocol 6.4), a completion is only
	 * safe to take once it is reaped here, where the driver touches its
	 * buffers: one this CPU saw published but had not reaped when the
	 * guest stopped may reach the destination older than the cached
	 * index says, in its slot and in its buffers.  Re-read the
	 * producer's index each time: the destination's backend sets it
	 * back to our consumer index (6.4), and those requests are sent
	 * again after the reset.
	 */
	if (unlikely(pvio_log_dirty(q->pdev)))
		q->cq.peer = q->cq.idx;
	n = pvio_ring_dequeue(&q->cq, c, max);
	if (unlikely(n < 0)) {
		pvio_queue_protocol_error(q, "impossible completion producer index");
		return n;
	}
	/*
	 * Stopped part-way through that copy, the guest read the rest of
	 * the slots at the destination, where they are older than the index
	 * it read at the source.  Their backend has gone (a new generation):
	 * drop them all; the reset that follows resends what they were for.
	 */
	if (unlikely(n > 0 && pvio_log_dirty(q->pdev) && pvio_backend_moved(q->pdev)))
		return 0;
	/* A backend with a full CQ may be waiting for room. */
	if (n > 0 && pvio_ring_cons_need_notify(&q->cq))
		pvio_queue_notify(q);
	return n;
}
EXPORT_SYMBOL_GPL(pvio_queue_reap);

/*
 * The outcome of arming: @got (entries or free slots seen by the re-check,
 * or -EPROTO) against the @want asked for.  True when it is safe to wait;
 * a bad index breaks the device, which then never asks to be polled again.
 */
static bool pvio_queue_armed(struct pvio_queue *q, int got, unsigned int want,
			     const char *what)
{
	if (unlikely(got < 0)) {
		pvio_queue_protocol_error(q, what);
		return true;
	}
	return (unsigned int)got < want;
}

bool pvio_queue_enable_cb(struct pvio_queue *q)
{
	return pvio_queue_enable_cb_after(q, 1);
}
EXPORT_SYMBOL_GPL(pvio_queue_enable_cb);

bool pvio_queue_enable_cb_after(struct pvio_queue *q, unsigned int n)
{
	n = max(n, 1U);
	/* A broken device has nothing more to say. */
	if (unlikely(q->pdev->broken))
		return true;
	return pvio_queue_armed(q, pvio_ring_cons_arm_after(&q->cq, n), n,
				"impossible completion producer index");
}
EXPORT_SYMBOL_GPL(pvio_queue_enable_cb_after);

bool pvio_queue_arm_space(struct pvio_queue *q, unsigned int want)
{
	if (unlikely(q->pdev->broken))
		return true;
	return pvio_queue_armed(q, pvio_ring_prod_arm(&q->sq), want,
				"impossible submission consumer index");
}
EXPORT_SYMBOL_GPL(pvio_queue_arm_space);

void pvio_queue_disable_cb(struct pvio_queue *q)
{
	pvio_ring_cons_disarm(&q->cq);
}
EXPORT_SYMBOL_GPL(pvio_queue_disable_cb);
