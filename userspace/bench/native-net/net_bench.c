// SPDX-License-Identifier: GPL-2.0
/*
 * net_bench - the pvio net path measured natively: libpvio-front plays the
 * guest on one core, pviod's net backend runs on the other.  One mode per
 * run; run.sh starts pviod (in a network namespace of its own, so the TAP
 * and what it carries stay private), the peers and the traffic generator,
 * and prints the comparison.
 *
 *   -m tx   send frames of -b bytes (Ethernet, no FCS; broadcast to an
 *           unused EtherType, so the kernel behind the TAP drops each one
 *           right after taking it) on the tx queue as fast as the ring takes
 *           them for -t seconds; every completion is resubmitted at once
 *   -m rx   keep the rx queue stocked with 2 KiB buffers and count the
 *           frames that arrive for -t seconds (net_gen injects them)
 *   -m lat  request/response: an ICMP echo request to -A (the TAP's
 *           address) goes out on tx, the kernel's reply comes back on rx;
 *           -n round trips, one at a time; p50/p99 of the round trip.
 *           -E: the backend reflects frames (net = null, null_rx = echo):
 *           the request itself is the answer
 *
 * The guest polls its completion rings (no interrupts), as DPDK's PMDs do;
 * -i makes it sleep on its interrupt eventfds instead.
 * Output: one line "pps P gbps G kicks_per_pkt K irqs_per_pkt I" (tx, rx)
 * or "rtt_us_p50 A rtt_us_p99 B rtt_us_mean C" (lat).
 *
 * Usage: net_bench -s SOCK -m tx|rx|lat [-b BYTES] [-t SEC] [-n COUNT] [-i]
 *                  [-A IP -M MAC] [-E]   (lat: the TAP's address and our MAC)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvio_front.h"
#include "bench_util.h"

#define RAM_SIZE	(64u << 20)
#define BUF_SIZE	2048u
#define HDR_LEN		((uint32_t)sizeof(struct pvio_net_hdr))
#define ETHERTYPE_BENCH	0x88b5		/* IEEE local experimental */

struct ctx {
	struct pvfront f;
	struct pvfront_queue *rxq, *txq;
	unsigned int nbuf;		/* buffers per queue */
	uint8_t *rxbuf, *txbuf;
	uint64_t rxgpa, txgpa;
	bool irq;
	bool echo;			/* lat: our request comes back as is */
};

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

/* Reap up to @max completions of @q, waiting as configured.  <0: error. */
static int reap(struct ctx *c, struct pvfront_queue *q, struct pvio_cpl *cpl,
		unsigned int max, uint64_t deadline)
{
	int n;

	for (;;) {
		n = pvfront_reap(q, cpl, max);
		if (n != 0)
			return n;
		if (bench_ns() >= deadline)
			return 0;
		if (!c->irq) {
			bench_relax();
			continue;
		}
		n = pvfront_wait(q, 100);
		if (n < 0 && n != -ETIMEDOUT)
			return n;
	}
}

static void report(double secs, uint64_t pkts, uint64_t bytes, uint64_t kicks,
		   uint64_t irqs)
{
	printf("pps %.0f gbps %.3f kicks_per_pkt %.4f irqs_per_pkt %.4f\n",
	       pkts / secs, bytes * 8 / secs / 1e9,
	       pkts ? (double)kicks / pkts : 0, pkts ? (double)irqs / pkts : 0);
}

