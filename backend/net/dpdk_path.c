// SPDX-License-Identifier: GPL-2.0
/*
 * net/dpdk_path.c - the poll-mode data path of a `net = dpdk` device: its
 * poll thread busy-polls rte_eth_rx_burst()/tx_burst() and the guest's rings
 * of every queue pair of the device, and sleeps poll_idle_us after 1000
 * empty rounds (0: never).  Everything here runs on that thread, the only
 * one touching the guest queues while the device is live (the contract is
 * in net/dpdk.h); net/dpdk.c starts and joins it.
 *
 * Data is copied both ways (guest chain -> mbufs, mbufs -> guest chain):
 * the tx header is copied once into private memory and checked by the TAP
 * path's own pvbe_net_tx_hdr_check(), the frame is parsed for offloads only in
 * the mbuf copy.  Offloads: guest NEEDS_CSUM -> the port's TCP/UDP checksum
 * offload when it has it, else checksummed here; guest TCP GSO -> the
 * port's TSO (HOST_TSO4/6 offered only when it has TCP_TSO and
 * multi-segment tx); rx RTE_MBUF_F_RX_L4_CKSUM_GOOD -> DATA_VALID.  No LRO:
 * GUEST_TSO4/6 are not offered, rx packets are at most one MTU.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "net/net.h"
#include "net/dpdk.h"

#ifdef PVIO_HAVE_DPDK

#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>

#define PVBE_NET_DPDK_IDLE_ROUNDS	1000

/* The device whose poll thread this is (NULL on the worker thread). */
static __thread struct pvbe_net_dpdk *poll_self;

/* ---- tx: guest chain -> mbufs (poll thread) ----------------------------- */

/* Copy the chain's bytes from @off on, @len of them, into a new mbuf chain. */
static struct rte_mbuf *chain_to_mbuf(struct rte_mempool *pool, const struct pvbe_req *req,
				      uint32_t off, uint32_t len)
{
	struct rte_mbuf *head = rte_pktmbuf_alloc(pool), *cur = head;
	unsigned int i;

	if (!head)
		return NULL;
	for (i = 0; i < req->nslots && len; i++) {
		const char *src = req->buf[i];
		uint32_t n = pvio_le32_to_cpu(req->d[i].len);

		if (off >= n) {
			off -= n;
			continue;
		}
		src += off;
		n -= off;
		off = 0;
		if (n > len)
			n = len;
		len -= n;
		while (n) {
			uint32_t room = rte_pktmbuf_tailroom(cur), k;

			if (!room) {
				struct rte_mbuf *seg = rte_pktmbuf_alloc(pool);

				if (!seg) {
					rte_pktmbuf_free(head);
					return NULL;
				}
				cur->next = seg;
				cur = seg;
				head->nb_segs++;
				room = rte_pktmbuf_tailroom(cur);
			}
			k = n < room ? n : room;
			rte_memcpy(rte_pktmbuf_mtod_offset(cur, char *, cur->data_len), src, k);
			cur->data_len = (uint16_t)(cur->data_len + k);
			head->pkt_len += k;
			src += k;
			n -= k;
		}
	}
	return head;
}

/* Store a 16-bit value at @off of the packet, wherever the segments split it. */
static void mbuf_put16(struct rte_mbuf *m, uint32_t off, uint16_t v)
{
	const uint8_t *b = (const uint8_t *)&v;
	unsigned int k;

	for (k = 0; k < 2; k++, off++) {
		struct rte_mbuf *s = m;
		uint32_t o = off;

		while (s && o >= s->data_len) {
			o -= s->data_len;
			s = s->next;
		}
		if (s)
			*rte_pktmbuf_mtod_offset(s, uint8_t *, o) = b[k];
	}
}

/*
 * The frame's offloads, from our private copy in @m.  The guest's
 * partial checksum becomes the port's L4 checksum offload when the layout
 * is one the port knows (TCP/UDP straight after IPv4/IPv6, optional VLAN),
 * else it is finished here; GSO becomes the port's TSO.
 */
