// SPDX-License-Identifier: GPL-2.0
/*
 * hostpolicy_test - the host-wide memory policy (backend/balloon/hostpolicy.c)
 * on its own: single rounds from given inputs, and a small simulation in
 * which guests use memory, their balloons follow the targets at a bounded
 * speed, their MemAvailable and reclaim counters follow from that, and the
 * host's MemAvailable falls as the guests' RAM files fill.  Each test
 * prints what it expected and what it got.
 */
#include <stdio.h>
#include <string.h>

#include "kselftest_harness.h"
#include "balloon/hostpolicy.h"

#define MiB	(1ull << 20)
#define GiB	(1ull << 30)

/* A guest as the simulation sees it. */
struct sim_guest {
	struct pvbe_hpol_guest in;
	struct pvbe_hpol_state st;
	struct pvbe_hpol_out out;
	uint64_t used;			/* memory its programs use */
	uint64_t cache;			/* page cache: available, but full */
	unsigned int pressured;		/* rounds the policy saw pressure */
	uint64_t speed;			/* balloon bytes moved per round */
	uint64_t lacked;		/* rounds it had less than it used */
	unsigned int changes;		/* targets changed */
	unsigned int last_change;	/* round of the last change */
};

struct sim {
	uint64_t host_total;		/* memory for guests and the reserve */
	uint64_t reserve;
	unsigned int n, round;
	bool short_;
	struct sim_guest g[4];
};

static void sim_guest_init(struct sim *s, unsigned int i, uint64_t ram, uint64_t used,
			   uint64_t balloon)
{
	struct sim_guest *x = &s->g[i];

	memset(x, 0, sizeof(*x));
	x->in.ram = ram;
	x->in.max = ram;
	x->in.headroom = 128 * MiB;
	x->in.actual = x->in.target = balloon;
	x->in.stats = true;
	x->used = used;
	x->speed = 256 * MiB;
	if (i >= s->n)
		s->n = i + 1;
}

/* The guest's side of a round: the balloon moves, the counters follow. */
static void sim_guest_step(struct sim_guest *x)
{
	struct pvbe_hpol_guest *in = &x->in;
	uint64_t has;

	if (in->actual < in->target)
		in->actual += in->target - in->actual < x->speed ? in->target - in->actual : x->speed;
	else
		in->actual -= in->actual - in->target < x->speed ? in->actual - in->target : x->speed;
	has = in->ram - in->actual;
	/* A balloon inflating into the page cache makes the guest reclaim it. */
	if (has < x->used + x->cache) {
		x->cache = has > x->used ? has - x->used : 0;
		in->allocstall += 5;
	}
	in->total = has;
	in->avail = has > x->used ? has - x->used : 0;
	/* Short of memory: direct reclaim, and the balloon would deflate. */
	if (has < x->used + 16 * MiB)
		in->allocstall += 10;
	if (has < x->used)
		x->lacked++;
	/* The RAM file holds what the guest touched. */
	in->backed = x->used + x->cache < has ? x->used + x->cache + 32 * MiB : has;
	if (in->backed > has)
		in->backed = has;
}

static void sim_round(struct sim *s)
{
	struct pvbe_hpol_guest in[4];
	struct pvbe_hpol_state st[4];
	struct pvbe_hpol_out out[4];
	struct pvbe_hpol_host h = { .reserve = s->reserve, .psi_limit = 1000 };
	uint64_t backed = 0;
	unsigned int i;

	for (i = 0; i < s->n; i++) {
		sim_guest_step(&s->g[i]);
		backed += s->g[i].in.backed;
	}
	h.avail = s->host_total > backed ? s->host_total - backed : 0;
	for (i = 0; i < s->n; i++) {
		in[i] = s->g[i].in;
		st[i] = s->g[i].st;
	}
	s->short_ = pvbe_hpol_decide(&h, in, st, out, s->n);
	for (i = 0; i < s->n; i++) {
		struct sim_guest *x = &s->g[i];

		x->st = st[i];
		x->out = out[i];
		x->pressured += out[i].pressure;
		if (out[i].changed) {
			x->changes++;
			x->last_change = s->round;
		}
		x->in.target = out[i].target;
	}
	s->round++;
}

static void sim_rounds(struct sim *s, unsigned int n)
{
	while (n--)
		sim_round(s);
}

/* One round on plain inputs. */
static struct pvbe_hpol_out one(const struct pvbe_hpol_host *h, struct pvbe_hpol_guest *g,
				struct pvbe_hpol_state *st)
{
	struct pvbe_hpol_out o;

	pvbe_hpol_decide(h, g, st, &o, 1);
	return o;
}

