// SPDX-License-Identifier: GPL-2.0
/*
 * fault_campaign - kill and stall pviod's workers while their guests run
 * verified I/O, over and over, and check that nothing is lost or
 * corrupted and how long each guest takes to come back.
 *
 * Four guests, one per class, each with its own worker and a thread of
 * verified traffic through libpvio-front:
 *
 *   ge  echo     16 requests in flight, every byte echoed checked
 *   gb  blk      a 16 MiB region of a real file, writes and reads of 4 KiB
 *                blocks, each block's content known (its last completed
 *                write, or one in flight at a crash), read back at the end
 *   gn  net      net = null, null_rx = echo: frames sent and received back,
 *                every received frame checked against what was sent
 *   gm  balloon  32 MiB of guest RAM in pages that are live (a known
 *                pattern) or in the balloon; inflates, deflates, and a
 *                scan that no live page ever changed
 *
 * For each guest in turn: KILLS times, wait until the backend has taken
 * requests it has not completed (a fault that lands after the work is
 * done proves nothing, and fails the run), SIGKILL the guest's worker,
 * and time until the guest has reset its device and a request it then
 * made has completed and been verified.  Then STALLS times SIGSTOP the
 * worker for 20-200 ms with requests taken, SIGCONT it, and time until
 * the next completion (no reset may be needed).  The other three guests
 * must see no reset and no error meanwhile.  One TAP line per guest and
 * fault, with percentiles, then the final checks.
 *
 *   fault_campaign [-k KILLS] [-s STALLS] [-m MIN_MS] [-M MAX_MS]
 *                  (defaults 200, 100, 1000, 40000)
 *
 * PVIOD names the pviod binary (default build/pviod-san: ASan and UBSan
 * watch every takeover).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pvio_front.h"
#include "test_util.h"

#define HB_MS		50
#define ECHO_MAX	(256u << 10)	/* bytes per echo request, at most */
#define DEPTH		16
#define BLK_BLOCKS	4096u		/* 16 MiB of 4 KiB blocks */
#define BLK_BS		4096u
#define BAL_PAGES	8192u		/* 32 MiB */
#define BAL_RUN		32u		/* pages per range: 128 KiB */
#define NET_RXBUF	2048u
#define NET_NRX		32u
#define RAM_SIZE	(64u << 20)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- one guest under test -------------------------------------------------------- */

struct guest;

struct cls {
	const char *name, *gname;
	int type;
	uint64_t features;
	unsigned int nq;
	void (*init)(struct guest *g);
	void (*pump)(struct guest *g);		/* submit, reap, verify */
	void (*lost)(struct guest *g);		/* the device was reset under us */
	unsigned int (*outstanding)(struct guest *g);
	/*
	 * Serves a request whole in one go (echo, balloon): it publishes
	 * its SQ consumer index with the completions, so the guest never
	 * sees a request taken and not completed.  A kill is in flight when
	 * it lands on a running worker with requests submitted and never
	 * completed.
	 */
	bool whole;
};

struct guest {
	const struct cls *c;
	char sock[128];
	struct pvfront f;
	struct pvfront_dev *d;		/* the thread's; memset while it sets up */
	struct pvio_dev_desc *desc;	/* the same device's, for the main thread */
	unsigned int index;
	pthread_t th;
	unsigned int epoch;		/* resets we did; in the request ids */
	/* shared with the main thread */
	atomic_int stop;
	atomic_int draining;		/* no new requests: let the rest complete */
	atomic_uint_fast64_t done;	/* verified completions */
	atomic_uint_fast64_t mismatches, errors, resets;
	atomic_uint_fast64_t fault_ns;	/* the main thread's fault, 0: none */
	atomic_uint_fast64_t back_ns;	/* first verified completion after it */
	atomic_uint inflight;		/* requests submitted, not completed */
	atomic_uint lost_taken;		/* at the last reset: requests the backend
					 * had taken and never completed */
	atomic_int want;		/* the main thread asks: WANT_* */
	atomic_int phase;		/* where the thread is: PHASE_* */
	atomic_int setup_go;		/* the main thread had its look at PHASE_SETTING_UP */
	char why[256];			/* the first mismatch */
	pthread_mutex_t lock;		/* the slots: the thread's pump, the main thread's look */
	bool resetting;			/* under lock: slots and queues being rebuilt */
	/* the class's own */
	uint8_t *buf;
	uint64_t gpa;
	uint16_t slot_id[DEPTH];	/* 0: free */
	uint32_t slot_end[DEPTH];	/* SQ index just past the request */
	uint8_t slot_q[DEPTH];		/* its queue */
	uint32_t slot_len[DEPTH];
	uint32_t slot_blk[DEPTH];
	uint32_t slot_ver[DEPTH];
	bool slot_write[DEPTH];
	bool qbusy[2];			/* balloon: a request on the queue */
	atomic_uint rx_posted;		/* net: rx chains posted, not completed */
	uint32_t seq;
	uint32_t *cur, *alt;		/* blk: block versions; balloon: page states */
	uint32_t (*cand)[4];		/* blk: writes a crash left open, per block */
	uint8_t *busy;
	unsigned int rng;
};

