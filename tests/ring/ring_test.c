// SPDX-License-Identifier: GPL-2.0
/*
 * ring_test - single-thread semantics of the pvio SPSC ring: empty, full,
 * bursts, wrap-around past 2^32, hostile indices and the event-index rules.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

#include "pvio/abi.h"
#include "kselftest_harness.h"

struct elem {
	uint64_t seq;
	uint64_t val;
};

static uint64_t val_of(uint64_t seq)
{
	return seq * 0x9e3779b97f4a7c15ull ^ (seq >> 7);
}

FIXTURE(ring) {
	void *mem;
	struct pvio_ring prod, cons;
	uint32_t nslots;
	uint64_t next_in, next_out;
};

FIXTURE_VARIANT(ring) {
	uint32_t nslots;
	uint32_t start;		/* initial value of every index */
};

FIXTURE_VARIANT_ADD(ring, small_zero) { .nslots = 8, .start = 0 };
FIXTURE_VARIANT_ADD(ring, large_zero) { .nslots = 1024, .start = 0 };
/* Indices cross 2^32 within the first few hundred entries. */
FIXTURE_VARIANT_ADD(ring, small_wrap) { .nslots = 8, .start = 0xffffff00u };
FIXTURE_VARIANT_ADD(ring, large_wrap) { .nslots = 1024, .start = 0xfffffe00u };

FIXTURE_SETUP(ring)
{
	self->nslots = variant->nslots;
	self->mem = aligned_alloc(PVIO_RING_LINE,
				  pvio_ring_bytes(self->nslots, sizeof(struct elem)));
	ASSERT_NE(NULL, self->mem);
	pvio_ring_shared_init(self->mem, variant->start);
	ASSERT_EQ(0, pvio_ring_attach(&self->prod, self->mem, self->nslots,
				      sizeof(struct elem), true));
	ASSERT_EQ(0, pvio_ring_attach(&self->cons, self->mem, self->nslots,
				      sizeof(struct elem), false));
	self->next_in = 0;
	self->next_out = 0;
}

FIXTURE_TEARDOWN(ring)
{
	free(self->mem);
}

static int push(struct _test_data_ring *self, uint32_t n)
{
	struct elem e[64];
	uint32_t i;
	int r;

	for (i = 0; i < n; i++) {
		e[i].seq = self->next_in + i;
		e[i].val = val_of(self->next_in + i);
	}
	r = pvio_ring_enqueue(&self->prod, e, n);
	if (r > 0)
		self->next_in += r;
	return r;
}

/* Returns the count, or -1000 on a data mismatch. */
static int pop(struct _test_data_ring *self, uint32_t n)
{
	struct elem e[64];
	int r, i;

	r = pvio_ring_dequeue(&self->cons, e, n);
	for (i = 0; i < r; i++) {
		if (e[i].seq != self->next_out || e[i].val != val_of(self->next_out)) {
			fprintf(stderr, "# slot %d: expected seq %llu, got %llu\n", i,
				(unsigned long long)self->next_out,
				(unsigned long long)e[i].seq);
			return -1000;
		}
		self->next_out++;
	}
	return r;
}

TEST_F(ring, empty_dequeue_returns_zero)
{
	EXPECT_EQ(0, pop(self, 1));
	EXPECT_EQ(0, pvio_ring_cons_avail(&self->cons, 1));
	EXPECT_EQ((int)self->nslots, pvio_ring_prod_space(&self->prod, 1));
}

TEST_F(ring, fills_exactly_to_capacity)
{
	uint32_t i;

	for (i = 0; i < self->nslots; i++)
		ASSERT_EQ(1, push(self, 1));
	EXPECT_EQ(0, push(self, 1));
	EXPECT_EQ(0, pvio_ring_prod_space(&self->prod, 1));
	EXPECT_EQ((int)self->nslots, pvio_ring_cons_avail(&self->cons, 1));
	ASSERT_EQ(1, pop(self, 1));
	EXPECT_EQ(1, push(self, 1));
	for (i = 0; i < self->nslots; i++)
		ASSERT_EQ(1, pop(self, 1));
	EXPECT_EQ(0, pop(self, 1));
}

TEST_F(ring, burst_is_partial_when_space_is_short)
{
	uint32_t want = self->nslots < 64 ? self->nslots : 64;

	ASSERT_EQ(3, push(self, 3));
	/* Ring of N with 3 used takes N - 3 of a larger burst. */
	if (self->nslots <= 64)
		EXPECT_EQ((int)self->nslots - 3, push(self, want));
	EXPECT_EQ(3, pop(self, 3));
}

