// SPDX-License-Identifier: GPL-2.0
/*
 * fault_classes - the fault campaign's four kinds of verified guest
 * traffic, one per class (fault_campaign.c says what the campaign does
 * with them): for each, its buffers, a pump that submits requests, reaps
 * their completions and checks every byte, what a reset under it leaves
 * open, and what the backend has taken and not completed.  A request has
 * a slot and an id with the guest's reset epoch in it: a completion for
 * another epoch, a bad status or a wrong byte is a mismatch.
 */
#include "fault_campaign.h"

void mismatch(struct guest *g, const char *fmt, ...)
{
	va_list ap;

	if (!atomic_fetch_add(&g->mismatches, 1)) {
		va_start(ap, fmt);
		vsnprintf(g->why, sizeof(g->why), fmt, ap);
		va_end(ap);
	}
}

/* A completion verified: the fault it was waiting for is over. */
static void verified(struct guest *g)
{
	atomic_fetch_add(&g->done, 1);
	if (atomic_load(&g->fault_ns) && !atomic_load(&g->back_ns))
		atomic_store(&g->back_ns, now_ns());
}

uint16_t make_id(struct guest *g, unsigned int slot)
{
	return (uint16_t)(((g->epoch & 0x3f) << 10) | (slot + 1));
}

/* The slot of completion id @id, or -1 (stale: another epoch, or not ours). */
static int slot_of(struct guest *g, uint16_t id)
{
	unsigned int s = (id & 0x3ff) - 1u;

	if ((id >> 10) != (g->epoch & 0x3f) || s >= DEPTH || g->slot_id[s] != id)
		return -1;
	return (int)s;
}

