/* SPDX-License-Identifier: GPL-2.0 */
/*
 * net.h - the net device class: one multi-queue TAP per device, one TAP
 * queue per pvio queue pair (queue 2n receives, 2n+1 transmits).
 *
 * Ownership: struct pvbe_net_dev is built by the supervisor (parse, setup) and
 * inherited by the guest's worker through fork(); from then on only the
 * worker's thread touches its copy (and, for net = dpdk, the device's poll
 * thread: net/dpdk.h).  The TAP fds belong to the supervisor and survive a
 * worker crash; the worker never closes them.
 */
#ifndef PVBE_NET_H
#define PVBE_NET_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "transport/guest.h"
#include "core/log.h"
#include "pvio/net.h"

#define PVBE_NET_HDR_LEN		((uint32_t)sizeof(struct pvio_net_hdr))
#define PVBE_NET_ETH_HLEN		14
#define PVBE_NET_MIN_MTU		68
#define PVBE_NET_MAX_MTU		65521	/* IP max + room for Ethernet/VLAN */
#define PVBE_NET_MAX_PAIRS		(PVIO_MAX_QUEUES / 2)
/* The largest rx packet, header included. */
#define PVBE_NET_RX_MAX		(PVBE_NET_HDR_LEN + PVIO_NET_MAX_FRAME)

/* A posted rx chain waiting for a packet: its writable segments. */
struct pvbe_net_rxbuf {
	uint16_t id;
	uint16_t niov;
	uint32_t cap;			/* bytes, header included */
	struct iovec iov[PVIO_MAX_CHAIN];
};

/* net = null: what rx delivers (net/null.c). */
enum pvbe_net_null_rx {
	PVBE_NET_NULL_RX_NONE,
	PVBE_NET_NULL_RX_SOURCE,
	PVBE_NET_NULL_RX_ECHO,
};

/* One queue pair and its TAP queue. */
struct pvbe_net_pair {
	struct pvbe_net_dev *nd;
	unsigned int index;
	int fd;				/* TAP queue, nonblocking; -1: none */
	struct pvbe_net_null_pair *null;	/* net = null: net/null.c's state */
	bool attached;			/* TAP queue enabled (TUNSETQUEUE) */
	bool watching;			/* fd in the worker's epoll set */
	bool dead;			/* fd failed for good; logged once */
	/* rx chains popped from the SQ, not completed yet: a FIFO */
	struct pvbe_net_rxbuf *fifo;
	unsigned int head, count, size;
	/*
	 * MRG_RXBUF: a packet read from the TAP that needs more rx chains
	 * than the FIFO held.  Its first pend_chains FIFO chains hold its
	 * first pend_done bytes; the rest waits in ovf (from packet offset
	 * ovf_base on) until the guest posts more chains.  pend_len 0: none.
	 */
	uint8_t *ovf;			/* PVBE_NET_RX_MAX + 1 bytes */
	uint32_t pend_len, pend_done, ovf_base;
	unsigned int pend_chains;
	struct pvio_net_hdr pend_hdr;	/* fixed up, num_buffers not set */
};

/*
 * The link state, in the device's persist page (guest.h): set by the
 * supervisor (net-link: it sets the TAP's carrier, which needs its
 * privileges), read by the worker (and a DPDK poll thread), kept across
 * workers and clients.
 */
struct pvbe_net_shared {
	bool link_up;			/* what the guest sees in status */
	bool link_set;			/* link_up was initialised */
};

