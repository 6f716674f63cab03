// SPDX-License-Identifier: GPL-2.0
/*
 * net_sink - the pvio net data path without a TAP: libpvio-front's queue
 * calls on one core (the guest) and pviod's own queue code (backend/
 * queue.c and memtable.c, linked in unchanged) on the other, with a null
 * device class in between that takes each packet out of "guest" RAM into
 * a private buffer and drops it (tx), or writes a frame from a private
 * buffer into the guest's rx buffer (rx).  This is what pviod's net class
 * would cost with the TAP replaced by a sink; run.sh compares it with
 * DPDK's vhost-user and memif, which touch no kernel either.
 *
 *   core 0: guest (libpvio-front)  ==SQ/CQ (pvio rings, 16 B slots)==>
 *   core 1: pvbe_queue_pop/post (pviod's queue.c) + memcpy + drop
 *
 * Modes (-m): tx (guest -> backend), rx (backend -> guest), lat (one tx
 * packet, the backend answers it on rx, round trip time).
 * -w poll|sleep: the backend polls its rings, or sleeps on the kick
 * eventfd after arming the event index, as pviod's worker does.
 * The guest always polls its completion rings (as the DPDK PMDs do).
 * Frames of -b bytes; 12-byte pvio_net_hdr in front, one slot per packet.
 * Output: as net_bench.
 *
 * Usage: net_sink -m tx|rx|lat [-b BYTES] [-t SEC] [-n COUNT] [-w poll|sleep]
 *                 [-q SLOTS] [-c cpuG,cpuB]
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "guest.h"
#include "pvio_front.h"
#include "bench_util.h"

#define BUF_SIZE	2048u
#define HDR_LEN		((uint32_t)sizeof(struct pvio_net_hdr))
#define RX		0
#define TX		1

/* ---- what queue.c needs from the rest of pviod ---------------------------- */

static int irq_efd[2];		/* guest's interrupt eventfd per queue */

bool pvbe_queue_may_run(struct pvbe_queue *q)
{
	return q->running;
}

void pvbe_dev_mark_broken(struct pvbe_dev *dev, uint32_t reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "net_sink: %s broken (%u): ", dev->tag, reason);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

void pvbe_guest_notify(struct pvbe_guest *g, unsigned int vector)
{
	uint64_t one = 1;

	(void)g;
	if (write(irq_efd[vector - 1], &one, sizeof(one)) < 0)
		abort();
}

/* ---- the two sides ---------------------------------------------------------- */

static const struct pvbe_dev_ops sink_ops = {
	.type = PVIO_DEV_NET, .name = "sink",
	.sq_esize = sizeof(struct pvio_desc), .cq_esize = sizeof(struct pvio_cpl),
};

static struct {
	enum { M_TX, M_RX, M_LAT } mode;
	bool be_poll;
	uint32_t frame;
	uint32_t nslots;
	int cpu_g, cpu_b;
	volatile int stop;
	/* backend */
	struct pvbe_guest g;
	struct pvbe_dev dev;
	int kick_efd[2];
	uint64_t be_wakeups;
	/* guest */
	struct pvfront_queue fq[2];
	uint8_t *ram;
	uint64_t ram_size;
} s;

static uint8_t sink_buf[65536 + 64];

