// SPDX-License-Identifier: GPL-2.0
/*
 * net/net.c - the net device class: its configuration keys, the config
 * area, the link state, start and stop.  The host side is net/tap.c, the
 * data path net/path.c.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "net/net.h"

#define PVBE_NET_VLAN_ETH_HLEN	18


/* At most 5 data-path warnings per 5 s per device; then a count. */
bool pvbe_net_ratelimit(struct pvbe_net_dev *nd)
{
	return pvbe_ratelimit(&nd->log_rl, nd->dev->tag);
}

/* ---- configuration (supervisor) ----------------------------------------- */

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
	struct pvbe_net_dev *nd;
	unsigned int i;
	int k;

	nd = calloc(1, sizeof(*nd));
	if (!nd)
		return -ENOMEM;
	nd->dev = dev;
	/* The link state lives in the persist page: up until told otherwise. */
	nd->sh = (struct pvbe_net_shared *)dev->persist->cls;
	if (!nd->sh->link_set) {
		nd->sh->link_up = true;
		nd->sh->link_set = true;
	}
	dev->priv = nd;
	for (i = 0; i < PVBE_NET_MAX_PAIRS; i++) {
		nd->pair[i].nd = nd;
		nd->pair[i].index = i;
		nd->pair[i].fd = -1;
	}

	/*
	 * net = tap (default) | null (net/null.c: no host side) |
	 * dpdk,DEVARGS (net/dpdk.c takes the device over)
	 */
	p = pvbe_dev_param_get(c, "net");
	if (p && !strcmp(p->val, "null")) {
		nd->null = true;
	} else if (p && strcmp(p->val, "tap")) {
		if (strncmp(p->val, "dpdk,", 5) || !p->val[5]) {
			pvbe_err(dev->tag, "line %d: net = %s: want 'tap', 'null' or 'dpdk,DEVARGS' (e.g. dpdk,net_tap0,iface=dtap0)",
				 p->line, p->val);
			return -EINVAL;
		}
		if (pvbe_net_dpdk_parse(dev, p->val + 5, p->line))
			return -EINVAL;
	}
	p = pvbe_dev_param_get(c, "null_rx");
	if (p && !nd->null) {
		pvbe_err(dev->tag, "line %d: null_rx is for net = null", p->line);
		return -EINVAL;
	}
	if (nd->null && pvbe_net_null_parse(nd, p))
		return -EINVAL;
	p = pvbe_dev_param_get(c, "tap");
	if ((nd->dpdk || nd->null) && (p || pvbe_dev_param_get(c, "bridge"))) {
		pvbe_err(dev->tag, "line %d: 'tap' and 'bridge' are for net = tap; %s",
			 p ? p->line : pvbe_dev_param_get(c, "bridge")->line,
			 nd->null ? "net = null has no host side" :
			 "a DPDK port's devargs name its host side");
		return -EINVAL;
	}
	if (nd->dpdk || nd->null)
		goto common;
	if (!p) {
		pvbe_err(dev->tag, "net devices need 'tap = IFNAME' (the host TAP interface) or 'net = dpdk,DEVARGS'");
		return -EINVAL;
	}
	if (!valid_ifname(p->val)) {
		pvbe_err(dev->tag, "line %d: tap = %s: not a valid interface name (1..%d characters, no '/', ':' or blanks)",
			 p->line, p->val, IFNAMSIZ - 1);
		return -EINVAL;
	}
	strcpy(nd->tap, p->val);
	p = pvbe_dev_param_get(c, "bridge");
	if (p) {
		if (!valid_ifname(p->val)) {
			pvbe_err(dev->tag, "line %d: bridge = %s: not a valid interface name",
				 p->line, p->val);
			return -EINVAL;
		}
		strcpy(nd->bridge, p->val);
	}
