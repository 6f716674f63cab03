// SPDX-License-Identifier: GPL-2.0
/*
 * net_test - pviod's net device driven natively by libpvio-front, against
 * a real TAP inside a network namespace this test creates (and deletes):
 * frames written to a tx queue come out of the TAP, frames sent into the
 * TAP land in posted rx buffers with the right header, malformed chains
 * get their status, oversized packets are dropped without losing the
 * buffer, checksum and TCP segmentation offloads pass through both ways
 * (and a guest that does not take them gets MTU-sized, checksummed
 * segments), with MRG_RXBUF a 64 KiB GSO packet spreads over consecutive
 * rx buffers (and waits in pviod while too few are posted), the link
 * follows the control socket, unused queue pairs give
 * up their TAP queue, the TAP survives a worker crash, and a clean
 * shutdown removes only a TAP pviod made.  Without a TAP (net = null), tx
 * frames come back intact on rx (null_rx = echo) or every rx buffer gets
 * the configured frame (null_rx = BYTES); busy-poll mode (poll = yes)
 * serves the same traffic without a single doorbell.
 *
 * The host end of the wire is an AF_PACKET socket opened inside the
 * namespace.  No traffic leaves it.  Needs root (CAP_NET_ADMIN); skipped
 * otherwise.  Runs the ASan/UBSan build of pviod (PVIOD, default
 * build/pviod-san).
 */
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