static uint32_t tx_offload(const struct pvbe_net_dpdk *dp, struct rte_mbuf *m,
			   const struct pvio_net_hdr *h, uint32_t frame)
{
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	uint32_t seg = m->data_len, l2 = 14, l3 = 0, l4, cs, co;
	uint16_t etype = (uint16_t)(p[12] << 8 | p[13]);
	bool gso = h->gso_type != PVIO_NET_GSO_NONE, v4 = false, v6 = false;
	int proto = -1;
	uint16_t raw;

	if (!(h->flags & PVIO_NET_HDR_F_NEEDS_CSUM) && !gso)
		return PVIO_S_OK;
	if (etype == 0x8100 && seg >= 18) {
		l2 = 18;
		etype = (uint16_t)(p[16] << 8 | p[17]);
	}
	if (etype == 0x0800 && seg >= l2 + 20 && (p[l2] >> 4) == 4 && (p[l2] & 15) >= 5) {
		v4 = true;
		l3 = (p[l2] & 15u) * 4;
		proto = p[l2 + 9];
	} else if (etype == 0x86dd && seg >= l2 + 40 && (p[l2] >> 4) == 6) {
		v6 = true;
		l3 = 40;
		proto = p[l2 + 6];
	}
	l4 = l2 + l3;
	if (gso) {
		/* pvbe_net_tx_hdr_check() let through TCPv4/v6 with the port's TSO only. */
		unsigned int gt = h->gso_type & ~PVIO_NET_GSO_ECN;
		uint32_t thl;

		if (proto != 6 || seg < l4 + 20 || (gt == PVIO_NET_GSO_TCPV4) != v4 ||
		    (gt == PVIO_NET_GSO_TCPV6) != v6)
			return PVIO_S_INVAL;
		thl = (p[l4 + 12] >> 4) * 4u;
		if (thl < 20 || seg < l4 + thl)
			return PVIO_S_INVAL;
		m->l2_len = l2;
		m->l3_len = l3;
		m->l4_len = thl;
		m->tso_segsz = pvio_le16_to_cpu(h->gso_size);
		m->ol_flags |= RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM;
		if (v4) {
			struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(p + l2);

			m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
			ip->hdr_checksum = 0;
			raw = rte_ipv4_phdr_cksum(ip, m->ol_flags);
		} else {
			m->ol_flags |= RTE_MBUF_F_TX_IPV6;
			raw = rte_ipv6_phdr_cksum((struct rte_ipv6_hdr *)(p + l2), m->ol_flags);
		}
		memcpy(p + l4 + 16, &raw, 2);
		return PVIO_S_OK;
	}
	cs = pvio_le16_to_cpu(h->csum_start);
	co = pvio_le16_to_cpu(h->csum_offset);
	if (cs + co + 2 > frame)
		return PVIO_S_INVAL;
	if ((v4 || v6) && cs == l4 && seg >= cs + co + 2 &&
	    ((proto == 6 && co == 16 && (dp->tx_off & RTE_ETH_TX_OFFLOAD_TCP_CKSUM)) ||
	     (proto == 17 && co == 6 && (dp->tx_off & RTE_ETH_TX_OFFLOAD_UDP_CKSUM)))) {
		m->l2_len = l2;
		m->l3_len = l3;
		m->ol_flags |= (proto == 6 ? RTE_MBUF_F_TX_TCP_CKSUM : RTE_MBUF_F_TX_UDP_CKSUM) |
			       (v4 ? RTE_MBUF_F_TX_IPV4 : RTE_MBUF_F_TX_IPV6);
		raw = v4 ? rte_ipv4_phdr_cksum((struct rte_ipv4_hdr *)(p + l2), m->ol_flags)
			 : rte_ipv6_phdr_cksum((struct rte_ipv6_hdr *)(p + l2), m->ol_flags);
		memcpy(p + cs + co, &raw, 2);
		return PVIO_S_OK;
	}
	/*
	 * Software, as Linux's skb_checksum_help(): the field holds the
	 * pseudo-header sum, so summing from csum_start to the end over it and
	 * folding gives the checksum (0 is sent as 0xffff).
	 */
	if (rte_raw_cksum_mbuf(m, cs, frame - cs, &raw))
		return PVIO_S_INVAL;
	raw = (uint16_t)~raw;
	mbuf_put16(m, cs + co, raw ? raw : 0xffff);
	return PVIO_S_OK;
}