static void mismatch(struct guest *g, const char *fmt, ...)
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

static uint16_t make_id(struct guest *g, unsigned int slot)
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
static bool blk_check(struct guest *g, uint32_t b, const uint8_t *p)
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

static int blk_submit(struct guest *g, unsigned int s, bool write, uint32_t b)
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

static void net_start(struct guest *g)
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

enum { PAGE_LIVE, PAGE_OUT, PAGE_GOING, PAGE_COMING, PAGE_UNSURE };

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
static void bal_scan(struct guest *g, bool all)
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

static const struct cls classes[] = {
	{ "echo", "ge", PVIO_DEV_ECHO, 0, 1, echo_init, echo_pump, echo_lost, echo_outstanding,
	  true },
	{ "blk", "gb", PVIO_DEV_BLK, 1ull << PVIO_BLK_F_FLUSH, 1, blk_init, blk_pump, blk_lost,
	  blk_outstanding, false },
	{ "net", "gn", PVIO_DEV_NET, 0, 2, net_init, net_pump, net_lost, net_outstanding, false },
	{ "balloon", "gm", PVIO_DEV_BALLOON, 0, 2, bal_init, bal_pump, bal_lost,
	  bal_outstanding, true },
};
#define NCLS	(sizeof(classes) / sizeof(classes[0]))

/* ---- the guests' threads ------------------------------------------------------------ */

static int dev_up(struct guest *g)
{
	if (pvfront_dev_setup(&g->f, g->index, g->c->features, g->c->nq, &g->d))
		return -1;
	if (g->c->type == PVIO_DEV_NET)
		net_start(g);
	return 0;
}

enum { WANT_NONE, WANT_RESET, WANT_SETUP };
enum { PHASE_IO, PHASE_RESETTING, PHASE_SETTING_UP };

/* Between FEATURES_OK and the queues: the main thread kills here. */
static void slow_setup(struct pvfront_dev *d, void *arg)
{
	struct guest *g = arg;

	int i;

	(void)d;
	atomic_store(&g->phase, PHASE_SETTING_UP);
	/*
	 * Until the main thread has stopped the worker, looked and killed
	 * (or given up): on a loaded machine it may not run for a while,
	 * and a moment that passed unseen would fail the campaign.
	 */
	for (i = 0; i < 5000 && !atomic_load(&g->setup_go); i++)
		msleep(1);
	atomic_store(&g->phase, PHASE_IO);
}

/*
 * While the thread resets and sets its device up again, its slots and
 * queues (pvfront_dev_setup() clears the whole struct pvfront_dev) are
 * not there for the main thread to look at: taken_now() says 0.
 */
static void resetting(struct guest *g, bool on)
{
	pthread_mutex_lock(&g->lock);
	g->resetting = on;
	pthread_mutex_unlock(&g->lock);
}

/* Requests out are void once the reset is acknowledged; a new epoch. */
static int reset_and_forget(struct guest *g)
{
	int ret = pvfront_dev_reset(g->d, 15000);

	g->c->lost(g);
	g->epoch++;
	return ret;
}

/*
 * What the main thread asked for: a reset with requests in flight (the
 * kill lands while the worker serves it: for blk, a drain), or a reset
 * and then a slow set-up (the kill lands before DRIVER_OK).
 */
static void voluntary(struct guest *g, int want)
{
	int ret;

	resetting(g, true);
	if (want == WANT_RESET) {
		atomic_store(&g->lost_taken, g->c->outstanding(g));
		atomic_store(&g->phase, PHASE_RESETTING);
		ret = reset_and_forget(g);
		atomic_store(&g->phase, PHASE_IO);
		if (!ret && !(pvfront_device_state(g->d) & PVIO_DEV_S_NEEDS_RESET))
			ret = dev_up(g);
	} else {
		ret = reset_and_forget(g);
		if (!ret)
			ret = pvfront_dev_setup_ex(&g->f, g->index, g->c->features, g->c->nq,
						   slow_setup, g, &g->d);
		if (!ret && g->c->type == PVIO_DEV_NET &&
		    !(pvfront_device_state(g->d) & PVIO_DEV_S_NEEDS_RESET))
			net_start(g);
	}
	atomic_fetch_add(&g->resets, 1);	/* before settled() can see it done */
	resetting(g, false);
	if (ret) {
		atomic_fetch_add(&g->errors, 1);
		mismatch(g, "%s: a %s failed (%d)", g->c->name,
			 want == WANT_RESET ? "reset" : "set-up", ret);
	}
}