TEST_F(ring, bulk_is_all_or_nothing)
{
	struct elem e[8] = {};
	uint32_t i;

	for (i = 0; i < self->nslots - 2; i++)
		ASSERT_EQ(1, push(self, 1));
	EXPECT_EQ(0, pvio_ring_enqueue_bulk(&self->prod, e, 3));
	EXPECT_EQ(2, pvio_ring_enqueue_bulk(&self->prod, e, 2));
}

TEST_F(ring, bursts_keep_order_across_wrap)
{
	uint32_t sizes[] = { 1, 3, 8, 5, 32, 7, 2, 64, 1 };
	uint32_t i, round;
	uint32_t start = self->cons.idx;

	/* Move 200k entries in mixed bursts: indices wrap the ring many
	 * times and, for the _wrap variants, cross 2^32 as well.
	 */
	for (round = 0; self->next_out < 200000; round++) {
		uint32_t n = sizes[round % 9];

		if (n > self->nslots)
			n = self->nslots;
		i = push(self, n);
		ASSERT_EQ(n, i);
		ASSERT_EQ((int)n, pop(self, n));
	}
	EXPECT_EQ(self->next_in, self->next_out);
	EXPECT_EQ((uint32_t)(start + self->next_out), self->cons.idx);
	if (start > 0xf0000000u)
		EXPECT_LT(self->cons.idx, start);	/* it wrapped */
}

TEST_F(ring, in_place_produce_and_consume)
{
	struct elem *slot;
	const struct elem *cs;

	ASSERT_GE(pvio_ring_prod_space(&self->prod, 2), 2);
	slot = pvio_ring_prod_slot(&self->prod, 0);
	slot->seq = 7;
	slot = pvio_ring_prod_slot(&self->prod, 1);
	slot->seq = 8;
	pvio_ring_prod_commit(&self->prod, 2);
	ASSERT_EQ(2, pvio_ring_cons_avail(&self->cons, 2));
	cs = pvio_ring_cons_slot(&self->cons, 1);
	EXPECT_EQ(8, cs->seq);
	pvio_ring_cons_release(&self->cons, 2);
	EXPECT_EQ(0, pvio_ring_cons_avail(&self->cons, 1));
}

TEST_F(ring, hostile_producer_index_is_refused)
{
	struct pvio_ring_shared *sh = self->mem;
	uint32_t idx = self->cons.idx;

	sh->prod = pvio_cpu_to_le32(idx + self->nslots + 1);
	EXPECT_EQ(-EPROTO, pop(self, 1));
	/* Private state untouched: a corrected index works again. */
	EXPECT_EQ(idx, self->cons.idx);
	sh->prod = pvio_cpu_to_le32(idx - 1);	/* behind the consumer */
	EXPECT_EQ(-EPROTO, pop(self, 1));
	sh->prod = pvio_cpu_to_le32(idx);
	EXPECT_EQ(0, pop(self, 1));
}

TEST_F(ring, hostile_consumer_index_is_refused)
{
	struct pvio_ring_shared *sh = self->mem;
	uint32_t i;

	for (i = 0; i < self->nslots; i++)
		ASSERT_EQ(1, push(self, 1));
	sh->cons = pvio_cpu_to_le32(self->prod.idx + 1);	/* ahead of prod */
	EXPECT_EQ(-EPROTO, push(self, 1));
}

TEST_F(ring, attach_refuses_bad_geometry)
{
	struct pvio_ring r;
	struct pvio_ring_shared *sh = self->mem;

	EXPECT_EQ(-EINVAL, pvio_ring_attach(&r, self->mem, 12, 16, true));
	EXPECT_EQ(-EINVAL, pvio_ring_attach(&r, self->mem, 1, 16, true));
	EXPECT_EQ(-EINVAL, pvio_ring_attach(&r, self->mem, 8, 6, true));
	EXPECT_EQ(-EINVAL, pvio_ring_attach(&r, self->mem, 1u << 20, 16, true));
	sh->prod = pvio_cpu_to_le32(pvio_le32_to_cpu(sh->cons) + self->nslots + 1);
	EXPECT_EQ(-EPROTO, pvio_ring_attach(&r, self->mem, self->nslots, 16, false));
}

TEST_F(ring, no_notify_unless_consumer_armed)
{
	/* Fresh ring: prod_event == start, so the first entry notifies. */
	ASSERT_EQ(1, push(self, 1));
	EXPECT_TRUE(pvio_ring_prod_need_notify(&self->prod));
	/* Consumer has not re-armed: further entries stay silent. */
	ASSERT_EQ(2, push(self, 2));
	EXPECT_FALSE(pvio_ring_prod_need_notify(&self->prod));
	ASSERT_EQ(3, pop(self, 3));
	/* Arm on an empty ring: nothing pending, safe to sleep. */
	EXPECT_EQ(0, pvio_ring_cons_arm(&self->cons));
	ASSERT_EQ(1, push(self, 1));
	EXPECT_TRUE(pvio_ring_prod_need_notify(&self->prod));
	EXPECT_FALSE(pvio_ring_prod_need_notify(&self->prod));
}

