// SPDX-License-Identifier: GPL-2.0
/*
 * pvio_balloon_mm.c - the balloon's hooks into memory management: memory
 * statistics for the host (seq protocol), deflate on OOM down to
 * floor_pages, migration of balloon pages for compaction, free page
 * reporting.  See pvio_balloon_main.c for the driver itself.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/module.h>
#include <linux/oom.h>
#include <linux/swap.h>
#include "pvio_balloon.h"

static unsigned int oom_pages = 4096;
module_param(oom_pages, uint, 0644);
MODULE_PARM_DESC(oom_pages, "4 KiB pages given back per OOM notification (default 4096)");

/* ---- statistics ------------------------------------------------------------- */

void pvbal_stats_work(struct work_struct *work)
{
	struct pvbal *b = container_of(to_delayed_work(work), struct pvbal,
				       stats_work);
	struct pvio_balloon_stats *s = &pvbal_cfg(b)->stats;
	unsigned long ev[NR_VM_EVENT_ITEMS];
	struct sysinfo si;
	u32 seq, ms = READ_ONCE(b->stats_ms);
	unsigned long stalls = 0, at;
	u64 psi;
	int z;

	if (!ms || READ_ONCE(b->frozen) || READ_ONCE(b->removing))
		return;
	all_vm_events(ev);
	si_meminfo(&si);
	seq = ++b->stats_seq;
	b->stats_seq++;
	WRITE_ONCE(s->seq, cpu_to_le32(seq));
	/* The odd seq (a write in progress) is visible before any field. */
	smp_wmb();
	WRITE_ONCE(s->interval_ms, cpu_to_le32(ms));
	WRITE_ONCE(s->free_bytes, cpu_to_le64((u64)si.freeram << PAGE_SHIFT));
	WRITE_ONCE(s->avail_bytes, cpu_to_le64((u64)si_mem_available() << PAGE_SHIFT));
	WRITE_ONCE(s->cache_bytes,
		   cpu_to_le64((u64)global_node_page_state(NR_FILE_PAGES) << PAGE_SHIFT));
	WRITE_ONCE(s->total_bytes, cpu_to_le64((u64)si.totalram << PAGE_SHIFT));
	WRITE_ONCE(s->swap_in, cpu_to_le64(ev[PSWPIN]));
	WRITE_ONCE(s->swap_out, cpu_to_le64(ev[PSWPOUT]));
	WRITE_ONCE(s->major_faults, cpu_to_le64(ev[PGMAJFAULT]));
	WRITE_ONCE(s->minor_faults, cpu_to_le64(ev[PGFAULT]));
	WRITE_ONCE(s->oom_kills, cpu_to_le64(ev[OOM_KILL]));
	/* PSI is not exported to modules: what an agent wrote, if recent. */
	psi = READ_ONCE(b->psi);
	at = READ_ONCE(b->psi_at);
	if (!at || time_after(jiffies, at + PVBAL_PSI_STALE))
		psi = 0;
	WRITE_ONCE(s->psi_some_avg10, cpu_to_le32(psi >> 32));
	WRITE_ONCE(s->psi_full_avg10, cpu_to_le32((u32)psi));
	WRITE_ONCE(s->deflated_on_pressure,
		   cpu_to_le64(atomic64_read(&b->deflated_on_pressure)));
	WRITE_ONCE(s->pgscan, cpu_to_le64(ev[PGSCAN_KSWAPD] + ev[PGSCAN_DIRECT]));
	for (z = 0; z < MAX_NR_ZONES; z++)	/* as __count_zid_vm_events() counts */
		stalls += ev[ALLOCSTALL_NORMAL - ZONE_NORMAL + z];
	WRITE_ONCE(s->allocstall, cpu_to_le64(stalls));
	WRITE_ONCE(s->refaults,
		   cpu_to_le64(global_node_page_state(WORKINGSET_REFAULT_ANON) +
			       global_node_page_state(WORKINGSET_REFAULT_FILE)));
	/* Fields complete before the even seq. */
	smp_wmb();
	WRITE_ONCE(s->seq, cpu_to_le32(seq + 1));
	schedule_delayed_work(&b->stats_work, msecs_to_jiffies(ms));
}

/* ---- sysfs: psi_memory ----------------------------------------------------- */

/*
 * A guest agent copies /proc/pressure/memory here (tools/guest/pvio-psi-agent):
 *   some avg10=1.23 avg60=0.40 avg300=0.10 total=123456
 *   full avg10=0.50 avg60=0.10 avg300=0.00 total=45678
 * Only the avg10s are kept; the statistics carry them for PVBAL_PSI_STALE.
 */
