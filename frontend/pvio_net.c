// SPDX-License-Identifier: GPL-2.0
/*
 * pvio_net - paravirtual NIC on the pvio bus.
 *
 * Queue pairs: pvio queue 2n receives, 2n+1 transmits; one NAPI context per
 * pair reaps both.  Every packet buffer starts with struct pvio_net_hdr,
 * which has the layout of virtio_net_hdr_mrg_rxbuf, so the kernel's own
 * virtio_net_hdr_{from,to}_skb() helpers translate offloads both ways and
 * the host hands the header to its TAP unchanged.
 *
 * RX buffers are page fragments mapped once and turned into skbs with
 * build_skb(): no copy and no per-packet skb allocation before the data is
 * there.  TX maps the skb head and frags straight into one chain.
 *
 * Every completion is checked (id in range and outstanding, length within
 * the buffer, header sane); a bad one marks the device broken and stops the
 * queue instead of touching memory.
 *
 * Locking: the SQ of a TX queue is produced under the netdev TX queue lock
 * (xmit); its CQ is reaped in NAPI, also under that lock, because both
 * sides share the id allocator.  RX SQ and CQ belong to NAPI (and to
 * process context while NAPI is disabled).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/dma-mapping.h>
#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/if_vlan.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
#include <linux/skbuff.h>
#include <linux/u64_stats_sync.h>
#include <linux/virtio_net.h>
#include "pvio.h"

static_assert(sizeof(struct pvio_net_hdr) == sizeof(struct virtio_net_hdr_mrg_rxbuf));
static_assert(offsetof(struct pvio_net_hdr, csum_start) ==
	      offsetof(struct virtio_net_hdr, csum_start));
static_assert(offsetof(struct pvio_net_hdr, num_buffers) ==
	      offsetof(struct virtio_net_hdr_mrg_rxbuf, num_buffers));

#define PVNET_HDR		sizeof(struct pvio_net_hdr)
#define PVNET_MAX_PAIRS		(PVIO_MAX_QUEUES / 2)
#define PVNET_TX_MAX_SEGS	(MAX_SKB_FRAGS + 1)
#define PVNET_RX_PAD		(NET_SKB_PAD + NET_IP_ALIGN)
#define PVNET_MAX_MTU		16000	/* rx buffers are page fragments <= 32 KiB */

static const u64 pvnet_features =
	BIT_ULL(PVIO_NET_F_CSUM) | BIT_ULL(PVIO_NET_F_GUEST_CSUM) |
	BIT_ULL(PVIO_NET_F_MTU) | BIT_ULL(PVIO_NET_F_MAC) |
	BIT_ULL(PVIO_NET_F_HOST_TSO4) | BIT_ULL(PVIO_NET_F_HOST_TSO6) |
	BIT_ULL(PVIO_NET_F_MQ) | BIT_ULL(PVIO_NET_F_STATUS);

struct pvnet_stats {
	struct u64_stats_sync syncp;
	u64_stats_t packets;
	u64_stats_t bytes;
	u64_stats_t errors;
	u64_stats_t kicks;
};

struct pvnet_rxbuf {
	void *buf;		/* page fragment, truesize bytes */
	dma_addr_t dma;
};

struct pvnet_txbuf {
	struct sk_buff *skb;
	u8 nseg;
	dma_addr_t addr[PVNET_TX_MAX_SEGS];
	u32 len[PVNET_TX_MAX_SEGS];
};

struct pvnet_pair {
	struct pvnet *pn;
	unsigned int index;
	struct napi_struct napi;
	/* rx */
	struct pvio_queue *rxq;
	struct pvnet_rxbuf *rxbufs;	/* by id */
	u16 *rx_free;			/* stack of free ids */
	unsigned int rx_nfree;
	unsigned int rx_size;
	struct pvnet_stats rx_stats;
	/* tx */
	struct pvio_queue *txq;
	struct pvnet_txbuf *txbufs;	/* by id */
	u16 *tx_free;			/* stack of free ids, under the tx lock */
	unsigned int tx_nfree;
	unsigned int tx_size;
	struct pvnet_stats tx_stats;
};

struct pvnet {
	struct net_device *ndev;
	struct pvio_device *pdev;
	struct pvio_net_config *cfg;
	unsigned int max_pairs;
	unsigned int pairs;		/* active */
	unsigned int buf_len;		/* header + largest frame */
	unsigned int truesize;		/* of one rx fragment */
	bool set_up;			/* queues and buffers exist */
	struct pvnet_pair pair[PVNET_MAX_PAIRS];
};

