// SPDX-License-Identifier: GPL-2.0
/*
 * net/rx.c - the receive half of the net data path: an rx chain is filled
 * with one readv() straight into guest RAM; only the 12-byte header
 * passes through private memory, where it is fixed up.
 *
 *   rx queue 2n:    the generic queue loop pops chains into a private FIFO
 *                   while each is sure of a completion slot (ops->held is
 *                   the FIFO's count); then ops->run_end reads the TAP
 *                   into the oldest chains and completes them.  The TAP
 *                   fd is in the worker's epoll set only while the FIFO
 *                   holds chains and the TAP is empty; its readiness runs
 *                   the queue through the loop's gate like a doorbell.
 *   with MRG_RXBUF: one readv() spreads a packet over as many FIFO chains
 *                   as it needs (the TAP cannot be peeked, so the iovec
 *                   covers up to the largest packet); the chains it used
 *                   complete in FIFO order, the rest stay for the next
 *                   packet.  Bytes beyond the chains the FIFO held land in
 *                   a private overflow buffer and wait there, to be copied
 *                   into the next chains the guest posts: a packet is never
 *                   dropped for want of rx buffers, only when it is larger
 *                   than the whole ring can hold.
 *
 * Worker only, but pvbe_net_rx_stock(), which the DPDK port's poll thread
 * shares.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/threads.h"
#include "net/net.h"

#define PVBE_NET_RX_IOV		1024	/* IOV_MAX: segments of one readv() */

static void on_tap(int fd, uint32_t events, void *arg);

/* Take a popped rx chain into @b; false if it cannot carry a packet. */
static bool rx_chain(struct pvbe_net_rxbuf *b, const struct pvbe_req *req)
{
	unsigned int i;

	if (req->in_bytes || req->out_bytes < PVBE_NET_HDR_LEN + PVBE_NET_ETH_HLEN)
		return false;
	for (i = 0; i < req->nslots; i++) {
		if (!req->buf[i])
			return false;	/* an inline header slot */
		b->iov[i].iov_base = req->buf[i];
		b->iov[i].iov_len = pvio_le32_to_cpu(req->d[i].len);
	}
	b->id = req->id;
	b->niov = (uint16_t)req->nslots;
	/*
	 * No packet is larger than PVBE_NET_RX_MAX: a chain's capacity counts
	 * up to that, so sums of capacities stay far from wrapping (chains may
	 * overlap, each up to 4 GiB).
	 */
	b->cap = req->out_bytes < PVBE_NET_RX_MAX ? req->out_bytes : PVBE_NET_RX_MAX;
	return true;
}

/* Write @len bytes at the start of a posted chain. */
static void chain_write(const struct pvbe_net_rxbuf *b, const void *src, uint32_t len)
{
	unsigned int i;

	for (i = 0; i < b->niov && len; i++) {
		size_t n = b->iov[i].iov_len < len ? b->iov[i].iov_len : len;

		memcpy(b->iov[i].iov_base, src, n);
		src = (const char *)src + n;
		len -= (uint32_t)n;
	}
}

/*
 * Fix up the header the TAP wrote (private copy) for this guest; false
 * when the packet needs an offload the guest did not accept (queued in the
 * TAP under an earlier driver's offloads): the caller drops it.
 */
static bool rx_hdr_fixup(const struct pvbe_net_dev *nd, struct pvio_net_hdr *h)
{
	unsigned int gso = h->gso_type & ~PVIO_NET_GSO_ECN;

	h->num_buffers = pvio_cpu_to_le16(1);
	if (!pvbe_net_has(nd, PVIO_NET_F_GUEST_CSUM)) {
		if (h->flags & PVIO_NET_HDR_F_NEEDS_CSUM)
			return false;
		h->flags = 0;	/* no DATA_VALID either */
	}
	if (h->gso_type == PVIO_NET_GSO_NONE)
		return true;
	return (gso == PVIO_NET_GSO_TCPV4 && pvbe_net_has(nd, PVIO_NET_F_GUEST_TSO4)) ||
	       (gso == PVIO_NET_GSO_TCPV6 && pvbe_net_has(nd, PVIO_NET_F_GUEST_TSO6));
}

/*
 * Read one packet into the oldest FIFO chain.  Returns 1 if a packet was
 * consumed (delivered or dropped), 0 when the TAP is empty, -1 on a dead
 * queue.
 */