/* One tx chain: its status; *@out the mbuf to send, if any. */
static uint32_t tx_build(struct pvbe_net_dev *nd, struct pvbe_queue *q,
			 const struct pvbe_req *req, struct rte_mbuf **out)
{
	struct pvbe_net_dpdk *dp = nd->dpdk;
	struct pvio_net_hdr hdr;
	struct rte_mbuf *m;
	uint32_t frame, st, got = 0;
	unsigned int i;

	for (i = 0; i < req->nslots; i++)
		if (!req->buf[i] || (pvio_le16_to_cpu(req->d[i].flags) & PVIO_DESC_F_WRITE))
			return PVIO_S_INVAL;
	if (req->in_bytes < PVBE_NET_HDR_LEN + PVBE_NET_ETH_HLEN ||
	    req->in_bytes > PVBE_NET_HDR_LEN + PVIO_NET_MAX_FRAME)
		return PVIO_S_INVAL;
	frame = req->in_bytes - PVBE_NET_HDR_LEN;
	/* The header once into private memory, then checked there. */
	for (i = 0; i < req->nslots && got < sizeof(hdr); i++) {
		uint32_t n = pvio_le32_to_cpu(req->d[i].len);

		if (n > sizeof(hdr) - got)
			n = sizeof(hdr) - got;
		memcpy((char *)&hdr + got, req->buf[i], n);
		got += n;
	}
	st = pvbe_net_tx_hdr_check(nd, &hdr);
	if (st)
		return st;
	if (!__atomic_load_n(&nd->sh->link_up, __ATOMIC_RELAXED)) {
		q->st.drops++;
		return PVIO_S_OK;
	}
	m = chain_to_mbuf(dp->pool, req, PVBE_NET_HDR_LEN, frame);
	if (!m) {
		q->st.drops++;		/* pool empty: a drop, like a full TAP */
		return PVIO_S_OK;
	}
	st = tx_offload(dp, m, &hdr, frame);
	if (st) {
		rte_pktmbuf_free(m);
		return st;
	}
	*out = m;
	return PVIO_S_OK;
}

/* Serve tx queue 2i+1; returns chains taken. */
static unsigned int tx_round(struct pvbe_net_dev *nd, unsigned int i)
{
	struct pvbe_net_dpdk *dp = nd->dpdk;
	struct pvbe_queue *q = &nd->dev->q[2 * i + 1];
	struct rte_mbuf *pkts[PVBE_NET_DPDK_BURST];
	unsigned int n = 0, done = 0, sent = 0, k;
	struct pvio_cpl cpl;
	struct pvbe_req req;
	int r;

	if (!q->running)
		return 0;
	while (done < PVBE_NET_DPDK_BURST) {
		struct rte_mbuf *m = NULL;

		r = pvbe_queue_cq_space(q);
		if (r <= 0)
			break;		/* full: the guest reaps, we look again */
		r = pvbe_queue_pop(q, &req);
		if (r <= 0)
			break;		/* empty, or broken (deferred) */
		memset(&cpl, 0, sizeof(cpl));
		cpl.id = pvio_cpu_to_le16(req.id);
		/* Copied out: the guest may have its buffers back at once. */
		cpl.status = pvio_cpu_to_le32(tx_build(nd, q, &req, &m));
		pvbe_queue_post(q, &cpl);
		if (m)
			pkts[n++] = m;
		done++;
	}
	for (k = 0; k < 4 && sent < n; k++)
		sent += rte_eth_tx_burst(dp->port, (uint16_t)i, pkts + sent, (uint16_t)(n - sent));
	for (k = 0; k < sent; k++) {
		q->st.packets++;
		q->st.bytes += pkts[k]->pkt_len;
	}
	for (k = sent; k < n; k++) {
		q->st.drops++;		/* the port's ring stayed full */
		rte_pktmbuf_free(pkts[k]);
	}
	if (done && !dp->failed)
		pvbe_queue_flush(q);
	return done;
}

/* ---- rx: mbufs -> guest chains (poll thread) ---------------------------- */

/* Stock the FIFO while the CQ has a slot for every chain in it (net/path.c). */
static int rx_refill(struct pvbe_net_dpdk_pair *pp, struct pvbe_queue *q)
{
	return pvbe_net_rx_stock(q, pp->fifo, pp->head, &pp->count, pp->size);
}

static struct pvbe_net_rxbuf *fifo_at(struct pvbe_net_dpdk_pair *pp, unsigned int k)
{
	return &pp->fifo[(pp->head + k) % pp->size];
}