TEST(an_idle_guest_gives_back_in_steps_and_then_stays)
{
	struct sim s = { .host_total = 8 * GiB, .reserve = 1 * GiB };

	sim_guest_init(&s, 0, 1 * GiB, 100 * MiB, 0);
	sim_rounds(&s, 60);
	/* wants 100 + 128 MiB: balloon 796 MiB at most, within 32 MiB of it */
	fprintf(stderr, "# balloon after 60 rounds: want 764..796 MiB, got %llu MiB (%u changes, the last in round %u: %s)\n",
	       (unsigned long long)(s.g[0].in.actual / MiB), s.g[0].changes, s.g[0].last_change,
	       s.g[0].out.why);
	EXPECT_LE(764 * MiB, s.g[0].in.actual);
	EXPECT_GE(796 * MiB, s.g[0].in.actual);
	EXPECT_GE(10u, s.g[0].changes);
	EXPECT_GT(40u, s.g[0].last_change);
	EXPECT_EQ(0u, s.g[0].lacked);
}

/*
 * The bench-memory run of 2026-12-07 06:15 UTC: guests that had read 128
 * MiB of files were squeezed, stalled in direct reclaim while the balloon
 * took their page cache, were declared under pressure and given the memory
 * back, five rounds later squeezed again: a 6 s cycle.
 */
TEST(reclaim_caused_by_inflating_is_not_pressure)
{
	struct sim s = { .host_total = 8 * GiB, .reserve = 1 * GiB };

	sim_guest_init(&s, 0, 1 * GiB, 100 * MiB, 0);
	s.g[0].cache = 600 * MiB;
	s.g[0].speed = 64 * MiB;	/* inflating takes rounds */
	sim_rounds(&s, 60);
	fprintf(stderr, "# 600 MiB of page cache: want no round of pressure, a balloon of 764..796 MiB, <= 10 changes; got %u rounds of pressure, %llu MiB, %u changes, the last in round %u (%s)\n",
		s.g[0].pressured, (unsigned long long)(s.g[0].in.actual / MiB), s.g[0].changes,
		s.g[0].last_change, s.g[0].out.why);
	EXPECT_EQ(0u, s.g[0].pressured);
	EXPECT_LE(764 * MiB, s.g[0].in.actual);
	EXPECT_GE(796 * MiB, s.g[0].in.actual);
	EXPECT_GE(10u, s.g[0].changes);
	EXPECT_EQ(0u, s.g[0].lacked);
}

TEST(reclaim_once_the_balloon_is_still_is_pressure)
{
	struct sim s = { .host_total = 8 * GiB, .reserve = 1 * GiB };
	uint64_t before;

	sim_guest_init(&s, 0, 1 * GiB, 100 * MiB, 0);
	sim_rounds(&s, 60);
	before = s.g[0].in.actual;
	/* Its programs grow past what it has and it reclaims: pressure. */
	s.g[0].used += 200 * MiB;
	sim_rounds(&s, 2);
	fprintf(stderr, "# used 100 -> 300 MiB with the balloon still: want pressure and a smaller balloon, got %u rounds of pressure, balloon %llu -> %llu MiB (%s)\n",
		s.g[0].pressured, (unsigned long long)(before / MiB),
		(unsigned long long)(s.g[0].in.actual / MiB), s.g[0].out.why);
	EXPECT_LT(0u, s.g[0].pressured);
	EXPECT_GT(before, s.g[0].in.target);
}

TEST(a_growing_guest_is_given_memory_as_it_grows)
{
	struct sim s = { .host_total = 8 * GiB, .reserve = 1 * GiB };
	unsigned int r;

	sim_guest_init(&s, 0, 2 * GiB, 100 * MiB, 0);
	sim_rounds(&s, 40);
	fprintf(stderr, "# settled at balloon %llu MiB\n", (unsigned long long)(s.g[0].in.actual / MiB));
	/* 64 MiB more every round, up to 1.5 GiB */
	for (r = 0; r < 40 && s.g[0].used < 1536 * MiB; r++) {
		s.g[0].used += 64 * MiB;
		sim_round(&s);
	}
	sim_rounds(&s, 10);
	fprintf(stderr, "# used 1536 MiB: want the guest never short and >= 1536 MiB, got %llu rounds short, %llu MiB (%s)\n",
	       (unsigned long long)s.g[0].lacked,
	       (unsigned long long)((s.g[0].in.ram - s.g[0].in.actual) / MiB), s.g[0].out.why);
	EXPECT_EQ(0u, s.g[0].lacked);
	EXPECT_LE(1536 * MiB, s.g[0].in.ram - s.g[0].in.actual);
}

