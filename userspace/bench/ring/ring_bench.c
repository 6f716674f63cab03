// SPDX-License-Identifier: GPL-2.0
/*
 * ring_bench - SPSC throughput and one-way latency of the pvio ring next to
 * DPDK's rte_ring (SP/SC, the _elem API with the same element size), in the
 * same process, on the same two cores, interleaved run by run.
 *
 * Throughput: a producer thread on core A enqueues ENTRIES 16-byte
 * elements in bulks of B, a consumer on core B dequeues bursts of up to B,
 * both spin when blocked.  Mentries/s = ENTRIES / wall time.
 *
 * Latency: ping-pong over two rings with burst 1; one-way latency is half
 * the mean round trip.
 *
 * Usage: ring_bench [-n entries] [-r repeats] [-c cpuA,cpuB]
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "pvio/ring.h"

#define NSLOTS		1024
#define ESIZE		16

struct elem {
	uint64_t seq;
	uint64_t pad;
};

enum impl { IMPL_PVIO, IMPL_RTE };
static const char *const impl_name[] = { "pvio", "rte_ring" };

struct rings {
	void *pvio_mem[2];
	struct rte_ring *rte[2];
};

static int cpu_a, cpu_b = 1;

struct job {
	enum impl impl;
	struct rings *rg;
	uint32_t burst;
	uint64_t entries;
	uint64_t sum;		/* consumer: checksum of seq */
	volatile int *go;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void cpu_relax(void)
{
	__builtin_ia32_pause();
}

static void attach(struct pvio_ring *r, void *mem, bool producer)
{
	if (pvio_ring_attach(r, mem, NSLOTS, ESIZE, producer)) {
		fprintf(stderr, "pvio_ring_attach failed\n");
		exit(1);
	}
}

static void reset_rings(struct rings *rg)
{
	int i;

	for (i = 0; i < 2; i++) {
		pvio_ring_shared_init(rg->pvio_mem[i], 0);
		rte_ring_reset(rg->rte[i]);
	}
}

/* ---- throughput ------------------------------------------------------------ */

static void *tp_producer(void *arg)
{
	struct job *j = arg;
	struct elem e[32];
	struct pvio_ring pr;
	uint64_t seq = 0;
	uint32_t b = j->burst, i;

	pin(cpu_a);
	attach(&pr, j->rg->pvio_mem[0], true);
	memset(e, 0, sizeof(e));
	while (!*j->go)
		cpu_relax();
	while (seq < j->entries) {
		for (i = 0; i < b; i++)
			e[i].seq = seq + i;
		if (j->impl == IMPL_PVIO) {
			while (pvio_ring_enqueue_bulk(&pr, e, b) == 0)
				cpu_relax();
		} else {
			while (rte_ring_sp_enqueue_bulk_elem(j->rg->rte[0], e, ESIZE,
							     b, NULL) == 0)
				cpu_relax();
		}
		seq += b;
	}
	return NULL;
}

static void *tp_consumer(void *arg)
{
	struct job *j = arg;
	struct elem e[32];
	struct pvio_ring cr;
	uint64_t got = 0, sum = 0;
	uint32_t b = j->burst;
	int n, i;

	pin(cpu_b);
	attach(&cr, j->rg->pvio_mem[0], false);
	while (!*j->go)
		cpu_relax();
	while (got < j->entries) {
		if (j->impl == IMPL_PVIO)
			n = pvio_ring_dequeue(&cr, e, b);
		else
			n = rte_ring_sc_dequeue_burst_elem(j->rg->rte[0], e, ESIZE,
							   b, NULL);
		if (n <= 0) {
			cpu_relax();
			continue;
		}
		for (i = 0; i < n; i++)
			sum += e[i].seq;
		got += n;
	}
	j->sum = sum;
	return NULL;
}

static double run_throughput(enum impl impl, struct rings *rg, uint32_t burst,
			     uint64_t entries)
{
	volatile int go = 0;
	struct job j = { impl, rg, burst, entries, 0, &go };
	pthread_t p, c;
	double t0, t1;
	uint64_t want = entries * (entries - 1) / 2;

	reset_rings(rg);
	pthread_create(&c, NULL, tp_consumer, &j);
	pthread_create(&p, NULL, tp_producer, &j);
	usleep(10000);
	t0 = now();
	go = 1;
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	t1 = now();
	if (j.sum != want) {
		fprintf(stderr, "%s burst %u: checksum mismatch (expected %llu, got %llu)\n",
			impl_name[impl], burst, (unsigned long long)want,
			(unsigned long long)j.sum);
		exit(1);
	}
	return entries / (t1 - t0) / 1e6;
}

/* ---- latency ---------------------------------------------------------------- */

static void *lat_echo(void *arg)
{
	struct job *j = arg;
	struct pvio_ring in, out;
	struct elem e;
	uint64_t n = 0;

	pin(cpu_b);
	attach(&in, j->rg->pvio_mem[0], false);
	attach(&out, j->rg->pvio_mem[1], true);
	while (n < j->entries) {
		if (j->impl == IMPL_PVIO) {
			while (pvio_ring_dequeue(&in, &e, 1) != 1)
				cpu_relax();
			while (pvio_ring_enqueue(&out, &e, 1) != 1)
				cpu_relax();
		} else {
			while (rte_ring_sc_dequeue_elem(j->rg->rte[0], &e, ESIZE))
				cpu_relax();
			while (rte_ring_sp_enqueue_elem(j->rg->rte[1], &e, ESIZE))
				cpu_relax();
		}
		n++;
	}
	return NULL;
}

