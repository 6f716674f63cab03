// SPDX-License-Identifier: GPL-2.0
/*
 * pvio_net_ethtool.c - pvio_net's counters (ndo_get_stats64) and ethtool
 * operations: driver information, channels (queue pairs), ring sizes and
 * per-queue statistics.
 */
#include "pvio_net.h"

/* ---- the netdev's counters ------------------------------------------------ */

void pvnet_get_stats64(struct net_device *ndev, struct rtnl_link_stats64 *st)
{
	struct pvnet *pn = netdev_priv(ndev);
	unsigned int i, start;

	for (i = 0; i < pn->max_pairs; i++) {
		struct pvnet_pair *p = &pn->pair[i];
		u64 rp, rb, re, tp, tb, te;

		do {
			start = u64_stats_fetch_begin(&p->rx_stats.syncp);
			rp = u64_stats_read(&p->rx_stats.packets);
			rb = u64_stats_read(&p->rx_stats.bytes);
			re = u64_stats_read(&p->rx_stats.errors);
		} while (u64_stats_fetch_retry(&p->rx_stats.syncp, start));
		do {
			start = u64_stats_fetch_begin(&p->tx_stats.syncp);
			tp = u64_stats_read(&p->tx_stats.packets);
			tb = u64_stats_read(&p->tx_stats.bytes);
			te = u64_stats_read(&p->tx_stats.errors);
		} while (u64_stats_fetch_retry(&p->tx_stats.syncp, start));
		st->rx_packets += rp;
		st->rx_bytes += rb;
		st->rx_errors += re;
		st->tx_packets += tp;
		st->tx_bytes += tb;
		st->tx_errors += te;
	}
}

/* ---- ethtool ------------------------------------------------------------------ */

/* Per queue pair: rx counters, then tx counters (the first four of these). */
static const char pvnet_stat_names[][ETH_GSTRING_LEN] = {
	"packets", "bytes", "errors", "kicks", "multibuf",
};

#define PVNET_RX_NSTATS		ARRAY_SIZE(pvnet_stat_names)
#define PVNET_TX_NSTATS		4

static void pvnet_get_drvinfo(struct net_device *ndev,
			      struct ethtool_drvinfo *info)
{
	struct pvnet *pn = netdev_priv(ndev);

	strscpy(info->driver, KBUILD_MODNAME, sizeof(info->driver));
	strscpy(info->bus_info, dev_name(&pn->pdev->dev), sizeof(info->bus_info));
	snprintf(info->fw_version, sizeof(info->fw_version), "pvio ABI %u.%u",
		 PVIO_ABI_VERSION_MAJOR, PVIO_ABI_VERSION_MINOR);
}

static void pvnet_get_channels(struct net_device *ndev,
			       struct ethtool_channels *ch)
{
	struct pvnet *pn = netdev_priv(ndev);

	ch->max_combined = pn->max_pairs;
	ch->combined_count = pn->pairs;
}

static int pvnet_set_channels(struct net_device *ndev,
			      struct ethtool_channels *ch)
{
	struct pvnet *pn = netdev_priv(ndev);
	unsigned int old = pn->pairs;
	int ret;

	if (!ch->combined_count || ch->rx_count || ch->tx_count ||
	    ch->combined_count > pn->max_pairs)
		return -EINVAL;
	if (ch->combined_count == old)
		return 0;
	pvnet_teardown(pn);
	pn->pairs = ch->combined_count;
	ret = netif_set_real_num_tx_queues(ndev, pn->pairs);
	if (!ret)
		ret = netif_set_real_num_rx_queues(ndev, pn->pairs);
	if (ret)
		pn->pairs = old;
	return pvnet_rebuild(pn) ?: ret;
}

static void pvnet_get_ringparam(struct net_device *ndev,
				struct ethtool_ringparam *ring,
				struct kernel_ethtool_ringparam *kring,
				struct netlink_ext_ack *extack)
{
	struct pvnet *pn = netdev_priv(ndev);

	ring->rx_max_pending = pn->pair[0].rx_size;
	ring->tx_max_pending = pn->pair[0].tx_size;
	ring->rx_pending = pn->pair[0].rx_size;
	ring->tx_pending = pn->pair[0].tx_size;
}

static int pvnet_get_sset_count(struct net_device *ndev, int sset)
{
	struct pvnet *pn = netdev_priv(ndev);

	if (sset != ETH_SS_STATS)
		return -EOPNOTSUPP;
	return pn->max_pairs * (PVNET_RX_NSTATS + PVNET_TX_NSTATS);
}

static void pvnet_get_strings(struct net_device *ndev, u32 sset, u8 *data)
{
	struct pvnet *pn = netdev_priv(ndev);
	unsigned int i, j;

	if (sset != ETH_SS_STATS)
		return;
	for (i = 0; i < pn->max_pairs; i++) {
		for (j = 0; j < PVNET_RX_NSTATS; j++)
			ethtool_sprintf(&data, "rx%u_%s", i, pvnet_stat_names[j]);
		for (j = 0; j < PVNET_TX_NSTATS; j++)
			ethtool_sprintf(&data, "tx%u_%s", i, pvnet_stat_names[j]);
	}
}

/* The first @n counters of @s, in pvnet_stat_names order. */
static void pvnet_read_stats(struct pvnet_stats *s, u64 *out, unsigned int n)
{
	unsigned int start;
	u64 v[PVNET_RX_NSTATS];

	do {
		start = u64_stats_fetch_begin(&s->syncp);
		v[0] = u64_stats_read(&s->packets);
		v[1] = u64_stats_read(&s->bytes);
		v[2] = u64_stats_read(&s->errors);
		v[3] = u64_stats_read(&s->kicks);
		v[4] = u64_stats_read(&s->multibuf);
	} while (u64_stats_fetch_retry(&s->syncp, start));
	memcpy(out, v, n * sizeof(*out));
}

static void pvnet_get_ethtool_stats(struct net_device *ndev,
				    struct ethtool_stats *stats, u64 *data)
{
	struct pvnet *pn = netdev_priv(ndev);
	unsigned int i;

	for (i = 0; i < pn->max_pairs; i++) {
		pvnet_read_stats(&pn->pair[i].rx_stats, data, PVNET_RX_NSTATS);
		data += PVNET_RX_NSTATS;
		pvnet_read_stats(&pn->pair[i].tx_stats, data, PVNET_TX_NSTATS);
		data += PVNET_TX_NSTATS;
	}
}

const struct ethtool_ops pvnet_ethtool_ops = {
	.get_drvinfo = pvnet_get_drvinfo,
	.get_link = ethtool_op_get_link,
	.get_channels = pvnet_get_channels,
	.set_channels = pvnet_set_channels,
	.get_ringparam = pvnet_get_ringparam,
	.get_sset_count = pvnet_get_sset_count,
	.get_strings = pvnet_get_strings,
	.get_ethtool_stats = pvnet_get_ethtool_stats,
};