struct pvbe_net_dev {
	struct pvbe_dev *dev;
	struct pvbe_net_shared *sh;
	char tap[IFNAMSIZ];
	char bridge[IFNAMSIZ];		/* empty: none */
	uint8_t mac[6];
	unsigned int mtu, max_mtu;
	unsigned int npairs;
	bool made_persistent;		/* we set IFF_PERSIST: undo at exit */
	uint64_t features;		/* accepted by the guest at DRIVER_OK */
	struct pvbe_net_dpdk *dpdk;	/* net = dpdk: net/dpdk.c's state; NULL: TAP */
	bool null;			/* net = null: no host side (net/null.c) */
	enum pvbe_net_null_rx null_rx;
	uint32_t null_src_len;		/* null_rx = BYTES */
	uint8_t *null_src;		/* that frame, header included */
	struct pvbe_ratelimit log_rl;	/* data-path warnings */
	struct pvbe_net_pair pair[PVBE_NET_MAX_PAIRS];
};

/* net/tap.c: the host side, ioctls on the TAP and its queues. */
int pvbe_net_tap_open(struct pvbe_net_dev *nd);
void pvbe_net_tap_close(struct pvbe_net_dev *nd);
int pvbe_net_tap_set_queue(struct pvbe_net_pair *p, bool attach);
int pvbe_net_tap_set_offload(struct pvbe_net_dev *nd, uint64_t features);
int pvbe_net_tap_set_carrier(struct pvbe_net_dev *nd, bool up);

/* net/null.c: net = null, a host side that drops, generates or echoes. */
int pvbe_net_null_parse(struct pvbe_net_dev *nd, const struct pvbe_param *p);
int pvbe_net_null_setup(struct pvbe_net_dev *nd);
void pvbe_net_null_uninit(struct pvbe_net_dev *nd);
void pvbe_net_null_reset(struct pvbe_net_pair *p);
ssize_t pvbe_net_null_write(struct pvbe_net_pair *p, const struct iovec *iov, unsigned int n);
ssize_t pvbe_net_null_read(struct pvbe_net_pair *p, const struct iovec *iov, unsigned int n);
bool pvbe_net_null_rx_pending(const struct pvbe_net_pair *p);

/* net/net.c */
bool pvbe_net_ratelimit(struct pvbe_net_dev *nd);
int pvbe_net_sup_control(struct pvbe_dev *dev, int argc, char **argv, char *err, size_t len);
int pvbe_net_control(struct pvbe_dev *dev, int argc, char **argv,
		     struct json_object *out, char *err, size_t len);

/* net/tx.c: the transmit path of one pair (ops->request of queue 2n+1). */
int64_t pvbe_net_tx_request(struct pvbe_queue *q, const struct pvbe_req *req);
uint32_t pvbe_net_tx_hdr_check(const struct pvbe_net_dev *nd, const struct pvio_net_hdr *h);

/* net/rx.c: the receive path of one pair (queue 2n). */
int64_t pvbe_net_rx_request(struct pvbe_queue *q, const struct pvbe_req *req);
unsigned int pvbe_net_rx_held(struct pvbe_queue *q);
bool pvbe_net_rx_sq_quiet(struct pvbe_queue *q);
int pvbe_net_rx_run_end(struct pvbe_queue *q, uint64_t *work);
void pvbe_net_watch(struct pvbe_net_pair *p, bool on);
int pvbe_net_rx_stock(struct pvbe_queue *q, struct pvbe_net_rxbuf *fifo,
		      unsigned int head, unsigned int *count, unsigned int size);

/* net/tap.c: the data path's host side, a TAP queue or net = null. */
ssize_t pvbe_net_host_write(struct pvbe_net_pair *p, const struct iovec *iov, unsigned int n);
ssize_t pvbe_net_host_read(struct pvbe_net_pair *p, const struct iovec *iov, unsigned int n);
void pvbe_net_pair_dead(struct pvbe_net_pair *p, const char *what, int err);

/* net/dpdk.c: `net = dpdk,DEVARGS` (parse time, supervisor); swaps dev->ops. */
int pvbe_net_dpdk_parse(struct pvbe_dev *dev, const char *devargs, int line);

/* Did the guest accept feature @bit? */
static inline bool pvbe_net_has(const struct pvbe_net_dev *nd, int bit)
{
	return nd->features & (1ull << bit);
}

#endif
