// SPDX-License-Identifier: GPL-2.0
/*
 * net/null.c - `net = null`: a host side without a TAP, for measuring the
 * guest side and pviod's own data path with no kernel network stack behind
 * them (DPDK's net_null PMD plays the same part).  Everything else is the
 * TAP device's code: queue.c pops and validates, net/path.c builds the same
 * iovecs over guest RAM and calls pvbe_net_null_write()/pvbe_net_null_read()
 * where it would call writev()/readv() on a TAP queue.
 *
 *   null_rx = none    tx frames are copied out of guest RAM into a private
 *                     buffer and dropped; rx stays silent (the default)
 *   null_rx = BYTES   as none, and every rx buffer the guest posts is
 *                     filled at once with a BYTES-long frame (60..9014) to
 *                     the device's MAC, EtherType 0x88b5 (local experimental)
 *   null_rx = echo    every tx frame comes back on the same pair's rx queue,
 *                     header included (a reflector, for round-trip times);
 *                     up to PVBE_NET_NULL_ECHO frames wait for rx buffers; one
 *                     more is refused (ENOBUFS), which net/path.c counts as
 *                     a drop, as it does for a TAP that refuses a frame
 *
 * Worker only, like the rest of the data path.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "net/net.h"

#define PVBE_NET_NULL_ECHO		32	/* frames waiting per pair (echo) */
#define PVBE_NET_NULL_SRC_MAX	9014	/* largest null_rx = BYTES frame */
#define PVBE_NET_NULL_ETHERTYPE	0x88b5

struct pvbe_net_null_pair {
	uint8_t *buf;		/* tx: where frames are copied to */
	/* echo: a FIFO of frames (header included) */
	uint32_t len[PVBE_NET_NULL_ECHO];
	unsigned int head, count;
};

/* Copy @iov into @dst (at most @cap bytes); returns the bytes @iov holds. */
static size_t iov_gather(uint8_t *dst, size_t cap, const struct iovec *iov,
			 unsigned int n)
{
	size_t total = 0, k;
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (total < cap) {
			k = cap - total < iov[i].iov_len ? cap - total : iov[i].iov_len;
			memcpy(dst + total, iov[i].iov_base, k);
		}
		total += iov[i].iov_len;
	}
	return total;
}

/* Copy @len bytes of @src into @iov, as far as it reaches; like readv(). */
static void iov_scatter(const struct iovec *iov, unsigned int n,
			const uint8_t *src, size_t len)
{
	unsigned int i;

	for (i = 0; i < n && len; i++) {
		size_t k = iov[i].iov_len < len ? iov[i].iov_len : len;

		memcpy(iov[i].iov_base, src, k);
		src += k;
		len -= k;
	}
}

int pvbe_net_null_parse(struct pvbe_net_dev *nd, const struct pvbe_param *p)
{
	char *end;
	unsigned long v;

	nd->null_rx = PVBE_NET_NULL_RX_NONE;
	if (!p || !strcmp(p->val, "none"))
		return 0;
	if (!strcmp(p->val, "echo")) {
		nd->null_rx = PVBE_NET_NULL_RX_ECHO;
		return 0;
	}
	errno = 0;
	v = strtoul(p->val, &end, 10);
	if (errno || end == p->val || *end || p->val[0] == '-' ||
	    v < 60 || v > PVBE_NET_NULL_SRC_MAX) {
		pvbe_err(nd->dev->tag, "line %d: null_rx = %s: want none, echo, or a frame size in bytes (60..%d)",
			 p->line, p->val, PVBE_NET_NULL_SRC_MAX);
		return -EINVAL;
	}
	nd->null_rx = PVBE_NET_NULL_RX_SOURCE;
	nd->null_src_len = (uint32_t)v;
	return 0;
}

