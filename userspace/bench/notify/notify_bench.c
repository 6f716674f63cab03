// SPDX-License-Identifier: GPL-2.0
/*
 * notify_bench - what the wake-up policy costs on the pvio ring: a
 * producer thread on one core sends timestamped 16-byte messages at an
 * offered load through a pvio ring (include/pvio/ring.h, 1024 slots) to a
 * consumer thread on the other core, which sleeps on an eventfd when the
 * ring is empty, the way pviod's worker and pvio.ko's interrupt handler do.
 *
 * Policies:
 *   always      the producer writes the eventfd after every message; the
 *               consumer sleeps whenever the ring is empty
 *   event_idx   the consumer arms prod_event before sleeping (protocol 7.4);
 *               the producer notifies only when the consumer asked
 *   spin_block  event_idx, but the consumer first polls the ring for
 *               SPIN_US microseconds before arming and sleeping
 *   poll        the consumer disarms and never sleeps: no notifications,
 *               a whole core spent
 *
 * For each: messages/s delivered, notifications (eventfd writes) per
 * message, consumer wake-ups per message, consumer CPU use, and the
 * one-way latency (producer's clock at publish to consumer's clock at
 * dequeue, CLOCK_MONOTONIC) p50 and p99.  Runs are interleaved policy by
 * policy and repeated; the table shows medians.
 *
 * Usage: notify_bench [-t SEC] [-r REPEATS] [-s SPIN_US] [-c cpuP,cpuC]
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "pvio/ring.h"
#include "bench_util.h"

#define NSLOTS		1024u
#define BURST		32u
#define STOP_SEQ	UINT64_MAX
#define MAX_REPEATS	9

struct msg {
	uint64_t ts;
	uint64_t seq;
};

enum policy { POL_ALWAYS, POL_EVIDX, POL_SPIN, POL_POLL, NPOL };
static const char *const pol_name[NPOL] = { "always", "event_idx", "spin_block", "poll" };

/* Offered loads in messages/s; 0 is saturation (no pacing). */
static const double loads[] = { 10e3, 100e3, 1e6, 0 };
#define NLOADS	(sizeof(loads) / sizeof(loads[0]))

struct result {
	double mps, notif, wakeups, cpu, p50, p99;
};

static struct result res[NLOADS][NPOL][MAX_REPEATS];
static int cpu_p, cpu_c = 1;
static uint64_t spin_ns = 20000;

struct run {
	enum policy pol;
	double load;
	uint64_t dur_ns;
	void *mem;
	int efd;
	volatile int ready;
	/* consumer results */
	uint64_t received, wakeups, first_ns, last_ns, cpu_ns;
	struct bench_lat lat;
	/* producer results */
	uint64_t notifs;
};

static void notify(struct run *r)
{
	uint64_t one = 1;

	if (write(r->efd, &one, sizeof(one)) == sizeof(one))
		r->notifs++;
}

