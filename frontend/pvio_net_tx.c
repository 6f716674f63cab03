// SPDX-License-Identifier: GPL-2.0
/*
 * pvio_net_tx.c - pvio_net's transmit side and its NAPI poll: skbs mapped into
 * one chain each, tx completions reaped and armed under the TX queue lock,
 * and the poll that serves a pair's rx and tx.  The overview is in
 * pvio_net_main.c.
 */
#include "pvio_net.h"

/* ---- tx ------------------------------------------------------------------- */

void pvnet_tx_unmap(struct pvnet *pn, struct pvnet_txbuf *tb)
{
	struct device *dma = pvio_dma_dev(pn->pdev);
	unsigned int i;

	dma_unmap_single(dma, tb->addr[0], tb->len[0], DMA_TO_DEVICE);
	for (i = 1; i < tb->nseg; i++)
		dma_unmap_page(dma, tb->addr[i], tb->len[i], DMA_TO_DEVICE);
}

/* Reap tx completions; called with the tx queue lock held. */
static void pvnet_tx_clean(struct pvnet_pair *p, int budget)
{
	struct pvnet *pn = p->pn;
	struct netdev_queue *txq = netdev_get_tx_queue(pn->ndev, p->index);
	unsigned int pkts = 0, bytes = 0;
	struct pvio_cpl c[16];
	int n, i;

	while ((n = pvio_queue_reap(p->txq, c, 16)) > 0) {
		for (i = 0; i < n; i++) {
			u16 id = le16_to_cpu(c[i].id);
			struct pvnet_txbuf *tb;

			if (id >= p->tx_size || !p->txbufs[id].skb) {
				pvio_device_failed(pn->pdev, "tx completion for a packet not sent");
				netif_tx_stop_queue(txq);
				pvnet_schedule_reset(pn);
				goto out;
			}
			tb = &p->txbufs[id];
			if (le32_to_cpu(c[i].status))
				pvnet_stat_inc(&p->tx_stats, &p->tx_stats.errors);
			pvnet_tx_unmap(pn, tb);
			pkts++;
			bytes += tb->skb->len;
			napi_consume_skb(tb->skb, budget);
			tb->skb = NULL;
			p->tx_free[p->tx_nfree++] = id;
		}
	}
out:
	p->tx_done += pkts;
	if (pkts)
		netdev_tx_completed_queue(txq, pkts, bytes);
	/* Room may also have come from slots freed without a completion. */
	if (netif_tx_queue_stopped(txq) && READ_ONCE(pn->tx_on) && !pn->pdev->broken &&
	    p->tx_nfree && pvio_queue_space(p->txq, PVNET_TX_MAX_SEGS) >= PVNET_TX_MAX_SEGS)
		netif_tx_wake_queue(txq);
}

/*
 * Ask for a TX interrupt once three quarters of the packets in flight are
 * done; none in flight, none needed (the next xmit arms).  Called with the
 * TX lock held.  False when that many completions are already there: reap
 * again.
 */
static bool pvnet_tx_arm(struct pvnet_pair *p)
{
	struct netdev_queue *txq = netdev_get_tx_queue(p->pn->ndev, p->index);
	unsigned int inflight = p->tx_size - p->tx_nfree;

	/*
	 * Stopped for want of ring slots (ids are free): ask to hear when the
	 * host hands slots back, which it may do after the completions.
	 */
	if (netif_tx_queue_stopped(txq) && p->tx_nfree &&
	    !pvio_queue_arm_space(p->txq, PVNET_TX_MAX_SEGS))
		return false;
	if (!inflight) {
		pvio_queue_disable_cb(p->txq);
		return true;
	}
	return pvio_queue_enable_cb_after(p->txq, max(inflight * 3 / 4, 1U));
}

/*
 * Stop every TX queue for good: no xmit runs when this returns, and NAPI,
 * until it is disabled, no longer wakes a queue (tx_on is read under the
 * TX lock netif_tx_disable() takes after this write).
 */
void pvnet_tx_off(struct pvnet *pn)
{
	WRITE_ONCE(pn->tx_on, false);
	netif_tx_disable(pn->ndev);
}

/*
 * Let TX run again.  @wake: packets the qdisc queued while the queues
 * were stopped must be sent now; nothing else runs that qdisc until the
 * next packet for the same queue, and a TCP sender whose packet sits
 * there sends none: it does not retransmit a packet still queued below
 * it.  Not at open, when the qdisc is new.
 */
void pvnet_tx_on(struct pvnet *pn, bool wake)
{
	WRITE_ONCE(pn->tx_on, true);
	if (wake)
		netif_tx_wake_all_queues(pn->ndev);
	else
		netif_tx_start_all_queues(pn->ndev);
}

