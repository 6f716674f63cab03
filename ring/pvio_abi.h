/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * pvio_abi.h - the pvio wire ABI: the layout of the shared window (ivshmem
 * BAR2) and of every structure guest and host exchange.
 *
 * THIS IS AN ABI.  Do not change a size, an offset or a constant; add fields
 * only in reserved space, guarded by a feature bit, and bump
 * PVIO_ABI_VERSION_MINOR.  docs/protocol.md is the prose version of this
 * file; keep them in step.
 *
 * All multi-byte fields are little-endian.  Every field has exactly one
 * writer, named in its comment: (B) the backend, (G) the guest.
 *
 * Window layout (offsets are chosen by the backend and published here; the
 * guest checks every one of them against the window size):
 *
 *   0x0000  struct pvio_window_hdr                       (256 bytes)
 *   dev_table_off:  struct pvio_dev_desc[num_devices]    (128 bytes each)
 *   dev.config_off: device config area (net/blk/balloon) (config_len bytes)
 *   dev.queue_off:  struct pvio_queue_desc[max_queues]   (64 bytes each)
 *   queue.sq_off:   submission ring: struct pvio_ring_shared + slots
 *   queue.cq_off:   completion ring: struct pvio_ring_shared + slots
 *
 * Interrupt vectors: vector 0 is the configuration vector (any device's
 * config or status changed, backend generation changed).  Each queue has
 * its own vector, used in both directions: the guest rings the backend's
 * doorbell with it to kick the submission ring, the backend signals the
 * guest's vector to announce completions.
 */
#ifndef PVIO_ABI_H
#define PVIO_ABI_H

#include "pvio_compat.h"
#include "pvio_ring.h"

#define PVIO_MAGIC		0x4f495650u	/* "PVIO" in memory order */
#define PVIO_ABI_VERSION_MAJOR	1
#define PVIO_ABI_VERSION_MINOR	0
#define PVIO_ABI_VERSION	((PVIO_ABI_VERSION_MAJOR << 16) | \
				 PVIO_ABI_VERSION_MINOR)

/* ivshmem PCI identity and the vector reserved for configuration. */
#define PVIO_PCI_VENDOR_ID	0x1af4
#define PVIO_PCI_DEVICE_ID	0x1110
#define PVIO_CONFIG_VECTOR	0
#define PVIO_MAX_VECTORS	64

/*
 * ivshmem server protocol extension (userspace frontends only; QEMU never
 * sends it): after the handshake the client sends this int64 tag with its
 * RAM memfd attached, then an int64 RAM size.  Guest-physical address ==
 * offset in that memfd.
 */
#define PVIO_IVSHMEM_EXT_RAM	0x5056494F52414D31ll

#define PVIO_MAX_DEVICES	16
#define PVIO_MAX_QUEUES		16	/* per device */

/* ---- window header -------------------------------------------------------- */

/* Transport feature bits (window-wide). */
#define PVIO_F_EVENT_IDX	0	/* event-index notification suppression */
#define PVIO_F_HEARTBEAT	1	/* backend updates heartbeat */

/* Transport status, written by the guest (struct pvio_window_hdr.guest_status). */
#define PVIO_GS_ACKNOWLEDGE	0x01	/* guest driver saw a pvio window */
#define PVIO_GS_DRIVER		0x02	/* guest driver knows how to drive it */
#define PVIO_GS_FEATURES_OK	0x08	/* guest_features final */
#define PVIO_GS_DRIVER_OK	0x04	/* guest ready; queues may be used */
#define PVIO_GS_FAILED		0x80	/* guest gave up on the window */

/* Backend state, written by the backend (struct pvio_window_hdr.backend_state). */
#define PVIO_BS_INIT		0	/* window being laid out: do not touch */
#define PVIO_BS_READY		1	/* layout final, backend serving */
#define PVIO_BS_STOPPED		2	/* backend shut down cleanly */