common:
	p = pvbe_dev_param_get(c, "mac");
	if (p && parse_mac(p->val, nd->mac)) {
		pvbe_err(dev->tag, "line %d: mac = %s: want a unicast address like 52:54:00:12:34:56",
			 p->line, p->val);
		return -EINVAL;
	}
	if (!p)
		default_mac(dev->tag, nd->mac);
	nd->max_mtu = 9000;
	p = pvbe_dev_param_get(c, "max_mtu");
	if (p && parse_uint(p, PVBE_NET_MIN_MTU, PVBE_NET_MAX_MTU, &nd->max_mtu)) {
		pvbe_err(dev->tag, "line %d: max_mtu = %s: must be %d..%d", p->line,
			 p->val, PVBE_NET_MIN_MTU, PVBE_NET_MAX_MTU);
		return -EINVAL;
	}
	nd->mtu = nd->max_mtu < 1500 ? nd->max_mtu : 1500;
	p = pvbe_dev_param_get(c, "mtu");
	if (p && parse_uint(p, PVBE_NET_MIN_MTU, nd->max_mtu, &nd->mtu)) {
		pvbe_err(dev->tag, "line %d: mtu = %s: must be %d..%u (max_mtu)", p->line,
			 p->val, PVBE_NET_MIN_MTU, nd->max_mtu);
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
			pvbe_err(dev->tag, "line %d: unknown key '%s' for a net device (keys: net, tap, bridge, mac, mtu, max_mtu, poll; with net = null: null_rx; with net = dpdk: poll_cpu, poll_idle_us)",
				 c->params[k].line, c->params[k].key);
			return -EINVAL;
		}
	}
	return 0;
}