static void pattern(uint8_t *p, uint32_t len, uint32_t a, uint32_t b)
{
	uint32_t i, x = a * 2654435761u ^ b * 40503u;

	for (i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
	if (len >= 8) {
		memcpy(p, &a, 4);
		memcpy(p + 4, &b, 4);
	}
}

static bool is_pattern(const uint8_t *p, uint32_t len, uint32_t a, uint32_t b)
{
	static __thread uint8_t want[ECHO_MAX];

	pattern(want, len, a, b);
	return !memcmp(p, want, len);
}

static void free_slots(struct guest *g)
{
	memset(g->slot_id, 0, sizeof(g->slot_id));
	atomic_store(&g->inflight, 0);
}

static int free_slot(struct guest *g)
{
	unsigned int s;

	if (atomic_load(&g->draining))
		return -1;
	for (s = 0; s < DEPTH; s++)
		if (!g->slot_id[s])
			return (int)s;
	return -1;
}

static void wait_a_little(struct pvfront_queue *q)
{
	pvfront_kick(q);
	pvfront_wait(q, 5);
}

/* Note where request @s ends in queue @qi's SQ, once submitted. */
static void submitted(struct guest *g, int s, unsigned int qi)
{
	g->slot_q[s] = (uint8_t)qi;
	g->slot_end[s] = g->d->q[qi].sq.idx;
	atomic_fetch_add(&g->inflight, 1);
}

/* Is a completion for @id published in @q's CQ and not reaped yet? */
static bool in_cq(struct pvfront_queue *q, uint16_t id)
{
	uint32_t i, prod = pvio_le32_to_cpu(pvio_load_acquire(&q->cq_sh->prod));

	for (i = q->cq.idx; i != prod && prod - i <= q->cq.mask + 1; i++) {
		const struct pvio_cpl *c = pvio_ring_slot(&q->cq, i);

		if (pvio_le16_to_cpu(c->id) == id)
			return true;
	}
	return false;
}

/*
 * Requests the backend has taken (its consumer index is past them; for
 * a class that serves requests whole, submitted) and not completed (no
 * completion published for them, reaped or not).
 */
static unsigned int sq_taken(struct guest *g)
{
	unsigned int s, n = 0;

	for (s = 0; s < DEPTH; s++) {
		struct pvfront_queue *q;

		if (!g->slot_id[s])
			continue;
		q = &g->d->q[g->slot_q[s]];
		if ((g->c->whole || (int32_t)(pvio_le32_to_cpu(pvio_load_acquire(&q->sq_sh->cons)) -
					      g->slot_end[s]) >= 0) && !in_cq(q, g->slot_id[s]))
			n++;
	}
	return n;
}

/* ---- echo ------------------------------------------------------------------------- */

static void echo_init(struct guest *g)
{
	g->buf = pvfront_alloc(&g->f, DEPTH * 2 * ECHO_MAX, 4096, &g->gpa);
}

static void echo_pump(struct guest *g)
{
	struct pvfront_queue *q = &g->d->q[0];
	struct pvio_cpl c[DEPTH];
	struct pvio_desc d[2];
	int s, n, k;

	while ((s = free_slot(g)) >= 0) {
		/* Big ones: a worker copying them is a worker to kill mid-request. */
		uint32_t len = 64 + rand_r(&g->rng) % (ECHO_MAX - 64);
		uint8_t *in = g->buf + s * 2 * ECHO_MAX, *out = in + ECHO_MAX;

		pattern(in, len, ++g->seq, 0xec);
		memset(out, 0, len);
		g->slot_id[s] = make_id(g, (unsigned int)s);
		g->slot_len[s] = len;
		g->slot_ver[s] = g->seq;
		d[0] = (struct pvio_desc){ pvio_cpu_to_le64(g->gpa + s * 2ull * ECHO_MAX),
					   pvio_cpu_to_le32(len), pvio_cpu_to_le16(g->slot_id[s]),
					   pvio_cpu_to_le16(PVIO_DESC_F_NEXT) };
		d[1] = (struct pvio_desc){ pvio_cpu_to_le64(g->gpa + s * 2ull * ECHO_MAX + ECHO_MAX),
					   pvio_cpu_to_le32(ECHO_MAX), pvio_cpu_to_le16(g->slot_id[s]),
					   pvio_cpu_to_le16(PVIO_DESC_F_WRITE) };
		if (pvfront_submit(q, d, 2)) {
			g->slot_id[s] = 0;
			break;
		}
		submitted(g, s, 0);
	}
	wait_a_little(q);
	n = pvfront_reap(q, c, DEPTH);
	for (k = 0; k < n; k++) {
		uint16_t id = pvio_le16_to_cpu(c[k].id);

		s = slot_of(g, id);
		if (s < 0) {
			mismatch(g, "echo: completion id %#x is not outstanding (epoch %u)", id, g->epoch);
			continue;
		}
		if (pvio_le32_to_cpu(c[k].status) != PVIO_S_OK ||
		    pvio_le32_to_cpu(c[k].len) != g->slot_len[s] ||
		    !is_pattern(g->buf + s * 2 * ECHO_MAX + ECHO_MAX, g->slot_len[s],
				g->slot_ver[s], 0xec))
			mismatch(g, "echo: request %u (%u bytes): status %u, len %u, data %s",
				 g->slot_ver[s], g->slot_len[s], pvio_le32_to_cpu(c[k].status),
				 pvio_le32_to_cpu(c[k].len),
				 is_pattern(g->buf + s * 2 * ECHO_MAX + ECHO_MAX, g->slot_len[s],
					    g->slot_ver[s], 0xec) ? "intact" : "wrong");
		else
			verified(g);
		g->slot_id[s] = 0;
		atomic_fetch_sub(&g->inflight, 1);
	}
}

static void echo_lost(struct guest *g)
{
	free_slots(g);
}

static unsigned int echo_outstanding(struct guest *g)
{
	return sq_taken(g);
}

/* ---- blk --------------------------------------------------------------------------- */

static void blk_init(struct guest *g)
{
	g->buf = pvfront_alloc(&g->f, DEPTH * BLK_BS, 4096, &g->gpa);
	g->cur = calloc(BLK_BLOCKS, sizeof(*g->cur));	/* version 0: zeroes */
	g->alt = calloc(BLK_BLOCKS, sizeof(*g->alt));	/* candidates in cand[] */
	g->cand = calloc(BLK_BLOCKS, sizeof(*g->cand));
	g->busy = calloc(BLK_BLOCKS, 1);
}

/*
 * What block @b may hold: version cur, or one of the writes that crashes
 * left open since (cand[], alt of them; past 4, any newer than cur).
 */
bool blk_check(struct guest *g, uint32_t b, const uint8_t *p)
{
	static const uint8_t zero[BLK_BS];
	uint32_t a[2], i;

	if (g->cur[b] ? is_pattern(p, BLK_BS, b, g->cur[b]) : !memcmp(p, zero, BLK_BS))
		return true;
	memcpy(a, p, 8);
	for (i = 0; i < g->alt[b] && i < 4; i++)
		if (g->cand[b][i] == a[1])
			break;
	if (!(i < g->alt[b] && i < 4) && !(g->alt[b] > 4 && a[1] > g->cur[b]))
		return false;
	if (a[0] != b || !is_pattern(p, BLK_BS, b, a[1]))
		return false;
	g->cur[b] = a[1];
	g->alt[b] = 0;
	return true;
}

static void blk_open_write(struct guest *g, uint32_t b, uint32_t v)
{
	if (g->alt[b] < 4)
		g->cand[b][g->alt[b]] = v;
	g->alt[b]++;
}

int blk_submit(struct guest *g, unsigned int s, bool write, uint32_t b)
{
	struct pvfront_queue *q = &g->d->q[0];
	struct pvio_blk_req h = { .sector = pvio_cpu_to_le64((uint64_t)b * (BLK_BS / 512)),
				  .op = write ? PVIO_BLK_OP_WRITE : PVIO_BLK_OP_READ };
	struct pvio_desc d[2];

	h.id = pvio_cpu_to_le16(g->slot_id[s]);
	h.flags = pvio_cpu_to_le16(PVIO_DESC_F_HDR | PVIO_DESC_F_NEXT);
	memcpy(&d[0], &h, sizeof(h));
	d[1] = (struct pvio_desc){ pvio_cpu_to_le64(g->gpa + s * BLK_BS), pvio_cpu_to_le32(BLK_BS),
				   pvio_cpu_to_le16(g->slot_id[s]),
				   pvio_cpu_to_le16(write ? 0 : PVIO_DESC_F_WRITE) };
	return pvfront_submit(q, d, 2);
}

static void blk_pump(struct guest *g)
{
	struct pvfront_queue *q = &g->d->q[0];
	struct pvio_cpl c[DEPTH];
	int s, n, k;

	while ((s = free_slot(g)) >= 0) {
		uint32_t b = rand_r(&g->rng) % BLK_BLOCKS;
		bool write = rand_r(&g->rng) & 1;

		if (g->busy[b])
			break;
		g->slot_id[s] = make_id(g, (unsigned int)s);
		g->slot_blk[s] = b;
		g->slot_write[s] = write;
		if (write) {
			g->slot_ver[s] = ++g->seq;
			pattern(g->buf + s * BLK_BS, BLK_BS, b, g->slot_ver[s]);
		} else {
			memset(g->buf + s * BLK_BS, 0xa5, BLK_BS);
		}
		if (blk_submit(g, (unsigned int)s, write, b)) {
			g->slot_id[s] = 0;
			break;
		}
		g->busy[b] = 1;
		submitted(g, s, 0);
	}
	wait_a_little(q);
	n = pvfront_reap(q, c, DEPTH);
	for (k = 0; k < n; k++) {
		uint16_t id = pvio_le16_to_cpu(c[k].id);
		uint32_t b;

		s = slot_of(g, id);
		if (s < 0) {
			mismatch(g, "blk: completion id %#x is not outstanding (epoch %u)", id, g->epoch);
			continue;
		}
		b = g->slot_blk[s];
		if (pvio_le32_to_cpu(c[k].status) != PVIO_S_OK) {
			mismatch(g, "blk: %s of block %u: status %u", g->slot_write[s] ? "write" : "read",
				 b, pvio_le32_to_cpu(c[k].status));
		} else if (g->slot_write[s]) {
			g->cur[b] = g->slot_ver[s];
			g->alt[b] = 0;
			verified(g);
		} else if (!blk_check(g, b, g->buf + s * BLK_BS)) {
			uint32_t got[2];

			memcpy(got, g->buf + s * BLK_BS, 8);
			mismatch(g, "blk: block %u read back as block %u version %u; expected version %u or one of %u open writes (%u, ...)",
				 b, got[0], got[1], g->cur[b], g->alt[b], g->cand[b][0]);
		} else {
			verified(g);
		}
		g->busy[b] = 0;
		g->slot_id[s] = 0;
		atomic_fetch_sub(&g->inflight, 1);
	}
}

static void blk_lost(struct guest *g)
{
	unsigned int s;

	/* A write the crash left open may have landed, or not. */
	for (s = 0; s < DEPTH; s++) {
		if (!g->slot_id[s])
			continue;
		if (g->slot_write[s])
			blk_open_write(g, g->slot_blk[s], g->slot_ver[s]);
		g->busy[g->slot_blk[s]] = 0;
	}
	free_slots(g);
}

static unsigned int blk_outstanding(struct guest *g)
{
	return sq_taken(g);
}

/* ---- net (null echo) ------------------------------------------------------------- */

#define NET_TXBUF	1600u

static void net_init(struct guest *g)
{
	g->buf = pvfront_alloc(&g->f, DEPTH * NET_TXBUF + NET_NRX * NET_RXBUF, 4096, &g->gpa);
}

static uint64_t rx_gpa(struct guest *g, unsigned int i)
{
	return g->gpa + DEPTH * NET_TXBUF + (uint64_t)i * NET_RXBUF;
}

static void net_post_rx(struct guest *g, unsigned int i)
{
	struct pvio_desc d = { pvio_cpu_to_le64(rx_gpa(g, i)), pvio_cpu_to_le32(NET_RXBUF),
			       pvio_cpu_to_le16((uint16_t)(0x8000 | i)),
			       pvio_cpu_to_le16(PVIO_DESC_F_WRITE) };

	memset(g->buf + (rx_gpa(g, i) - g->gpa), 0xa5, NET_RXBUF);
	if (pvfront_submit(&g->d->q[0], &d, 1))
		mismatch(g, "net: rx queue full with %u buffers", NET_NRX);
	else
		atomic_fetch_add(&g->rx_posted, 1);
}

void net_start(struct guest *g)
{
	unsigned int i;

	for (i = 0; i < NET_NRX; i++)
		net_post_rx(g, i);
	pvfront_kick(&g->d->q[0]);
}

static void net_frame(uint8_t *p, uint32_t len, uint32_t seq)
{
	static const uint8_t mac[12] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					 0x02, 0x00, 0x00, 0x00, 0x00, 0x07 };

	memset(p, 0, sizeof(struct pvio_net_hdr));
	pattern(p + sizeof(struct pvio_net_hdr), len, seq, 0x4e);
	memcpy(p + sizeof(struct pvio_net_hdr), mac, sizeof(mac));
	p[sizeof(struct pvio_net_hdr) + 12] = 0x88;
	p[sizeof(struct pvio_net_hdr) + 13] = 0xb5;
	memcpy(p + sizeof(struct pvio_net_hdr) + 14, &seq, 4);
	memcpy(p + sizeof(struct pvio_net_hdr) + 18, &len, 4);
}

