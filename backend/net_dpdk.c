// SPDX-License-Identifier: GPL-2.0
/*
 * net_dpdk.c - a net device on a DPDK ethdev port instead of a TAP:
 * `net = dpdk,DEVARGS` (any PMD: net_tap, net_af_packet, net_memif, or a
 * PCI address of a NIC bound to vfio-pci).
 *
 *   supervisor   parse (keys), setup (rx FIFOs, the shared link page);
 *                nothing of DPDK: EAL state does not survive fork().
 *   worker       first ops->init: rte_eal_init() once per worker process
 *                with every DPDK device's devargs, then each port is
 *                configured and started with an mbuf pool in hugepages;
 *                ops->start / ops->stop: the device's poll thread.
 *   poll thread  busy-polls rte_eth_rx_burst()/tx_burst() and the guest's
 *                rings of every queue pair of the device; sleeps
 *                poll_idle_us after 1000 empty rounds (0: never).
 *
 * The threading contract is in net_dpdk.h.  Data is copied both ways
 * (guest chain -> mbufs, mbufs -> guest chain): the tx header is copied
 * once into private memory and checked by the TAP path's own
 * pvnet_tx_hdr_check(), the frame is parsed for offloads only in the mbuf
 * copy.  Offloads: guest NEEDS_CSUM -> the port's TCP/UDP checksum offload
 * when it has it, else checksummed here; guest TCP GSO -> the port's TSO
 * (HOST_TSO4/6 offered only when it has TCP_TSO and multi-segment tx); rx
 * RTE_MBUF_F_RX_L4_CKSUM_GOOD -> DATA_VALID.  No LRO: GUEST_TSO4/6 are not
 * offered, rx packets are at most one MTU.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"
#include "net.h"
#include "net_dpdk.h"

#ifndef PVIO_HAVE_DPDK

int pvnet_dpdk_parse(struct pvbe_dev *dev, const char *devargs, int line)
{
	pvbe_err(dev->tag, "line %d: net = dpdk,%s: this pviod was built without DPDK (install libdpdk-dev, then rebuild)",
		 line, devargs);
	return -EOPNOTSUPP;
}

#else

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>

#define PVNET_DPDK_MAX_DEVS	32
#define PVNET_DPDK_RXD		512
#define PVNET_DPDK_TXD		512
#define PVNET_DPDK_IDLE_ROUNDS	1000
#define PVNET_DPDK_CSUM_OFF	(RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM)

extern const struct pvbe_dev_ops pvbe_net_ops;
static const struct pvbe_dev_ops pvnet_dpdk_ops;

/* One queue pair: rx chains waiting for packets, packets waiting for chains. */
struct pvnet_dpdk_pair {
	struct pvnet_rxbuf *fifo;	/* supervisor-allocated, size = queue_size */
	unsigned int head, count, size;
	struct rte_mbuf *rx[PVNET_DPDK_BURST];	/* received, not delivered yet */
	unsigned int rx_i, rx_n;
};

struct pvnet_dpdk {
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
	/* worker: the poll thread */
	pthread_t thread;
	bool thread_live;
	bool stop;			/* worker -> poller, atomic */
	/* poller -> worker: a protocol violation to act on (defer_broken) */
	bool failed;			/* poller's own: stop serving */
	uint32_t broken_reason;
	char broken_msg[256];
	bool broken_pending;		/* atomic; written last (release) */
	struct pvnet_dpdk_pair pair[PVNET_MAX_PAIRS];
};

/* The device whose poll thread this is (NULL on the worker thread). */
static __thread struct pvnet_dpdk *poll_self;

/* Every DPDK device of the configuration: EAL takes them all at once. */
static struct pvbe_dev *dpdk_devs[PVNET_DPDK_MAX_DEVS];
static unsigned int ndpdk_devs;

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

int pvnet_dpdk_parse(struct pvbe_dev *dev, const char *devargs, int line)
{
	struct pvnet_dev *nd = dev->priv;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct pvnet_dpdk *dp;
	size_t n;

	if (ndpdk_devs == PVNET_DPDK_MAX_DEVS) {
		pvbe_err(dev->tag, "line %d: more than %d DPDK net devices", line,
			 PVNET_DPDK_MAX_DEVS);
		return -EINVAL;
	}
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
	dev->ops = &pvnet_dpdk_ops;
	dpdk_devs[ndpdk_devs++] = dev;
	return 0;
}