/* First line of a command's output, or "" */
static void sh_out(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void sh_out(char *out, size_t len, const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	out[0] = '\0';
	p = popen(cmd, "r");
	if (!p)
		return;
	if (!fgets(out, (int)len, p))
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	pclose(p);
}

/* A counter of queue @q in a "status" answer, or -1. */
static long long queue_counter(const char *json, unsigned int q, const char *key)
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
static int ns_packet_socket(const char *ns, const char *ifname)
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
static int make_ns(struct __test_metadata *_metadata, FIXTURE_DATA(net) *self)
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
static int start_pviod(struct __test_metadata *_metadata, FIXTURE_DATA(net) *self,
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

/* Mid-test stop; a sanitizer report still fails the test at teardown. */
static void stop_pviod(FIXTURE_DATA(net) *self)
{
	self->sanitizer_report |= pviod_stop(&self->pid, self->log);
}

static struct pvio_net_config *net_config(struct pvfront *f, struct pvio_dev_desc *dd)
{
	return (struct pvio_net_config *)((char *)f->win + pvio_le32_to_cpu(dd->config_off));
}

/* Connect the frontend and run the device with @features and @nq queues. */
static void guest_up(struct __test_metadata *_metadata, FIXTURE_DATA(net) *self,
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
static int net_up(struct __test_metadata *_metadata, FIXTURE_DATA(net) *self,
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
static size_t make_frame(uint8_t *b, const uint8_t *dst, const uint8_t *src,
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
static ssize_t host_recv(int s, uint8_t *buf, size_t len, int timeout_ms)
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

static int host_send(int s, const uint8_t *frame, size_t len)
{
	return send(s, frame, len, 0) == (ssize_t)len ? 0 : -1;
}

/* One completion from @q within @ms, or -1. */
static int reap_one(struct pvfront_queue *q, struct pvio_cpl *c, int ms)
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
static int guest_tx(FIXTURE_DATA(net) *self, struct pvfront_queue *q,
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
static int post_rx(FIXTURE_DATA(net) *self, struct pvfront_queue *q, unsigned int i,
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

/* A writable segment of an rx chain. */
static void fill_desc_w(struct pvio_desc *d, uint64_t gpa, uint32_t len, uint16_t id,
			bool more)
{
	d->addr = pvio_cpu_to_le64(gpa);
	d->len = pvio_cpu_to_le32(len);
	d->id = pvio_cpu_to_le16(id);
	d->flags = pvio_cpu_to_le16(PVIO_DESC_F_WRITE | (more ? PVIO_DESC_F_NEXT : 0));
}

/* Until pviod runs the device with exactly @nq queues (control socket). */
static int wait_running(FIXTURE_DATA(net) *self, unsigned int nq)
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

TEST_F(net, config_area_and_features_describe_the_device)
{
	uint64_t host;
	char mtu[32];

	if (net_up(_metadata, self, 4, "mac = 52:54:00:ab:cd:ef\nmtu = 1400\nmax_mtu = 4000\n",
		   0, 2))
		return;
	host = pvio_le64_to_cpu(self->d->desc->host_features);
	EXPECT_EQ(0, memcmp(self->config->mac, "\x52\x54\x00\xab\xcd\xef", 6));
	EXPECT_EQ(PVIO_NET_S_LINK_UP, pvio_le16_to_cpu(self->config->status));
	EXPECT_EQ(2, pvio_le16_to_cpu(self->config->max_queue_pairs));
	EXPECT_EQ(1400, pvio_le16_to_cpu(self->config->mtu));
	EXPECT_EQ(68, pvio_le16_to_cpu(self->config->min_mtu));
	EXPECT_EQ(4000, pvio_le16_to_cpu(self->config->max_mtu));
	EXPECT_EQ(12 + 1400 + 18, pvio_le32_to_cpu(self->config->rx_buf_len));
	EXPECT_TRUE(host & (1ull << PVIO_NET_F_MQ));
	EXPECT_TRUE(host & (1ull << PVIO_NET_F_CSUM));
	EXPECT_TRUE(host & (1ull << PVIO_NET_F_GUEST_TSO4));
	EXPECT_TRUE(host & (1ull << PVIO_NET_F_STATUS));
	EXPECT_TRUE(host & (1ull << PVIO_NET_F_MRG_RXBUF));
	EXPECT_FALSE(host & (1ull << PVIO_NET_F_HOST_USO));
	/* The host side takes max_mtu. */
	sh_out(mtu, sizeof(mtu), "ip netns exec %s cat /sys/class/net/%s/mtu", self->ns, self->tap);
	EXPECT_STREQ("4000", mtu);
}

TEST_F(net, tx_frame_reaches_the_tap_unchanged)
{
	struct pvfront_queue *tx;
	uint8_t frame[1514], got[2048];
	struct pvio_cpl c;
	unsigned int seg;
	ssize_t n;

	if (net_up(_metadata, self, 2, NULL, 0, 2))
		return;
	tx = &self->d->q[1];
	for (seg = 1; seg <= 4; seg++) {
		size_t len = make_frame(frame, bcast, self->config->mac, seg, 60 + seg * 300);

		ASSERT_EQ(0, guest_tx(self, tx, &plain_hdr, frame, len, seg, (uint16_t)seg));
		ASSERT_EQ(0, reap_one(tx, &c, 2000));
		EXPECT_EQ(seg, pvio_le16_to_cpu(c.id));
		EXPECT_EQ(PVIO_S_OK, pvio_le32_to_cpu(c.status));
		EXPECT_EQ(0, pvio_le32_to_cpu(c.len));
		n = host_recv(self->pkt, got, sizeof(got), 2000);
		if (n != (ssize_t)len || memcmp(got, frame, len))
			fprintf(stderr, "# %u segments: expected %zu bytes, got %zd%s\n", seg,
				len, n, n == (ssize_t)len ? " with other content" : "");
		EXPECT_EQ((ssize_t)len, n);
		EXPECT_EQ(0, memcmp(got, frame, len));
	}
}

TEST_F(net, rx_frame_lands_in_posted_buffer_with_header)
{
	struct pvfront_queue *rx;
	struct pvio_net_hdr h;
	uint8_t frame[1514];
	struct pvio_cpl c;
	unsigned int i, id;
	size_t len;

	if (net_up(_metadata, self, 2, NULL, 0, 2))
		return;
	rx = &self->d->q[0];
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, post_rx(self, rx, i, BUF_LEN));
	for (i = 0; i < 8; i++) {
		len = make_frame(frame, self->config->mac, peer_mac, i, 60 + i * 150);
		ASSERT_EQ(0, host_send(self->pkt, frame, len));
		ASSERT_EQ(0, reap_one(rx, &c, 2000));
		id = pvio_le16_to_cpu(c.id);
		ASSERT_LT(id, 4);
		EXPECT_EQ(PVIO_S_OK, pvio_le32_to_cpu(c.status));
		EXPECT_EQ(HDR + len, pvio_le32_to_cpu(c.len));
		memcpy(&h, self->bufs + (size_t)id * BUF_LEN, HDR);
		EXPECT_EQ(1, pvio_le16_to_cpu(h.num_buffers));
		EXPECT_EQ(0, h.flags);		/* no GUEST_CSUM: no DATA_VALID */
		EXPECT_EQ(PVIO_NET_GSO_NONE, h.gso_type);
		EXPECT_EQ(0, memcmp(self->bufs + (size_t)id * BUF_LEN + HDR, frame, len));
		/* Nothing written past the packet. */
		EXPECT_EQ(0xee, self->bufs[(size_t)id * BUF_LEN + HDR + len]);
		ASSERT_EQ(0, post_rx(self, rx, id, BUF_LEN));
	}
}

TEST_F(net, packet_too_big_for_rx_buffer_is_dropped_and_buffer_reused)
{
	struct pvfront_queue *rx;
	uint8_t frame[1514];
	char json[65536];
	struct pvio_cpl c;
	size_t len;

	if (net_up(_metadata, self, 2, NULL, 0, 2))
		return;
	rx = &self->d->q[0];
	ASSERT_EQ(0, post_rx(self, rx, 0, HDR + 200));
	/* 1000 bytes cannot fit: dropped, counted, the buffer stays posted. */
	len = make_frame(frame, self->config->mac, peer_mac, 1, 1000);
	ASSERT_EQ(0, host_send(self->pkt, frame, len));
	EXPECT_NE(0, reap_one(rx, &c, 300));
	len = make_frame(frame, self->config->mac, peer_mac, 2, 200);
	ASSERT_EQ(0, host_send(self->pkt, frame, len));
	ASSERT_EQ(0, reap_one(rx, &c, 2000));
	EXPECT_EQ(0, pvio_le16_to_cpu(c.id));
	EXPECT_EQ(HDR + 200, pvio_le32_to_cpu(c.len));
	EXPECT_EQ(0, memcmp(self->bufs + HDR, frame, len));
	/* A packet that fills the buffer exactly is not a truncation. */
	ASSERT_EQ(0, post_rx(self, rx, 1, HDR + 200));
	ASSERT_EQ(0, host_send(self->pkt, frame, len));
	ASSERT_EQ(0, reap_one(rx, &c, 2000));
	EXPECT_EQ(1, pvio_le16_to_cpu(c.id));
	ASSERT_EQ(0, control(self->ctl, "status g n0", json, sizeof(json)));
	EXPECT_EQ(1, queue_counter(json, 0, "drops"));
	EXPECT_EQ(2, queue_counter(json, 0, "packets"));
	EXPECT_TRUE(log_contains(self->log, "does not fit the guest's 212-byte buffer"));
}

TEST_F(net, malformed_tx_completes_with_error_status)
{
	struct pvfront_queue *tx;
	struct pvio_net_hdr h;
	uint8_t frame[1514];
	struct pvio_desc d[2];
	struct pvio_cpl c;
	size_t len;

	if (net_up(_metadata, self, 2, NULL, 0, 2))
		return;
	tx = &self->d->q[1];
	len = make_frame(frame, bcast, self->config->mac, 1, 100);

	/* A writable segment in a tx chain. */
	memcpy(self->txb, &plain_hdr, HDR);
	memcpy(self->txb + HDR, frame, len);
	d[0] = (struct pvio_desc){ pvio_cpu_to_le64(self->txb_gpa), pvio_cpu_to_le32(HDR + 50),
				   pvio_cpu_to_le16(1), pvio_cpu_to_le16(PVIO_DESC_F_NEXT) };
	d[1] = (struct pvio_desc){ pvio_cpu_to_le64(self->txb_gpa + HDR + 50),
				   pvio_cpu_to_le32(50), pvio_cpu_to_le16(1),
				   pvio_cpu_to_le16(PVIO_DESC_F_WRITE) };
	ASSERT_EQ(0, pvfront_submit(tx, d, 2));
	pvfront_kick(tx);
	ASSERT_EQ(0, reap_one(tx, &c, 2000));
	EXPECT_EQ(PVIO_S_INVAL, pvio_le32_to_cpu(c.status));

	/* Shorter than header + Ethernet header. */
	ASSERT_EQ(0, guest_tx(self, tx, &plain_hdr, frame, 13, 1, 2));
	ASSERT_EQ(0, reap_one(tx, &c, 2000));
	EXPECT_EQ(2, pvio_le16_to_cpu(c.id));
	EXPECT_EQ(PVIO_S_INVAL, pvio_le32_to_cpu(c.status));

	/* Offloads the guest did not accept (features 0 here). */
	memset(&h, 0, sizeof(h));
	h.flags = PVIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = pvio_cpu_to_le16(34);
	h.csum_offset = pvio_cpu_to_le16(16);
	ASSERT_EQ(0, guest_tx(self, tx, &h, frame, len, 1, 3));
	ASSERT_EQ(0, reap_one(tx, &c, 2000));
	EXPECT_EQ(PVIO_S_UNSUPP, pvio_le32_to_cpu(c.status));
	memset(&h, 0, sizeof(h));
	h.gso_type = PVIO_NET_GSO_TCPV4;
	h.gso_size = pvio_cpu_to_le16(1448);
	ASSERT_EQ(0, guest_tx(self, tx, &h, frame, len, 1, 4));
	ASSERT_EQ(0, reap_one(tx, &c, 2000));
	EXPECT_EQ(PVIO_S_UNSUPP, pvio_le32_to_cpu(c.status));

	/* None of it reached the host; a good frame still does. */
	ASSERT_EQ(0, guest_tx(self, tx, &plain_hdr, frame, len, 2, 5));
	ASSERT_EQ(0, reap_one(tx, &c, 2000));
	EXPECT_EQ(PVIO_S_OK, pvio_le32_to_cpu(c.status));
	{
		uint8_t got[2048];
		ssize_t n = host_recv(self->pkt, got, sizeof(got), 2000);

		EXPECT_EQ((ssize_t)len, n);
		EXPECT_EQ(1, got[15]);
	}
	/* The device is still fine. */
	EXPECT_EQ(0, pvfront_device_state(self->d) & PVIO_DEV_S_BROKEN);
}

TEST_F(net, rx_chain_with_readable_segment_completes_with_inval)
{
	struct pvfront_queue *rx;
	struct pvio_desc d = { 0 };
	struct pvio_cpl c;
	uint8_t frame[100];

	if (net_up(_metadata, self, 2, NULL, 0, 2))
		return;
	rx = &self->d->q[0];
	d.addr = pvio_cpu_to_le64(self->bufs_gpa);
	d.len = pvio_cpu_to_le32(BUF_LEN);
	d.id = pvio_cpu_to_le16(9);
	ASSERT_EQ(0, pvfront_submit(rx, &d, 1));
	pvfront_kick(rx);
	ASSERT_EQ(0, reap_one(rx, &c, 2000));
	EXPECT_EQ(9, pvio_le16_to_cpu(c.id));
	EXPECT_EQ(PVIO_S_INVAL, pvio_le32_to_cpu(c.status));
	/* Too small for any frame. */
	d.len = pvio_cpu_to_le32(HDR + 10);
	d.flags = pvio_cpu_to_le16(PVIO_DESC_F_WRITE);
	d.id = pvio_cpu_to_le16(10);
	ASSERT_EQ(0, pvfront_submit(rx, &d, 1));
	pvfront_kick(rx);
	ASSERT_EQ(0, reap_one(rx, &c, 2000));
	EXPECT_EQ(10, pvio_le16_to_cpu(c.id));
	EXPECT_EQ(PVIO_S_INVAL, pvio_le32_to_cpu(c.status));
	/* Good buffers still work. */
	ASSERT_EQ(0, post_rx(self, rx, 1, BUF_LEN));
	ASSERT_EQ(0, host_send(self->pkt, frame,
			       make_frame(frame, bcast, peer_mac, 7, sizeof(frame))));
	ASSERT_EQ(0, reap_one(rx, &c, 2000));
	EXPECT_EQ(1, pvio_le16_to_cpu(c.id));
	EXPECT_EQ(PVIO_S_OK, pvio_le32_to_cpu(c.status));
}

TEST_F(net, many_frames_both_ways_under_budget)
{
	struct pvfront_queue *rx, *tx;
	uint8_t frame[1514], got[2048];
	struct pvio_cpl c[64];
	unsigned int i, sent = 0, recvd = 0, bad = 0, done = 0;
	int n, k, idle = 0;
	const unsigned int total = 3000;

	if (net_up(_metadata, self, 2, NULL, 0, 2))
		return;
	rx = &self->d->q[0];
	tx = &self->d->q[1];
	for (i = 0; i < NBUF; i++)
		ASSERT_EQ(0, post_rx(self, rx, i, BUF_LEN));
	/* Host -> guest in bursts the TAP queue (500) can hold. */
	while (recvd < total && idle < 100) {
		for (i = 0; i < 16 && sent < total && sent - recvd < 200; i++, sent++)
			ASSERT_EQ(0, host_send(self->pkt, frame,
					       make_frame(frame, self->config->mac, peer_mac,
							  sent, 60 + sent % 1400)));
		n = pvfront_reap(rx, c, 64);
		ASSERT_LE(0, n);
		for (k = 0; k < n; k++) {
			unsigned int id = pvio_le16_to_cpu(c[k].id);
			uint8_t *b = self->bufs + (size_t)id * BUF_LEN + HDR;
			unsigned int seq = (unsigned int)b[14] << 8 | b[15];

			if (c[k].status || seq != (recvd & 0xffff) ||
			    pvio_le32_to_cpu(c[k].len) != HDR + 60 + recvd % 1400)
				bad++;
			recvd++;
			ASSERT_EQ(0, post_rx(self, rx, id, BUF_LEN));
		}
		if (n == 0) {
			pvfront_wait(rx, 20);
			idle++;
		} else {
			idle = 0;
		}
	}
	fprintf(stderr, "# host->guest: %u sent, %u received in order, %u bad\n", sent, recvd, bad);
	EXPECT_EQ(total, recvd);
	EXPECT_EQ(0, bad);

	/* Guest -> host: one chain in flight at a time is enough here. */
	for (i = 0, recvd = 0, bad = 0; i < total; i++) {
		size_t len = make_frame(frame, bcast, self->config->mac, i, 60 + i % 1400);
		ssize_t r;

		ASSERT_EQ(0, guest_tx(self, tx, &plain_hdr, frame, len, 1 + i % 3,
				      (uint16_t)i));
		ASSERT_EQ(0, reap_one(tx, c, 2000));
		done += !c[0].status;
		r = host_recv(self->pkt, got, sizeof(got), 2000);
		if (r != (ssize_t)len || memcmp(got, frame, len))
			bad++;
		recvd += r > 0;
	}
	fprintf(stderr, "# guest->host: %u completed OK, %u received, %u bad\n", done, recvd, bad);
	EXPECT_EQ(total, done);
	EXPECT_EQ(total, recvd);
	EXPECT_EQ(0, bad);
}

/* ---- offloads: TCP frames with checksum and GSO metadata ---------------- */

#define IPV4_SRC	"\x0a\x63\x00\x01"	/* 10.99.0.1: never routed */
#define IPV4_DST	"\x0a\x63\x00\x02"
#define TCP_HLEN	54u			/* Ethernet + IPv4 + TCP */

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* TCP checksum of an IPv4/TCP frame as it is: 0 when valid. */
static uint16_t tcp_csum(const uint8_t *f, size_t len)
{
	uint8_t pseudo[12];
	size_t tl = len - 34;

	memcpy(pseudo, f + 26, 8);
	pseudo[8] = 0;
	pseudo[9] = 6;
	pseudo[10] = (uint8_t)(tl >> 8);
	pseudo[11] = (uint8_t)tl;
	return (uint16_t)~csum_fold(csum_add(csum_add(0, pseudo, 12), f + 34, tl));
}

/*
 * An Ethernet/IPv4/TCP frame with @payload pattern bytes from sequence
 * number @seq.  The TCP checksum field holds the pseudo-header sum only
 * (what a sender using checksum offload leaves there).
 */
static size_t make_tcp(uint8_t *f, const uint8_t *dst, const uint8_t *src,
		       size_t payload, uint32_t seq)
{
	uint8_t *ip = f + 14, *th = f + 34, pseudo[12];
	size_t i, tl = 20 + payload;

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[2] = (uint8_t)((20 + tl) >> 8);
	ip[3] = (uint8_t)(20 + tl);
	ip[6] = 0x40;			/* DF */
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, IPV4_SRC, 4);
	memcpy(ip + 16, IPV4_DST, 4);
	i = (uint16_t)~csum_fold(csum_add(0, ip, 20));
	ip[10] = (uint8_t)(i >> 8);
	ip[11] = (uint8_t)i;
	memset(th, 0, 20);
	th[0] = 40000 >> 8;
	th[1] = 40000 & 0xff;
	th[2] = 5001 >> 8;
	th[3] = 5001 & 0xff;
	th[4] = (uint8_t)(seq >> 24);
	th[5] = (uint8_t)(seq >> 16);
	th[6] = (uint8_t)(seq >> 8);
	th[7] = (uint8_t)seq;
	th[11] = 1;			/* ack 1 */
	th[12] = 5 << 4;
	th[13] = 0x18;			/* PSH, ACK */
	th[14] = 0xff;
	th[15] = 0xff;
	for (i = 0; i < payload; i++)
		f[TCP_HLEN + i] = (uint8_t)((seq + i) * 13 + 7);
	memcpy(pseudo, IPV4_SRC, 4);
	memcpy(pseudo + 4, IPV4_DST, 4);
	pseudo[8] = 0;
	pseudo[9] = 6;
	pseudo[10] = (uint8_t)(tl >> 8);
	pseudo[11] = (uint8_t)tl;
	i = csum_fold(csum_add(0, pseudo, 12));
	th[16] = (uint8_t)(i >> 8);
	th[17] = (uint8_t)i;
	return TCP_HLEN + payload;
}

/* Checksum offload plus TCPv4 segmentation offload, as Linux writes it. */
static void tso_hdr(struct pvio_net_hdr *h, unsigned int mss)
{
	memset(h, 0, sizeof(*h));
	h->flags = PVIO_NET_HDR_F_NEEDS_CSUM;
	h->gso_type = PVIO_NET_GSO_TCPV4;
	h->hdr_len = pvio_cpu_to_le16(TCP_HLEN);
	h->gso_size = pvio_cpu_to_le16(mss);
	h->csum_start = pvio_cpu_to_le16(34);
	h->csum_offset = pvio_cpu_to_le16(16);
}

/* An IPv4 packet socket in the namespace that carries vnet headers. */
static int ns_vnet_socket(FIXTURE_DATA(net) *self)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	char path[64];
	int self_ns, target, s = -1, one = 1, rcvbuf = 8 << 20;

	snprintf(path, sizeof(path), "/run/netns/%s", self->ns);
	self_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	target = open(path, O_RDONLY | O_CLOEXEC);
	if (self_ns >= 0 && target >= 0 && setns(target, CLONE_NEWNET) == 0) {
		s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(0x0800));
		sll.sll_protocol = htons(0x0800);
		sll.sll_ifindex = (int)if_nametoindex(self->tap);
		if (s >= 0 && (setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) ||
			       bind(s, (struct sockaddr *)&sll, sizeof(sll)))) {
			close(s);
			s = -1;
		}
		if (s >= 0)
			setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
		if (setns(self_ns, CLONE_NEWNET) < 0)
			exit(1);
	}
	if (self_ns >= 0)
		close(self_ns);
	if (target >= 0)
		close(target);
	return s;
}

#define TSO_PAYLOAD	20000u
#define PVNET_TEST_MIN_RX	26u		/* Ethernet header: the smallest rx chain */

TEST_F(net, guest_tso_and_csum_offload_reach_the_host_as_gso)
{
	static uint8_t frame[TCP_HLEN + TSO_PAYLOAD], got[70000];
	struct pvfront_queue *tx;
	struct pvio_net_hdr h, vh;
	struct pvio_cpl c;
	size_t len;
	ssize_t n;
	int vs;

	if (net_up(_metadata, self, 2, NULL,
		   (1ull << PVIO_NET_F_CSUM) | (1ull << PVIO_NET_F_HOST_TSO4), 2))
		return;
	vs = ns_vnet_socket(self);
	ASSERT_LE(0, vs);
	tx = &self->d->q[1];
	len = make_tcp(frame, peer_mac, self->config->mac, TSO_PAYLOAD, 1000);
	tso_hdr(&h, 1448);
	ASSERT_EQ(0, guest_tx(self, tx, &h, frame, len, 3, 1));
	ASSERT_EQ(0, reap_one(tx, &c, 2000));
	EXPECT_EQ(PVIO_S_OK, pvio_le32_to_cpu(c.status));
	/* The host stack gets one 20 KB GSO packet, metadata intact. */
	n = host_recv(vs, got, sizeof(got), 2000);
	ASSERT_EQ((ssize_t)(10 + len), n);
	memcpy(&vh, got, 10);
	EXPECT_EQ(PVIO_NET_GSO_TCPV4, vh.gso_type & ~PVIO_NET_GSO_ECN);
	EXPECT_EQ(1448, pvio_le16_to_cpu(vh.gso_size));
	EXPECT_EQ(PVIO_NET_HDR_F_NEEDS_CSUM, vh.flags & PVIO_NET_HDR_F_NEEDS_CSUM);
	EXPECT_EQ(34, pvio_le16_to_cpu(vh.csum_start));
	EXPECT_EQ(16, pvio_le16_to_cpu(vh.csum_offset));
	EXPECT_EQ(0, memcmp(got + 10 + TCP_HLEN, frame + TCP_HLEN, TSO_PAYLOAD));
	close(vs);
}

TEST_F(net, host_gso_reaches_the_guest_whole_only_if_it_takes_tso)
{
	static uint8_t frame[TCP_HLEN + TSO_PAYLOAD], vframe[10 + TCP_HLEN + TSO_PAYLOAD];
	struct pvfront_queue *rx;
	struct pvio_net_hdr h, gh;
	struct pvio_desc d;
	struct pvio_cpl c;
	uint8_t *big;
	uint64_t big_gpa;
	uint32_t seq, want = 1000, segs = 0, bad = 0;
	size_t len;
	int vs, k;

	if (net_up(_metadata, self, 2, NULL,
		   (1ull << PVIO_NET_F_GUEST_CSUM) | (1ull << PVIO_NET_F_GUEST_TSO4), 2))
		return;
	vs = ns_vnet_socket(self);
	ASSERT_LE(0, vs);
	rx = &self->d->q[0];
	big = pvfront_alloc(&self->f, 65536, 4096, &big_gpa);
	ASSERT_NE(NULL, big);
	d = (struct pvio_desc){ pvio_cpu_to_le64(big_gpa), pvio_cpu_to_le32(65536),
				pvio_cpu_to_le16(77), pvio_cpu_to_le16(PVIO_DESC_F_WRITE) };
	ASSERT_EQ(0, pvfront_submit(rx, &d, 1));
	pvfront_kick(rx);
	len = make_tcp(frame, self->config->mac, peer_mac, TSO_PAYLOAD, 1000);
	tso_hdr(&h, 1448);
	memcpy(vframe, &h, 10);
	memcpy(vframe + 10, frame, len);
	ASSERT_EQ((ssize_t)(10 + len), send(vs, vframe, 10 + len, 0));
	/* GUEST_TSO4 accepted: one large packet with its GSO header. */
	ASSERT_EQ(0, reap_one(rx, &c, 2000));
	EXPECT_EQ(77, pvio_le16_to_cpu(c.id));
	EXPECT_EQ(HDR + len, pvio_le32_to_cpu(c.len));
	memcpy(&gh, big, HDR);
	EXPECT_EQ(PVIO_NET_GSO_TCPV4, gh.gso_type);
	EXPECT_EQ(1448, pvio_le16_to_cpu(gh.gso_size));
	EXPECT_TRUE(gh.flags & PVIO_NET_HDR_F_NEEDS_CSUM);
	EXPECT_EQ(1, pvio_le16_to_cpu(gh.num_buffers));
	EXPECT_EQ(0, memcmp(big + HDR + TCP_HLEN, frame + TCP_HLEN, TSO_PAYLOAD));

	/* Without TSO and checksum offload: MTU-sized, checksummed segments. */
	ASSERT_EQ(0, pvfront_dev_reset(self->d, 3000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f, self->index, 0, 2, &self->d));
	ASSERT_EQ(0, wait_running(self, 2));
	rx = &self->d->q[0];
	for (k = 0; k < NBUF; k++)
		ASSERT_EQ(0, post_rx(self, rx, k, BUF_LEN));
	ASSERT_EQ((ssize_t)(10 + len), send(vs, vframe, 10 + len, 0));
	while (want < 1000 + TSO_PAYLOAD && !reap_one(rx, &c, 2000)) {
		unsigned int id = pvio_le16_to_cpu(c.id);
		uint8_t *b = self->bufs + (size_t)id * BUF_LEN;
		size_t flen = pvio_le32_to_cpu(c.len) - HDR;

		memcpy(&gh, b, HDR);
		b += HDR;
		seq = (uint32_t)b[38] << 24 | (uint32_t)b[39] << 16 | (uint32_t)b[40] << 8 | b[41];
		if (gh.flags || gh.gso_type || flen > 1514 || seq != want ||
		    tcp_csum(b, flen) != 0 ||
		    memcmp(b + TCP_HLEN, frame + TCP_HLEN + (seq - 1000), flen - TCP_HLEN))
			bad++;
		want = seq + (uint32_t)(flen - TCP_HLEN);
		segs++;
		ASSERT_EQ(0, post_rx(self, rx, id, BUF_LEN));
	}
	fprintf(stderr, "# without TSO: %u segments, %u bad, payload up to %u of %u\n", segs,
		bad, want - 1000, TSO_PAYLOAD);
	EXPECT_EQ(1000 + TSO_PAYLOAD, want);
	EXPECT_EQ((TSO_PAYLOAD + 1447) / 1448, segs);
	EXPECT_EQ(0, bad);
	close(vs);
}

/* ---- MRG_RXBUF: one packet over several rx buffers ---------------------- */

#define MRG_FEATURES	((1ull << PVIO_NET_F_GUEST_CSUM) | (1ull << PVIO_NET_F_GUEST_TSO4) | \
			 (1ull << PVIO_NET_F_MRG_RXBUF))
/* About the largest a host sends: its TAP's gso_max_size is 65536 bytes. */
#define BIG_PAYLOAD	65000u

/*
 * Reap the completions of one merged packet: @first is the id of the
 * buffer it must start in (buffers complete in posting order, ids here are
 * posted in ascending order), every buffer but the last full (@buf_len),
 * and (@tail) nothing written past the packet in the last one.  Copies
 * header and frame into @pkt; returns the packet's length, header
 * included, with the buffer count in *@nb, or -1 (printed why).
 */
static ssize_t mrg_reap(FIXTURE_DATA(net) *self, struct pvfront_queue *rx, unsigned int first,
			uint32_t buf_len, bool tail, uint8_t *pkt, size_t cap, unsigned int *nb)
{
	struct pvio_net_hdr h;
	struct pvio_cpl c;
	unsigned int k, want = 1, id;
	size_t off = 0;
	uint32_t len;

	for (k = 0; k < want; k++) {
		if (reap_one(rx, &c, 2000)) {
			fprintf(stderr, "# buffer %u of %u: no completion\n", k + 1, want);
			return -1;
		}
		id = pvio_le16_to_cpu(c.id);
		len = pvio_le32_to_cpu(c.len);
		if (pvio_le32_to_cpu(c.status) != PVIO_S_OK || id != first + k ||
		    len > buf_len || off + len > cap) {
			fprintf(stderr, "# buffer %u: expected id %u, status 0, len <= %u; got id %u, status %u, len %u\n",
				k + 1, first + k, buf_len, id, pvio_le32_to_cpu(c.status), len);
			return -1;
		}
		memcpy(pkt + off, self->bufs + (size_t)id * BUF_LEN, len);
		if (k == 0) {
			memcpy(&h, pkt, HDR);
			want = pvio_le16_to_cpu(h.num_buffers);
			if (!want) {
				fprintf(stderr, "# num_buffers 0\n");
				return -1;
			}
		}
		if (k + 1 < want && len != buf_len) {
			fprintf(stderr, "# buffer %u of %u: expected full (%u bytes), got %u\n",
				k + 1, want, buf_len, len);
			return -1;
		}
		off += len;
	}
	/* Nothing written past the packet in its last buffer. */
	if (tail && len < buf_len && self->bufs[(size_t)id * BUF_LEN + len] != 0xee) {
		fprintf(stderr, "# byte after the packet in buffer %u overwritten\n", id);
		return -1;
	}
	*nb = want;
	return (ssize_t)off;
}

TEST_F(net, mrg_rx_spreads_a_64k_gso_packet_over_consecutive_buffers)
{
	static uint8_t frame[TCP_HLEN + BIG_PAYLOAD], vframe[10 + TCP_HLEN + BIG_PAYLOAD];
	static uint8_t pkt[HDR + TCP_HLEN + BIG_PAYLOAD + BUF_LEN];
	struct pvfront_queue *rx;
	struct pvio_net_hdr h, gh;
	unsigned int k, nb = 0;
	uint8_t small[200];
	size_t len;
	ssize_t n;
	int vs;

	if (net_up(_metadata, self, 2, NULL, MRG_FEATURES, 2))
		return;
	EXPECT_TRUE(pvio_le64_to_cpu(self->d->desc->guest_features) &
		    (1ull << PVIO_NET_F_MRG_RXBUF));
	vs = ns_vnet_socket(self);
	ASSERT_LE(0, vs);
	rx = &self->d->q[0];
	for (k = 0; k < 40; k++)
		ASSERT_EQ(0, post_rx(self, rx, k, BUF_LEN));
	len = make_tcp(frame, self->config->mac, peer_mac, BIG_PAYLOAD, 5000);
	tso_hdr(&h, 1448);
	memcpy(vframe, &h, 10);
	memcpy(vframe + 10, frame, len);
	ASSERT_EQ((ssize_t)(10 + len), send(vs, vframe, 10 + len, 0));
	n = mrg_reap(self, rx, 0, BUF_LEN, true, pkt, sizeof(pkt), &nb);
	fprintf(stderr, "# %zu-byte GSO frame: expected %zu bytes in %zu buffers, got %zd in %u\n",
		len, HDR + len, (HDR + len + BUF_LEN - 1) / BUF_LEN, n, nb);
	ASSERT_EQ((ssize_t)(HDR + len), n);
	EXPECT_EQ((HDR + len + BUF_LEN - 1) / BUF_LEN, nb);
	memcpy(&gh, pkt, HDR);
	EXPECT_EQ(PVIO_NET_GSO_TCPV4, gh.gso_type & ~PVIO_NET_GSO_ECN);
	EXPECT_EQ(1448, pvio_le16_to_cpu(gh.gso_size));
	EXPECT_TRUE(gh.flags & PVIO_NET_HDR_F_NEEDS_CSUM);
	EXPECT_EQ(34, pvio_le16_to_cpu(gh.csum_start));
	EXPECT_EQ(16, pvio_le16_to_cpu(gh.csum_offset));
	EXPECT_EQ(0, memcmp(pkt + HDR, frame, len));

	/* The next frame takes the next buffer, alone. */
	len = make_frame(small, self->config->mac, peer_mac, 3, sizeof(small));
	ASSERT_EQ(0, host_send(self->pkt, small, len));
	n = mrg_reap(self, rx, nb, BUF_LEN, true, pkt, sizeof(pkt), &k);
	EXPECT_EQ((ssize_t)(HDR + len), n);
	EXPECT_EQ(1, k);
	EXPECT_EQ(0, memcmp(pkt + HDR, small, len));
	close(vs);
}

TEST_F(net, mrg_rx_packet_waits_for_enough_buffers_and_bad_chains_stay_inval)
{
	static uint8_t frame[TCP_HLEN + TSO_PAYLOAD], vframe[10 + TCP_HLEN + TSO_PAYLOAD];
	static uint8_t pkt[HDR + TCP_HLEN + TSO_PAYLOAD + BUF_LEN];
	struct pvfront_queue *rx;
	struct pvio_desc d = { 0 };
	struct pvio_net_hdr h;
	struct pvio_cpl c;
	unsigned int k, nb = 0, need;
	uint8_t small[100];
	char json[65536];
	size_t len;
	ssize_t n;
	int vs;

	if (net_up(_metadata, self, 2, NULL, MRG_FEATURES, 2))
		return;
	vs = ns_vnet_socket(self);
	ASSERT_LE(0, vs);
	rx = &self->d->q[0];
	len = make_tcp(frame, self->config->mac, peer_mac, TSO_PAYLOAD, 1000);
	need = (unsigned int)((HDR + len + BUF_LEN - 1) / BUF_LEN);
	for (k = 0; k < 3; k++)
		ASSERT_EQ(0, post_rx(self, rx, k, BUF_LEN));
	tso_hdr(&h, 1448);
	memcpy(vframe, &h, 10);
	memcpy(vframe + 10, frame, len);
	ASSERT_EQ((ssize_t)(10 + len), send(vs, vframe, 10 + len, 0));
	/* 3 buffers cannot hold it: nothing completes, nothing is dropped. */
	EXPECT_NE(0, reap_one(rx, &c, 400));
	for (k = 3; k < need + 2; k++)
		ASSERT_EQ(0, post_rx(self, rx, k, BUF_LEN));
	n = mrg_reap(self, rx, 0, BUF_LEN, true, pkt, sizeof(pkt), &nb);
	fprintf(stderr, "# after posting more: expected %zu bytes in %u buffers, got %zd in %u\n",
		HDR + len, need, n, nb);
	ASSERT_EQ((ssize_t)(HDR + len), n);
	EXPECT_EQ(need, nb);
	EXPECT_EQ(0, memcmp(pkt + HDR, frame, len));
	ASSERT_EQ(0, control(self->ctl, "status g n0", json, sizeof(json)));
	EXPECT_EQ(0, queue_counter(json, 0, "drops"));
	EXPECT_EQ(1, queue_counter(json, 0, "packets"));

	/* A readable chain and a too small one: INVAL, as without MRG_RXBUF. */
	d.addr = pvio_cpu_to_le64(self->bufs_gpa + 60 * BUF_LEN);
	d.len = pvio_cpu_to_le32(BUF_LEN);
	d.id = pvio_cpu_to_le16(60);
	ASSERT_EQ(0, pvfront_submit(rx, &d, 1));
	d.len = pvio_cpu_to_le32(HDR + 10);
	d.flags = pvio_cpu_to_le16(PVIO_DESC_F_WRITE);
	d.id = pvio_cpu_to_le16(61);
	ASSERT_EQ(0, pvfront_submit(rx, &d, 1));
	pvfront_kick(rx);
	for (k = 60; k < 62; k++) {
		ASSERT_EQ(0, reap_one(rx, &c, 2000));
		EXPECT_EQ(k, pvio_le16_to_cpu(c.id));
		EXPECT_EQ(PVIO_S_INVAL, pvio_le32_to_cpu(c.status));
	}
	/* The two good buffers left over take the next frame. */
	len = make_frame(small, self->config->mac, peer_mac, 9, sizeof(small));
	ASSERT_EQ(0, host_send(self->pkt, small, len));
	EXPECT_EQ((ssize_t)(HDR + len), mrg_reap(self, rx, need, BUF_LEN, true, pkt, sizeof(pkt), &nb));
	EXPECT_EQ(1, nb);
	close(vs);
}

TEST_F(net, mrg_rx_packet_larger_than_the_whole_ring_is_dropped_and_buffers_reused)
{
	static uint8_t frame[TCP_HLEN + TSO_PAYLOAD], vframe[10 + TCP_HLEN + TSO_PAYLOAD];
	uint8_t pkt[4096], small[150];
	struct pvfront_queue *rx;
	struct pvio_net_hdr h;
	const uint32_t tiny = HDR + PVNET_TEST_MIN_RX;
	unsigned int k, nb = 0;
	char json[65536];
	size_t len;
	int vs;

	if (net_up(_metadata, self, 2, NULL, MRG_FEATURES, 2))
		return;
	vs = ns_vnet_socket(self);
	ASSERT_LE(0, vs);
	rx = &self->d->q[0];
	/* 64 (queue_size) buffers of 38 bytes: about 2.4 KB in all. */
	for (k = 0; k < 64; k++)
		ASSERT_EQ(0, post_rx(self, rx, k, tiny));
	len = make_tcp(frame, self->config->mac, peer_mac, TSO_PAYLOAD, 1000);
	tso_hdr(&h, 1448);
	memcpy(vframe, &h, 10);
	memcpy(vframe + 10, frame, len);
	ASSERT_EQ((ssize_t)(10 + len), send(vs, vframe, 10 + len, 0));
	len = make_frame(small, self->config->mac, peer_mac, 4, sizeof(small));
	ASSERT_EQ(0, host_send(self->pkt, small, len));
	/*
	 * The big one is dropped; the small one spreads over the first
	 * buffers (past it they hold what pviod read of the big one).
	 */
	EXPECT_EQ((ssize_t)(HDR + len), mrg_reap(self, rx, 0, tiny, false, pkt, sizeof(pkt), &nb));
	EXPECT_EQ((HDR + len + tiny - 1) / tiny, nb);
	EXPECT_EQ(0, memcmp(pkt + HDR, small, len));
	ASSERT_EQ(0, control(self->ctl, "status g n0", json, sizeof(json)));
	EXPECT_EQ(1, queue_counter(json, 0, "drops"));
	EXPECT_TRUE(log_contains(self->log, "needs more than the 64 rx buffers the ring holds"));
	close(vs);
}

/*
 * Act on a reset first (review finding 3): the guest resets the device
 * and reuses its rx buffers while pviod's worker is stopped with a packet
 * waiting in the TAP.  When the worker runs again, the TAP's wake-up must
 * not fill a buffer the guest has taken back: the reset comes first.
 */
TEST_F(net, a_reset_is_acted_on_before_the_tap_wakes_rx)
{
	struct pvfront_queue *rx;
	uint8_t frame[200];
	unsigned int i, bad = 0;
	uint32_t rr;
	int wpid;

	if (net_up(_metadata, self, 2, NULL, 0, 2))
		return;
	rx = &self->d->q[0];
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, post_rx(self, rx, i, BUF_LEN));
	/* pviod holds all four chains and watches the empty TAP. */
	for (i = 0; i < 200 && pvio_le32_to_cpu(pvio_load_acquire(&rx->sq_sh->cons)) !=
			       pvio_le32_to_cpu(rx->sq_sh->prod); i++)
		msleep(10);
	msleep(100);
	wpid = guest_worker_pid(self->ctl, "g");
	ASSERT_LT(0, wpid);
	ASSERT_EQ(0, kill(wpid, SIGSTOP));
	ASSERT_EQ(0, host_send(self->pkt, frame, make_frame(frame, self->config->mac,
							   peer_mac, 1, sizeof(frame))));
	msleep(100);
	/* The guest gives up on the device and reuses its buffers. */
	rr = pvio_le32_to_cpu(self->d->desc->reset_request) + 1;
	pvio_write_once(self->d->desc->driver_status, 0);
	pvio_store_release(&self->d->desc->reset_request, pvio_cpu_to_le32(rr));
	pvfront_kick_config(&self->f);
	memset(self->bufs, 0x5a, 4 * BUF_LEN);
	ASSERT_EQ(0, kill(wpid, SIGCONT));
	for (i = 0; i < 300 && pvio_le32_to_cpu(pvio_load_acquire(&self->d->desc->reset_count)) != rr;
	     i++)
		msleep(10);
	EXPECT_EQ(rr, pvio_le32_to_cpu(self->d->desc->reset_count));
	msleep(300);
	for (i = 0; i < 4 * BUF_LEN; i++)
		bad += self->bufs[i] != 0x5a;
	fprintf(stderr, "# bytes written into buffers the guest had taken back: expected 0, got %u\n",
		bad);
	EXPECT_EQ(0, bad);
}

