// SPDX-License-Identifier: GPL-2.0
/*
 * net/dpdk.c - a net device on a DPDK ethdev port instead of a TAP:
 * `net = dpdk,DEVARGS` (any PMD: net_tap, net_af_packet, net_memif, or a
 * PCI address of a NIC bound to vfio-pci).  This file sets the device up
 * and owns its poll thread's life; the data path the thread runs is in
 * net/dpdk_path.c.
 *
 *   supervisor   parse (keys), setup (rx FIFOs, the shared link page);
 *                nothing of DPDK: EAL state does not survive fork().
 *   worker       first ops->init: rte_eal_init() once per worker process
 *                with every DPDK device's devargs, then each port is
 *                configured and started with an mbuf pool in hugepages;
 *                ops->spawn: the device's poll thread, once, parked;
 *                ops->start / ops->stop: let it serve (pvbe_net_dpdk_serve(),
 *                net/dpdk_path.c) and wait for it to park again;
 *                ops->kick: act on a BROKEN the poll thread deferred.
 *
 * The threading contract is in net/dpdk.h.  Nothing here touches the guest
 * queues while the poll thread runs.  Everything that needs privileges --
 * EAL, hugepages, device files, the port, the poll thread itself, pinned
 * and registered as an lcore -- is done before the worker is sandboxed;
 * at run time the port is only polled, under the same sandbox as every
 * other worker (core/sandbox.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/log.h"
#include "core/sandbox.h"
#include "net/net.h"
#include "net/dpdk.h"

#ifndef PVIO_HAVE_DPDK

int pvbe_net_dpdk_parse(struct pvbe_dev *dev, const char *devargs, int line)
{
	pvbe_err(dev->tag, "line %d: net = dpdk,%s: this pviod was built without DPDK (install libdpdk-dev, then rebuild)",
		 line, devargs);
	return -EOPNOTSUPP;
}

#else

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <rte_alarm.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#define PVBE_NET_DPDK_RXD		512
#define PVBE_NET_DPDK_TXD		512
#define PVBE_NET_DPDK_CSUM_OFF	(RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM)

extern const struct pvbe_dev_ops pvbe_net_ops;
static const struct pvbe_dev_ops pvbe_net_dpdk_ops;


/* ---- configuration (supervisor) ----------------------------------------- */

/* 0000:00:03.0 or 00:03.0: a PCI device, given to EAL with -a. */
static bool is_pci(const char *name)
{
	unsigned int a, b, c, d;
	char tail;

	return sscanf(name, "%x:%x:%x.%x%c", &a, &b, &c, &d, &tail) == 4 ||
	       sscanf(name, "%x:%x.%x%c", &b, &c, &d, &tail) == 3;
}

static int parse_key_uint(struct pvbe_dev *dev, const char *key, unsigned int max,
			  unsigned int *out)
{
	const char *v = pvbe_dev_param(dev->cfg, key);
	unsigned long x;
	char *end;

	if (!v)
		return 0;
	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno || end == v || *end || *v == '-' || x > max) {
		pvbe_err(dev->tag, "%s = %s: want 0..%u", key, v, max);
		return -EINVAL;
	}
	*out = (unsigned int)x;
	return 0;
}

int pvbe_net_dpdk_parse(struct pvbe_dev *dev, const char *devargs, int line)
{
	struct pvbe_net_dev *nd = dev->priv;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct pvbe_net_dpdk *dp;
	size_t n;

	n = strcspn(devargs, ",");
	if (!n || n >= sizeof(dp->name) || strlen(devargs) >= sizeof(dp->devargs) ||
	    strpbrk(devargs, " \t")) {
		pvbe_err(dev->tag, "line %d: net = dpdk,%s: want DEVARGS like net_tap0,iface=dtap0 or a PCI address",
			 line, devargs);
		return -EINVAL;
	}
	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	memcpy(dp->name, devargs, n);
	strcpy(dp->devargs, devargs);
	dp->pci = is_pci(dp->name);
	if (!dp->pci && strncmp(dp->name, "net_", 4)) {
		pvbe_err(dev->tag, "line %d: net = dpdk,%s: '%s' is neither a PCI address nor a virtual device (net_tap0, net_af_packet0, net_memif0, ...)",
			 line, devargs, dp->name);
		free(dp);
		return -EINVAL;
	}
	dp->cpu = ncpu > 0 ? (unsigned int)ncpu - 1 : 0;
	dp->idle_us = 100;
	if (parse_key_uint(dev, "poll_cpu", CPU_SETSIZE - 1, &dp->cpu) ||
	    parse_key_uint(dev, "poll_idle_us", 1000000, &dp->idle_us)) {
		free(dp);
		return -EINVAL;
	}
	nd->dpdk = dp;
	dev->ops = &pvbe_net_dpdk_ops;
	return 0;
}