static void pvnet_stat_add(struct pvnet_stats *s, unsigned int pkts,
			   unsigned int bytes)
{
	u64_stats_update_begin(&s->syncp);
	u64_stats_add(&s->packets, pkts);
	u64_stats_add(&s->bytes, bytes);
	u64_stats_update_end(&s->syncp);
}

static void pvnet_stat_inc(struct pvnet_stats *s, u64_stats_t *field)
{
	u64_stats_update_begin(&s->syncp);
	u64_stats_inc(field);
	u64_stats_update_end(&s->syncp);
}

/* ---- config ------------------------------------------------------------- */

/* Copy the config area consistently: retry while the backend rewrites it. */
static void pvnet_read_config(struct pvnet *pn, struct pvio_net_config *c)
{
	u32 gen;
	int tries = 0;

	/* The backend makes the generation odd while it writes the area. */
	for (;;) {
		gen = pvio_config_generation(pn->pdev);
		memcpy(c, pn->cfg, sizeof(*c));
		/* Copy complete before the generation is re-read. */
		smp_rmb();
		if (!(gen & 1) && gen == pvio_config_generation(pn->pdev))
			return;
		if (++tries == 1000) {
			dev_warn_ratelimited(&pn->pdev->dev,
					     "config keeps changing; using the last copy\n");
			return;
		}
		cpu_relax();
	}
}

static void pvnet_update_link(struct pvnet *pn)
{
	struct pvio_net_config c;
	bool up = true;

	if (pvio_has_feature(pn->pdev, PVIO_NET_F_STATUS)) {
		pvnet_read_config(pn, &c);
		up = le16_to_cpu(c.status) & PVIO_NET_S_LINK_UP;
	}
	if (!pvio_backend_alive(pn->pdev) || pn->pdev->broken)
		up = false;
	if (up == netif_carrier_ok(pn->ndev))
		return;
	if (up)
		netif_carrier_on(pn->ndev);
	else
		netif_carrier_off(pn->ndev);
	netdev_info(pn->ndev, "link %s\n", up ? "up" : "down");
}

/* ---- rx ------------------------------------------------------------------- */

static int pvnet_rx_post_one(struct pvnet_pair *p, gfp_t gfp)
{
	struct pvnet *pn = p->pn;
	struct device *dma = pvio_dma_dev(pn->pdev);
	struct pvnet_rxbuf *rb;
	struct pvio_desc d;
	void *buf;
	u16 id;
	int ret;

	if (!p->rx_nfree)
		return -ENOSPC;
	buf = napi_alloc_frag(pn->truesize);
	if (!buf)
		return -ENOMEM;
	id = p->rx_free[p->rx_nfree - 1];
	rb = &p->rxbufs[id];
	rb->dma = dma_map_single(dma, buf + PVNET_RX_PAD, pn->buf_len,
				 DMA_FROM_DEVICE);
	if (dma_mapping_error(dma, rb->dma)) {
		skb_free_frag(buf);
		return -ENOMEM;
	}
	d.addr = cpu_to_le64(rb->dma);
	d.len = cpu_to_le32(pn->buf_len);
	d.id = cpu_to_le16(id);
	d.flags = cpu_to_le16(PVIO_DESC_F_WRITE);
	ret = pvio_queue_submit(p->rxq, &d, 1);
	if (ret) {
		dma_unmap_single(dma, rb->dma, pn->buf_len, DMA_FROM_DEVICE);
		skb_free_frag(buf);
		return ret;
	}
	rb->buf = buf;
	p->rx_nfree--;
	return 0;
}

/* Post buffers until the ring is full; kick once. */
static void pvnet_rx_refill(struct pvnet_pair *p, gfp_t gfp)
{
	int n = 0;

	while (pvnet_rx_post_one(p, gfp) == 0)
		n++;
	if (n)
		pvio_queue_kick(p->rxq);
}