TEST_F(net, link_follows_control_socket)
{
	struct pvfront_queue *tx = NULL;
	uint8_t frame[100], got[256];
	char json[65536], carrier[16];
	struct pvio_cpl c;
	uint32_t gen;

	if (net_up(_metadata, self, 2, NULL, 0, 2))
		return;
	tx = &self->d->q[1];
	gen = pvio_le32_to_cpu(self->d->desc->config_generation);
	ASSERT_EQ(0, control(self->ctl, "net-link g n0 down", json, sizeof(json)));
	EXPECT_NE(NULL, strstr(json, "\"link\":\"down\""));
	EXPECT_EQ(0, pvio_le16_to_cpu(self->config->status) & PVIO_NET_S_LINK_UP);
	/* A seqlock writer: odd during the change, +2 after it. */
	EXPECT_EQ(gen + 2, pvio_le32_to_cpu(self->d->desc->config_generation));
	sh_out(carrier, sizeof(carrier), "ip netns exec %s cat /sys/class/net/%s/carrier",
	       self->ns, self->tap);
	EXPECT_STREQ("0", carrier);
	/* Link down: tx completes but goes nowhere. */
	ASSERT_EQ(0, guest_tx(self, tx, &plain_hdr, frame,
			      make_frame(frame, bcast, self->config->mac, 1, sizeof(frame)), 1, 1));
	ASSERT_EQ(0, reap_one(tx, &c, 2000));
	EXPECT_EQ(PVIO_S_OK, pvio_le32_to_cpu(c.status));
	EXPECT_EQ(-1, host_recv(self->pkt, got, sizeof(got), 200));

	ASSERT_EQ(0, control(self->ctl, "net-link g n0 up", json, sizeof(json)));
	EXPECT_EQ(PVIO_NET_S_LINK_UP, pvio_le16_to_cpu(self->config->status));
	EXPECT_EQ(gen + 4, pvio_le32_to_cpu(self->d->desc->config_generation));
	sh_out(carrier, sizeof(carrier), "ip netns exec %s cat /sys/class/net/%s/carrier",
	       self->ns, self->tap);
	EXPECT_STREQ("1", carrier);
	ASSERT_EQ(0, guest_tx(self, tx, &plain_hdr, frame,
			      make_frame(frame, bcast, self->config->mac, 2, sizeof(frame)), 1, 2));
	ASSERT_EQ(0, reap_one(tx, &c, 2000));
	EXPECT_EQ((ssize_t)sizeof(frame), host_recv(self->pkt, got, sizeof(got), 2000));
	ASSERT_EQ(0, control(self->ctl, "status g n0", json, sizeof(json)));
	EXPECT_EQ(1, queue_counter(json, 1, "drops"));
	EXPECT_EQ(1, queue_counter(json, 1, "packets"));

	ASSERT_EQ(0, control(self->ctl, "net-link g n0 sideways", json, sizeof(json)));
	EXPECT_NE(NULL, strstr(json, "\"error\""));
	ASSERT_EQ(0, control(self->ctl, "net-link g nosuch down", json, sizeof(json)));
	EXPECT_NE(NULL, strstr(json, "\"error\""));
}

