// SPDX-License-Identifier: GPL-2.0
/*
 * balloon/policy.c - the host's half of ballooning that is not the data
 * path: the target (config area, seqlocked, vector 0), the guest's
 * statistics (read with the guest's seq protocol, never trusted beyond
 * policy), accounting, the auto policy and the control-socket requests.
 *
 * Auto policy, once per statistics period while the guest's driver runs:
 * keep the guest's available memory near `headroom`.  With more available
 * than headroom + headroom/8 the target grows by the excess; with less than
 * headroom - headroom/8 it shrinks by the shortfall; always within
 * [min, max].  A guest that deflated under pressure (deflated_on_pressure
 * grew) gets its target lowered to what it kept.  The target moves only
 * once the guest has reached the previous one, or down, so a slow guest is
 * not chased with ever larger targets.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "balloon/balloon.h"
#include "core/log.h"
#include "core/loop.h"

#define PVBE_BAL_STATS_TRIES	4

extern const struct pvbe_dev_ops pvbe_balloon_ops;

void pvbe_bal_write_target(struct pvbe_bal_dev *bd, uint64_t pages)
{
	struct pvbe_dev *dev = bd->dev;
	struct pvio_balloon_config *c = dev->config;

	bd->target_pages = pages;
	bd->have_target = true;
	if (!c)
		return;
	pvbe_guest_config_begin(dev);
	pvio_write_once(c->target_pages, pvio_cpu_to_le64(pages));
	pvbe_guest_config_changed(dev);
}

/* The guest's word, clamped to guest RAM: for display and policy only. */
uint64_t pvbe_bal_actual_pages(const struct pvbe_bal_dev *bd)
{
	const struct pvio_balloon_config *c = bd->dev->config;
	uint64_t ram = pvbe_bal_ram_bytes(bd->dev) / PVBE_BAL_PAGE;
	uint64_t v;

	if (!c)
		return 0;
	v = pvio_le64_to_cpu(pvio_read_once(c->actual_pages));
	return ram && v > ram ? ram : v;
}

#define RD64(f)	(s.f = pvio_le64_to_cpu(pvio_read_once(sh->f)))
#define RD32(f)	(s.f = pvio_le32_to_cpu(pvio_read_once(sh->f)))

/*
 * One consistent copy of the guest's statistics, or -EAGAIN: the seq
 * field is odd (a write in progress) or moved during the copy, a bounded
 * number of times.  Values are kept in CPU order.
 */
int pvbe_bal_read_stats(struct pvbe_bal_dev *bd)
{
	struct pvio_balloon_config *c = bd->dev->config;
	struct pvio_balloon_stats *sh, s;
	uint32_t s1, s2;
	int i;

	if (!c || !(pvio_le64_to_cpu(pvio_read_once(bd->dev->desc->guest_features)) &
		    (1ull << PVIO_BAL_F_STATS)))
		return -ENODATA;
	sh = &c->stats;
	for (i = 0; i < PVBE_BAL_STATS_TRIES; i++) {
		/* Pairs with the guest's write barrier before its final seq store. */
		s1 = pvio_le32_to_cpu(pvio_load_acquire(&sh->seq));
		if (s1 & 1)
			continue;
		RD32(interval_ms);
		RD64(free_bytes);
		RD64(avail_bytes);
		RD64(cache_bytes);
		RD64(total_bytes);
		RD64(swap_in);
		RD64(swap_out);
		RD64(major_faults);
		RD64(minor_faults);
		RD64(oom_kills);
		RD32(psi_some_avg10);
		RD32(psi_full_avg10);
		RD64(deflated_on_pressure);
		/* The copy is complete before seq is read again. */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = pvio_le32_to_cpu(pvio_read_once(sh->seq));
		if (s1 != s2)
			continue;
		if (!s1)
			return -ENODATA;	/* never written */
		s.seq = s1;
		bd->stats = s;
		bd->stats_valid = true;
		bd->stats_at = pvbe_now_ms();
		return 0;
	}
	bd->stats_skipped++;
	return -EAGAIN;
}

static uint64_t upper_bound(const struct pvbe_bal_dev *bd)
{
	uint64_t ram = pvbe_bal_ram_bytes(bd->dev);

	return bd->max && bd->max < ram ? bd->max : ram;
}