static ssize_t psi_memory_store(struct device *dev, struct device_attribute *attr,
				const char *buf, size_t count)
{
	struct pvbal *b = dev_get_drvdata(dev);
	unsigned int si, sf, fi, ff;
	const char *full;

	if (!b)
		return -ENODEV;
	full = strstr(buf, "\nfull avg10=");
	if (!full || sscanf(buf, "some avg10=%u.%2u ", &si, &sf) != 2 ||
	    sscanf(full + 1, "full avg10=%u.%2u ", &fi, &ff) != 2)
		return -EINVAL;
	/* %2u: the hundredths are 0..99; whole per cents checked first. */
	if (si > 100 || fi > 100 || si * 100 + sf > 10000 || fi * 100 + ff > 10000)
		return -EINVAL;
	WRITE_ONCE(b->psi, (u64)(si * 100 + sf) << 32 | (fi * 100 + ff));
	WRITE_ONCE(b->psi_at, jiffies ?: 1);
	return count;
}

static ssize_t psi_memory_show(struct device *dev, struct device_attribute *attr,
			       char *buf)
{
	struct pvbal *b = dev_get_drvdata(dev);
	unsigned long at;
	u64 psi;

	if (!b)
		return -ENODEV;
	psi = READ_ONCE(b->psi);
	at = READ_ONCE(b->psi_at);
	if (!at)
		return sysfs_emit(buf, "none\n");
	return sysfs_emit(buf, "some avg10=%llu.%02llu full avg10=%u.%02u age_ms=%u\n",
			  (psi >> 32) / 100, (psi >> 32) % 100, (u32)psi / 100,
			  (u32)psi % 100, jiffies_to_msecs(jiffies - at));
}
static DEVICE_ATTR_RW(psi_memory);

static struct attribute *pvbal_attrs[] = {
	&dev_attr_psi_memory.attr,
	NULL,
};

static const struct attribute_group pvbal_group = {
	.attrs = pvbal_attrs,
};

const struct attribute_group *pvbal_groups[] = {
	&pvbal_group,
	NULL,
};

/* ---- deflate on OOM ------------------------------------------------------- */

int pvbal_oom_notify(struct notifier_block *nb, unsigned long dummy,
		     void *parm)
{
	struct pvbal *b = container_of(nb, struct pvbal, oom_nb);
	unsigned long *freed = parm, n, got = 0, end = jiffies + PVBAL_OOM_WAIT;
	u64 actual, want;

	/*
	 * The lock's holder is most often the adjust work, inflating into
	 * the very memory that ran out or waiting for the host to answer:
	 * it stops at the next page or request when it sees us waiting.
	 * But it may be the one out of memory (setting the queues up
	 * allocates, request_irq()), and it cannot get memory while we hold
	 * the OOM lock: wait a bounded time, then give nothing back this
	 * time.
	 */
	atomic_inc(&b->oom_waiting);
	while (!mutex_trylock(&b->lock)) {
		if (time_after(jiffies, end)) {
			atomic_dec(&b->oom_waiting);
			dev_info_ratelimited(&b->pdev->dev, "out of memory: balloon busy for %u ms, gave nothing back\n",
					     jiffies_to_msecs(PVBAL_OOM_WAIT));
			return NOTIFY_OK;
		}
		schedule_timeout_uninterruptible(msecs_to_jiffies(10));
	}
	atomic_dec(&b->oom_waiting);
	actual = pvbal_actual(b);
	want = actual > b->floor ? min_t(u64, actual - b->floor, oom_pages) : 0;
	while (got < want) {
		n = pvbal_deflate(b, want - got);
		if (!n)
			break;
		got += n;
	}
	if (got) {
		b->hold = true;
		atomic64_add(got, &b->deflated_on_pressure);
		pvbal_publish_actual(b);
		dev_info_ratelimited(&b->pdev->dev, "out of memory: gave back %lu pages (balloon now %llu, floor %llu)\n",
				     got, pvbal_actual(b), b->floor);
	}
	mutex_unlock(&b->lock);
	*freed += got / PVBAL_PER_PAGE;
	return NOTIFY_OK;
}

/* ---- compaction ------------------------------------------------------------- */

/*
 * Keep @page, the old page of a migration whose deflate did not complete,
 * out of the page allocator: the host may still release the memory behind
 * it.  An array rather than a list: the migration core unlinks page->lru
 * only after pvbal_migratepage() has returned.  The balloon grew by it.
 */
static void pvbal_park(struct pvbal *b, struct page *page)
{
	b->parked[b->nr_parked] = page;
	WRITE_ONCE(b->nr_parked, b->nr_parked + 1);
	count_vm_event(BALLOON_INFLATE);
}