static int pvnet_rx_one(struct pvnet_pair *p, const struct pvio_cpl *c)
{
	struct pvnet *pn = p->pn;
	struct net_device *ndev = pn->ndev;
	u16 id = le16_to_cpu(c->id);
	u32 len = le32_to_cpu(c->len);
	struct pvnet_rxbuf *rb;
	struct pvio_net_hdr *hdr;
	struct sk_buff *skb;
	void *buf;

	if (id >= p->rx_size || !p->rxbufs[id].buf) {
		pvio_device_failed(pn->pdev, "rx completion for a buffer not posted");
		return -EPROTO;
	}
	rb = &p->rxbufs[id];
	buf = rb->buf;
	rb->buf = NULL;
	p->rx_free[p->rx_nfree++] = id;
	dma_unmap_single(pvio_dma_dev(pn->pdev), rb->dma, pn->buf_len,
			 DMA_FROM_DEVICE);
	if (le32_to_cpu(c->status) || len < PVNET_HDR + ETH_HLEN ||
	    len > pn->buf_len) {
		/* A length we never offered is a host bug: drop, count. */
		pvnet_stat_inc(&p->rx_stats, &p->rx_stats.errors);
		skb_free_frag(buf);
		return 0;
	}
	skb = build_skb(buf, pn->truesize);
	if (unlikely(!skb)) {
		pvnet_stat_inc(&p->rx_stats, &p->rx_stats.errors);
		skb_free_frag(buf);
		return 0;
	}
	skb_reserve(skb, PVNET_RX_PAD);
	skb_put(skb, len);
	hdr = (struct pvio_net_hdr *)skb->data;
	__skb_pull(skb, PVNET_HDR);
	if (virtio_net_hdr_to_skb(skb, (struct virtio_net_hdr *)hdr, true)) {
		net_warn_ratelimited("%s: bad rx header (flags %#x gso %#x)\n",
				     ndev->name, hdr->flags, hdr->gso_type);
		pvnet_stat_inc(&p->rx_stats, &p->rx_stats.errors);
		dev_kfree_skb_any(skb);
		return 0;
	}
	if ((hdr->flags & PVIO_NET_HDR_F_DATA_VALID) &&
	    (ndev->features & NETIF_F_RXCSUM))
		skb->ip_summed = CHECKSUM_UNNECESSARY;
	skb->protocol = eth_type_trans(skb, ndev);
	skb_record_rx_queue(skb, p->index);
	pvnet_stat_add(&p->rx_stats, 1, skb->len);
	napi_gro_receive(&p->napi, skb);
	return 0;
}

static int pvnet_rx_poll(struct pvnet_pair *p, int budget)
{
	struct pvio_cpl c[16];
	int done = 0, n, i;

	while (done < budget) {
		n = pvio_queue_reap(p->rxq, c, min(16, budget - done));
		if (n <= 0)
			break;
		for (i = 0; i < n; i++)
			if (pvnet_rx_one(p, &c[i]))
				return done;
		done += n;
	}
	if (p->rx_nfree > p->rx_size / 4 || !done)
		pvnet_rx_refill(p, GFP_ATOMIC);
	return done;
}

/* ---- tx ------------------------------------------------------------------- */

static void pvnet_tx_unmap(struct pvnet *pn, struct pvnet_txbuf *tb)
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
	if (!pkts)
		return;
	netdev_tx_completed_queue(txq, pkts, bytes);
	if (netif_tx_queue_stopped(txq) && !pn->pdev->broken &&
	    p->tx_nfree && pvio_queue_space(p->txq, PVNET_TX_MAX_SEGS) >= PVNET_TX_MAX_SEGS)
		netif_tx_wake_queue(txq);
}

static netdev_tx_t pvnet_xmit(struct sk_buff *skb, struct net_device *ndev)
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
	pvnet_stat_add(&p->tx_stats, 1, skb->len);
	netdev_tx_sent_queue(txq, skb->len);
	skb_tx_timestamp(skb);
	/* Room for the worst case next time, or stop now and let NAPI wake us. */
	if (!p->tx_nfree ||
	    pvio_queue_space(p->txq, PVNET_TX_MAX_SEGS) < PVNET_TX_MAX_SEGS) {
		netif_tx_stop_queue(txq);
		kick = true;
	}
	if ((kick || netif_xmit_stopped(txq)) && pvio_queue_kick_prepare(p->txq)) {
		pvio_queue_notify(p->txq);
		pvnet_stat_inc(&p->tx_stats, &p->tx_stats.kicks);
	}
	return NETDEV_TX_OK;

unmap:
	pvnet_tx_unmap(pn, tb);
drop_pushed:
	__skb_pull(skb, PVNET_HDR);
drop:
	pvnet_stat_inc(&p->tx_stats, &p->tx_stats.errors);
	dev_kfree_skb_any(skb);
	return NETDEV_TX_OK;
}