static void policy_run(struct pvbe_bal_dev *bd)
{
	struct pvbe_dev *dev = bd->dev;
	uint64_t actual = pvbe_bal_actual_pages(bd), target = bd->target_pages;
	uint64_t hyst = bd->headroom / 8, avail, want, lo, hi;
	bool pressure;

	if (!bd->stats_valid || !dev->live)
		return;
	avail = bd->stats.avail_bytes;
	pressure = bd->stats.deflated_on_pressure > bd->last_pressure;
	bd->last_pressure = bd->stats.deflated_on_pressure;
	lo = bd->min / PVBE_BAL_PAGE;
	hi = upper_bound(bd) / PVBE_BAL_PAGE;
	if (pressure) {
		want = actual;
	} else if (avail > bd->headroom + hyst) {
		if (actual != target)
			return;		/* still on its way: wait */
		want = target + (avail - bd->headroom) / PVBE_BAL_PAGE;
	} else if (avail + hyst < bd->headroom) {
		want = (bd->headroom - avail) / PVBE_BAL_PAGE;
		want = want < target ? target - want : 0;
	} else {
		return;
	}
	if (want < lo)
		want = lo;
	if (want > hi)
		want = hi;
	if (want == target)
		return;
	bd->policy_changes++;
	pvbe_info(dev->tag, "auto: guest has %" PRIu64 " MiB available (headroom %" PRIu64 " MiB)%s: target %" PRIu64 " -> %" PRIu64 " MiB",
		  avail >> 20, bd->headroom >> 20, pressure ? ", deflated under pressure" : "",
		  target * PVBE_BAL_PAGE >> 20, want * PVBE_BAL_PAGE >> 20);
	pvbe_bal_write_target(bd, want);
}

void pvbe_bal_tick(struct pvbe_bal_dev *bd)
{
	if (!bd->dev->desc || bd->dev->g->conn_fd < 0)
		return;
	pvbe_bal_read_stats(bd);
	if (bd->policy == PVBE_BAL_POLICY_AUTO)
		policy_run(bd);
}

static void on_timer(int fd, uint32_t events, void *arg)
{
	uint64_t n;

	(void)events;
	if (read(fd, &n, sizeof(n)) == sizeof(n))
		pvbe_bal_tick(arg);
}

/* Worker: the statistics/policy timer, once per worker process. */
int pvbe_bal_timer_start(struct pvbe_bal_dev *bd)
{
	uint32_t ms = bd->stats_interval_ms ? bd->stats_interval_ms : 1000;
	struct itimerspec its = { 0 };
	int ret;

	bd->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (bd->tfd < 0)
		return -errno;
	its.it_interval.tv_sec = ms / 1000;
	its.it_interval.tv_nsec = (long)(ms % 1000) * 1000000L;
	its.it_value = its.it_interval;
	if (timerfd_settime(bd->tfd, 0, &its, NULL) < 0)
		return -errno;
	ret = pvbe_loop_add(bd->tfd, EPOLLIN, on_timer, bd);
	if (ret) {
		close(bd->tfd);
		bd->tfd = -1;
	}
	return ret;
}

/* ---- control socket (worker) --------------------------------------------- */

static struct pvbe_bal_dev *balloon_of(struct pvbe_dev *dev, char *err, size_t len)
{
	if (dev->ops != &pvbe_balloon_ops) {
		snprintf(err, len, "%s is a %s device, not balloon", dev->cfg->name,
			 dev->ops->name);
		return NULL;
	}
	return dev->priv;
}