static void setup(void)
{
	unsigned long rb = pvio_ring_bytes(s.nslots, 16);
	unsigned int i;
	uint8_t *win;

	s.ram_size = 2ull * s.nslots * BUF_SIZE + 4096;
	s.ram = aligned_alloc(4096, s.ram_size);
	win = aligned_alloc(4096, 4 * rb);
	if (!s.ram || !win)
		abort();
	memset(s.ram, 0, s.ram_size);
	s.g.mem.fd = -1;
	s.g.mem.base = s.ram;
	s.g.mem.file_size = s.ram_size;
	s.g.mem.nregions = 1;
	s.g.mem.r[0].gpa = 0;
	s.g.mem.r[0].size = s.ram_size;
	s.g.mem.r[0].file_off = 0;
	s.dev.g = &s.g;
	s.dev.ops = &sink_ops;
	snprintf(s.dev.tag, sizeof(s.dev.tag), "sink/n0");
	s.dev.nqueues = 2;
	for (i = 0; i < 2; i++) {
		struct pvbe_queue *q = &s.dev.q[i];
		struct pvfront_queue *fq = &s.fq[i];

		q->dev = &s.dev;
		q->index = i;
		q->vector = i + 1;
		q->sq_mem = win + (2 * i) * rb;
		q->cq_mem = win + (2 * i + 1) * rb;
		q->sq_size = q->cq_size = s.nslots;
		pvio_ring_shared_init(q->sq_mem, 0);
		pvio_ring_shared_init(q->cq_mem, 0);
		pvbe_queue_init(q);
		if (pvbe_queue_start(q))
			abort();
		s.kick_efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		irq_efd[i] = eventfd(0, EFD_CLOEXEC);
		if (pvio_ring_attach(&fq->sq, q->sq_mem, s.nslots, 16, true) ||
		    pvio_ring_attach(&fq->cq, q->cq_mem, s.nslots, 16, false))
			abort();
		fq->index = i;
		fq->vector = i + 1;
		fq->kick_fd = s.kick_efd[i];
		fq->irq_fd = irq_efd[i];
		/* The guest polls: no interrupts. */
		pvio_ring_cons_disarm(&fq->cq);
	}
}

/* Backend: one request of queue @i; false when the SQ is empty. */
static bool be_one(unsigned int i)
{
	struct pvbe_queue *q = &s.dev.q[i];
	struct pvio_cpl cpl = { 0 };
	struct pvbe_req req;
	uint32_t left, n;
	unsigned int k;
	int r;

	if (pvbe_queue_cq_space(q) <= 0)
		return false;
	r = pvbe_queue_pop(q, &req);
	if (r < 0)
		abort();
	if (r == 0)
		return false;
	cpl.id = pvio_cpu_to_le16(req.id);
	if (i == TX) {
		/* Take the packet into a private buffer and drop it. */
		left = req.in_bytes < sizeof(sink_buf) ? req.in_bytes : sizeof(sink_buf);
		for (k = 0, n = 0; k < req.nslots && left; k++) {
			uint32_t len = pvio_le32_to_cpu(req.d[k].len);

			if (len > left)
				len = left;
			memcpy(sink_buf + n, req.buf[k], len);
			n += len;
			left -= len;
		}
		q->st.packets++;
	} else {
		/* A frame from private memory into the guest's rx buffer. */
		n = HDR_LEN + s.frame;
		if (req.nslots != 1 || req.out_bytes < n) {
			cpl.status = pvio_cpu_to_le32(PVIO_S_INVAL);
		} else {
			memcpy(req.buf[0], sink_buf, n);
			cpl.len = pvio_cpu_to_le32(n);
		}
	}
	pvbe_queue_post(q, &cpl);
	return true;
}

/* Backend, lat mode: answer each tx packet with one rx packet. */
static bool be_echo(void)
{
	struct pvbe_queue *rq = &s.dev.q[RX];

	if (pvio_ring_cons_avail(&s.dev.q[TX].sq, 1) <= 0)
		return false;
	/* An rx buffer must be there first, or the reply would be lost. */
	if (pvio_ring_cons_avail(&rq->sq, 1) <= 0)
		return false;
	be_one(TX);
	pvbe_queue_flush(&s.dev.q[TX]);
	be_one(RX);
	pvbe_queue_flush(rq);
	return true;
}

