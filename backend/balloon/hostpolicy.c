// SPDX-License-Identifier: GPL-2.0
/*
 * balloon/hostpolicy.c - the host-wide memory policy (hostpolicy.h says
 * what it decides and why).  No I/O, no globals: a round is a function of
 * its inputs and of what it remembered of each guest.
 */
#include <string.h>

#include "balloon/hostpolicy.h"

#define MiB		(1ull << 20)

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* The balloon's bounds, sane whatever the worker said. */
static void bounds(const struct pvbe_hpol_guest *x, uint64_t *bmin, uint64_t *bmax)
{
	*bmax = min_u64(x->max, x->ram);
	*bmin = min_u64(x->min, *bmax);
}

uint64_t pvbe_hpol_pool(const struct pvbe_hpol_host *h, const struct pvbe_hpol_guest *g,
			unsigned int n)
{
	uint64_t pool = h->avail, reserve = h->reserve;
	unsigned int i;

	/* Under pressure the host keeps half as much again. */
	if (h->psi_limit && h->psi_some_avg10 > h->psi_limit)
		reserve += reserve / 2;
	/* Guest RAM is shared memory: not in MemAvailable, but ours to move. */
	for (i = 0; i < n; i++)
		pool += g[i].backed;
	pool = pool > reserve ? pool - reserve : 0;
	return h->limit && h->limit < pool ? h->limit : pool;
}

/* Did a counter move since the last round?  One that went back is a new guest or worker. */
static bool grew(uint64_t now, uint64_t *was)
{
	bool up = now > *was;

	*was = now;
	return up;
}

static bool pressure(const struct pvbe_hpol_guest *x, struct pvbe_hpol_state *s)
{
	bool seen = s->seen, p = false, reclaim = false;

	/*
	 * Inflating (or just done): its reclaim is the balloon's doing.  Only
	 * a balloon that grew counts: one held below its target is a guest
	 * that keeps what it needs, and its reclaim is its own.
	 */
	if (seen && x->actual > s->actual)
		s->inflating = PVBE_HPOL_INFLATING_ROUNDS;
	else if (s->inflating)
		s->inflating--;
	s->actual = x->actual;
	reclaim |= grew(x->allocstall, &s->allocstall);
	reclaim |= grew(x->swap_out, &s->swap_out);
	/* kswapd at work: a guest slows before it stalls. */
	reclaim |= x->pgscan > s->pgscan && x->pgscan - s->pgscan >= x->ram / 4096 / PVBE_HPOL_SCAN_SHARE;
	s->pgscan = x->pgscan;
	p |= reclaim && !s->inflating;
	p |= grew(x->oom_kills, &s->oom_kills);
	p |= grew(x->deflated_on_pressure, &s->deflated_on_pressure);
	s->seen = true;
	p = p && seen;
	s->calm = p ? 0 : s->calm < PVBE_HPOL_CALM_ROUNDS ? s->calm + 1 : s->calm;
	return p;
}

/* What a guest keeps available: its headroom, and never less than its driver does. */
static uint64_t margin(const struct pvbe_hpol_guest *x)
{
	return max_u64(x->headroom, x->ram / 16);
}

/*
 * RAM the guest's kernel does not manage (its image, the page structs,
 * reserved ranges): in neither MemTotal nor the balloon, but guest memory
 * all the same, and backed.  Learnt only from a balloon at rest: at its
 * target, and (after the first round) where it was the last round, so
 * that the statistics (at most one interval old) saw it as it is.  While
 * a balloon moves, its size and MemTotal come from different moments:
 * the driver takes pages out of MemTotal as it allocates them but
 * publishes its size only every PVBAL_SHOW_STEP and at the end, so an
 * inflating balloon whose size stood still for a round once taught this
 * ~400 MiB of a 512 MiB guest (tests/vm/memory.sh: the idle guest was
 * then given all its RAM back).
 */
static void learn_unmanaged(const struct pvbe_hpol_guest *x, struct pvbe_hpol_state *s)
{
	if (x->actual != x->target || (s->seen && x->actual != s->actual))
		return;
	if (x->total && x->actual + x->total <= x->ram)
		s->unmanaged = x->ram - x->actual - x->total;
}

