/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * pvio/blk.h - the block device class: features, config area, request
 * header and discard/write-zeroes ranges (docs/protocol.md section 9.2).
 *
 * THIS IS AN ABI, like abi.h (whose rules apply); docs/protocol.md is
 * its prose version.
 */
#ifndef PVIO_BLK_ABI_H
#define PVIO_BLK_ABI_H

#include "abi.h"

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

/* ---- sizes and offsets ------------------------------------------------ */

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

#endif /* PVIO_BLK_ABI_H */
