// SPDX-License-Identifier: GPL-2.0
/*
 * pvio_net_ethtool.c - pvio_net's counters (ndo_get_stats64) and ethtool
 * operations: driver information, channels (queue pairs), ring sizes and
 * per-queue statistics.
 */
#include "pvio_net.h"

/* Per queue pair: rx counters, then tx counters (the first four of these). */
static const char pvnet_stat_names[][ETH_GSTRING_LEN] = {
	"packets", "bytes", "errors", "kicks", "multibuf",
};

#define PVNET_RX_NSTATS		ARRAY_SIZE(pvnet_stat_names)
#define PVNET_TX_NSTATS		4

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

/* ---- the netdev's counters ------------------------------------------------ */

void pvnet_get_stats64(struct net_device *ndev, struct rtnl_link_stats64 *st)
{
	struct pvnet *pn = netdev_priv(ndev);
	u64 rx[PVNET_RX_NSTATS], tx[PVNET_TX_NSTATS];
	unsigned int i;

	for (i = 0; i < pn->max_pairs; i++) {
		/* packets, bytes, errors: the first three of pvnet_stat_names */
		pvnet_read_stats(&pn->pair[i].rx_stats, rx, 3);
		pvnet_read_stats(&pn->pair[i].tx_stats, tx, 3);
		st->rx_packets += rx[0];
		st->rx_bytes += rx[1];
		st->rx_errors += rx[2];
		st->tx_packets += tx[0];
		st->tx_bytes += tx[1];
		st->tx_errors += tx[2];
	}
}

/* ---- ethtool ------------------------------------------------------------------ */

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
