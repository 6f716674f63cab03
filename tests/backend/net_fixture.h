/* SPDX-License-Identifier: GPL-2.0 */
/*
 * net_fixture.h - the fixture of the net tests (net_test.c,
 * net_offload_test.c, net_null_test.c) and the helpers they share: a
 * network namespace of the test's own with pviod started in it, the
 * guest's device, an AF_PACKET socket on pviod's TAP, test frames both
 * ways.  Each test binary includes it once.
 */
#ifndef PVIO_NET_FIXTURE_H
#define PVIO_NET_FIXTURE_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pvio_front.h"
#include "kselftest_harness.h"
#include "test_util.h"

#define RAM_SIZE	(16u << 20)
#define ETHERTYPE_TEST	0x88b5		/* IEEE local experimental */
#define HDR		((unsigned int)sizeof(struct pvio_net_hdr))
#define BUF_LEN		2048u
#define NBUF		32

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t peer_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

/* A counter of queue @q in a "status" answer, or -1. */
static inline long long queue_counter(const char *json, unsigned int q, const char *key)
{
	char pat[48];
	const char *p;

	snprintf(pat, sizeof(pat), "{\"index\":%u,", q);
	p = strstr(json, pat);
	if (!p)
		return -1;
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(p, pat);
	return p ? atoll(p + strlen(pat)) : -1;
}

FIXTURE(net) {
	char ns[32], tap[16];
	char dir[64], cfg[96], log[96], sock[96], ctl[96];
	pid_t pid;
	int sanitizer_report;		/* seen when pviod was stopped mid-test */
	int pkt;			/* AF_PACKET socket on the TAP, in the ns */
	bool ns_made;
	struct pvfront f;
	struct pvfront_dev *d;
	struct pvio_net_config *config;
	unsigned int index;
	uint64_t ram;			/* guest RAM; 0: RAM_SIZE */
	const char *guest_extra;	/* keys for [guest g], or NULL */
	uint8_t *bufs;			/* rx buffers (guest RAM) */
	uint64_t bufs_gpa;
	uint8_t *txb;			/* tx buffers */
	uint64_t txb_gpa;
};

FIXTURE_SETUP(net)
{
	self->pid = -1;
	self->pkt = -1;
}

FIXTURE_TEARDOWN(net)
{
	char cmd[160];

	if (self->pkt >= 0)
		close(self->pkt);
	pvfront_close(&self->f);
	if (pviod_stop(&self->pid, self->log) || self->sanitizer_report)
		_metadata->passed = 0;
	if (self->ns_made)
		sh("ip netns del %s", self->ns);
	if (self->dir[0] && !getenv("PVIO_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
		(void)system(cmd);
	}
}

/* An AF_PACKET socket bound to @ifname inside namespace @ns. */
static inline int ns_packet_socket(const char *ns, const char *ifname)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	char path[64];
	int self_ns, target, s = -1, rcvbuf = 8 << 20;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	self_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	target = open(path, O_RDONLY | O_CLOEXEC);
	if (self_ns < 0 || target < 0 || setns(target, CLONE_NEWNET) < 0)
		goto out;
	s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETHERTYPE_TEST));
	sll.sll_protocol = htons(ETHERTYPE_TEST);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (s >= 0 && (!sll.sll_ifindex ||
		       bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0)) {
		close(s);
		s = -1;
	}
	if (s >= 0)
		setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	if (setns(self_ns, CLONE_NEWNET) < 0) {
		perror("setns back");
		exit(1);
	}
out:
	if (self_ns >= 0)
		close(self_ns);
	if (target >= 0)
		close(target);
	return s;
}