static void sleep_efd(struct run *r)
{
	uint64_t v;

	if (read(r->efd, &v, sizeof(v)) == sizeof(v))
		r->wakeups++;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *consumer(void *arg)
{
	struct run *r = arg;
	struct pvio_ring ring;
	struct msg m[BURST];
	uint64_t cpu0, now, until;
	int n, i;

	bench_pin(cpu_c);
	if (pvio_ring_attach(&ring, r->mem, NSLOTS, sizeof(struct msg), false))
		abort();
	if (r->pol == POL_POLL)
		pvio_ring_cons_disarm(&ring);
	cpu0 = thread_cpu_ns();
	__atomic_store_n(&r->ready, 1, __ATOMIC_RELEASE);
	for (;;) {
		n = pvio_ring_dequeue(&ring, m, BURST);
		if (n < 0)
			abort();
		if (n > 0) {
			now = bench_ns();
			for (i = 0; i < n; i++) {
				if (m[i].seq == STOP_SEQ)
					goto out;
				if (!r->received++)
					r->first_ns = now;
				bench_lat_add(&r->lat, now - m[i].ts);
			}
			r->last_ns = now;
			continue;
		}
		switch (r->pol) {
		case POL_POLL:
			bench_relax();
			break;
		case POL_ALWAYS:
			sleep_efd(r);
			break;
		case POL_SPIN:
			until = bench_ns() + spin_ns;
			while (pvio_ring_cons_avail(&ring, 1) == 0 && bench_ns() < until)
				bench_relax();
			if (pvio_ring_cons_avail(&ring, 1) != 0)
				break;
			/* fall through */
		case POL_EVIDX:
			if (pvio_ring_cons_arm(&ring) == 0)
				sleep_efd(r);
			break;
		default:
			abort();
		}
	}
out:
	r->cpu_ns = thread_cpu_ns() - cpu0;
	return NULL;
}

static void produce(struct run *r, struct pvio_ring *ring, const struct msg *m)
{
	int ret;

	while ((ret = pvio_ring_enqueue_bulk(ring, m, 1)) == 0)
		bench_relax();
	if (ret < 0)
		abort();
	if (r->pol == POL_ALWAYS || m->seq == STOP_SEQ)
		notify(r);
	else if (pvio_ring_prod_need_notify(ring))
		notify(r);
}

static void run_one(struct run *r, struct result *out)
{
	struct pvio_ring ring;
	struct msg m = { 0 };
	uint64_t start, end, next, gap, seq;
	pthread_t th;

	r->mem = aligned_alloc(4096, pvio_ring_bytes(NSLOTS, sizeof(struct msg)));
	r->efd = eventfd(0, EFD_CLOEXEC);
	if (!r->mem || r->efd < 0 || bench_lat_init(&r->lat, 1u << 24))
		abort();
	pvio_ring_shared_init(r->mem, 0);
	if (pvio_ring_attach(&ring, r->mem, NSLOTS, sizeof(struct msg), true))
		abort();
	if (pthread_create(&th, NULL, consumer, r))
		abort();
	while (!__atomic_load_n(&r->ready, __ATOMIC_ACQUIRE))
		bench_relax();
	usleep(1000);		/* let the consumer go to sleep first */
	gap = r->load > 0 ? (uint64_t)(1e9 / r->load) : 0;
	start = bench_ns();
	end = start + r->dur_ns;
	next = start;
	for (seq = 0;; seq++) {
		uint64_t now = bench_ns();

		if (gap) {
			while (now < next) {
				bench_relax();
				now = bench_ns();
			}
			next += gap;
		}
		if (now >= end)
			break;
		m.ts = now;
		m.seq = seq;
		produce(r, &ring, &m);
	}
	m.seq = STOP_SEQ;
	m.ts = bench_ns();
	produce(r, &ring, &m);
	pthread_join(th, NULL);

	bench_lat_sort(&r->lat);
	out->mps = r->received > 1 && r->last_ns > r->first_ns ?
		   (r->received - 1) / ((r->last_ns - r->first_ns) * 1e-9) : 0;
	out->notif = r->received ? (double)r->notifs / r->received : 0;
	out->wakeups = r->received ? (double)r->wakeups / r->received : 0;
	out->cpu = 100.0 * r->cpu_ns / (double)(r->last_ns - start + 1);
	out->p50 = bench_lat_pct(&r->lat, 50);
	out->p99 = bench_lat_pct(&r->lat, 99);
	bench_lat_free(&r->lat);
	close(r->efd);
	free(r->mem);
}

static struct result median(unsigned int l, enum policy p, int reps)
{
	double v[MAX_REPEATS];
	struct result m;
	int k;

#define MED(field) do {						\
		for (k = 0; k < reps; k++)				\
			v[k] = res[l][p][k].field;			\
		m.field = bench_median(v, reps);			\
	} while (0)
	MED(mps);
	MED(notif);
	MED(wakeups);
	MED(cpu);
	MED(p50);
	MED(p99);
#undef MED
	return m;
}

