/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * pvio/net.h - the net device class: features, config area, the header
 * in front of every packet (docs/protocol.md section 9.1).
 *
 * THIS IS AN ABI, like abi.h (whose rules apply); docs/protocol.md is
 * its prose version.
 */
#ifndef PVIO_NET_ABI_H
#define PVIO_NET_ABI_H

#include "abi.h"

/* ---- net device ----------------------------------------------------------- */

#define PVIO_NET_F_CSUM		0	/* host takes CHECKSUM_PARTIAL on tx */
#define PVIO_NET_F_GUEST_CSUM	1	/* host marks rx checksums valid */
#define PVIO_NET_F_MTU		2	/* config.max_mtu is valid */
#define PVIO_NET_F_MAC		3	/* config.mac is valid */
#define PVIO_NET_F_HOST_TSO4	4
#define PVIO_NET_F_HOST_TSO6	5
#define PVIO_NET_F_HOST_USO	6
#define PVIO_NET_F_GUEST_TSO4	7	/* guest takes large rx (TCPv4) */
#define PVIO_NET_F_GUEST_TSO6	8
#define PVIO_NET_F_MRG_RXBUF	9	/* rx packet may span buffers */
#define PVIO_NET_F_MQ		10	/* more than one queue pair */
#define PVIO_NET_F_STATUS	11	/* config.status (link) is valid */

#define PVIO_NET_S_LINK_UP	0x0001

struct pvio_net_config {
	__u8 mac[6];			/* (B) */
	__le16 status;			/* (B) PVIO_NET_S_* */
	__le16 max_queue_pairs;		/* (B) queue 2n is rx, 2n+1 is tx */
	__le16 mtu;			/* (B) default MTU */
	__le16 min_mtu;			/* (B) */
	__le16 max_mtu;			/* (B) */
	__le32 rx_buf_len;		/* (B) preferred rx buffer size */
	__u8 reserved[44];
};

/*
 * Every net packet, transmitted or received, starts with this 12-byte
 * header in the packet buffer itself, in front of the Ethernet frame.  Its
 * layout is that of Linux's struct virtio_net_hdr_mrg_rxbuf, so a TAP with
 * IFF_VNET_HDR and a 12-byte vnet header reads and writes it unchanged.
 *
 * TX chain: readable segments; the first starts with the header (the header
 * and the frame may share a segment).  RX: the guest posts chains of
 * writable segments; the backend writes header + frame into them and
 * completes with the byte count (header included).
 */
#define PVIO_NET_HDR_F_NEEDS_CSUM	0x01	/* csum_start/offset valid */
#define PVIO_NET_HDR_F_DATA_VALID	0x02	/* rx: checksum already verified */
#define PVIO_NET_GSO_NONE		0
#define PVIO_NET_GSO_TCPV4		1
#define PVIO_NET_GSO_UDP		3
#define PVIO_NET_GSO_TCPV6		4
#define PVIO_NET_GSO_UDP_L4		5
#define PVIO_NET_GSO_ECN		0x80

struct pvio_net_hdr {
	__u8 flags;		/* PVIO_NET_HDR_F_* */
	__u8 gso_type;		/* PVIO_NET_GSO_* */
	__le16 hdr_len;		/* length of the headers to copy per segment */
	__le16 gso_size;	/* payload bytes per segment */
	__le16 csum_start;	/* from the start of the frame */
	__le16 csum_offset;	/* from csum_start */
	__le16 num_buffers;	/* rx with MRG_RXBUF; else 0 (tx) or 1 (rx) */
};

#define PVIO_NET_MAX_FRAME	(65535 + 14 + 4)	/* GSO frame + Ethernet + VLAN */

/* ---- sizes and offsets ------------------------------------------------ */

pvio_static_assert(sizeof(struct pvio_net_config) == 64, "ABI");
pvio_static_assert(offsetof(struct pvio_net_config, status) == 6, "ABI");
pvio_static_assert(offsetof(struct pvio_net_config, max_queue_pairs) == 8,
		   "ABI");
pvio_static_assert(offsetof(struct pvio_net_config, mtu) == 10, "ABI");
pvio_static_assert(offsetof(struct pvio_net_config, rx_buf_len) == 16, "ABI");
pvio_static_assert(sizeof(struct pvio_net_hdr) == 12, "ABI");
pvio_static_assert(offsetof(struct pvio_net_hdr, hdr_len) == 2, "ABI");
pvio_static_assert(offsetof(struct pvio_net_hdr, gso_size) == 4, "ABI");
pvio_static_assert(offsetof(struct pvio_net_hdr, csum_start) == 6, "ABI");
pvio_static_assert(offsetof(struct pvio_net_hdr, csum_offset) == 8, "ABI");
pvio_static_assert(offsetof(struct pvio_net_hdr, num_buffers) == 10, "ABI");

#endif /* PVIO_NET_ABI_H */