/* ---- NAPI ----------------------------------------------------------------- */

static void pvnet_irq(struct pvio_queue *q)
{
	struct pvnet_pair *p = pvio_queue_priv(q);

	/* Event indices make the interrupt one-shot until NAPI re-arms. */
	napi_schedule(&p->napi);
}

static int pvnet_poll(struct napi_struct *napi, int budget)
{
	struct pvnet_pair *p = container_of(napi, struct pvnet_pair, napi);
	struct netdev_queue *txq = netdev_get_tx_queue(p->pn->ndev, p->index);
	bool more;
	int done;

	__netif_tx_lock(txq, raw_smp_processor_id());
	pvnet_tx_clean(p, budget);
	__netif_tx_unlock(txq);
	done = pvnet_rx_poll(p, budget);
	if (done >= budget)
		return budget;
	if (napi_complete_done(napi, done)) {
		/* Re-arm both rings; poll again if work slipped in. */
		more = !pvio_queue_enable_cb(p->rxq);
		__netif_tx_lock(txq, raw_smp_processor_id());
		more |= !pvio_queue_enable_cb(p->txq);
		__netif_tx_unlock(txq);
		if (more)
			napi_schedule(napi);
	}
	return done;
}

/* ---- setup and teardown of queues ----------------------------------------- */

static void pvnet_free_pair_mem(struct pvnet_pair *p)
{
	kvfree(p->rxbufs);
	kvfree(p->rx_free);
	kvfree(p->txbufs);
	kvfree(p->tx_free);
	p->rxbufs = NULL;
	p->rx_free = NULL;
	p->txbufs = NULL;
	p->tx_free = NULL;
}

/* After the device was reset: nothing is in flight any more. */
static void pvnet_free_buffers(struct pvnet *pn)
{
	struct device *dma = pvio_dma_dev(pn->pdev);
	unsigned int i, j;

	for (i = 0; i < pn->max_pairs; i++) {
		struct pvnet_pair *p = &pn->pair[i];

		for (j = 0; p->rxbufs && j < p->rx_size; j++) {
			if (!p->rxbufs[j].buf)
				continue;
			dma_unmap_single(dma, p->rxbufs[j].dma, pn->buf_len,
					 DMA_FROM_DEVICE);
			skb_free_frag(p->rxbufs[j].buf);
		}
		for (j = 0; p->txbufs && j < p->tx_size; j++) {
			if (!p->txbufs[j].skb)
				continue;
			pvnet_tx_unmap(pn, &p->txbufs[j]);
			dev_kfree_skb_any(p->txbufs[j].skb);
		}
		if (i < pn->ndev->real_num_tx_queues)
			netdev_tx_reset_queue(netdev_get_tx_queue(pn->ndev, i));
		pvnet_free_pair_mem(p);
	}
}

static int pvnet_setup_pair(struct pvnet *pn, unsigned int i)
{
	struct pvnet_pair *p = &pn->pair[i];
	unsigned int j;

	p->pn = pn;
	p->index = i;
	p->rxq = pvio_queue_setup(pn->pdev, 2 * i, pvnet_irq, p);
	if (IS_ERR(p->rxq))
		return PTR_ERR(p->rxq);
	p->txq = pvio_queue_setup(pn->pdev, 2 * i + 1, pvnet_irq, p);
	if (IS_ERR(p->txq))
		return PTR_ERR(p->txq);
	p->rx_size = pvio_queue_size(p->rxq);
	p->tx_size = pvio_queue_size(p->txq);
	p->rxbufs = kvcalloc(p->rx_size, sizeof(*p->rxbufs), GFP_KERNEL);
	p->rx_free = kvcalloc(p->rx_size, sizeof(*p->rx_free), GFP_KERNEL);
	p->txbufs = kvcalloc(p->tx_size, sizeof(*p->txbufs), GFP_KERNEL);
	p->tx_free = kvcalloc(p->tx_size, sizeof(*p->tx_free), GFP_KERNEL);
	if (!p->rxbufs || !p->rx_free || !p->txbufs || !p->tx_free)
		return -ENOMEM;
	for (j = 0; j < p->rx_size; j++)
		p->rx_free[j] = p->rx_size - 1 - j;
	p->rx_nfree = p->rx_size;
	for (j = 0; j < p->tx_size; j++)
		p->tx_free[j] = p->tx_size - 1 - j;
	p->tx_nfree = p->tx_size;
	return 0;
}

