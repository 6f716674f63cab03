// SPDX-License-Identifier: GPL-2.0
/*
 * net/tx.c - the transmit half of the net data path: a tx chain goes to
 * the host side (a TAP queue, or net = null) with one writev() straight
 * from guest RAM.  Only the 12-byte header passes through private memory:
 * it is what we validate.
 *
 *   tx queue 2n+1:  pop chain (transport/queue.c) -> check -> writev(TAP
 *                   queue n) -> complete
 *
 * Worker only.  The generic queue loop calls pvbe_net_tx_request() once
 * per chain, under its budget.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "core/log.h"
#include "net/net.h"

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
	struct pvio_net_hdr hdr = { 0 };
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
	w = pvbe_net_host_write(p, iov, n);
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
		pvbe_net_pair_dead(p, "write", errno);
	else if (pvbe_net_ratelimit(nd))
		pvbe_warn(nd->dev->tag, "tx queue %u: frame dropped: %s", q->index,
			  strerror(errno));
	q->st.drops++;		/* host side down or out of memory: a drop */
	return PVIO_S_OK;
}

/* ops->request for a tx queue: send the chain, complete it. */
int64_t pvbe_net_tx_request(struct pvbe_queue *q, const struct pvbe_req *req)
{
	struct pvbe_net_dev *nd = q->dev->priv;
	struct pvbe_net_pair *p = &nd->pair[q->index / 2];

	pvbe_queue_complete(q, req->id, tx_one(p, q, req), 0);
	/* net = null, echo: the frame waits for the pair's rx queue. */
	if (pvbe_net_null_rx_pending(p))
		nd->dev->q[2 * p->index].kick = true;
	return req->in_bytes;
}