static void two_pairs(struct __test_metadata *_metadata, FIXTURE_DATA(net) *self)
{
	uint8_t frame[200];
	char json[65536];
	struct pvio_cpl c;
	unsigned int i, got = 0;
	int k;

	if (net_up(_metadata, self, 4, NULL, 1ull << PVIO_NET_F_MQ, 4))
		return;
	/* Each tx queue goes to its own TAP queue; both reach the host. */
	for (i = 0; i < 10; i++) {
		struct pvfront_queue *tx = &self->d->q[i % 2 ? 3 : 1];

		ASSERT_EQ(0, guest_tx(self, tx, &plain_hdr, frame,
				      make_frame(frame, bcast, self->config->mac, i, sizeof(frame)),
				      1, (uint16_t)i));
		ASSERT_EQ(0, reap_one(tx, &c, 2000));
		EXPECT_EQ(PVIO_S_OK, pvio_le32_to_cpu(c.status));
		EXPECT_EQ((ssize_t)sizeof(frame), host_recv(self->pkt, frame, sizeof(frame), 2000));
	}
	ASSERT_EQ(0, control(self->ctl, "status g n0", json, sizeof(json)));
	EXPECT_EQ(5, queue_counter(json, 1, "packets"));
	EXPECT_EQ(5, queue_counter(json, 3, "packets"));

	/* The guest now runs one pair only: every host frame reaches it. */
	ASSERT_EQ(0, pvfront_dev_reset(self->d, 3000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f, self->index, 0, 2, &self->d));
	/*
	 * DRIVER_OK has no acknowledgement: wait until pviod has started the
	 * device (and given up TAP queue 1), or frames sent meanwhile follow
	 * the flows learnt above into queue 1 and stay there.
	 */
	ASSERT_EQ(0, wait_running(self, 2));
	for (i = 0; i < NBUF; i++)
		ASSERT_EQ(0, post_rx(self, &self->d->q[0], i, BUF_LEN));
	for (i = 0; i < 32; i++) {
		/* Different source MACs: different flows for the TAP's steering. */
		uint8_t src[6] = { 0x02, 0, 0, 0, (uint8_t)i, (uint8_t)(i * 7) };

		ASSERT_EQ(0, host_send(self->pkt, frame,
				       make_frame(frame, self->config->mac, src, i, sizeof(frame))));
	}
	for (k = 0; k < 100 && got < 32; k++) {
		int n = pvfront_reap(&self->d->q[0], &c, 1);

		if (n == 1)
			got++;
		else
			pvfront_wait(&self->d->q[0], 20);
	}
	fprintf(stderr, "# one pair in use: %u of 32 host frames arrived\n", got);
	EXPECT_EQ(32, got);
}