static int rx_one(struct pvbe_net_pair *p, struct pvbe_queue *q)
{
	struct pvbe_net_dev *nd = p->nd;
	struct pvbe_net_rxbuf *b = &p->fifo[p->head];
	struct iovec iov[PVIO_MAX_CHAIN + 2];
	struct pvio_net_hdr hdr;
	uint32_t skip = PVBE_NET_HDR_LEN;
	unsigned char spill;
	struct pvio_cpl cpl;
	unsigned int i, n = 1;
	ssize_t r;

	/*
	 * The header lands in private memory, the frame in the chain after
	 * the header's room, and one spare byte catches a frame too big for
	 * the chain: the TAP returns the whole packet's length even when it
	 * had to cut it, and the spare byte makes that visible on every path.
	 */
	iov[0].iov_base = &hdr;
	iov[0].iov_len = sizeof(hdr);
	for (i = 0; i < b->niov; i++) {
		if (skip >= b->iov[i].iov_len) {
			skip -= (uint32_t)b->iov[i].iov_len;
			continue;
		}
		iov[n].iov_base = (char *)b->iov[i].iov_base + skip;
		iov[n].iov_len = b->iov[i].iov_len - skip;
		n++;
		skip = 0;
	}
	iov[n].iov_base = &spill;
	iov[n].iov_len = 1;
	n++;
	r = pvbe_net_host_read(p, iov, n);
	if (r < 0) {
		if (errno == EAGAIN)
			return 0;
		pvbe_net_pair_dead(p, "read", errno);
		return -1;
	}
	if ((size_t)r > b->cap || r < (ssize_t)(PVBE_NET_HDR_LEN + PVBE_NET_ETH_HLEN)) {
		q->st.drops++;
		if (pvbe_net_ratelimit(nd))
			pvbe_warn(nd->dev->tag, "rx queue %u: %zd-byte packet (header included) does not fit the guest's %u-byte buffer: dropped",
				  q->index, r, b->cap);
		return 1;	/* the chain waits for the next packet */
	}
	if (!rx_hdr_fixup(nd, &hdr)) {
		q->st.drops++;
		return 1;
	}
	chain_write(b, &hdr, sizeof(hdr));
	memset(&cpl, 0, sizeof(cpl));
	cpl.id = pvio_cpu_to_le16(b->id);
	cpl.len = pvio_cpu_to_le32((uint32_t)r);
	pvbe_queue_post(q, &cpl);
	q->st.packets++;
	q->st.bytes += (uint64_t)r - PVBE_NET_HDR_LEN;
	p->head = (p->head + 1) % p->size;
	p->count--;
	return 1;
}

/* The FIFO chain @k places after the oldest. */
static struct pvbe_net_rxbuf *fifo_at(struct pvbe_net_pair *p, unsigned int k)
{
	return &p->fifo[(p->head + k) % p->size];
}

/*
 * Finish the pending packet: copy what waits in the overflow buffer into
 * the next FIFO chains, then complete every chain it used, oldest first and
 * consecutively, the first carrying the header with num_buffers.  Returns
 * 1 when completed, 0 when the FIFO ran out of chains first.
 */
static int rx_mrg_finish(struct pvbe_net_pair *p, struct pvbe_queue *q)
{
	struct pvio_net_hdr hdr = p->pend_hdr;
	struct pvio_cpl cpl;
	uint32_t off = 0, n;
	unsigned int k;

	while (p->pend_done < p->pend_len) {
		const struct pvbe_net_rxbuf *b;

		if (p->pend_chains == p->count)
			return 0;
		b = fifo_at(p, p->pend_chains);
		n = p->pend_len - p->pend_done;
		if (n > b->cap)
			n = b->cap;
		chain_write(b, p->ovf + (p->pend_done - p->ovf_base), n);
		p->pend_done += n;
		p->pend_chains++;
	}
	hdr.num_buffers = pvio_cpu_to_le16((uint16_t)p->pend_chains);
	chain_write(fifo_at(p, 0), &hdr, sizeof(hdr));
	memset(&cpl, 0, sizeof(cpl));
	for (k = 0; k < p->pend_chains; k++) {
		const struct pvbe_net_rxbuf *b = fifo_at(p, 0);

		n = p->pend_len - off < b->cap ? p->pend_len - off : b->cap;
		cpl.id = pvio_cpu_to_le16(b->id);
		cpl.len = pvio_cpu_to_le32(n);
		pvbe_queue_post(q, &cpl);
		off += n;
		p->head = (p->head + 1) % p->size;
		p->count--;
	}
	q->st.packets++;
	q->st.bytes += p->pend_len - PVBE_NET_HDR_LEN;
	p->pend_len = 0;
	return 1;
}

/* The pending packet can never fit: the whole ring is too small for it. */
static void rx_mrg_drop(struct pvbe_net_pair *p, struct pvbe_queue *q)
{
	q->st.drops++;
	if (pvbe_net_ratelimit(p->nd))
		pvbe_warn(p->nd->dev->tag, "rx queue %u: %u-byte packet (header included) needs more than the %u rx buffers the ring holds: dropped",
			  q->index, p->pend_len, p->count);
	p->pend_len = 0;	/* the chains wait for the next packet */
}

