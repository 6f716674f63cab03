// SPDX-License-Identifier: GPL-2.0
/*
 * blk_bench - pviod's block backend measured natively: libpvio-front plays
 * the guest and reads through a pvio blk device, next to fio with io_uring
 * straight on the same file (the limit a backend can reach), interleaved
 * job by job in one run: pvio (interrupts), pvio (polling), pvio with
 * pviod polling too (-P), fio, repeat.
 *
 * Jobs: 4k random reads at QD1 and QD32, 128k sequential reads at QD8.
 * "pvio" waits for completions the way pvio_blk.ko does: it arms the
 * completion ring's event index and sleeps on its interrupt eventfd.
 * "pvio-poll" disarms it and spins on the completion ring instead (the
 * backend then sends no interrupts).  "pvio-busypoll" polls the same way
 * on a device (-P SOCK) whose pviod busy-polls its queue too (poll = yes),
 * so the guest rings no doorbell either: nobody sleeps, nobody wakes
 * anybody.  Its peer is "direct-sqpoll": fio with io_uring's SQPOLL
 * thread on the other core (the one pviod polls on), so that fio too
 * submits without a system call while a kernel thread spins for it; the
 * busy-polling side is compared with that one, not with plain fio.
 * Latency is submit to completion seen by the submitter, as fio's "lat".
 * Each round runs the sides in another order (rotated by one a round);
 * the table gives the median of the rounds and the IOPS min-max.
 *
 * The caller starts pviod (pinned to the other core) with the device and
 * pins this program; fio inherits our CPU affinity (SQPOLL_CPU, default
 * 1, is where direct-sqpoll's kernel thread spins).
 *
 * Usage: blk_bench -s SOCK -f FILE [-P SOCK] [-n NTH] [-l LABEL] [-D] [-t SEC] [-r REPEATS]
 *   -P SOCK  a guest whose NTH blk device (same file) pviod busy-polls
 *   -n NTH   the NTH blk device of the guest (default 0)
 *   -f FILE  the device's backing file, for fio
 *   -D       fio with --direct=1 (the device has cache = none)
 *   -l LABEL name of the target in the table and RATIO lines
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvio_front.h"
#include "bench_util.h"

#define RAM_SIZE	(64u << 20)
#define MAX_QD		32
#define MAX_BS		(128u << 10)
#define MAX_REPEATS	9
#define WARMUP_NS	500000000ull

struct job {
	const char *name;
	bool seq;
	uint32_t bs;
	unsigned int qd;
};

static const struct job jobs[] = {
	{ "rand4k_qd1", false, 4096, 1 },
	{ "rand4k_qd32", false, 4096, 32 },
	{ "seq128k_qd8", true, 128 << 10, 8 },
};
#define NJOBS	(sizeof(jobs) / sizeof(jobs[0]))

enum side { SIDE_PVIO, SIDE_POLL, SIDE_BUSYPOLL, SIDE_FIO, SIDE_FIO_SQPOLL, NSIDES };
static const char *const side_name[NSIDES] = {
	"pvio", "pvio-poll", "pvio-busypoll", "direct", "direct-sqpoll"
};

struct result {
	double iops, mbs, lat, p50, p99, kicks, irqs;
};

static struct result res[NJOBS][NSIDES][MAX_REPEATS];

struct ctx {
	struct pvfront f;
	struct pvfront_queue *q;
	uint64_t size;		/* device bytes */
	uint8_t *buf;		/* MAX_QD * MAX_BS of guest RAM */
	uint64_t gpa;
	uint64_t rnd;
	uint64_t seq_off;
};

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static uint64_t next_off(struct ctx *c, const struct job *j)
{
	uint64_t off;

	if (j->seq) {
		if (c->seq_off + j->bs > c->size)
			c->seq_off = 0;
		off = c->seq_off;
		c->seq_off += j->bs;
		return off;
	}
	return xorshift(&c->rnd) % (c->size / j->bs) * j->bs;
}