static void pvnet_size_buffers(struct pvnet *pn)
{
	pn->buf_len = PVNET_HDR + pn->ndev->mtu + ETH_HLEN + VLAN_HLEN;
	pn->truesize = SKB_DATA_ALIGN(PVNET_RX_PAD + pn->buf_len) +
		       SKB_DATA_ALIGN(sizeof(struct skb_shared_info));
}

/* Queues, buffers, DRIVER_OK.  The device is reset and has no queues. */
static int pvnet_setup(struct pvnet *pn)
{
	unsigned int i;
	int ret;

	/* After a reset the device needs its features again; probe did it once. */
	if (!(le32_to_cpu(READ_ONCE(pn->pdev->desc->driver_status)) & PVIO_DS_FEATURES_OK)) {
		ret = pvio_negotiate(pn->pdev, pvnet_features);
		if (ret)
			return ret;
	}
	pvnet_size_buffers(pn);
	for (i = 0; i < pn->pairs; i++) {
		ret = pvnet_setup_pair(pn, i);
		if (ret)
			goto err;
	}
	ret = pvio_device_ready(pn->pdev, 2 * pn->pairs);
	if (ret)
		goto err;
	local_bh_disable();
	for (i = 0; i < pn->pairs; i++)
		pvnet_rx_refill(&pn->pair[i], GFP_KERNEL);
	local_bh_enable();
	pn->set_up = true;
	return 0;
err:
	pvio_device_teardown(pn->pdev);
	pvnet_free_buffers(pn);
	return ret;
}

static void pvnet_napi_all(struct pvnet *pn, bool on)
{
	unsigned int i;

	for (i = 0; i < pn->pairs; i++) {
		struct pvnet_pair *p = &pn->pair[i];

		if (on) {
			napi_enable(&p->napi);
			napi_schedule(&p->napi);	/* arms the rings */
		} else {
			napi_disable(&p->napi);
		}
	}
}

/* Stop traffic, reset the device, free every buffer.  Under rtnl. */
static void pvnet_teardown(struct pvnet *pn)
{
	bool running = netif_running(pn->ndev);

	if (!pn->set_up)
		return;
	if (running) {
		netif_tx_disable(pn->ndev);
		pvnet_napi_all(pn, false);
	}
	pvio_device_teardown(pn->pdev);
	pvnet_free_buffers(pn);
	pn->set_up = false;
}

static int pvnet_rebuild(struct pvnet *pn)
{
	bool running = netif_running(pn->ndev);
	int ret;

	ret = pvnet_setup(pn);
	if (ret)
		return ret;
	if (running) {
		pvnet_napi_all(pn, true);
		netif_tx_start_all_queues(pn->ndev);
	}
	pvnet_update_link(pn);
	return 0;
}

/* ---- net_device_ops --------------------------------------------------------- */

static int pvnet_open(struct net_device *ndev)
{
	struct pvnet *pn = netdev_priv(ndev);

	if (!pn->set_up)
		return -EIO;
	pvnet_napi_all(pn, true);
	netif_tx_start_all_queues(ndev);
	pvnet_update_link(pn);
	return 0;
}

static int pvnet_stop(struct net_device *ndev)
{
	struct pvnet *pn = netdev_priv(ndev);

	netif_tx_disable(ndev);
	if (pn->set_up)
		pvnet_napi_all(pn, false);
	return 0;
}

static int pvnet_change_mtu(struct net_device *ndev, int mtu)
{
	struct pvnet *pn = netdev_priv(ndev);

	/* Rx buffers are sized for the MTU: rebuild them. */
	pvnet_teardown(pn);
	ndev->mtu = mtu;
	return pvnet_rebuild(pn);
}

static void pvnet_get_stats64(struct net_device *ndev,
			      struct rtnl_link_stats64 *st)
{
	struct pvnet *pn = netdev_priv(ndev);
	unsigned int i, start;

