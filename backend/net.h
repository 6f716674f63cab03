/* SPDX-License-Identifier: GPL-2.0 */
/*
 * net.h - the net device class: one multi-queue TAP per device, one TAP
 * queue per pvio queue pair (queue 2n receives, 2n+1 transmits).
 *
 * Ownership: struct pvnet_dev is built by the supervisor (parse, setup) and
 * inherited by every worker through fork(); from then on only the worker's
 * single thread touches its copy.  The TAP fds belong to the supervisor and
 * survive a worker crash; the worker never closes them.
 */
#ifndef PVBE_NET_H
#define PVBE_NET_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest.h"
#include "log.h"

#define PVNET_HDR_LEN		((uint32_t)sizeof(struct pvio_net_hdr))
#define PVNET_ETH_HLEN		14
#define PVNET_MIN_MTU		68
#define PVNET_MAX_MTU		65521	/* IP max + room for Ethernet/VLAN */
#define PVNET_MAX_PAIRS		(PVIO_MAX_QUEUES / 2)
/* The largest rx packet, header included. */
#define PVNET_RX_MAX		(PVNET_HDR_LEN + PVIO_NET_MAX_FRAME)

/* A posted rx chain waiting for a packet: its writable segments. */
struct pvnet_rxbuf {
	uint16_t id;
	uint16_t niov;
	uint32_t cap;			/* bytes, header included */
	struct iovec iov[PVIO_MAX_CHAIN];
};

/* net = null: what rx delivers (net_null.c). */
enum pvnet_null_rx {
	PVNET_NULL_RX_NONE,
	PVNET_NULL_RX_SOURCE,
	PVNET_NULL_RX_ECHO,
};

/* One queue pair and its TAP queue. */
struct pvnet_pair {
	struct pvnet_dev *nd;
	unsigned int index;
	int fd;				/* TAP queue, nonblocking; -1: none */
	struct pvnet_null_pair *null;	/* net = null: net_null.c's state */
	bool attached;			/* TAP queue enabled (TUNSETQUEUE) */
	bool watching;			/* fd in the worker's epoll set */
	bool dead;			/* fd failed for good; logged once */
	/* rx chains popped from the SQ, not completed yet: a FIFO */
	struct pvnet_rxbuf *fifo;
	unsigned int head, count, size;
	/*
	 * MRG_RXBUF: a packet read from the TAP that needs more rx chains
	 * than the FIFO held.  Its first pend_chains FIFO chains hold its
	 * first pend_done bytes; the rest waits in ovf (from packet offset
	 * ovf_base on) until the guest posts more chains.  pend_len 0: none.
	 */
	uint8_t *ovf;			/* PVNET_RX_MAX + 1 bytes */
	uint32_t pend_len, pend_done, ovf_base;
	unsigned int pend_chains;
	struct pvio_net_hdr pend_hdr;	/* fixed up, num_buffers not set */
};

/*
 * What a restarted worker must inherit from the one that died: a page
 * shared by the supervisor and all its workers (MAP_SHARED, made before
 * the first fork).  Written by the worker only.
 */
struct pvnet_shared {
	bool link_up;			/* what the guest sees in status */
};

struct pvnet_dev {
	struct pvbe_dev *dev;
	struct pvnet_shared *sh;
	char tap[IFNAMSIZ];
	char bridge[IFNAMSIZ];		/* empty: none */
	uint8_t mac[6];
	unsigned int mtu, max_mtu;
	unsigned int npairs;
	bool made_persistent;		/* we set IFF_PERSIST: undo at exit */
	uint64_t features;		/* accepted by the guest at DRIVER_OK */
	struct pvnet_dpdk *dpdk;	/* net = dpdk: net_dpdk.c's state; NULL: TAP */
	bool null;			/* net = null: no host side (net_null.c) */
	enum pvnet_null_rx null_rx;
	uint32_t null_src_len;		/* null_rx = BYTES */
	uint8_t *null_src;		/* that frame, header included */
	struct pvbe_ratelimit log_rl;	/* data-path warnings */
	struct pvnet_pair pair[PVNET_MAX_PAIRS];
};

/* net_tap.c: the host side, ioctls on the TAP and its queues. */
int pvnet_tap_open(struct pvnet_dev *nd);
void pvnet_tap_close(struct pvnet_dev *nd);
int pvnet_tap_set_queue(struct pvnet_pair *p, bool attach);
int pvnet_tap_set_offload(struct pvnet_dev *nd, uint64_t features);
int pvnet_tap_set_carrier(struct pvnet_dev *nd, bool up);

/* net_null.c: net = null, a host side that drops, generates or echoes. */
int pvnet_null_parse(struct pvnet_dev *nd, const struct pvbe_param *p);
int pvnet_null_setup(struct pvnet_dev *nd);
void pvnet_null_uninit(struct pvnet_dev *nd);
void pvnet_null_reset(struct pvnet_pair *p);
ssize_t pvnet_null_write(struct pvnet_pair *p, const struct iovec *iov, unsigned int n);
ssize_t pvnet_null_read(struct pvnet_pair *p, const struct iovec *iov, unsigned int n);
bool pvnet_null_rx_pending(const struct pvnet_pair *p);

/* dev_net.c */
bool pvnet_ratelimit(struct pvnet_dev *nd);
int pvnet_rx_stock(struct pvbe_queue *q, struct pvnet_rxbuf *fifo,
		   unsigned int head, unsigned int *count, unsigned int size);

/* net_path.c: the data path of one pair. */
void pvnet_tx_run(struct pvnet_pair *p, struct pvbe_queue *q);
void pvnet_rx_run(struct pvnet_pair *p);
void pvnet_watch(struct pvnet_pair *p, bool on);
uint32_t pvnet_tx_hdr_check(const struct pvnet_dev *nd, const struct pvio_net_hdr *h);

/* net_dpdk.c: `net = dpdk,DEVARGS` (parse time, supervisor); swaps dev->ops. */
int pvnet_dpdk_parse(struct pvbe_dev *dev, const char *devargs, int line);

/* Did the guest accept feature @bit? */
static inline bool pvnet_has(const struct pvnet_dev *nd, int bit)
{
	return nd->features & (1ull << bit);
}

#endif