static int submit_read(struct ctx *c, const struct job *j, unsigned int id)
{
	struct pvio_desc d[2];
	struct pvio_blk_req h = {
		.sector = pvio_cpu_to_le64(next_off(c, j) / PVIO_BLK_SECTOR_SIZE),
		.op = PVIO_BLK_OP_READ,
		.id = pvio_cpu_to_le16((uint16_t)id),
		.flags = pvio_cpu_to_le16(PVIO_DESC_F_HDR | PVIO_DESC_F_NEXT),
	};

	memcpy(&d[0], &h, sizeof(d[0]));
	d[1].addr = pvio_cpu_to_le64(c->gpa + (uint64_t)id * MAX_BS);
	d[1].len = pvio_cpu_to_le32(j->bs);
	d[1].id = pvio_cpu_to_le16((uint16_t)id);
	d[1].flags = pvio_cpu_to_le16(PVIO_DESC_F_WRITE);
	return pvfront_submit(c->q, d, 2);
}

static int run_pvio(struct ctx *c, const struct job *j, bool poll, double secs,
		    struct result *r)
{
	uint64_t t0[MAX_QD], start, mstart = 0, end, now, done = 0;
	uint64_t kicks0 = 0, irqs0 = 0;
	unsigned int i, outstanding = 0;
	struct pvio_cpl cpl[64];
	struct bench_lat lat;
	bool measuring = false;
	int n, ret = 0;

	if (bench_lat_init(&lat, 1u << 23))
		return -ENOMEM;
	if (poll)
		pvio_ring_cons_disarm(&c->q->cq);
	start = bench_ns();
	end = start + WARMUP_NS + (uint64_t)(secs * 1e9);
	for (i = 0; i < j->qd; i++) {
		t0[i] = bench_ns();
		ret = submit_read(c, j, i);
		if (ret)
			goto out;
		outstanding++;
	}
	pvfront_kick(c->q);
	while (outstanding) {
		n = pvfront_reap(c->q, cpl, 64);
		if (n < 0) {
			ret = n;
			goto out;
		}
		if (n == 0) {
			if (poll) {
				bench_relax();
				continue;
			}
			ret = pvfront_wait(c->q, 2000);
			if (ret < 0)
				goto out;
			continue;
		}
		now = bench_ns();
		if (!measuring && now - start >= WARMUP_NS) {
			measuring = true;
			mstart = now;
			kicks0 = c->q->kicks;
			irqs0 = c->q->irqs;
		}
		for (i = 0; i < (unsigned int)n; i++) {
			unsigned int id = pvio_le16_to_cpu(cpl[i].id);

			if (id >= j->qd || pvio_le32_to_cpu(cpl[i].status) != PVIO_S_OK ||
			    pvio_le32_to_cpu(cpl[i].len) != j->bs) {
				fprintf(stderr, "blk_bench: bad completion id %u status %u len %u\n",
					id, pvio_le32_to_cpu(cpl[i].status),
					pvio_le32_to_cpu(cpl[i].len));
				ret = -EIO;
				goto out;
			}
			outstanding--;
			if (measuring) {
				bench_lat_add(&lat, now - t0[id]);
				done++;
			}
			if (now < end) {
				t0[id] = now;
				ret = submit_read(c, j, id);
				if (ret)
					goto out;
				outstanding++;
			}
		}
		pvfront_kick(c->q);
	}
	now = bench_ns();
	bench_lat_sort(&lat);
	r->iops = done / ((now - mstart) * 1e-9);
	r->mbs = r->iops * j->bs / 1e6;
	r->lat = bench_lat_mean(&lat);
	r->p50 = bench_lat_pct(&lat, 50);
	r->p99 = bench_lat_pct(&lat, 99);
	r->kicks = done ? (double)(c->q->kicks - kicks0) / done : 0;
	r->irqs = done ? (double)(c->q->irqs - irqs0) / done : 0;
out:
	bench_lat_free(&lat);
	return ret;
}

