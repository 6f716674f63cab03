/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pvio_balloon.h - what the three parts of pvio_balloon.ko share:
 *   pvio_balloon_queue.c requests to the host and their completions, the
 *                        queues, the balloon's size in the config area
 *   pvio_balloon_main.c  inflate/deflate, target, reset, probe/remove
 *   pvio_balloon_mm.c    statistics, deflate on OOM, compaction, free page
 *                        reporting: the balloon's hooks into the kernel's
 *                        memory management
 */
#ifndef PVIO_BALLOON_H
#define PVIO_BALLOON_H

#include <linux/balloon_compaction.h>
#include <linux/page_reporting.h>
#include <linux/vmstat.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include "pvio.h"
#include "pvio/balloon.h"

#define PVBAL_PER_PAGE		(PAGE_SIZE / 4096)	/* balloon units per page */
#define PVBAL_CHUNK_ORDER	(21 - PAGE_SHIFT)	/* 2 MiB */
#define PVBAL_CHUNK_PAGES	BIT(PVBAL_CHUNK_ORDER)
#define PVBAL_MAX_RANGE		SZ_1G			/* bytes in one slot */
#define PVBAL_TIMEOUT		(10 * HZ)
#define PVBAL_MIN_KEEP		(SZ_64M / PAGE_SIZE)
#define PVBAL_RETRY		(2 * HZ)
#define PVBAL_MAX_PARKED	32	/* see pvbal_park() */
#define PVBAL_SHOW_STEP		(SZ_64M / 4096)	/* publish at least so often */
#define PVBAL_PSI_STALE		(10 * HZ)	/* an agent's PSI, kept so long */
#define PVBAL_OOM_WAIT		(2 * HZ)	/* an OOM waits so long for @lock */

struct pvbal;

struct pvbal_vq {
	struct pvbal *b;
	struct pvio_queue *q;		/* NULL while the queues are down */
	spinlock_t lock;		/* the fields below, against the irq */
	wait_queue_head_t wq;
	u16 id;				/* of the request outstanding */
	bool busy;			/* a request is outstanding */
	bool done;			/* and its completion arrived */
	u32 status;
};

/* Page ranges of one request, and the pages behind them. */
struct pvbal_batch {
	unsigned int nr;
	struct {
		u64 addr;
		u32 len;
	} r[PVIO_MAX_CHAIN];
	struct list_head small;		/* order-0 pages */
	struct list_head chunks;	/* order-PVBAL_CHUNK_ORDER pages */
	unsigned long pages;		/* both, in PAGE_SIZE units */
};

struct pvbal {
	struct pvio_device *pdev;
	/*
	 * Serialises inflate, deflate, migration and queue changes; held
	 * while a request on queue 0 or 1 is outstanding.  Setting the
	 * queues up under it allocates (request_irq(), GFP_KERNEL), which
	 * can enter the OOM path: the OOM notifier and migration only ever
	 * trylock it.
	 */
	struct mutex lock;
	struct mutex report_lock;	/* queue 2; taken after @lock */
	struct balloon_dev_info bdi;	/* 4 KiB balloon pages */
	struct list_head chunks;	/* 2 MiB balloon chunks; @lock */
	unsigned long nr_chunks;	/* @lock (read without by stats) */
	unsigned long nr_small;		/* @lock */
	/*
	 * Old pages of migrations whose deflate did not complete: the host
	 * may still release them.  Counted in the balloon, out of the page
	 * allocator until a deflate of them completes or a reset is
	 * acknowledged.  @lock (nr_parked read without by stats).
	 */
	struct page *parked[PVBAL_MAX_PARKED];
	unsigned int nr_parked;
	u64 target;			/* 4 KiB pages, clamped; @lock */
	u64 raw_target;			/* as the host wrote it; @lock */
	u64 floor;			/* 4 KiB pages; @lock */
	u64 shown;			/* actual_pages last published; @lock */
	u32 stats_ms;			/* 0: no statistics */
	u32 stats_seq;			/* ours, never read back */
	bool hold;			/* deflated on pressure: no inflating */
	atomic_t oom_waiting;		/* an OOM notification waits for @lock */
	bool chunk_fail;		/* no 2 MiB chunk this round */
	bool queues_up;			/* @lock and @report_lock */
	bool frozen;			/* between freeze() and restore() */
	bool removing;
	bool resetting;			/* waiters give up: see pvbal_send() */
	/*
	 * A request's outcome is unknown until the next acknowledged reset:
	 * set by pvbal_send() (under the queue's lock), cleared with both
	 * locks held by an acknowledged reset, which also bumps reset_gen
	 * and wakes reset_wq.
	 */
	bool unsettled;
	unsigned long reset_gen;
	wait_queue_head_t reset_wq;
	unsigned int nq;
	u64 features;			/* negotiated at probe */
	atomic64_t deflated_on_pressure;
	/*
	 * Memory PSI avg10 "some" << 32 | "full", hundredths of a per cent,
	 * as a guest agent last wrote it to psi_memory (the kernel does not
	 * export PSI to modules), and when (jiffies; 0: never).
	 */
	u64 psi;
	unsigned long psi_at;
	struct pvbal_vq vq[3];
	struct pvbal_batch batch;	/* @lock */
	struct pvbal_batch rbatch;	/* @report_lock */
	struct delayed_work adjust_work;
	struct delayed_work stats_work;
	struct delayed_work reset_work;	/* 0: now; PVBAL_RETRY: try again */
	struct notifier_block oom_nb;
	bool oom_registered;
	struct page_reporting_dev_info pr;
	bool pr_registered;
};

static inline struct pvio_balloon_config *pvbal_cfg(struct pvbal *b)
{
	return b->pdev->config;
}

/* pvio_balloon_queue.c; the caller holds b->lock (b->report_lock for queue 2) */
u64 pvbal_actual(struct pvbal *b);
void pvbal_publish_actual(struct pvbal *b);
int pvbal_send(struct pvbal *b, unsigned int qi, struct pvbal_batch *bt);
void pvbal_batch_init(struct pvbal_batch *bt);
void pvbal_add_range(struct pvbal_batch *bt, u64 pa, u32 len);
/* with both locks held */
int pvbal_queues_up(struct pvbal *b);
void pvbal_queues_forget(struct pvbal *b);

/* pvio_balloon_main.c, under b->lock */
unsigned long pvbal_deflate(struct pvbal *b, u64 want);

/* pvio_balloon_mm.c */
void pvbal_stats_work(struct work_struct *work);
extern const struct attribute_group *pvbal_groups[];
int pvbal_oom_notify(struct notifier_block *nb, unsigned long dummy, void *parm);
int pvbal_migratepage(struct balloon_dev_info *bdi, struct page *newpage,
		      struct page *page, enum migrate_mode mode);
/* under b->lock */
unsigned long pvbal_deflate_parked(struct pvbal *b, unsigned long want_p);
void pvbal_unpark(struct pvbal *b, unsigned int n);
int pvbal_report(struct page_reporting_dev_info *pr, struct scatterlist *sgl,
		 unsigned int nents);

#endif
