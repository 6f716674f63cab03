// SPDX-License-Identifier: GPL-2.0
/*
 * net_test - pviod's net device driven natively by libpvio-front, against
 * a real TAP inside a network namespace this test creates (and deletes):
 * frames written to a tx queue come out of the TAP, frames sent into the
 * TAP land in posted rx buffers with the right header, malformed chains
 * get their status, oversized packets are dropped without losing the
 * buffer, a reset is acted on before the TAP wakes rx, the link follows
 * the control socket, unused queue pairs give up their TAP queue, the
 * TAP survives a worker crash, a clean shutdown removes only a TAP pviod
 * made, the TAP joins a bridge (and a missing one is refused), an rx
 * queue throttled for errors does not spin on its TAP, two guests cannot
 * share a TAP, and bad keys are rejected with their line.  Offloads and
 * MRG_RXBUF are net_offload_test's, net = null and busy-poll mode
 * net_null_test's; the fixture and the helpers they share are in
 * net_fixture.h.
 *
 * The host end of the wire is an AF_PACKET socket opened inside the
 * namespace.  No traffic leaves it.  Needs root (CAP_NET_ADMIN); skipped
 * otherwise.  Runs the ASan/UBSan build of pviod (PVIOD, default
 * build/pviod-san).
 */
#include "net_fixture.h"

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

/* Mid-test stop; a sanitizer report still fails the test at teardown. */
static void stop_pviod(FIXTURE_DATA(net) *self)
{
	self->sanitizer_report |= pviod_stop(&self->pid, self->log);
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

/*
 * Frames @first..@first+@count-1 from the host, each reaped from @rx
 * intact and its buffer (one of the @nbuf posted) posted again.
 */
static void rx_and_refill(struct __test_metadata *_metadata, FIXTURE_DATA(net) *self,
			  struct pvfront_queue *rx, unsigned int first, unsigned int count,
			  unsigned int nbuf)
{
	uint8_t frame[1514];
	struct pvio_cpl c;
	unsigned int i, id;
	size_t len;

	for (i = first; i < first + count; i++) {
		len = make_frame(frame, self->config->mac, peer_mac, i, 100);
		ASSERT_EQ(0, host_send(self->pkt, frame, len));
		ASSERT_EQ(0, reap_one(rx, &c, 2000));
		id = pvio_le16_to_cpu(c.id);
		ASSERT_LT(id, nbuf);
		EXPECT_EQ(HDR + len, pvio_le32_to_cpu(c.len));
		EXPECT_EQ(0, memcmp(self->bufs + (size_t)id * BUF_LEN + HDR, frame, len));
		ASSERT_EQ(0, post_rx(self, rx, id, BUF_LEN));
	}
}

/*
 * vhost-net's rx rule: while pviod holds posted chains, the guest's
 * refills ring no doorbell (the next packet runs the queue, which takes
 * them); once it has none left, a refill must kick, or the packets the
 * TAP keeps would wait for the heartbeat.
 */
TEST_F(net, rx_refills_need_no_doorbell_until_the_chains_run_out)
{
	uint64_t kicks, first;
	struct pvfront_queue *rx;
	uint8_t frame[1514];
	struct pvio_cpl c;
	unsigned int i;
	size_t len;

	if (net_up(_metadata, self, 2, NULL, 0, 2))
		return;
	rx = &self->d->q[0];
	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, post_rx(self, rx, i, BUF_LEN));
	/* The first packet shows pviod has taken every chain into its FIFO. */
	rx_and_refill(_metadata, self, rx, 0, 1, 8);
	kicks = rx->kicks;
	rx_and_refill(_metadata, self, rx, 1, 32, 8);
	if (rx->kicks != kicks)
		fprintf(stderr, "# 32 refills with chains held: expected 0 doorbells, got %llu\n",
			(unsigned long long)(rx->kicks - kicks));
	EXPECT_EQ(kicks, rx->kicks);

	/* Use every chain up; the TAP keeps the ninth packet. */
	for (i = 0; i < 9; i++) {
		len = make_frame(frame, self->config->mac, peer_mac, 100 + i, 100);
		ASSERT_EQ(0, host_send(self->pkt, frame, len));
	}
	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, reap_one(rx, &c, 2000));
	EXPECT_NE(0, reap_one(rx, &c, 300));
	/* Out of chains: the first refill kicks and the ninth lands at once. */
	first = rx->kicks;
	ASSERT_EQ(0, post_rx(self, rx, 0, BUF_LEN));
	if (rx->kicks != first + 1)
		fprintf(stderr, "# a refill with no chains held: expected 1 doorbell, got %llu\n",
			(unsigned long long)(rx->kicks - first));
	EXPECT_EQ(first + 1, rx->kicks);
	ASSERT_EQ(0, reap_one(rx, &c, 500));
	EXPECT_EQ(0, pvio_le16_to_cpu(c.id));
	EXPECT_EQ(0, memcmp(self->bufs + HDR, frame, len));
}

/*
 * A guest that keeps a chain posted for every CQ slot (pvio_net fills its
 * rx ring) leaves pviod no CQ room for one more: that must not make pviod
 * ask for a doorbell on every reap while nothing waits in the SQ.
 */
TEST_F(net, rx_ring_kept_full_reaps_and_refills_without_doorbells)
{
	unsigned int i, n = 2 * NBUF;	/* the CQ's 64 slots */
	struct pvfront_queue *rx;
	uint64_t kicks;

	if (net_up(_metadata, self, 2, NULL, 0, 2))
		return;
	rx = &self->d->q[0];
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, post_rx(self, rx, i, BUF_LEN));
	rx_and_refill(_metadata, self, rx, 0, 1, n);
	kicks = rx->kicks;
	rx_and_refill(_metadata, self, rx, 1, 32, n);
	if (rx->kicks != kicks)
		fprintf(stderr, "# 32 packets with all %u chains posted: expected 0 doorbells (reaps and refills), got %llu\n",
			n, (unsigned long long)(rx->kicks - kicks));
	EXPECT_EQ(kicks, rx->kicks);
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

TEST_HARNESS_MAIN