	for (i = 0; i < pn->max_pairs; i++) {
		struct pvnet_pair *p = &pn->pair[i];
		u64 rp, rb, re, tp, tb, te;

		do {
			start = u64_stats_fetch_begin(&p->rx_stats.syncp);
			rp = u64_stats_read(&p->rx_stats.packets);
			rb = u64_stats_read(&p->rx_stats.bytes);
			re = u64_stats_read(&p->rx_stats.errors);
		} while (u64_stats_fetch_retry(&p->rx_stats.syncp, start));
		do {
			start = u64_stats_fetch_begin(&p->tx_stats.syncp);
			tp = u64_stats_read(&p->tx_stats.packets);
			tb = u64_stats_read(&p->tx_stats.bytes);
			te = u64_stats_read(&p->tx_stats.errors);
		} while (u64_stats_fetch_retry(&p->tx_stats.syncp, start));
		st->rx_packets += rp;
		st->rx_bytes += rb;
		st->rx_errors += re;
		st->tx_packets += tp;
		st->tx_bytes += tb;
		st->tx_errors += te;
	}
}

static const struct net_device_ops pvnet_netdev_ops = {
	.ndo_open = pvnet_open,
	.ndo_stop = pvnet_stop,
	.ndo_start_xmit = pvnet_xmit,
	.ndo_change_mtu = pvnet_change_mtu,
	.ndo_get_stats64 = pvnet_get_stats64,
	.ndo_set_mac_address = eth_mac_addr,
	.ndo_validate_addr = eth_validate_addr,
};

/* ---- ethtool ------------------------------------------------------------------ */

static const char pvnet_stat_names[][ETH_GSTRING_LEN] = {
	"packets", "bytes", "errors", "kicks",
};

static void pvnet_get_drvinfo(struct net_device *ndev,
			      struct ethtool_drvinfo *info)
{
	struct pvnet *pn = netdev_priv(ndev);

	strscpy(info->driver, KBUILD_MODNAME, sizeof(info->driver));
	strscpy(info->bus_info, dev_name(&pn->pdev->dev), sizeof(info->bus_info));
	snprintf(info->fw_version, sizeof(info->fw_version), "pvio ABI %u.%u",
		 PVIO_ABI_VERSION_MAJOR, PVIO_ABI_VERSION_MINOR);
}

static void pvnet_get_channels(struct net_device *ndev,
			       struct ethtool_channels *ch)
{
	struct pvnet *pn = netdev_priv(ndev);

	ch->max_combined = pn->max_pairs;
	ch->combined_count = pn->pairs;
}

static int pvnet_set_channels(struct net_device *ndev,
			      struct ethtool_channels *ch)
{
	struct pvnet *pn = netdev_priv(ndev);
	unsigned int old = pn->pairs;
	int ret;

	if (!ch->combined_count || ch->rx_count || ch->tx_count ||
	    ch->combined_count > pn->max_pairs)
		return -EINVAL;
	if (ch->combined_count == old)
		return 0;
	pvnet_teardown(pn);
	pn->pairs = ch->combined_count;
	ret = netif_set_real_num_tx_queues(ndev, pn->pairs);
	if (!ret)
		ret = netif_set_real_num_rx_queues(ndev, pn->pairs);
	if (ret)
		pn->pairs = old;
	return pvnet_rebuild(pn) ?: ret;
}

static void pvnet_get_ringparam(struct net_device *ndev,
				struct ethtool_ringparam *ring,
				struct kernel_ethtool_ringparam *kring,
				struct netlink_ext_ack *extack)
{
	struct pvnet *pn = netdev_priv(ndev);

	ring->rx_max_pending = pn->pair[0].rx_size;
	ring->tx_max_pending = pn->pair[0].tx_size;
	ring->rx_pending = pn->pair[0].rx_size;
	ring->tx_pending = pn->pair[0].tx_size;
}

static int pvnet_get_sset_count(struct net_device *ndev, int sset)
{
	struct pvnet *pn = netdev_priv(ndev);

	if (sset != ETH_SS_STATS)
		return -EOPNOTSUPP;
	return pn->max_pairs * 2 * ARRAY_SIZE(pvnet_stat_names);
}

static void pvnet_get_strings(struct net_device *ndev, u32 sset, u8 *data)
{
	struct pvnet *pn = netdev_priv(ndev);
	unsigned int i, j;

	if (sset != ETH_SS_STATS)
		return;
	for (i = 0; i < pn->max_pairs; i++) {
		for (j = 0; j < ARRAY_SIZE(pvnet_stat_names); j++)
			ethtool_sprintf(&data, "rx%u_%s", i, pvnet_stat_names[j]);
		for (j = 0; j < ARRAY_SIZE(pvnet_stat_names); j++)
			ethtool_sprintf(&data, "tx%u_%s", i, pvnet_stat_names[j]);
	}
}