static int run_tx(struct ctx *c, uint32_t frame, double secs)
{
	struct pvfront_queue *q = c->txq;
	struct pvio_cpl cpl[256];
	uint64_t start, end, pkts = 0, kicks0, irqs0;
	unsigned int i;
	int n, ret;

	for (i = 0; i < c->nbuf; i++) {
		uint8_t *b = c->txbuf + (size_t)i * BUF_SIZE;

		memset(b, 0, HDR_LEN + frame);
		memset(b + HDR_LEN, 0xff, 6);			/* broadcast */
		memcpy(b + HDR_LEN + 6, "\x02\x00\x00\x00\x00\x01", 6);
		b[HDR_LEN + 12] = ETHERTYPE_BENCH >> 8;
		b[HDR_LEN + 13] = ETHERTYPE_BENCH & 0xff;
		ret = post(q, c->txgpa + (uint64_t)i * BUF_SIZE, HDR_LEN + frame, i, false);
		if (ret)
			return ret;
	}
	pvfront_kick(q);
	kicks0 = q->kicks;
	irqs0 = q->irqs;
	start = bench_ns();
	end = start + (uint64_t)(secs * 1e9);
	while (bench_ns() < end) {
		n = reap(c, q, cpl, 256, end);
		if (n < 0)
			return n;
		for (i = 0; i < (unsigned int)n; i++) {
			unsigned int id = pvio_le16_to_cpu(cpl[i].id);

			if (id >= c->nbuf || pvio_le32_to_cpu(cpl[i].status) != PVIO_S_OK) {
				fprintf(stderr, "net_bench: tx completion id %u status %u\n", id,
					pvio_le32_to_cpu(cpl[i].status));
				return -EIO;
			}
			ret = post(q, c->txgpa + (uint64_t)id * BUF_SIZE, HDR_LEN + frame, id,
				   false);
			if (ret)
				return ret;
		}
		pkts += (unsigned int)n;
		pvfront_kick(q);
	}
	report((bench_ns() - start) * 1e-9, pkts, pkts * frame, q->kicks - kicks0,
	       q->irqs - irqs0);
	return 0;
}

static int run_rx(struct ctx *c, double secs)
{
	struct pvfront_queue *q = c->rxq;
	struct pvio_cpl cpl[256];
	uint64_t start = 0, end, last = 0, pkts = 0, bytes = 0, kicks0 = 0, irqs0 = 0;
	unsigned int i;
	int n, ret;

	for (i = 0; i < c->nbuf; i++) {
		ret = post(q, c->rxgpa + (uint64_t)i * BUF_SIZE, BUF_SIZE, i, true);
		if (ret)
			return ret;
	}
	pvfront_kick(q);
	/* The clock starts with the first frame: the generator starts later. */
	end = bench_ns() + 30000000000ull;
	while (bench_ns() < end) {
		n = reap(c, q, cpl, 256, end);
		if (n < 0)
			return n;
		if (n > 0 && !start) {
			start = bench_ns();
			end = start + (uint64_t)(secs * 1e9);
			kicks0 = q->kicks;
			irqs0 = q->irqs;
		}
		for (i = 0; i < (unsigned int)n; i++) {
			unsigned int id = pvio_le16_to_cpu(cpl[i].id);
			uint32_t len = pvio_le32_to_cpu(cpl[i].len);

			if (id >= c->nbuf || pvio_le32_to_cpu(cpl[i].status) != PVIO_S_OK ||
			    len < HDR_LEN || len > BUF_SIZE) {
				fprintf(stderr, "net_bench: rx completion id %u status %u len %u\n",
					id, pvio_le32_to_cpu(cpl[i].status), len);
				return -EIO;
			}
			bytes += len - HDR_LEN;
			ret = post(q, c->rxgpa + (uint64_t)id * BUF_SIZE, BUF_SIZE, id, true);
			if (ret)
				return ret;
		}
		if (n > 0) {
			pkts += (unsigned int)n;
			last = bench_ns();
			pvfront_kick(q);
		}
	}
	if (!start) {
		fprintf(stderr, "net_bench: rx: nothing arrived\n");
		return -ETIMEDOUT;
	}
	report((last - start) * 1e-9, pkts, bytes, q->kicks - kicks0, q->irqs - irqs0);
	return 0;
}

