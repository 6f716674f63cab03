/* SPDX-License-Identifier: GPL-2.0 */
/*
 * balloon.h - the balloon device class: the guest gives pages back to the
 * host (inflate), takes them back (deflate) and reports free pages; pviod
 * releases the host memory behind given and reported pages by punching
 * holes in the guest RAM file, one fallocate() per contiguous range.
 *
 *   balloon/balloon.c     configuration keys, the config area, the three queues
 *   balloon/policy.c  target, statistics, accounting, the auto policy, and
 *                     what the control socket asks for
 *
 * Ownership: struct pvbe_bal_dev is built by the supervisor (parse) and
 * inherited by the guest's worker through fork(); everything below
 * "worker" is written by the worker's single thread only.  The target is
 * the host's: it lives in the device's persist page (guest.h), so a
 * restarted worker takes it from there, never from the config area the
 * guest can write.
 */
#ifndef PVBE_BALLOON_H
#define PVBE_BALLOON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/guest.h"
#include "pvio/balloon.h"

#define PVBE_BAL_PAGE		((uint64_t)4096)

/*
 * off: targets set by hand only; auto: this worker's policy for this guest
 * alone (balloon/policy.c); host: the supervisor's host-wide policy
 * (balloon/hostpolicy.h, core/hostmem.c) sets them with host-target.
 */
enum pvbe_bal_policy { PVBE_BAL_POLICY_OFF, PVBE_BAL_POLICY_AUTO, PVBE_BAL_POLICY_HOST };

struct pvbe_bal_dev {
	struct pvbe_dev *dev;
	/* Configuration (supervisor). */
	uint32_t stats_interval_ms;	/* 0: no statistics */
	uint64_t floor;			/* bytes the guest keeps ballooned under pressure */
	bool reporting;			/* free-page reporting queue */
	bool deflate_on_oom;
	enum pvbe_bal_policy policy;
	uint64_t headroom;		/* auto, host: guest memory to leave available */
	uint64_t min, max;		/* auto and set: balloon size bounds, bytes */
	uint64_t initial;		/* target at the first layout, bytes */
	struct pvbe_bal_persist *p;	/* the target, across workers */
	/* Worker. */
	int tfd;			/* statistics / policy timer, -1: none yet */
	bool stats_valid;
	struct pvio_balloon_stats stats;/* last consistent sample, CPU order */
	uint64_t stats_at;		/* ms, when sampled */
	uint64_t stats_skipped;		/* samples not readable consistently */
	uint64_t last_pressure;		/* deflated_on_pressure at the last tick */
	uint64_t inflated_pages;	/* served, cumulative */
	uint64_t deflated_pages;
	uint64_t reported_pages;
	uint64_t punched_bytes;		/* host memory given back, cumulative */
	uint64_t punch_errors;
	uint64_t kept_bytes;		/* not punched: the guest logged (6.4) */
	uint64_t policy_changes;	/* targets set by the auto policy */
};

/* In the device's persist page (struct pvbe_dev_persist.cls). */
struct pvbe_bal_persist {
	uint64_t target_pages;		/* what we ask the guest for */
	uint8_t have_target;		/* target_pages is valid */
};

/* balloon/balloon.c */
uint64_t pvbe_bal_ram_bytes(const struct pvbe_dev *dev);

/* balloon/policy.c: worker */
void pvbe_bal_write_target(struct pvbe_bal_dev *bd, uint64_t pages);
uint64_t pvbe_bal_actual_pages(const struct pvbe_bal_dev *bd);
int pvbe_bal_read_stats(struct pvbe_bal_dev *bd);
void pvbe_bal_tick(struct pvbe_bal_dev *bd);
int pvbe_bal_timer_start(struct pvbe_bal_dev *bd);

/*
 * ops->control: balloon status | set SIZE | policy auto|host|off | headroom SIZE |
 * host-target SIZE (the supervisor's host-wide policy, core/hostmem.h).
 * set: the balloon should hold SIZE (rounded down to 4 KiB); a value above
 * guest RAM or outside [min, max] is refused, never clamped silently.
 */
int pvbe_bal_control(struct pvbe_dev *dev, int argc, char **argv,
		     struct json_object *out, char *err, size_t len);
/* ops->status: what `balloon ... status` shows, into a device's status. */
void pvbe_bal_status(struct pvbe_dev *dev, struct json_object *out);

#endif
