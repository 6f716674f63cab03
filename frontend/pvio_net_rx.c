// SPDX-License-Identifier: GPL-2.0
/*
 * pvio_net_rx.c - pvio_net's receive side: rx buffers (whole frames, or merged page
 * fragments sized by an average) posted and reposted, completions checked
 * and turned into skbs.  The overview is in pvio_net_main.c.
 */
#include "pvio_net.h"

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

/*
 * Post buffers until the ring is full; kick once, if the host asked.
 * Called from NAPI, or at set-up before NAPI runs: the rx counters have
 * one writer at a time.
 */
void pvnet_rx_refill(struct pvnet_pair *p, gfp_t gfp)
{
	int n = 0;

	while (pvnet_rx_post_one(p, gfp) == 0)
		n++;
	if (n && pvio_queue_kick_prepare(p->rxq)) {
		pvio_queue_notify(p->rxq);
		pvnet_stat_inc(&p->rx_stats, &p->rx_stats.kicks);
	}
}

/*
 * Take back the buffer of completion @c: NULL (device failed) when the id
 * is not an outstanding buffer, or when @c says the backend wrote more
 * than the buffer holds: that buffer then stays the backend's until a
 * reset says otherwise.  The buffer's id is free again.  *@moved: the
 * guest moved to another host while it took the buffer (protocol 6.4):
 * what the buffer holds may be older than @c says, drop it.
 */
static struct pvnet_rxbuf *pvnet_rx_take(struct pvnet_pair *p,
					 const struct pvio_cpl *c, bool *moved)
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
	/* A live migration logs what the backend wrote (protocol 6.4). */
	*moved = false;
	if (unlikely(pvio_log_dirty(p->pn->pdev))) {
		pvio_touch(rb->buf + (p->pn->mrg ? 0 : PVNET_RX_PAD), le32_to_cpu(c->len));
		*moved = pvio_backend_moved(p->pn->pdev);
	}
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
	u32 len = le32_to_cpu(c->len);
	struct pvnet_rxbuf *rb;
	struct pvio_net_hdr hdr;
	struct sk_buff *skb;
	bool moved;
	void *buf;

	rb = pvnet_rx_take(p, c, &moved);
	if (!rb)
		return -EPROTO;
	buf = rb->buf;
	rb->buf = NULL;
	if (moved || le32_to_cpu(c->status) || len < PVNET_HDR + ETH_HLEN) {
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
	u32 len = le32_to_cpu(c->len);
	unsigned int nb, truesize;
	struct pvnet_rxbuf *rb;
	bool moved;
	void *buf;

	rb = pvnet_rx_take(p, c, &moved);
	if (!rb) {
		pvnet_rx_mrg_reset(p);
		return -EPROTO;
	}
	buf = rb->buf;
	rb->buf = NULL;
	truesize = rb->truesize;
	if (unlikely(moved)) {
		/* Neither it nor its header can be trusted: drop what is under way. */
		pvnet_stat_inc(&p->rx_stats, &p->rx_stats.errors);
		skb_free_frag(buf);
		pvnet_rx_mrg_reset(p);
		return 1;
	}
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

int pvnet_rx_poll(struct pvnet_pair *p, int budget)
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