static int net_setup(struct pvbe_dev *dev)
{
	struct pvbe_net_dev *nd = dev->priv;
	unsigned int i;
	int ret;

	for (i = 0; i < nd->npairs; i++) {
		struct pvbe_net_pair *p = &nd->pair[i];

		p->size = dev->cfg->queue_size;
		p->fifo = calloc(p->size, sizeof(*p->fifo));
		p->ovf = malloc(PVBE_NET_RX_MAX + 1);
		if (!p->fifo || !p->ovf) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	ret = nd->null ? pvbe_net_null_setup(nd) : pvbe_net_tap_open(nd);
	if (ret)
		goto fail;
	if (nd->null)
		pvbe_info(dev->tag, "net = null: no host side; rx %s",
			  nd->null_rx == PVBE_NET_NULL_RX_ECHO ? "echoes tx" :
			  nd->null_rx == PVBE_NET_NULL_RX_SOURCE ? "fills every buffer" : "silent");
	return 0;
fail:
	for (i = 0; i < nd->npairs; i++) {
		free(nd->pair[i].fifo);
		free(nd->pair[i].ovf);
		nd->pair[i].fifo = NULL;
		nd->pair[i].ovf = NULL;
	}
	return ret;
}

/* Undo parse and setup (either may not have happened or finished). */
static void net_uninit(struct pvbe_dev *dev)
{
	struct pvbe_net_dev *nd = dev->priv;
	bool opened = false;
	unsigned int i;

	if (!nd)
		return;
	for (i = 0; i < nd->npairs; i++)
		opened |= nd->pair[i].fd >= 0;
	if (nd->null)
		pvbe_net_null_uninit(nd);
	else if (opened)
		pvbe_net_tap_close(nd);
	for (i = 0; i < nd->npairs; i++) {
		free(nd->pair[i].fifo);
		free(nd->pair[i].ovf);
	}
	if (opened)
		pvbe_info(dev->tag, "TAP %s released", nd->tap);
	free(nd->dpdk);
	free(nd);
	dev->priv = NULL;
}

/* The worker keeps the TAP queues (the supervisor keeps its own copies). */
static int net_host_fds(struct pvbe_dev *dev, int *fds, int max)
{
	struct pvbe_net_dev *nd = dev->priv;
	unsigned int i;
	int n = 0;

	for (i = 0; i < nd->npairs && n < max; i++)
		if (nd->pair[i].fd >= 0)
			fds[n++] = nd->pair[i].fd;
	return n;
}

/* ---- config area and link (worker) ----------------------------------- */

static int net_init(struct pvbe_dev *dev)
{
	struct pvbe_net_dev *nd = dev->priv;
	struct pvio_net_config *c = dev->config;
	unsigned int q;

	dev->host_features = (1ull << PVIO_NET_F_CSUM) | (1ull << PVIO_NET_F_GUEST_CSUM) |
			     (1ull << PVIO_NET_F_MTU) | (1ull << PVIO_NET_F_MAC) |
			     (1ull << PVIO_NET_F_HOST_TSO4) | (1ull << PVIO_NET_F_HOST_TSO6) |
			     (1ull << PVIO_NET_F_GUEST_TSO4) | (1ull << PVIO_NET_F_GUEST_TSO6) |
			     (1ull << PVIO_NET_F_MRG_RXBUF) | (1ull << PVIO_NET_F_STATUS);
	if (nd->npairs > 1)
		dev->host_features |= 1ull << PVIO_NET_F_MQ;
	memcpy(c->mac, nd->mac, sizeof(c->mac));
	c->status = pvio_cpu_to_le16(__atomic_load_n(&nd->sh->link_up, __ATOMIC_RELAXED) ?
				     PVIO_NET_S_LINK_UP : 0);
	c->max_queue_pairs = pvio_cpu_to_le16(nd->npairs);
	c->mtu = pvio_cpu_to_le16(nd->mtu);
	c->min_mtu = pvio_cpu_to_le16(PVBE_NET_MIN_MTU);
	c->max_mtu = pvio_cpu_to_le16(nd->max_mtu);
	c->rx_buf_len = pvio_cpu_to_le32(PVBE_NET_HDR_LEN + nd->mtu + PVBE_NET_VLAN_ETH_HLEN);
	for (q = 0; q < dev->nqueues; q++)
		pvio_write_once(dev->q[q].desc->flags,
				pvio_cpu_to_le16(q % 2 ? PVIO_QF_TX : PVIO_QF_RX));
	return 0;
}

/*
 * net-link GUEST DEVICE up|down, the supervisor's half: the TAP's carrier
 * (CAP_NET_ADMIN, which workers do not have) and the state in the persist
 * page.  Returns 1: the worker does the rest.
 */
int pvbe_net_sup_control(struct pvbe_dev *dev, int argc, char **argv, char *err, size_t len)
{
	struct pvbe_net_dev *nd = dev->priv;
	bool up;
	int ret;

	if (strcmp(argv[0], "net-link"))
		return 1;
	if (argc != 2 || (strcmp(argv[1], "up") && strcmp(argv[1], "down"))) {
		snprintf(err, len, "net-link wants up or down");
		return -EINVAL;
	}
	up = !strcmp(argv[1], "up");
	ret = nd->dpdk || nd->null ? 0 : pvbe_net_tap_set_carrier(nd, up);
	if (ret) {
		snprintf(err, len, "TAP %s: set carrier: %s", nd->tap, strerror(-ret));
		return ret;
	}
	/* Atomic: a DPDK device's poll thread reads it. */
	__atomic_store_n(&nd->sh->link_up, up, __ATOMIC_RELAXED);
	return 1;
}

/* net-link, the worker's half: what the guest sees, and rx resumes. */
/* ops->status: the link as the guest sees it */
static void net_status(struct pvbe_dev *dev, struct json_object *out)
{
	struct pvbe_net_dev *nd = dev->priv;

	json_object_object_add(out, "link_up", json_object_new_boolean(
		__atomic_load_n(&nd->sh->link_up, __ATOMIC_RELAXED)));
}

int pvbe_net_control(struct pvbe_dev *dev, int argc, char **argv,
		     struct json_object *out, char *err, size_t len)
{
	struct pvbe_net_dev *nd = dev->priv;
	struct pvio_net_config *c = dev->config;
	unsigned int i;
	bool up;

	if (strcmp(argv[0], "net-link"))
		return -ENOSYS;
	if (argc != 2) {
		snprintf(err, len, "net-link wants up or down");
		return -EINVAL;
	}
	/* The supervisor set it; we only show it. */
	up = __atomic_load_n(&nd->sh->link_up, __ATOMIC_RELAXED);
	if (c) {
		pvbe_guest_config_begin(dev);
		pvio_write_once(c->status, pvio_cpu_to_le16(up ? PVIO_NET_S_LINK_UP : 0));
		pvbe_guest_config_changed(dev);
	}
	if (nd->dpdk)
		pvbe_info(dev->tag, "link %s (DPDK port: tx dropped, rx left in the port while down)",
			  up ? "up" : "down");
	else if (nd->null)
		pvbe_info(dev->tag, "link %s (net = null)", up ? "up" : "down");
	else
		pvbe_info(dev->tag, "link %s (TAP %s carrier %s)", up ? "up" : "down",
			  nd->tap, up ? "on" : "off");
	/* Down: tx is dropped and rx stops on the next packet; up: resume rx. */
	if (up && !nd->dpdk)
		for (i = 0; i < nd->npairs; i++)
			if (dev->q[2 * i].running)
				dev->q[2 * i].kick = true;
	json_object_object_add(out, "link", json_object_new_string(up ? "up" : "down"));
	return 0;
}

/* ---- queues, start and stop (worker) ----------------------------------- */

/* Queue 2n receives, 2n+1 transmits: each hook to its half. */
static int64_t net_request(struct pvbe_queue *q, const struct pvbe_req *req)
{
	return q->index % 2 ? pvbe_net_tx_request(q, req) : pvbe_net_rx_request(q, req);
}

static unsigned int net_held(struct pvbe_queue *q)
{
	return q->index % 2 ? 0 : pvbe_net_rx_held(q);
}

static int net_run_end(struct pvbe_queue *q, uint64_t *work)
{
	return q->index % 2 ? 0 : pvbe_net_rx_run_end(q, work);
}

static bool net_sq_quiet(struct pvbe_queue *q)
{
	return q->index % 2 ? false : pvbe_net_rx_sq_quiet(q);
}

static void net_start(struct pvbe_dev *dev)
{
	struct pvbe_net_dev *nd = dev->priv;
	unsigned int i, used = 0;

	nd->features = dev->guest_features;
	/*
	 * Only the pairs the guest runs keep their TAP queue enabled: the
	 * kernel spreads host traffic over enabled queues, and a queue nobody
	 * reads would swallow its share.
	 */
	for (i = 0; i < nd->npairs; i++) {
		struct pvbe_net_pair *p = &nd->pair[i];
		bool use = dev->q[2 * i].running || dev->q[2 * i + 1].running;

		p->head = 0;
		p->count = 0;
		p->pend_len = 0;
		p->dead = false;
		pvbe_net_null_reset(p);
		if (!nd->null && pvbe_net_tap_set_queue(p, use) && use)
			p->dead = true;
		used += use;
	}
	if ((nd->features & ((1ull << PVIO_NET_F_GUEST_TSO4) | (1ull << PVIO_NET_F_GUEST_TSO6))) &&
	    !pvbe_net_has(nd, PVIO_NET_F_GUEST_CSUM))
		pvbe_warn(dev->tag, "guest takes TSO without GUEST_CSUM: large rx stays off");
	if (!nd->null)
		pvbe_net_tap_set_offload(nd, nd->features);
	pvbe_info(dev->tag, "%s%s: %u of %u queue pair(s) in use, link %s",
		  nd->null ? "net = null" : "TAP ", nd->null ? "" : nd->tap,
		  used, nd->npairs, nd->sh->link_up ? "up" : "down");
}

static int net_stop(struct pvbe_dev *dev)
{
	struct pvbe_net_dev *nd = dev->priv;
	unsigned int i;

	/* Chains in the FIFOs are the guest's to forget: it resets. */
	for (i = 0; i < nd->npairs; i++) {
		pvbe_net_watch(&nd->pair[i], false);
		nd->pair[i].head = 0;
		nd->pair[i].count = 0;
		nd->pair[i].pend_len = 0;
	}
	nd->features = 0;
	if (!nd->null)
		pvbe_net_tap_set_offload(nd, 0);
	return 0;
}

/* ops->claim: the TAP (a DPDK port is claimed by its worker's EAL). */
static int net_claim(struct pvbe_dev *dev, char *buf, size_t len, bool *shared)
{
	struct pvbe_net_dev *nd = dev->priv;

	if (nd->null || nd->dpdk || !nd->tap[0])
		return 0;
	snprintf(buf, len, "TAP %s", nd->tap);
	*shared = false;
	return 1;
}

/* A TAP pair's rx and tx queues share the pair: one thread serves both. */
static unsigned int net_queue_group(struct pvbe_queue *q)
{
	return q->index / 2;
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
	.host_fds = net_host_fds,
	.claim = net_claim,
	.sup_control = pvbe_net_sup_control,
	.init = net_init,
	.request = net_request,
	.held = net_held,
	.run_end = net_run_end,
	.sq_quiet = net_sq_quiet,
	.start = net_start,
	.stop = net_stop,
	.control = pvbe_net_control,
	.status = net_status,
	.queue_group = net_queue_group,
	.can_poll = true,
};