TEST(memory_moves_from_an_idle_guest_to_a_busy_one_on_a_short_host)
{
	/* 3 GiB for two 2 GiB guests and a 512 MiB reserve */
	struct sim s = { .host_total = 3 * GiB, .reserve = 512 * MiB };
	uint64_t total;
	unsigned int r;

	sim_guest_init(&s, 0, 2 * GiB, 1200 * MiB, 0);	/* was busy, idles now */
	sim_guest_init(&s, 1, 2 * GiB, 200 * MiB, 1024 * MiB);
	s.g[0].used = 150 * MiB;
	sim_rounds(&s, 30);
	for (r = 0; r < 30; r++) {
		if (s.g[1].used < 1800 * MiB)
			s.g[1].used += 64 * MiB;
		sim_round(&s);
	}
	sim_rounds(&s, 10);
	total = 4 * GiB - s.g[0].in.actual - s.g[1].in.actual;
	fprintf(stderr, "# busy guest: used %llu MiB, has %llu MiB (short %llu rounds); idle guest: used %llu MiB, has %llu MiB; guests hold %llu MiB, pool %llu MiB\n",
	       (unsigned long long)(s.g[1].used / MiB),
	       (unsigned long long)((s.g[1].in.ram - s.g[1].in.actual) / MiB),
	       (unsigned long long)s.g[1].lacked, (unsigned long long)(s.g[0].used / MiB),
	       (unsigned long long)((s.g[0].in.ram - s.g[0].in.actual) / MiB),
	       (unsigned long long)(total / MiB), (unsigned long long)((3 * GiB - 512 * MiB) / MiB));
	EXPECT_LE(s.g[1].used, s.g[1].in.ram - s.g[1].in.actual);
	EXPECT_GE(400 * MiB, s.g[0].in.ram - s.g[0].in.actual);
	EXPECT_LE(s.g[0].used, s.g[0].in.ram - s.g[0].in.actual);
}

TEST(a_guest_under_pressure_is_served_first_when_the_host_is_short)
{
	struct pvbe_hpol_host h = { .avail = 256 * MiB, .reserve = 512 * MiB };
	struct pvbe_hpol_guest g[2] = {
		{ .ram = 2 * GiB, .max = 2 * GiB, .headroom = 128 * MiB, .backed = 1 * GiB,
		  .actual = 1 * GiB, .target = 1 * GiB, .stats = true,
		  .total = 1 * GiB, .avail = 8 * MiB, .allocstall = 100 },
		{ .ram = 2 * GiB, .max = 2 * GiB, .headroom = 128 * MiB, .backed = 1 * GiB,
		  .actual = 512 * MiB, .target = 512 * MiB, .stats = true,
		  .total = 1536 * MiB, .avail = 1024 * MiB },
	};
	struct pvbe_hpol_state st[2] = { { .seen = true, .allocstall = 50, .actual = 1 * GiB },
					 { .seen = true, .actual = 512 * MiB } };
	struct pvbe_hpol_out o[2];
	bool short_ = pvbe_hpol_decide(&h, g, st, o, 2);
	uint64_t pool = pvbe_hpol_pool(&h, g, 2);

	fprintf(stderr, "# pool %llu MiB, short %d; under pressure: want %llu got %llu MiB (%s); idle: want %llu keeps %llu got %llu MiB (%s)\n",
	       (unsigned long long)(pool / MiB), short_, (unsigned long long)(o[0].want / MiB),
	       (unsigned long long)(o[0].grant / MiB), o[0].why,
	       (unsigned long long)(o[1].want / MiB), (unsigned long long)(o[1].lo / MiB),
	       (unsigned long long)(o[1].grant / MiB), o[1].why);
	ASSERT_TRUE(short_);
	EXPECT_TRUE(o[0].pressure);
	EXPECT_EQ(o[0].want, o[0].grant);
	EXPECT_GT(g[0].target, o[0].target);	/* given memory now */
	EXPECT_LE(o[0].grant + o[1].grant, pool);
	EXPECT_EQ(512 * MiB, o[1].grant);	/* what it uses, no more */
	EXPECT_LT(g[1].target, o[1].target);	/* taken from at once */
}