static bool net_frame_ok(const uint8_t *p, uint32_t total)
{
	static __thread uint8_t want[NET_TXBUF];
	uint32_t seq, len;

	if (total < sizeof(struct pvio_net_hdr) + 22)
		return false;
	memcpy(&seq, p + sizeof(struct pvio_net_hdr) + 14, 4);
	memcpy(&len, p + sizeof(struct pvio_net_hdr) + 18, 4);
	if (len + sizeof(struct pvio_net_hdr) != total || len > NET_TXBUF - 12)
		return false;
	net_frame(want, len, seq);
	/* The header is the backend's (num_buffers 1): compare the frame. */
	return !memcmp(p + sizeof(struct pvio_net_hdr), want + sizeof(struct pvio_net_hdr), len);
}

static void net_pump(struct guest *g)
{
	struct pvfront_queue *rx = &g->d->q[0], *tx = &g->d->q[1];
	struct pvio_cpl c[NET_NRX];
	struct pvio_desc d;
	int s, n, k;

	while ((s = free_slot(g)) >= 0) {
		uint32_t len = 60 + rand_r(&g->rng) % 1455;

		net_frame(g->buf + s * NET_TXBUF, len, ++g->seq);
		g->slot_id[s] = make_id(g, (unsigned int)s);
		d = (struct pvio_desc){ pvio_cpu_to_le64(g->gpa + s * NET_TXBUF),
					pvio_cpu_to_le32(len + sizeof(struct pvio_net_hdr)),
					pvio_cpu_to_le16(g->slot_id[s]), 0 };
		if (pvfront_submit(tx, &d, 1)) {
			g->slot_id[s] = 0;
			break;
		}
		submitted(g, s, 1);
	}
	wait_a_little(tx);
	n = pvfront_reap(tx, c, DEPTH);
	for (k = 0; k < n; k++) {
		s = slot_of(g, pvio_le16_to_cpu(c[k].id));
		if (s < 0 || pvio_le32_to_cpu(c[k].status) != PVIO_S_OK) {
			mismatch(g, "net: tx completion id %#x status %u", pvio_le16_to_cpu(c[k].id),
				 pvio_le32_to_cpu(c[k].status));
			continue;
		}
		g->slot_id[s] = 0;
		atomic_fetch_sub(&g->inflight, 1);
	}
	n = pvfront_reap(rx, c, NET_NRX);
	for (k = 0; k < n; k++) {
		uint16_t id = pvio_le16_to_cpu(c[k].id);
		unsigned int i = id & 0x7fff;

		atomic_fetch_sub(&g->rx_posted, 1);
		if (!(id & 0x8000) || i >= NET_NRX || pvio_le32_to_cpu(c[k].status) != PVIO_S_OK) {
			mismatch(g, "net: rx completion id %#x status %u", id,
				 pvio_le32_to_cpu(c[k].status));
			continue;
		}
		if (!net_frame_ok(g->buf + (rx_gpa(g, i) - g->gpa), pvio_le32_to_cpu(c[k].len)))
			mismatch(g, "net: received frame of %u bytes in buffer %u is not one we sent",
				 pvio_le32_to_cpu(c[k].len), i);
		else
			verified(g);
		net_post_rx(g, i);
	}
	if (n > 0)
		pvfront_kick(rx);
}