TEST_F(net, two_pairs_carry_tx_and_unused_pair_gives_up_its_tap_queue)
{
	two_pairs(_metadata, self);
}

/*
 * The same on a worker with two threads: pair 1's queues, its TAP queue
 * and its doorbells are thread 1's; the reset to one pair is the main
 * thread's, which takes pair 1's TAP queue out of thread 1's loop.
 */
TEST_F(net, two_pairs_on_two_threads_and_back_to_one_pair)
{
	self->guest_extra = "threads = 2\n";
	two_pairs(_metadata, self);
	EXPECT_TRUE(log_contains(self->log, "2 thread(s)"));
}

TEST_F(net, worker_crash_keeps_the_tap_and_traffic_resumes)
{
	uint8_t frame[300], got[512];
	char json[65536], idx1[16], idx2[16], *p;
	struct pvio_cpl c;
	int wpid;

	if (net_up(_metadata, self, 2, NULL, 0, 2))
		return;
	sh_out(idx1, sizeof(idx1), "ip netns exec %s cat /sys/class/net/%s/ifindex",
	       self->ns, self->tap);
	ASSERT_EQ(0, control(self->ctl, "net-link g n0 down", json, sizeof(json)));
	ASSERT_EQ(0, control(self->ctl, "list", json, sizeof(json)));
	p = strstr(json, "\"worker_pid\":");
	ASSERT_NE(NULL, p);
	wpid = atoi(p + 13);
	ASSERT_EQ(0, kill(wpid, SIGKILL));
	for (int i = 0; i < 300 && !(pvfront_device_state(self->d) & PVIO_DEV_S_NEEDS_RESET); i++)
		msleep(10);
	ASSERT_TRUE(pvfront_device_state(self->d) & PVIO_DEV_S_NEEDS_RESET);
	/* Same interface (not re-created), and the link stayed down. */
	sh_out(idx2, sizeof(idx2), "ip netns exec %s cat /sys/class/net/%s/ifindex",
	       self->ns, self->tap);
	EXPECT_STREQ(idx1, idx2);
	ASSERT_EQ(0, pvfront_dev_reset(self->d, 3000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f, self->index, 0, 2, &self->d));
	EXPECT_EQ(0, pvio_le16_to_cpu(self->config->status) & PVIO_NET_S_LINK_UP);
	ASSERT_EQ(0, control(self->ctl, "net-link g n0 up", json, sizeof(json)));
	ASSERT_EQ(0, guest_tx(self, &self->d->q[1], &plain_hdr, frame,
			      make_frame(frame, bcast, self->config->mac, 5, sizeof(frame)), 1, 5));
	ASSERT_EQ(0, reap_one(&self->d->q[1], &c, 2000));
	EXPECT_EQ(PVIO_S_OK, pvio_le32_to_cpu(c.status));
	EXPECT_EQ((ssize_t)sizeof(frame), host_recv(self->pkt, got, sizeof(got), 2000));
	ASSERT_EQ(0, post_rx(self, &self->d->q[0], 0, BUF_LEN));
	ASSERT_EQ(0, host_send(self->pkt, frame,
			       make_frame(frame, self->config->mac, peer_mac, 6, sizeof(frame))));
	ASSERT_EQ(0, reap_one(&self->d->q[0], &c, 2000));
	EXPECT_EQ(HDR + sizeof(frame), pvio_le32_to_cpu(c.len));
}

