// SPDX-License-Identifier: GPL-2.0
/*
 * dev_net.c - the net device class: the configuration keys, the config
 * area, the link state, and the data path between a guest's queue pairs
 * and the TAP queues (net_tap.c).
 *
 * Data path, no bounce buffers: a tx chain goes to the TAP with one
 * writev() straight from guest RAM, an rx chain is filled with one readv()
 * straight into guest RAM.  Only the 12-byte header passes through private
 * memory, in both directions: it is what we validate (tx) or fix up (rx).
 *
 *   tx queue 2n+1:  pop chain -> check -> writev(TAP queue n) -> complete
 *   rx queue 2n:    pop chains into a private FIFO while each is sure of a
 *                   completion slot; readv(TAP queue n) into the oldest;
 *                   complete it.  The TAP fd is in the worker's epoll set
 *                   only while the FIFO holds chains and the TAP is empty.
 *
 * Every queue runs under a budget and yields (pvbe_queue_yield) so one busy
 * guest does not starve the others.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "net.h"

#define PVNET_BUDGET		256	/* packets per queue per turn */
#define PVNET_VLAN_ETH_HLEN	18

extern const struct pvbe_dev_ops pvbe_net_ops;

static bool has(const struct pvnet_dev *nd, int bit)
{
	return nd->features & (1ull << bit);
}

/* At most 5 data-path warnings per 5 s per device; then a count. */
bool pvnet_ratelimit(struct pvnet_dev *nd)
{
	uint64_t now = pvbe_now_ms();

	if (now - nd->log_window >= 5000) {
		if (nd->log_count > 5)
			pvbe_warn(nd->dev->tag, "%u more data-path warnings suppressed",
				  nd->log_count - 5);
		nd->log_window = now;
		nd->log_count = 0;
	}
	return nd->log_count++ < 5;
}

/* ---- configuration (supervisor) ----------------------------------------- */

/* A class key: the last one given wins; all of them count as used. */
static const struct pvbe_param *param(struct pvbe_dev_cfg *c, const char *key)
{
	const struct pvbe_param *p = NULL;
	int i;

	for (i = 0; i < c->nparams; i++) {
		if (!strcmp(c->params[i].key, key)) {
			c->params[i].used = 1;
			p = &c->params[i];
		}
	}
	return p;
}

static int parse_uint(const struct pvbe_param *p, unsigned long min,
		      unsigned long max, unsigned int *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(p->val, &end, 10);
	if (errno || end == p->val || *end || p->val[0] == '-' || v < min || v > max)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;
	int i;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &tail) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	if (mac[0] & 1)
		return -EINVAL;		/* multicast */
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return -EINVAL;
	return 0;
}