/*
 * MRG_RXBUF: read one packet across the FIFO's chains, the overflow buffer
 * behind them.  The header lands in private memory first, as in rx_one().
 * Returns 1 if a packet was consumed (completed, dropped, or pending for
 * more chains), 0 when the TAP is empty, -1 on a dead queue.
 */
static int rx_mrg_one(struct pvbe_net_pair *p, struct pvbe_queue *q)
{
	struct pvbe_net_dev *nd = p->nd;
	struct iovec iov[PVBE_NET_RX_IOV];
	struct pvio_net_hdr hdr;
	uint64_t covered = 0;
	uint32_t skip = PVBE_NET_HDR_LEN, got;
	unsigned int c, i, n = 1;
	ssize_t r;

	iov[0].iov_base = &hdr;
	iov[0].iov_len = sizeof(hdr);
	for (c = 0; c < p->count && covered < PVBE_NET_RX_MAX; c++) {
		const struct pvbe_net_rxbuf *b = fifo_at(p, c);

		if (n + b->niov + 1 > PVBE_NET_RX_IOV)
			break;
		for (i = 0; i < b->niov; i++) {
			if (skip >= b->iov[i].iov_len) {
				skip -= (uint32_t)b->iov[i].iov_len;
				continue;
			}
			iov[n].iov_base = (char *)b->iov[i].iov_base + skip;
			iov[n].iov_len = b->iov[i].iov_len - skip;
			n++;
			skip = 0;
		}
		covered += b->cap;
	}
	/* The rest of the largest packet, and one spare byte past it. */
	iov[n].iov_base = p->ovf;
	iov[n].iov_len = covered < PVBE_NET_RX_MAX ? PVBE_NET_RX_MAX - covered + 1 : 1;
	n++;
	r = pvbe_net_host_read(p, iov, n);
	if (r < 0) {
		if (errno == EAGAIN)
			return 0;
		pvbe_net_pair_dead(p, "read", errno);
		return -1;
	}
	if ((size_t)r > (covered > PVBE_NET_RX_MAX ? covered : PVBE_NET_RX_MAX) ||
	    r < (ssize_t)(PVBE_NET_HDR_LEN + PVBE_NET_ETH_HLEN)) {
		q->st.drops++;
		if (pvbe_net_ratelimit(nd))
			pvbe_warn(nd->dev->tag, "rx queue %u: %zd-byte packet (header included) is shorter than an Ethernet header or longer than %u bytes: dropped",
				  q->index, r, PVBE_NET_RX_MAX);
		return 1;
	}
	if (!rx_hdr_fixup(nd, &hdr)) {
		q->st.drops++;
		return 1;
	}
	p->pend_hdr = hdr;
	p->pend_len = (uint32_t)r;
	p->ovf_base = (uint32_t)covered;	/* < 2 * PVBE_NET_RX_MAX */
	/* The chains the readv filled, the last one maybe in part. */
	p->pend_done = 0;
	p->pend_chains = 0;
	got = p->pend_len < covered ? p->pend_len : (uint32_t)covered;
	while (p->pend_done < got) {
		uint32_t cap = fifo_at(p, p->pend_chains)->cap;

		p->pend_done += got - p->pend_done < cap ? got - p->pend_done : cap;
		p->pend_chains++;
	}
	rx_mrg_finish(p, q);
	return 1;
}

/*
 * Stock an rx FIFO (@count chains from @head, @size slots) from the SQ.  A
 * chain enters the FIFO only while the CQ has a slot for it and for every
 * chain already there, so a packet read can always be completed.  Shared
 * with the DPDK port.  Returns 0 or -EPROTO (device broken).
 */
int pvbe_net_rx_stock(struct pvbe_queue *q, struct pvbe_net_rxbuf *fifo,
		   unsigned int head, unsigned int *count, unsigned int size)
{
	struct pvbe_req req;
	struct pvio_cpl cpl;
	int r;

	while (*count < size) {
		r = pvbe_queue_cq_room(q, *count + 1);
		if (r < 0)
			return r;
		if ((unsigned int)r <= *count)
			break;
		r = pvbe_queue_pop(q, &req);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		if (rx_chain(&fifo[(head + *count) % size], &req)) {
			(*count)++;
			continue;
		}
		memset(&cpl, 0, sizeof(cpl));
		cpl.id = pvio_cpu_to_le16(req.id);
		cpl.status = pvio_cpu_to_le32(PVIO_S_INVAL);
		pvbe_queue_post(q, &cpl);
	}
	return 0;
}