static void pvnet_read_stats(struct pvnet_stats *s, u64 *out)
{
	unsigned int start;

	do {
		start = u64_stats_fetch_begin(&s->syncp);
		out[0] = u64_stats_read(&s->packets);
		out[1] = u64_stats_read(&s->bytes);
		out[2] = u64_stats_read(&s->errors);
		out[3] = u64_stats_read(&s->kicks);
	} while (u64_stats_fetch_retry(&s->syncp, start));
}

static void pvnet_get_ethtool_stats(struct net_device *ndev,
				    struct ethtool_stats *stats, u64 *data)
{
	struct pvnet *pn = netdev_priv(ndev);
	unsigned int i;

	for (i = 0; i < pn->max_pairs; i++) {
		pvnet_read_stats(&pn->pair[i].rx_stats, data);
		data += ARRAY_SIZE(pvnet_stat_names);
		pvnet_read_stats(&pn->pair[i].tx_stats, data);
		data += ARRAY_SIZE(pvnet_stat_names);
	}
}

static const struct ethtool_ops pvnet_ethtool_ops = {
	.get_drvinfo = pvnet_get_drvinfo,
	.get_link = ethtool_op_get_link,
	.get_channels = pvnet_get_channels,
	.set_channels = pvnet_set_channels,
	.get_ringparam = pvnet_get_ringparam,
	.get_sset_count = pvnet_get_sset_count,
	.get_strings = pvnet_get_strings,
	.get_ethtool_stats = pvnet_get_ethtool_stats,
};

/* ---- pvio driver ----------------------------------------------------------- */

static void pvnet_config_changed(struct pvio_device *pdev)
{
	struct pvnet *pn = dev_get_drvdata(&pdev->dev);

	if (pn)
		pvnet_update_link(pn);
}

static int pvnet_probe(struct pvio_device *pdev)
{
	struct pvio_net_config c;
	struct net_device *ndev;
	struct pvnet *pn;
	unsigned int i, maxq, mtu, max_mtu;
	int ret;

	if (!pdev->config || pdev->config_len < sizeof(c) || pdev->max_queues < 2) {
		dev_err(&pdev->dev, "net device without config area or queue pair\n");
		return -EINVAL;
	}
	/* Never trust what the host says: cap every count. */
	maxq = min_t(unsigned int, pdev->max_queues / 2, PVNET_MAX_PAIRS);
	ndev = alloc_etherdev_mq(sizeof(*pn), maxq);
	if (!ndev)
		return -ENOMEM;
	pn = netdev_priv(ndev);
	pn->ndev = ndev;
	pn->pdev = pdev;
	pn->cfg = pdev->config;
	SET_NETDEV_DEV(ndev, &pdev->dev);
	for (i = 0; i < maxq; i++) {
		u64_stats_init(&pn->pair[i].rx_stats.syncp);
		u64_stats_init(&pn->pair[i].tx_stats.syncp);
		netif_napi_add(ndev, &pn->pair[i].napi, pvnet_poll);
	}

	ret = pvio_negotiate(pdev, pvnet_features);
	if (ret)
		goto err_free;
	pvnet_read_config(pn, &c);
	if (pvio_has_feature(pdev, PVIO_NET_F_MQ))
		maxq = clamp_t(unsigned int, le16_to_cpu(c.max_queue_pairs), 1, maxq);
	else
		maxq = 1;
	pn->max_pairs = maxq;
	pn->pairs = min_t(unsigned int, maxq, num_online_cpus());
	if (pvio_has_feature(pdev, PVIO_NET_F_MAC) && is_valid_ether_addr(c.mac))
		eth_hw_addr_set(ndev, c.mac);
	else
		eth_hw_addr_random(ndev);
	mtu = ETH_DATA_LEN;
	max_mtu = ETH_DATA_LEN;
	if (pvio_has_feature(pdev, PVIO_NET_F_MTU)) {
		max_mtu = clamp_t(unsigned int, le16_to_cpu(c.max_mtu), ETH_MIN_MTU,
				  PVNET_MAX_MTU);
		mtu = clamp_t(unsigned int, le16_to_cpu(c.mtu), ETH_MIN_MTU, max_mtu);
	}
	ndev->min_mtu = ETH_MIN_MTU;
	ndev->max_mtu = max_mtu;
	ndev->mtu = mtu;
	ndev->netdev_ops = &pvnet_netdev_ops;
	ndev->ethtool_ops = &pvnet_ethtool_ops;
	ndev->priv_flags |= IFF_UNICAST_FLT | IFF_LIVE_ADDR_CHANGE;
	ndev->hw_features = NETIF_F_SG;
	if (pvio_has_feature(pdev, PVIO_NET_F_CSUM)) {
		ndev->hw_features |= NETIF_F_HW_CSUM;
		if (pvio_has_feature(pdev, PVIO_NET_F_HOST_TSO4))
			ndev->hw_features |= NETIF_F_TSO;
		if (pvio_has_feature(pdev, PVIO_NET_F_HOST_TSO6))
			ndev->hw_features |= NETIF_F_TSO6;
	}
	if (pvio_has_feature(pdev, PVIO_NET_F_GUEST_CSUM))
		ndev->hw_features |= NETIF_F_RXCSUM;
	ndev->features = ndev->hw_features | NETIF_F_HIGHDMA;
	ndev->vlan_features = ndev->features;
	netif_set_tso_max_segs(ndev, PVNET_TX_MAX_SEGS);
	netif_set_real_num_tx_queues(ndev, pn->pairs);
	netif_set_real_num_rx_queues(ndev, pn->pairs);

	ret = pvnet_setup(pn);
	if (ret)
		goto err_free;
	dev_set_drvdata(&pdev->dev, pn);
	netif_carrier_off(ndev);
	/* Last: the stack may open the device as soon as it exists. */
	ret = register_netdev(ndev);
	if (ret)
		goto err_teardown;
	pvnet_update_link(pn);
	netdev_info(ndev, "pvio_net %pM, %u/%u queue pair(s), mtu %u (max %u), features %#llx\n",
		    ndev->dev_addr, pn->pairs, pn->max_pairs, ndev->mtu,
		    ndev->max_mtu, pdev->features);
	return 0;

err_teardown:
	dev_set_drvdata(&pdev->dev, NULL);
	pvio_device_teardown(pdev);
	pvnet_free_buffers(pn);
err_free:
	for (i = 0; i < PVNET_MAX_PAIRS; i++)
		if (pn->pair[i].napi.poll)
			netif_napi_del(&pn->pair[i].napi);
	free_netdev(ndev);
	return ret;
}