static uint16_t csum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t s = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		s += (uint32_t)b[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* An ICMP echo request from @src (MAC @mac) to @dst, sequence @seq. */
static uint32_t build_ping(uint8_t *f, const uint8_t mac[6], uint32_t src, uint32_t dst,
			   uint16_t seq)
{
	uint8_t *ip = f + 14, *icmp = ip + 20;
	const uint32_t payload = 56;
	uint16_t v;

	memset(f, 0, 14 + 20 + 8 + payload);
	memset(f, 0xff, 6);	/* the kernel takes a broadcast MAC as well */
	memcpy(f + 6, mac, 6);
	f[12] = 0x08;
	ip[0] = 0x45;
	v = htons(20 + 8 + payload);
	memcpy(ip + 2, &v, 2);
	ip[8] = 64;
	ip[9] = IPPROTO_ICMP;
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	v = htons(csum(ip, 20));
	memcpy(ip + 10, &v, 2);
	icmp[0] = 8;
	v = htons(0x5076);
	memcpy(icmp + 4, &v, 2);
	v = htons(seq);
	memcpy(icmp + 6, &v, 2);
	v = htons(csum(icmp, 8 + payload));
	memcpy(icmp + 2, &v, 2);
	return 14 + 20 + 8 + payload;
}

static int run_lat(struct ctx *c, unsigned int count, const char *dst_s, const char *mac_s)
{
	struct pvio_cpl cpl[64];
	struct bench_lat lat;
	struct in_addr dst;
	uint8_t mac[6];
	uint32_t src, flen;
	unsigned int i, k, posted = 0, lost = 0;
	int n, ret;

	if (!dst_s || !mac_s || !inet_aton(dst_s, &dst) ||
	    sscanf(mac_s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2],
		   &mac[3], &mac[4], &mac[5]) != 6)
		return -EINVAL;
	src = htonl(ntohl(dst.s_addr) + 1);
	if (bench_lat_init(&lat, count))
		return -ENOMEM;
	for (i = 0; i < c->nbuf; i++) {
		ret = post(c->rxq, c->rxgpa + (uint64_t)i * BUF_SIZE, BUF_SIZE, i, true);
		if (ret)
			goto out;
	}
	pvfront_kick(c->rxq);
	for (k = 0; k < count + 100; k++) {
		uint8_t *b = c->txbuf + (size_t)(k % c->nbuf) * BUF_SIZE;
		uint64_t t0, deadline;
		bool got = false, sent = false;

		memset(b, 0, HDR_LEN);
		flen = build_ping(b + HDR_LEN, mac, src, dst.s_addr, (uint16_t)k);
		t0 = bench_ns();
		ret = post(c->txq, c->txgpa + (uint64_t)(k % c->nbuf) * BUF_SIZE,
			   HDR_LEN + flen, k % c->nbuf, false);
		if (ret)
			goto out;
		posted++;
		pvfront_kick(c->txq);
		deadline = t0 + 1000000000ull;
		while (!got && bench_ns() < deadline) {
			if (!sent) {
				n = pvfront_reap(c->txq, cpl, 64);
				if (n < 0) {
					ret = n;
					goto out;
				}
				sent = n > 0;
			}
			n = c->irq ? reap(c, c->rxq, cpl, 64, deadline) :
				     pvfront_reap(c->rxq, cpl, 64);
			if (n < 0) {
				ret = n;
				goto out;
			}
			for (i = 0; i < (unsigned int)n; i++) {
				unsigned int id = pvio_le16_to_cpu(cpl[i].id);
				uint8_t *f;

				if (id >= c->nbuf)
					return -EIO;
				f = c->rxbuf + (size_t)id * BUF_SIZE + HDR_LEN;
				/* An echo reply (or, -E, request) with our sequence number. */
				if (f[12] == 0x08 && f[13] == 0 && f[14 + 9] == IPPROTO_ICMP &&
				    f[34] == (c->echo ? 8 : 0) && (unsigned int)((f[40] << 8) | f[41]) == (k & 0xffff))
					got = true;
				ret = post(c->rxq, c->rxgpa + (uint64_t)id * BUF_SIZE, BUF_SIZE,
					   id, true);
				if (ret)
					goto out;
			}
			if (n > 0)
				pvfront_kick(c->rxq);
			else if (!c->irq)
				bench_relax();
		}
		if (!got)
			lost++;
		else if (k >= 100)	/* warm-up: the neighbour entry, caches */
			bench_lat_add(&lat, bench_ns() - t0);
		/* The tx completion, if it was not reaped yet. */
		while (!sent && bench_ns() < deadline + 1000000000ull) {
			n = pvfront_reap(c->txq, cpl, 64);
			if (n < 0) {
				ret = n;
				goto out;
			}
			sent = n > 0;
		}
	}
	bench_lat_sort(&lat);
	printf("rtt_us_p50 %.2f rtt_us_p99 %.2f rtt_us_mean %.2f lost %u\n",
	       bench_lat_pct(&lat, 50), bench_lat_pct(&lat, 99), bench_lat_mean(&lat), lost);
	ret = lost > count / 10 ? -ETIMEDOUT : 0;
out:
	bench_lat_free(&lat);
	return ret;
}