TEST_F(net, clean_shutdown_removes_only_a_tap_pviod_made)
{
	if (make_ns(_metadata, self))
		return;
	ASSERT_EQ(0, start_pviod(_metadata, self, 2, NULL));
	EXPECT_EQ(0, sh("ip netns exec %s ip link show %s >/dev/null", self->ns, self->tap));
	stop_pviod(self);
	EXPECT_NE(0, sh("ip netns exec %s ip link show %s >/dev/null 2>&1", self->ns, self->tap));
	EXPECT_TRUE(log_contains(self->log, "released"));

	/* An administrator's persistent TAP is used and left in place. */
	ASSERT_EQ(0, sh("ip netns exec %s ip tuntap add dev %s mode tap multi_queue vnet_hdr",
			self->ns, self->tap));
	ASSERT_EQ(0, start_pviod(_metadata, self, 2, NULL));
	EXPECT_TRUE(log_contains(self->log, "(existing)"));
	stop_pviod(self);
	EXPECT_EQ(0, sh("ip netns exec %s ip link show %s >/dev/null", self->ns, self->tap));
}

TEST_F(net, bridge_port_and_missing_bridge)
{
	char master[64];

	if (make_ns(_metadata, self))
		return;
	/* No such bridge: pviod refuses to start and says so. */
	EXPECT_NE(0, start_pviod(_metadata, self, 2, "bridge = pvbr0\n"));
	EXPECT_TRUE(log_contains(self->log, "bridge pvbr0 does not exist"));
	EXPECT_NE(0, sh("ip netns exec %s ip link show %s >/dev/null 2>&1", self->ns, self->tap));

	ASSERT_EQ(0, sh("ip netns exec %s ip link add pvbr0 type bridge", self->ns));
	ASSERT_EQ(0, start_pviod(_metadata, self, 2, "bridge = pvbr0\n"));
	sh_out(master, sizeof(master), "ip netns exec %s readlink /sys/class/net/%s/master",
	       self->ns, self->tap);
	EXPECT_NE(NULL, strstr(master, "pvbr0"));
	stop_pviod(self);
}

/* net = null: namespace (for start_pviod), pviod, guest; no TAP. */
static int null_up(struct __test_metadata *_metadata, FIXTURE_DATA(net) *self,
		   const char *extra)
{
	if (make_ns(_metadata, self))
		return -1;
	ASSERT_EQ(0, start_pviod(_metadata, self, 2, extra));
	guest_up(_metadata, self, 0, 2);
	return 0;
}

/*
 * Send @count frames one at a time (sizes 60..1514, 1..3 segments) and
 * check each comes back whole on rx; returns the frames that did.  The rx
 * buffers are posted first when @post (else they are there from before).
 */
static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * Send @count frames one at a time, each waited for on rx and checked;
 * with @sent, the time each was sent (us).  Returns how many came back.
 */
static unsigned int echo_frames_at(struct __test_metadata *_metadata, FIXTURE_DATA(net) *self,
				   unsigned int count, bool post, uint64_t *sent)
{
	struct pvfront_queue *rx = &self->d->q[0], *tx = &self->d->q[1];
	uint8_t frame[1514];
	struct pvio_net_hdr h;
	struct pvio_cpl c;
	unsigned int i, id, ok = 0;
	size_t len;

	for (i = 0; post && i < NBUF; i++)
		if (post_rx(self, rx, i, BUF_LEN))
			return 0;
	for (i = 0; i < count; i++) {
		len = make_frame(frame, peer_mac, self->config->mac, i, 60 + (i * 97) % 1455);
		if (sent)
			sent[i] = now_us();
		if (guest_tx(self, tx, &plain_hdr, frame, len, 1 + i % 3, (uint16_t)i) ||
		    reap_one(tx, &c, 2000) || pvio_le32_to_cpu(c.status) != PVIO_S_OK) {
			fprintf(stderr, "# frame %u: tx did not complete OK\n", i);
			break;
		}
		if (reap_one(rx, &c, 2000)) {
			fprintf(stderr, "# frame %u (%zu bytes): expected it back on rx, got nothing\n",
				i, len);
			break;
		}
		id = pvio_le16_to_cpu(c.id);
		ASSERT_LT(id, NBUF);
		memcpy(&h, self->bufs + (size_t)id * BUF_LEN, HDR);
		if (pvio_le32_to_cpu(c.len) != HDR + len ||
		    memcmp(self->bufs + (size_t)id * BUF_LEN + HDR, frame, len) ||
		    pvio_le16_to_cpu(h.num_buffers) != 1) {
			fprintf(stderr, "# frame %u: expected %zu bytes back, got %u (%s)\n", i,
				HDR + len, pvio_le32_to_cpu(c.len), "content or header differs");
			break;
		}
		ok++;
		if (post_rx(self, rx, id, BUF_LEN))
			break;
	}
	return ok;
}

