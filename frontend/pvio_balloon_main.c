// SPDX-License-Identifier: GPL-2.0
/*
 * pvio_balloon - memory balloon driver for pvio (protocol 9.3).
 *
 * The host writes a target (target_pages, 4 KiB pages) into the config
 * area; a work item moves the balloon towards it.  Inflate: take pages from
 * the page allocator, 2 MiB at a time while that works (order-9 chunks with
 * __GFP_NORETRY, no warning; another CPU allocates half of a request's
 * chunks meanwhile), 4 KiB pages after that; send them as page
 * ranges (contiguous pages merged, up to 64 ranges per request) on queue 0,
 * wait for the completion, never touch them again.  The host releases the
 * memory behind them.  Deflate: send ranges on queue 1, free the pages once
 * the host has answered.  actual_pages follows every completed request
 * (then a vector-0 doorbell).
 *
 * 4 KiB pages live on a balloon_dev_info list, so with
 * CONFIG_BALLOON_COMPACTION compaction can migrate them (inflate the new
 * page, deflate the old one, like virtio_balloon).  2 MiB chunks are whole
 * pageblocks and are never migrated; a deflate that needs less than a chunk
 * splits one into 4 KiB balloon pages.
 *
 * With STATS, memory statistics go into the config area every
 * stats_interval_ms, under the seq protocol.  With REPORTING, free pages of
 * pageblock order are reported on queue 2 (page_reporting_register()).
 * With DEFLATE_ON_OOM, an OOM notifier gives pages back (down to
 * floor_pages) before the OOM killer would kill, counts them in
 * deflated_on_pressure and stops inflating until the host sets a new
 * target.
 *
 * Nothing the host writes is trusted: the target is clamped so that the
 * guest keeps 64 MiB and 1/16 of its RAM above what it uses and cannot
 * reclaim (pvbal_max_pages()); the statistics period
 * to 100 ms..60 s; floor to the balloon's size; a completion must carry the
 * id of the one request outstanding on its queue and a length of 0, or the
 * device is reset.  A request the host does not answer within 10 s has an
 * unknown outcome until a reset is acknowledged: inflated pages stay in the
 * balloon, pages to deflate stay there too, reported pages are held until
 * then, and the old page of a migration is parked (pvio_balloon_mm.c).  The
 * device is reset before the queue is used again; a reset the host does not
 * acknowledge is tried again every 2 s, the queues down meanwhile.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/oom.h>
#include <linux/slab.h>
#include <linux/swap.h>
#include "pvio_balloon.h"

static bool free_page_reporting = true;
module_param(free_page_reporting, bool, 0444);
MODULE_PARM_DESC(free_page_reporting, "Report free pages to the host when it offers it (default on)");

static void pvbal_batch_add(struct pvbal_batch *bt, struct page *page,
			    unsigned int order)
{
	pvbal_add_range(bt, page_to_phys(page), PAGE_SIZE << order);
	list_add_tail(&page->lru, order ? &bt->chunks : &bt->small);
	bt->pages += 1UL << order;
}

/* ---- inflate, deflate (under b->lock) -------------------------------------- */

/* Chunks are never migrated: not from movable pageblocks. */
#define PVBAL_CHUNK_GFP	(GFP_HIGHUSER | __GFP_NORETRY | __GFP_NOWARN | \
			 __GFP_NOMEMALLOC)

/*
 * A page allocated for the balloon leaves the managed count at once, not
 * when the host has taken it: it has left MemAvailable already, and a
 * guest whose MemTotal still counts it seems to use it (the statistics
 * pviod's policy reads would show a whole batch in flight as the guest's
 * own, and the policy would hand it back).
 */
static struct page *pvbal_alloc(unsigned int order)
{
	struct page *page = order ? alloc_pages(PVBAL_CHUNK_GFP, order) : balloon_page_alloc();

	if (page)
		adjust_managed_page_count(page, -(1L << order));
	return page;
}

