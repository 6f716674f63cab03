/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pvio_blk.h - what the two halves of pvio_blk share.
 *
 *   pvio_blk_main.c  the device: config, probe and remove, queues up and
 *                    down, resets, sysfs, capacity changes
 *   pvio_blk_rq.c    the request path: blk-mq ops, chains, completions,
 *                    the interrupt, timeouts
 */
#ifndef PVIO_BLK_H
#define PVIO_BLK_H

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/scatterlist.h>
#include <linux/workqueue.h>
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

extern unsigned int pvblk_io_timeout;

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

static inline void pvblk_schedule_reset(struct pvblk *b, unsigned long delay)
{
	mod_delayed_work(system_wq, &b->reset_work, delay);
}

/* pvio_blk_rq.c */
extern const struct blk_mq_ops pvblk_mq_ops;
void pvblk_irq(struct pvio_queue *q);
void pvblk_unmap(struct pvblk *b, struct request *rq);

#endif