TEST(the_bounds_hold)
{
	struct pvbe_hpol_host h = { .avail = 64 * GiB, .reserve = 1 * GiB };
	struct pvbe_hpol_guest g = {
		.ram = 1 * GiB, .min = 64 * MiB, .max = 256 * MiB, .headroom = 64 * MiB,
		.actual = 256 * MiB, .target = 256 * MiB, .stats = true,
		.total = 768 * MiB, .avail = 700 * MiB,
	};
	struct pvbe_hpol_state st = { .seen = true, .calm = PVBE_HPOL_CALM_ROUNDS };
	struct pvbe_hpol_out o = one(&h, &g, &st);
	unsigned int r;

	fprintf(stderr, "# idle, balloon at max 256 MiB: want it kept, got %llu MiB (%s)\n",
	       (unsigned long long)(o.target / MiB), o.why);
	EXPECT_EQ(256 * MiB, o.target);
	/* now it uses all it gets and reclaims: never below min */
	for (r = 0; r < 4; r++) {
		g.avail = 0;
		g.allocstall += 10;
		o = one(&h, &g, &st);
		g.target = g.actual = o.target;
		g.total = g.ram - g.actual;
		fprintf(stderr, "# under pressure, round %u: balloon %llu MiB (%s)\n", r + 1,
		       (unsigned long long)(o.target / MiB), o.why);
	}
	fprintf(stderr, "# want 64 MiB (min), got %llu MiB\n", (unsigned long long)(g.target / MiB));
	EXPECT_EQ(64 * MiB, g.target);
}

TEST(no_statistics_no_move)
{
	struct pvbe_hpol_host h = { .avail = 1 * GiB, .reserve = 1 * GiB };
	struct pvbe_hpol_guest g = { .ram = 1 * GiB, .max = 1 * GiB, .actual = 300 * MiB,
				     .target = 300 * MiB, .backed = 700 * MiB };
	struct pvbe_hpol_state st = { 0 };
	struct pvbe_hpol_out o = one(&h, &g, &st);

	fprintf(stderr, "# no statistics: want 300 MiB, got %llu MiB (%s)\n",
	       (unsigned long long)(o.target / MiB), o.why);
	EXPECT_EQ(300 * MiB, o.target);
	EXPECT_FALSE(o.changed);
}

TEST(after_pressure_nothing_is_taken_for_a_while)
{
	struct pvbe_hpol_host h = { .avail = 64 * GiB, .reserve = 1 * GiB };
	struct pvbe_hpol_guest g = {
		.ram = 1 * GiB, .max = 1 * GiB, .headroom = 64 * MiB, .stats = true,
		.total = 1 * GiB, .avail = 900 * MiB, .allocstall = 5,
	};
	struct pvbe_hpol_state st = { .seen = true, .allocstall = 4 };
	struct pvbe_hpol_out o;
	unsigned int r, first = 0;

	for (r = 1; r <= 10 && !first; r++) {
		o = one(&h, &g, &st);
		if (o.target > g.target)
			first = r;
		g.target = g.actual = o.target;
		g.total = g.ram - g.actual;
	}
	fprintf(stderr, "# pressure in round 1: want the first balloon growth in round %u, got %u\n",
	       PVBE_HPOL_CALM_ROUNDS + 1, first);
	EXPECT_EQ(PVBE_HPOL_CALM_ROUNDS + 1, first);
}

TEST(counters_that_go_back_are_a_new_worker_not_pressure)
{
	struct pvbe_hpol_host h = { .avail = 64 * GiB, .reserve = 1 * GiB };
	struct pvbe_hpol_guest g = {
		.ram = 1 * GiB, .max = 1 * GiB, .headroom = 64 * MiB, .stats = true,
		.total = 1 * GiB, .avail = 900 * MiB, .allocstall = 3,
	};
	struct pvbe_hpol_state st = { .seen = true, .allocstall = 1000, .calm = 5 };
	struct pvbe_hpol_out o = one(&h, &g, &st);

	fprintf(stderr, "# allocstall 1000 -> 3: want no pressure, got %d (%s)\n", o.pressure, o.why);
	EXPECT_FALSE(o.pressure);
}

TEST(the_reserve_is_kept)
{
	/* Four 1 GiB guests that all want all of it; 2 GiB for them. */
	struct sim s = { .host_total = 2560 * MiB, .reserve = 512 * MiB };
	uint64_t held = 0;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		sim_guest_init(&s, i, 1 * GiB, 300 * MiB + i * 100 * MiB, 0);
		s.g[i].in.headroom = 600 * MiB;
	}
	sim_rounds(&s, 20);
	for (i = 0; i < 4; i++)
		held += s.g[i].in.ram - s.g[i].in.actual;
	fprintf(stderr, "# want the guests to hold <= %llu MiB, got %llu MiB (short %d)\n",
	       (unsigned long long)((2560 - 512) * MiB / MiB), (unsigned long long)(held / MiB),
	       s.short_);
	EXPECT_TRUE(s.short_);
	EXPECT_GE(2048 * MiB + 4 * PVBE_HPOL_CHUNK, held);
	for (i = 0; i < 4; i++)
		EXPECT_LE(s.g[i].used, s.g[i].in.ram - s.g[i].in.actual);
}

TEST_HARNESS_MAIN