static void *guest_main(void *arg)
{
	struct guest *g = arg;
	uint32_t st;
	int ret;

	while (!atomic_load(&g->stop)) {
		int want = atomic_exchange(&g->want, WANT_NONE);

		if (want) {
			voluntary(g, want);
			continue;
		}
		st = pvfront_device_state(g->d);
		if (st & (PVIO_DEV_S_NEEDS_RESET | PVIO_DEV_S_BROKEN)) {
			/* A crash (or worse): reset, set up again, carry on. */
			/* What the dead worker completed counts; then what it took and never did. */
			atomic_store(&g->draining, 1);
			g->c->pump(g);
			atomic_store(&g->draining, 0);
			atomic_store(&g->lost_taken, g->c->outstanding(g));
			if (getenv("FAULT_DEBUG"))
				fprintf(stderr, "# %s reset: inflight %u, sq idx %u, cons %u, taken %u, cq prod %u, ours %u\n",
					g->c->name, atomic_load(&g->inflight), g->d->q[0].sq.idx,
					pvio_le32_to_cpu(g->d->q[0].sq_sh->cons),
					atomic_load(&g->lost_taken),
					pvio_le32_to_cpu(g->d->q[0].cq_sh->prod), g->d->q[0].cq.idx);
			resetting(g, true);
			ret = reset_and_forget(g) || dev_up(g);
			if (!ret)
				atomic_fetch_add(&g->resets, 1);
			resetting(g, false);
			if (ret) {
				atomic_fetch_add(&g->errors, 1);
				mismatch(g, "%s: no reset or set-up after a fault", g->c->name);
				msleep(100);
			}
			continue;
		}
		pthread_mutex_lock(&g->lock);
		g->c->pump(g);
		pthread_mutex_unlock(&g->lock);
	}
	return NULL;
}

/* Requests @g's backend has taken and not completed, seen between two pumps. */
static unsigned int taken_now(struct guest *g)
{
	unsigned int n;

	pthread_mutex_lock(&g->lock);
	n = g->resetting ? 0 : g->c->outstanding(g);
	pthread_mutex_unlock(&g->lock);
	return n;
}

/* ---- the campaign ------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, unsigned int n, double p)
{
	if (!n)
		return 0;
	return v[(unsigned int)((n - 1) * p + 0.5)] / 1e6;
}

static int tap_n;

static void tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* Wait until @g has requests out and a device that runs; false after 3 s. */
static bool wait_busy(struct guest *g)
{
	uint64_t end = now_ns() + 3000000000ull;

	while (now_ns() < end) {
		if (atomic_load(&g->inflight) > 0 &&
		    !(pvio_le32_to_cpu(pvio_read_once(g->desc->device_state)) &
		      (PVIO_DEV_S_NEEDS_RESET | PVIO_DEV_S_BROKEN)))
			return true;
		usleep(50);
	}
	return false;
}

static char ctl[128], logpath[128];