static void *backend(void *arg)
{
	struct pollfd p[2] = {
		{ .fd = s.kick_efd[0], .events = POLLIN },
		{ .fd = s.kick_efd[1], .events = POLLIN },
	};
	unsigned int qi = s.mode == M_RX ? RX : TX, budget;
	uint64_t v;
	bool busy;

	(void)arg;
	bench_pin(s.cpu_b);
	memset(sink_buf, 0, HDR_LEN);
	memset(sink_buf + HDR_LEN, 0xff, 6);
	if (s.be_poll) {
		/* A polling backend wants no doorbells. */
		pvio_ring_cons_disarm(&s.dev.q[RX].sq);
		pvio_ring_cons_disarm(&s.dev.q[TX].sq);
	}
	while (!s.stop) {
		if (s.mode == M_LAT) {
			busy = be_echo();
		} else {
			/* pviod's net path: a budget of 256 per turn, then flush. */
			for (budget = 0; budget < 256 && be_one(qi); budget++)
				;
			busy = budget > 0;
			pvbe_queue_flush(&s.dev.q[qi]);
		}
		if (busy)
			continue;
		if (s.be_poll) {
			bench_relax();
			continue;
		}
		/* Arm, re-check, sleep on the doorbell(s), as pviod does. */
		if ((s.mode == M_LAT || qi == TX) && pvbe_queue_arm(&s.dev.q[TX]) != 0)
			continue;
		if ((s.mode == M_LAT || qi == RX) && pvbe_queue_arm(&s.dev.q[RX]) != 0)
			continue;
		if (poll(p, 2, 100) > 0) {
			s.be_wakeups++;
			/* Nonblocking: whichever rang; the other answers EAGAIN. */
			if (read(p[0].fd, &v, sizeof(v)) < 0)
				v = 0;
			if (read(p[1].fd, &v, sizeof(v)) < 0)
				v = 0;
		}
	}
	return NULL;
}

static int post(struct pvfront_queue *q, uint64_t gpa, uint32_t len, unsigned int id,
		bool writable)
{
	struct pvio_desc d = {
		.addr = pvio_cpu_to_le64(gpa),
		.len = pvio_cpu_to_le32(len),
		.id = pvio_cpu_to_le16((uint16_t)id),
		.flags = pvio_cpu_to_le16(writable ? PVIO_DESC_F_WRITE : 0),
	};

	return pvfront_submit(q, &d, 1);
}

static uint64_t gpa_of(unsigned int qi, unsigned int id)
{
	return 4096 + ((uint64_t)qi * s.nslots + id) * BUF_SIZE;
}

/* Guest, tx or rx flood: resubmit every completion at once. */
static void guest_flood(double secs)
{
	unsigned int qi = s.mode == M_RX ? RX : TX, i;
	struct pvfront_queue *q = &s.fq[qi];
	uint32_t len = qi == TX ? HDR_LEN + s.frame : BUF_SIZE;
	uint64_t start, end, pkts = 0, kicks0;
	struct pvio_cpl cpl[256];
	int n;

	for (i = 0; i < s.nslots; i++) {
		uint8_t *b = s.ram + gpa_of(qi, i);

		if (qi == TX)
			memset(b + HDR_LEN, 0xff, 6);
		if (post(q, gpa_of(qi, i), len, i, qi == RX))
			abort();
	}
	pvfront_kick(q);
	kicks0 = q->kicks;
	start = bench_ns();
	end = start + (uint64_t)(secs * 1e9);
	while (bench_ns() < end) {
		n = pvfront_reap(q, cpl, 256);
		if (n < 0)
			abort();
		if (n == 0) {
			bench_relax();
			continue;
		}
		for (i = 0; i < (unsigned int)n; i++) {
			unsigned int id = pvio_le16_to_cpu(cpl[i].id);

			if (id >= s.nslots || cpl[i].status)
				abort();
			if (post(q, gpa_of(qi, id), len, id, qi == RX))
				abort();
		}
		pkts += (unsigned int)n;
		pvfront_kick(q);
	}
	secs = (bench_ns() - start) * 1e-9;
	printf("pps %.0f gbps %.3f kicks_per_pkt %.4f irqs_per_pkt 0 be_wakeups_per_pkt %.4f\n",
	       pkts / secs, pkts * (double)s.frame * 8 / secs / 1e9,
	       pkts ? (double)(q->kicks - kicks0) / pkts : 0,
	       pkts ? (double)s.be_wakeups / pkts : 0);
}