static void pvnet_remove(struct pvio_device *pdev)
{
	struct pvnet *pn = dev_get_drvdata(&pdev->dev);
	unsigned int i;

	unregister_netdev(pn->ndev);	/* closes it: NAPI off, tx stopped */
	dev_set_drvdata(&pdev->dev, NULL);
	/* Reset before freeing: the host then touches no buffer of ours. */
	pvio_device_teardown(pdev);
	pvnet_free_buffers(pn);
	for (i = 0; i < PVNET_MAX_PAIRS; i++)
		if (pn->pair[i].napi.poll)
			netif_napi_del(&pn->pair[i].napi);
	free_netdev(pn->ndev);
}

/* Backend restarted: the transport resets us between these two. */
static void pvnet_freeze(struct pvio_device *pdev)
{
	struct pvnet *pn = dev_get_drvdata(&pdev->dev);

	rtnl_lock();
	netif_device_detach(pn->ndev);
	if (netif_running(pn->ndev) && pn->set_up)
		pvnet_napi_all(pn, false);
	netif_carrier_off(pn->ndev);
	rtnl_unlock();
}

static int pvnet_restore(struct pvio_device *pdev)
{
	struct pvnet *pn = dev_get_drvdata(&pdev->dev);
	int ret;

	rtnl_lock();
	/* The device was reset: in-flight packets are gone, free them. */
	pvnet_free_buffers(pn);
	pn->set_up = false;
	ret = pvnet_rebuild(pn);
	netif_device_attach(pn->ndev);
	rtnl_unlock();
	if (!ret)
		netdev_info(pn->ndev, "restored after backend restart\n");
	return ret;
}

static struct pvio_driver pvnet_driver = {
	.driver.name = KBUILD_MODNAME,
	.type = PVIO_DEV_NET,
	.probe = pvnet_probe,
	.remove = pvnet_remove,
	.config_changed = pvnet_config_changed,
	.freeze = pvnet_freeze,
	.restore = pvnet_restore,
};
module_pvio_driver(pvnet_driver);

MODULE_ALIAS("pvio:t0001");
MODULE_DESCRIPTION("pvio paravirtual network driver");
MODULE_LICENSE("GPL");
