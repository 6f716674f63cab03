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
 * disabled).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/average.h>
#include <linux/dma-mapping.h>
#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/if_vlan.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
#include <linux/sizes.h>
#include <linux/skbuff.h>
#include <linux/u64_stats_sync.h>
#include <linux/virtio_net.h>
#include "pvio.h"
#include "pvio/net.h"

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
/*
 * MRG_RXBUF buffer sizes: a full-size Ethernet frame .. 16 KiB, two to a
 * 32 KiB page (one page when an allocation falls back to order 0).
 */
#define PVNET_MRG_MIN		ALIGN(PVNET_HDR + ETH_HLEN + VLAN_HLEN + ETH_DATA_LEN, \
				      L1_CACHE_BYTES)
#define PVNET_MRG_MAX		SZ_16K
/* MRG_RXBUF: bytes of a packet copied into its skb (all of a small one). */
#define PVNET_COPY_LEN		128
/* pvnet_pair.tx_flags: a TX interrupt NAPI has not answered yet. */
#define PVNET_TX_IRQ		0
/*
 * MRG_RXBUF: pages the buffers are cut from, and how many used-up ones are
 * kept for reuse: 8 MiB per queue at most, enough to cover a full TCP
 * receive window (fewer kept let most come back still in use: measured,
 * 64 pages saved nothing, 128 half of the zeroing, 256 all of it).
 */
#define PVNET_FRAG_ORDER	get_order(32768)
#define PVNET_RECYCLE		256
#define PVNET_RX_MAX		(PVNET_HDR + PVIO_NET_MAX_FRAME)
/* How often held buffers look for the backend's late reset echo. */
#define PVNET_HELD_POLL		(HZ / 2)
/* A broken device is reset at most this often. */
#define PVNET_RESET_GAP		HZ

static const u64 pvnet_features =
	BIT_ULL(PVIO_NET_F_CSUM) | BIT_ULL(PVIO_NET_F_GUEST_CSUM) |
	BIT_ULL(PVIO_NET_F_MTU) | BIT_ULL(PVIO_NET_F_MAC) |
	BIT_ULL(PVIO_NET_F_HOST_TSO4) | BIT_ULL(PVIO_NET_F_HOST_TSO6) |
	BIT_ULL(PVIO_NET_F_MRG_RXBUF) |
	BIT_ULL(PVIO_NET_F_MQ) | BIT_ULL(PVIO_NET_F_STATUS);
/* Large receive: only into merged buffers, and only with rx csum offload. */
static const u64 pvnet_guest_tso =
	BIT_ULL(PVIO_NET_F_GUEST_TSO4) | BIT_ULL(PVIO_NET_F_GUEST_TSO6);

/* Average rx packet length, for the size of MRG_RXBUF buffers. */
DECLARE_EWMA(pkt_len, 0, 64)

struct pvnet_stats {
	struct u64_stats_sync syncp;
	u64_stats_t packets;
	u64_stats_t bytes;
	u64_stats_t errors;
	u64_stats_t kicks;
	u64_stats_t multibuf;	/* rx: packets over more than one buffer */
};

struct pvnet_rxbuf {
	void *buf;		/* page fragment, truesize bytes */
	dma_addr_t dma;		/* of buf (+ PVNET_RX_PAD without MRG), len bytes */
	u32 len;
	u32 truesize;
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
	/* MRG_RXBUF */
	struct page_frag rx_frag;	/* buffers are cut from it */
	struct page *rx_pages[PVNET_RECYCLE];	/* used up, our reference kept */
	unsigned int rx_page_next;	/* oldest of them, checked next */
	struct ewma_pkt_len rx_avg;
	struct sk_buff *rx_skb;		/* packet being put together */
	struct sk_buff *rx_tail;	/* rx_skb or the frag_list skb filling */
	struct pvio_net_hdr rx_hdr;	/* its header, copied */
	unsigned int rx_left;		/* its buffers still to come, 0: none */
	u32 rx_len;			/* its bytes so far, header included */
	/* tx */
	struct pvio_queue *txq;
	struct pvnet_txbuf *txbufs;	/* by id */
	u16 *tx_free;			/* stack of free ids, under the tx lock */
	unsigned int tx_nfree;
	unsigned int tx_size;
	unsigned long tx_flags;		/* PVNET_TX_IRQ */
	/* Under the tx lock: packets reaped, and that count at the last tx timeout. */
	u64 tx_done;
	u64 tx_stall_mark;
	struct pvnet_stats tx_stats;
};

