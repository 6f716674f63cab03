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
 * inherited by every worker through fork(); everything below "worker" is
 * written by the worker's single thread only.  The target lives in the
 * worker and in the window's config area: a restarted worker takes it back
 * from there (clamped like any other value it reads from shared memory).
 */
#ifndef PVBE_BALLOON_H
#define PVBE_BALLOON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/guest.h"

#define PVBE_BAL_PAGE		((uint64_t)4096)

enum pvbe_bal_policy { PVBE_BAL_POLICY_OFF, PVBE_BAL_POLICY_AUTO };

struct pvbe_bal_dev {
	struct pvbe_dev *dev;
	/* Configuration (supervisor). */
	uint32_t stats_interval_ms;	/* 0: no statistics */
	uint64_t floor;			/* bytes the guest keeps ballooned under pressure */
	bool reporting;			/* free-page reporting queue */
	bool deflate_on_oom;
	enum pvbe_bal_policy policy;
	uint64_t headroom;		/* auto: guest memory to leave available */
	uint64_t min, max;		/* auto and set: balloon size bounds, bytes */
	uint64_t initial;		/* target at the first layout, bytes */
	/* Worker. */
	bool have_target;		/* target below is valid */
	uint64_t target_pages;		/* what we asked the guest for */
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
	uint64_t policy_changes;	/* targets set by the auto policy */
};

/* A device's state for the control socket (all sizes in bytes). */
struct pvbe_bal_status {
	uint64_t ram, target, actual, backed, floor;
	uint64_t headroom, min, max;
	const char *policy;
	bool stats_valid;
	uint64_t stats_age_ms;
	struct pvio_balloon_stats stats;	/* CPU order */
	uint64_t inflated_pages, deflated_pages, reported_pages;
	uint64_t punched_bytes, punch_errors, stats_skipped, policy_changes;
	uint64_t guest_features;
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
 * Control socket.  Each returns 0 or -errno with @err set.
 * set: the balloon should hold @bytes (rounded down to 4 KiB); a value
 * above guest RAM or outside [min, max] is refused, never clamped silently.
 */
int pvbe_balloon_set(struct pvbe_dev *dev, const char *size, uint64_t *pages,
		     char *err, size_t len);
int pvbe_balloon_policy(struct pvbe_dev *dev, const char *mode,
			char *err, size_t len);
int pvbe_balloon_headroom(struct pvbe_dev *dev, const char *size,
			  char *err, size_t len);
int pvbe_balloon_status(struct pvbe_dev *dev, struct pvbe_bal_status *st,
			char *err, size_t len);

#endif