struct pvio_window_hdr {
	__le32 magic;			/* (B) PVIO_MAGIC */
	__le32 abi_version;		/* (B) major << 16 | minor */
	__le64 window_size;		/* (B) bytes, == BAR2 size */
	__le64 host_features;		/* (B) PVIO_F_* offered */
	__le64 guest_features;		/* (G) PVIO_F_* accepted, subset */
	__le32 backend_state;		/* (B) PVIO_BS_* */
	__le32 generation;		/* (B) +1 on every backend (re)start */
	__le64 heartbeat;		/* (B) +1 at least every heartbeat_ms */
	__le32 heartbeat_ms;		/* (B) liveness period */
	__le32 guest_status;		/* (G) PVIO_GS_* bits */
	__le32 guest_generation;	/* (G) generation the guest last set up */
	__le16 num_devices;		/* (B) entries in the device table */
	__le16 backend_peer;		/* (B) ivshmem peer ID to ring */
	__le32 dev_table_off;		/* (B) offset of pvio_dev_desc[0] */
	__le32 num_vectors;		/* (B) vectors the backend listens on */
	__u8 reserved[184];
};

/* ---- device table ---------------------------------------------------------- */

#define PVIO_DEV_NET		1
#define PVIO_DEV_BLK		2
#define PVIO_DEV_BALLOON	3
/*
 * Test device: for every request the backend copies the request's readable
 * segments, concatenated, into its writable segments and completes with the
 * byte count copied.  Used by the transport tests; no feature bits, no
 * config area.
 */
#define PVIO_DEV_ECHO		127

/* Device status bits written by the guest (pvio_dev_desc.driver_status). */
#define PVIO_DS_ACKNOWLEDGE	0x01
#define PVIO_DS_DRIVER		0x02
#define PVIO_DS_DRIVER_OK	0x04
#define PVIO_DS_FEATURES_OK	0x08
#define PVIO_DS_FAILED		0x80

/* Device state bits written by the backend (pvio_dev_desc.device_state). */
#define PVIO_DEV_S_LIVE		0x01	/* backend serves this device */
#define PVIO_DEV_S_NEEDS_RESET	0x02	/* guest must reset and set up again */
#define PVIO_DEV_S_BROKEN	0x04	/* guest broke the protocol: see reason */

/* Why the backend marked a device broken (pvio_dev_desc.broken_reason). */
#define PVIO_BROKEN_NONE	0
#define PVIO_BROKEN_RING_INDEX	1	/* impossible producer/consumer index */
#define PVIO_BROKEN_DESC	2	/* malformed descriptor or chain */
#define PVIO_BROKEN_ADDR	3	/* address outside guest RAM */
#define PVIO_BROKEN_LEN		4	/* length zero, too large or overflowing */
#define PVIO_BROKEN_STATUS	5	/* impossible status/feature transition */
#define PVIO_BROKEN_QUEUE	6	/* bad num_queues from the guest */
#define PVIO_BROKEN_BACKEND	7	/* backend cannot serve (no guest RAM) */

struct pvio_dev_desc {
	__le16 type;			/* (B) PVIO_DEV_* */
	__le16 instance;		/* (B) number among devices of this type */
	__le16 max_queues;		/* (B) queues in the queue table */
	__le16 num_queues;		/* (G) queues the guest enabled, <= max */
	__le32 config_off;		/* (B) offset of the config area */
	__le32 config_len;		/* (B) its size in bytes */
	__le32 queue_off;		/* (B) offset of pvio_queue_desc[0] */
	__le32 config_generation;	/* (B) +1 whenever config changes */
	__le64 host_features;		/* (B) device feature bits offered */
	__le64 guest_features;		/* (G) device feature bits accepted */
	__le32 driver_status;		/* (G) PVIO_DS_* */
	__le32 device_state;		/* (B) PVIO_DEV_S_* */
	__le32 broken_reason;		/* (B) PVIO_BROKEN_* */
	__le32 reset_count;		/* (B) last reset_request served */
	__le32 reset_request;		/* (G) +1 to ask for a device reset */
	__u8 reserved[68];
};

/* ---- queues --------------------------------------------------------------- */

struct pvio_queue_desc {
	__le32 sq_off;		/* (B) submission ring (guest produces) */
	__le32 cq_off;		/* (B) completion ring (backend produces) */
	__le32 sq_size;		/* (B) slots, power of two */
	__le32 cq_size;		/* (B) slots, power of two, >= sq_size */
	__le16 sq_esize;	/* (B) bytes per SQ slot: 16 in ABI 1.x */
	__le16 cq_esize;	/* (B) bytes per CQ slot: 16 in ABI 1.x */
	__le16 vector;		/* (B) doorbell and interrupt vector */
	__le16 flags;		/* (B) PVIO_QF_* */
	__le32 enabled;		/* (G) 1 when the guest uses this queue */
	__u8 reserved[36];
};

