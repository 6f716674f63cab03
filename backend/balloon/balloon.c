// SPDX-License-Identifier: GPL-2.0
/*
 * balloon/balloon.c - the balloon device class: configuration keys, the config
 * area, and the three queues (protocol 9.3).
 *
 * Inflate (queue 0) and report (queue 2) requests name page ranges the
 * guest no longer uses: each contiguous range becomes one
 * fallocate(PUNCH_HOLE | KEEP_SIZE) on the guest RAM file at that range's
 * file offset (madvise(MADV_REMOVE) on our mapping where the file system
 * cannot punch), so the host frees the memory at once and the guest finds
 * zero-filled pages when it touches them again.  Deflate (queue 1) needs
 * nothing from the host: the pages come back on touch.
 *
 * Ranges are checked like every buffer (inside one guest RAM region, else
 * the device is BROKEN with ADDR, by queue.c) and then against the class
 * rules: 4 KiB aligned address and length, no WRITE or HDR flag (else the
 * request completes with PVIO_S_INVAL and nothing is punched).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "balloon/balloon.h"
#include "core/log.h"

extern const struct pvbe_dev_ops pvbe_balloon_ops;

/* ---- configuration (supervisor) ----------------------------------------- */

/* A size key: bytes with an optional K/M/G suffix, a multiple of 4 KiB. */
static int parse_bytes(struct pvbe_dev *dev, const char *key, uint64_t *out)
{
	const struct pvbe_param *p = pvbe_dev_param_get(dev->cfg, key);
	uint64_t v;

	if (!p)
		return 0;
	if (pvbe_parse_size(p->val, &v) || v % PVBE_BAL_PAGE) {
		pvbe_err(dev->tag, "line %d: %s = %s: want a size in bytes (K, M, G suffixes), a multiple of 4 KiB",
			 p->line, key, p->val);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int balloon_parse(struct pvbe_dev *dev)
{
	struct pvbe_dev_cfg *c = dev->cfg;
	const struct pvbe_param *p;
	struct pvbe_bal_dev *bd;
	unsigned int want_q;
	uint64_t ram = dev->g->cfg->ram_size;
	uint64_t v;
	int k;

	bd = calloc(1, sizeof(*bd));
	if (!bd)
		return -ENOMEM;
	bd->dev = dev;
	bd->tfd = -1;
	bd->stats_interval_ms = 1000;
	bd->reporting = true;
	bd->deflate_on_oom = true;
	bd->headroom = 256ull << 20;
	bd->p = (struct pvbe_bal_persist *)dev->persist->cls;
	dev->priv = bd;

	p = pvbe_dev_param_get(c, "stats_interval_ms");
	if (p) {
		if (pvbe_parse_size(p->val, &v) || (v && (v < 100 || v > 60000))) {
			pvbe_err(dev->tag, "line %d: stats_interval_ms = %s: want 0 (no statistics) or 100..60000",
				 p->line, p->val);
			return -EINVAL;
		}
		bd->stats_interval_ms = (uint32_t)v;
	}
	if (pvbe_dev_param_bool(dev->tag, dev->cfg, "reporting", &bd->reporting) ||
	    pvbe_dev_param_bool(dev->tag, dev->cfg, "deflate_on_oom", &bd->deflate_on_oom) ||
	    parse_bytes(dev, "floor", &bd->floor) ||
	    parse_bytes(dev, "headroom", &bd->headroom) ||
	    parse_bytes(dev, "min", &bd->min) ||
	    parse_bytes(dev, "max", &bd->max) ||
	    parse_bytes(dev, "target", &bd->initial))
		return -EINVAL;
	p = pvbe_dev_param_get(c, "policy");
	if (p) {
		if (!strcmp(p->val, "off")) {
			bd->policy = PVBE_BAL_POLICY_OFF;
		} else if (!strcmp(p->val, "auto")) {
			bd->policy = PVBE_BAL_POLICY_AUTO;
		} else if (!strcmp(p->val, "host")) {
			bd->policy = PVBE_BAL_POLICY_HOST;
		} else {
			pvbe_err(dev->tag, "line %d: policy = %s: want off, auto or host",
				 p->line, p->val);
			return -EINVAL;
		}
	}
	for (k = 0; k < c->nparams; k++) {
		if (!c->params[k].used) {
			pvbe_err(dev->tag, "line %d: unknown key '%s' for a balloon device (keys: stats_interval_ms, reporting, deflate_on_oom, floor, target, policy, headroom, min, max, queues, queue_size)",
				 c->params[k].line, c->params[k].key);
			return -EINVAL;
		}
	}
	if (bd->max && bd->min > bd->max) {
		pvbe_err(dev->tag, "min (%" PRIu64 ") is above max (%" PRIu64 ")", bd->min, bd->max);
		return -EINVAL;
	}
	if (ram && (bd->max > ram || bd->min > ram || bd->initial > ram || bd->floor > ram)) {
		pvbe_err(dev->tag, "floor, target, min and max must not exceed the guest's ram_size (%" PRIu64 " bytes)",
			 ram);
		return -EINVAL;
	}
	if ((bd->max && bd->initial > bd->max) || bd->initial < bd->min) {
		pvbe_err(dev->tag, "target = %" PRIu64 " is outside min..max", bd->initial);
		return -EINVAL;
	}
	/* Queue 0 inflate, 1 deflate, 2 free-page reporting. */
	want_q = bd->reporting ? 3 : 2;
	if (c->queues_line && c->queues != want_q) {
		pvbe_err(dev->tag, "line %d: queues = %u: a balloon has %u queues with reporting = %s (or leave queues out)",
			 c->queues_line, c->queues, want_q, bd->reporting ? "yes" : "no");
		return -EINVAL;
	}
	c->queues = want_q;
	return 0;
}

/* Undo parse: nothing is opened on the host. */
static void balloon_uninit(struct pvbe_dev *dev)
{
	free(dev->priv);
	dev->priv = NULL;
}

/* Worker, before the sandbox: the statistics and policy timer. */
static int balloon_prepare(struct pvbe_dev *dev)
{
	return pvbe_bal_timer_start(dev->priv);
}

/* ---- config area (worker) ----------------------------------------------- */

uint64_t pvbe_bal_ram_bytes(const struct pvbe_dev *dev)
{
	const struct pvbe_guest *g = dev->g;
	uint64_t sum = 0;
	int i;

	if (!g->mem_ready)
		return g->cfg->ram_size ? g->cfg->ram_size : g->ram_size;
	for (i = 0; i < g->mem.nregions; i++)
		sum += g->mem.r[i].size;
	return sum;
}

/*
 * Every fresh layout and every takeover.  Only (B) fields are written: on
 * a takeover the guest's actual_pages and statistics stay as they are (its
 * balloon still holds those pages).  The target survives reconnects and
 * workers in the persist page.
 */
static int balloon_init(struct pvbe_dev *dev)
{
	struct pvbe_bal_dev *bd = dev->priv;
	struct pvio_balloon_config *c = dev->config;
	uint64_t ram_pages = pvbe_bal_ram_bytes(dev) / PVBE_BAL_PAGE;

	dev->host_features = 1ull << PVIO_BAL_F_STATS;
	if (bd->reporting)
		dev->host_features |= 1ull << PVIO_BAL_F_REPORTING;
	if (bd->deflate_on_oom)
		dev->host_features |= 1ull << PVIO_BAL_F_DEFLATE_ON_OOM;
	if (!bd->p->have_target) {
		bd->p->target_pages = bd->initial / PVBE_BAL_PAGE;
		bd->p->have_target = 1;
	}
	if (ram_pages && bd->p->target_pages > ram_pages)
		bd->p->target_pages = ram_pages;
	pvio_write_once(c->target_pages, pvio_cpu_to_le64(bd->p->target_pages));
	pvio_write_once(c->floor_pages, pvio_cpu_to_le64(bd->floor / PVBE_BAL_PAGE));
	pvio_write_once(c->stats_interval_ms, pvio_cpu_to_le32(bd->stats_interval_ms));
	pvio_write_once(c->reserved0, 0);
	return 0;
}

/* ---- data path (worker) ---------------------------------------------------- */

static int punch(struct pvbe_bal_dev *bd, uint64_t off, uint64_t len)
{
	struct pvbe_memtable *mt = &bd->dev->g->mem;

	if (fallocate(mt->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) == 0)
		return 0;
	/* A file system without hole punching: drop the pages from our map. */
	if (errno == EOPNOTSUPP &&
	    madvise((char *)mt->base + off, len, MADV_REMOVE) == 0)
		return 0;
	return -errno;
}

static uint32_t balloon_process(struct pvbe_queue *q, const struct pvbe_req *req)
{
	struct pvbe_dev *dev = q->dev;
	struct pvbe_bal_dev *bd = dev->priv;
	const struct pvbe_memtable *mt = &dev->g->mem;
	uint64_t cur_off = 0, cur_len = 0, pages = 0;
	bool give = q->index != PVIO_BAL_Q_DEFLATE;
	unsigned int i;
	int ret = 0;

	if (q->index == PVIO_BAL_Q_REPORT &&
	    !(dev->guest_features & (1ull << PVIO_BAL_F_REPORTING)))
		return PVIO_S_UNSUPP;
	/* Class rules first, on the private copy: nothing happens unless all pass. */
	for (i = 0; i < req->nslots; i++) {
		uint16_t fl = pvio_le16_to_cpu(req->d[i].flags);
		uint64_t addr = pvio_le64_to_cpu(req->d[i].addr);
		uint32_t len = pvio_le32_to_cpu(req->d[i].len);

		if ((fl & (PVIO_DESC_F_WRITE | PVIO_DESC_F_HDR)) ||
		    addr % PVBE_BAL_PAGE || len % PVBE_BAL_PAGE)
			return PVIO_S_INVAL;
		pages += len / PVBE_BAL_PAGE;
	}
	/*
	 * While the guest logs for a live migration (protocol 6.4), nothing
	 * is punched: QEMU copies guest RAM meanwhile, and with holes punched
	 * under it the destination guest was found with corrupted memory
	 * (tests/vm/migrate.sh, one run in two).  The guest's accounting is
	 * the same; the host gets the memory back at the destination, from
	 * the next inflate or report.
	 */
	if (give && pvio_read_once(dev->g->log_request)) {
		bd->kept_bytes += pages * PVBE_BAL_PAGE;
		give = false;
	}
	for (i = 0; give && i < req->nslots; i++) {
		uint64_t addr = pvio_le64_to_cpu(req->d[i].addr);
		uint32_t len = pvio_le32_to_cpu(req->d[i].len);
		int64_t off = pvbe_gpa_file_off(mt, addr, len);

		if (off < 0) {		/* queue.c checked it; never here */
			ret = -EFAULT;
			break;
		}
		/* Adjacent in the file: one punch for both. */
		if (cur_len && (uint64_t)off == cur_off + cur_len) {
			cur_len += len;
			continue;
		}
		if (cur_len && (ret = punch(bd, cur_off, cur_len)))
			break;
		bd->punched_bytes += cur_len;
		cur_off = (uint64_t)off;
		cur_len = len;
	}
	if (give && !ret && cur_len) {
		ret = punch(bd, cur_off, cur_len);
		if (!ret)
			bd->punched_bytes += cur_len;
	}
	if (ret) {
		bd->punch_errors++;
		pvbe_warn(dev->tag, "queue %u: releasing guest RAM at file offset %#" PRIx64 ": %s",
			  q->index, cur_off, strerror(-ret));
		return PVIO_S_IOERR;
	}
	switch (q->index) {
	case PVIO_BAL_Q_INFLATE:
		bd->inflated_pages += pages;
		break;
	case PVIO_BAL_Q_DEFLATE:
		bd->deflated_pages += pages;
		break;
	default:
		bd->reported_pages += pages;
		break;
	}
	return PVIO_S_OK;
}

static int64_t balloon_request(struct pvbe_queue *q, const struct pvbe_req *req)
{
	uint32_t st = balloon_process(q, req);

	pvbe_queue_complete(q, req->id, st, 0);
	/* A range costs a punch, not a copy: count it as its page count. */
	return req->in_bytes / PVBE_BAL_PAGE;
}

static void balloon_start(struct pvbe_dev *dev)
{
	struct pvbe_bal_dev *bd = dev->priv;

	pvbe_info(dev->tag, "target %" PRIu64 " pages, guest has %" PRIu64 " in its balloon",
		  bd->p->target_pages, pvbe_bal_actual_pages(bd));
}

/* The policy timer and the accounting are the main thread's: so are the queues. */
static unsigned int balloon_queue_group(struct pvbe_queue *q)
{
	(void)q;
	return PVBE_QUEUE_GROUP_MAIN;
}

const struct pvbe_dev_ops pvbe_balloon_ops = {
	.type = PVIO_DEV_BALLOON,
	.name = "balloon",
	.sq_esize = sizeof(struct pvio_desc),
	.cq_esize = sizeof(struct pvio_cpl),
	.config_len = sizeof(struct pvio_balloon_config),
	.parse = balloon_parse,
	.uninit = balloon_uninit,
	.prepare = balloon_prepare,
	.init = balloon_init,
	.request = balloon_request,
	.control = pvbe_bal_control,
	.status = pvbe_bal_status,
	.start = balloon_start,
	.queue_group = balloon_queue_group,
};