/* The kernel's rule for interface names (dev_valid_name). */
static bool valid_ifname(const char *s)
{
	if (!*s || strlen(s) >= IFNAMSIZ || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || *s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

/* 52:54:00 (QEMU's locally administered prefix) + FNV-1a of "guest/device". */
static void default_mac(const char *tag, uint8_t mac[6])
{
	uint32_t h = 2166136261u;

	for (; *tag; tag++)
		h = (h ^ (uint8_t)*tag) * 16777619u;
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

static int net_parse(struct pvbe_dev *dev)
{
	struct pvbe_dev_cfg *c = dev->cfg;
	const struct pvbe_param *p;
	struct pvnet_dev *nd;
	unsigned int i;
	int k;

	nd = calloc(1, sizeof(*nd));
	if (!nd)
		return -ENOMEM;
	nd->dev = dev;
	dev->priv = nd;
	for (i = 0; i < PVNET_MAX_PAIRS; i++) {
		nd->pair[i].nd = nd;
		nd->pair[i].index = i;
		nd->pair[i].fd = -1;
	}

	p = param(c, "tap");
	if (!p) {
		pvbe_err(dev->tag, "net devices need 'tap = IFNAME' (the host TAP interface)");
		return -EINVAL;
	}
	if (!valid_ifname(p->val)) {
		pvbe_err(dev->tag, "line %d: tap = %s: not a valid interface name (1..%d characters, no '/', ':' or blanks)",
			 p->line, p->val, IFNAMSIZ - 1);
		return -EINVAL;
	}
	strcpy(nd->tap, p->val);
	p = param(c, "bridge");
	if (p) {
		if (!valid_ifname(p->val)) {
			pvbe_err(dev->tag, "line %d: bridge = %s: not a valid interface name",
				 p->line, p->val);
			return -EINVAL;
		}
		strcpy(nd->bridge, p->val);
	}
	p = param(c, "mac");
	if (p && parse_mac(p->val, nd->mac)) {
		pvbe_err(dev->tag, "line %d: mac = %s: want a unicast address like 52:54:00:12:34:56",
			 p->line, p->val);
		return -EINVAL;
	}
	if (!p)
		default_mac(dev->tag, nd->mac);
	nd->max_mtu = 9000;
	p = param(c, "max_mtu");
	if (p && parse_uint(p, PVNET_MIN_MTU, PVNET_MAX_MTU, &nd->max_mtu)) {
		pvbe_err(dev->tag, "line %d: max_mtu = %s: must be %d..%d", p->line,
			 p->val, PVNET_MIN_MTU, PVNET_MAX_MTU);
		return -EINVAL;
	}
	nd->mtu = nd->max_mtu < 1500 ? nd->max_mtu : 1500;
	p = param(c, "mtu");
	if (p && parse_uint(p, PVNET_MIN_MTU, nd->max_mtu, &nd->mtu)) {
		pvbe_err(dev->tag, "line %d: mtu = %s: must be %d..%u (max_mtu)", p->line,
			 p->val, PVNET_MIN_MTU, nd->max_mtu);
		return -EINVAL;
	}

	/* Queues come in rx/tx pairs; unset means one pair. */
	if (!c->queues_line)
		c->queues = 2;
	if (c->queues % 2) {
		pvbe_err(dev->tag, "line %d: queues = %u: a net device needs an even number (an rx and a tx queue per pair)",
			 c->queues_line, c->queues);
		return -EINVAL;
	}
	nd->npairs = c->queues / 2;

	for (k = 0; k < c->nparams; k++) {
		if (!c->params[k].used) {
			pvbe_err(dev->tag, "line %d: unknown key '%s' for a net device (keys: tap, bridge, mac, mtu, max_mtu)",
				 c->params[k].line, c->params[k].key);
			return -EINVAL;
		}
	}
	return 0;
}

static int net_setup(struct pvbe_dev *dev)
{
	struct pvnet_dev *nd = dev->priv;
	unsigned int i;
	int ret;

	nd->sh = mmap(NULL, sizeof(*nd->sh), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (nd->sh == MAP_FAILED) {
		nd->sh = NULL;
		return -errno;
	}
	nd->sh->link_up = true;
	for (i = 0; i < nd->npairs; i++) {
		struct pvnet_pair *p = &nd->pair[i];

		p->size = dev->cfg->queue_size;
		p->fifo = calloc(p->size, sizeof(*p->fifo));
		if (!p->fifo) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	ret = pvnet_tap_open(nd);
	if (ret)
		goto fail;
	return 0;
fail:
	for (i = 0; i < nd->npairs; i++) {
		free(nd->pair[i].fifo);
		nd->pair[i].fifo = NULL;
	}
	munmap(nd->sh, sizeof(*nd->sh));
	nd->sh = NULL;
	return ret;
}

static void net_uninit(struct pvbe_dev *dev)
{
	struct pvnet_dev *nd = dev->priv;
	unsigned int i;

	pvnet_tap_close(nd);
	for (i = 0; i < nd->npairs; i++) {
		free(nd->pair[i].fifo);
		nd->pair[i].fifo = NULL;
	}
	munmap(nd->sh, sizeof(*nd->sh));
	nd->sh = NULL;
	pvbe_info(dev->tag, "TAP %s released", nd->tap);
}

/* ---- config area and link (worker) ----------------------------------- */

static int net_init(struct pvbe_dev *dev)
{
	struct pvnet_dev *nd = dev->priv;
	struct pvio_net_config *c = dev->config;
	unsigned int q;

	dev->host_features = (1ull << PVIO_NET_F_CSUM) | (1ull << PVIO_NET_F_GUEST_CSUM) |
			     (1ull << PVIO_NET_F_MTU) | (1ull << PVIO_NET_F_MAC) |
			     (1ull << PVIO_NET_F_HOST_TSO4) | (1ull << PVIO_NET_F_HOST_TSO6) |
			     (1ull << PVIO_NET_F_GUEST_TSO4) | (1ull << PVIO_NET_F_GUEST_TSO6) |
			     (1ull << PVIO_NET_F_STATUS);
	if (nd->npairs > 1)
		dev->host_features |= 1ull << PVIO_NET_F_MQ;
	memcpy(c->mac, nd->mac, sizeof(c->mac));
	c->status = pvio_cpu_to_le16(nd->sh->link_up ? PVIO_NET_S_LINK_UP : 0);
	c->max_queue_pairs = pvio_cpu_to_le16(nd->npairs);
	c->mtu = pvio_cpu_to_le16(nd->mtu);
	c->min_mtu = pvio_cpu_to_le16(PVNET_MIN_MTU);
	c->max_mtu = pvio_cpu_to_le16(nd->max_mtu);
	c->rx_buf_len = pvio_cpu_to_le32(PVNET_HDR_LEN + nd->mtu + PVNET_VLAN_ETH_HLEN);
	for (q = 0; q < dev->nqueues; q++)
		dev->q[q].desc->flags = pvio_cpu_to_le16(q % 2 ? PVIO_QF_TX : PVIO_QF_RX);
	return 0;
}

static void rx_run(struct pvnet_pair *p);

int pvbe_net_set_link(struct pvbe_dev *dev, bool up, char *err, size_t len)
{
	struct pvnet_dev *nd = dev->priv;
	struct pvio_net_config *c = dev->config;
	unsigned int i;
	int ret;

	if (dev->ops != &pvbe_net_ops) {
		snprintf(err, len, "%s is a %s device, not net", dev->cfg->name,
			 dev->ops->name);
		return -EINVAL;
	}
	ret = pvnet_tap_set_carrier(nd, up);
	if (ret) {
		snprintf(err, len, "TAP %s: set carrier: %s", nd->tap, strerror(-ret));
		return ret;
	}
	nd->sh->link_up = up;
	pvbe_guest_config_begin(dev);
	pvio_write_once(c->status, pvio_cpu_to_le16(up ? PVIO_NET_S_LINK_UP : 0));
	pvbe_guest_config_changed(dev);
	pvbe_info(dev->tag, "link %s (TAP %s carrier %s)", up ? "up" : "down", nd->tap,
		  up ? "on" : "off");
	/* Down: tx is dropped and rx stops on the next packet; up: resume rx. */
	if (up)
		for (i = 0; i < nd->npairs; i++)
			rx_run(&nd->pair[i]);
	return 0;
}

/* ---- data path (worker) ------------------------------------------------ */

static void on_tap(int fd, uint32_t events, void *arg);

/* Watch the TAP queue in the event loop, or stop watching it. */
static void watch(struct pvnet_pair *p, bool on)
{
	int ret;

	if (on == p->watching)
		return;
	if (on) {
		ret = pvbe_loop_add(p->fd, EPOLLIN, on_tap, p);
		if (ret) {
			/* The heartbeat tick still scans the queue. */
			if (pvnet_ratelimit(p->nd))
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
static void pair_dead(struct pvnet_pair *p, const char *what, int err)
{
	watch(p, false);
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

/* Status for a tx header (our private copy) under the accepted features. */
static uint32_t tx_hdr_check(const struct pvnet_dev *nd, const struct pvio_net_hdr *h)
{
	unsigned int gso = h->gso_type & ~PVIO_NET_GSO_ECN;

	if (h->flags & ~PVIO_NET_HDR_F_NEEDS_CSUM)
		return PVIO_S_INVAL;
	if ((h->flags & PVIO_NET_HDR_F_NEEDS_CSUM) && !has(nd, PVIO_NET_F_CSUM))
		return PVIO_S_UNSUPP;
	if (h->gso_type == PVIO_NET_GSO_NONE)
		return PVIO_S_OK;
	if (gso == PVIO_NET_GSO_TCPV4 && has(nd, PVIO_NET_F_HOST_TSO4))
		return h->gso_size ? PVIO_S_OK : PVIO_S_INVAL;
	if (gso == PVIO_NET_GSO_TCPV6 && has(nd, PVIO_NET_F_HOST_TSO6))
		return h->gso_size ? PVIO_S_OK : PVIO_S_INVAL;
	return PVIO_S_UNSUPP;	/* UDP, USO, unknown, or not negotiated */
}

/* Send one tx chain; returns the completion status. */
static uint32_t tx_one(struct pvnet_pair *p, struct pvbe_queue *q,
		       const struct pvbe_req *req)
{
	struct pvnet_dev *nd = p->nd;
	struct iovec iov[PVIO_MAX_CHAIN + 1];
	struct pvio_net_hdr hdr;
	uint32_t skip = PVNET_HDR_LEN, frame, st;
	unsigned int i, n = 1;
	ssize_t w;

	for (i = 0; i < req->nslots; i++)
		if (!req->buf[i] || (pvio_le16_to_cpu(req->d[i].flags) & PVIO_DESC_F_WRITE))
			return PVIO_S_INVAL;
	if (req->in_bytes < PVNET_HDR_LEN + PVNET_ETH_HLEN ||
	    req->in_bytes > PVNET_HDR_LEN + PVIO_NET_MAX_FRAME)
		return PVIO_S_INVAL;
	frame = req->in_bytes - PVNET_HDR_LEN;

	/* The header once into private memory; the TAP gets that copy. */
	chain_read(req, &hdr, sizeof(hdr));
	st = tx_hdr_check(nd, &hdr);
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
	do {
		w = writev(p->fd, iov, (int)n);
	} while (w < 0 && errno == EINTR);
	if (w == (ssize_t)(PVNET_HDR_LEN + frame)) {
		q->st.packets++;
		q->st.bytes += frame;
		return PVIO_S_OK;
	}
	if (w >= 0 || errno == EINVAL || errno == EFAULT) {
		/* The kernel refused what the guest built (header vs frame). */
		if (pvnet_ratelimit(nd))
			pvbe_warn(nd->dev->tag, "tx queue %u: TAP refused a %u-byte frame (gso %u, hdr_len %u, csum %u/%u): %s",
				  q->index, frame, hdr.gso_type, pvio_le16_to_cpu(hdr.hdr_len),
				  pvio_le16_to_cpu(hdr.csum_start),
				  pvio_le16_to_cpu(hdr.csum_offset),
				  w >= 0 ? "short write" : strerror(errno));
		return PVIO_S_INVAL;
	}
	if (errno == EBADFD)
		pair_dead(p, "write", errno);
	else if (pvnet_ratelimit(nd))
		pvbe_warn(nd->dev->tag, "tx queue %u: frame dropped: %s", q->index,
			  strerror(errno));
	q->st.drops++;		/* host side down or out of memory: a drop */
	return PVIO_S_OK;
}

static void tx_run(struct pvnet_pair *p, struct pvbe_queue *q)
{
	struct pvio_cpl cpl;
	struct pvbe_req req;
	unsigned int done = 0;
	int r;

	for (;;) {
		if (done >= PVNET_BUDGET) {
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

/* Take a popped rx chain into @b; false if it cannot carry a packet. */
static bool rx_chain(struct pvnet_rxbuf *b, const struct pvbe_req *req)
{
	unsigned int i;

	if (req->in_bytes || req->out_bytes < PVNET_HDR_LEN + PVNET_ETH_HLEN)
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
static void chain_write(const struct pvnet_rxbuf *b, const void *src, uint32_t len)
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
static bool rx_hdr_fixup(const struct pvnet_dev *nd, struct pvio_net_hdr *h)
{
	unsigned int gso = h->gso_type & ~PVIO_NET_GSO_ECN;

	h->num_buffers = pvio_cpu_to_le16(1);
	if (!has(nd, PVIO_NET_F_GUEST_CSUM)) {
		if (h->flags & PVIO_NET_HDR_F_NEEDS_CSUM)
			return false;
		h->flags = 0;	/* no DATA_VALID either */
	}
	if (h->gso_type == PVIO_NET_GSO_NONE)
		return true;
	return (gso == PVIO_NET_GSO_TCPV4 && has(nd, PVIO_NET_F_GUEST_TSO4)) ||
	       (gso == PVIO_NET_GSO_TCPV6 && has(nd, PVIO_NET_F_GUEST_TSO6));
}

/*
 * Read one packet into the oldest FIFO chain.  Returns 1 if a packet was
 * consumed (delivered or dropped), 0 when the TAP is empty, -1 on a dead
 * queue.
 */
static int rx_one(struct pvnet_pair *p, struct pvbe_queue *q)
{
	struct pvnet_dev *nd = p->nd;
	struct pvnet_rxbuf *b = &p->fifo[p->head];
	struct iovec iov[PVIO_MAX_CHAIN + 2];
	struct pvio_net_hdr hdr;
	uint32_t skip = PVNET_HDR_LEN;
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
	do {
		r = readv(p->fd, iov, (int)n);
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN)
			return 0;
		pair_dead(p, "read", errno);
		return -1;
	}
	if ((size_t)r > b->cap || r < (ssize_t)(PVNET_HDR_LEN + PVNET_ETH_HLEN)) {
		q->st.drops++;
		if (pvnet_ratelimit(nd))
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
	q->st.bytes += (uint64_t)r - PVNET_HDR_LEN;
	p->head = (p->head + 1) % p->size;
	p->count--;
	return 1;
}

/*
 * Stock the FIFO from the SQ.  A chain enters the FIFO only while the CQ
 * has a slot for it and for every chain already there, so a packet read
 * can always be completed.  Returns 0 or -EPROTO (device broken).
 */
static int rx_refill(struct pvnet_pair *p, struct pvbe_queue *q)
{
	struct pvbe_req req;
	struct pvio_cpl cpl;
	int r;

	while (p->count < p->size) {
		r = pvbe_queue_cq_room(q, p->count + 1);
		if (r < 0)
			return r;
		if ((unsigned int)r <= p->count)
			break;
		r = pvbe_queue_pop(q, &req);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		if (rx_chain(&p->fifo[(p->head + p->count) % p->size], &req)) {
			p->count++;
			continue;
		}
		memset(&cpl, 0, sizeof(cpl));
		cpl.id = pvio_cpu_to_le16(req.id);
		cpl.status = pvio_cpu_to_le32(PVIO_S_INVAL);
		pvbe_queue_post(q, &cpl);
	}
	return 0;
}

static void rx_run(struct pvnet_pair *p)
{
	struct pvnet_dev *nd = p->nd;
	struct pvbe_queue *q = &nd->dev->q[2 * p->index];
	unsigned int done = 0;
	int r;

	if (!q->running || !p->fifo) {
		watch(p, false);
		return;
	}
	for (;;) {
		if (rx_refill(p, q))
			return;
		if (!p->count) {
			/* Nothing to fill: the TAP keeps its packets meanwhile. */
			watch(p, false);
			r = pvbe_queue_cq_room(q, 1);
			if (r < 0)
				return;
			if (r == 0) {
				if (pvbe_queue_cq_arm(q) <= 0)
					return;	/* the guest kicks when it reaps */
				continue;
			}
			if (pvbe_queue_arm(q) == 0)
				return;		/* flushed; the guest kicks when it posts */
			continue;
		}
		if (!nd->sh->link_up || p->dead) {
			watch(p, false);
			break;
		}
		if (done >= PVNET_BUDGET) {
			pvbe_queue_yield(q);
			break;
		}
		r = rx_one(p, q);
		if (r == 0) {
			watch(p, true);	/* the TAP wakes us */
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
	rx_run(arg);
}

static void net_kick(struct pvbe_queue *q)
{
	struct pvnet_dev *nd = q->dev->priv;
	struct pvnet_pair *p = &nd->pair[q->index / 2];

	if (q->index % 2)
		tx_run(p, q);
	else
		rx_run(p);
}

/* ---- start and stop (worker) -------------------------------------------- */

static void net_start(struct pvbe_dev *dev)
{
	struct pvnet_dev *nd = dev->priv;
	unsigned int i, used = 0;

	nd->features = pvio_le64_to_cpu(pvio_read_once(dev->desc->guest_features));
	/*
	 * Only the pairs the guest runs keep their TAP queue enabled: the
	 * kernel spreads host traffic over enabled queues, and a queue nobody
	 * reads would swallow its share.
	 */
	for (i = 0; i < nd->npairs; i++) {
		struct pvnet_pair *p = &nd->pair[i];
		bool use = dev->q[2 * i].running || dev->q[2 * i + 1].running;

		p->head = 0;
		p->count = 0;
		p->dead = false;
		if (pvnet_tap_set_queue(p, use) && use)
			p->dead = true;
		used += use;
	}
	if ((nd->features & ((1ull << PVIO_NET_F_GUEST_TSO4) | (1ull << PVIO_NET_F_GUEST_TSO6))) &&
	    !has(nd, PVIO_NET_F_GUEST_CSUM))
		pvbe_warn(dev->tag, "guest takes TSO without GUEST_CSUM: large rx stays off");
	pvnet_tap_set_offload(nd, nd->features);
	pvbe_info(dev->tag, "TAP %s: %u of %u queue pair(s) in use, link %s", nd->tap,
		  used, nd->npairs, nd->sh->link_up ? "up" : "down");
}

static void net_stop(struct pvbe_dev *dev)
{
	struct pvnet_dev *nd = dev->priv;
	unsigned int i;

	/* Chains in the FIFOs are the guest's to forget: it resets. */
	for (i = 0; i < nd->npairs; i++) {
		watch(&nd->pair[i], false);
		nd->pair[i].head = 0;
		nd->pair[i].count = 0;
	}
	nd->features = 0;
	pvnet_tap_set_offload(nd, 0);
}

const struct pvbe_dev_ops pvbe_net_ops = {
	.type = PVIO_DEV_NET,
	.name = "net",
	.sq_esize = sizeof(struct pvio_desc),
	.cq_esize = sizeof(struct pvio_cpl),
	.config_len = sizeof(struct pvio_net_config),
	.parse = net_parse,
	.setup = net_setup,
	.uninit = net_uninit,
	.init = net_init,
	.kick = net_kick,
	.start = net_start,
	.stop = net_stop,
};