#define PVIO_QF_RX		0x0001	/* net: receive queue */
#define PVIO_QF_TX		0x0002	/* net: transmit queue */

/* ---- generic descriptors ------------------------------------------------ */

/*
 * Submission slot: 16 bytes.  A request is a chain of one or more
 * consecutive slots with the same id; every slot but the last has
 * PVIO_DESC_F_NEXT.  A slot is either a data segment (guest-physical
 * address and length) or, with PVIO_DESC_F_HDR, a class-specific header
 * that carries its 12 bytes inline.  The 4-byte trailer is common.
 */
#define PVIO_DESC_F_NEXT	0x0001	/* chain continues in the next slot */
#define PVIO_DESC_F_WRITE	0x0002	/* device writes this buffer */
#define PVIO_DESC_F_HDR		0x0004	/* inline class header, not a buffer */
#define PVIO_DESC_F_MASK	0x0007

#define PVIO_MAX_CHAIN		64	/* slots in one request, at most */

struct pvio_desc {
	__le64 addr;		/* guest-physical address */
	__le32 len;		/* bytes, > 0 */
	__le16 id;		/* request id, echoed in the completion */
	__le16 flags;		/* PVIO_DESC_F_* */
};

/* Completion slot: 16 bytes, one per request. */
struct pvio_cpl {
	__le16 id;		/* id of the completed request */
	__le16 flags;		/* class-specific */
	__le32 len;		/* bytes the device wrote into the request */
	__le32 status;		/* PVIO_S_* */
	__le32 aux;		/* class-specific */
};

/* Completion status, shared by every device class. */
#define PVIO_S_OK		0
#define PVIO_S_IOERR		1	/* backing store failed */
#define PVIO_S_UNSUPP		2	/* opcode not supported / not negotiated */
#define PVIO_S_INVAL		3	/* malformed request */
#define PVIO_S_RANGE		4	/* outside device bounds */
#define PVIO_S_ROFS		5	/* write to a read-only device */
#define PVIO_S_NOSPC		6	/* backing store full */
#define PVIO_S_AGAIN		7	/* transient: retry */

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

/* ---- block device ----------------------------------------------------- */

#define PVIO_BLK_F_RO		0
#define PVIO_BLK_F_FLUSH	1	/* volatile write cache: flush needed */
#define PVIO_BLK_F_FUA		2
#define PVIO_BLK_F_DISCARD	3
#define PVIO_BLK_F_WRITE_ZEROES	4
#define PVIO_BLK_F_MQ		5

#define PVIO_BLK_OP_READ	0
#define PVIO_BLK_OP_WRITE	1
#define PVIO_BLK_OP_FLUSH	2
#define PVIO_BLK_OP_DISCARD	3
#define PVIO_BLK_OP_WRITE_ZEROES 4
#define PVIO_BLK_OP_GET_ID	5

#define PVIO_BLK_RF_FUA		0x01	/* write through to stable storage */
#define PVIO_BLK_RF_UNMAP	0x02	/* write-zeroes may deallocate */

#define PVIO_BLK_SECTOR_SIZE	512
#define PVIO_BLK_ID_BYTES	20

struct pvio_blk_config {
	__le64 capacity;		/* (B) in 512-byte sectors */
	__le32 logical_block_size;	/* (B) bytes */
	__le32 physical_block_size;	/* (B) bytes */
	__le32 max_segments;		/* (B) data slots per request */
	__le32 max_segment_size;	/* (B) bytes */
	__le32 max_sectors;		/* (B) per request */
	__le32 max_discard_sectors;	/* (B) */
	__le32 discard_granularity;	/* (B) bytes */
	__le32 max_write_zeroes_sectors;/* (B) */
	__le16 num_queues;		/* (B) */
	__le16 queue_depth;		/* (B) */
	__u8 reserved[20];
};

/* Block request header slot (PVIO_DESC_F_HDR), first in every chain. */
struct pvio_blk_req {
	__le64 sector;		/* start, 512-byte units */
	__u8 op;		/* PVIO_BLK_OP_* */
	__u8 rflags;		/* PVIO_BLK_RF_* */
	__le16 reserved;
	__le16 id;		/* trailer, as struct pvio_desc */
	__le16 flags;		/* trailer */
};