/* The balloon to ask for now, from the guest memory granted. */
static void settle(const struct pvbe_hpol_guest *x, const struct pvbe_hpol_state *s,
		   bool short_, struct pvbe_hpol_out *o)
{
	uint64_t bmin, bmax, b, cur = x->target, hyst, step;
	bool free_ = false;

	bounds(x, &bmin, &bmax);
	b = x->ram - o->grant;
	b -= b % PVBE_HPOL_CHUNK;		/* rounded to give, not to take */
	b = clamp_u64(b, bmin, bmax);
	hyst = max_u64(16 * MiB, x->headroom / 4);
	o->target = cur;
	if (!x->stats) {
		o->why = "no statistics from the guest: holds";
		return;
	}
	if (b < cur) {
		if (cur - b < PVBE_HPOL_CHUNK || (!o->pressure && cur - b < hyst)) {
			o->why = "wants a little more: within the hysteresis";
			return;
		}
		o->target = b;
		o->why = o->pressure ? "under pressure: given memory" :
			 short_ ? "host short: given its share" : "given what it wants";
		return;
	}
	if (b == cur) {
		o->why = "settled";
		return;
	}
	if (!short_) {
		if (x->actual + PVBE_HPOL_CHUNK < cur || x->actual > cur + PVBE_HPOL_CHUNK) {
			o->why = "on its way to the last target";
			return;
		}
		if (s->calm < PVBE_HPOL_CALM_ROUNDS) {
			o->why = "pressure lately: not taken from";
			return;
		}
		if (b - cur < hyst) {
			o->why = "settled: within the hysteresis";
			return;
		}
		step = (b - cur) / 2;
		/* What it has free beyond its margin, at once. */
		if (x->free > margin(x) && x->free - margin(x) > step) {
			step = min_u64(x->free - margin(x), b - cur);
			free_ = true;
		}
		step -= step % PVBE_HPOL_CHUNK;
		if (b - cur - step < hyst) {
			/* Half would leave it a hysteresis over for good. */
			o->target = b;
			o->why = "more than it wants: the rest taken";
			return;
		}
		o->target = cur + max_u64(step, PVBE_HPOL_CHUNK);
		o->why = free_ ? "more than it wants: what it had free taken" :
			 "more than it wants: half of it taken";
		return;
	}
	o->target = b;
	o->why = "host short: taken back";
}

bool pvbe_hpol_decide(const struct pvbe_hpol_host *h, const struct pvbe_hpol_guest *g,
		      struct pvbe_hpol_state *st, struct pvbe_hpol_out *out, unsigned int n)
{
	uint64_t pool = pvbe_hpol_pool(h, g, n), sum_want = 0, sum_lo = 0, left, rest = 0;
	uint64_t add, growth, keep;
	bool short_ = false;
	unsigned int i;

	for (i = 0; i < n; i++) {
		const struct pvbe_hpol_guest *x = &g[i];
		struct pvbe_hpol_out *o = &out[i];
		uint64_t bmin, bmax, mem_lo, mem_hi, have;

		memset(o, 0, sizeof(*o));
		bounds(x, &bmin, &bmax);
		mem_lo = x->ram - bmax;
		mem_hi = x->ram - bmin;
		have = x->ram - min_u64(x->actual, x->ram);
		if (!x->stats) {
			/* Nothing to go by: it keeps what it has. */
			o->demand = have;
			o->want = o->lo = clamp_u64(have, mem_lo, mem_hi);
		} else {
			learn_unmanaged(x, &st[i]);
			o->unmanaged = st[i].unmanaged;
			o->used = x->total > x->avail ? x->total - x->avail : 0;
			o->pressure = pressure(x, &st[i]);
			/* Growing: a round ahead, by what it grew in the last one. */
			growth = st[i].used && o->used > st[i].used ? o->used - st[i].used : 0;
			st[i].used = o->used;
			/* What the guest keeps whatever the target (protocol.md 9.3). */
			keep = max_u64(o->used + margin(x), PVBE_HPOL_GUEST_MIN);
			o->demand = o->unmanaged + keep + growth;
			if (o->pressure)
				o->demand = max_u64(o->demand,
						    have + max_u64(2 * x->headroom, x->ram / 8));
			o->demand = min_u64(o->demand, x->ram);
			out[i].want = clamp_u64(o->demand, mem_lo, mem_hi);
			out[i].lo = clamp_u64(min_u64(o->unmanaged + o->used, out[i].want),
					      mem_lo, mem_hi);
		}
		sum_want += out[i].want;
		sum_lo += out[i].lo;
	}
	if (sum_want <= pool) {
		for (i = 0; i < n; i++)
			out[i].grant = out[i].want;
	} else {
		/* Short: everyone keeps what it uses; pressure first; then shares. */
		short_ = true;
		left = pool > sum_lo ? pool - sum_lo : 0;
		for (i = 0; i < n; i++) {
			out[i].grant = out[i].lo;
			if (out[i].pressure) {
				add = min_u64(out[i].want - out[i].lo, left);
				out[i].grant += add;
				left -= add;
			} else {
				rest += out[i].want - out[i].lo;
			}
		}
		for (i = 0; i < n && rest; i++) {
			if (out[i].pressure)
				continue;
			add = (uint64_t)((unsigned __int128)(out[i].want - out[i].lo) * left / rest);
			out[i].grant += min_u64(add, out[i].want - out[i].lo);
		}
	}
	for (i = 0; i < n; i++) {
		settle(&g[i], &st[i], short_, &out[i]);
		out[i].changed = out[i].target != g[i].target;
	}
	return short_;
}