static int dpdk_setup(struct pvbe_dev *dev)
{
	struct pvbe_net_dev *nd = dev->priv;
	struct pvbe_net_dpdk *dp = nd->dpdk;
	unsigned int i;

	for (i = 0; i < nd->npairs; i++) {
		dp->pair[i].size = dev->cfg->queue_size;
		dp->pair[i].fifo = calloc(dp->pair[i].size, sizeof(struct pvbe_net_rxbuf));
		if (!dp->pair[i].fifo)
			return -ENOMEM;	/* uninit frees what there is */
	}
	pvbe_info(dev->tag, "DPDK port %s: set up by each worker (poll thread on CPU %u)",
		  dp->devargs, dp->cpu);
	return 0;
}

/* Undo parse and setup. */
static void dpdk_uninit(struct pvbe_dev *dev)
{
	struct pvbe_net_dev *nd = dev->priv;
	unsigned int i;

	if (!nd)
		return;
	for (i = 0; i < nd->npairs; i++)
		free(nd->dpdk->pair[i].fifo);
	free(nd->dpdk);
	free(nd);
	dev->priv = NULL;
}

/* ---- EAL and ports (worker, once per process) --------------------------- */

/* EAL, once per worker, with every DPDK device of its guest at once. */
static int eal_init(struct pvbe_guest *g)
{
	static int state;	/* 0: not yet, 1: up, <0: failed */
	char *argv[16 + 2 * PVIO_MAX_DEVICES], cores[256] = "", line[1024];
	int j;
	cpu_set_t saved, want;
	sigset_t all, old;
	unsigned int i, argc = 0;
	bool pci = false;
	int len = 0, ret;

	if (state)
		return state < 0 ? state : 0;
	argv[argc++] = "pviod";
	argv[argc++] = "--in-memory";
	argv[argc++] = "--no-telemetry";
	argv[argc++] = "-l";
	argv[argc++] = cores;
	CPU_ZERO(&want);
	for (j = 0; j < g->ndev; j++) {
		struct pvbe_net_dpdk *dp;

		if (g->dev[j].ops != &pvbe_net_dpdk_ops)
			continue;
		dp = ((struct pvbe_net_dev *)g->dev[j].priv)->dpdk;
		CPU_SET(dp->cpu, &want);
		argv[argc++] = dp->pci ? "-a" : "--vdev";
		argv[argc++] = dp->devargs;
		pci |= dp->pci;
	}
	for (i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &want))
			len += snprintf(cores + len, sizeof(cores) - (size_t)len, "%s%u",
					len ? "," : "", i);
	len = 0;
	if (!pci)
		argv[argc++] = "--no-pci";	/* never probe the host's own NICs */
	argv[argc] = NULL;
	for (i = 0; i < argc && len < (int)sizeof(line); i++)
		len += snprintf(line + len, sizeof(line) - len, " %s", argv[i]);
	pvbe_info("dpdk", "rte_eal_init:%s", line);

	/*
	 * EAL pins the calling thread to its main lcore and starts threads of
	 * its own: keep the worker's CPUs, and keep signals off EAL's threads
	 * (SIGTERM must reach the worker's signalfd, not kill it elsewhere).
	 */
	sched_getaffinity(0, sizeof(saved), &saved);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = rte_eal_init((int)argc, argv);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	sched_setaffinity(0, sizeof(saved), &saved);
	if (ret < 0) {
		ret = -rte_errno;
		pvbe_err("dpdk", "rte_eal_init: %s (hugepages reserved? echo 256 > /proc/sys/vm/nr_hugepages)",
			 rte_strerror(rte_errno));
		state = ret ? ret : -EIO;
		return state;
	}
	state = 1;
	pvbe_info("dpdk", "EAL up: %u port(s)", rte_eth_dev_count_avail());
	return 0;
}