static void guest_lat(unsigned int count)
{
	struct pvio_cpl cpl[64];
	struct bench_lat lat;
	unsigned int i, k;
	int n;

	if (bench_lat_init(&lat, count))
		abort();
	for (i = 0; i < s.nslots; i++)
		if (post(&s.fq[RX], gpa_of(RX, i), BUF_SIZE, i, true))
			abort();
	pvfront_kick(&s.fq[RX]);
	for (k = 0; k < count + 1000; k++) {
		uint64_t t0 = bench_ns();
		bool got = false, sent = false;

		if (post(&s.fq[TX], gpa_of(TX, 0), HDR_LEN + s.frame, 0, false))
			abort();
		pvfront_kick(&s.fq[TX]);
		while (!got || !sent) {
			if (!got) {
				n = pvfront_reap(&s.fq[RX], cpl, 64);
				if (n < 0)
					abort();
				for (i = 0; i < (unsigned int)n; i++) {
					unsigned int id = pvio_le16_to_cpu(cpl[i].id);

					if (post(&s.fq[RX], gpa_of(RX, id), BUF_SIZE, id, true))
						abort();
				}
				if (n > 0) {
					got = true;
					if (k >= 1000)
						bench_lat_add(&lat, bench_ns() - t0);
					pvfront_kick(&s.fq[RX]);
				}
			}
			if (!sent) {
				n = pvfront_reap(&s.fq[TX], cpl, 64);
				if (n < 0)
					abort();
				sent = n > 0;
			}
			if (!got || !sent)
				bench_relax();
		}
	}
	bench_lat_sort(&lat);
	printf("rtt_us_p50 %.2f rtt_us_p99 %.2f rtt_us_mean %.2f lost 0\n",
	       bench_lat_pct(&lat, 50), bench_lat_pct(&lat, 99), bench_lat_mean(&lat));
	bench_lat_free(&lat);
}

int main(int argc, char **argv)
{
	unsigned int count = 100000;
	double secs = 3;
	pthread_t th;
	int opt;

	s.frame = 64;
	s.nslots = 1024;
	s.cpu_b = 1;
	while ((opt = getopt(argc, argv, "m:b:t:n:w:q:c:")) != -1) {
		switch (opt) {
		case 'm':
			if (!strcmp(optarg, "tx"))
				s.mode = M_TX;
			else if (!strcmp(optarg, "rx"))
				s.mode = M_RX;
			else if (!strcmp(optarg, "lat"))
				s.mode = M_LAT;
			else
				goto usage;
			break;
		case 'b': s.frame = (uint32_t)atoi(optarg); break;
		case 't': secs = atof(optarg); break;
		case 'n': count = (unsigned int)atoi(optarg); break;
		case 'w': s.be_poll = !strcmp(optarg, "poll"); break;
		case 'q': s.nslots = (uint32_t)atoi(optarg); break;
		case 'c':
			if (sscanf(optarg, "%d,%d", &s.cpu_g, &s.cpu_b) != 2)
				goto usage;
			break;
		default: goto usage;
		}
	}
	if (s.frame < 60 || s.frame > BUF_SIZE - HDR_LEN || !pvio_ring_size_valid(s.nslots, 16) ||
	    secs <= 0 || !count)
		goto usage;
	bench_pin(s.cpu_g);
	setup();
	if (pthread_create(&th, NULL, backend, NULL))
		return 1;
	if (s.mode == M_LAT)
		guest_lat(count);
	else
		guest_flood(secs);
	s.stop = 1;
	pthread_join(th, NULL);
	return 0;
usage:
	fprintf(stderr, "usage: net_sink -m tx|rx|lat [-b BYTES] [-t SEC] [-n COUNT] [-w poll|sleep] [-q SLOTS] [-c cpuG,cpuB]\n");
	return 2;
}