/* A writer over consecutive FIFO chains, from the oldest on. */
struct rx_cursor {
	struct pvbe_net_dpdk_pair *pp;
	unsigned int chain, iov;
	size_t off;
};

static void rx_put(struct rx_cursor *c, const void *src, uint32_t len)
{
	while (len) {
		const struct pvbe_net_rxbuf *b = fifo_at(c->pp, c->chain);
		size_t n = b->iov[c->iov].iov_len - c->off;

		if (n > len)
			n = len;
		rte_memcpy((char *)b->iov[c->iov].iov_base + c->off, src, n);
		src = (const char *)src + n;
		len -= (uint32_t)n;
		c->off += n;
		if (c->off == b->iov[c->iov].iov_len) {
			c->off = 0;
			if (++c->iov == b->niov) {
				c->iov = 0;
				c->chain++;
			}
		}
	}
}

/*
 * Deliver one packet into the oldest chain(s).  Returns 1 when the mbuf is
 * done with (delivered or dropped), 0 when it must wait for more chains.
 */
static int rx_deliver(struct pvbe_net_dev *nd, struct pvbe_net_dpdk_pair *pp,
		      struct pvbe_queue *q, struct rte_mbuf *m)
{
	bool mrg = pvbe_net_has(nd, PVIO_NET_F_MRG_RXBUF);
	uint32_t total = PVBE_NET_HDR_LEN + m->pkt_len, acc = 0, off = 0;
	struct rx_cursor cur = { .pp = pp };
	struct pvio_net_hdr hdr;
	struct pvio_cpl cpl;
	const struct rte_mbuf *s;
	unsigned int k = 0, j;