static double run_latency(enum impl impl, struct rings *rg, uint64_t iters)
{
	struct job j = { impl, rg, 1, iters, 0, NULL };
	struct pvio_ring out, in;
	struct elem e = { 0, 0 };
	pthread_t t;
	double t0, t1;
	uint64_t i;

	reset_rings(rg);
	pin(cpu_a);
	attach(&out, rg->pvio_mem[0], true);
	attach(&in, rg->pvio_mem[1], false);
	pthread_create(&t, NULL, lat_echo, &j);
	usleep(10000);
	t0 = now();
	for (i = 0; i < iters; i++) {
		e.seq = i;
		if (impl == IMPL_PVIO) {
			while (pvio_ring_enqueue(&out, &e, 1) != 1)
				cpu_relax();
			while (pvio_ring_dequeue(&in, &e, 1) != 1)
				cpu_relax();
		} else {
			while (rte_ring_sp_enqueue_elem(rg->rte[0], &e, ESIZE))
				cpu_relax();
			while (rte_ring_sc_dequeue_elem(rg->rte[1], &e, ESIZE))
				cpu_relax();
		}
		if (e.seq != i) {
			fprintf(stderr, "%s: latency echo out of order\n", impl_name[impl]);
			exit(1);
		}
	}
	t1 = now();
	pthread_join(t, NULL);
	return (t1 - t0) / iters / 2 * 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

int main(int argc, char **argv)
{
	static const uint32_t bursts[] = { 1, 8, 32 };
	uint64_t entries = 1ull << 24, lat_iters = 1000000;
	int repeats = 5, opt, i, k, b;
	double tp[2][3], lat[2];
	struct rings rg;
	size_t sz;

	while ((opt = getopt(argc, argv, "n:r:c:l:")) != -1) {
		switch (opt) {
		case 'n':
			entries = strtoull(optarg, NULL, 0);
			break;
		case 'l':
			lat_iters = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			repeats = atoi(optarg);
			break;
		case 'c':
			if (sscanf(optarg, "%d,%d", &cpu_a, &cpu_b) != 2) {
				fprintf(stderr, "-c wants cpuA,cpuB\n");
				return 2;
			}
			break;
		default:
			fprintf(stderr, "usage: %s [-n entries] [-l latency-iters] [-r repeats] [-c cpuA,cpuB]\n",
				argv[0]);
			return 2;
		}
	}
	if (repeats < 1 || repeats > 50 || entries < 1024) {
		fprintf(stderr, "bad -r or -n\n");
		return 2;
	}
	entries &= ~31ull;	/* a whole number of bursts of every size */

	sz = rte_ring_get_memsize_elem(ESIZE, NSLOTS);
	for (i = 0; i < 2; i++) {
		rg.pvio_mem[i] = aligned_alloc(PVIO_RING_LINE,
					       pvio_ring_bytes(NSLOTS, ESIZE));
		rg.rte[i] = aligned_alloc(RTE_CACHE_LINE_SIZE, sz);
		if (!rg.pvio_mem[i] || !rg.rte[i] ||
		    rte_ring_init(rg.rte[i], i ? "pvio_bench1" : "pvio_bench0",
				  NSLOTS, RING_F_SP_ENQ | RING_F_SC_DEQ) != 0) {
			fprintf(stderr, "ring setup failed\n");
			return 1;
		}
	}

	printf("# SPSC ring, %d-byte elements, %d slots, cores %d,%d, %llu entries per run, median of %d\n",
	       ESIZE, NSLOTS, cpu_a, cpu_b, (unsigned long long)entries, repeats);
	for (b = 0; b < 3; b++) {
		double v[2][50];

		/* Interleave the two rings run by run so drift hits both. */
		for (k = 0; k < repeats; k++)
			for (i = 0; i < 2; i++)
				v[i][k] = run_throughput(i, &rg, bursts[b], entries);
		for (i = 0; i < 2; i++)
			tp[i][b] = median(v[i], repeats);
	}
	{
		double v[2][50];

		for (k = 0; k < repeats; k++)
			for (i = 0; i < 2; i++)
				v[i][k] = run_latency(i, &rg, lat_iters);
		for (i = 0; i < 2; i++)
			lat[i] = median(v[i], repeats);
	}

	printf("%-10s %14s %14s %14s %16s\n", "ring", "burst1 Mops/s",
	       "burst8 Mops/s", "burst32 Mops/s", "one-way lat ns");
	for (i = 0; i < 2; i++)
		printf("%-10s %14.1f %14.1f %14.1f %16.1f\n", impl_name[i],
		       tp[i][0], tp[i][1], tp[i][2], lat[i]);
	for (b = 0; b < 3; b++)
		printf("RATIO throughput_burst%u pvio/rte_ring: %.2f\n", bursts[b],
		       tp[0][b] / tp[1][b]);
	/* Oriented so that above 1.00 means pvio is better (lower latency). */
	printf("RATIO latency pvio/rte_ring: %.2f\n", lat[1] / lat[0]);

	for (i = 0; i < 2; i++) {
		free(rg.pvio_mem[i]);
		free(rg.rte[i]);
	}
	return 0;
}