/* The pages of @bt (out of the managed count) now belong to the balloon. */
static void pvbal_take(struct pvbal *b, struct pvbal_batch *bt)
{
	struct page *page, *next;

	list_for_each_entry_safe(page, next, &bt->chunks, lru) {
		list_move(&page->lru, &b->chunks);
		count_vm_events(BALLOON_INFLATE, PVBAL_CHUNK_PAGES);
		WRITE_ONCE(b->nr_chunks, b->nr_chunks + 1);
	}
	list_for_each_entry_safe(page, next, &bt->small, lru) {
		list_del(&page->lru);
		balloon_page_enqueue(&b->bdi, page);
		WRITE_ONCE(b->nr_small, b->nr_small + 1);
	}
}

/*
 * Give @bt's pages back to the page allocator and the managed count;
 * @deflated: they were in the balloon (not a batch the host refused).
 */
static void pvbal_release(struct pvbal_batch *bt, bool deflated)
{
	struct page *page, *next;

	list_for_each_entry_safe(page, next, &bt->chunks, lru) {
		list_del(&page->lru);
		adjust_managed_page_count(page, PVBAL_CHUNK_PAGES);
		if (deflated)
			count_vm_events(BALLOON_DEFLATE, PVBAL_CHUNK_PAGES);
		__free_pages(page, PVBAL_CHUNK_ORDER);
	}
	list_for_each_entry_safe(page, next, &bt->small, lru) {
		list_del(&page->lru);
		adjust_managed_page_count(page, 1);
		put_page(page);
	}
}

/* Chunks allocated on another CPU while the inflating one allocates too. */
struct pvbal_helper {
	struct work_struct work;
	atomic_t *stop;			/* an OOM waits: allocate no more */
	unsigned int want, nr;
	struct page *page[PVIO_MAX_CHAIN / 2];
};

static void pvbal_helper_work(struct work_struct *work)
{
	struct pvbal_helper *h = container_of(work, struct pvbal_helper, work);
	struct page *page;

	while (h->nr < h->want && !atomic_read(h->stop)) {
		page = pvbal_alloc(PVBAL_CHUNK_ORDER);
		if (!page)
			break;
		h->page[h->nr++] = page;
	}
}

/*
 * Inflate by up to @want 4 KiB pages, one request; pages inflated.  With
 * init_on_alloc every chunk is zeroed as it is allocated, which is most of
 * the time an inflation takes: with more than one CPU online and chunks
 * to take, another CPU allocates half of them meanwhile.
 */
static unsigned long pvbal_inflate(struct pvbal *b, u64 want)
{
	struct pvbal_batch *bt = &b->batch;
	unsigned long want_p = want / PVBAL_PER_PAGE;
	struct pvbal_helper h = { .stop = &b->oom_waiting };
	unsigned int i, cpu;
	struct page *page;
	int ret;

	h.want = min_t(unsigned long, want_p / PVBAL_CHUNK_PAGES, PVIO_MAX_CHAIN) / 2;
	cpu = cpumask_any_but(cpu_online_mask, raw_smp_processor_id());
	if (b->chunk_fail || cpu >= nr_cpu_ids)
		h.want = 0;
	if (h.want) {
		INIT_WORK_ONSTACK(&h.work, pvbal_helper_work);
		queue_work_on(cpu, system_highpri_wq, &h.work);
	}
	pvbal_batch_init(bt);
	while (bt->pages + h.want * PVBAL_CHUNK_PAGES < want_p &&
	       bt->nr + h.want < PVIO_MAX_CHAIN && !atomic_read(&b->oom_waiting)) {
		if (want_p - bt->pages - h.want * PVBAL_CHUNK_PAGES >= PVBAL_CHUNK_PAGES &&
		    !b->chunk_fail) {
			page = pvbal_alloc(PVBAL_CHUNK_ORDER);
			if (page) {
				pvbal_batch_add(bt, page, PVBAL_CHUNK_ORDER);
				continue;
			}
			b->chunk_fail = true;	/* 4 KiB pages for the rest */
		}
		page = pvbal_alloc(0);
		if (!page)
			break;
		pvbal_batch_add(bt, page, 0);
	}
	if (h.want) {
		flush_work(&h.work);
		destroy_work_on_stack(&h.work);
		for (i = 0; i < h.nr; i++)
			pvbal_batch_add(bt, h.page[i], PVBAL_CHUNK_ORDER);
		if (h.nr < h.want)
			b->chunk_fail = true;
	}
	if (!bt->pages)
		return 0;
	ret = pvbal_send(b, PVIO_BAL_Q_INFLATE, bt);
	if (ret == -EIO) {
		/* Refused or never sent: ours again, contents undefined. */
		pvbal_release(bt, false);
		return 0;
	}
	/* Done, or unknown: the host may have released them; never touch. */
	pvbal_take(b, bt);
	return ret ? 0 : bt->pages * PVBAL_PER_PAGE;
}