/* Have NAPI reap and re-arm TX under the TX lock, as after an interrupt. */
void pvnet_tx_napi(struct pvnet_pair *p)
{
	set_bit(PVNET_TX_IRQ, &p->tx_flags);
	napi_schedule(&p->napi);
}

/*
 * Reap, then re-arm for the next batch; with the TX lock held.  Each pass
 * reaps what a well-behaved host completed meanwhile; a host that keeps
 * moving its index back and forth is not worth spinning for under the
 * lock: NAPI carries on.
 */
static void pvnet_tx_reap_arm(struct pvnet_pair *p, int budget)
{
	int pass;

	for (pass = 0; pass < 8; pass++) {
		pvnet_tx_clean(p, budget);
		if (pvnet_tx_arm(p))
			return;
	}
	pvnet_tx_napi(p);
}

/* End of a burst (or stopped): ring the host, arm for the completions. */
static void pvnet_tx_flush(struct pvnet_pair *p)
{
	if (pvio_queue_kick_prepare(p->txq)) {
		pvio_queue_notify(p->txq);
		pvnet_stat_inc(&p->tx_stats, &p->tx_stats.kicks);
	}
	pvnet_tx_reap_arm(p, 0);
}

netdev_tx_t pvnet_xmit(struct sk_buff *skb, struct net_device *ndev)
{
	struct pvnet *pn = netdev_priv(ndev);
	struct pvnet_pair *p = &pn->pair[skb_get_queue_mapping(skb)];
	struct netdev_queue *txq = netdev_get_tx_queue(ndev, p->index);
	struct device *dma = pvio_dma_dev(pn->pdev);
	struct pvio_desc d[PVNET_TX_MAX_SEGS];
	struct virtio_net_hdr_mrg_rxbuf vh = {};
	struct pvnet_txbuf *tb;
	bool kick = !netdev_xmit_more();
	unsigned int i, nfrags;
	u16 id;

	/* Woken while down (netif_device_attach() after a failed restore). */
	if (unlikely(!READ_ONCE(pn->set_up))) {
		dev_kfree_skb_any(skb);
		return NETDEV_TX_OK;
	}
	if (virtio_net_hdr_from_skb(skb, &vh.hdr, true, false, 0) ||
	    skb_cow_head(skb, PVNET_HDR))
		goto drop;
	if (skb_shinfo(skb)->nr_frags + 1 > PVNET_TX_MAX_SEGS && skb_linearize(skb))
		goto drop;
	nfrags = skb_shinfo(skb)->nr_frags;
	if (unlikely(!p->tx_nfree ||
		     pvio_queue_space(p->txq, nfrags + 1) < (int)nfrags + 1)) {
		/* Stopped too late: should not happen, see the check below. */
		netif_tx_stop_queue(txq);
		pvnet_tx_reap_arm(p, 0);
		return NETDEV_TX_BUSY;
	}
	memcpy(skb_push(skb, PVNET_HDR), &vh, PVNET_HDR);
	id = p->tx_free[p->tx_nfree - 1];
	tb = &p->txbufs[id];
	tb->len[0] = skb_headlen(skb);
	tb->addr[0] = dma_map_single(dma, skb->data, tb->len[0], DMA_TO_DEVICE);
	if (dma_mapping_error(dma, tb->addr[0]))
		goto drop_pushed;
	tb->nseg = 1;
	for (i = 0; i < nfrags; i++) {
		const skb_frag_t *f = &skb_shinfo(skb)->frags[i];

		tb->len[i + 1] = skb_frag_size(f);
		tb->addr[i + 1] = skb_frag_dma_map(dma, f, 0, tb->len[i + 1],
						   DMA_TO_DEVICE);
		if (dma_mapping_error(dma, tb->addr[i + 1]))
			goto unmap;
		tb->nseg++;
	}
	for (i = 0; i < tb->nseg; i++) {
		d[i].addr = cpu_to_le64(tb->addr[i]);
		d[i].len = cpu_to_le32(tb->len[i]);
		d[i].id = cpu_to_le16(id);
		d[i].flags = cpu_to_le16(i + 1 < tb->nseg ? PVIO_DESC_F_NEXT : 0);
	}
	if (pvio_queue_submit(p->txq, d, tb->nseg))
		goto unmap;
	tb->skb = skb;
	p->tx_nfree--;
	/* The frame's bytes, as rx counts them: not our header. */
	pvnet_stat_add(&p->tx_stats, 1, skb->len - PVNET_HDR);
	netdev_tx_sent_queue(txq, skb->len);
	skb_tx_timestamp(skb);
	/* Room for the worst case next time, or stop now and let NAPI wake us. */
	if (!p->tx_nfree ||
	    pvio_queue_space(p->txq, PVNET_TX_MAX_SEGS) < PVNET_TX_MAX_SEGS) {
		netif_tx_stop_queue(txq);
		kick = true;
	}
	if (kick || netif_xmit_stopped(txq))
		pvnet_tx_flush(p);
	return NETDEV_TX_OK;

unmap:
	pvnet_tx_unmap(pn, tb);
	if (unlikely(READ_ONCE(pn->pdev->broken)))
		pvnet_schedule_reset(pn);
drop_pushed:
	__skb_pull(skb, PVNET_HDR);
drop:
	pvnet_stat_inc(&p->tx_stats, &p->tx_stats.errors);
	dev_kfree_skb_any(skb);
	/* The last of a burst: what the burst queued still needs its kick. */
	if (kick || netif_xmit_stopped(txq))
		pvnet_tx_flush(p);
	return NETDEV_TX_OK;
}

