// SPDX-License-Identifier: GPL-2.0
/*
 * net/path.c - the net data path, between a guest's queue pairs and the
 * TAP queues, without bounce buffers: a tx chain goes to the TAP with one
 * writev() straight from guest RAM, an rx chain is filled with one readv()
 * straight into guest RAM.  Only the 12-byte header passes through private
 * memory, in both directions: it is what we validate (tx) or fix up (rx).
 *
 *   tx queue 2n+1:  pop chain -> check -> writev(TAP queue n) -> complete
 *   rx queue 2n:    pop chains into a private FIFO while each is sure of a
 *                   completion slot; readv(TAP queue n) into the oldest;
 *                   complete it.  The TAP fd is in the worker's epoll set
 *                   only while the FIFO holds chains and the TAP is empty.
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
 * Every queue runs under a budget and yields (pvbe_queue_yield) so one busy
 * guest does not starve the others.  Worker only.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "core/log.h"
#include "core/loop.h"
#include "net/net.h"

#define PVBE_NET_BUDGET		256	/* packets per queue per turn */
#define PVBE_NET_RX_IOV		1024	/* IOV_MAX: segments of one readv() */

static void on_tap(int fd, uint32_t events, void *arg);

/* The host side: a TAP queue, or net = null's stand-in for one. */
static ssize_t host_write(struct pvbe_net_pair *p, const struct iovec *iov, unsigned int n)
{
	ssize_t w;

	if (p->null)
		return pvbe_net_null_write(p, iov, n);
	do {
		w = writev(p->fd, iov, (int)n);
	} while (w < 0 && errno == EINTR);
	return w;
}

static ssize_t host_read(struct pvbe_net_pair *p, const struct iovec *iov, unsigned int n)
{
	ssize_t r;

	if (p->null)
		return pvbe_net_null_read(p, iov, n);
	do {
		r = readv(p->fd, iov, (int)n);
	} while (r < 0 && errno == EINTR);
	return r;
}

/* Watch the TAP queue in the event loop, or stop watching it. */
void pvbe_net_watch(struct pvbe_net_pair *p, bool on)
{
	int ret;

	/* No fd (net = null), or a polled rx queue: the caller comes back. */
	if (on == p->watching || (on && (p->fd < 0 || p->nd->dev->q[2 * p->index].poll)))
		return;
	if (on) {
		ret = pvbe_loop_add(p->fd, EPOLLIN, on_tap, p);
		if (ret) {
			/* The heartbeat tick still scans the queue. */
			if (pvbe_net_ratelimit(p->nd))
				pvbe_warn(p->nd->dev->tag, "TAP queue %u: epoll: %s",
					  p->index, strerror(-ret));
			return;
		}
	} else {
		pvbe_loop_del(p->fd);
	}
	p->watching = on;
}

/* A TAP queue that fails other than EAGAIN (interface deleted, queue detached). */
static void pair_dead(struct pvbe_net_pair *p, const char *what, int err)
{
	pvbe_net_watch(p, false);
	if (!p->dead)
		pvbe_err(p->nd->dev->tag, "TAP %s queue %u: %s: %s; dropping its traffic until the guest restarts the device",
			 p->nd->tap, p->index, what, strerror(err));
	p->dead = true;
}

/* Copy the first @len bytes of a chain's segments into @dst. */
static void chain_read(const struct pvbe_req *req, void *dst, uint32_t len)
{
	unsigned int i;

	for (i = 0; i < req->nslots && len; i++) {
		uint32_t n = pvio_le32_to_cpu(req->d[i].len);

		if (n > len)
			n = len;
		memcpy(dst, req->buf[i], n);
		dst = (char *)dst + n;
		len -= n;
	}
}

/*
 * Status for a tx header (our private copy) under the accepted features.
 * Shared with the DPDK data path (net/dpdk_path.c).
 */
uint32_t pvbe_net_tx_hdr_check(const struct pvbe_net_dev *nd, const struct pvio_net_hdr *h)
{
	unsigned int gso = h->gso_type & ~PVIO_NET_GSO_ECN;

	if (h->flags & ~PVIO_NET_HDR_F_NEEDS_CSUM)
		return PVIO_S_INVAL;
	if ((h->flags & PVIO_NET_HDR_F_NEEDS_CSUM) && !pvbe_net_has(nd, PVIO_NET_F_CSUM))
		return PVIO_S_UNSUPP;
	if (h->gso_type == PVIO_NET_GSO_NONE)
		return PVIO_S_OK;
	if (gso == PVIO_NET_GSO_TCPV4 && pvbe_net_has(nd, PVIO_NET_F_HOST_TSO4))
		return h->gso_size ? PVIO_S_OK : PVIO_S_INVAL;
	if (gso == PVIO_NET_GSO_TCPV6 && pvbe_net_has(nd, PVIO_NET_F_HOST_TSO6))
		return h->gso_size ? PVIO_S_OK : PVIO_S_INVAL;
	return PVIO_S_UNSUPP;	/* UDP, USO, unknown, or not negotiated */
}