/* Give the last @n parked pages to the page allocator: the host is done. */
void pvbal_unpark(struct pvbal *b, unsigned int n)
{
	struct page *page;

	while (n--) {
		page = b->parked[b->nr_parked - 1];
		WRITE_ONCE(b->nr_parked, b->nr_parked - 1);
		adjust_managed_page_count(page, 1);
		count_vm_event(BALLOON_DEFLATE);
		put_page(page);		/* balloon reference */
	}
}

/* Ask for up to @want_p parked pages back, one request; 4 KiB pages deflated. */
unsigned long pvbal_deflate_parked(struct pvbal *b, unsigned long want_p)
{
	unsigned int i, n = min_t(unsigned long, b->nr_parked, want_p);
	struct pvbal_batch *bt = &b->batch;

	BUILD_BUG_ON(PVBAL_MAX_PARKED > PVIO_MAX_CHAIN);
	pvbal_batch_init(bt);
	for (i = b->nr_parked - n; i < b->nr_parked; i++)
		pvbal_add_range(bt, page_to_phys(b->parked[i]), PAGE_SIZE);
	if (!n || pvbal_send(b, PVIO_BAL_Q_DEFLATE, bt))
		return 0;	/* still the host's, maybe: they stay parked */
	pvbal_unpark(b, n);
	return n * PVBAL_PER_PAGE;
}

int pvbal_migratepage(struct balloon_dev_info *bdi, struct page *newpage,
		      struct page *page, enum migrate_mode mode)
{
	struct pvbal *b = container_of(bdi, struct pvbal, bdi);
	struct pvbal_batch *bt = &b->batch;
	unsigned long flags;
	int ret;

	/* Inflating or deflating right now: compaction tries again later. */
	if (!mutex_trylock(&b->lock))
		return -EAGAIN;
	if (!b->queues_up || READ_ONCE(b->resetting) ||
	    b->nr_parked == PVBAL_MAX_PARKED) {
		mutex_unlock(&b->lock);
		return -EAGAIN;
	}
	pvbal_batch_init(bt);
	pvbal_add_range(bt, page_to_phys(newpage), PAGE_SIZE);
	ret = pvbal_send(b, PVIO_BAL_Q_INFLATE, bt);
	if (ret == -EIO) {
		mutex_unlock(&b->lock);
		return -EAGAIN;
	}
	/* Done, or unknown: the host may release it; it is the balloon's. */
	get_page(newpage);		/* balloon reference */
	adjust_managed_page_count(newpage, -1);
	spin_lock_irqsave(&bdi->pages_lock, flags);
	balloon_page_insert(bdi, newpage);
	bdi->isolated_pages--;
	__count_vm_event(BALLOON_MIGRATE);
	spin_unlock_irqrestore(&bdi->pages_lock, flags);

	/* The old page goes back to the guest only once the host said so. */
	if (!ret) {
		pvbal_batch_init(bt);
		pvbal_add_range(bt, page_to_phys(page), PAGE_SIZE);
		ret = pvbal_send(b, PVIO_BAL_Q_DEFLATE, bt);
	}
	if (ret) {
		pvbal_park(b, page);
		pvbal_publish_actual(b);
	} else {
		adjust_managed_page_count(page, 1);
	}
	mutex_unlock(&b->lock);
	balloon_page_finalize(page);	/* not movable, parked or not */
	if (!ret)
		put_page(page);		/* balloon reference */
	return MIGRATEPAGE_SUCCESS;
}

/* ---- free page reporting ------------------------------------------------------ */

int pvbal_report(struct page_reporting_dev_info *pr,
		 struct scatterlist *sgl, unsigned int nents)
{
	struct pvbal *b = container_of(pr, struct pvbal, pr);
	struct pvbal_batch *bt = &b->rbatch;
	struct scatterlist *sg;
	unsigned long gen;
	unsigned int i;
	int ret;

	mutex_lock(&b->report_lock);
	gen = READ_ONCE(b->reset_gen);	/* resets take report_lock too */
	pvbal_batch_init(bt);
	/* At most PAGE_REPORTING_CAPACITY (32) entries: they fit one chain. */
	for_each_sg(sgl, sg, nents, i)
		pvbal_add_range(bt, page_to_phys(sg_page(sg)), sg->length);
	ret = pvbal_send(b, PVIO_BAL_Q_REPORT, bt);
	mutex_unlock(&b->report_lock);
	if (ret == -ETIMEDOUT || ret == -ENODEV) {
		/*
		 * Sent, no answer: the host may still discard these pages,
		 * and back on the free lists they would be allocated.  Hold
		 * them until a reset is acknowledged, however long that takes
		 * (as virtio_balloon waits for its host).  The reset takes
		 * report_lock: dropped above.
		 */
		flush_delayed_work(&b->reset_work);
		wait_event(b->reset_wq, READ_ONCE(b->reset_gen) != gen);
	}
	return ret ? -EIO : 0;
}
