/* SPDX-License-Identifier: GPL-2.0 */
/*
 * net/dpdk.h - a net device whose host side is a DPDK ethdev port
 * (`net = dpdk,DEVARGS`), served by a poll thread of its own.  Private to
 * net_dpdk*.c: the rest of pviod sees only pvbe_net_dpdk_parse() (net.h) and
 * an opaque struct pvbe_net_dpdk.
 *
 *   net/dpdk.c        configuration, EAL, port setup, ops start/stop (worker)
 *   net/dpdk_path.c   the poll-mode data path and the poll thread
 *
 * Thread contract: while the device is live, its guest queues belong to
 * exactly one thread, the device's poll thread: it pops tx chains, posts
 * completions and fills rx buffers; the worker thread does not touch them.
 * The poll thread is made once, by ops->spawn, in the sandbox after the
 * worker has dropped its privileges and before the seccomp filter (which
 * then covers it: no thread is made later).  It waits parked; the worker
 * lets it serve in ops->start and waits for it to park again in
 * ops->stop, so every reset, stop, BROKEN and disconnect (window.c,
 * worker.c: all through dev_stop -> ops->stop) happens with no poller
 * running.  A protocol violation the poll thread finds is handed to the
 * worker (ops->defer_broken) instead of stopping the device from inside the
 * thread the stop must join.
 *
 * Shared between the two threads, nothing else:
 *   pvbe_net_dpdk.run/parked  under pvbe_net_dpdk.mu: serve, parked again
 *   pvbe_net_dpdk.stop        worker -> poller, atomic (release/acquire)
 *   pvbe_net_dpdk.gate_*      worker -> poller, atomic (release/acquire)
 *   pvbe_net_dpdk.broken_*    poller -> worker, atomic flag published last
 *   pvbe_net_shared.link_up   worker -> poller, atomic (relaxed: a hint)
 *   pvbe_queue.st          poller writes, control.c reads: plain 64-bit
 *                          counters read racily for statistics; we live
 *                          with a value that is one packet old.
 */
#ifndef PVBE_NET_DPDK_H
#define PVBE_NET_DPDK_H

#include <pthread.h>

#include "net/net.h"

#define PVBE_NET_DPDK_BURST	32

struct rte_mbuf;
struct rte_mempool;

/* One queue pair: rx chains waiting for packets, packets waiting for chains. */
struct pvbe_net_dpdk_pair {
	struct pvbe_net_rxbuf *fifo;	/* supervisor-allocated, size = queue_size */
	unsigned int head, count, size;
	struct rte_mbuf *rx[PVBE_NET_DPDK_BURST];	/* received, not delivered yet */
	unsigned int rx_i, rx_n;
};

struct pvbe_net_dpdk {
	/* configuration (supervisor, inherited) */
	char devargs[224];
	char name[64];			/* the ethdev's name: devargs up to ',' */
	bool pci;
	unsigned int cpu;		/* the poll thread's CPU */
	unsigned int idle_us;
	/* worker, set once by port_setup() */
	bool ready;
	uint16_t port;
	struct rte_mempool *pool;
	uint64_t tx_off;		/* tx offloads enabled on the port */
	unsigned int port_mtu;
	/* worker: the poll thread, made once (ops->spawn) */
	pthread_t thread;
	bool spawned;
	bool thread_live;		/* serving: between start and stop */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool run;			/* under mu: worker -> poller, serve */
	bool parked;			/* under mu: poller -> worker, not serving */
	bool stop;			/* worker -> poller, atomic */
	/*
	 * worker -> poller, atomic: the guest's driver_status and
	 * reset_request as the worker last acted on them.  The poller serves
	 * only while the window still holds these: a reset or status change
	 * is the worker's to act on first (protocol.md 9.2).
	 */
	uint32_t gate_status, gate_reset;
	bool paused;			/* poller's own: waiting for the worker */
	/* poller -> worker: a protocol violation to act on (defer_broken) */
	bool failed;			/* poller's own: stop serving */
	uint32_t broken_reason;
	char broken_msg[256];
	bool broken_pending;		/* atomic; written last (release) */
	struct pvbe_net_dpdk_pair pair[PVBE_NET_MAX_PAIRS];
};

/* net/dpdk_path.c: the poll thread's serving (net/dpdk.c parks it). */

/* Serve the device's queues until pvbe_net_dpdk.stop or a failure. */
void pvbe_net_dpdk_serve(struct pvbe_net_dev *nd);
/* ops->defer_broken: true on the device's poll thread (the worker is rung). */
bool pvbe_net_dpdk_defer_broken(struct pvbe_dev *dev, uint32_t reason, const char *msg);

#endif