static int port_setup(struct pvbe_dev *dev)
{
	struct pvbe_net_dev *nd = dev->priv;
	struct pvbe_net_dpdk *dp = nd->dpdk;
	struct rte_eth_conf conf;
	struct rte_eth_dev_info di;
	uint16_t rxd = PVBE_NET_DPDK_RXD, txd = PVBE_NET_DPDK_TXD;
	unsigned int i, nmbufs, room, mtu;
	char pname[RTE_MEMPOOL_NAMESIZE];
	int sock, ret;

	if (rte_eth_dev_get_port_by_name(dp->name, &dp->port)) {
		pvbe_err(dev->tag, "no DPDK port '%s' after EAL init (devargs %s): see EAL's messages above",
			 dp->name, dp->devargs);
		return -ENODEV;
	}
	ret = rte_eth_dev_info_get(dp->port, &di);
	if (ret)
		return ret;
	if (nd->npairs > di.max_rx_queues || nd->npairs > di.max_tx_queues) {
		pvbe_err(dev->tag, "DPDK port %s (%s): %u queue pair(s) configured, the port has %u rx / %u tx queues",
			 dp->name, di.driver_name, nd->npairs, di.max_rx_queues, di.max_tx_queues);
		return -EINVAL;
	}
	sock = rte_eth_dev_socket_id(dp->port);
	if (sock < 0)
		sock = SOCKET_ID_ANY;
	/* rx descriptors and tx in flight of every pair, bursts, caches */
	nmbufs = nd->npairs * (PVBE_NET_DPDK_RXD + PVBE_NET_DPDK_TXD + 4 * PVBE_NET_DPDK_BURST) + 1024;
	snprintf(pname, sizeof(pname), "pvnet%u", dev->g->index * PVIO_MAX_DEVICES + dev->index);
	dp->pool = rte_pktmbuf_pool_create(pname, nmbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, sock);
	if (!dp->pool) {
		pvbe_err(dev->tag, "mbuf pool of %u: %s (hugepages?)", nmbufs,
			 rte_strerror(rte_errno));
		return -ENOMEM;
	}
	room = RTE_MBUF_DEFAULT_DATAROOM;

	memset(&conf, 0, sizeof(conf));
	conf.txmode.offloads = di.tx_offload_capa &
		(RTE_ETH_TX_OFFLOAD_MULTI_SEGS | RTE_ETH_TX_OFFLOAD_IPV4_CKSUM |
		 PVBE_NET_DPDK_CSUM_OFF | RTE_ETH_TX_OFFLOAD_TCP_TSO);
	if (!(conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) ||
	    !(conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM))
		conf.txmode.offloads &= ~RTE_ETH_TX_OFFLOAD_TCP_TSO;
	/*
	 * net_tap's TSO refuses a segment whose frame (headers included) is
	 * larger than the MTU, i.e. every full-sized one: the guest segments.
	 */
	if (!strcmp(di.driver_name, "net_tap") &&
	    (conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_TCP_TSO)) {
		conf.txmode.offloads &= ~RTE_ETH_TX_OFFLOAD_TCP_TSO;
		pvbe_info(dev->tag, "DPDK port %s: not using net_tap's TSO (it refuses MTU-sized segments); HOST_TSO4/6 not offered",
			  dp->name);
	}
	conf.rxmode.offloads = di.rx_offload_capa &
		(RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM |
		 RTE_ETH_RX_OFFLOAD_SCATTER);
	/* The largest MTU the port takes (frame = MTU + 18 within max_rx_pktlen). */
	mtu = nd->max_mtu;
	if (di.max_mtu && mtu > di.max_mtu)
		mtu = di.max_mtu;
	if (di.max_rx_pktlen > 18 && mtu > di.max_rx_pktlen - 18)
		mtu = di.max_rx_pktlen - 18;
	if (!(conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_SCATTER) && mtu + 18 > room)
		mtu = room - 18;
	if (!(conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) && mtu + 18 > room)
		mtu = room - 18;
	if (mtu < PVBE_NET_MIN_MTU) {
		pvbe_err(dev->tag, "DPDK port %s: MTU %u too small", dp->name, mtu);
		return -EINVAL;
	}
	conf.rxmode.mtu = mtu;
	ret = rte_eth_dev_configure(dp->port, (uint16_t)nd->npairs, (uint16_t)nd->npairs, &conf);
	if (!ret)
		ret = rte_eth_dev_adjust_nb_rx_tx_desc(dp->port, &rxd, &txd);
	for (i = 0; !ret && i < nd->npairs; i++) {
		struct rte_eth_rxconf rxc = di.default_rxconf;
		struct rte_eth_txconf txc = di.default_txconf;

		rxc.offloads = conf.rxmode.offloads;
		txc.offloads = conf.txmode.offloads;
		ret = rte_eth_rx_queue_setup(dp->port, (uint16_t)i, rxd, (unsigned int)sock, &rxc, dp->pool);
		if (!ret)
			ret = rte_eth_tx_queue_setup(dp->port, (uint16_t)i, txd, (unsigned int)sock, &txc);
	}
	if (!ret) {
		int r = rte_eth_dev_set_mtu(dp->port, (uint16_t)mtu);

		if (r && r != -ENOTSUP)
			pvbe_warn(dev->tag, "DPDK port %s: set MTU %u: %s", dp->name, mtu,
				  rte_strerror(-r));
		rte_eth_promiscuous_enable(dp->port);	/* the guest's MAC is its own */
		ret = rte_eth_dev_start(dp->port);
	}
	if (ret) {
		pvbe_err(dev->tag, "DPDK port %s (%s): configure/start: %s", dp->name,
			 di.driver_name, rte_strerror(ret < 0 ? -ret : ret));
		return ret < 0 ? ret : -EIO;
	}
	dp->tx_off = conf.txmode.offloads;
	dp->port_mtu = mtu;
	dp->ready = true;
	pvbe_info(dev->tag, "DPDK port %u %s (%s): %u pair(s), %u/%u rx/tx descriptors, MTU up to %u, tx offloads %#" PRIx64 " (csum %s, TSO %s), rx offloads %#" PRIx64 ", %u mbufs",
		  dp->port, dp->name, di.driver_name, nd->npairs, rxd, txd, mtu,
		  (uint64_t)dp->tx_off,
		  (dp->tx_off & PVBE_NET_DPDK_CSUM_OFF) == PVBE_NET_DPDK_CSUM_OFF ? "port" : "software",
		  dp->tx_off & RTE_ETH_TX_OFFLOAD_TCP_TSO ? "port" : "not offered",
		  (uint64_t)conf.rxmode.offloads, nmbufs);
	return 0;
}