	if (m->pkt_len < PVBE_NET_ETH_HLEN || total > PVBE_NET_RX_MAX) {
		q->st.drops++;
		return 1;
	}
	if (!pp->count)
		return 0;
	/* Chains the packet takes: one without MRG_RXBUF, as many as it needs with. */
	while (acc < total && k < pp->count && (mrg || k == 0))
		acc += fifo_at(pp, k++)->cap;
	if (acc < total) {
		if (mrg && pp->count < pp->size)
			return 0;	/* the guest posts more */
		q->st.drops++;
		if (pvbe_net_ratelimit(nd))
			pvbe_warn(nd->dev->tag, "rx queue %u: %u-byte packet (header included) does not fit the rx buffers: dropped",
				  q->index, total);
		return 1;
	}
	memset(&hdr, 0, sizeof(hdr));
	if (pvbe_net_has(nd, PVIO_NET_F_GUEST_CSUM) &&
	    (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		hdr.flags = PVIO_NET_HDR_F_DATA_VALID;
	hdr.num_buffers = pvio_cpu_to_le16((uint16_t)k);
	rx_put(&cur, &hdr, sizeof(hdr));
	for (s = m; s; s = s->next)
		rx_put(&cur, rte_pktmbuf_mtod(s, const void *), s->data_len);
	memset(&cpl, 0, sizeof(cpl));
	for (j = 0; j < k; j++) {
		const struct pvbe_net_rxbuf *b = fifo_at(pp, 0);
		uint32_t n = total - off < b->cap ? total - off : b->cap;

		cpl.id = pvio_cpu_to_le16(b->id);
		cpl.len = pvio_cpu_to_le32(n);
		pvbe_queue_post(q, &cpl);
		off += n;
		pp->head = (pp->head + 1) % pp->size;
		pp->count--;
	}
	q->st.packets++;
	q->st.bytes += m->pkt_len;
	return 1;
}

/* Serve rx queue 2i; returns packets handled. */
static unsigned int rx_round(struct pvbe_net_dev *nd, unsigned int i)
{
	struct pvbe_net_dpdk *dp = nd->dpdk;
	struct pvbe_net_dpdk_pair *pp = &dp->pair[i];
	struct pvbe_queue *q = &nd->dev->q[2 * i];
	unsigned int done = 0;

	if (!q->running)
		return 0;
	if (rx_refill(pp, q))
		return 0;		/* broken (deferred) */
	/* Link down: packets stay in the port, as in the TAP while down. */
	if (__atomic_load_n(&nd->sh->link_up, __ATOMIC_RELAXED)) {
		if (pp->rx_i == pp->rx_n) {
			pp->rx_i = 0;
			pp->rx_n = rte_eth_rx_burst(dp->port, (uint16_t)i, pp->rx, PVBE_NET_DPDK_BURST);
		}
		while (pp->rx_i < pp->rx_n) {
			if (!rx_deliver(nd, pp, q, pp->rx[pp->rx_i]))
				break;
			rte_pktmbuf_free(pp->rx[pp->rx_i++]);
			done++;
			if (rx_refill(pp, q))
				return done;
		}
	}
	pvbe_queue_flush(q);
	return done;
}

/* ---- the poll thread ----------------------------------------------------- */

/*
 * Act on a reset first: the guest wrote a reset or a new status the worker
 * has not acted on yet?  Then serve nothing and ring the worker's
 * configuration doorbell; its kick opens the gate again once it has.
 */
static bool gate_open(struct pvbe_net_dev *nd)
{
	struct pvbe_net_dpdk *dp = nd->dpdk;
	struct pvbe_dev *d = nd->dev;
	uint32_t rr = pvio_le32_to_cpu(pvio_read_once(d->desc->reset_request));
	uint32_t st = pvio_le32_to_cpu(pvio_read_once(d->desc->driver_status));
	uint64_t one = 1;

	/* Pairs with the release in dpdk_kick() (net/dpdk.c). */
	if (rr == __atomic_load_n(&dp->gate_reset, __ATOMIC_ACQUIRE) &&
	    st == __atomic_load_n(&dp->gate_status, __ATOMIC_ACQUIRE)) {
		dp->paused = false;
		return true;
	}
	if (!dp->paused) {
		dp->paused = true;
		if (write(d->g->be_efd[PVIO_CONFIG_VECTOR], &one, sizeof(one)) < 0)
			pvbe_warn(d->tag, "poll thread: wake the worker: %s (the heartbeat will)",
				  strerror(errno));
	}
	return false;
}

void pvbe_net_dpdk_serve(struct pvbe_net_dev *nd)
{
	struct pvbe_net_dpdk *dp = nd->dpdk;
	unsigned int idle = 0, i, work;
	struct timespec ts;

	poll_self = dp;
	/* Pairs with the release in dpdk_stop() (net/dpdk.c). */
	while (!__atomic_load_n(&dp->stop, __ATOMIC_ACQUIRE) && !dp->failed) {
		if (!gate_open(nd)) {
			nanosleep(&(struct timespec){ 0, 100000 }, NULL);
			continue;
		}
		work = 0;
		for (i = 0; i < nd->npairs && !dp->failed; i++) {
			work += tx_round(nd, i);
			if (!dp->failed)
				work += rx_round(nd, i);
		}
		if (work) {
			idle = 0;
		} else if (dp->idle_us && ++idle >= PVBE_NET_DPDK_IDLE_ROUNDS) {
			ts.tv_sec = dp->idle_us / 1000000;
			ts.tv_nsec = (long)(dp->idle_us % 1000000) * 1000;
			nanosleep(&ts, NULL);
		}
	}
}

/*
 * pvbe_dev_mark_broken() on the poll thread: keep the reason, stop
 * serving, and ring the worker (the device's first queue doorbell: its
 * kick, dpdk_kick() in net/dpdk.c, repeats the call on the worker thread).
 */
bool pvbe_net_dpdk_defer_broken(struct pvbe_dev *dev, uint32_t reason, const char *msg)
{
	struct pvbe_net_dpdk *dp = ((struct pvbe_net_dev *)dev->priv)->dpdk;
	uint64_t one = 1;

	if (poll_self != dp)
		return false;		/* the worker thread: stop for real */
	if (dp->failed)
		return true;
	dp->failed = true;
	dp->broken_reason = reason;
	snprintf(dp->broken_msg, sizeof(dp->broken_msg), "%s", msg);
	/* reason and msg are visible before the flag: pairs with dpdk_kick()'s acquire */
	__atomic_store_n(&dp->broken_pending, true, __ATOMIC_RELEASE);
	if (write(dev->g->be_efd[dev->q[0].vector], &one, sizeof(one)) < 0)
		pvbe_warn(dev->tag, "poll thread: wake the worker: %s (the heartbeat will)",
			  strerror(errno));
	return true;
}

#endif /* PVIO_HAVE_DPDK */