int pvbe_net_null_setup(struct pvbe_net_dev *nd)
{
	size_t bytes = nd->null_rx == PVBE_NET_NULL_RX_ECHO ?
		       (size_t)PVBE_NET_NULL_ECHO * PVBE_NET_RX_MAX : PVBE_NET_RX_MAX;
	uint8_t *f;
	unsigned int i;

	for (i = 0; i < nd->npairs; i++) {
		struct pvbe_net_null_pair *np = calloc(1, sizeof(*np));

		if (!np || !(np->buf = malloc(bytes))) {
			free(np);
			pvbe_net_null_uninit(nd);
			return -ENOMEM;
		}
		nd->pair[i].null = np;
	}
	if (nd->null_rx != PVBE_NET_NULL_RX_SOURCE)
		return 0;
	/* The frame every rx buffer gets: header (no offloads), then Ethernet. */
	nd->null_src = calloc(1, PVBE_NET_HDR_LEN + nd->null_src_len);
	if (!nd->null_src) {
		pvbe_net_null_uninit(nd);
		return -ENOMEM;
	}
	f = nd->null_src + PVBE_NET_HDR_LEN;
	memcpy(f, nd->mac, 6);
	memcpy(f + 6, (const uint8_t[6]){ 0x02, 0, 0, 0, 0, 0x02 }, 6);
	f[12] = PVBE_NET_NULL_ETHERTYPE >> 8;
	f[13] = PVBE_NET_NULL_ETHERTYPE & 0xff;
	for (i = 14; i < nd->null_src_len; i++)
		f[i] = (uint8_t)i;
	return 0;
}

void pvbe_net_null_uninit(struct pvbe_net_dev *nd)
{
	unsigned int i;

	for (i = 0; i < nd->npairs; i++) {
		if (nd->pair[i].null)
			free(nd->pair[i].null->buf);
		free(nd->pair[i].null);
		nd->pair[i].null = NULL;
	}
	free(nd->null_src);
	nd->null_src = NULL;
}

/* A queue pair starts or stops: frames waiting for rx are forgotten. */
void pvbe_net_null_reset(struct pvbe_net_pair *p)
{
	if (p->null)
		p->null->head = p->null->count = 0;
}

/*
 * writev() of a tx frame (header included): copied out of guest RAM, then
 * dropped, or queued for rx under echo.  Returns the bytes taken, as a
 * TAP would, or -1 with errno ENOBUFS when the echo FIFO is full.
 */
ssize_t pvbe_net_null_write(struct pvbe_net_pair *p, const struct iovec *iov,
			 unsigned int n)
{
	struct pvbe_net_null_pair *np = p->null;
	unsigned int slot;
	size_t len;

	if (p->nd->null_rx != PVBE_NET_NULL_RX_ECHO)
		return (ssize_t)iov_gather(np->buf, PVBE_NET_RX_MAX, iov, n);
	if (np->count == PVBE_NET_NULL_ECHO) {
		/* Every slot holds a waiting frame: none may be overwritten. */
		errno = ENOBUFS;
		return -1;
	}
	slot = (np->head + np->count) % PVBE_NET_NULL_ECHO;
	len = iov_gather(np->buf + (size_t)slot * PVBE_NET_RX_MAX, PVBE_NET_RX_MAX, iov, n);
	np->len[slot] = (uint32_t)len;
	np->count++;
	return (ssize_t)len;
}

/*
 * readv() of one packet into @iov: returns its length (header included;
 * more than @iov holds if it was cut, as a TAP does), or -1 with errno
 * EAGAIN when there is none.
 */
ssize_t pvbe_net_null_read(struct pvbe_net_pair *p, const struct iovec *iov,
			unsigned int n)
{
	struct pvbe_net_dev *nd = p->nd;
	struct pvbe_net_null_pair *np = p->null;
	uint32_t len;

	switch (nd->null_rx) {
	case PVBE_NET_NULL_RX_SOURCE:
		len = PVBE_NET_HDR_LEN + nd->null_src_len;
		iov_scatter(iov, n, nd->null_src, len);
		return len;
	case PVBE_NET_NULL_RX_ECHO:
		if (!np->count)
			break;
		len = np->len[np->head];
		iov_scatter(iov, n, np->buf + (size_t)np->head * PVBE_NET_RX_MAX, len);
		np->head = (np->head + 1) % PVBE_NET_NULL_ECHO;
		np->count--;
		return len;
	default:
		break;
	}
	errno = EAGAIN;
	return -1;
}

/* Echo: frames are waiting for the rx queue. */
bool pvbe_net_null_rx_pending(const struct pvbe_net_pair *p)
{
	return p->null && p->null->count;
}