/* Break one chunk into 4 KiB balloon pages (deflating less than 2 MiB). */
static void pvbal_split_chunk(struct pvbal *b)
{
	struct page *page = list_first_entry(&b->chunks, struct page, lru);
	unsigned long i;

	list_del(&page->lru);
	WRITE_ONCE(b->nr_chunks, b->nr_chunks - 1);
	split_page(page, PVBAL_CHUNK_ORDER);
	for (i = 0; i < PVBAL_CHUNK_PAGES; i++) {
		balloon_page_enqueue(&b->bdi, page + i);
		/* enqueue counted an inflate the chunk already counted */
		count_vm_event(BALLOON_DEFLATE);
	}
	WRITE_ONCE(b->nr_small, b->nr_small + PVBAL_CHUNK_PAGES);
}

/* Deflate by up to @want 4 KiB pages, one request; pages deflated. */
unsigned long pvbal_deflate(struct pvbal *b, u64 want)
{
	struct pvbal_batch *bt = &b->batch;
	unsigned long want_p = want / PVBAL_PER_PAGE;
	struct page *page;
	LIST_HEAD(one);
	int ret;

	if (b->nr_parked)	/* first what a migration left behind */
		return pvbal_deflate_parked(b, want_p);
	pvbal_batch_init(bt);
	while (bt->pages < want_p && bt->nr < PVIO_MAX_CHAIN) {
		if (want_p - bt->pages >= PVBAL_CHUNK_PAGES && b->nr_chunks) {
			page = list_first_entry(&b->chunks, struct page, lru);
			list_del(&page->lru);
			WRITE_ONCE(b->nr_chunks, b->nr_chunks - 1);
			pvbal_batch_add(bt, page, PVBAL_CHUNK_ORDER);
			continue;
		}
		if (!b->nr_small && b->nr_chunks)
			pvbal_split_chunk(b);
		if (!b->nr_small || !balloon_page_list_dequeue(&b->bdi, &one, 1))
			break;		/* empty, or every page is being migrated */
		page = list_first_entry(&one, struct page, lru);
		list_del(&page->lru);
		WRITE_ONCE(b->nr_small, b->nr_small - 1);
		pvbal_batch_add(bt, page, 0);
	}
	if (!bt->pages)
		return 0;
	ret = pvbal_send(b, PVIO_BAL_Q_DEFLATE, bt);
	if (ret) {
		/* Not given back: they stay in the balloon, untouched. */
		pvbal_take(b, bt);
		return 0;
	}
	pvbal_release(bt, true);
	return bt->pages * PVBAL_PER_PAGE;
}

/* ---- target ----------------------------------------------------------------- */

/*
 * The most the balloon may hold.  The guest keeps 64 MiB, and RAM/16 on
 * top of what it cannot give up now: its managed pages less what
 * si_mem_available() could free (anonymous and shmem pages without swap,
 * unreclaimable slab, page tables, the watermarks' reserve; on a debug
 * kernel KASAN's quarantine and kmemleak's objects too).  Pages already
 * in the balloon are neither managed nor available: inflating does not
 * move the bound.
 */