static unsigned int echo_frames(struct __test_metadata *_metadata, FIXTURE_DATA(net) *self,
				unsigned int count, bool post)
{
	return echo_frames_at(_metadata, self, count, post, NULL);
}

TEST_F(net, null_echo_returns_every_tx_frame_intact)
{
	char json[65536];

	if (null_up(_metadata, self, "net = null\nnull_rx = echo\n"))
		return;
	EXPECT_EQ(200, echo_frames(_metadata, self, 200, true));
	/* Event mode: the backend sleeps between frames, so the guest rings. */
	fprintf(stderr, "# doorbells for 200 frames: %llu (rx), %llu (tx)\n",
		(unsigned long long)self->d->q[0].kicks, (unsigned long long)self->d->q[1].kicks);
	EXPECT_LE(100, self->d->q[1].kicks);
	ASSERT_EQ(0, control(self->ctl, "status g n0", json, sizeof(json)));
	EXPECT_EQ(200, queue_counter(json, 1, "packets"));
	EXPECT_EQ(200, queue_counter(json, 0, "packets"));
	EXPECT_EQ(0, queue_counter(json, 1, "drops"));
}

TEST_F(net, null_echo_keeps_32_waiting_frames_intact_and_counts_the_rest_as_drops)
{
	struct pvfront_queue *rx, *tx;
	uint8_t frame[200];
	struct pvio_cpl c;
	unsigned int i, id, good = 0;
	char json[65536];

	if (null_up(_metadata, self, "net = null\nnull_rx = echo\n"))
		return;
	rx = &self->d->q[0];
	tx = &self->d->q[1];
	/* No rx buffers yet: 32 frames wait in pviod, 8 more are dropped. */
	for (i = 0; i < 40; i++) {
		make_frame(frame, peer_mac, self->config->mac, i, sizeof(frame));
		ASSERT_EQ(0, guest_tx(self, tx, &plain_hdr, frame, sizeof(frame), 1, (uint16_t)i));
		ASSERT_EQ(0, reap_one(tx, &c, 2000));
		EXPECT_EQ(PVIO_S_OK, pvio_le32_to_cpu(c.status));
	}
	for (i = 0; i < NBUF; i++)
		ASSERT_EQ(0, post_rx(self, rx, i, BUF_LEN));
	for (i = 0; i < 32; i++) {
		ASSERT_EQ(0, reap_one(rx, &c, 2000));
		id = pvio_le16_to_cpu(c.id);
		ASSERT_LT(id, NBUF);
		make_frame(frame, peer_mac, self->config->mac, i, sizeof(frame));
		if (pvio_le32_to_cpu(c.len) == HDR + sizeof(frame) &&
		    !memcmp(self->bufs + (size_t)id * BUF_LEN + HDR, frame, sizeof(frame)))
			good++;
		else
			fprintf(stderr, "# waiting frame %u: expected it back intact, got %u bytes%s\n",
				i, pvio_le32_to_cpu(c.len), " (or other content)");
	}
	EXPECT_EQ(32, good);
	EXPECT_EQ(-1, reap_one(rx, &c, 200));	/* the 8 dropped stay dropped */
	ASSERT_EQ(0, control(self->ctl, "status g n0", json, sizeof(json)));
	fprintf(stderr, "# tx queue: expected 32 packets and 8 drops, got %lld and %lld\n",
		queue_counter(json, 1, "packets"), queue_counter(json, 1, "drops"));
	EXPECT_EQ(32, queue_counter(json, 1, "packets"));
	EXPECT_EQ(8, queue_counter(json, 1, "drops"));
}

TEST_F(net, null_source_fills_every_posted_rx_buffer)
{
	struct pvfront_queue *rx;
	struct pvio_cpl c;
	unsigned int i, id, good = 0;
	const uint8_t *f;

	if (null_up(_metadata, self, "net = null\nnull_rx = 200\n"))
		return;
	rx = &self->d->q[0];
	for (i = 0; i < 3 * NBUF; i++) {
		if (i < NBUF)
			ASSERT_EQ(0, post_rx(self, rx, i, BUF_LEN));
		ASSERT_EQ(0, reap_one(rx, &c, 2000));
		id = pvio_le16_to_cpu(c.id);
		ASSERT_LT(id, NBUF);
		f = self->bufs + (size_t)id * BUF_LEN + HDR;
		if (pvio_le32_to_cpu(c.len) == HDR + 200 && !memcmp(f, self->config->mac, 6) &&
		    f[12] == (ETHERTYPE_TEST >> 8) && f[13] == (ETHERTYPE_TEST & 0xff) &&
		    f[199] == 199 && self->bufs[(size_t)id * BUF_LEN + HDR + 200] == 0xee)
			good++;
		else
			fprintf(stderr, "# buffer %u: expected a %u-byte frame to our MAC, got %u bytes\n",
				id, HDR + 200, pvio_le32_to_cpu(c.len));
		if (i >= NBUF - 1)
			ASSERT_EQ(0, post_rx(self, rx, id, BUF_LEN));
	}
	EXPECT_EQ(3 * NBUF, good);
}

TEST_F(net, poll_mode_serves_the_queues_without_doorbells)
{
	char json[65536];

	if (null_up(_metadata, self, "net = null\nnull_rx = echo\npoll = yes\n"))
		return;
	EXPECT_EQ(200, echo_frames(_metadata, self, 200, true));
	/*
	 * The backend never arms its event index, so the guest does not ring:
	 * at most once per queue, for a first chain published before pviod
	 * saw the queue start (event mode rings for nearly every frame here).
	 */
	fprintf(stderr, "# doorbells for 200 frames: expected at most 1 per queue, got %llu (rx) and %llu (tx)\n",
		(unsigned long long)self->d->q[0].kicks, (unsigned long long)self->d->q[1].kicks);
	EXPECT_GE(1, self->d->q[0].kicks);
	EXPECT_GE(1, self->d->q[1].kicks);
	ASSERT_EQ(0, control(self->ctl, "status g n0", json, sizeof(json)));
	EXPECT_GE(1, queue_counter(json, 1, "kicks"));
	EXPECT_NE(NULL, strstr(json, "\"drops\":0,\"mode\":\"poll\"}"));
	EXPECT_EQ(200, queue_counter(json, 1, "packets"));
}

/* CPU time (ticks) the process @pid has used. */
static long cpu_ticks(int pid)
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

TEST_F(net, poll_mode_sleeps_after_poll_idle_us_and_wakes_on_the_next_frame)
{
	long t0, t1, hz = sysconf(_SC_CLK_TCK);
	unsigned int i, gaps = 0;
	uint64_t kicks, sent[100];
	char json[65536], *p;
	int wpid;

	if (null_up(_metadata, self,
		    "net = null\nnull_rx = echo\npoll = yes\n[pviod]\npoll_idle_us = 2000\n"))
		return;
	EXPECT_EQ(100, echo_frames(_metadata, self, 100, true));
	ASSERT_EQ(0, control(self->ctl, "list", json, sizeof(json)));
	p = strstr(json, "\"worker_pid\":");
	ASSERT_NE(NULL, p);
	wpid = atoi(p + 13);
	/* Idle: after 2 ms the worker sleeps instead of spinning. */
	msleep(100);
	t0 = cpu_ticks(wpid);
	msleep(1000);
	t1 = cpu_ticks(wpid);
	fprintf(stderr, "# idle worker: expected under 20%% of a CPU, used %ld%%\n",
		(t1 - t0) * 100 / hz);
	ASSERT_LE(0, t0);
	EXPECT_GT(hz / 5, t1 - t0);
	/*
	 * Asleep, its event index is armed: the next frame rings, then it
	 * polls.  It can doze again (and the frame after ring) only where a
	 * frame was sent more than poll_idle_us after the one before: on a
	 * loaded host the test is descheduled for that long now and then
	 * (21 doorbells for 100 frames were seen in make check).  Event mode
	 * rings for nearly every frame.  A doze can cost two doorbells: a
	 * frame may ring again before the woken worker has disarmed.
	 */
	kicks = self->d->q[1].kicks;
	EXPECT_EQ(100, echo_frames_at(_metadata, self, 100, false, sent));
	for (i = 1; i < 100; i++)
		gaps += sent[i] - sent[i - 1] > 2000;
	fprintf(stderr, "# doorbells for 100 frames after the sleep: expected 1..%u (4 + 2 x %u sent over 2 ms after the last), got %llu\n",
		4 + 2 * gaps, gaps, (unsigned long long)(self->d->q[1].kicks - kicks));
	EXPECT_LE(1, self->d->q[1].kicks - kicks);
	EXPECT_GE(4 + 2 * gaps, self->d->q[1].kicks - kicks);
	/* Else the bound says nothing: event mode rings about 100 times. */
	EXPECT_GT(40, gaps);
}

/*
 * The second review's finding 4, rx: a queue throttled for errors
 * returned without reading its TAP, whose fd stayed watched; a packet
 * arriving then woke the (level-triggered) loop again and again until
 * the tick.  Here the guest posts 300 bad rx chains a heartbeat period,
 * keeps good ones posted, and the host sends a frame every 5 ms.
 */
