/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * pvio/balloon.h - the balloon device class: features, statistics, config
 * area (docs/protocol.md section 9.3).
 *
 * THIS IS AN ABI, like abi.h (whose rules apply); docs/protocol.md is
 * its prose version.
 */
#ifndef PVIO_BALLOON_ABI_H
#define PVIO_BALLOON_ABI_H

#include "abi.h"

/* ---- balloon device --------------------------------------------------- */

#define PVIO_BAL_F_STATS	0	/* guest writes statistics */
#define PVIO_BAL_F_REPORTING	1	/* free-page reporting queue */
#define PVIO_BAL_F_DEFLATE_ON_OOM 2	/* guest may deflate under pressure */

/* Queue 0 inflate, 1 deflate, 2 free-page reporting. */
#define PVIO_BAL_Q_INFLATE	0
#define PVIO_BAL_Q_DEFLATE	1
#define PVIO_BAL_Q_REPORT	2

struct pvio_balloon_stats {
	__le32 seq;		/* (G) odd while the guest writes */
	__le32 interval_ms;	/* (G) period in use */
	__le64 free_bytes;
	__le64 avail_bytes;
	__le64 cache_bytes;
	__le64 total_bytes;
	__le64 swap_in;		/* pages */
	__le64 swap_out;
	__le64 major_faults;
	__le64 minor_faults;
	__le64 oom_kills;
	__le32 psi_some_avg10;	/* percent * 100 */
	__le32 psi_full_avg10;
	__le64 deflated_on_pressure;	/* pages the guest gave back itself */
	/* Reclaim activity, cumulative (0: a guest that does not say) */
	__le64 pgscan;		/* pages scanned by reclaim */
	__le64 allocstall;	/* entries into direct reclaim */
	__le64 refaults;	/* workingset refaults: evicted, needed again */
};

struct pvio_balloon_config {
	__le64 target_pages;		/* (B) balloon size wanted, 4 KiB pages */
	__le64 floor_pages;		/* (B) never deflate below ... (see doc) */
	__le32 stats_interval_ms;	/* (B) 0 = no statistics */
	__le32 reserved0;
	__le64 actual_pages;		/* (G) pages in the balloon now */
	struct pvio_balloon_stats stats;/* (G) */
};

/* ---- sizes and offsets ------------------------------------------------ */

pvio_static_assert(sizeof(struct pvio_balloon_stats) == 120, "ABI");
pvio_static_assert(sizeof(struct pvio_balloon_config) == 152, "ABI");
pvio_static_assert(offsetof(struct pvio_balloon_config, actual_pages) == 24,
		   "ABI");
pvio_static_assert(offsetof(struct pvio_balloon_config, stats) == 32, "ABI");

#endif /* PVIO_BALLOON_ABI_H */