int pvbe_balloon_set(struct pvbe_dev *dev, const char *size, uint64_t *pages,
		     char *err, size_t len)
{
	struct pvbe_bal_dev *bd = balloon_of(dev, err, len);
	uint64_t want, ram;

	if (!bd)
		return -EINVAL;
	if (pvbe_parse_size(size, &want)) {
		snprintf(err, len, "bad size '%s' (bytes, or with a K, M or G suffix)", size);
		return -EINVAL;
	}
	want -= want % PVBE_BAL_PAGE;
	ram = pvbe_bal_ram_bytes(dev);
	if (ram && want > ram) {
		snprintf(err, len, "balloon of %" PRIu64 " bytes refused: the guest has %" PRIu64 " bytes of RAM",
			 want, ram);
		return -ERANGE;
	}
	if (bd->max && want > bd->max) {
		snprintf(err, len, "balloon of %" PRIu64 " bytes refused: above max = %" PRIu64,
			 want, bd->max);
		return -ERANGE;
	}
	if (want < bd->min) {
		snprintf(err, len, "balloon of %" PRIu64 " bytes refused: below min = %" PRIu64,
			 want, bd->min);
		return -ERANGE;
	}
	if (bd->policy == PVBE_BAL_POLICY_AUTO)
		pvbe_info(dev->tag, "a target set by hand turns the auto policy off");
	bd->policy = PVBE_BAL_POLICY_OFF;
	pvbe_info(dev->tag, "target %" PRIu64 " -> %" PRIu64 " pages (%" PRIu64 " MiB)",
		  bd->target_pages, want / PVBE_BAL_PAGE, want >> 20);
	pvbe_bal_write_target(bd, want / PVBE_BAL_PAGE);
	*pages = want / PVBE_BAL_PAGE;
	return 0;
}

int pvbe_balloon_policy(struct pvbe_dev *dev, const char *mode, char *err,
			size_t len)
{
	struct pvbe_bal_dev *bd = balloon_of(dev, err, len);

	if (!bd)
		return -EINVAL;
	if (!strcmp(mode, "auto")) {
		bd->policy = PVBE_BAL_POLICY_AUTO;
		bd->last_pressure = bd->stats_valid ? bd->stats.deflated_on_pressure : 0;
	} else if (!strcmp(mode, "off")) {
		bd->policy = PVBE_BAL_POLICY_OFF;
	} else {
		snprintf(err, len, "policy wants auto or off, not '%s'", mode);
		return -EINVAL;
	}
	pvbe_info(dev->tag, "policy %s", mode);
	return 0;
}

int pvbe_balloon_headroom(struct pvbe_dev *dev, const char *size, char *err,
			  size_t len)
{
	struct pvbe_bal_dev *bd = balloon_of(dev, err, len);
	uint64_t v;

	if (!bd)
		return -EINVAL;
	if (pvbe_parse_size(size, &v) || v > pvbe_bal_ram_bytes(dev)) {
		snprintf(err, len, "bad headroom '%s' (a size up to the guest's RAM)", size);
		return -EINVAL;
	}
	bd->headroom = v - v % PVBE_BAL_PAGE;
	return 0;
}

static uint64_t backed_bytes(const struct pvbe_dev *dev)
{
	const struct pvbe_guest *g = dev->g;
	struct stat st;

	if (g->mem_ready && g->mem.fd >= 0 && fstat(g->mem.fd, &st) == 0)
		return (uint64_t)st.st_blocks * 512;
	if (g->cfg->ram_path[0] && stat(g->cfg->ram_path, &st) == 0)
		return (uint64_t)st.st_blocks * 512;
	return 0;
}

int pvbe_balloon_status(struct pvbe_dev *dev, struct pvbe_bal_status *st,
			char *err, size_t len)
{
	struct pvbe_bal_dev *bd = balloon_of(dev, err, len);

	if (!bd)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	if (dev->desc && dev->g->conn_fd >= 0)
		pvbe_bal_read_stats(bd);
	st->ram = pvbe_bal_ram_bytes(dev);
	st->target = bd->target_pages * PVBE_BAL_PAGE;
	st->actual = pvbe_bal_actual_pages(bd) * PVBE_BAL_PAGE;
	st->backed = backed_bytes(dev);
	st->floor = bd->floor;
	st->headroom = bd->headroom;
	st->min = bd->min;
	st->max = upper_bound(bd);
	st->policy = bd->policy == PVBE_BAL_POLICY_AUTO ? "auto" : "off";
	st->stats_valid = bd->stats_valid;
	st->stats_age_ms = bd->stats_valid ? pvbe_now_ms() - bd->stats_at : 0;
	st->stats = bd->stats;
	st->inflated_pages = bd->inflated_pages;
	st->deflated_pages = bd->deflated_pages;
	st->reported_pages = bd->reported_pages;
	st->punched_bytes = bd->punched_bytes;
	st->punch_errors = bd->punch_errors;
	st->stats_skipped = bd->stats_skipped;
	st->policy_changes = bd->policy_changes;
	st->guest_features = dev->desc ?
		pvio_le64_to_cpu(pvio_read_once(dev->desc->guest_features)) : 0;
	return 0;
}
