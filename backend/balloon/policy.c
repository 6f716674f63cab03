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
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "balloon/balloon.h"
#include "core/log.h"
#include "core/loop.h"

#define PVBE_BAL_STATS_TRIES	4


void pvbe_bal_write_target(struct pvbe_bal_dev *bd, uint64_t pages)
{
	struct pvbe_dev *dev = bd->dev;
	struct pvio_balloon_config *c = dev->config;

	bd->p->target_pages = pages;
	bd->p->have_target = 1;
	if (!c)
		return;		/* no window: the next layout writes it */
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

	if (!c || !(bd->dev->guest_features & (1ull << PVIO_BAL_F_STATS)))
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
		RD64(pgscan);
		RD64(allocstall);
		RD64(refaults);
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
	uint64_t actual = pvbe_bal_actual_pages(bd), target = bd->p->target_pages;
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
	if (!bd->dev->desc || !bd->dev->g->connected)
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

static const char *policy_name(enum pvbe_bal_policy p)
{
	return p == PVBE_BAL_POLICY_AUTO ? "auto" : p == PVBE_BAL_POLICY_HOST ? "host" : "off";
}

/*
 * The supervisor's host-wide policy (core/hostmem.c): a target within
 * the bounds, for a balloon under the host policy only.
 */
static int balloon_host_target(struct pvbe_bal_dev *bd, const char *size, char *err,
			       size_t len)
{
	uint64_t want;

	if (bd->policy != PVBE_BAL_POLICY_HOST) {
		snprintf(err, len, "not under the host policy (policy %s)", policy_name(bd->policy));
		return -EPERM;
	}
	if (pvbe_parse_size(size, &want)) {
		snprintf(err, len, "bad size '%s'", size);
		return -EINVAL;
	}
	want -= want % PVBE_BAL_PAGE;
	if (want > upper_bound(bd))
		want = upper_bound(bd);
	if (want < bd->min)
		want = bd->min;
	if (want / PVBE_BAL_PAGE != bd->p->target_pages)
		bd->policy_changes++;
	pvbe_bal_write_target(bd, want / PVBE_BAL_PAGE);
	return 0;
}

static int balloon_set(struct pvbe_bal_dev *bd, const char *size, struct json_object *out,
		       char *err, size_t len)
{
	struct pvbe_dev *dev = bd->dev;
	uint64_t want, ram;

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
	if (bd->policy != PVBE_BAL_POLICY_OFF)
		pvbe_info(dev->tag, "a target set by hand turns the %s policy off",
			  policy_name(bd->policy));
	bd->policy = PVBE_BAL_POLICY_OFF;
	pvbe_info(dev->tag, "target %" PRIu64 " -> %" PRIu64 " pages (%" PRIu64 " MiB)",
		  bd->p->target_pages, want / PVBE_BAL_PAGE, want >> 20);
	pvbe_bal_write_target(bd, want / PVBE_BAL_PAGE);
	json_object_object_add(out, "target_pages", json_object_new_uint64(want / PVBE_BAL_PAGE));
	json_object_object_add(out, "target_bytes", json_object_new_uint64(want));
	return 0;
}

static int balloon_policy(struct pvbe_bal_dev *bd, const char *mode, char *err,
			  size_t len)
{
	if (!strcmp(mode, "auto")) {
		bd->policy = PVBE_BAL_POLICY_AUTO;
		bd->last_pressure = bd->stats_valid ? bd->stats.deflated_on_pressure : 0;
	} else if (!strcmp(mode, "off")) {
		bd->policy = PVBE_BAL_POLICY_OFF;
	} else if (!strcmp(mode, "host")) {
		bd->policy = PVBE_BAL_POLICY_HOST;
	} else {
		snprintf(err, len, "policy wants auto, host or off, not '%s'", mode);
		return -EINVAL;
	}
	pvbe_info(bd->dev->tag, "policy %s", mode);
	return 0;
}

static int balloon_headroom(struct pvbe_bal_dev *bd, const char *size, char *err,
			    size_t len)
{
	uint64_t v;

	if (pvbe_parse_size(size, &v) || v > pvbe_bal_ram_bytes(bd->dev)) {
		snprintf(err, len, "bad headroom '%s' (a size up to the guest's RAM)", size);
		return -EINVAL;
	}
	bd->headroom = v - v % PVBE_BAL_PAGE;
	return 0;
}

/* Host memory behind guest RAM, through the fd we have; -1: none mapped. */
static int64_t backed_bytes(const struct pvbe_dev *dev)
{
	const struct pvbe_guest *g = dev->g;
	struct stat st;

	if (g->mem_ready && g->mem.fd >= 0 && fstat(g->mem.fd, &st) == 0)
		return (int64_t)st.st_blocks * 512;
	return -1;
}

#define J_U64(o, k, v)	json_object_object_add(o, k, json_object_new_uint64(v))

static void balloon_status(struct pvbe_bal_dev *bd, struct json_object *o)
{
	struct pvbe_dev *dev = bd->dev;
	const struct pvio_balloon_stats *s = &bd->stats;
	struct json_object *so;

	if (dev->desc && dev->g->connected)
		pvbe_bal_read_stats(bd);
	json_object_object_add(o, "name", json_object_new_string(dev->cfg->name));
	json_object_object_add(o, "state", json_object_new_string(pvbe_dev_state_name(dev)));
	J_U64(o, "guest_features", dev->guest_features);
	J_U64(o, "ram_bytes", pvbe_bal_ram_bytes(dev));
	J_U64(o, "target_bytes", bd->p->target_pages * PVBE_BAL_PAGE);
	J_U64(o, "actual_bytes", pvbe_bal_actual_pages(bd) * PVBE_BAL_PAGE);
	/* Without a client its RAM is not ours to look at: no backed_bytes. */
	if (backed_bytes(dev) >= 0)
		J_U64(o, "backed_bytes", (uint64_t)backed_bytes(dev));
	J_U64(o, "floor_bytes", bd->floor);
	json_object_object_add(o, "policy", json_object_new_string(policy_name(bd->policy)));
	J_U64(o, "headroom_bytes", bd->headroom);
	J_U64(o, "min_bytes", bd->min);
	J_U64(o, "max_bytes", upper_bound(bd));
	J_U64(o, "inflated_pages", bd->inflated_pages);
	J_U64(o, "deflated_pages", bd->deflated_pages);
	J_U64(o, "reported_pages", bd->reported_pages);
	J_U64(o, "punched_bytes", bd->punched_bytes);
	J_U64(o, "punch_errors", bd->punch_errors);
	J_U64(o, "kept_while_logging_bytes", bd->kept_bytes);
	J_U64(o, "policy_changes", bd->policy_changes);
	J_U64(o, "stats_skipped", bd->stats_skipped);
	if (!bd->stats_valid)
		return;
	so = json_object_new_object();
	J_U64(so, "age_ms", pvbe_now_ms() - bd->stats_at);
	J_U64(so, "seq", s->seq);
	J_U64(so, "interval_ms", s->interval_ms);
	J_U64(so, "free_bytes", s->free_bytes);
	J_U64(so, "avail_bytes", s->avail_bytes);
	J_U64(so, "cache_bytes", s->cache_bytes);
	J_U64(so, "total_bytes", s->total_bytes);
	J_U64(so, "swap_in", s->swap_in);
	J_U64(so, "swap_out", s->swap_out);
	J_U64(so, "major_faults", s->major_faults);
	J_U64(so, "minor_faults", s->minor_faults);
	J_U64(so, "oom_kills", s->oom_kills);
	J_U64(so, "psi_some_avg10", s->psi_some_avg10);
	J_U64(so, "psi_full_avg10", s->psi_full_avg10);
	J_U64(so, "deflated_on_pressure", s->deflated_on_pressure);
	J_U64(so, "pgscan", s->pgscan);
	J_U64(so, "allocstall", s->allocstall);
	J_U64(so, "refaults", s->refaults);
	json_object_object_add(o, "stats", so);
}

void pvbe_bal_status(struct pvbe_dev *dev, struct json_object *out)
{
	balloon_status(dev->priv, out);
}

int pvbe_bal_control(struct pvbe_dev *dev, int argc, char **argv,
		     struct json_object *out, char *err, size_t len)
{
	struct pvbe_bal_dev *bd = dev->priv;
	int ret;

	if (strcmp(argv[0], "balloon"))
		return -ENOSYS;
	if (argc == 2 && !strcmp(argv[1], "status")) {
		balloon_status(bd, out);
		return 0;
	}
	if (argc != 3 || (strcmp(argv[1], "set") && strcmp(argv[1], "policy") &&
			  strcmp(argv[1], "headroom") && strcmp(argv[1], "host-target"))) {
		snprintf(err, len, "balloon GUEST DEVICE status | set SIZE | policy auto|host|off | headroom SIZE");
		return -EINVAL;
	}
	if (!strcmp(argv[1], "set"))
		return balloon_set(bd, argv[2], out, err, len);
	if (!strcmp(argv[1], "host-target"))
		return balloon_host_target(bd, argv[2], err, len);
	if (!strcmp(argv[1], "policy"))
		ret = balloon_policy(bd, argv[2], err, len);
	else if (!strcmp(argv[1], "headroom"))
		ret = balloon_headroom(bd, argv[2], err, len);
	else
		return -ENOSYS;
	if (!ret)
		balloon_status(bd, out);
	return ret;
}