static u64 pvbal_max_pages(struct pvbal *b)
{
	unsigned long managed = totalram_pages();
	long avail = si_mem_available();
	u64 total = managed + pvbal_actual(b) / PVBAL_PER_PAGE;
	u64 used = avail > 0 && managed > (unsigned long)avail ? managed - avail : managed;
	u64 keep = max_t(u64, PVBAL_MIN_KEEP, used + total / 16);

	return total > keep ? (total - keep) * PVBAL_PER_PAGE : 0;
}

/* Re-read the config (consistent copy) and clamp what the host asks. */
static void pvbal_read_config(struct pvbal *b)
{
	struct pvio_balloon_config c;
	u64 raw, max;
	u32 ms;

	if (pvio_config_read(b->pdev, &c, offsetof(struct pvio_balloon_config,
						   actual_pages)) < 0)
		return;
	raw = le64_to_cpu(c.target_pages);
	max = pvbal_max_pages(b);
	if (raw != b->raw_target) {
		b->raw_target = raw;
		b->hold = false;	/* a new word from the host */
		if (raw > max)
			dev_warn(&b->pdev->dev, "target %llu pages is more than this guest can give; using %llu\n",
				 raw, max);
	}
	b->target = min(raw, max);
	b->floor = min(le64_to_cpu(c.floor_pages), b->target);
	ms = le32_to_cpu(c.stats_interval_ms);
	if (!pvio_has_feature(b->pdev, PVIO_BAL_F_STATS))
		ms = 0;
	else if (ms)
		ms = clamp_t(u32, ms, 100, 60000);
	if (ms != b->stats_ms) {
		b->stats_ms = ms;
		if (ms)
			mod_delayed_work(system_wq, &b->stats_work, 0);
	}
}

static void pvbal_adjust_work(struct work_struct *work)
{
	struct pvbal *b = container_of(to_delayed_work(work), struct pvbal,
				       adjust_work);
	unsigned long n;
	u64 actual, now;
	bool retry = false;

	mutex_lock(&b->lock);
	b->chunk_fail = false;
	/* An OOM notification waiting for the lock: let it have it. */
	while (b->queues_up && !READ_ONCE(b->resetting) && !b->frozen &&
	       !atomic_read(&b->oom_waiting)) {
		pvbal_read_config(b);
		actual = pvbal_actual(b);
		if (actual < b->target && !b->hold) {
			n = pvbal_inflate(b, b->target - actual);
			retry = !n;	/* no memory (or refused): later */
		} else if (actual > b->target) {
			n = pvbal_deflate(b, actual - b->target);
		} else {
			n = 0;
		}
		/*
		 * One request moves 2 MiB chunks, or as few as PVIO_MAX_CHAIN
		 * 4 KiB pages once chunks run out: a doorbell per request
		 * would flood the host.  The size is shown as it goes, every
		 * PVBAL_SHOW_STEP, and when the loop ends.
		 */
		now = pvbal_actual(b);
		if (max(now, b->shown) - min(now, b->shown) >= PVBAL_SHOW_STEP)
			pvbal_publish_actual(b);
		if (!n)
			break;
		cond_resched();
	}
	if (pvbal_actual(b) != b->shown)
		pvbal_publish_actual(b);
	if (atomic_read(&b->oom_waiting))
		retry = true;	/* the rest later, unless it holds then */
	if (retry && b->queues_up && !b->frozen && !b->removing)
		schedule_delayed_work(&b->adjust_work, PVBAL_RETRY);
	mutex_unlock(&b->lock);
}

/* ---- queues, reset, recovery -------------------------------------------------- */

/*
 * After an acknowledged reset the host holds no request any more: every
 * outcome is settled, parked pages are ours again and reports may end.
 * Called with both locks held.
 */
static void pvbal_settle(struct pvbal *b)
{
	pvbal_unpark(b, b->nr_parked);
	WRITE_ONCE(b->unsettled, false);
	WRITE_ONCE(b->reset_gen, b->reset_gen + 1);
	wake_up_all(&b->reset_wq);
}