/*
 * Worker, once, when it starts: EAL with this guest's DPDK devices (a
 * worker serves one guest, so only those), and this device's port.
 */
static int dpdk_prepare(struct pvbe_dev *dev)
{
	struct pvbe_net_dev *nd = dev->priv;
	int ret;

	ret = eal_init(dev->g);
	if (ret)
		return ret;
	return nd->dpdk->ready ? 0 : port_setup(dev);
}

/* Worker, on every fresh layout and takeover: the config area. */
static int dpdk_init(struct pvbe_dev *dev)
{
	struct pvbe_net_dev *nd = dev->priv;
	struct pvbe_net_dpdk *dp = nd->dpdk;
	int ret;

	if (!dp->ready)
		return -ENODEV;
	if (nd->max_mtu > dp->port_mtu) {
		pvbe_warn(dev->tag, "max_mtu %u capped to %u, the DPDK port's largest",
			  nd->max_mtu, dp->port_mtu);
		nd->max_mtu = dp->port_mtu;
	}
	if (nd->mtu > nd->max_mtu)
		nd->mtu = nd->max_mtu;
	ret = pvbe_net_ops.init(dev);		/* the config area, as for a TAP */
	if (ret)
		return ret;
	/* No LRO: never large rx; TSO only when the port segments. */
	dev->host_features &= ~((1ull << PVIO_NET_F_GUEST_TSO4) | (1ull << PVIO_NET_F_GUEST_TSO6));
	if (!(dp->tx_off & RTE_ETH_TX_OFFLOAD_TCP_TSO))
		dev->host_features &= ~((1ull << PVIO_NET_F_HOST_TSO4) |
					(1ull << PVIO_NET_F_HOST_TSO6));
	return 0;
}

/* ---- the poll thread's life (worker) ------------------------------------ */

/*
 * Worker: a doorbell or the heartbeat for one of the device's queues.  The
 * poll thread serves the queues; only a deferred BROKEN is ours to act on.
 */