/* Make the namespace (and the SKIP when we cannot). */
static inline int make_ns(struct __test_metadata *_metadata, FIXTURE_DATA(net) *self)
{
	if (geteuid() != 0)
		SKIP(return -1, "needs root for network namespaces and TAP devices");
	snprintf(self->ns, sizeof(self->ns), "pvnt-%d", (int)getpid());
	snprintf(self->tap, sizeof(self->tap), "pvnt%d", (int)getpid() % 1000000);
	if (sh("ip netns add %s 2>/dev/null", self->ns))
		SKIP(return -1, "cannot create a network namespace (ip netns add)");
	self->ns_made = true;
	/* No IPv6 chatter (DAD, MLD) on the TAP: only our frames. */
	sh("ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1",
	   self->ns);
	strcpy(self->dir, "/tmp/pvio-nettest-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->cfg, sizeof(self->cfg), "%s/pviod.ini", self->dir);
	snprintf(self->log, sizeof(self->log), "%s/pviod.log", self->dir);
	snprintf(self->sock, sizeof(self->sock), "%s/g.sock", self->dir);
	snprintf(self->ctl, sizeof(self->ctl), "%s/control.sock", self->dir);
	return 0;
}

/* Start pviod inside the namespace; 0, or -1 if it exited (config error). */
static inline int start_pviod(struct __test_metadata *_metadata, FIXTURE_DATA(net) *self,
			      unsigned int queues, const char *extra)
{
	FILE *f;

	f = fopen(self->cfg, "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "[pviod]\ncontrol = %s\nheartbeat_ms = 50\n\n[guest g]\nsocket = %s\n%s\n"
		"[device g n0]\ntype = net\n", self->ctl, self->sock,
		self->guest_extra ? self->guest_extra : "");
	/* net = null has no TAP: an @extra that starts with it names its own keys. */
	if (!extra || strncmp(extra, "net = null", 10))
		fprintf(f, "tap = %s\n", self->tap);
	fprintf(f, "queues = %u\nqueue_size = 64\n%s", queues, extra ? extra : "");
	fclose(f);
	self->pid = pviod_start_in(self->ns, self->cfg, self->log, self->ctl);
	return self->pid > 0 ? 0 : -1;
}

static inline struct pvio_net_config *net_config(struct pvfront *f, struct pvio_dev_desc *dd)
{
	return (struct pvio_net_config *)((char *)f->win + pvio_le32_to_cpu(dd->config_off));
}

/* Connect the frontend and run the device with @features and @nq queues. */
static inline void guest_up(struct __test_metadata *_metadata, FIXTURE_DATA(net) *self,
			    uint64_t features, unsigned int nq)
{
	struct pvio_dev_desc *dd;

	ASSERT_EQ(0, pvfront_connect(&self->f, self->sock, self->ram ? self->ram : RAM_SIZE));
	ASSERT_EQ(0, pvfront_wait_ready(&self->f, 5000));
	dd = pvfront_find(&self->f, PVIO_DEV_NET, 0, &self->index);
	ASSERT_NE(NULL, dd);
	self->config = net_config(&self->f, dd);
	ASSERT_EQ(0, pvfront_dev_setup(&self->f, self->index, features, nq, &self->d));
	self->bufs = pvfront_alloc(&self->f, (size_t)NBUF * BUF_LEN * 2, 4096, &self->bufs_gpa);
	self->txb = pvfront_alloc(&self->f, 70000 * 2, 4096, &self->txb_gpa);
	ASSERT_NE(NULL, self->bufs);
	ASSERT_NE(NULL, self->txb);
}

/* Everything most tests need: namespace, pviod, guest, packet socket. */
static inline int net_up(struct __test_metadata *_metadata, FIXTURE_DATA(net) *self,
			 unsigned int queues, const char *extra, uint64_t features,
			 unsigned int nq)
{
	if (make_ns(_metadata, self))
		return -1;
	ASSERT_EQ(0, start_pviod(_metadata, self, queues, extra));
	guest_up(_metadata, self, features, nq);
	self->pkt = ns_packet_socket(self->ns, self->tap);
	ASSERT_LE(0, self->pkt);
	return 0;
}

/* A test frame: dst, src, our ethertype, 2-byte sequence, pattern. */
static inline size_t make_frame(uint8_t *b, const uint8_t *dst, const uint8_t *src,
				unsigned int seq, size_t len)
{
	size_t i;

	memcpy(b, dst, 6);
	memcpy(b + 6, src, 6);
	b[12] = ETHERTYPE_TEST >> 8;
	b[13] = ETHERTYPE_TEST & 0xff;
	b[14] = (uint8_t)(seq >> 8);
	b[15] = (uint8_t)seq;
	for (i = 16; i < len; i++)
		b[i] = (uint8_t)(seq * 31 + i);
	return len;
}

/* The next test frame the TAP hands the host (ours only), or -1 on timeout. */
static inline ssize_t host_recv(int s, uint8_t *buf, size_t len, int timeout_ms)
{
	struct pollfd p = { .fd = s, .events = POLLIN };
	struct sockaddr_ll from;
	socklen_t fl;
	ssize_t n;

	for (;;) {
		if (poll(&p, 1, timeout_ms) != 1)
			return -1;
		fl = sizeof(from);
		n = recvfrom(s, buf, len, MSG_TRUNC, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return -1;
		if (from.sll_pkttype != PACKET_OUTGOING)
			return n;
	}
}

static inline int host_send(int s, const uint8_t *frame, size_t len)
{
	return send(s, frame, len, 0) == (ssize_t)len ? 0 : -1;
}

/* One completion from @q within @ms, or -1. */
static inline int reap_one(struct pvfront_queue *q, struct pvio_cpl *c, int ms)
{
	int n, waited = 0;

	for (;;) {
		n = pvfront_reap(q, c, 1);
		if (n)
			return n == 1 ? 0 : -1;
		if (waited >= ms)
			return -1;
		pvfront_wait(q, 20);
		waited += 20;
	}
}

/* Transmit [hdr][frame] as a chain of @nseg readable segments. */
static inline int guest_tx(FIXTURE_DATA(net) *self, struct pvfront_queue *q,
			   const struct pvio_net_hdr *h, const uint8_t *frame, size_t len,
			   unsigned int nseg, uint16_t id)
{
	struct pvio_desc d[8];
	size_t total = HDR + len, off = 0, per;
	unsigned int i;

	memcpy(self->txb, h, HDR);
	memcpy(self->txb + HDR, frame, len);
	/* First segment 5 bytes: the header straddles segments. */
	per = nseg > 1 ? (total - 5) / (nseg - 1) : total;
	for (i = 0; i < nseg; i++) {
		size_t l = i == 0 && nseg > 1 ? 5 : (i == nseg - 1 ? total - off : per);

		d[i].addr = pvio_cpu_to_le64(self->txb_gpa + off);
		d[i].len = pvio_cpu_to_le32((uint32_t)l);
		d[i].id = pvio_cpu_to_le16(id);
		d[i].flags = pvio_cpu_to_le16(i < nseg - 1 ? PVIO_DESC_F_NEXT : 0);
		off += l;
	}
	if (pvfront_submit(q, d, nseg))
		return -1;
	pvfront_kick(q);
	return 0;
}

/* Post rx buffer @i (BUF_LEN bytes) as two writable segments split at 7. */
static inline int post_rx(FIXTURE_DATA(net) *self, struct pvfront_queue *q, unsigned int i,
			  uint32_t len)
{
	uint64_t gpa = self->bufs_gpa + (uint64_t)i * BUF_LEN;
	struct pvio_desc d[2] = {
		{ pvio_cpu_to_le64(gpa), pvio_cpu_to_le32(7), pvio_cpu_to_le16(i),
		  pvio_cpu_to_le16(PVIO_DESC_F_WRITE | PVIO_DESC_F_NEXT) },
		{ pvio_cpu_to_le64(gpa + 7), pvio_cpu_to_le32(len - 7), pvio_cpu_to_le16(i),
		  pvio_cpu_to_le16(PVIO_DESC_F_WRITE) },
	};

	int waited = 0;

	memset(self->bufs + (size_t)i * BUF_LEN, 0xee, len);
	/* A full SQ drains as pviod takes chains into its rx FIFO. */
	while (pvfront_submit(q, d, 2)) {
		if (waited++ == 2000)
			return -1;
		pvfront_kick(q);
		msleep(1);
	}
	pvfront_kick(q);
	return 0;
}

static const struct pvio_net_hdr plain_hdr;

/* Until pviod runs the device with exactly @nq queues (control socket). */
static inline int wait_running(FIXTURE_DATA(net) *self, unsigned int nq)
{
	char json[65536], pat[48];
	int i;

	for (i = 0; i < 300; i++) {
		if (!control(self->ctl, "status g n0", json, sizeof(json)) &&
		    strstr(json, "\"state\":\"running\"")) {
			/* Queue nq, if the device has one, is not running. */
			snprintf(pat, sizeof(pat), "{\"index\":%u,", nq);
			if (!strstr(json, pat))
				return 0;
			snprintf(pat, sizeof(pat), "{\"index\":%u,\"vector\":%u,\"running\":false",
				 nq, nq + 1);
			if (strstr(json, pat))
				return 0;
		}
		msleep(10);
	}
	return -1;
}

/* net = null: namespace (for start_pviod), pviod, guest; no TAP. */
static inline int null_up(struct __test_metadata *_metadata, FIXTURE_DATA(net) *self,
			  const char *extra)
{
	if (make_ns(_metadata, self))
		return -1;
	ASSERT_EQ(0, start_pviod(_metadata, self, 2, extra));
	guest_up(_metadata, self, 0, 2);
	return 0;
}

/* CPU time (ticks) the process @pid has used. */
static inline long cpu_ticks(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	p = p ? strrchr(buf, ')') : NULL;
	if (!p || sscanf(p, ") %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

#endif /* PVIO_NET_FIXTURE_H */