static void net_lost(struct guest *g)
{
	free_slots(g);
	atomic_store(&g->rx_posted, 0);
}

/* tx requests taken, and rx chains the backend holds for packets to come. */
static unsigned int net_outstanding(struct guest *g)
{
	struct pvfront_queue *rx = &g->d->q[0];
	uint32_t pending = rx->sq.idx - pvio_le32_to_cpu(pvio_load_acquire(&rx->sq_sh->cons));
	unsigned int posted = atomic_load(&g->rx_posted);

	return sq_taken(g) + (posted > pending ? posted - pending : 0);
}

/* ---- balloon --------------------------------------------------------------------- */

static void bal_init(struct guest *g)
{
	unsigned int p;

	g->buf = pvfront_alloc(&g->f, BAL_PAGES * 4096ull, 4096, &g->gpa);
	g->cur = calloc(BAL_PAGES, sizeof(*g->cur));	/* generation of a live page */
	g->alt = calloc(BAL_PAGES, sizeof(*g->alt));	/* state */
	for (p = 0; p < BAL_PAGES; p++) {
		g->cur[p] = 1;
		pattern(g->buf + p * 4096ull, 4096, p, 1);
	}
}

/* One request of up to 64 ranges of BAL_RUN pages on @qi: inflate or deflate. */
static void bal_request(struct guest *g, unsigned int qi, uint32_t from, uint32_t to)
{
	struct pvio_desc d[PVIO_MAX_CHAIN];
	unsigned int n = 0, p, r, tries;
	int s = free_slot(g);

	if (s < 0 || g->qbusy[qi])
		return;
	g->slot_id[s] = make_id(g, (unsigned int)s);
	for (tries = 0; tries < 256 && n < PVIO_MAX_CHAIN; tries++) {
		p = rand_r(&g->rng) % (BAL_PAGES / BAL_RUN) * BAL_RUN;
		for (r = 0; r < BAL_RUN && g->alt[p + r] == from; r++)
			;
		if (r < BAL_RUN)
			continue;
		d[n] = (struct pvio_desc){ pvio_cpu_to_le64(g->gpa + p * 4096ull),
					   pvio_cpu_to_le32(BAL_RUN * 4096), pvio_cpu_to_le16(g->slot_id[s]),
					   pvio_cpu_to_le16(PVIO_DESC_F_NEXT) };
		for (r = 0; r < BAL_RUN; r++)
			g->alt[p + r] = to;
		n++;
	}
	if (!n) {
		g->slot_id[s] = 0;
		return;
	}
	d[n - 1].flags = 0;
	if (pvfront_submit(&g->d->q[qi], d, n)) {
		for (p = 0; p < BAL_PAGES; p++)
			if (g->alt[p] == to)
				g->alt[p] = from;
		g->slot_id[s] = 0;
		return;
	}
	g->qbusy[qi] = true;
	submitted(g, s, qi);
	pvfront_kick(&g->d->q[qi]);
}

