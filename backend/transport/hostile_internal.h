/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hostile_internal.h - what hostile.c (scenarios, arming, config area,
 * storms, control) and hostile_ring.c (requests, completions, ring
 * indices, the reset echo) share.  Test builds only; the worker's thread
 * owns all of it.
 */
#ifndef PVBE_HOSTILE_INTERNAL_H
#define PVBE_HOSTILE_INTERNAL_H

#include "transport/hostile.h"

#define H_STORM_TICKS	20
#define H_IRQ_MS	50
#define H_REC_BUFS	16
#define H_SCRIBBLE	0xa5
#define H_LATE_US	200000	/* cpl-dup-late: the guest's time to take it */

enum {
	S_CPL_ID_RANGE, S_CPL_DUP, S_CPL_DUP_LATE, S_CPL_UNPOSTED, S_CPL_LEN, S_CPL_STATUS,
	S_MRG_NB_BIG, S_MRG_NB_ZERO, S_MRG_NB_LIE,
	S_CQ_JUMP, S_CQ_BACK, S_SQ_CONS,
	S_CFG_LBS, S_CFG_LIMITS, S_CFG_STORM,
	S_GEN_STORM, S_RESET_STORM, S_IRQ_STORM, S_STATE_BROKEN,
	S_RESET_NOACK, S_HB_STOP, S_SILENT,
	S_COUNT
};

#define S_CPL_FIRST	S_CPL_ID_RANGE
#define S_CPL_LAST	S_MRG_NB_LIE
#define S_RING_FIRST	S_CQ_JUMP
#define S_RING_LAST	S_SQ_CONS
#define BIT(s)		(1u << (s))
#define C(t)		(1u << (t))

/* A request popped and not completed yet: where the backend may write. */
struct h_rec {
	bool used;
	uint16_t id;
	uint8_t nw;
	uint32_t out_bytes;
	void *wbuf[H_REC_BUFS];
	uint32_t wlen[H_REC_BUFS];
};

struct h_queue {
	struct h_rec *rec;	/* sq_size entries, by id & mask */
	uint32_t mask;
	uint32_t pkt_left;	/* net rx MRG: completions of this packet to come */
	int sticky;		/* S_CQ_JUMP.. being rewritten, or -1 */
	struct pvio_cpl late;	/* S_CPL_DUP_LATE: the completion to post again */
	bool late_saved;	/* ... when a request reuses its id's slot */
};

struct pvbe_hostile {
	uint32_t armed;			/* BIT(S_*) */
	unsigned int fired[S_COUNT];
	unsigned int storm_n;		/* ticks per storm */
	unsigned int storm_left[S_COUNT];
	unsigned int storm_step;
	bool echo_held;			/* a reset served, not echoed */
	bool gen_touched;		/* the window shows a generation we made up */
	bool state_touched;		/* ... a device_state we made up */
	bool cfg_saved;
	unsigned char cfg[256];		/* the config area as the class wrote it */
	struct h_queue q[PVIO_MAX_QUEUES];
};

/* hostile.c */
void pvbe_hostile_fire(struct pvbe_dev *d, int s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* hostile_ring.c */
void pvbe_hostile_rec_clear(struct pvbe_hostile *h);
void pvbe_hostile_echo_late(struct pvbe_dev *d);

#endif