/* ops->request for an rx queue: the chain waits in the FIFO for a packet. */
int64_t pvbe_net_rx_request(struct pvbe_queue *q, const struct pvbe_req *req)
{
	struct pvbe_net_dev *nd = q->dev->priv;
	struct pvbe_net_pair *p = &nd->pair[q->index / 2];

	if (!p->fifo || p->count == p->size || !rx_chain(&p->fifo[(p->head + p->count) % p->size], req)) {
		pvbe_queue_complete(q, req->id, PVIO_S_INVAL, 0);
		return 0;
	}
	p->count++;
	return 0;
}

/* ops->held for an rx queue: every chain in the FIFO holds a CQ slot. */
unsigned int pvbe_net_rx_held(struct pvbe_queue *q)
{
	struct pvbe_net_dev *nd = q->dev->priv;

	return nd->pair[q->index / 2].count;
}

/*
 * ops->sq_quiet for an rx queue: while the FIFO holds chains and no packet
 * waits for more, the next packet runs the queue (the TAP watched, the
 * echo's kick, the poll round), and that run takes the chains posted
 * meanwhile; the guest's refills need no doorbell.  Without chains, or
 * with a packet part-written, it must kick.
 */
bool pvbe_net_rx_sq_quiet(struct pvbe_queue *q)
{
	struct pvbe_net_dev *nd = q->dev->priv;
	const struct pvbe_net_pair *p = &nd->pair[q->index / 2];

	return p->fifo && p->count && !p->pend_len;
}

/*
 * ops->run_end for an rx queue: packets from the host side into the FIFO's
 * chains, until the TAP is empty (watched), the chains are used up (>0:
 * the loop takes more from the SQ), the link is down or the budget spent.
 */
int pvbe_net_rx_run_end(struct pvbe_queue *q, uint64_t *work)
{
	struct pvbe_net_dev *nd = q->dev->priv;
	struct pvbe_net_pair *p = &nd->pair[q->index / 2];
	bool mrg = pvbe_net_has(nd, PVIO_NET_F_MRG_RXBUF);
	unsigned int done = 0;
	uint64_t before;
	int r;

	if (!p->fifo)
		return 0;
	for (;;) {
		if (p->pend_len && !rx_mrg_finish(p, q)) {
			if (p->count < p->size) {
				/*
				 * The guest kicks when it posts more chains
				 * (sq_quiet left the SQ unarmed); >0: posted
				 * meanwhile, take them.
				 */
				pvbe_net_watch(p, false);
				return pvbe_queue_arm(q) != 0;
			}
			rx_mrg_drop(p, q);
		}
		if (!p->count) {
			/* The TAP keeps its packets until chains come. */
			pvbe_net_watch(p, false);
			return done > 0;
		}
		if (!nd->sh->link_up || p->dead) {
			pvbe_net_watch(p, false);
			return 0;
		}
		if (done >= PVBE_QUEUE_BUDGET || *work >= PVBE_QUEUE_BUDGET_BYTES) {
			pvbe_queue_yield(q);
			return 0;
		}
		before = q->st.bytes;
		r = mrg ? rx_mrg_one(p, q) : rx_one(p, q);
		if (r == 0) {
			pvbe_net_watch(p, true);	/* the TAP wakes us */
			return 0;
		}
		if (r < 0)
			return 0;
		done++;
		*work += q->st.bytes - before;
	}
}

/* Watch the TAP queue in the event loop, or stop watching it. */
void pvbe_net_watch(struct pvbe_net_pair *p, bool on)
{
	int ret;

	/* No fd (net = null), or a polled rx queue: the caller comes back. */
	if (on == p->watching || (on && (p->fd < 0 || p->nd->dev->q[2 * p->index].poll)))
		return;
	if (on) {
		ret = pvbe_loop_add_to(pvbe_queue_loop(&p->nd->dev->q[2 * p->index]),
				       p->fd, EPOLLIN, on_tap, p);
		if (ret) {
			/* The heartbeat tick still scans the queue. */
			if (pvbe_net_ratelimit(p->nd))
				pvbe_warn(p->nd->dev->tag, "TAP queue %u: epoll: %s",
					  p->index, strerror(-ret));
			return;
		}
	} else {
		pvbe_loop_del_from(pvbe_queue_loop(&p->nd->dev->q[2 * p->index]), p->fd);
	}
	p->watching = on;
}

static void on_tap(int fd, uint32_t events, void *arg)
{
	struct pvbe_net_pair *p = arg;
	struct pvbe_queue *q = &p->nd->dev->q[2 * p->index];

	(void)fd;
	(void)events;
	/*
	 * Held back until the tick: the TAP stays readable, and a watched
	 * level-triggered fd nobody reads would spin the loop.  The tick's
	 * kick runs the queue, which watches it again.
	 */
	if (q->throttled) {
		pvbe_net_watch(p, false);
		return;
	}
	pvbe_queue_run(q);
}