/* Called with both locks held; returns whether the host acknowledged. */
static bool pvbal_queues_down(struct pvbal *b)
{
	bool acked;

	b->queues_up = false;
	acked = !pvio_device_teardown(b->pdev);
	pvbal_queues_forget(b);
	if (acked)
		pvbal_settle(b);
	return acked;
}

/*
 * Reset the device and set the queues up again, once the host has
 * acknowledged the reset: until then it may still act on a request (and
 * a reset it serves late would wipe queues set up meanwhile), so the
 * queues stay down and the reset is tried again every PVBAL_RETRY.
 */
static void pvbal_reset_work(struct work_struct *work)
{
	struct pvbal *b = container_of(to_delayed_work(work), struct pvbal,
				       reset_work);
	int ret;

	WRITE_ONCE(b->resetting, true);
	wake_up(&b->vq[0].wq);
	wake_up(&b->vq[1].wq);
	wake_up(&b->vq[2].wq);
	mutex_lock(&b->lock);
	mutex_lock(&b->report_lock);
	if (b->frozen || b->removing)
		goto out;
	if (!pvbal_queues_down(b)) {
		dev_warn_ratelimited(&b->pdev->dev, "reset not acknowledged: queues stay down%s, trying again in %d s\n",
				     b->unsettled ? ", requests pending" : "",
				     PVBAL_RETRY / HZ);
		queue_delayed_work(system_wq, &b->reset_work, PVBAL_RETRY);
		goto out;
	}
	WRITE_ONCE(b->resetting, false);
	ret = pvbal_queues_up(b);
	if (ret) {
		dev_err_ratelimited(&b->pdev->dev, "cannot set the queues up again (%d): trying again in %d s\n",
				    ret, PVBAL_RETRY / HZ);
		WRITE_ONCE(b->resetting, true);
		queue_delayed_work(system_wq, &b->reset_work, PVBAL_RETRY);
		goto out;
	}
	mod_delayed_work(system_wq, &b->adjust_work, 0);
out:
	mutex_unlock(&b->report_lock);
	mutex_unlock(&b->lock);
}

static void pvbal_config_changed(struct pvio_device *pdev)
{
	struct pvbal *b = dev_get_drvdata(&pdev->dev);

	if (!b || READ_ONCE(b->removing) || READ_ONCE(b->frozen))
		return;
	if (pdev->broken) {
		WRITE_ONCE(b->resetting, true);
		mod_delayed_work(system_wq, &b->reset_work, 0);
		return;
	}
	mod_delayed_work(system_wq, &b->adjust_work, 0);
}

/* Stop every activity that uses the queues; both locks held on return. */
static void pvbal_quiesce(struct pvbal *b)
{
	WRITE_ONCE(b->resetting, true);
	wake_up(&b->vq[0].wq);
	wake_up(&b->vq[1].wq);
	wake_up(&b->vq[2].wq);
	cancel_delayed_work_sync(&b->adjust_work);
	cancel_delayed_work_sync(&b->stats_work);
	cancel_delayed_work_sync(&b->reset_work);
	mutex_lock(&b->lock);
	mutex_lock(&b->report_lock);
}

static void pvbal_freeze(struct pvio_device *pdev)
{
	struct pvbal *b = dev_get_drvdata(&pdev->dev);

	WRITE_ONCE(b->frozen, true);
	pvbal_quiesce(b);
	/* The transport resets the device and frees the queues next. */
	pvbal_queues_forget(b);
	mutex_unlock(&b->report_lock);
	mutex_unlock(&b->lock);
}