/*
 * Second header slot of a discard or write-zeroes request: the range
 * length.  Those requests carry no data segments.
 */
struct pvio_blk_range {
	__le64 nr_sectors;
	__le32 reserved;
	__le16 id;		/* trailer */
	__le16 flags;		/* trailer */
};

/* ---- balloon device --------------------------------------------------- */

#define PVIO_BAL_F_STATS	0	/* guest writes statistics */
#define PVIO_BAL_F_REPORTING	1	/* free-page reporting queue */
#define PVIO_BAL_F_DEFLATE_ON_OOM 2	/* guest may deflate under pressure */

/* Queue 0 inflate, 1 deflate, 2 free-page reporting. */
#define PVIO_BAL_Q_INFLATE	0
#define PVIO_BAL_Q_DEFLATE	1
#define PVIO_BAL_Q_REPORT	2

struct pvio_balloon_stats {
	__le32 seq;		/* (G) odd while the guest writes */
	__le32 interval_ms;	/* (G) period in use */
	__le64 free_bytes;
	__le64 avail_bytes;
	__le64 cache_bytes;
	__le64 total_bytes;
	__le64 swap_in;		/* pages */
	__le64 swap_out;
	__le64 major_faults;
	__le64 minor_faults;
	__le64 oom_kills;
	__le32 psi_some_avg10;	/* percent * 100 */
	__le32 psi_full_avg10;
	__le64 deflated_on_pressure;	/* pages the guest gave back itself */
};

struct pvio_balloon_config {
	__le64 target_pages;		/* (B) balloon size wanted, 4 KiB pages */
	__le64 floor_pages;		/* (B) never deflate below ... (see doc) */
	__le32 stats_interval_ms;	/* (B) 0 = no statistics */
	__le32 reserved0;
	__le64 actual_pages;		/* (G) pages in the balloon now */
	struct pvio_balloon_stats stats;/* (G) */
	__u8 reserved[24];
};

/* ---- sizes and offsets: the ABI, checked at compile time -------------- */

pvio_static_assert(sizeof(struct pvio_window_hdr) == 256, "ABI");
pvio_static_assert(offsetof(struct pvio_window_hdr, abi_version) == 4, "ABI");
pvio_static_assert(offsetof(struct pvio_window_hdr, window_size) == 8, "ABI");
pvio_static_assert(offsetof(struct pvio_window_hdr, host_features) == 16, "ABI");
pvio_static_assert(offsetof(struct pvio_window_hdr, guest_features) == 24, "ABI");
pvio_static_assert(offsetof(struct pvio_window_hdr, backend_state) == 32, "ABI");
pvio_static_assert(offsetof(struct pvio_window_hdr, generation) == 36, "ABI");
pvio_static_assert(offsetof(struct pvio_window_hdr, heartbeat) == 40, "ABI");
pvio_static_assert(offsetof(struct pvio_window_hdr, heartbeat_ms) == 48, "ABI");
pvio_static_assert(offsetof(struct pvio_window_hdr, guest_status) == 52, "ABI");
pvio_static_assert(offsetof(struct pvio_window_hdr, guest_generation) == 56,
		   "ABI");
pvio_static_assert(offsetof(struct pvio_window_hdr, num_devices) == 60, "ABI");
pvio_static_assert(offsetof(struct pvio_window_hdr, backend_peer) == 62, "ABI");
pvio_static_assert(offsetof(struct pvio_window_hdr, dev_table_off) == 64, "ABI");
pvio_static_assert(offsetof(struct pvio_window_hdr, num_vectors) == 68, "ABI");

pvio_static_assert(sizeof(struct pvio_dev_desc) == 128, "ABI");
pvio_static_assert(offsetof(struct pvio_dev_desc, num_queues) == 6, "ABI");
pvio_static_assert(offsetof(struct pvio_dev_desc, config_off) == 8, "ABI");
pvio_static_assert(offsetof(struct pvio_dev_desc, config_len) == 12, "ABI");
pvio_static_assert(offsetof(struct pvio_dev_desc, queue_off) == 16, "ABI");
pvio_static_assert(offsetof(struct pvio_dev_desc, config_generation) == 20,
		   "ABI");