static int setup(struct ctx *c, const char *sock)
{
	struct pvfront_dev *d;
	unsigned int index;
	int ret;

	ret = pvfront_connect(&c->f, sock, RAM_SIZE);
	if (ret)
		return ret;
	ret = pvfront_wait_ready(&c->f, 5000);
	if (ret)
		return ret;
	if (!pvfront_find(&c->f, PVIO_DEV_NET, 0, &index))
		return -ENODEV;
	/* No offloads: plain frames, one buffer per packet. */
	ret = pvfront_dev_setup(&c->f, index, 0, 2, &d);
	if (ret)
		return ret;
	c->rxq = &d->q[0];
	c->txq = &d->q[1];
	c->nbuf = pvio_ring_nslots(&c->txq->sq);
	if (pvio_ring_nslots(&c->rxq->sq) < c->nbuf)
		c->nbuf = pvio_ring_nslots(&c->rxq->sq);
	c->rxbuf = pvfront_alloc(&c->f, (size_t)c->nbuf * BUF_SIZE, 4096, &c->rxgpa);
	c->txbuf = pvfront_alloc(&c->f, (size_t)c->nbuf * BUF_SIZE, 4096, &c->txgpa);
	if (!c->rxbuf || !c->txbuf)
		return -ENOMEM;
	if (!c->irq) {
		pvio_ring_cons_disarm(&c->rxq->cq);
		pvio_ring_cons_disarm(&c->txq->cq);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *mode = NULL, *ip = NULL, *mac = NULL;
	unsigned int bytes = 64, count = 10000;
	double secs = 3;
	static struct ctx c;
	int opt, ret;

	while ((opt = getopt(argc, argv, "s:m:b:t:n:iA:M:E")) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'm': mode = optarg; break;
		case 'b': bytes = (unsigned int)atoi(optarg); break;
		case 't': secs = atof(optarg); break;
		case 'n': count = (unsigned int)atoi(optarg); break;
		case 'i': c.irq = true; break;
		case 'A': ip = optarg; break;
		case 'M': mac = optarg; break;
		case 'E': c.echo = true; break;
		default: goto usage;
		}
	}
	if (!sock || !mode || bytes < 60 || bytes > BUF_SIZE - HDR_LEN || secs <= 0 || !count)
		goto usage;
	ret = setup(&c, sock);
	if (ret) {
		fprintf(stderr, "net_bench: setup: %s\n", strerror(-ret));
		return 1;
	}
	if (!strcmp(mode, "tx"))
		ret = run_tx(&c, bytes, secs);
	else if (!strcmp(mode, "rx"))
		ret = run_rx(&c, secs);
	else if (!strcmp(mode, "lat"))
		ret = run_lat(&c, count, ip, mac);
	else
		goto usage;
	if (ret)
		fprintf(stderr, "net_bench: %s: %s\n", mode, strerror(-ret));
	pvfront_close(&c.f);
	return ret ? 1 : 0;
usage:
	fprintf(stderr, "usage: net_bench -s SOCK -m tx|rx|lat [-b BYTES] [-t SEC] [-n COUNT] [-i] [-A IP -M MAC] [-E]\n");
	return 2;
}
