// SPDX-License-Identifier: GPL-2.0
/*
 * net_offload_test - pviod's net device against a real TAP in a network
 * namespace (the fixture is net_fixture.h's), its offloads: checksum and
 * TCP segmentation offloads pass through both ways (and a guest that
 * does not take them gets MTU-sized, checksummed segments); with
 * MRG_RXBUF a 64 KiB GSO packet spreads over consecutive rx buffers (and
 * waits in pviod while too few are posted), a packet larger than the
 * whole ring is dropped with the buffers reused, and a chain's
 * capacities cannot wrap (net = null).
 *
 * The host end of the wire is a packet socket inside the namespace, with
 * vnet headers.  No traffic leaves it.  Needs root (CAP_NET_ADMIN);
 * skipped otherwise.  Runs the ASan/UBSan build of pviod (PVIOD, default
 * build/pviod-san).
 */
#include "net_fixture.h"

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
	uint64_t kicks;
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
	/* The packet waits for chains: the guest's next refill must kick. */
	kicks = rx->kicks;
	for (k = 3; k < need + 2; k++)
		ASSERT_EQ(0, post_rx(self, rx, k, BUF_LEN));
	if (rx->kicks == kicks)
		fprintf(stderr, "# refills for a waiting packet: expected doorbells, got none\n");
	EXPECT_LT(kicks, rx->kicks);
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

/* A writable segment of an rx chain. */
static void fill_desc_w(struct pvio_desc *d, uint64_t gpa, uint32_t len, uint16_t id,
			bool more)
{
	d->addr = pvio_cpu_to_le64(gpa);
	d->len = pvio_cpu_to_le32(len);
	d->id = pvio_cpu_to_le16(id);
	d->flags = pvio_cpu_to_le16(PVIO_DESC_F_WRITE | (more ? PVIO_DESC_F_NEXT : 0));
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