static int pvbal_restore(struct pvio_device *pdev)
{
	struct pvbal *b = dev_get_drvdata(&pdev->dev);
	int ret;

	mutex_lock(&b->lock);
	mutex_lock(&b->report_lock);
	/* The transport's reset after freeze() was acknowledged. */
	pvbal_settle(b);
	WRITE_ONCE(b->resetting, false);
	WRITE_ONCE(b->frozen, false);
	ret = pvbal_queues_up(b);
	if (ret) {
		WRITE_ONCE(b->resetting, true);
		queue_delayed_work(system_wq, &b->reset_work, PVBAL_RETRY);
	}
	mutex_unlock(&b->report_lock);
	mutex_unlock(&b->lock);
	if (b->stats_ms)
		mod_delayed_work(system_wq, &b->stats_work, 0);
	if (ret) {
		dev_err(&pdev->dev, "cannot set the queues up again (%d): trying again in %d s\n",
			ret, PVBAL_RETRY / HZ);
		return 0;	/* reset_work takes it from here */
	}
	dev_info(&pdev->dev, "restored after backend restart, balloon %llu pages\n",
		 pvbal_actual(b));
	mod_delayed_work(system_wq, &b->adjust_work, 0);
	return 0;
}

/* ---- probe / remove --------------------------------------------------------- */

static int pvbal_probe(struct pvio_device *pdev)
{
	u64 wanted = BIT_ULL(PVIO_BAL_F_STATS) | BIT_ULL(PVIO_BAL_F_DEFLATE_ON_OOM);
	struct pvbal *b;
	unsigned int i;
	int ret;

	BUILD_BUG_ON(PAGE_SHIFT < 12);
	if (!pdev->config || pdev->config_len < sizeof(struct pvio_balloon_config) ||
	    pdev->max_queues < 2) {
		dev_err(&pdev->dev, "balloon without config area or its two queues\n");
		return -EINVAL;
	}
	b = kzalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		return -ENOMEM;
	b->pdev = pdev;
	mutex_init(&b->lock);
	atomic_set(&b->oom_waiting, 0);
	mutex_init(&b->report_lock);
	INIT_LIST_HEAD(&b->chunks);
	init_waitqueue_head(&b->reset_wq);
	balloon_devinfo_init(&b->bdi);
	if (IS_ENABLED(CONFIG_BALLOON_COMPACTION))
		b->bdi.migratepage = pvbal_migratepage;
	INIT_DELAYED_WORK(&b->adjust_work, pvbal_adjust_work);
	INIT_DELAYED_WORK(&b->stats_work, pvbal_stats_work);
	INIT_DELAYED_WORK(&b->reset_work, pvbal_reset_work);
	atomic64_set(&b->deflated_on_pressure, 0);
	for (i = 0; i < ARRAY_SIZE(b->vq); i++) {
		b->vq[i].b = b;
		spin_lock_init(&b->vq[i].lock);
		init_waitqueue_head(&b->vq[i].wq);
	}
	/*
	 * Reported pages come back with undefined contents: no reporting
	 * when the allocator relies on what free pages hold (zeroes with
	 * init_on_free, a pattern with page poisoning).
	 */
	if (pdev->max_queues >= 3 && free_page_reporting) {
		if (want_init_on_free() || page_poisoning_enabled_static())
			dev_info(&pdev->dev, "init_on_free or page poisoning: no free page reporting\n");
		else
			wanted |= BIT_ULL(PVIO_BAL_F_REPORTING);
	}
	ret = pvio_negotiate(pdev, wanted);
	if (ret)
		goto err_free;
	b->features = pdev->features;
	b->nq = pvio_has_feature(pdev, PVIO_BAL_F_REPORTING) ? 3 : 2;

	mutex_lock(&b->lock);
	mutex_lock(&b->report_lock);
	ret = pvbal_queues_up(b);
	mutex_unlock(&b->report_lock);
	mutex_unlock(&b->lock);
	if (ret)
		goto err_queues;
	dev_set_drvdata(&pdev->dev, b);

	if (pvio_has_feature(pdev, PVIO_BAL_F_DEFLATE_ON_OOM)) {
		b->oom_nb.notifier_call = pvbal_oom_notify;
		b->oom_nb.priority = 80;
		ret = register_oom_notifier(&b->oom_nb);
		if (ret)
			goto err_drvdata;
		b->oom_registered = true;
	}
	if (pvio_has_feature(pdev, PVIO_BAL_F_REPORTING)) {
		b->pr.report = pvbal_report;
		ret = page_reporting_register(&b->pr);
		if (ret)	/* another balloon reports already: go without */
			dev_warn(&pdev->dev, "free page reporting unavailable (%d)\n", ret);
		else
			b->pr_registered = true;
	}
	dev_info(&pdev->dev, "balloon: features %#llx, %u queues, free page reporting %s\n",
		 pdev->features, b->nq, b->pr_registered ? "on" : "off");
	mod_delayed_work(system_wq, &b->adjust_work, 0);
	return 0;

err_drvdata:
	dev_set_drvdata(&pdev->dev, NULL);
err_queues:
	/*
	 * Queues set up so far have live interrupts that may queue our
	 * work: free them before the work items, those before @b.
	 */
	WRITE_ONCE(b->removing, true);
	/* No request was sent yet: nothing to hold whatever the answer. */
	if (pvio_device_teardown(pdev))
		dev_warn(&pdev->dev, "probe failed with the reset not acknowledged\n");
	cancel_delayed_work_sync(&b->adjust_work);
	cancel_delayed_work_sync(&b->stats_work);
	cancel_delayed_work_sync(&b->reset_work);
err_free:
	kfree(b);
	return ret;
}