/* Send one tx chain; returns the completion status. */
static uint32_t tx_one(struct pvbe_net_pair *p, struct pvbe_queue *q,
		       const struct pvbe_req *req)
{
	struct pvbe_net_dev *nd = p->nd;
	struct iovec iov[PVIO_MAX_CHAIN + 1];
	struct pvio_net_hdr hdr;
	uint32_t skip = PVBE_NET_HDR_LEN, frame, st;
	unsigned int i, n = 1;
	ssize_t w;

	for (i = 0; i < req->nslots; i++)
		if (!req->buf[i] || (pvio_le16_to_cpu(req->d[i].flags) & PVIO_DESC_F_WRITE))
			return PVIO_S_INVAL;
	if (req->in_bytes < PVBE_NET_HDR_LEN + PVBE_NET_ETH_HLEN ||
	    req->in_bytes > PVBE_NET_HDR_LEN + PVIO_NET_MAX_FRAME)
		return PVIO_S_INVAL;
	frame = req->in_bytes - PVBE_NET_HDR_LEN;

	/* The header once into private memory; the TAP gets that copy. */
	if (pvio_le32_to_cpu(req->d[0].len) >= sizeof(hdr))
		memcpy(&hdr, req->buf[0], sizeof(hdr));	/* the usual layout */
	else
		chain_read(req, &hdr, sizeof(hdr));
	st = pvbe_net_tx_hdr_check(nd, &hdr);
	if (st)
		return st;
	hdr.num_buffers = 0;
	iov[0].iov_base = &hdr;
	iov[0].iov_len = sizeof(hdr);
	for (i = 0; i < req->nslots; i++) {
		uint32_t len = pvio_le32_to_cpu(req->d[i].len);

		if (skip >= len) {
			skip -= len;
			continue;
		}
		iov[n].iov_base = (char *)req->buf[i] + skip;
		iov[n].iov_len = len - skip;
		n++;
		skip = 0;
	}
	if (!nd->sh->link_up || p->dead) {
		q->st.drops++;
		return PVIO_S_OK;
	}
	w = host_write(p, iov, n);
	if (w == (ssize_t)(PVBE_NET_HDR_LEN + frame)) {
		q->st.packets++;
		q->st.bytes += frame;
		return PVIO_S_OK;
	}
	if (w >= 0 || errno == EINVAL || errno == EFAULT) {
		/* The kernel refused what the guest built (header vs frame). */
		if (pvbe_net_ratelimit(nd))
			pvbe_warn(nd->dev->tag, "tx queue %u: TAP refused a %u-byte frame (gso %u, hdr_len %u, csum %u/%u): %s",
				  q->index, frame, hdr.gso_type, pvio_le16_to_cpu(hdr.hdr_len),
				  pvio_le16_to_cpu(hdr.csum_start),
				  pvio_le16_to_cpu(hdr.csum_offset),
				  w >= 0 ? "short write" : strerror(errno));
		return PVIO_S_INVAL;
	}
	if (errno == EBADFD)
		pair_dead(p, "write", errno);
	else if (pvbe_net_ratelimit(nd))
		pvbe_warn(nd->dev->tag, "tx queue %u: frame dropped: %s", q->index,
			  strerror(errno));
	q->st.drops++;		/* host side down or out of memory: a drop */
	return PVIO_S_OK;
}

static void tx_run(struct pvbe_net_pair *p, struct pvbe_queue *q)
{
	struct pvio_cpl cpl;
	struct pvbe_req req;
	unsigned int done = 0;
	int r;

	for (;;) {
		if (done >= PVBE_NET_BUDGET) {
			pvbe_queue_yield(q);
			break;
		}
		r = pvbe_queue_cq_space(q);
		if (r < 0)
			return;
		if (r == 0) {
			/* Guest not reaping: it kicks us when it does. */
			if (pvbe_queue_cq_arm(q) <= 0)
				return;
			continue;
		}
		r = pvbe_queue_pop(q, &req);
		if (r < 0)
			return;
		if (r == 0) {
			if (pvbe_queue_arm(q) == 0)
				return;		/* flushed; sleep until kicked */
			continue;
		}
		memset(&cpl, 0, sizeof(cpl));
		cpl.id = pvio_cpu_to_le16(req.id);
		cpl.status = pvio_cpu_to_le32(tx_one(p, q, &req));
		pvbe_queue_post(q, &cpl);
		done++;
	}
	pvbe_queue_flush(q);
}

