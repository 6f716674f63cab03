// SPDX-License-Identifier: GPL-2.0
/*
 * ring_stress - two threads move PVIO_STRESS_ENTRIES (default 10^8) entries
 * through one ring in random bursts, checksumming every entry, and sleep on
 * eventfds whenever the ring is empty (consumer) or full (producer).  The
 * only wake-ups are the ones the event indices ask for, so a lost wakeup
 * leaves both threads asleep and the harness timeout fails the test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "pvio/abi.h"
#include "kselftest_harness.h"

#define NSLOTS		256
#define MAX_BURST	32

struct elem {
	uint64_t seq;
	uint64_t val;
};

struct stress {
	void *mem;
	uint64_t total;
	int cons_efd;		/* producer -> consumer: entries published */
	int prod_efd;		/* consumer -> producer: slots freed */
	/* per-thread results, each written by one thread */
	uint64_t sum_in, sum_out;
	uint64_t cons_sleeps, prod_sleeps, notifies_to_cons, notifies_to_prod;
	uint64_t bad_seq;
	int err;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void wait_efd(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) != sizeof(v))
		;
}

static void kick_efd(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		abort();
}

static void *producer(void *arg)
{
	struct stress *st = arg;
	struct pvio_ring r;
	struct elem e[MAX_BURST];
	uint64_t seq = 0, s = 0x1234567;
	uint32_t i, n;
	int got;

	if (pvio_ring_attach(&r, st->mem, NSLOTS, sizeof(struct elem), true)) {
		st->err = 1;
		return NULL;
	}
	while (seq < st->total) {
		n = 1 + rnd(&s) % MAX_BURST;
		if (n > st->total - seq)
			n = st->total - seq;
		for (i = 0; i < n; i++) {
			e[i].seq = seq + i;
			e[i].val = mix(seq + i);
		}
		got = pvio_ring_enqueue(&r, e, n);
		if (got < 0) {
			st->err = 2;
			return NULL;
		}
		for (i = 0; i < (uint32_t)got; i++)
			st->sum_in += e[i].val;
		seq += got;
		if (got && pvio_ring_prod_need_notify(&r)) {
			st->notifies_to_cons++;
			kick_efd(st->cons_efd);
		}
		if ((uint32_t)got < n && pvio_ring_prod_arm(&r) == 0) {
			st->prod_sleeps++;
			wait_efd(st->prod_efd);
		}
		/* Now and then pause so the consumer drains and sleeps. */
		if ((rnd(&s) & 1023) == 0)
			usleep(1);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct stress *st = arg;
	struct pvio_ring r;
	struct elem e[MAX_BURST];
	uint64_t seq = 0, s = 0x7654321;
	int got, i;

	if (pvio_ring_attach(&r, st->mem, NSLOTS, sizeof(struct elem), false)) {
		st->err = 3;
		return NULL;
	}
	while (seq < st->total) {
		got = pvio_ring_dequeue(&r, e, 1 + rnd(&s) % MAX_BURST);
		if (got < 0) {
			st->err = 4;
			return NULL;
		}
		for (i = 0; i < got; i++, seq++) {
			if (e[i].seq != seq)
				st->bad_seq++;
			st->sum_out += e[i].val;
		}
		if (got && pvio_ring_cons_need_notify(&r)) {
			st->notifies_to_prod++;
			kick_efd(st->prod_efd);
		}
		if (got == 0 && pvio_ring_cons_arm(&r) == 0) {
			st->cons_sleeps++;
			wait_efd(st->cons_efd);
		}
		if ((rnd(&s) & 4095) == 0)
			usleep(1);
	}
	return NULL;
}

static uint64_t total_entries(void)
{
	const char *env = getenv("PVIO_STRESS_ENTRIES");

	return env ? strtoull(env, NULL, 0) : 100000000ull;
}

FIXTURE(stress) {
	int unused;
};

FIXTURE_SETUP(stress)
{
	self->unused = 0;
}

FIXTURE_TEARDOWN(stress)
{
}

/* Timeout: 10^8 entries take well under a minute here; a hang fails. */
TEST_F_TIMEOUT(stress, blocking_spsc_checksummed, 300)
{
	struct stress st = { .total = total_entries() };
	pthread_t tp, tc;

	st.mem = aligned_alloc(PVIO_RING_LINE,
			       pvio_ring_bytes(NSLOTS, sizeof(struct elem)));
	ASSERT_NE(NULL, st.mem);
	pvio_ring_shared_init(st.mem, 0xfffff000u);	/* cross 2^32 early */
	st.cons_efd = eventfd(0, 0);
	st.prod_efd = eventfd(0, 0);
	ASSERT_GE(st.cons_efd, 0);
	ASSERT_GE(st.prod_efd, 0);

	ASSERT_EQ(0, pthread_create(&tc, NULL, consumer, &st));
	ASSERT_EQ(0, pthread_create(&tp, NULL, producer, &st));
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);

	printf("# entries %llu, checksum in %016llx out %016llx\n",
	       (unsigned long long)st.total, (unsigned long long)st.sum_in,
	       (unsigned long long)st.sum_out);
	printf("# consumer slept %llu times, producer slept %llu times\n",
	       (unsigned long long)st.cons_sleeps,
	       (unsigned long long)st.prod_sleeps);
	printf("# notifications: to consumer %llu, to producer %llu\n",
	       (unsigned long long)st.notifies_to_cons,
	       (unsigned long long)st.notifies_to_prod);
	fflush(stdout);
	EXPECT_EQ(0, st.err);
	EXPECT_EQ(0, st.bad_seq);
	EXPECT_EQ(st.sum_in, st.sum_out);
	/* The blocking paths must really have been exercised. */
	EXPECT_GT(st.cons_sleeps, 0);
	EXPECT_GT(st.prod_sleeps, 0);
	/* Suppression works: far fewer notifications than bursts. */
	EXPECT_LT(st.notifies_to_cons, st.total / 4);
	close(st.cons_efd);
	close(st.prod_efd);
	free(st.mem);
}

TEST_HARNESS_MAIN