static int run_fio(const char *file, bool direct, bool sqpoll, const struct job *j,
		   double secs, struct result *r)
{
	char a_file[300], a_bs[32], a_qd[32], a_rt[32], a_cpu[48], *out, *p;
	const char *cpu = getenv("SQPOLL_CPU");
	char *argv[] = {
		"fio", "--name=direct", a_file, "--ioengine=io_uring",
		direct ? "--direct=1" : "--direct=0",
		j->seq ? "--rw=read" : "--rw=randread", a_bs, a_qd, a_rt,
		"--ramp_time=0.5", "--time_based", "--norandommap", "--randrepeat=0",
		"--lat_percentiles=1", "--output-format=json",
		sqpoll ? "--sqthread_poll=1" : NULL, a_cpu, NULL
	};
	size_t len = 1 << 20;
	int st;

	snprintf(a_cpu, sizeof(a_cpu), "--sqthread_poll_cpu=%s", cpu ? cpu : "1");
	snprintf(a_file, sizeof(a_file), "--filename=%s", file);
	snprintf(a_bs, sizeof(a_bs), "--bs=%u", j->bs);
	snprintf(a_qd, sizeof(a_qd), "--iodepth=%u", j->qd);
	snprintf(a_rt, sizeof(a_rt), "--runtime=%.1f", secs);
	out = malloc(len);
	if (!out)
		return -ENOMEM;
	st = bench_run(argv, out, len);
	p = strstr(out, "\"read\"");
	if (st || !p || !(p = strstr(p, "\"lat_ns\""))) {
		fprintf(stderr, "blk_bench: fio failed (status %d)\n%s\n", st, out);
		free(out);
		return -EIO;
	}
	r->iops = bench_num_after(out, "\"read\"", "\"iops\"");
	r->mbs = r->iops * j->bs / 1e6;
	r->lat = bench_num_after(p, NULL, "\"mean\"") / 1000;
	r->p50 = bench_num_after(p, NULL, "\"50.000000\"") / 1000;
	r->p99 = bench_num_after(p, NULL, "\"99.000000\"") / 1000;
	r->kicks = r->irqs = NAN;
	free(out);
	return 0;
}

/* The lowest and the highest IOPS of the rounds. */
static void iops_range(enum side s, unsigned int jn, int reps, double *lo, double *hi)
{
	int k;

	*lo = *hi = res[jn][s][0].iops;
	for (k = 1; k < reps; k++) {
		*lo = fmin(*lo, res[jn][s][k].iops);
		*hi = fmax(*hi, res[jn][s][k].iops);
	}
}

static struct result median(enum side s, unsigned int jn, int reps)
{
	double v[MAX_REPEATS];
	struct result m;
	int k;

#define MED(field) do {						\
		for (k = 0; k < reps; k++)				\
			v[k] = res[jn][s][k].field;			\
		m.field = bench_median(v, reps);			\
	} while (0)
	MED(iops);
	MED(mbs);
	MED(lat);
	MED(p50);
	MED(p99);
	MED(kicks);
	MED(irqs);
#undef MED
	return m;
}