/*
 * Every live page still holds its pattern (@all; else only the pages a
 * crash left unsure); a page back from the balloon is zero or it.
 */
void bal_scan(struct guest *g, bool all)
{
	static const uint8_t zero[4096];
	unsigned int p;

	for (p = 0; p < BAL_PAGES; p++) {
		uint8_t *pg = g->buf + p * 4096ull;

		if (all && g->alt[p] == PAGE_LIVE && !is_pattern(pg, 4096, p, g->cur[p])) {
			mismatch(g, "balloon: live page %u (generation %u) changed", p, g->cur[p]);
			pattern(pg, 4096, p, g->cur[p]);
		} else if (g->alt[p] == PAGE_UNSURE) {
			/* In a request a crash left open: punched, or not touched. */
			if (memcmp(pg, zero, 4096) && !is_pattern(pg, 4096, p, g->cur[p]))
				mismatch(g, "balloon: page %u is neither zero nor its pattern", p);
			g->cur[p]++;
			pattern(pg, 4096, p, g->cur[p]);
			g->alt[p] = PAGE_LIVE;
		}
	}
}

static void bal_pump(struct guest *g)
{
	struct pvio_cpl c[4];
	unsigned int qi, p;
	int s, n, k;

	bal_request(g, 0, PAGE_LIVE, PAGE_GOING);
	bal_request(g, 1, PAGE_OUT, PAGE_COMING);
	for (qi = 0; qi < 2; qi++) {
		wait_a_little(&g->d->q[qi]);
		n = pvfront_reap(&g->d->q[qi], c, 4);
		for (k = 0; k < n; k++) {
			s = slot_of(g, pvio_le16_to_cpu(c[k].id));
			if (s < 0 || pvio_le32_to_cpu(c[k].status) != PVIO_S_OK) {
				mismatch(g, "balloon: completion id %#x status %u on queue %u",
					 pvio_le16_to_cpu(c[k].id), pvio_le32_to_cpu(c[k].status), qi);
				continue;
			}
			for (p = 0; p < BAL_PAGES; p++) {
				if (qi == 0 && g->alt[p] == PAGE_GOING) {
					g->alt[p] = PAGE_OUT;
				} else if (qi == 1 && g->alt[p] == PAGE_COMING) {
					/* Ours again: reused with a new pattern. */
					g->cur[p]++;
					pattern(g->buf + p * 4096ull, 4096, p, g->cur[p]);
					g->alt[p] = PAGE_LIVE;
				}
			}
			g->slot_id[s] = 0;
			g->qbusy[qi] = false;
			atomic_fetch_sub(&g->inflight, 1);
			verified(g);
		}
	}
	if (rand_r(&g->rng) % 64 == 0)
		bal_scan(g, true);
}

static void bal_lost(struct guest *g)
{
	unsigned int p;

	for (p = 0; p < BAL_PAGES; p++)
		if (g->alt[p] == PAGE_GOING || g->alt[p] == PAGE_COMING)
			g->alt[p] = PAGE_UNSURE;
	free_slots(g);
	g->qbusy[0] = g->qbusy[1] = false;
	bal_scan(g, false);	/* the rest at the next full scan: not on the clock */
}

static unsigned int bal_outstanding(struct guest *g)
{
	return sq_taken(g);
}

const struct cls classes[] = {
	{ "echo", "ge", PVIO_DEV_ECHO, 0, 1, echo_init, echo_pump, echo_lost, echo_outstanding,
	  true },
	{ "blk", "gb", PVIO_DEV_BLK, 1ull << PVIO_BLK_F_FLUSH, 1, blk_init, blk_pump, blk_lost,
	  blk_outstanding, false },
	{ "net", "gn", PVIO_DEV_NET, 0, 2, net_init, net_pump, net_lost, net_outstanding, false },
	{ "balloon", "gm", PVIO_DEV_BALLOON, 0, 2, bal_init, bal_pump, bal_lost,
	  bal_outstanding, true },
};