static void dpdk_kick(struct pvbe_queue *q)
{
	struct pvbe_dev *d = q->dev;
	struct pvbe_net_dpdk *dp = ((struct pvbe_net_dev *)d->priv)->dpdk;

	/* Pairs with the release in pvbe_net_dpdk_defer_broken() (net/dpdk_path.c). */
	if (__atomic_load_n(&dp->broken_pending, __ATOMIC_ACQUIRE)) {
		/* the worker thread: this time it stops the device (joins) */
		pvbe_dev_mark_broken(d, dp->broken_reason, "%s (poll thread)",
				     dp->broken_msg);
		return;
	}
	/*
	 * The gate passed (pvbe_queue_run): whatever the guest last wrote to
	 * its status and reset fields has been acted on.  The poll thread
	 * serves as long as it finds those values (net/dpdk_path.c).
	 */
	__atomic_store_n(&dp->gate_status, d->seen_status, __ATOMIC_RELEASE);
	__atomic_store_n(&dp->gate_reset, d->seen_reset, __ATOMIC_RELEASE);
}

static void pairs_reset(struct pvbe_net_dev *nd)
{
	unsigned int i;

	for (i = 0; i < nd->npairs; i++) {
		struct pvbe_net_dpdk_pair *pp = &nd->dpdk->pair[i];

		while (pp->rx_i < pp->rx_n)
			rte_pktmbuf_free(pp->rx[pp->rx_i++]);
		pp->rx_i = pp->rx_n = 0;
		pp->head = pp->count = 0;	/* the guest forgets them: it resets */
	}
}

struct confine {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const char *tag;
	bool done;
	int ret;
};

/* On EAL's interrupt thread (an alarm): the worker's view for it too. */
static void confine_cb(void *arg)
{
	struct confine *c = arg;
	int ret = pvbe_sandbox_empty_root(c->tag);

	pthread_mutex_lock(&c->mu);
	c->ret = ret;
	c->done = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/*
 * Worker, as root, right after its own empty root (core/sandbox.c):
 * EAL's interrupt thread was made by rte_eal_init() before it, with the
 * host's root and mounts, which a thread does not share once the main
 * thread has left them.  It leaves them too, from an alarm it runs.
 * Once per worker (one EAL for all its DPDK devices).
 */
static int dpdk_confine(struct pvbe_dev *dev)
{
	static bool confined;
	struct confine c = {
		.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
		.tag = dev->tag,
	};
	struct timespec until;
	int ret;

	if (confined)
		return 0;
	ret = rte_eal_alarm_set(1, confine_cb, &c);
	if (ret) {
		pvbe_err(dev->tag, "EAL alarm: %s", rte_strerror(-ret));
		return ret;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&c.mu);
	while (!c.done && ret == 0)
		ret = pthread_cond_timedwait(&c.cv, &c.mu, &until);
	pthread_mutex_unlock(&c.mu);
	if (!c.done) {
		/* Still set: it must not run on our stack later. */
		rte_eal_alarm_cancel(confine_cb, &c);
		pvbe_err(dev->tag, "EAL's interrupt thread did not answer in 5 s");
		return -ETIMEDOUT;
	}
	confined = c.ret == 0;
	return c.ret;
}

/* The poll thread: pinned and an lcore once, then served when told. */
static void *poll_thread(void *arg)
{
	struct pvbe_net_dev *nd = arg;
	struct pvbe_net_dpdk *dp = nd->dpdk;
	cpu_set_t cpus;

	pthread_setname_np(pthread_self(), "pvnet-poll");
	CPU_ZERO(&cpus);
	CPU_SET(dp->cpu, &cpus);
	if (pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus))
		pvbe_warn(nd->dev->tag, "poll thread: cannot pin to CPU %u", dp->cpu);
	/* An lcore id gives this thread per-lcore mempool caches. */
	if (rte_thread_register())
		pvbe_warn(nd->dev->tag, "poll thread: rte_thread_register: %s (no mempool cache)",
			  rte_strerror(rte_errno));
	pthread_mutex_lock(&dp->mu);
	for (;;) {
		dp->parked = true;
		pthread_cond_broadcast(&dp->cv);
		while (!dp->run)
			pthread_cond_wait(&dp->cv, &dp->mu);
		dp->parked = false;
		pthread_mutex_unlock(&dp->mu);
		pvbe_net_dpdk_serve(nd);
		pthread_mutex_lock(&dp->mu);
		dp->run = false;
	}
	return NULL;
}