static int setup(struct ctx *c, const char *sock, int nth)
{
	struct pvio_blk_config *cfg;
	struct pvio_dev_desc *dd;
	struct pvfront_dev *d;
	unsigned int index;
	int ret;

	ret = pvfront_connect(&c->f, sock, RAM_SIZE);
	if (ret)
		return ret;
	ret = pvfront_wait_ready(&c->f, 5000);
	if (ret)
		return ret;
	dd = pvfront_find(&c->f, PVIO_DEV_BLK, nth, &index);
	if (!dd)
		return -ENODEV;
	cfg = (struct pvio_blk_config *)((char *)c->f.win + pvio_le32_to_cpu(dd->config_off));
	c->size = pvio_le64_to_cpu(cfg->capacity) * PVIO_BLK_SECTOR_SIZE;
	if (c->size < MAX_BS)
		return -ENOSPC;
	/* FLUSH accepted: reads never wait for anything but the read. */
	ret = pvfront_dev_setup(&c->f, index, 1ull << PVIO_BLK_F_FLUSH, 1, &d);
	if (ret)
		return ret;
	c->q = &d->q[0];
	if (pvio_ring_nslots(&c->q->sq) < 2 * MAX_QD)
		return -ENOSPC;
	c->buf = pvfront_alloc(&c->f, (size_t)MAX_QD * MAX_BS, 4096, &c->gpa);
	if (!c->buf)
		return -ENOMEM;
	memset(c->buf, 0, (size_t)MAX_QD * MAX_BS);
	c->rnd = 0x9e3779b97f4a7c15ull;
	return 0;
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *psock = NULL, *file = NULL, *label = "file";
	int nth = 0, reps = 3, opt, k, ret;
	double secs = 4;
	bool direct = false;
	unsigned int jn, s;
	static struct ctx c, cp;

	while ((opt = getopt(argc, argv, "s:P:f:n:l:Dt:r:")) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'P': psock = optarg; break;
		case 'f': file = optarg; break;
		case 'n': nth = atoi(optarg); break;
		case 'l': label = optarg; break;
		case 'D': direct = true; break;
		case 't': secs = atof(optarg); break;
		case 'r': reps = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: blk_bench -s SOCK -f FILE [-P SOCK] [-n NTH] [-l LABEL] [-D] [-t SEC] [-r REPEATS]\n");
			return 2;
		}
	}
	if (!sock || !file || reps < 1 || reps > MAX_REPEATS || secs <= 0) {
		fprintf(stderr, "blk_bench: need -s SOCK -f FILE, 1..%d repeats\n", MAX_REPEATS);
		return 2;
	}
	ret = setup(&c, sock, nth);
	if (!ret && psock)
		ret = setup(&cp, psock, nth);
	if (ret) {
		fprintf(stderr, "blk_bench: setup: %s\n", strerror(-ret));
		return 1;
	}
	printf("# native-blk %s: %s (%s), %.1f s per run, %d repeats, interleaved pvio/pvio-poll/%sdirect/direct-sqpoll, rotated each round\n",
	       label, file, direct ? "O_DIRECT" : "page cache", secs, reps,
	       psock ? "pvio-busypoll/" : "");
	for (k = 0; k < reps; k++) {
		for (jn = 0; jn < NJOBS; jn++) {
			unsigned int i;

			for (i = 0; i < NSIDES; i++) {
				struct result *r;

				s = (i + (unsigned int)k) % NSIDES;
				r = &res[jn][s][k];
				if (s == SIDE_BUSYPOLL && !psock)
					continue;
				if (s == SIDE_FIO || s == SIDE_FIO_SQPOLL)
					ret = run_fio(file, direct, s == SIDE_FIO_SQPOLL, &jobs[jn], secs, r);
				else if (s == SIDE_BUSYPOLL)
					ret = run_pvio(&cp, &jobs[jn], true, secs, r);
				else
					ret = run_pvio(&c, &jobs[jn], s == SIDE_POLL, secs, r);
				if (ret) {
					fprintf(stderr, "blk_bench: %s %s: %s\n", jobs[jn].name,
						side_name[s], strerror(-ret));
					return 1;
				}
				printf("# run %d %-12s %-13s %10.0f IOPS %8.1f MB/s lat %7.1f us p50 %7.1f p99 %7.1f\n",
				       k + 1, jobs[jn].name, side_name[s], r->iops, r->mbs,
				       r->lat, r->p50, r->p99);
				fflush(stdout);
			}
		}
	}
	printf("\n| target | job | side | IOPS (median) | min-max | MB/s | lat mean us | p50 us | p99 us | kicks/req | irqs/req |\n");
	printf("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (jn = 0; jn < NJOBS; jn++) {
		for (s = 0; s < NSIDES; s++) {
			struct result m = median(s, jn, reps);
			double lo, hi;

			if (s == SIDE_BUSYPOLL && !psock)
				continue;
			iops_range(s, jn, reps, &lo, &hi);
			printf("| %s | %s | %s | %.0f | %.0f-%.0f | %.1f | %.1f | %.1f | %.1f |", label,
			       jobs[jn].name, side_name[s], m.iops, lo, hi, m.mbs, m.lat, m.p50, m.p99);
			if (s == SIDE_FIO || s == SIDE_FIO_SQPOLL)
				printf(" - | - |\n");
			else
				printf(" %.3f | %.3f |\n", m.kicks, m.irqs);
		}
	}
	printf("\n");
	/* Each pvio side against plain fio; the busy-polling one against SQPOLL too. */
	for (jn = 0; jn < NJOBS; jn++) {
		for (s = SIDE_PVIO; s <= SIDE_BUSYPOLL; s++) {
			struct result m = median(s, jn, reps);
			enum side peer;

			if (s == SIDE_BUSYPOLL && !psock)
				continue;
			for (peer = SIDE_FIO; peer <= SIDE_FIO_SQPOLL; peer++) {
				struct result d = median(peer, jn, reps);

				if (peer == SIDE_FIO_SQPOLL && s != SIDE_BUSYPOLL)
					continue;
				printf("RATIO iops_%s_%s %s/%s: %.2f\n", label, jobs[jn].name,
				       side_name[s], side_name[peer], m.iops / d.iops);
				printf("RATIO lat_%s_%s %s/%s: %.2f\n", label, jobs[jn].name,
				       side_name[s], side_name[peer], d.lat / m.lat);
			}
		}
	}
	pvfront_close(&c.f);
	if (psock)
		pvfront_close(&cp.f);
	return 0;
}