void pvbe_net_tx_run(struct pvbe_net_pair *p, struct pvbe_queue *q)
{
	tx_run(p, q);
	if (pvbe_net_null_rx_pending(p))
		pvbe_net_rx_run(p);	/* net = null, echo: the frames go back */
}

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
	b->cap = req->out_bytes;
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
	r = host_read(p, iov, n);
	if (r < 0) {
		if (errno == EAGAIN)
			return 0;
		pair_dead(p, "read", errno);
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
	uint32_t covered = 0, skip = PVBE_NET_HDR_LEN, got;
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
	r = host_read(p, iov, n);
	if (r < 0) {
		if (errno == EAGAIN)
			return 0;
		pair_dead(p, "read", errno);
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
	p->ovf_base = covered;
	/* The chains the readv filled, the last one maybe in part. */
	p->pend_done = 0;
	p->pend_chains = 0;
	got = p->pend_len < covered ? p->pend_len : covered;
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

static int rx_refill(struct pvbe_net_pair *p, struct pvbe_queue *q)
{
	return pvbe_net_rx_stock(q, p->fifo, p->head, &p->count, p->size);
}

/*
 * Sleep until the guest has freed @k CQ slots (protocol 7.4: cons_event =
 * prod - N + k - 1), unlike pvbe_queue_cq_arm(), which wakes at the first
 * freed slot: with chains in the FIFO, every one of them holding a slot,
 * the first freed slot may be long gone.  Returns >0 when the room is
 * there already (go on), 0 to sleep, <0 when the device broke.
 */
static int rx_cq_wait(struct pvbe_queue *q, unsigned int k)
{
	int r;

	pvbe_queue_flush(q);
	if (q->poll)
		return 0;	/* the next poll round looks again */
	pvio_write_once(q->cq.sh->cons_event,
			pvio_cpu_to_le32(q->cq.idx - q->cq_size + k - 1));
	/* [M4] pairs with [M3]: cons_event is visible before cons is re-read. */
	pvio_mb();
	r = pvbe_queue_cq_room(q, k);
	if (r < 0)
		return r;
	return (unsigned int)r >= k;
}

void pvbe_net_rx_run(struct pvbe_net_pair *p)
{
	struct pvbe_net_dev *nd = p->nd;
	struct pvbe_queue *q = &nd->dev->q[2 * p->index];
	bool mrg = pvbe_net_has(nd, PVIO_NET_F_MRG_RXBUF);
	unsigned int done = 0;
	int r;

	if (!q->running || !p->fifo) {
		pvbe_net_watch(p, false);
		return;
	}
	for (;;) {
		if (rx_refill(p, q))
			return;
		if (p->pend_len && !rx_mrg_finish(p, q) && p->count == p->size)
			rx_mrg_drop(p, q);
		if (!p->count || p->pend_len) {
			/*
			 * Nothing (more) to fill: the TAP keeps its packets
			 * meanwhile.  Wait for the guest to post chains, or to
			 * reap completions when the CQ has no slot for one
			 * more chain (the FIFO's chains hold theirs).
			 */
			pvbe_net_watch(p, false);
			r = pvbe_queue_cq_room(q, p->count + 1);
			if (r < 0)
				return;
			if ((unsigned int)r <= p->count) {
				if (rx_cq_wait(q, p->count + 1) <= 0)
					return;	/* the guest kicks when it reaps */
				continue;
			}
			if (pvbe_queue_arm(q) == 0)
				return;		/* flushed; the guest kicks when it posts */
			continue;
		}
		if (!nd->sh->link_up || p->dead) {
			pvbe_net_watch(p, false);
			break;
		}
		if (done >= PVBE_NET_BUDGET) {
			pvbe_queue_yield(q);
			break;
		}
		r = mrg ? rx_mrg_one(p, q) : rx_one(p, q);
		if (r == 0) {
			pvbe_net_watch(p, true);	/* the TAP wakes us */
			break;
		}
		if (r < 0)
			break;
		done++;
	}
	pvbe_queue_flush(q);
}

static void on_tap(int fd, uint32_t events, void *arg)
{
	(void)fd;
	(void)events;
	pvbe_net_rx_run(arg);
}