/*
 * Worker, in the sandbox before the filter (threads.c): the poll thread,
 * made now so that nothing is made once the filter is in place.  It
 * lives as long as the worker.
 */
static int dpdk_spawn(struct pvbe_dev *dev)
{
	struct pvbe_net_dev *nd = dev->priv;
	struct pvbe_net_dpdk *dp = nd->dpdk;
	sigset_t all, old;
	int ret;

	if (dp->spawned)
		return 0;
	pthread_mutex_init(&dp->mu, NULL);
	pthread_cond_init(&dp->cv, NULL);
	dp->run = false;
	dp->parked = false;
	/* No signal but the filter's (a refused call is logged, not fatal). */
	sigfillset(&all);
	sigdelset(&all, SIGSYS);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(&dp->thread, NULL, poll_thread, nd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		pvbe_err(dev->tag, "DPDK port %s: poll thread: %s", dp->name, strerror(ret));
		return -ret;
	}
	/* Pinned and registered before the filter forbids both. */
	pthread_mutex_lock(&dp->mu);
	while (!dp->parked)
		pthread_cond_wait(&dp->cv, &dp->mu);
	pthread_mutex_unlock(&dp->mu);
	dp->spawned = true;
	return 0;
}

static void dpdk_start(struct pvbe_dev *dev)
{
	struct pvbe_net_dev *nd = dev->priv;
	struct pvbe_net_dpdk *dp = nd->dpdk;

	if (!dp->spawned) {
		pvbe_dev_mark_broken(dev, PVIO_BROKEN_BACKEND, "no poll thread");
		return;
	}
	nd->features = dev->guest_features;
	pairs_reset(nd);
	dp->gate_status = dev->seen_status;
	dp->gate_reset = dev->seen_reset;
	dp->paused = false;
	dp->stop = false;
	dp->failed = false;
	dp->broken_pending = false;
	/* Everything above happens before the thread serves (the lock). */
	pthread_mutex_lock(&dp->mu);
	dp->run = true;
	pthread_cond_broadcast(&dp->cv);
	pthread_mutex_unlock(&dp->mu);
	dp->thread_live = true;
	pvbe_info(dev->tag, "DPDK port %s: poll thread on CPU %u serves %u pair(s), link %s",
		  dp->name, dp->cpu, nd->npairs, nd->sh->link_up ? "up" : "down");
}

/*
 * Worker, from every path that stops the device (reset, driver_status 0,
 * BROKEN, disconnect): the poll thread is gone when this returns, so the
 * caller may re-initialise the rings.
 */
static int dpdk_stop(struct pvbe_dev *dev)
{
	struct pvbe_net_dev *nd = dev->priv;
	struct pvbe_net_dpdk *dp = nd->dpdk;

	if (dp->thread_live) {
		/* Pairs with the acquire in pvbe_net_dpdk_serve(). */
		__atomic_store_n(&dp->stop, true, __ATOMIC_RELEASE);
		pthread_mutex_lock(&dp->mu);
		while (dp->run || !dp->parked)
			pthread_cond_wait(&dp->cv, &dp->mu);
		pthread_mutex_unlock(&dp->mu);
		dp->thread_live = false;
	}
	dp->broken_pending = false;
	pairs_reset(nd);
	nd->features = 0;
	return 0;
}

/* The port's poll thread serves the queues; the main thread starts it. */
static unsigned int dpdk_queue_group(struct pvbe_queue *q)
{
	(void)q;
	return PVBE_QUEUE_GROUP_MAIN;
}

static const struct pvbe_dev_ops pvbe_net_dpdk_ops = {
	.type = PVIO_DEV_NET,
	.name = "net",
	.sq_esize = sizeof(struct pvio_desc),
	.cq_esize = sizeof(struct pvio_cpl),
	.config_len = sizeof(struct pvio_net_config),
	.setup = dpdk_setup,
	.uninit = dpdk_uninit,
	.prepare = dpdk_prepare,
	.init = dpdk_init,
	.kick = dpdk_kick,
	.start = dpdk_start,
	.stop = dpdk_stop,
	.sup_control = pvbe_net_sup_control,
	.control = pvbe_net_control,
	.defer_broken = pvbe_net_dpdk_defer_broken,
	.queue_group = dpdk_queue_group,
	.confine = dpdk_confine,
	.spawn = dpdk_spawn,
};

#endif /* PVIO_HAVE_DPDK */