static void pvbal_remove(struct pvio_device *pdev)
{
	struct pvbal *b = dev_get_drvdata(&pdev->dev);
	struct pvbal_batch *bt = &b->batch;
	u64 left;
	bool acked;

	if (b->pr_registered)
		page_reporting_unregister(&b->pr);
	if (b->oom_registered)
		unregister_oom_notifier(&b->oom_nb);
	WRITE_ONCE(b->removing, true);
	cancel_delayed_work_sync(&b->adjust_work);
	cancel_delayed_work_sync(&b->stats_work);
	cancel_delayed_work_sync(&b->reset_work);
	mutex_lock(&b->lock);
	/* Give everything back politely while the host listens. */
	while (b->queues_up && !READ_ONCE(b->resetting) &&
	       pvbal_deflate(b, pvbal_actual(b)))
		;
	mutex_lock(&b->report_lock);
	acked = pvbal_queues_down(b);
	mutex_unlock(&b->report_lock);
	mutex_unlock(&b->lock);
	/*
	 * A request that timed out above queued reset_work, which does
	 * nothing now (removing) but takes b->lock: not held here.
	 */
	cancel_delayed_work_sync(&b->reset_work);

	/*
	 * No page may stay movable once the module can go: take every page
	 * off the balloon list, whatever happens to it next.  Pages being
	 * migrated come back to the list when pvbal_migratepage() refuses
	 * (queues down): wait for them.
	 */
	mutex_lock(&b->lock);
	left = pvbal_actual(b);
	pvbal_batch_init(bt);
	list_splice_init(&b->chunks, &bt->chunks);
	b->nr_chunks = 0;
	for (;;) {
		b->nr_small -= balloon_page_list_dequeue(&b->bdi, &bt->small, b->nr_small);
		if (!b->nr_small)
			break;
		mutex_unlock(&b->lock);
		msleep(20);
		mutex_lock(&b->lock);
	}
	mutex_unlock(&b->lock);
	if (left && !acked) {
		/* A host that may still release them: never reuse these. */
		dev_warn(&pdev->dev, "reset not acknowledged: leaking %llu balloon pages\n",
			 left);
	} else {
		/* The host is done with the pages (contents undefined). */
		pvbal_release(bt, true);
	}
	dev_set_drvdata(&pdev->dev, NULL);
	kfree(b);
}

static struct pvio_driver pvbal_driver = {
	.driver.name = KBUILD_MODNAME,
	.driver.dev_groups = pvbal_groups,
	.type = PVIO_DEV_BALLOON,
	.probe = pvbal_probe,
	.remove = pvbal_remove,
	.config_changed = pvbal_config_changed,
	.freeze = pvbal_freeze,
	.restore = pvbal_restore,
};
module_pvio_driver(pvbal_driver);

MODULE_ALIAS("pvio:t0003");
MODULE_DESCRIPTION("pvio memory balloon driver");
MODULE_LICENSE("GPL");
