/* SPDX-License-Identifier: GPL-2.0 */
/*
 * net_dpdk.h - a net device whose host side is a DPDK ethdev port
 * (`net = dpdk,DEVARGS`), served by a poll thread of its own.
 *
 * Thread contract: while the device is live, its guest queues belong to
 * exactly one thread, the device's poll thread: it pops tx chains, posts
 * completions and fills rx buffers; the worker thread does not touch them.
 * The worker starts the poll thread in ops->start and joins it in
 * ops->stop, so every reset, stop, BROKEN and disconnect (window.c,
 * worker.c: all through dev_stop -> ops->stop) happens with no poller
 * running.  A protocol violation the poll thread finds is handed to the
 * worker (ops->defer_broken) instead of stopping the device from inside the
 * thread the stop must join.
 *
 * Shared between the two threads, nothing else:
 *   pvnet_dpdk.stop        worker -> poller, atomic (release/acquire)
 *   pvnet_dpdk.broken_*    poller -> worker, atomic flag published last
 *   pvnet_shared.link_up   worker -> poller, atomic (relaxed: a hint)
 *   pvbe_queue.st          poller writes, control.c reads: plain 64-bit
 *                          counters read racily for statistics; we live
 *                          with a value that is one packet old.
 */
#ifndef PVBE_NET_DPDK_H
#define PVBE_NET_DPDK_H

#include "net.h"

#define PVNET_DPDK_BURST	32

#endif
