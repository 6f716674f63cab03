/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pvio_net.h - what the parts of pvio_net share: the driver's state, its
 * constants and the functions one part calls in another.
 *
 *   pvio_net_main.c     probe and remove, queue set-up and teardown,
 *                       resets, net_device_ops (the overview is there)
 *   pvio_net_rx.c       receive: buffers posted, completions into skbs
 *   pvio_net_tx.c       transmit, its watchdog, and the NAPI poll that
 *                       reaps both
 *   pvio_net_ethtool.c  counters: ndo_get_stats64 and ethtool
 */
#ifndef PVIO_NET_H
#define PVIO_NET_H

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
/* A freeze (backend restart, takeover) keeps the carrier this long. */
#define PVNET_FREEZE_CARRIER	(2 * HZ)
/* A broken device is reset at most this often. */
#define PVNET_RESET_GAP		HZ

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
	/*
	 * NAPI may wake a TX queue it finds stopped (ring room back).  Not
	 * once pvnet_tx_off() has stopped them for a teardown, a freeze or
	 * close: written before netif_tx_disable() takes each TX lock, read
	 * under that lock.
	 */
	bool tx_on;
	bool registered;		/* the netdev exists: held_work may run */
	struct delayed_work held_work;	/* waits for the late echo */
	struct delayed_work reset_work;	/* resets a broken device */
	struct delayed_work carrier_work; /* drops the carrier of a long freeze */
	unsigned long reset_at;		/* jiffies of the last one */
	struct pvnet_pair pair[PVNET_MAX_PAIRS];
};

static inline void pvnet_stat_add(struct pvnet_stats *s, unsigned int pkts,
				  unsigned int bytes)
{
	u64_stats_update_begin(&s->syncp);
	u64_stats_add(&s->packets, pkts);
	u64_stats_add(&s->bytes, bytes);
	u64_stats_update_end(&s->syncp);
}

static inline void pvnet_stat_inc(struct pvnet_stats *s, u64_stats_t *field)
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
static inline void pvnet_schedule_reset(struct pvnet *pn)
{
	unsigned long next = READ_ONCE(pn->reset_at) + PVNET_RESET_GAP;

	schedule_delayed_work(&pn->reset_work,
			      time_before(jiffies, next) ? next - jiffies : 0);
}

/* pvio_net_main.c */
int pvnet_rebuild(struct pvnet *pn);
void pvnet_tx_off(struct pvnet *pn);
void pvnet_tx_on(struct pvnet *pn, bool wake);
void pvnet_teardown(struct pvnet *pn);
/* pvio_net_rx.c */
int pvnet_rx_poll(struct pvnet_pair *p, int budget);
void pvnet_rx_refill(struct pvnet_pair *p, gfp_t gfp);
/* pvio_net_tx.c */
void pvnet_irq(struct pvio_queue *q);
int pvnet_poll(struct napi_struct *napi, int budget);
void pvnet_tx_napi(struct pvnet_pair *p);
void pvnet_tx_unmap(struct pvnet *pn, struct pvnet_txbuf *tb);
netdev_tx_t pvnet_xmit(struct sk_buff *skb, struct net_device *ndev);
void pvnet_tx_timeout(struct net_device *ndev, unsigned int txqueue);
/* pvio_net_ethtool.c */
extern const struct ethtool_ops pvnet_ethtool_ops;
void pvnet_get_stats64(struct net_device *ndev, struct rtnl_link_stats64 *st);

#endif /* PVIO_NET_H */