TEST_F(ring, arm_sees_entries_published_before_it)
{
	ASSERT_EQ(1, push(self, 1));
	EXPECT_TRUE(pvio_ring_prod_need_notify(&self->prod));
	ASSERT_EQ(1, pop(self, 1));
	/* Entry published, notify check done (no event), then the consumer
	 * arms: the re-check must report it instead of sleeping.
	 */
	ASSERT_EQ(1, push(self, 1));
	EXPECT_FALSE(pvio_ring_prod_need_notify(&self->prod));
	EXPECT_EQ(1, pvio_ring_cons_arm(&self->cons));
}

TEST_F(ring, one_notify_per_batch)
{
	ASSERT_EQ(0, pvio_ring_cons_arm(&self->cons));
	ASSERT_EQ(1, push(self, 1));
	if (self->nslots >= 4)
		ASSERT_EQ(2, push(self, 2));
	/* The check covers both enqueues: one notification. */
	EXPECT_TRUE(pvio_ring_prod_need_notify(&self->prod));
}

TEST_F(ring, arm_after_notifies_once_per_batch)
{
	uint32_t n = 4, i;	/* every variant has >= 8 slots */

	/* Waiting for n entries: the first n - 1 publications stay silent. */
	EXPECT_EQ(0, pvio_ring_cons_arm_after(&self->cons, n));
	for (i = 1; i < n; i++) {
		ASSERT_EQ(1, push(self, 1));
		EXPECT_FALSE(pvio_ring_prod_need_notify(&self->prod));
	}
	ASSERT_EQ(1, push(self, 1));
	EXPECT_TRUE(pvio_ring_prod_need_notify(&self->prod));
	/* Batch already there when arming: the re-check reports it. */
	EXPECT_EQ((int)n, pvio_ring_cons_arm_after(&self->cons, n));
	/* Fewer than asked for: safe to sleep, the count is reported. */
	ASSERT_EQ(1, pop(self, 1));
	EXPECT_EQ((int)n - 1, pvio_ring_cons_arm_after(&self->cons, n));
}

TEST_F(ring, full_producer_is_woken_by_consumer)
{
	uint32_t i;

	for (i = 0; i < self->nslots; i++)
		ASSERT_EQ(1, push(self, 1));
	EXPECT_EQ(0, pvio_ring_prod_arm(&self->prod));
	ASSERT_EQ(1, pop(self, 1));
	EXPECT_TRUE(pvio_ring_cons_need_notify(&self->cons));
	ASSERT_EQ(1, pop(self, 1));
	EXPECT_FALSE(pvio_ring_cons_need_notify(&self->cons));
}

TEST_F(ring, disarmed_consumer_gets_no_notify)
{
	pvio_ring_cons_disarm(&self->cons);
	ASSERT_EQ(1, push(self, 1));
	EXPECT_FALSE(pvio_ring_prod_need_notify(&self->prod));
}

TEST(need_event_arithmetic)
{
	/* old <= event < new, modulo 2^32. */
	EXPECT_TRUE(pvio_ring_need_event(5, 6, 5));
	EXPECT_FALSE(pvio_ring_need_event(6, 6, 5));
	EXPECT_FALSE(pvio_ring_need_event(4, 6, 5));
	EXPECT_TRUE(pvio_ring_need_event(0xffffffffu, 2, 0xfffffffeu));
	EXPECT_TRUE(pvio_ring_need_event(1, 2, 0xfffffffeu));
	EXPECT_FALSE(pvio_ring_need_event(2, 2, 0xfffffffeu));
}

TEST(abi_constants)
{
	/* The sizes are checked at compile time; the magic is "PVIO". */
	uint32_t m = PVIO_MAGIC;

	EXPECT_EQ(0, memcmp(&m, "PVIO", 4));
	EXPECT_EQ(0x10000u, PVIO_ABI_VERSION);
	EXPECT_TRUE(pvio_abi_range_ok(0, 4096, 4096));
	EXPECT_FALSE(pvio_abi_range_ok(1, 4096, 4096));
	EXPECT_FALSE(pvio_abi_range_ok(8, UINT64_MAX, 4096));
	EXPECT_FALSE(pvio_abi_range_ok(UINT64_MAX, 2, 4096));
}

TEST_HARNESS_MAIN
