/* SPDX-License-Identifier: GPL-2.0 */
/*
 * balloon/hostpolicy.h - the host-wide memory policy: from the host's
 * available memory and pressure and every guest's statistics, one balloon
 * target per guest.  Pure computation, no I/O: the supervisor
 * (core/hostmem.c) gathers the inputs from the workers and sends the
 * targets back; tests/backend/hostpolicy_test.c drives it with recorded
 * inputs.  docs/operations.md 10 explains it for the operator.
 *
 * Per round, for each guest (sizes in bytes):
 *   used    = its MemTotal - its MemAvailable (what it cannot give back)
 *   unmanaged = its RAM less MemTotal less its balloon: what its kernel
 *             took at boot, guest memory in no statistic (learnt while
 *             the balloon rests at its target)
 *   demand  = unmanaged + used + max(headroom, RAM / 16, the driver's
 *             floor: protocol.md 9.3) + what used grew by since the last
 *             round (a guest that grows fast gets a round ahead); under
 *             pressure (direct reclaim, swap-out, reclaim scanning a 64th
 *             of its RAM, an OOM kill or an OOM deflation since the last
 *             round) at least what it has now + max(2 * headroom, RAM / 8).
 *             Reclaim and swap-out count only once the balloon has not
 *             grown for PVBE_HPOL_INFLATING_ROUNDS rounds: an inflating
 *             balloon makes the guest reclaim (its page cache, mostly),
 *             and taking that for the guest's own need would give back
 *             what was just taken, again and again.
 *   want    = demand within the balloon's min and max
 * The host offers pool = MemAvailable - reserve + what the guests' RAM
 * files hold now (with half as much again in reserve while the host is
 * under memory pressure), and never more than a limit if it has one.  If
 * every want fits, every guest gets it.  Otherwise guests under pressure
 * are served first, then each of the others gets what it uses plus a
 * share of the rest in proportion to what it wants beyond that.
 *
 * Against oscillation: memory is given at once (a guest that needs it
 * must not wait); it is taken only from a guest that has reached its
 * last target, has been calm for PVBE_HPOL_CALM_ROUNDS rounds and has at
 * least a hysteresis (max(16 MiB, headroom / 4)) more than it wants, and
 * then half of the difference per round, or at once what it has free
 * beyond max(headroom, RAM / 16) (free memory costs it nothing to give;
 * its page cache it must reclaim), all of it when less than the
 * hysteresis would be left, or when the host is short: so a guest whose
 * use does not change settles where it should and stays.
 */
#ifndef PVBE_HOSTPOLICY_H
#define PVBE_HOSTPOLICY_H

#include <stdbool.h>
#include <stdint.h>

#define PVBE_HPOL_CHUNK		(2ull << 20)	/* targets are whole 2 MiB chunks */
#define PVBE_HPOL_CALM_ROUNDS	5		/* after pressure, no taking for so long */
#define PVBE_HPOL_INFLATING_ROUNDS 2		/* reclaim while inflating is not pressure */
#define PVBE_HPOL_SCAN_SHARE	64		/* pages scanned per round: RAM / 64 is pressure */
#define PVBE_HPOL_GUEST_MIN	(64ull << 20)	/* the driver keeps this much managed */

struct pvbe_hpol_host {
	uint64_t avail;			/* MemAvailable */
	uint64_t reserve;		/* kept for the host itself */
	uint64_t limit;			/* at most this for all guests; 0: none */
	uint32_t psi_some_avg10;	/* /proc/pressure/memory, hundredths of % */
	uint32_t psi_limit;		/* above it the host is under pressure */
};

/* One guest's balloon, as its worker reports it (cumulative counters). */
struct pvbe_hpol_guest {
	uint64_t ram;			/* guest RAM */
	uint64_t actual, target;	/* the balloon now, and asked for */
	uint64_t min, max;		/* balloon bounds (max <= ram) */
	uint64_t headroom;		/* what the guest keeps available */
	uint64_t backed;		/* host memory its RAM file holds */
	bool stats;			/* the counters below are valid */
	uint64_t total, avail;		/* its MemTotal, MemAvailable */
	uint64_t free;			/* its MemFree: given without reclaim */
	uint64_t allocstall, swap_out, oom_kills, deflated_on_pressure;
	uint64_t pgscan;		/* pages scanned by reclaim */
};

/* What the policy remembers of a guest between rounds; zero to start. */
struct pvbe_hpol_state {
	bool seen;
	uint64_t allocstall, swap_out, oom_kills, deflated_on_pressure, pgscan;
	unsigned int calm;		/* rounds since the last pressure */
	uint64_t actual;		/* the balloon last round */
	uint64_t used;			/* what it used last round */
	uint64_t unmanaged;		/* RAM outside MemTotal and the balloon */
	unsigned int inflating;		/* rounds its reclaim is the balloon's */
};

/* The decision for one guest. */
struct pvbe_hpol_out {
	uint64_t target;		/* the balloon to ask for */
	uint64_t used, demand;		/* what it uses; what it asks for */
	uint64_t unmanaged;		/* RAM its kernel does not manage */
	uint64_t want, lo;		/* demand within the bounds; kept when short */
	uint64_t grant;			/* guest memory it may have */
	bool pressure, changed;
	const char *why;
};

/* The pool: memory the guests may have in all.  0 when the host is short. */
uint64_t pvbe_hpol_pool(const struct pvbe_hpol_host *h, const struct pvbe_hpol_guest *g,
			unsigned int n);

/*
 * One round for @n guests: fills @out[i] and updates @st[i].  Returns
 * true when the host is short (the wants did not fit the pool).
 */
bool pvbe_hpol_decide(const struct pvbe_hpol_host *h, const struct pvbe_hpol_guest *g,
		      struct pvbe_hpol_state *st, struct pvbe_hpol_out *out, unsigned int n);

#endif
