/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * pvio/abi.h - the pvio wire ABI, transport part: the layout of the shared
 * window (ivshmem BAR2), its device and queue tables, descriptors and
 * completions.  Each device class has its own header beside this one
 * (net.h, blk.h, balloon.h, echo.h); the ring itself is ring.h.
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

#include "compat.h"
#include "ring.h"

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
#define PVIO_F_DIRTY_LOG	2	/* guest marks reaped buffers when asked */

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
	/*
	 * PVIO_F_DIRTY_LOG (protocol 6.4): non-zero while a live migration
	 * wants the guest to write every page of each buffer it reaps that
	 * the backend may have written, before it uses the data; the guest
	 * echoes the value in log_ack once every reap after does.
	 */
	__le32 log_request;		/* (B) */
	__le32 log_ack;			/* (G) */
	__u8 reserved[176];
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
pvio_static_assert(offsetof(struct pvio_window_hdr, log_request) == 72, "ABI");
pvio_static_assert(offsetof(struct pvio_window_hdr, log_ack) == 76, "ABI");
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