/* ---- NAPI ----------------------------------------------------------------- */

void pvnet_irq(struct pvio_queue *q)
{
	struct pvnet_pair *p = pvio_queue_priv(q);

	/* Event indices make the interrupt one-shot until NAPI re-arms. */
	if (q == p->txq)
		pvnet_tx_napi(p);
	else
		napi_schedule(&p->napi);
}

int pvnet_poll(struct napi_struct *napi, int budget)
{
	struct pvnet_pair *p = container_of(napi, struct pvnet_pair, napi);
	struct netdev_queue *txq = netdev_get_tx_queue(p->pn->ndev, p->index);
	int done;

	/*
	 * A TX interrupt must be answered: reap and re-arm.  Without one, TX
	 * is still armed, and xmit reaps on its own: no reason to contend for
	 * the TX lock with xmit on another CPU.  Netpoll (budget 0) and a
	 * stopped queue have no xmit to count on.
	 */
	if (test_and_clear_bit(PVNET_TX_IRQ, &p->tx_flags) || !budget ||
	    netif_tx_queue_stopped(txq)) {
		__netif_tx_lock(txq, raw_smp_processor_id());
		pvnet_tx_reap_arm(p, budget);
		__netif_tx_unlock(txq);
	}
	done = pvnet_rx_poll(p, budget);
	/* A refused completion or index, ours or the backend's: reset. */
	if (unlikely(READ_ONCE(p->pn->pdev->broken)))
		pvnet_schedule_reset(p->pn);
	if (done >= budget)
		return budget;
	/*
	 * Re-arm rx while this poll still owns NAPI: arming touches the rx
	 * ring's consumer state, which only the NAPI owner may do.  Once
	 * napi_complete_done() returns, the other vCPU may already be polling
	 * this pair.  An interrupt between arming and completing sets
	 * NAPIF_STATE_MISSED, and napi_complete_done() reschedules.  TX was
	 * armed above, or by xmit.
	 */
	if (!pvio_queue_enable_cb(p->rxq))
		return budget;		/* work slipped in: stay scheduled */
	napi_complete_done(napi, done);
	return done;
}

/*
 * A TX queue stopped for a watchdog period.  Every path that stops one
 * arms a notification, so this should not happen; if a notification got
 * lost anyway, ring the host and reap from NAPI as after an interrupt.
 * A queue that is still stuck, with nothing completed, one watchdog
 * period after that kick has completions the host lost or never sends
 * (and a BQL limit they keep closed): give up on the device, which
 * reset_work resets; the reset frees those packets or holds them.
 */
void pvnet_tx_timeout(struct net_device *ndev, unsigned int txqueue)
{
	struct pvnet *pn = netdev_priv(ndev);
	struct pvnet_pair *p;

	if (txqueue >= pn->pairs || !READ_ONCE(pn->set_up))
		return;
	if (READ_ONCE(pn->pdev->broken)) {
		pvnet_schedule_reset(pn);
		return;
	}
	p = &pn->pair[txqueue];
	pvnet_stat_inc(&p->tx_stats, &p->tx_stats.errors);
	if (p->tx_stall_mark == p->tx_done) {
		netdev_warn(ndev, "tx queue %u: nothing completed since the last kick (%u in flight): resetting the device\n",
			    txqueue, p->tx_size - p->tx_nfree);
		pvio_device_failed(pn->pdev, "tx completions lost");
		pvnet_schedule_reset(pn);
		return;
	}
	p->tx_stall_mark = p->tx_done;
	netdev_warn(ndev, "tx queue %u stopped too long (%u in flight): kicking it\n",
		    txqueue, p->tx_size - p->tx_nfree);
	pvio_queue_notify(p->txq);
	pvnet_tx_napi(p);
}