static int dpdk_setup(struct pvbe_dev *dev)
{
	struct pvnet_dev *nd = dev->priv;
	struct pvnet_dpdk *dp = nd->dpdk;
	unsigned int i;

	nd->sh = mmap(NULL, sizeof(*nd->sh), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (nd->sh == MAP_FAILED) {
		nd->sh = NULL;
		return -errno;
	}
	nd->sh->link_up = true;
	for (i = 0; i < nd->npairs; i++) {
		dp->pair[i].size = dev->cfg->queue_size;
		dp->pair[i].fifo = calloc(dp->pair[i].size, sizeof(struct pvnet_rxbuf));
		if (!dp->pair[i].fifo)
			return -ENOMEM;	/* uninit frees what there is */
	}
	pvbe_info(dev->tag, "DPDK port %s: set up by each worker (poll thread on CPU %u)",
		  dp->devargs, dp->cpu);
	return 0;
}

static void dpdk_uninit(struct pvbe_dev *dev)
{
	struct pvnet_dev *nd = dev->priv;
	unsigned int i;

	for (i = 0; i < nd->npairs; i++) {
		free(nd->dpdk->pair[i].fifo);
		nd->dpdk->pair[i].fifo = NULL;
	}
	if (nd->sh)
		munmap(nd->sh, sizeof(*nd->sh));
	nd->sh = NULL;
}

/* ---- EAL and ports (worker, once per process) --------------------------- */

static int eal_init(void)
{
	static int state;	/* 0: not yet, 1: up, <0: failed */
	char *argv[16 + 2 * PVNET_DPDK_MAX_DEVS], cores[256] = "", line[1024];
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
	for (i = 0; i < ndpdk_devs; i++) {
		struct pvnet_dpdk *dp = ((struct pvnet_dev *)dpdk_devs[i]->priv)->dpdk;

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
	struct pvnet_dev *nd = dev->priv;
	struct pvnet_dpdk *dp = nd->dpdk;
	struct rte_eth_conf conf;
	struct rte_eth_dev_info di;
	uint16_t rxd = PVNET_DPDK_RXD, txd = PVNET_DPDK_TXD;
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
	nmbufs = nd->npairs * (PVNET_DPDK_RXD + PVNET_DPDK_TXD + 4 * PVNET_DPDK_BURST) + 1024;
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
		 PVNET_DPDK_CSUM_OFF | RTE_ETH_TX_OFFLOAD_TCP_TSO);
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
	if (mtu < PVNET_MIN_MTU) {
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
		  (dp->tx_off & PVNET_DPDK_CSUM_OFF) == PVNET_DPDK_CSUM_OFF ? "port" : "software",
		  dp->tx_off & RTE_ETH_TX_OFFLOAD_TCP_TSO ? "port" : "not offered",
		  (uint64_t)conf.rxmode.offloads, nmbufs);
	return 0;
}

/* Worker, on every fresh layout and takeover: the config area. */
static int dpdk_init(struct pvbe_dev *dev)
{
	struct pvnet_dev *nd = dev->priv;
	struct pvnet_dpdk *dp = nd->dpdk;
	unsigned int i;
	int ret;

	ret = eal_init();
	if (ret)
		return ret;
	if (!dp->ready) {
		/* Every DPDK device at once: the first init of this worker. */
		for (i = 0; i < ndpdk_devs; i++) {
			struct pvnet_dev *o = dpdk_devs[i]->priv;

			if (!o->dpdk->ready && (ret = port_setup(dpdk_devs[i])))
				return ret;
		}
	}
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

/* ---- tx: guest chain -> mbufs (poll thread) ----------------------------- */

/* Copy the chain's bytes from @off on, @len of them, into a new mbuf chain. */
static struct rte_mbuf *chain_to_mbuf(struct rte_mempool *pool, const struct pvbe_req *req,
				      uint32_t off, uint32_t len)
{
	struct rte_mbuf *head = rte_pktmbuf_alloc(pool), *cur = head;
	unsigned int i;

	if (!head)
		return NULL;
	for (i = 0; i < req->nslots && len; i++) {
		const char *src = req->buf[i];
		uint32_t n = pvio_le32_to_cpu(req->d[i].len);

		if (off >= n) {
			off -= n;
			continue;
		}
		src += off;
		n -= off;
		off = 0;
		if (n > len)
			n = len;
		len -= n;
		while (n) {
			uint32_t room = rte_pktmbuf_tailroom(cur), k;

			if (!room) {
				struct rte_mbuf *seg = rte_pktmbuf_alloc(pool);

				if (!seg) {
					rte_pktmbuf_free(head);
					return NULL;
				}
				cur->next = seg;
				cur = seg;
				head->nb_segs++;
				room = rte_pktmbuf_tailroom(cur);
			}
			k = n < room ? n : room;
			rte_memcpy(rte_pktmbuf_mtod_offset(cur, char *, cur->data_len), src, k);
			cur->data_len = (uint16_t)(cur->data_len + k);
			head->pkt_len += k;
			src += k;
			n -= k;
		}
	}
	return head;
}

/* Store a 16-bit value at @off of the packet, wherever the segments split it. */
static void mbuf_put16(struct rte_mbuf *m, uint32_t off, uint16_t v)
{
	const uint8_t *b = (const uint8_t *)&v;
	unsigned int k;

	for (k = 0; k < 2; k++, off++) {
		struct rte_mbuf *s = m;
		uint32_t o = off;

		while (s && o >= s->data_len) {
			o -= s->data_len;
			s = s->next;
		}
		if (s)
			*rte_pktmbuf_mtod_offset(s, uint8_t *, o) = b[k];
	}
}

/*
 * The frame's offloads, from our private copy in @m.  The guest's
 * partial checksum becomes the port's L4 checksum offload when the layout
 * is one the port knows (TCP/UDP straight after IPv4/IPv6, optional VLAN),
 * else it is finished here; GSO becomes the port's TSO.
 */
static uint32_t tx_offload(const struct pvnet_dpdk *dp, struct rte_mbuf *m,
			   const struct pvio_net_hdr *h, uint32_t frame)
{
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	uint32_t seg = m->data_len, l2 = 14, l3 = 0, l4, cs, co;
	uint16_t etype = (uint16_t)(p[12] << 8 | p[13]);
	bool gso = h->gso_type != PVIO_NET_GSO_NONE, v4 = false, v6 = false;
	int proto = -1;
	uint16_t raw;

	if (!(h->flags & PVIO_NET_HDR_F_NEEDS_CSUM) && !gso)
		return PVIO_S_OK;
	if (etype == 0x8100 && seg >= 18) {
		l2 = 18;
		etype = (uint16_t)(p[16] << 8 | p[17]);
	}
	if (etype == 0x0800 && seg >= l2 + 20 && (p[l2] >> 4) == 4 && (p[l2] & 15) >= 5) {
		v4 = true;
		l3 = (p[l2] & 15u) * 4;
		proto = p[l2 + 9];
	} else if (etype == 0x86dd && seg >= l2 + 40 && (p[l2] >> 4) == 6) {
		v6 = true;
		l3 = 40;
		proto = p[l2 + 6];
	}
	l4 = l2 + l3;
	if (gso) {
		/* pvnet_tx_hdr_check() let through TCPv4/v6 with the port's TSO only. */
		unsigned int gt = h->gso_type & ~PVIO_NET_GSO_ECN;
		uint32_t thl;

		if (proto != 6 || seg < l4 + 20 || (gt == PVIO_NET_GSO_TCPV4) != v4 ||
		    (gt == PVIO_NET_GSO_TCPV6) != v6)
			return PVIO_S_INVAL;
		thl = (p[l4 + 12] >> 4) * 4u;
		if (thl < 20 || seg < l4 + thl)
			return PVIO_S_INVAL;
		m->l2_len = l2;
		m->l3_len = l3;
		m->l4_len = thl;
		m->tso_segsz = pvio_le16_to_cpu(h->gso_size);
		m->ol_flags |= RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM;
		if (v4) {
			struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(p + l2);

			m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
			ip->hdr_checksum = 0;
			raw = rte_ipv4_phdr_cksum(ip, m->ol_flags);
		} else {
			m->ol_flags |= RTE_MBUF_F_TX_IPV6;
			raw = rte_ipv6_phdr_cksum((struct rte_ipv6_hdr *)(p + l2), m->ol_flags);
		}
		memcpy(p + l4 + 16, &raw, 2);
		return PVIO_S_OK;
	}
	cs = pvio_le16_to_cpu(h->csum_start);
	co = pvio_le16_to_cpu(h->csum_offset);
	if (cs + co + 2 > frame)
		return PVIO_S_INVAL;
	if ((v4 || v6) && cs == l4 && seg >= cs + co + 2 &&
	    ((proto == 6 && co == 16 && (dp->tx_off & RTE_ETH_TX_OFFLOAD_TCP_CKSUM)) ||
	     (proto == 17 && co == 6 && (dp->tx_off & RTE_ETH_TX_OFFLOAD_UDP_CKSUM)))) {
		m->l2_len = l2;
		m->l3_len = l3;
		m->ol_flags |= (proto == 6 ? RTE_MBUF_F_TX_TCP_CKSUM : RTE_MBUF_F_TX_UDP_CKSUM) |
			       (v4 ? RTE_MBUF_F_TX_IPV4 : RTE_MBUF_F_TX_IPV6);
		raw = v4 ? rte_ipv4_phdr_cksum((struct rte_ipv4_hdr *)(p + l2), m->ol_flags)
			 : rte_ipv6_phdr_cksum((struct rte_ipv6_hdr *)(p + l2), m->ol_flags);
		memcpy(p + cs + co, &raw, 2);
		return PVIO_S_OK;
	}
	/*
	 * Software, as Linux's skb_checksum_help(): the field holds the
	 * pseudo-header sum, so summing from csum_start to the end over it and
	 * folding gives the checksum (0 is sent as 0xffff).
	 */
	if (rte_raw_cksum_mbuf(m, cs, frame - cs, &raw))
		return PVIO_S_INVAL;
	raw = (uint16_t)~raw;
	mbuf_put16(m, cs + co, raw ? raw : 0xffff);
	return PVIO_S_OK;
}

/* One tx chain: its status; *@out the mbuf to send, if any. */
static uint32_t tx_build(struct pvnet_dev *nd, struct pvbe_queue *q,
			 const struct pvbe_req *req, struct rte_mbuf **out)
{
	struct pvnet_dpdk *dp = nd->dpdk;
	struct pvio_net_hdr hdr;
	struct rte_mbuf *m;
	uint32_t frame, st, got = 0;
	unsigned int i;

	for (i = 0; i < req->nslots; i++)
		if (!req->buf[i] || (pvio_le16_to_cpu(req->d[i].flags) & PVIO_DESC_F_WRITE))
			return PVIO_S_INVAL;
	if (req->in_bytes < PVNET_HDR_LEN + PVNET_ETH_HLEN ||
	    req->in_bytes > PVNET_HDR_LEN + PVIO_NET_MAX_FRAME)
		return PVIO_S_INVAL;
	frame = req->in_bytes - PVNET_HDR_LEN;
	/* The header once into private memory, then checked there. */
	for (i = 0; i < req->nslots && got < sizeof(hdr); i++) {
		uint32_t n = pvio_le32_to_cpu(req->d[i].len);

		if (n > sizeof(hdr) - got)
			n = sizeof(hdr) - got;
		memcpy((char *)&hdr + got, req->buf[i], n);
		got += n;
	}
	st = pvnet_tx_hdr_check(nd, &hdr);
	if (st)
		return st;
	if (!__atomic_load_n(&nd->sh->link_up, __ATOMIC_RELAXED)) {
		q->st.drops++;
		return PVIO_S_OK;
	}
	m = chain_to_mbuf(dp->pool, req, PVNET_HDR_LEN, frame);
	if (!m) {
		q->st.drops++;		/* pool empty: a drop, like a full TAP */
		return PVIO_S_OK;
	}
	st = tx_offload(dp, m, &hdr, frame);
	if (st) {
		rte_pktmbuf_free(m);
		return st;
	}
	*out = m;
	return PVIO_S_OK;
}

/* Serve tx queue 2i+1; returns chains taken. */
static unsigned int tx_round(struct pvnet_dev *nd, unsigned int i)
{
	struct pvnet_dpdk *dp = nd->dpdk;
	struct pvbe_queue *q = &nd->dev->q[2 * i + 1];
	struct rte_mbuf *pkts[PVNET_DPDK_BURST];
	unsigned int n = 0, done = 0, sent = 0, k;
	struct pvio_cpl cpl;
	struct pvbe_req req;
	int r;

	if (!q->running)
		return 0;
	while (done < PVNET_DPDK_BURST) {
		struct rte_mbuf *m = NULL;

		r = pvbe_queue_cq_space(q);
		if (r <= 0)
			break;		/* full: the guest reaps, we look again */
		r = pvbe_queue_pop(q, &req);
		if (r <= 0)
			break;		/* empty, or broken (deferred) */
		memset(&cpl, 0, sizeof(cpl));
		cpl.id = pvio_cpu_to_le16(req.id);
		/* Copied out: the guest may have its buffers back at once. */
		cpl.status = pvio_cpu_to_le32(tx_build(nd, q, &req, &m));
		pvbe_queue_post(q, &cpl);
		if (m)
			pkts[n++] = m;
		done++;
	}
	for (k = 0; k < 4 && sent < n; k++)
		sent += rte_eth_tx_burst(dp->port, (uint16_t)i, pkts + sent, (uint16_t)(n - sent));
	for (k = 0; k < sent; k++) {
		q->st.packets++;
		q->st.bytes += pkts[k]->pkt_len;
	}
	for (k = sent; k < n; k++) {
		q->st.drops++;		/* the port's ring stayed full */
		rte_pktmbuf_free(pkts[k]);
	}
	if (done && !dp->failed)
		pvbe_queue_flush(q);
	return done;
}

/* ---- rx: mbufs -> guest chains (poll thread) ---------------------------- */

/* Stock the FIFO while the CQ has a slot for every chain in it (net_path.c). */
static int rx_refill(struct pvnet_dpdk_pair *pp, struct pvbe_queue *q)
{
	return pvnet_rx_stock(q, pp->fifo, pp->head, &pp->count, pp->size);
}

static struct pvnet_rxbuf *fifo_at(struct pvnet_dpdk_pair *pp, unsigned int k)
{
	return &pp->fifo[(pp->head + k) % pp->size];
}

/* A writer over consecutive FIFO chains, from the oldest on. */
struct rx_cursor {
	struct pvnet_dpdk_pair *pp;
	unsigned int chain, iov;
	size_t off;
};

static void rx_put(struct rx_cursor *c, const void *src, uint32_t len)
{
	while (len) {
		const struct pvnet_rxbuf *b = fifo_at(c->pp, c->chain);
		size_t n = b->iov[c->iov].iov_len - c->off;

		if (n > len)
			n = len;
		rte_memcpy((char *)b->iov[c->iov].iov_base + c->off, src, n);
		src = (const char *)src + n;
		len -= (uint32_t)n;
		c->off += n;
		if (c->off == b->iov[c->iov].iov_len) {
			c->off = 0;
			if (++c->iov == b->niov) {
				c->iov = 0;
				c->chain++;
			}
		}
	}
}

/*
 * Deliver one packet into the oldest chain(s).  Returns 1 when the mbuf is
 * done with (delivered or dropped), 0 when it must wait for more chains.
 */
static int rx_deliver(struct pvnet_dev *nd, struct pvnet_dpdk_pair *pp,
		      struct pvbe_queue *q, struct rte_mbuf *m)
{
	bool mrg = pvnet_has(nd, PVIO_NET_F_MRG_RXBUF);
	uint32_t total = PVNET_HDR_LEN + m->pkt_len, acc = 0, off = 0;
	struct rx_cursor cur = { .pp = pp };
	struct pvio_net_hdr hdr;
	struct pvio_cpl cpl;
	const struct rte_mbuf *s;
	unsigned int k = 0, j;

	if (m->pkt_len < PVNET_ETH_HLEN || total > PVNET_RX_MAX) {
		q->st.drops++;
		return 1;
	}
	if (!pp->count)
		return 0;
	/* Chains the packet takes: one without MRG_RXBUF, as many as it needs with. */
	while (acc < total && k < pp->count && (mrg || k == 0))
		acc += fifo_at(pp, k++)->cap;
	if (acc < total) {
		if (mrg && pp->count < pp->size)
			return 0;	/* the guest posts more */
		q->st.drops++;
		if (pvnet_ratelimit(nd))
			pvbe_warn(nd->dev->tag, "rx queue %u: %u-byte packet (header included) does not fit the rx buffers: dropped",
				  q->index, total);
		return 1;
	}
	memset(&hdr, 0, sizeof(hdr));
	if (pvnet_has(nd, PVIO_NET_F_GUEST_CSUM) &&
	    (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		hdr.flags = PVIO_NET_HDR_F_DATA_VALID;
	hdr.num_buffers = pvio_cpu_to_le16((uint16_t)k);
	rx_put(&cur, &hdr, sizeof(hdr));
	for (s = m; s; s = s->next)
		rx_put(&cur, rte_pktmbuf_mtod(s, const void *), s->data_len);
	memset(&cpl, 0, sizeof(cpl));
	for (j = 0; j < k; j++) {
		const struct pvnet_rxbuf *b = fifo_at(pp, 0);
		uint32_t n = total - off < b->cap ? total - off : b->cap;

		cpl.id = pvio_cpu_to_le16(b->id);
		cpl.len = pvio_cpu_to_le32(n);
		pvbe_queue_post(q, &cpl);
		off += n;
		pp->head = (pp->head + 1) % pp->size;
		pp->count--;
	}
	q->st.packets++;
	q->st.bytes += m->pkt_len;
	return 1;
}

/* Serve rx queue 2i; returns packets handled. */
static unsigned int rx_round(struct pvnet_dev *nd, unsigned int i)
{
	struct pvnet_dpdk *dp = nd->dpdk;
	struct pvnet_dpdk_pair *pp = &dp->pair[i];
	struct pvbe_queue *q = &nd->dev->q[2 * i];
	unsigned int done = 0;

	if (!q->running)
		return 0;
	if (rx_refill(pp, q))
		return 0;		/* broken (deferred) */
	/* Link down: packets stay in the port, as in the TAP while down. */
	if (__atomic_load_n(&nd->sh->link_up, __ATOMIC_RELAXED)) {
		if (pp->rx_i == pp->rx_n) {
			pp->rx_i = 0;
			pp->rx_n = rte_eth_rx_burst(dp->port, (uint16_t)i, pp->rx, PVNET_DPDK_BURST);
		}
		while (pp->rx_i < pp->rx_n) {
			if (!rx_deliver(nd, pp, q, pp->rx[pp->rx_i]))
				break;
			rte_pktmbuf_free(pp->rx[pp->rx_i++]);
			done++;
			if (rx_refill(pp, q))
				return done;
		}
	}
	pvbe_queue_flush(q);
	return done;
}

/* ---- the poll thread ----------------------------------------------------- */

static void *poll_main(void *arg)
{
	struct pvnet_dev *nd = arg;
	struct pvnet_dpdk *dp = nd->dpdk;
	unsigned int idle = 0, i, work;
	struct timespec ts;
	cpu_set_t cpus;

	poll_self = dp;
	CPU_ZERO(&cpus);
	CPU_SET(dp->cpu, &cpus);
	if (pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus))
		pvbe_warn(nd->dev->tag, "poll thread: cannot pin to CPU %u", dp->cpu);
	/* An lcore id gives this thread per-lcore mempool caches. */
	if (rte_thread_register())
		pvbe_warn(nd->dev->tag, "poll thread: rte_thread_register: %s (no mempool cache)",
			  rte_strerror(rte_errno));
	while (!__atomic_load_n(&dp->stop, __ATOMIC_ACQUIRE) && !dp->failed) {
		work = 0;
		for (i = 0; i < nd->npairs && !dp->failed; i++) {
			work += tx_round(nd, i);
			if (!dp->failed)
				work += rx_round(nd, i);
		}
		if (work) {
			idle = 0;
		} else if (dp->idle_us && ++idle >= PVNET_DPDK_IDLE_ROUNDS) {
			ts.tv_sec = dp->idle_us / 1000000;
			ts.tv_nsec = (long)(dp->idle_us % 1000000) * 1000;
			nanosleep(&ts, NULL);
		}
	}
	rte_thread_unregister();
	return NULL;
}

/*
 * pvbe_dev_mark_broken() on the poll thread: keep the reason, stop
 * serving, and ring the worker (the device's first queue doorbell: its
 * kick, dpdk_kick(), repeats the call on the worker thread).
 */
static bool dpdk_defer_broken(struct pvbe_dev *dev, uint32_t reason, const char *msg)
{
	struct pvnet_dpdk *dp = ((struct pvnet_dev *)dev->priv)->dpdk;
	uint64_t one = 1;

	if (poll_self != dp)
		return false;		/* the worker thread: stop for real */
	if (dp->failed)
		return true;
	dp->failed = true;
	dp->broken_reason = reason;
	snprintf(dp->broken_msg, sizeof(dp->broken_msg), "%s", msg);
	/* reason and msg are visible before the flag */
	__atomic_store_n(&dp->broken_pending, true, __ATOMIC_RELEASE);
	if (write(dev->g->be_efd[dev->q[0].vector], &one, sizeof(one)) < 0)
		pvbe_warn(dev->tag, "poll thread: wake the worker: %s (the heartbeat will)",
			  strerror(errno));
	return true;
}

/*
 * Worker: a doorbell or the heartbeat for one of the device's queues.  The
 * poll thread serves the queues; only a deferred BROKEN is ours to act on.
 */
static void dpdk_kick(struct pvbe_queue *q)
{
	struct pvnet_dpdk *dp = ((struct pvnet_dev *)q->dev->priv)->dpdk;

	if (__atomic_load_n(&dp->broken_pending, __ATOMIC_ACQUIRE))
		/* the worker thread: this time it stops the device (joins) */
		pvbe_dev_mark_broken(q->dev, dp->broken_reason, "%s (poll thread)",
				     dp->broken_msg);
}

static void pairs_reset(struct pvnet_dev *nd)
{
	unsigned int i;

	for (i = 0; i < nd->npairs; i++) {
		struct pvnet_dpdk_pair *pp = &nd->dpdk->pair[i];

		while (pp->rx_i < pp->rx_n)
			rte_pktmbuf_free(pp->rx[pp->rx_i++]);
		pp->rx_i = pp->rx_n = 0;
		pp->head = pp->count = 0;	/* the guest forgets them: it resets */
	}
}

static void dpdk_start(struct pvbe_dev *dev)
{
	struct pvnet_dev *nd = dev->priv;
	struct pvnet_dpdk *dp = nd->dpdk;
	sigset_t all, old;
	int ret;

	nd->features = pvio_le64_to_cpu(pvio_read_once(dev->desc->guest_features));
	pairs_reset(nd);
	dp->stop = false;
	dp->failed = false;
	dp->broken_pending = false;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	/* Everything above happens before the thread runs (pthread_create). */
	ret = pthread_create(&dp->thread, NULL, poll_main, nd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		pvbe_dev_mark_broken(dev, PVIO_BROKEN_BACKEND, "poll thread: %s", strerror(ret));
		return;
	}
	dp->thread_live = true;
	pthread_setname_np(dp->thread, "pvnet-poll");
	pvbe_info(dev->tag, "DPDK port %s: poll thread on CPU %u serves %u pair(s), link %s",
		  dp->name, dp->cpu, nd->npairs, nd->sh->link_up ? "up" : "down");
}

/*
 * Worker, from every path that stops the device (reset, driver_status 0,
 * BROKEN, disconnect): the poll thread is gone when this returns, so the
 * caller may re-initialise the rings.
 */
static void dpdk_stop(struct pvbe_dev *dev)
{
	struct pvnet_dev *nd = dev->priv;
	struct pvnet_dpdk *dp = nd->dpdk;

	if (dp->thread_live) {
		/* Pairs with the acquire in poll_main(). */
		__atomic_store_n(&dp->stop, true, __ATOMIC_RELEASE);
		pthread_join(dp->thread, NULL);
		dp->thread_live = false;
	}
	dp->broken_pending = false;
	pairs_reset(nd);
	nd->features = 0;
}

static const struct pvbe_dev_ops pvnet_dpdk_ops = {
	.type = PVIO_DEV_NET,
	.name = "net",
	.sq_esize = sizeof(struct pvio_desc),
	.cq_esize = sizeof(struct pvio_cpl),
	.config_len = sizeof(struct pvio_net_config),
	.setup = dpdk_setup,
	.uninit = dpdk_uninit,
	.init = dpdk_init,
	.kick = dpdk_kick,
	.start = dpdk_start,
	.stop = dpdk_stop,
	.defer_broken = dpdk_defer_broken,
};

#endif /* PVIO_HAVE_DPDK */