/* The state letter of process @pid (R running, S sleeping, ...), or '?'. */
static char proc_state(int pid)
{
	char path[64], buf[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	p = f && fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	if (f)
		fclose(f);
	return p ? p[2] : '?';
}

/* SIGSTOP @pid and wait until it is stopped; 0 or -1. */
static int stop_worker(int pid)
{
	char path[64], buf[512], *p;
	int i;

	if (kill(pid, SIGSTOP))
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (i = 0; i < 20000; i++) {
		FILE *f = fopen(path, "r");

		p = f && fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		if (f)
			fclose(f);
		if (p && (p[2] == 'T' || p[2] == 't'))
			return 0;
		usleep(100);
	}
	return -1;
}

enum { AT_IO, AT_RESET, AT_SETUP, AT_TAKEOVER, AT_N };
static const char *const at_name[AT_N] = {
	[AT_IO] = "during I/O", [AT_RESET] = "during a reset", [AT_SETUP] = "before DRIVER_OK",
	[AT_TAKEOVER] = "during a takeover",
};

/* Wait until @g's thread is in @phase; false after 5 s. */
static bool wait_phase(struct guest *g, int phase)
{
	uint64_t end = now_ns() + 5000000000ull;

	while (atomic_load(&g->phase) != phase) {
		if (now_ns() > end)
			return false;
		usleep(20);
	}
	return true;
}

/* Wait until @g's thread is back at its I/O with nothing asked; false after 15 s. */
static bool settled(struct guest *g)
{
	uint64_t end = now_ns() + 15000000000ull;
	bool busy;

	do {
		pthread_mutex_lock(&g->lock);
		busy = g->resetting;
		pthread_mutex_unlock(&g->lock);
		if (!busy && atomic_load(&g->want) == WANT_NONE &&
		    atomic_load(&g->phase) == PHASE_IO)
			return true;
		usleep(1000);
	} while (now_ns() < end);
	return false;
}

/* Why tries found their moment gone, for the TAP line. */
enum { MISS_IDLE, MISS_ACKED, MISS_NONE_TAKEN, MISS_SETUP_DONE, MISS_NEW_GONE, MISS_NEW_UP,
       MISS_N };
static const char *const miss_name[MISS_N] = {
	[MISS_IDLE] = "worker not running", [MISS_ACKED] = "reset acknowledged",
	[MISS_NONE_TAKEN] = "nothing taken", [MISS_SETUP_DONE] = "set-up done",
	[MISS_NEW_GONE] = "new worker gone", [MISS_NEW_UP] = "new worker up",
};
static unsigned int miss[MISS_N];

static int missed_moment(int why)
{
	miss[why]++;
	return 0;
}

/*
 * Stop worker @wpid anywhere in its work, holding requests it has taken
 * and not completed (*@load of them): 1, stopped; 0, a miss (thawed
 * again); -1 with *@why set.
 */
static int catch_holding(struct guest *g, int wpid, unsigned int *load, const char **why)
{
	usleep((useconds_t)(rand() % 2000));
	if (g->c->whole && proc_state(wpid) != 'R')
		return missed_moment(MISS_IDLE);
	if (stop_worker(wpid)) {
		*why = "SIGSTOP did not stop the worker";
		return -1;
	}
	msleep(15);	/* what it did complete, the guest reaps (it waits 5 ms at most) */
	*load = taken_now(g);
	if (!*load) {
		kill(wpid, SIGCONT);
		return missed_moment(MISS_NONE_TAKEN);
	}
	return 1;
}

/*
 * One SIGKILL of @g's worker at moment @at, landing where it should: the
 * worker is stopped first and the state looked at; a try that finds the
 * moment gone thaws the worker and returns 0 (try again).  Returns 1 with
 * *@t0 the time of the kill and *@load what was in flight, or -1 with
 * *@why set.
 */
static int kill_at(struct guest *g, int at, uint64_t *t0, unsigned int *load, const char **why)
{
	struct pvio_dev_desc *dd = g->desc;
	int wpid = guest_worker_pid(ctl, g->c->gname), np, k, r;
	uint32_t gen;

	if (wpid <= 0) {
		*why = "no worker pid";
		return -1;
	}
	if (!wait_busy(g)) {
		*why = "the guest had no request out for 3 s";
		return -1;
	}
	if (at == AT_IO || at == AT_TAKEOVER) {
		r = catch_holding(g, wpid, load, why);
		if (r <= 0)
			return r;
	} else if (at == AT_RESET) {
		/*
		 * The guest resets with requests in flight while the worker is
		 * stopped; thawed, the worker serves it (blk: drains what it
		 * had taken) for a random moment, and is stopped again.  The
		 * worker is first caught holding requests: a reset with none
		 * in flight is not the moment, and costs the guest a set-up.
		 */
		r = catch_holding(g, wpid, load, why);
		if (r <= 0)
			return r;
		atomic_store(&g->want, WANT_RESET);
		if (!wait_phase(g, PHASE_RESETTING)) {
			kill(wpid, SIGCONT);
			*why = "the guest never reset";
			return -1;
		}
		while (pvio_read_once(dd->reset_count) == pvio_read_once(dd->reset_request))
			;
		kill(wpid, SIGCONT);
		usleep((useconds_t)(rand() % 500));
		if (stop_worker(wpid)) {
			*why = "SIGSTOP did not stop the worker";
			return -1;
		}
		/* Not yet acknowledged, with requests that were in flight at it. */
		*load = atomic_load(&g->lost_taken);
		if (!*load || pvio_le32_to_cpu(pvio_read_once(dd->reset_count)) ==
			      pvio_le32_to_cpu(pvio_read_once(dd->reset_request))) {
			kill(wpid, SIGCONT);
			return missed_moment(*load ? MISS_ACKED : MISS_NONE_TAKEN);
		}
	} else {
		atomic_store(&g->setup_go, 0);
		atomic_store(&g->want, WANT_SETUP);
		if (!wait_phase(g, PHASE_SETTING_UP)) {
			*why = "the guest never got to its set-up";
			return -1;
		}
		if (stop_worker(wpid)) {
			*why = "SIGSTOP did not stop the worker";
			return -1;
		}
		*load = 0;	/* a device being set up has nothing in flight */
		if (atomic_load(&g->phase) != PHASE_SETTING_UP) {
			kill(wpid, SIGCONT);
			return missed_moment(MISS_SETUP_DONE);
		}
	}
	*t0 = now_ns();
	atomic_store(&g->back_ns, 0);
	atomic_store(&g->fault_ns, *t0);
	if (kill(wpid, SIGKILL)) {
		*why = "kill failed";
		return -1;
	}
	if (at != AT_TAKEOVER)
		return 1;
	/* The worker that takes over: killed before it has published its generation. */
	gen = pvio_le32_to_cpu(pvio_load_acquire(&g->f.hdr->generation));
	for (k = 0; k < 50000; k++) {
		np = guest_worker_pid(ctl, g->c->gname);
		if (np > 0 && np != wpid)
			break;
		usleep(100);
	}
	if (np <= 0 || np == wpid) {
		*why = "no new worker within 5 s";
		return -1;
	}
	if (stop_worker(np))
		return missed_moment(MISS_NEW_GONE);	/* it failed? the recovery says */
	if (pvio_le32_to_cpu(pvio_load_acquire(&g->f.hdr->generation)) != gen) {
		kill(np, SIGCONT);	/* it had taken over: not this moment */
		return missed_moment(MISS_NEW_UP);
	}
	*t0 = now_ns();
	atomic_store(&g->fault_ns, *t0);
	kill(np, SIGKILL);
	return 1;
}

/*
 * @kills SIGKILLs of @g's worker, a quarter at each moment: during I/O
 * (requests it has taken and not completed -- for echo and the balloon,
 * which publish their consumer index with the completions, requests out
 * while it runs), during a reset the guest made with requests in flight
 * (for blk, while it drains them), after FEATURES_OK and before
 * DRIVER_OK, and during the takeover that follows a kill.  Each lands
 * where it should (kill_at); tries that find the moment gone do not
 * count (60 s without a kill landing fails the run).  Time to come
 * back: the kill to the first verified completion after the guest's
 * reset.  The other guests must not reset meanwhile.
 */
static void kill_phase(struct guest *gs, struct guest *g, unsigned int kills)
{
	uint64_t *lat[AT_N], r0[NCLS], e0 = atomic_load(&g->mismatches), landed;
	unsigned int k, at, n[AT_N] = { 0 }, total = 0, missed = 0, nb = 0;
	unsigned int load_min[AT_N], load_max[AT_N] = { 0 };
	const char *fail = NULL;
	char others[160] = "", moments[1024] = "", whys[256] = "";
	uint64_t t_phase = now_ns(), t_shown = t_phase;

	for (at = 0; at < AT_N; at++) {
		lat[at] = calloc(kills, sizeof(*lat[at]));
		load_min[at] = ~0u;
	}
	for (k = 0; k < NCLS; k++)
		r0[k] = atomic_load(&gs[k].resets);
	memset(miss, 0, sizeof(miss));
	landed = now_ns();
	while (total < kills && !fail) {
		uint64_t resets = atomic_load(&g->resets), t0 = 0;
		unsigned int load = 0;
		int r;

		/* A long campaign says how far it is, every 10 s. */
		if (now_ns() - t_shown >= 10000000000ull) {
			t_shown = now_ns();
			printf("# %s: %u/%u kills landed, %u tries missed their moment, %.0f s\n",
			       g->c->name, total, kills, missed, (t_shown - t_phase) / 1e9);
			fflush(stdout);
		}
		at = total % AT_N;
		r = kill_at(g, (int)at, &t0, &load, &fail);
		atomic_store(&g->setup_go, 1);	/* the guest thread's set-up goes on */
		if (r < 0)
			break;
		if (r == 0) {
			/*
			 * A loaded machine finds the moment less often: the
			 * budget is time without a kill landing, not tries.
			 */
			missed++;
			if (now_ns() - landed > 60000000000ull)
				fail = "no kill landed its moment in 60 s of trying";
			continue;
		}
		landed = now_ns();
		/* Back: a reset done and a request made after it verified. */
		while ((atomic_load(&g->resets) == resets || !atomic_load(&g->back_ns)) &&
		       now_ns() - t0 < 15000000000ull)
			usleep(200);
		atomic_store(&g->fault_ns, 0);
		if (atomic_load(&g->resets) == resets || !atomic_load(&g->back_ns)) {
			fail = "the guest did not come back within 15 s";
			break;
		}
		/* During I/O: the guest's reset confirms nothing came back. */
		if (at == AT_IO && !atomic_load(&g->lost_taken)) {
			fail = "a kill during I/O found no request taken and not completed";
			break;
		}
		load_min[at] = load < load_min[at] ? load : load_min[at];
		load_max[at] = load > load_max[at] ? load : load_max[at];
		lat[at][n[at]++] = atomic_load(&g->back_ns) - t0;
		total++;
		usleep((useconds_t)(rand() % 20000));
	}
	/* A reset this phase asked for ends in it, not in the next guest's. */
	if (!settled(g) && !fail)
		fail = "the guest did not settle within 15 s";
	for (k = 0; k < NCLS; k++) {
		uint64_t r = atomic_load(&gs[k].resets) - r0[k];

		if (&gs[k] == g || !r)
			continue;
		nb += (unsigned int)r;
		snprintf(others + strlen(others), sizeof(others) - strlen(others), " %s %lu",
			 gs[k].c->name, (unsigned long)r);
	}
	for (at = 0; at < AT_N; at++) {
		qsort(lat[at], n[at], sizeof(*lat[at]), cmp_u64);
		snprintf(moments + strlen(moments), sizeof(moments) - strlen(moments),
			 "%s%u %s (in flight %u..%u) back p50 %.0f ms p99 %.0f ms max %.0f ms",
			 at ? "; " : "", n[at], at_name[at], n[at] ? load_min[at] : 0, load_max[at],
			 pct(lat[at], n[at], 0.5), pct(lat[at], n[at], 0.99),
			 n[at] ? lat[at][n[at] - 1] / 1e6 : 0);
		free(lat[at]);
	}
	for (k = 0; k < MISS_N; k++)
		if (miss[k])
			snprintf(whys + strlen(whys), sizeof(whys) - strlen(whys), "%s%s %u",
				 *whys ? ", " : " (", miss_name[k], miss[k]);
	if (*whys)
		strcat(whys, ")");
	tap(!fail && total == kills && !nb && atomic_load(&g->mismatches) == e0,
	    "%s: %u SIGKILLs of its worker: %s; %u tries found the moment gone%s; %lu mismatches; resets of the other guests: %s%s%s%s%s",
	    g->c->name, total, moments, missed, whys,
	    (unsigned long)(atomic_load(&g->mismatches) - e0), nb ? others : "0 (expected 0)",
	    fail ? "; " : "", fail ? fail : "", atomic_load(&g->mismatches) != e0 ? "; first: " : "",
	    atomic_load(&g->mismatches) != e0 ? g->why : "");
}

/* A stall phase of one guest, run beside the other guests' (stall_main). */
struct stall_job {
	struct guest *g;
	unsigned int stalls, min_ms, max_ms;
	pthread_t th;
	char line[1024];
	bool ok;
};

/* A duration in [@lo, @hi] ms, log-uniform: as many 1-2 s stalls as 20-40 s ones. */
static unsigned int log_uniform(unsigned int *seed, unsigned int lo, unsigned int hi)
{
	double u = rand_r(seed) / (double)RAND_MAX;

	return hi <= lo ? lo : (unsigned int)(lo * pow((double)hi / lo, u));
}

/*
 * @stalls SIGSTOPs of the guest's worker, each holding requests it has
 * taken and not completed, for a log-uniform @min_ms..@max_ms; then
 * SIGCONT: the next completion must come without a reset.
 */
static void *stall_main(void *arg)
{
	struct stall_job *j = arg;
	struct guest *g = j->g;
	uint64_t *lat = calloc(j->stalls, sizeof(*lat)), e0 = atomic_load(&g->mismatches);
	uint64_t resets = atomic_load(&g->resets), held = 0;
	unsigned int i, n = 0, ms_min = ~0u, ms_max = 0, tries = 0, seed = (unsigned int)(uintptr_t)g;
	unsigned int shown = 0;
	const char *fail = NULL;
	int wpid = guest_worker_pid(ctl, g->c->gname);

	for (i = 0; i < j->stalls && !fail && tries <= 100 * j->stalls; i++) {
		unsigned int ms = log_uniform(&seed, j->min_ms, j->max_ms);
		uint64_t t0, done;

		if (i && i % 10 == 0 && i != shown) {
			shown = i;
			printf("# %s: %u/%u stalls done\n", g->c->name, i, j->stalls);
			fflush(stdout);
		}
		if (!wait_busy(g)) {
			fail = "the guest had no request out for 3 s";
			break;
		}
		usleep((useconds_t)(rand_r(&seed) % 2000));
		if (g->c->whole && proc_state(wpid) != 'R') {
			tries++;
			i--;
			continue;
		}
		if (stop_worker(wpid)) {
			fail = "SIGSTOP did not stop the worker";
			break;
		}
		msleep(15);
		if (!taken_now(g)) {
			kill(wpid, SIGCONT);
			tries++;
			i--;
			continue;
		}
		msleep((int)ms - 15 > 0 ? (int)ms - 15 : 0);
		ms_min = ms < ms_min ? ms : ms_min;
		ms_max = ms > ms_max ? ms : ms_max;
		held += ms;
		done = atomic_load(&g->done);
		atomic_store(&g->back_ns, 0);
		t0 = now_ns();
		atomic_store(&g->fault_ns, t0);
		kill(wpid, SIGCONT);
		while (atomic_load(&g->done) == done && now_ns() - t0 < 5000000000ull)
			usleep(100);
		if (atomic_load(&g->done) == done) {
			fail = "no completion within 5 s of SIGCONT";
			break;
		}
		lat[n++] = (atomic_load(&g->back_ns) ? atomic_load(&g->back_ns) : now_ns()) - t0;
		atomic_store(&g->fault_ns, 0);
		usleep((useconds_t)(rand_r(&seed) % 10000));
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	j->ok = !fail && n == j->stalls && atomic_load(&g->resets) == resets &&
		atomic_load(&g->mismatches) == e0;
	snprintf(j->line, sizeof(j->line),
		 "%s: %u SIGSTOPs of %u..%u ms (%.0f s in all) holding requests %s and not completed (%u tries found none); next completion after SIGCONT p50 %.1f ms, p99 %.1f ms, max %.1f ms; resets %lu (expected 0); %lu mismatches%s%s%s%s",
		 g->c->name, n, ms_min == ~0u ? 0 : ms_min, ms_max, held / 1e3,
		 g->c->whole ? "out" : "taken", tries, pct(lat, n, 0.5), pct(lat, n, 0.99),
		 n ? lat[n - 1] / 1e6 : 0, (unsigned long)(atomic_load(&g->resets) - resets),
		 (unsigned long)(atomic_load(&g->mismatches) - e0), fail ? "; " : "", fail ? fail : "",
		 atomic_load(&g->mismatches) != e0 ? "; first: " : "",
		 atomic_load(&g->mismatches) != e0 ? g->why : "");
	free(lat);
	return NULL;
}

/* After the campaign: every block read back, every live page scanned. */
static void final_checks(struct guest *gs)
{
	struct guest *b = &gs[1], *m = &gs[3];
	unsigned int blk, bad = 0, s;
	uint64_t e0;

	for (blk = 0; blk < BLK_BLOCKS; blk++) {
		struct pvio_cpl c;
		int w;

		b->slot_id[0] = make_id(b, 0);
		memset(b->buf, 0xa5, BLK_BS);
		if (blk_submit(b, 0, false, blk))
			break;
		pvfront_kick(&b->d->q[0]);
		for (w = 0; w < 500 && pvfront_reap(&b->d->q[0], &c, 1) != 1; w++)
			pvfront_wait(&b->d->q[0], 10);
		if (w == 500 || pvio_le32_to_cpu(c.status) != PVIO_S_OK || !blk_check(b, blk, b->buf)) {
			if (!bad++)
				snprintf(b->why, sizeof(b->why), "block %u: status %u", blk,
					 pvio_le32_to_cpu(c.status));
		}
	}
	b->slot_id[0] = 0;
	tap(bad == 0, "blk: all %u blocks read back after the campaign: %u not as last written%s%s",
	    BLK_BLOCKS, bad, bad ? "; " : "", bad ? b->why : "");
	e0 = atomic_load(&m->mismatches);
	for (s = 0; s < BAL_PAGES; s++)
		if (m->alt[s] == PAGE_GOING || m->alt[s] == PAGE_COMING)
			m->alt[s] = PAGE_UNSURE;
	bal_scan(m, true);
	tap(atomic_load(&m->mismatches) == e0,
	    "balloon: every page scanned after the campaign: %lu changed under the guest",
	    (unsigned long)(atomic_load(&m->mismatches) - e0));
}

int main(int argc, char **argv)
{
	unsigned int kills = 200, stalls = 100, stall_min = 1000, stall_max = 40000, k;
	struct stall_job jobs[NCLS];
	char dir[] = "/tmp/pvio-faults-XXXXXX", cfg[128], img[128], cmd[192];
	struct guest gs[NCLS];
	uint64_t t_start = now_ns();
	FILE *f;
	pid_t pid;
	int opt, fd;

	while ((opt = getopt(argc, argv, "k:s:m:M:")) != -1) {
		if (opt == 'k')
			kills = (unsigned int)atoi(optarg);
		else if (opt == 's')
			stalls = (unsigned int)atoi(optarg);
		else if (opt == 'm')
			stall_min = (unsigned int)atoi(optarg);
		else if (opt == 'M')
			stall_max = (unsigned int)atoi(optarg);
		else
			return 2;
	}
	if (!stall_min || stall_max < stall_min)
		return 2;
	srand((unsigned int)time(NULL));
	printf("TAP version 13\n1..%zu\n", NCLS * 2 + 2 + 1);
	printf("# %u kills and %u stalls of %u..%u ms per guest; pviod %s\n", kills, stalls,
	       stall_min, stall_max, pviod_bin());
	if (!mkdtemp(dir))
		return 1;
	snprintf(cfg, sizeof(cfg), "%s/pviod.ini", dir);
	snprintf(logpath, sizeof(logpath), "%s/pviod.log", dir);
	snprintf(ctl, sizeof(ctl), "%s/control.sock", dir);
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)BLK_BLOCKS * BLK_BS))
		return 1;
	close(fd);
	f = fopen(cfg, "w");
	if (!f)
		return 1;
	fprintf(f, "[pviod]\ncontrol = %s\nheartbeat_ms = %d\nrestart_limit = 100000\n"
		"[guest ge]\nsocket = %s/ge.sock\n[device ge e]\ntype = echo\n"
		"[guest gb]\nsocket = %s/gb.sock\n[device gb b]\ntype = blk\npath = %s\ncache = none\n"
		"[guest gn]\nsocket = %s/gn.sock\n[device gn n]\ntype = net\nnet = null\nnull_rx = echo\n"
		"[guest gm]\nsocket = %s/gm.sock\n[device gm m]\ntype = balloon\nreporting = no\n",
		ctl, HB_MS, dir, dir, img, dir, dir);
	fclose(f);
	pid = pviod_start(cfg, logpath, ctl);
	if (pid <= 0) {
		tap(false, "pviod did not start (log %s)", logpath);
		return 1;
	}
	memset(gs, 0, sizeof(gs));
	for (k = 0; k < NCLS; k++) {
		struct guest *g = &gs[k];

		g->c = &classes[k];
		pthread_mutex_init(&g->lock, NULL);
		g->rng = k * 7919 + 1;
		snprintf(g->sock, sizeof(g->sock), "%s/%s.sock", dir, g->c->gname);
		if (pvfront_connect(&g->f, g->sock, RAM_SIZE) || pvfront_wait_ready(&g->f, 5000) ||
		    !pvfront_find(&g->f, g->c->type, 0, &g->index)) {
			tap(false, "%s: no device", g->c->name);
			return 1;
		}
		g->c->init(g);
		if (!g->buf || dev_up(g)) {
			tap(false, "%s: set-up failed", g->c->name);
			return 1;
		}
		g->desc = g->d->desc;	/* one window for the whole run */
		pthread_create(&g->th, NULL, guest_main, g);
	}
	for (k = 0; k < NCLS; k++) {
		kill_phase(gs, &gs[k], kills);
	}
	/* The stalls: every guest's at once, each of its own length. */
	for (k = 0; k < NCLS; k++) {
		jobs[k] = (struct stall_job){ .g = &gs[k], .stalls = stalls, .min_ms = stall_min,
					      .max_ms = stall_max };
		pthread_create(&jobs[k].th, NULL, stall_main, &jobs[k]);
	}
	for (k = 0; k < NCLS; k++) {
		pthread_join(jobs[k].th, NULL);
		tap(jobs[k].ok, "%s", jobs[k].line);
	}
	/* No new requests; what is in flight completes (and is checked). */
	for (k = 0; k < NCLS; k++)
		atomic_store(&gs[k].draining, 1);
	for (k = 0; k < NCLS; k++) {
		uint64_t t0 = now_ns();

		while (atomic_load(&gs[k].inflight) && now_ns() - t0 < 5000000000ull)
			usleep(1000);
		atomic_store(&gs[k].stop, 1);
		pthread_join(gs[k].th, NULL);
	}
	final_checks(gs);
	for (k = 0; k < NCLS; k++)
		printf("# %s: %lu verified completions, %lu resets, %lu mismatches\n", gs[k].c->name,
		       (unsigned long)atomic_load(&gs[k].done), (unsigned long)atomic_load(&gs[k].resets),
		       (unsigned long)atomic_load(&gs[k].mismatches));
	k = kill(pid, 0) == 0;
	for (unsigned int i = 0; i < NCLS; i++) {
		pvfront_close(&gs[i].f);
		free(gs[i].cur);
		free(gs[i].alt);
		free(gs[i].cand);
		free(gs[i].busy);
	}
	tap(k && pviod_stop(&pid, logpath) == 0,
	    "pviod: supervisor alive through %u kills and %u stalls, no sanitizer report, %.0f s in all",
	    kills * (unsigned int)NCLS, stalls * (unsigned int)NCLS, (now_ns() - t_start) / 1e9);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (!getenv("PVIO_KEEP"))
		(void)system(cmd);
	return 0;
}