pvio_static_assert(offsetof(struct pvio_dev_desc, host_features) == 24, "ABI");
pvio_static_assert(offsetof(struct pvio_dev_desc, guest_features) == 32, "ABI");
pvio_static_assert(offsetof(struct pvio_dev_desc, driver_status) == 40, "ABI");
pvio_static_assert(offsetof(struct pvio_dev_desc, device_state) == 44, "ABI");
pvio_static_assert(offsetof(struct pvio_dev_desc, broken_reason) == 48, "ABI");
pvio_static_assert(offsetof(struct pvio_dev_desc, reset_count) == 52, "ABI");
pvio_static_assert(offsetof(struct pvio_dev_desc, reset_request) == 56, "ABI");

pvio_static_assert(sizeof(struct pvio_queue_desc) == 64, "ABI");
pvio_static_assert(offsetof(struct pvio_queue_desc, cq_off) == 4, "ABI");
pvio_static_assert(offsetof(struct pvio_queue_desc, sq_size) == 8, "ABI");
pvio_static_assert(offsetof(struct pvio_queue_desc, cq_size) == 12, "ABI");
pvio_static_assert(offsetof(struct pvio_queue_desc, sq_esize) == 16, "ABI");
pvio_static_assert(offsetof(struct pvio_queue_desc, cq_esize) == 18, "ABI");
pvio_static_assert(offsetof(struct pvio_queue_desc, vector) == 20, "ABI");
pvio_static_assert(offsetof(struct pvio_queue_desc, flags) == 22, "ABI");
pvio_static_assert(offsetof(struct pvio_queue_desc, enabled) == 24, "ABI");

pvio_static_assert(sizeof(struct pvio_desc) == 16, "ABI");
pvio_static_assert(offsetof(struct pvio_desc, len) == 8, "ABI");
pvio_static_assert(offsetof(struct pvio_desc, id) == 12, "ABI");
pvio_static_assert(offsetof(struct pvio_desc, flags) == 14, "ABI");
pvio_static_assert(sizeof(struct pvio_cpl) == 16, "ABI");
pvio_static_assert(offsetof(struct pvio_cpl, len) == 4, "ABI");
pvio_static_assert(offsetof(struct pvio_cpl, status) == 8, "ABI");
pvio_static_assert(offsetof(struct pvio_cpl, aux) == 12, "ABI");

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

pvio_static_assert(sizeof(struct pvio_blk_config) == 64, "ABI");
pvio_static_assert(offsetof(struct pvio_blk_config, logical_block_size) == 8,
		   "ABI");
pvio_static_assert(offsetof(struct pvio_blk_config, max_segments) == 16, "ABI");
pvio_static_assert(offsetof(struct pvio_blk_config, max_sectors) == 24, "ABI");
pvio_static_assert(offsetof(struct pvio_blk_config, num_queues) == 40, "ABI");
pvio_static_assert(sizeof(struct pvio_blk_req) == 16, "ABI");
pvio_static_assert(offsetof(struct pvio_blk_req, op) == 8, "ABI");
pvio_static_assert(offsetof(struct pvio_blk_req, id) == 12, "ABI");
pvio_static_assert(sizeof(struct pvio_blk_range) == 16, "ABI");

pvio_static_assert(sizeof(struct pvio_balloon_stats) == 96, "ABI");
pvio_static_assert(sizeof(struct pvio_balloon_config) == 152, "ABI");
pvio_static_assert(offsetof(struct pvio_balloon_config, actual_pages) == 24,
		   "ABI");
pvio_static_assert(offsetof(struct pvio_balloon_config, stats) == 32, "ABI");

/* ---- helpers both sides use -------------------------------------------- */

/* Is [off, off + len) inside a window of @size bytes, without overflow? */
static inline bool pvio_abi_range_ok(__u64 off, __u64 len, __u64 size)
{
	return off <= size && len <= size - off;
}

static inline const char *pvio_dev_type_name(unsigned int type)
{
	switch (type) {
	case PVIO_DEV_NET:
		return "net";
	case PVIO_DEV_BLK:
		return "blk";
	case PVIO_DEV_BALLOON:
		return "balloon";
	case PVIO_DEV_ECHO:
		return "echo";
	default:
		return "unknown";
	}
}

#endif /* PVIO_ABI_H */