static const char *load_name(double load, char *buf, size_t len)
{
	if (load == 0)
		snprintf(buf, len, "saturation");
	else if (load >= 1e6)
		snprintf(buf, len, "%gM/s", load / 1e6);
	else
		snprintf(buf, len, "%gk/s", load / 1e3);
	return buf;
}

int main(int argc, char **argv)
{
	double secs = 1;
	int reps = 3, opt, k;
	unsigned int l, p;
	char name[32];

	while ((opt = getopt(argc, argv, "t:r:s:c:")) != -1) {
		switch (opt) {
		case 't': secs = atof(optarg); break;
		case 'r': reps = atoi(optarg); break;
		case 's': spin_ns = (uint64_t)(atof(optarg) * 1000); break;
		case 'c':
			if (sscanf(optarg, "%d,%d", &cpu_p, &cpu_c) != 2)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (reps < 1 || reps > MAX_REPEATS || secs <= 0)
		goto usage;
	bench_pin(cpu_p);
	printf("# notify: pvio ring %u x %zu B, producer core %d, consumer core %d, %.1f s per run, %d repeats interleaved, spin %.0f us\n",
	       NSLOTS, sizeof(struct msg), cpu_p, cpu_c, secs, reps, spin_ns / 1000.0);
	for (k = 0; k < reps; k++) {
		for (l = 0; l < NLOADS; l++) {
			for (p = 0; p < NPOL; p++) {
				struct run r = { .pol = p, .load = loads[l],
						 .dur_ns = (uint64_t)(secs * 1e9) };
				struct result *o = &res[l][p][k];

				run_one(&r, o);
				printf("# run %d %-10s %-10s %9.3f Mmsg/s notif/msg %.4f wake/msg %.4f cpu %5.1f%% p50 %8.2f us p99 %9.2f us\n",
				       k + 1, load_name(loads[l], name, sizeof(name)), pol_name[p],
				       o->mps / 1e6, o->notif, o->wakeups, o->cpu, o->p50, o->p99);
				fflush(stdout);
			}
		}
	}
	printf("\n| offered | policy | Mmsg/s | notifications/msg | wake-ups/msg | consumer CPU %% | p50 us | p99 us |\n");
	printf("|---|---|---:|---:|---:|---:|---:|---:|\n");
	for (l = 0; l < NLOADS; l++) {
		for (p = 0; p < NPOL; p++) {
			struct result m = median(l, p, reps);

			printf("| %s | %s | %.3f | %.4f | %.4f | %.1f | %.2f | %.2f |\n",
			       load_name(loads[l], name, sizeof(name)), pol_name[p],
			       m.mps / 1e6, m.notif, m.wakeups, m.cpu, m.p50, m.p99);
		}
	}
	printf("\n");
	for (l = 0; l < NLOADS; l++) {
		struct result a = median(l, POL_ALWAYS, reps);
		const char *ln = loads[l] == 0 ? "sat" : load_name(loads[l], name, sizeof(name));
		char tag[32];

		snprintf(tag, sizeof(tag), "%s", ln);
		for (k = 0; tag[k]; k++)
			if (tag[k] == '/')
				tag[k] = '\0';
		for (p = POL_EVIDX; p < NPOL; p++) {
			struct result m = median(l, p, reps);

			if (p != POL_POLL)
				printf("RATIO notif_per_msg_%s %s/always: %.2f\n", tag, pol_name[p],
				       m.notif > 0 ? a.notif / m.notif : INFINITY);
			printf("RATIO p50_%s %s/always: %.2f\n", tag, pol_name[p],
			       m.p50 > 0 ? a.p50 / m.p50 : 0);
			if (loads[l] == 0)
				printf("RATIO mps_%s %s/always: %.2f\n", tag, pol_name[p],
				       a.mps > 0 ? m.mps / a.mps : 0);
		}
	}
	return 0;
usage:
	fprintf(stderr, "usage: notify_bench [-t SEC] [-r REPEATS] [-s SPIN_US] [-c cpuP,cpuC]\n");
	return 2;
}