struct pvnet {
	struct net_device *ndev;
	struct pvio_device *pdev;
	unsigned int max_pairs;
	unsigned int pairs;		/* active */
	unsigned int buf_len;		/* header + largest frame */
	unsigned int truesize;		/* of one rx fragment */
	bool mrg;			/* MRG_RXBUF negotiated */
	bool guest_tso;			/* ask for GUEST_TSO4/6 (NETIF_F_GRO_HW) */
	/* These four under rtnl (set_up read by xmit too). */
	bool set_up;			/* queues and buffers exist */
	/*
	 * A reset the backend has not acknowledged: the buffers it was handed
	 * stay in the pairs' arrays, and nothing is set up, until it does.
	 */
	bool held;
	bool frozen;			/* between freeze() and restore() */
	bool registered;		/* the netdev exists: held_work may run */
	struct delayed_work held_work;	/* waits for the late echo */
	struct delayed_work reset_work;	/* resets a broken device */
	unsigned long reset_at;		/* jiffies of the last one */
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

/*
 * The device is broken (a completion or index refused here, or the
 * backend says so): reset it from process context, not more than once per
 * PVNET_RESET_GAP.  Any context.
 */
static void pvnet_schedule_reset(struct pvnet *pn)
{
	unsigned long next = READ_ONCE(pn->reset_at) + PVNET_RESET_GAP;

	schedule_delayed_work(&pn->reset_work,
			      time_before(jiffies, next) ? next - jiffies : 0);
}

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

/* ---- rx ------------------------------------------------------------------- */

/*
 * Size of the next MRG_RXBUF buffer: the average packet, header included,
 * within a full-size Ethernet frame and one page.
 */
static unsigned int pvnet_mrg_len(struct pvnet_pair *p)
{
	unsigned long avg = ewma_pkt_len_read(&p->rx_avg), n;

	if (avg <= PVNET_MRG_MIN)
		return PVNET_MRG_MIN;
	/*
	 * Larger: the fewest buffers of at most PVNET_MRG_MAX, evenly cut,
	 * so that the last buffer of an average packet is not nearly empty
	 * (a 64 KiB GSO frame in five 13 KiB buffers, not four full and a
	 * fifth with 14 bytes): truesize stays close to the data.
	 */
	n = DIV_ROUND_UP(avg, PVNET_MRG_MAX);
	return ALIGN(DIV_ROUND_UP(avg, n), L1_CACHE_BYTES);
}

/*
 * A page with room for a MRG_RXBUF buffer of @len bytes (a fresh one may
 * be an order-0 page with less: the caller cuts the buffer to fit).  The
 * used-up one joins the reuse ring in place of the oldest there, which
 * becomes the new page if the stack has let go of all of it (our reference
 * is the only one left).  Only NAPI (or setup with NAPI off) gets here.
 */
static bool pvnet_mrg_refill(struct pvnet_pair *p, unsigned int len, gfp_t gfp)
{
	struct page_frag *f = &p->rx_frag;
	struct page *old = p->rx_pages[p->rx_page_next], *page = NULL;

	if (f->page && f->offset + len <= f->size)
		return true;
	if (old && page_ref_count(old) == 1 && !page_is_pfmemalloc(old)) {
		page = old;
	} else {
		page = alloc_pages(gfp | __GFP_COMP | __GFP_NOWARN | __GFP_NORETRY,
				   PVNET_FRAG_ORDER);
		if (!page)
			page = alloc_page(gfp | __GFP_NOWARN);
		if (!page)
			return false;
		if (old)
			put_page(old);
	}
	p->rx_pages[p->rx_page_next] = f->page;
	p->rx_page_next = (p->rx_page_next + 1) % PVNET_RECYCLE;
	f->page = page;
	f->offset = 0;
	f->size = page_size(page);
	return true;
}

/*
 * A fragment for one MRG_RXBUF buffer of *@len bytes, right after the
 * previous one.  A tail of the page too short for another buffer is added
 * to this one (*@len grows), so the next buffer starts a page.
 */
static void *pvnet_mrg_alloc(struct pvnet_pair *p, unsigned int *len, gfp_t gfp)
{
	struct page_frag *f = &p->rx_frag;
	unsigned int hole;
	void *buf;

	if (!pvnet_mrg_refill(p, *len, gfp))
		return NULL;
	/* Never more than the page: refill may fall back to order 0. */
	*len = min(*len, f->size - f->offset);
	buf = page_address(f->page) + f->offset;
	get_page(f->page);
	f->offset += *len;
	hole = f->size - f->offset;
	if (hole < *len) {
		*len += hole;
		f->offset += hole;
	}
	return buf;
}

static int pvnet_rx_post_one(struct pvnet_pair *p, gfp_t gfp)
{
	struct pvnet *pn = p->pn;
	struct device *dma = pvio_dma_dev(pn->pdev);
	unsigned int len = pn->buf_len, truesize = pn->truesize, pad = 0;
	struct pvnet_rxbuf *rb;
	struct pvio_desc d;
	void *buf;
	u16 id;
	int ret;

	if (!p->rx_nfree)
		return -ENOSPC;
	if (pn->mrg) {
		/* Bare data: the skb is built around a copy of the head. */
		len = pvnet_mrg_len(p);
		buf = pvnet_mrg_alloc(p, &len, gfp);
		truesize = len;
	} else {
		/* build_skb() wants headroom and the shared info around it. */
		pad = PVNET_RX_PAD;
		buf = napi_alloc_frag(truesize);
	}
	if (!buf)
		return -ENOMEM;
	id = p->rx_free[p->rx_nfree - 1];
	rb = &p->rxbufs[id];
	rb->dma = dma_map_single(dma, buf + pad, len, DMA_FROM_DEVICE);
	if (dma_mapping_error(dma, rb->dma)) {
		skb_free_frag(buf);
		return -ENOMEM;
	}
	d.addr = cpu_to_le64(rb->dma);
	d.len = cpu_to_le32(len);
	d.id = cpu_to_le16(id);
	d.flags = cpu_to_le16(PVIO_DESC_F_WRITE);
	ret = pvio_queue_submit(p->rxq, &d, 1);
	if (ret) {
		dma_unmap_single(dma, rb->dma, len, DMA_FROM_DEVICE);
		skb_free_frag(buf);
		return ret;
	}
	rb->buf = buf;
	rb->len = len;
	rb->truesize = truesize;
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

/*
 * Take back the buffer of completion @c: NULL (device failed) when the id
 * is not an outstanding buffer, or when @c says the backend wrote more
 * than the buffer holds: that buffer then stays the backend's until a
 * reset says otherwise.  The buffer's id is free again.
 */
static struct pvnet_rxbuf *pvnet_rx_take(struct pvnet_pair *p,
					 const struct pvio_cpl *c)
{
	u16 id = le16_to_cpu(c->id);
	struct pvnet_rxbuf *rb;

	if (id >= p->rx_size || !p->rxbufs[id].buf) {
		pvio_device_failed(p->pn->pdev, "rx completion for a buffer not posted");
		return NULL;
	}
	rb = &p->rxbufs[id];
	if (le32_to_cpu(c->len) > rb->len) {
		pvio_device_failed(p->pn->pdev, "rx completion length outside its buffer");
		return NULL;
	}
	p->rx_free[p->rx_nfree++] = id;
	dma_unmap_single(pvio_dma_dev(p->pn->pdev), rb->dma, rb->len,
			 DMA_FROM_DEVICE);
	return rb;
}

/* Apply the header and hand a complete packet to the stack. */
static void pvnet_rx_deliver(struct pvnet_pair *p, struct sk_buff *skb,
			     const struct pvio_net_hdr *hdr)
{
	struct net_device *ndev = p->pn->ndev;

	if (virtio_net_hdr_to_skb(skb, (const struct virtio_net_hdr *)hdr, true)) {
		net_warn_ratelimited("%s: bad rx header (flags %#x gso %#x)\n",
				     ndev->name, hdr->flags, hdr->gso_type);
		pvnet_stat_inc(&p->rx_stats, &p->rx_stats.errors);
		dev_kfree_skb_any(skb);
		return;
	}
	if ((hdr->flags & PVIO_NET_HDR_F_DATA_VALID) &&
	    (ndev->features & NETIF_F_RXCSUM))
		skb->ip_summed = CHECKSUM_UNNECESSARY;
	skb->protocol = eth_type_trans(skb, ndev);
	skb_record_rx_queue(skb, p->index);
	pvnet_stat_add(&p->rx_stats, 1, skb->len);
	napi_gro_receive(&p->napi, skb);
}

/* The first (or only) buffer of a packet as an skb, header pulled off. */
static struct sk_buff *pvnet_rx_build(struct pvnet_pair *p, void *buf,
				      unsigned int truesize, u32 len)
{
	struct sk_buff *skb = build_skb(buf, truesize);

	if (unlikely(!skb)) {
		pvnet_stat_inc(&p->rx_stats, &p->rx_stats.errors);
		skb_free_frag(buf);
		return NULL;
	}
	skb_reserve(skb, PVNET_RX_PAD + PVNET_HDR);
	skb_put(skb, len - PVNET_HDR);
	return skb;
}

/* Without MRG_RXBUF: one completion, one packet.  Returns 1 or -EPROTO. */
static int pvnet_rx_one(struct pvnet_pair *p, const struct pvio_cpl *c)
{
	struct pvnet_rxbuf *rb = pvnet_rx_take(p, c);
	u32 len = le32_to_cpu(c->len);
	struct pvio_net_hdr hdr;
	struct sk_buff *skb;
	void *buf;

	if (!rb)
		return -EPROTO;
	buf = rb->buf;
	rb->buf = NULL;
	if (le32_to_cpu(c->status) || len < PVNET_HDR + ETH_HLEN) {
		/* An error, or too short for a frame: drop, count. */
		pvnet_stat_inc(&p->rx_stats, &p->rx_stats.errors);
		skb_free_frag(buf);
		return 1;
	}
	memcpy(&hdr, buf + PVNET_RX_PAD, PVNET_HDR);
	skb = pvnet_rx_build(p, buf, rb->truesize, len);
	if (skb)
		pvnet_rx_deliver(p, skb, &hdr);
	return 1;
}

/* Forget the packet being put together (its buffers are ours again). */
static void pvnet_rx_mrg_reset(struct pvnet_pair *p)
{
	if (p->rx_skb)
		dev_kfree_skb_any(p->rx_skb);
	p->rx_skb = NULL;
	p->rx_left = 0;
}

/* A host that breaks the MRG_RXBUF rules: stop, never guess. */
static int pvnet_rx_mrg_fail(struct pvnet_pair *p, void *buf, const char *why)
{
	skb_free_frag(buf);
	pvnet_rx_mrg_reset(p);
	pvio_device_failed(p->pn->pdev, why);
	return -EPROTO;
}

/*
 * Attach @len bytes at @data, in a buffer of @truesize, to the packet being
 * put together; the frag takes over the buffer's page reference.
 */
static int pvnet_rx_mrg_frag(struct pvnet_pair *p, void *data, u32 len,
			     unsigned int truesize)
{
	struct sk_buff *head = p->rx_skb, *tail = p->rx_tail;
	struct page *page = virt_to_head_page(data);
	unsigned int off = data - page_address(page);
	int nr = skb_shinfo(tail)->nr_frags;
	bool coalesce = skb_can_coalesce(tail, nr, page, off);

	if (!coalesce && nr == MAX_SKB_FRAGS) {
		/* Full: the rest goes into skbs on head's frag_list. */
		struct sk_buff *nskb = alloc_skb(0, GFP_ATOMIC);

		if (unlikely(!nskb))
			return -ENOMEM;
		if (tail == head)
			skb_shinfo(head)->frag_list = nskb;
		else
			tail->next = nskb;
		p->rx_tail = nskb;
		tail = nskb;
		head->truesize += nskb->truesize;
		nr = 0;
	}
	if (tail != head) {
		head->data_len += len;
		head->len += len;
		head->truesize += truesize;
	}
	if (coalesce) {
		/* Right after the last frag: grow it, keep one reference. */
		put_page(page);
		skb_coalesce_rx_frag(tail, nr - 1, len, truesize);
	} else {
		skb_add_rx_frag(tail, nr, page, off, len, truesize);
	}
	return 0;
}

/*
 * The first buffer of a MRG_RXBUF packet (@len bytes, header included) as
 * an skb: its head copied, the rest of the buffer a page frag.  NULL (the
 * buffer freed, the drop counted) without memory.
 */
static struct sk_buff *pvnet_rx_mrg_head(struct pvnet_pair *p, void *buf,
					 unsigned int truesize, u32 len)
{
	u32 dlen = len - PVNET_HDR, copy;
	struct sk_buff *skb;

	skb = napi_alloc_skb(&p->napi, PVNET_COPY_LEN);
	if (unlikely(!skb)) {
		pvnet_stat_inc(&p->rx_stats, &p->rx_stats.errors);
		skb_free_frag(buf);
		return NULL;
	}
	copy = min_t(u32, dlen, skb_tailroom(skb));
	skb_put_data(skb, buf + PVNET_HDR, copy);
	if (copy == dlen) {
		skb_free_frag(buf);
		return skb;
	}
	p->rx_skb = skb;
	p->rx_tail = skb;
	pvnet_rx_mrg_frag(p, buf + PVNET_HDR + copy, dlen - copy, truesize);
	return skb;
}

/*
 * With MRG_RXBUF: one completion of a packet spanning num_buffers
 * consecutive completions; a packet may be cut across NAPI polls.
 * Returns 1 when a packet was finished (delivered or dropped), 0 when more
 * of its buffers are to come, -EPROTO when the device failed.
 */
static int pvnet_rx_mrg(struct pvnet_pair *p, const struct pvio_cpl *c)
{
	unsigned int outstanding = p->rx_size - p->rx_nfree;
	struct pvnet_rxbuf *rb = pvnet_rx_take(p, c);
	u32 len = le32_to_cpu(c->len);
	unsigned int nb, truesize;
	void *buf;

	if (!rb) {
		pvnet_rx_mrg_reset(p);
		return -EPROTO;
	}
	buf = rb->buf;
	rb->buf = NULL;
	truesize = rb->truesize;
	if (!p->rx_left) {
		if (le32_to_cpu(c->status)) {
			/* A chain the host refused (we never post bad ones). */
			pvnet_stat_inc(&p->rx_stats, &p->rx_stats.errors);
			skb_free_frag(buf);
			return 1;
		}
		if (len < PVNET_HDR + ETH_HLEN)
			return pvnet_rx_mrg_fail(p, buf, "rx completion length outside its buffer");
		/* The header once into private memory; nb checked there. */
		memcpy(&p->rx_hdr, buf, PVNET_HDR);
		nb = le16_to_cpu(p->rx_hdr.num_buffers);
		if (nb < 1 || nb > outstanding)
			return pvnet_rx_mrg_fail(p, buf, "rx num_buffers impossible");
		p->rx_left = nb;
		p->rx_len = len;
		p->rx_skb = pvnet_rx_mrg_head(p, buf, truesize, len);
		p->rx_tail = p->rx_skb;
		if (nb > 1)
			pvnet_stat_inc(&p->rx_stats, &p->rx_stats.multibuf);
	} else {
		if (le32_to_cpu(c->status) || !len || p->rx_len + len > PVNET_RX_MAX)
			return pvnet_rx_mrg_fail(p, buf, "rx merged buffer out of bounds");
		p->rx_len += len;
		if (!p->rx_skb || pvnet_rx_mrg_frag(p, buf, len, truesize)) {
			/* No memory: drop the packet, skip its other buffers. */
			skb_free_frag(buf);
			if (p->rx_skb) {
				pvnet_stat_inc(&p->rx_stats, &p->rx_stats.errors);
				dev_kfree_skb_any(p->rx_skb);
				p->rx_skb = NULL;
			}
		}
	}
	if (--p->rx_left)
		return 0;
	if (p->rx_skb) {
		ewma_pkt_len_add(&p->rx_avg, p->rx_len);
		pvnet_rx_deliver(p, p->rx_skb, &p->rx_hdr);
		p->rx_skb = NULL;
	}
	return 1;
}

static int pvnet_rx_poll(struct pvnet_pair *p, int budget)
{
	struct pvio_cpl c[16];
	int done = 0, n, i, r;

	while (done < budget) {
		n = pvio_queue_reap(p->rxq, c, min(16, budget - done));
		if (n <= 0)
			break;
		for (i = 0; i < n; i++) {
			r = p->pn->mrg ? pvnet_rx_mrg(p, &c[i]) : pvnet_rx_one(p, &c[i]);
			if (r < 0) {
				pvnet_schedule_reset(p->pn);
				return done;
			}
			done += r;
		}
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
	if (netif_tx_queue_stopped(txq) && !pn->pdev->broken &&
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

/* Have NAPI reap and re-arm TX under the TX lock, as after an interrupt. */
static void pvnet_tx_napi(struct pvnet_pair *p)
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
	pvnet_stat_add(&p->tx_stats, 1, skb->len);
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

static void pvnet_irq(struct pvio_queue *q)
{
	struct pvnet_pair *p = pvio_queue_priv(q);

	/* Event indices make the interrupt one-shot until NAPI re-arms. */
	if (q == p->txq)
		pvnet_tx_napi(p);
	else
		napi_schedule(&p->napi);
}

static int pvnet_poll(struct napi_struct *napi, int budget)
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
static void pvnet_teardown(struct pvnet *pn)
{
	bool running = netif_running(pn->ndev);

	if (!pn->set_up || pn->frozen)
		return;
	if (running) {
		netif_tx_disable(pn->ndev);
		pvnet_napi_all(pn, false);
	}
	pvnet_reset(pn);
}

/*
 * Set up again after a teardown, under rtnl.  Not while frozen (restore()
 * will), nor while buffers are held (held_work will, once the backend has
 * let go): the device then stays down, carrier off, and this returns 0.
 */
static int pvnet_rebuild(struct pvnet *pn)
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
		netif_tx_start_all_queues(pn->ndev);
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
		netif_tx_start_all_queues(ndev);
	}
	pvnet_update_link(pn);
	return 0;
}

static int pvnet_stop(struct net_device *ndev)
{
	struct pvnet *pn = netdev_priv(ndev);

	netif_tx_disable(ndev);
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

/*
 * A TX queue stopped for a watchdog period.  Every path that stops one
 * arms a notification, so this should not happen; if a notification got
 * lost anyway, ring the host and reap from NAPI as after an interrupt.
 * A queue that is still stuck, with nothing completed, one watchdog
 * period after that kick has completions the host lost or never sends
 * (and a BQL limit they keep closed): give up on the device, which
 * reset_work resets; the reset frees those packets or holds them.
 */
static void pvnet_tx_timeout(struct net_device *ndev, unsigned int txqueue)
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

/* ---- ethtool ------------------------------------------------------------------ */

/* Per queue pair: rx counters, then tx counters (the first four of these). */
static const char pvnet_stat_names[][ETH_GSTRING_LEN] = {
	"packets", "bytes", "errors", "kicks", "multibuf",
};

#define PVNET_RX_NSTATS		ARRAY_SIZE(pvnet_stat_names)
#define PVNET_TX_NSTATS		4

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
	return pn->max_pairs * (PVNET_RX_NSTATS + PVNET_TX_NSTATS);
}

static void pvnet_get_strings(struct net_device *ndev, u32 sset, u8 *data)
{
	struct pvnet *pn = netdev_priv(ndev);
	unsigned int i, j;

	if (sset != ETH_SS_STATS)
		return;
	for (i = 0; i < pn->max_pairs; i++) {
		for (j = 0; j < PVNET_RX_NSTATS; j++)
			ethtool_sprintf(&data, "rx%u_%s", i, pvnet_stat_names[j]);
		for (j = 0; j < PVNET_TX_NSTATS; j++)
			ethtool_sprintf(&data, "tx%u_%s", i, pvnet_stat_names[j]);
	}
}

/* The first @n counters of @s, in pvnet_stat_names order. */
static void pvnet_read_stats(struct pvnet_stats *s, u64 *out, unsigned int n)
{
	unsigned int start;
	u64 v[PVNET_RX_NSTATS];

	do {
		start = u64_stats_fetch_begin(&s->syncp);
		v[0] = u64_stats_read(&s->packets);
		v[1] = u64_stats_read(&s->bytes);
		v[2] = u64_stats_read(&s->errors);
		v[3] = u64_stats_read(&s->kicks);
		v[4] = u64_stats_read(&s->multibuf);
	} while (u64_stats_fetch_retry(&s->syncp, start));
	memcpy(out, v, n * sizeof(*out));
}

static void pvnet_get_ethtool_stats(struct net_device *ndev,
				    struct ethtool_stats *stats, u64 *data)
{
	struct pvnet *pn = netdev_priv(ndev);
	unsigned int i;

	for (i = 0; i < pn->max_pairs; i++) {
		pvnet_read_stats(&pn->pair[i].rx_stats, data, PVNET_RX_NSTATS);
		data += PVNET_RX_NSTATS;
		pvnet_read_stats(&pn->pair[i].tx_stats, data, PVNET_TX_NSTATS);
		data += PVNET_TX_NSTATS;
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
	netif_device_detach(pn->ndev);
	/* No xmit running either, before the transport resets. */
	netif_tx_disable(pn->ndev);
	if (netif_running(pn->ndev) && pn->set_up)
		pvnet_napi_all(pn, false);
	pn->frozen = true;
	netif_carrier_off(pn->ndev);
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
		netif_tx_disable(pn->ndev);
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
