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
 * there.  Without MRG_RXBUF each buffer holds a whole frame of the MTU.
 * With it (the host then also sends 64 KiB GSO frames, GUEST_TSO4/6), the
 * buffers are about one packet of the recent average size (an EWMA, as
 * virtio-net does; a large packet's size is cut evenly into buffers of at
 * most 16 KiB), cut back to back in posting order from a per-queue
 * page_frag of 32 KiB pages, and a frame spans num_buffers consecutive
 * completions.  Its first bytes (up to PVNET_COPY_LEN) are copied into a
 * small skb; everything else stays where the host wrote it, as page frags.
 * Buffers that follow each other in memory become one frag, so a 64 KiB
 * frame is a few frags, never a frag_list (which would stop TCP from
 * coalescing it).  A used-up page is kept, and cut again once the
 * stack has freed every buffer of it: no allocation, and none of the
 * zeroing that init_on_alloc (Debian's default) does to each new page,
 * which costs as much guest CPU as copying the data once.  TX maps the
 * skb head and frags straight into one chain.
 *
 * Every completion is checked (id in range and outstanding, length within
 * the buffer, header sane); a bad one marks the device broken and stops the
 * queue instead of touching memory, and reset_work resets the device and
 * sets it up again (at most once a second), as it does when the backend
 * marks the device broken or an index it wrote is impossible.  A
 * completion refused for its length does not give its buffer back: the
 * reset decides (freed once acknowledged, held if not).
 *
 * TX completions interrupt once per batch, when three quarters of what is
 * in flight is done (virtio-net's enable_cb_delayed); xmit reaps whatever
 * is done at the end of each burst, when it re-arms.
 *
 * Resets: an MTU, channel or GRO_HW change, remove and a backend restart
 * reset the device.  Only a reset the backend acknowledges proves that it
 * has let go of the rx buffers and tx packets it was handed; after one it
 * did not acknowledge (a stalled backend may still write into the rx pages
 * and read the tx packets) they are held where they are, mapped and
 * referenced, and the device stays down with carrier off, until the
 * backend serves that reset late (polled by held_work) or a backend
 * restart is acknowledged; then they are freed and the queues set up.
 *
 * Locking: the SQ of a TX queue is produced under the netdev TX queue lock
 * (xmit); its CQ is reaped and armed under that lock too, in xmit and in
 * NAPI after a TX interrupt, because both sides share the id allocator.
 * RX SQ and CQ belong to NAPI (and to process context while NAPI is
 * disabled).  A TX queue stopped for a reset, a freeze or close stays
 * stopped until set up again (tx_on: NAPI wakes only queues stopped for
 * want of room), and is then woken, not started, so that what the qdisc
 * queued meanwhile goes out.
 */
#include "pvio_net.h"

static const u64 pvnet_features =
	BIT_ULL(PVIO_NET_F_CSUM) | BIT_ULL(PVIO_NET_F_GUEST_CSUM) |
	BIT_ULL(PVIO_NET_F_MTU) | BIT_ULL(PVIO_NET_F_MAC) |
	BIT_ULL(PVIO_NET_F_HOST_TSO4) | BIT_ULL(PVIO_NET_F_HOST_TSO6) |
	BIT_ULL(PVIO_NET_F_MRG_RXBUF) |
	BIT_ULL(PVIO_NET_F_MQ) | BIT_ULL(PVIO_NET_F_STATUS);
/* Large receive: only into merged buffers, and only with rx csum offload. */
static const u64 pvnet_guest_tso =
	BIT_ULL(PVIO_NET_F_GUEST_TSO4) | BIT_ULL(PVIO_NET_F_GUEST_TSO6);

/* ---- config ------------------------------------------------------------- */

static void pvnet_update_link(struct pvnet *pn)
{
	struct pvio_net_config c;
	bool up = true;

	if (pvio_has_feature(pn->pdev, PVIO_NET_F_STATUS)) {
		/* A copy torn by a backend that keeps rewriting: no news. */
		if (pvio_config_read(pn->pdev, &c, sizeof(c)) < 0)
			return;
		up = le16_to_cpu(c.status) & PVIO_NET_S_LINK_UP;
	}
	if (!pvio_backend_alive(pn->pdev) || pn->pdev->broken || !pn->set_up)
		up = false;
	if (up == netif_carrier_ok(pn->ndev))
		return;
	if (up)
		netif_carrier_on(pn->ndev);
	else
		netif_carrier_off(pn->ndev);
	netdev_info(pn->ndev, "link %s\n", up ? "up" : "down");
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

/*
 * What the backend never sees: the packet being put together (its buffers
 * were completed) and our references to the pages rx buffers are cut from
 * (every posted buffer holds a reference of its own).
 */
static void pvnet_free_rx_pages(struct pvnet_pair *p)
{
	unsigned int j;

	if (p->rx_skb)
		dev_kfree_skb_any(p->rx_skb);
	p->rx_skb = NULL;
	p->rx_left = 0;
	if (p->rx_frag.page)
		put_page(p->rx_frag.page);
	p->rx_frag.page = NULL;
	for (j = 0; j < PVNET_RECYCLE; j++) {
		if (p->rx_pages[j])
			put_page(p->rx_pages[j]);
		p->rx_pages[j] = NULL;
	}
}

/* After an acknowledged reset: nothing is in flight any more. */
static void pvnet_free_buffers(struct pvnet *pn)
{
	struct device *dma = pvio_dma_dev(pn->pdev);
	unsigned int i, j;

	for (i = 0; i < pn->max_pairs; i++) {
		struct pvnet_pair *p = &pn->pair[i];

		for (j = 0; p->rxbufs && j < p->rx_size; j++) {
			if (!p->rxbufs[j].buf)
				continue;
			dma_unmap_single(dma, p->rxbufs[j].dma, p->rxbufs[j].len,
					 DMA_FROM_DEVICE);
			skb_free_frag(p->rxbufs[j].buf);
		}
		pvnet_free_rx_pages(p);
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

/* Rx buffers and tx packets handed to the backend and not completed. */
static void pvnet_count_inflight(struct pvnet *pn, unsigned int *rx,
				 unsigned int *tx)
{
	unsigned int i, j;

	*rx = 0;
	*tx = 0;
	for (i = 0; i < pn->max_pairs; i++) {
		struct pvnet_pair *p = &pn->pair[i];

		for (j = 0; p->rxbufs && j < p->rx_size; j++)
			*rx += !!p->rxbufs[j].buf;
		for (j = 0; p->txbufs && j < p->tx_size; j++)
			*tx += !!p->txbufs[j].skb;
	}
}

/*
 * The reset was not acknowledged: the backend may still write into every
 * rx buffer and read every tx packet it was handed.  Keep them in the
 * pairs' arrays, mapped, with their page and skb references, until a
 * later acknowledged reset; free only what it never sees.
 */
static void pvnet_hold_buffers(struct pvnet *pn)
{
	unsigned int i, rx, tx;

	pvnet_count_inflight(pn, &rx, &tx);
	for (i = 0; i < pn->max_pairs; i++) {
		pvnet_free_rx_pages(&pn->pair[i]);
		if (i < pn->ndev->real_num_tx_queues)
			netdev_tx_reset_queue(netdev_get_tx_queue(pn->ndev, i));
	}
	if (!pn->held)
		netdev_warn(pn->ndev, "reset not acknowledged: not freeing %u rx buffers and %u tx packets the backend may still use\n",
			    rx, tx);
	pn->held = true;
	if (pn->registered)
		schedule_delayed_work(&pn->held_work, PVNET_HELD_POLL);
}

/* The backend acknowledged a reset: free every buffer, held ones too. */
static void pvnet_release(struct pvnet *pn)
{
	unsigned int rx, tx;

	if (pn->held) {
		pvnet_count_inflight(pn, &rx, &tx);
		netdev_info(pn->ndev, "backend acknowledged the reset: freeing the %u rx buffers and %u tx packets held since\n",
			    rx, tx);
		pn->held = false;
	}
	pvnet_free_buffers(pn);
}

/* Reset the device: free every buffer, or hold them if it did not answer. */
static void pvnet_reset(struct pvnet *pn)
{
	WRITE_ONCE(pn->set_up, false);
	if (pvio_device_teardown(pn->pdev))
		pvnet_hold_buffers(pn);
	else
		pvnet_release(pn);
}

/* Nothing held any more (true), or not yet: the backend has not answered. */
static bool pvnet_held_done(struct pvnet *pn)
{
	if (!pn->held)
		return true;
	if (!pvio_device_reset_acked(pn->pdev))
		return false;
	pvnet_release(pn);
	return true;
}

/* The driver goes away: whatever is still held is never freed. */
static void pvnet_abandon(struct pvnet *pn)
{
	unsigned int rx, tx;

	if (!pn->held)
		return;
	pvnet_count_inflight(pn, &rx, &tx);
	netdev_warn(pn->ndev, "unbound with %u rx buffers and %u tx packets still held: they stay allocated for good\n",
		    rx, tx);
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
	p->rx_skb = NULL;
	p->rx_left = 0;
	ewma_pkt_len_init(&p->rx_avg);
	for (j = 0; j < p->tx_size; j++)
		p->tx_free[j] = p->tx_size - 1 - j;
	p->tx_nfree = p->tx_size;
	p->tx_flags = 0;
	p->tx_done = 0;
	p->tx_stall_mark = U64_MAX;
	return 0;
}

static void pvnet_size_buffers(struct pvnet *pn)
{
	pn->buf_len = PVNET_HDR + pn->ndev->mtu + ETH_HLEN + VLAN_HLEN;
	pn->truesize = SKB_DATA_ALIGN(PVNET_RX_PAD + pn->buf_len) +
		       SKB_DATA_ALIGN(sizeof(struct skb_shared_info));
}

/* What we ask for: large receive only into merged buffers, with rx csum. */
static u64 pvnet_wanted(struct pvnet *pn)
{
	u64 host = pvio_host_features(pn->pdev);

	if (pn->guest_tso && (host & BIT_ULL(PVIO_NET_F_MRG_RXBUF)) &&
	    (host & BIT_ULL(PVIO_NET_F_GUEST_CSUM)))
		return pvnet_features | pvnet_guest_tso;
	return pvnet_features;
}

/*
 * Spread the pairs' interrupts over the online CPUs (CPU k serves pair
 * k mod pairs).  No XPS map: a flow keeps the TX queue its hash picks.
 * With XPS, a receiving socket's ACKs follow whichever CPU sent them, the
 * host's TAP steers the flow's receive traffic after the queue it last
 * heard it on, and the flow then bounces between RX queues, out of order
 * (measured: hundreds of out-of-order and duplicate segments per 10 s).
 */
static void pvnet_set_affinity(struct pvnet *pn)
{
	cpumask_var_t mask;
	unsigned int i, k, cpu;

	if (!zalloc_cpumask_var(&mask, GFP_KERNEL))
		return;
	for (i = 0; i < pn->pairs; i++) {
		struct pvnet_pair *p = &pn->pair[i];

		cpumask_clear(mask);
		k = 0;
		for_each_online_cpu(cpu)
			if (k++ % pn->pairs == i)
				cpumask_set_cpu(cpu, mask);
		if (cpumask_empty(mask))
			continue;
		pvio_queue_set_affinity(p->rxq, mask);
		pvio_queue_set_affinity(p->txq, mask);
	}
	free_cpumask_var(mask);
}

/* Queues, buffers, DRIVER_OK.  The device is reset and has no queues. */
static int pvnet_setup(struct pvnet *pn)
{
	unsigned int i;
	int ret;

	/* After a reset the device needs its features again; probe did it once. */
	if (!(le32_to_cpu(READ_ONCE(pn->pdev->desc->driver_status)) & PVIO_DS_FEATURES_OK)) {
		ret = pvio_negotiate(pn->pdev, pvnet_wanted(pn));
		if (ret)
			return ret;
	}
	pn->mrg = pvio_has_feature(pn->pdev, PVIO_NET_F_MRG_RXBUF);
	pvnet_size_buffers(pn);
	for (i = 0; i < pn->pairs; i++) {
		ret = pvnet_setup_pair(pn, i);
		if (ret)
			goto err;
	}
	ret = pvio_device_ready(pn->pdev, 2 * pn->pairs);
	if (ret)
		goto err;
	pvnet_set_affinity(pn);
	/* napi_alloc_frag() wants BHs off; then nothing may sleep. */
	local_bh_disable();
	for (i = 0; i < pn->pairs; i++)
		pvnet_rx_refill(&pn->pair[i], GFP_ATOMIC);
	local_bh_enable();
	WRITE_ONCE(pn->set_up, true);
	return 0;
err:
	pvnet_reset(pn);
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

/*
 * Stop traffic, reset the device, free every buffer (or hold them).  Under
 * rtnl.  Frozen, the transport resets: nothing to do.
 */
void pvnet_teardown(struct pvnet *pn)
{
	bool running = netif_running(pn->ndev);

	if (!pn->set_up || pn->frozen)
		return;
	if (running) {
		pvnet_tx_off(pn);
		pvnet_napi_all(pn, false);
	}
	pvnet_reset(pn);
}

/*
 * Set up again after a teardown, under rtnl.  Not while frozen (restore()
 * will), nor while buffers are held (held_work will, once the backend has
 * let go): the device then stays down, carrier off, and this returns 0.
 */
int pvnet_rebuild(struct pvnet *pn)
{
	bool running = netif_running(pn->ndev);
	int ret = 0;

	if (pn->frozen || !pvnet_held_done(pn))
		goto out;
	ret = pvnet_setup(pn);
	if (ret)
		goto out;
	if (running) {
		pvnet_napi_all(pn, true);
		pvnet_tx_on(pn, true);
	}
out:
	pvnet_update_link(pn);
	return ret;
}

/* Held buffers: set up again once the backend has served the reset. */
static void pvnet_held_work(struct work_struct *work)
{
	struct pvnet *pn = container_of(to_delayed_work(work), struct pvnet,
					held_work);
	int ret;

	rtnl_lock();
	/* Frozen: restore() takes over; unregistered: going away. */
	if (pn->held && !pn->frozen && pn->registered) {
		if (pvnet_held_done(pn)) {
			ret = pvnet_rebuild(pn);
			if (ret)
				netdev_err(pn->ndev, "cannot set the device up again (%d)\n",
					   ret);
		} else {
			schedule_delayed_work(&pn->held_work, PVNET_HELD_POLL);
		}
	}
	rtnl_unlock();
}

/*
 * The device is broken: reset it and set it up again, as an MTU change
 * would (held buffers and all).  A setup that fails is tried again.
 */
static void pvnet_reset_work(struct work_struct *work)
{
	struct pvnet *pn = container_of(to_delayed_work(work), struct pvnet,
					reset_work);
	int ret;

	rtnl_lock();
	/* Frozen: restore() takes over; held: held_work; unregistered: going away. */
	if (!pn->registered || pn->frozen || pn->held ||
	    (pn->set_up && !pn->pdev->broken))
		goto out;
	WRITE_ONCE(pn->reset_at, jiffies);
	if (pn->set_up)
		netdev_warn(pn->ndev, "device broken: resetting it\n");
	pvnet_teardown(pn);
	ret = pvnet_rebuild(pn);
	if (ret) {
		netdev_err(pn->ndev, "cannot set the device up again (%d): trying again\n", ret);
		pvnet_schedule_reset(pn);
	}
out:
	rtnl_unlock();
}

/* ---- net_device_ops --------------------------------------------------------- */

static int pvnet_open(struct net_device *ndev)
{
	struct pvnet *pn = netdev_priv(ndev);

	/* Held buffers: up without carrier; held_work starts the rest. */
	if (!pn->set_up && !pn->held)
		return -EIO;
	if (pn->set_up) {
		pvnet_napi_all(pn, true);
		pvnet_tx_on(pn, false);
	}
	pvnet_update_link(pn);
	return 0;
}

static int pvnet_stop(struct net_device *ndev)
{
	struct pvnet *pn = netdev_priv(ndev);

	pvnet_tx_off(pn);
	/* Frozen: freeze() turned NAPI off already. */
	if (pn->set_up && !pn->frozen)
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

/* GRO_HW is large receive from the host: renegotiate GUEST_TSO4/6. */
static int pvnet_set_features(struct net_device *ndev, netdev_features_t features)
{
	struct pvnet *pn = netdev_priv(ndev);

	if (!((ndev->features ^ features) & NETIF_F_GRO_HW))
		return 0;
	pvnet_teardown(pn);
	pn->guest_tso = !!(features & NETIF_F_GRO_HW);
	return pvnet_rebuild(pn);
}

static const struct net_device_ops pvnet_netdev_ops = {
	.ndo_open = pvnet_open,
	.ndo_stop = pvnet_stop,
	.ndo_start_xmit = pvnet_xmit,
	.ndo_change_mtu = pvnet_change_mtu,
	.ndo_set_features = pvnet_set_features,
	.ndo_get_stats64 = pvnet_get_stats64,
	.ndo_tx_timeout = pvnet_tx_timeout,
	.ndo_set_mac_address = eth_mac_addr,
	.ndo_validate_addr = eth_validate_addr,
};

/* ---- pvio driver ----------------------------------------------------------- */

/* Still frozen PVNET_FREEZE_CARRIER after freeze(): the link is down. */
static void pvnet_carrier_work(struct work_struct *work)
{
	struct pvnet *pn = container_of(to_delayed_work(work), struct pvnet,
					carrier_work);

	rtnl_lock();
	if (pn->frozen && netif_carrier_ok(pn->ndev)) {
		netif_carrier_off(pn->ndev);
		netdev_info(pn->ndev, "link down: the backend has not taken over after %u ms\n",
			    jiffies_to_msecs(PVNET_FREEZE_CARRIER));
	}
	rtnl_unlock();
}

static void pvnet_config_changed(struct pvio_device *pdev)
{
	struct pvnet *pn = dev_get_drvdata(&pdev->dev);

	if (!pn)
		return;
	/* set_up and held change under rtnl. */
	rtnl_lock();
	pvnet_update_link(pn);
	rtnl_unlock();
	if (pdev->broken)
		pvnet_schedule_reset(pn);
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
	INIT_DELAYED_WORK(&pn->held_work, pvnet_held_work);
	INIT_DELAYED_WORK(&pn->reset_work, pvnet_reset_work);
	INIT_DELAYED_WORK(&pn->carrier_work, pvnet_carrier_work);
	SET_NETDEV_DEV(ndev, &pdev->dev);
	for (i = 0; i < maxq; i++) {
		u64_stats_init(&pn->pair[i].rx_stats.syncp);
		u64_stats_init(&pn->pair[i].tx_stats.syncp);
		netif_napi_add(ndev, &pn->pair[i].napi, pvnet_poll);
	}

	pn->guest_tso = true;
	ret = pvio_negotiate(pdev, pvnet_wanted(pn));
	if (ret)
		goto err_free;
	ret = pvio_config_read(pdev, &c, sizeof(c));
	if (ret < 0)
		goto err_free;
	ret = 0;
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
	ndev->watchdog_timeo = 5 * HZ;
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
	/* Large receive (GUEST_TSO4/6): ethtool -K rx-gro-hw off renegotiates. */
	if (pdev->features & pvnet_guest_tso)
		ndev->hw_features |= NETIF_F_GRO_HW;
	ndev->features = ndev->hw_features | NETIF_F_HIGHDMA;
	ndev->vlan_features = ndev->features;
	/* Room for the header in front of every packet: no skb_cow_head() copy. */
	ndev->needed_headroom = PVNET_HDR;
	netif_set_real_num_tx_queues(ndev, pn->pairs);
	netif_set_real_num_rx_queues(ndev, pn->pairs);

	ret = pvnet_setup(pn);
	if (ret)
		goto err_free;
	dev_set_drvdata(&pdev->dev, pn);
	netif_carrier_off(ndev);
	pn->registered = true;
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
	rtnl_lock();
	pn->registered = false;
	rtnl_unlock();
	cancel_delayed_work_sync(&pn->held_work);
	pvnet_reset(pn);
	cancel_delayed_work_sync(&pn->reset_work);
err_free:
	pvnet_abandon(pn);
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

	rtnl_lock();
	pn->registered = false;
	rtnl_unlock();
	cancel_delayed_work_sync(&pn->held_work);
	cancel_delayed_work_sync(&pn->carrier_work);
	unregister_netdev(pn->ndev);	/* closes it: NAPI off, tx stopped */
	dev_set_drvdata(&pdev->dev, NULL);
	/* Reset before freeing: the host then touches no buffer of ours. */
	pvnet_reset(pn);
	/* Nothing schedules it any more: no NAPI, no xmit, no interrupt. */
	cancel_delayed_work_sync(&pn->reset_work);
	pvnet_abandon(pn);
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
	/*
	 * No xmit running, before the transport resets, and none again:
	 * NAPI, still running, must not wake a queue.
	 */
	pvnet_tx_off(pn);
	netif_device_detach(pn->ndev);
	if (netif_running(pn->ndev) && pn->set_up)
		pvnet_napi_all(pn, false);
	pn->frozen = true;
	/*
	 * The carrier stays on, as virtio_net's does across a freeze: what
	 * the stack sends meanwhile waits in the qdisc (the queues are
	 * stopped, the device detached) instead of being dropped, and a
	 * takeover after a migration or an upgrade loses no frame.  A freeze
	 * that lasts drops it after all (pvnet_carrier_work()).
	 */
	mod_delayed_work(system_wq, &pn->carrier_work, PVNET_FREEZE_CARRIER);
	rtnl_unlock();
}

static int pvnet_restore(struct pvio_device *pdev)
{
	struct pvnet *pn = dev_get_drvdata(&pdev->dev);
	int ret;

	rtnl_lock();
	/*
	 * The backend acknowledged a reset made after freeze(): it holds no
	 * buffer of ours, held ones included.  Free them all, set up again.
	 */
	pn->frozen = false;
	WRITE_ONCE(pn->set_up, false);
	pvnet_release(pn);
	ret = pvnet_rebuild(pn);
	netif_device_attach(pn->ndev);
	/* attach woke the queues; without a setup they stay stopped. */
	if (!pn->set_up)
		pvnet_tx_off(pn);
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