TEST_F(net, an_rx_queue_throttled_for_errors_does_not_spin_on_its_tap)
{
	long hz = sysconf(_SC_CLK_TCK), t0, t1;
	struct pvfront_queue *rx;
	struct pvio_desc bad = { 0 };
	uint8_t frame[200];
	struct pvio_cpl c[64];
	uint64_t start, last_send = 0, delivered = 0, errors = 0, throttled;
	char json[65536];
	unsigned int i;
	int wpid, n, k;

	if (net_up(_metadata, self, 2, NULL, 0, 2))
		return;
	rx = &self->d->q[0];
	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, post_rx(self, rx, i, BUF_LEN));
	make_frame(frame, self->config->mac, peer_mac, 1, sizeof(frame));
	bad.addr = pvio_cpu_to_le64(self->bufs_gpa + 16 * BUF_LEN);
	bad.len = pvio_cpu_to_le32(BUF_LEN);	/* readable: INVAL on an rx queue */
	bad.id = pvio_cpu_to_le16(1000);
	wpid = guest_worker_pid(self->ctl, "g");
	ASSERT_LT(0, wpid);
	t0 = cpu_ticks(wpid);
	start = now_ms();
	while (now_ms() - start < 2000) {
		for (k = 0; k < 40 && !pvfront_submit(rx, &bad, 1); k++)
			;
		pvfront_kick(rx);
		if (now_ms() - last_send >= 5) {
			ASSERT_EQ(0, host_send(self->pkt, frame, sizeof(frame)));
			last_send = now_ms();
		}
		usleep(500);
		while ((n = pvfront_reap(rx, c, 64)) > 0) {
			for (k = 0; k < n; k++) {
				uint16_t id = pvio_le16_to_cpu(c[k].id);

				if (id == 1000) {
					errors++;
				} else {
					delivered++;
					ASSERT_EQ(0, post_rx(self, rx, id, BUF_LEN));
				}
			}
		}
	}
	t1 = cpu_ticks(wpid);
	ASSERT_EQ(0, control(self->ctl, "status g n0", json, sizeof(json)));
	throttled = (uint64_t)queue_counter(json, 0, "throttled");
	fprintf(stderr, "# 2 s: %llu bad rx chains, %llu frames delivered, queue throttled %llu times (expected > 0); worker CPU expected under 30%%, got %ld%%\n",
		(unsigned long long)errors, (unsigned long long)delivered,
		(unsigned long long)throttled, (t1 - t0) * 100 / (2 * hz));
	EXPECT_LT(0, throttled);
	EXPECT_LT(0, delivered);
	EXPECT_GT(2 * hz * 30 / 100, t1 - t0);
}

/*
 * The second review's finding 11: a second guest naming the first one's
 * TAP attached queues to it and shared its traffic.  Now it is refused
 * before it touches the TAP, and the first guest's traffic goes on.
 */
TEST_F(net, two_guests_cannot_share_a_tap)
{
	char add[128], req[192], json[4096];
	uint8_t frame[300], got[512];
	struct pvio_cpl c;
	FILE *f;

	if (net_up(_metadata, self, 2, NULL, 0, 2))
		return;
	snprintf(add, sizeof(add), "%s/add.ini", self->dir);
	f = fopen(add, "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "[guest h]\nsocket = %s/h.sock\n[device h n]\ntype = net\ntap = %s\n",
		self->dir, self->tap);
	fclose(f);
	snprintf(req, sizeof(req), "guest add %s", add);
	ASSERT_EQ(0, control(self->ctl, req, json, sizeof(json)));
	fprintf(stderr, "# guest add with g's TAP: %s", json);
	EXPECT_NE(NULL, strstr(json, "is g\\/n0's already"));
	/* g's traffic, both ways, untouched. */
	ASSERT_EQ(0, guest_tx(self, &self->d->q[1], &plain_hdr, frame,
			      make_frame(frame, bcast, self->config->mac, 5, sizeof(frame)), 1, 5));
	ASSERT_EQ(0, reap_one(&self->d->q[1], &c, 2000));
	EXPECT_EQ((ssize_t)sizeof(frame), host_recv(self->pkt, got, sizeof(got), 2000));
	ASSERT_EQ(0, post_rx(self, &self->d->q[0], 0, BUF_LEN));
	ASSERT_EQ(0, host_send(self->pkt, frame,
			       make_frame(frame, self->config->mac, peer_mac, 6, sizeof(frame))));
	ASSERT_EQ(0, reap_one(&self->d->q[0], &c, 2000));
	EXPECT_EQ(HDR + sizeof(frame), pvio_le32_to_cpu(c.len));
}

TEST_F(net, bad_keys_are_rejected_with_their_line)
{
	static const struct { const char *extra; const char *msg; } cases[] = {
		{ "colour = blue\n", "line 13: unknown key 'colour'" },
		{ "mtu = 20\n", "mtu = 20: must be 68..9000" },
		{ "max_mtu = 70000\n", "max_mtu = 70000: must be 68..65521" },
		{ "mac = 01:02:03:04:05:06\n", "want a unicast address" },
		{ "mac = 52:54:00:12:34\n", "want a unicast address" },
		{ "poll = 2\n", "poll = 2: want no, yes, or queue indices 0..1" },
		{ "poll = 0,\n", "poll = 0,: want no, yes, or queue indices 0..1" },
		{ "null_rx = echo\n", "null_rx is for net = null" },
		{ "net = null\nnull_rx = 10\n", "null_rx = 10: want none, echo, or a frame size" },
		{ "net = null\ntap = x0\n", "net = null has no host side" },
	};
	unsigned int i;

	if (make_ns(_metadata, self))
		return;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unlink(self->log);
		EXPECT_NE(0, start_pviod(_metadata, self, 2, cases[i].extra));
		if (!log_contains(self->log, cases[i].msg))
			fprintf(stderr, "# case %u: expected '%s' in the log\n", i, cases[i].msg);
		EXPECT_TRUE(log_contains(self->log, cases[i].msg));
	}
	unlink(self->log);
	EXPECT_NE(0, start_pviod(_metadata, self, 3, NULL));
	EXPECT_TRUE(log_contains(self->log, "a net device needs an even number"));
}

/*
 * MRG_RXBUF with a chain whose segments overlap one 64 MiB buffer up to
 * 2^32 - 1 bytes: the FIFO's capacities summed in 32 bits used to wrap
 * (review finding 7), and the rest of a packet was taken from an
 * overflow buffer it had never been read into.
 */
TEST_F(net, mrg_rx_chain_capacities_cannot_wrap)
{
	struct pvfront_queue *rx, *tx;
	struct pvio_desc d[64];
	struct pvio_net_hdr h;
	uint8_t frame[100], *big, *small;
	uint64_t gbig, gsmall;
	struct pvio_cpl c[4];
	int i, n = 0, tries;

	self->ram = 160u << 20;
	if (null_up(_metadata, self, "net = null\nnull_rx = echo\nqueue_size = 128\n"))
		return;
	pvfront_close(&self->f);
	msleep(300);
	/* MRG_RXBUF this time. */
	ASSERT_EQ(0, pvfront_connect(&self->f, self->sock, self->ram));
	ASSERT_EQ(0, pvfront_wait_ready(&self->f, 5000));
	ASSERT_NE(NULL, pvfront_find(&self->f, PVIO_DEV_NET, 0, &self->index));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f, self->index, 1ull << PVIO_NET_F_MRG_RXBUF, 2,
				       &self->d));
	self->txb = pvfront_alloc(&self->f, 4096, 4096, &self->txb_gpa);
	big = pvfront_alloc(&self->f, 64u << 20, 4096, &gbig);
	small = pvfront_alloc(&self->f, 4096, 4096, &gsmall);
	ASSERT_NE(NULL, big);
	ASSERT_NE(NULL, small);
	rx = &self->d->q[0];
	tx = &self->d->q[1];
	/* Chain 0: 100 bytes.  Chain 1: 63 x 64 MiB + (64 MiB - 1) = 2^32 - 1. */
	fill_desc_w(&d[0], gsmall, 100, 0, false);
	ASSERT_EQ(0, pvfront_submit(rx, d, 1));
	for (i = 0; i < 64; i++)
		fill_desc_w(&d[i], gbig, i < 63 ? 64u << 20 : (64u << 20) - 1, 1, i < 63);
	ASSERT_EQ(0, pvfront_submit(rx, d, 64));
	pvfront_kick(rx);
	msleep(200);
	ASSERT_EQ(0, guest_tx(self, tx, &plain_hdr, frame,
			      make_frame(frame, peer_mac, self->config->mac, 1, sizeof(frame)), 1, 9));
	for (tries = 0; tries < 40 && n < 2; tries++) {
		int k = pvfront_reap(rx, c + n, 2);

		if (k > 0)
			n += k;
		else
			pvfront_wait(rx, 50);
	}
	memcpy(&h, small, sizeof(h));
	/* 112 bytes: the header and 88 in chain 0, the last 12 in chain 1. */
	fprintf(stderr, "# rx: expected 2 completions (100 + 12 bytes, num_buffers 2, the packet's bytes), got %d (%u + %u bytes, num_buffers %u, %s)\n",
		n, n > 0 ? pvio_le32_to_cpu(c[0].len) : 0, n > 1 ? pvio_le32_to_cpu(c[1].len) : 0,
		pvio_le16_to_cpu(h.num_buffers),
		memcmp(small + HDR, frame, 88) || memcmp(big, frame + 88, 12) ?
		"content differs" : "content intact");
	ASSERT_EQ(2, n);
	EXPECT_EQ(0, pvio_le16_to_cpu(c[0].id));
	EXPECT_EQ(100, pvio_le32_to_cpu(c[0].len));
	EXPECT_EQ(1, pvio_le16_to_cpu(c[1].id));
	EXPECT_EQ(12, pvio_le32_to_cpu(c[1].len));
	EXPECT_EQ(2, pvio_le16_to_cpu(h.num_buffers));
	EXPECT_EQ(0, memcmp(small + HDR, frame, 88));
	EXPECT_EQ(0, memcmp(big, frame + 88, 12));
}

TEST_HARNESS_MAIN
