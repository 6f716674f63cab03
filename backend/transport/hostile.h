/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hostile.h - a backend that lies to its guest, for testing the guest
 * drivers (issue 14).  Test builds only (PVBE_TEST_HOOKS, pviod-san): the
 * production pviod has none of it, so there the device key `hostile` is an
 * unknown key and the control request `hostile` one no class knows.
 *
 * A device with `hostile = SCENARIO[,SCENARIO...]` (or `none`) in its
 * configuration, or one a control request `hostile GUEST DEVICE
 * SCENARIO... | off | status` was sent for, misbehaves as told: it
 * corrupts one completion, moves a ring index where no index may go, writes
 * garbage into its config area, storms the guest with generations, resets
 * or interrupts, never echoes a reset, or goes silent.  hostile.c lists the
 * scenarios.  `off` undoes what can be undone (config area, generation,
 * a held reset echo: echoed late, after scribbling over every buffer it
 * still may write) and disarms the rest.
 *
 * The hooks are one line each, in the places that own what they bend:
 * completion posting, chain popping and the CQ commit (queue.c), the reset
 * echo (device.c), the layout (window.c), the heartbeat tick (worker.c),
 * the device key (guests.c), the control request (control.c).  Every
 * hook runs on the worker's thread but for _parse and _free (supervisor);
 * a device whose queues another thread serves (net = dpdk) is refused.
 */
#ifndef PVBE_HOSTILE_H
#define PVBE_HOSTILE_H

#include <stdbool.h>
#include <stddef.h>

#include "transport/guest.h"

struct json_object;

#ifdef PVBE_TEST_HOOKS

/* Supervisor: take the `hostile` key out of the class keys (0, -EINVAL). */
int pvbe_hostile_parse(struct pvbe_dev *d);
void pvbe_hostile_free(struct pvbe_dev *d);
/* A fresh layout or takeover: config scenarios armed at start apply now. */
void pvbe_hostile_init(struct pvbe_dev *d);
/* A chain was popped: remember where the backend may write for it. */
void pvbe_hostile_pop(struct pvbe_queue *q, const struct pvbe_req *req);
/* The completion to post instead of @c (@out or @c), NULL: post none. */
const struct pvio_cpl *pvbe_hostile_cpl(struct pvbe_queue *q, const struct pvio_cpl *c,
					struct pvio_cpl *out);
/* After the CQ commit: a ring index moved where none may be. */
void pvbe_hostile_flush(struct pvbe_queue *q);
/* A reset was served: true when its echo must be held back. */
bool pvbe_hostile_reset(struct pvbe_dev *d);
/* Heartbeat tick: storms; true when the heartbeat must stand still. */
bool pvbe_hostile_tick(struct pvbe_guest *g);
/* Control request `hostile DEVICE WORDS...`: a JSON answer. */
struct json_object *pvbe_hostile_control(struct pvbe_dev *d, int argc, char **argv);

#else

static inline int pvbe_hostile_parse(struct pvbe_dev *d) { (void)d; return 0; }
static inline void pvbe_hostile_free(struct pvbe_dev *d) { (void)d; }
static inline void pvbe_hostile_init(struct pvbe_dev *d) { (void)d; }
static inline void pvbe_hostile_pop(struct pvbe_queue *q, const struct pvbe_req *req)
{
	(void)q;
	(void)req;
}
static inline const struct pvio_cpl *pvbe_hostile_cpl(struct pvbe_queue *q,
						      const struct pvio_cpl *c,
						      struct pvio_cpl *out)
{
	(void)q;
	(void)out;
	return c;
}
static inline void pvbe_hostile_flush(struct pvbe_queue *q) { (void)q; }
static inline bool pvbe_hostile_reset(struct pvbe_dev *d) { (void)d; return false; }
static inline bool pvbe_hostile_tick(struct pvbe_guest *g) { (void)g; return false; }

#endif
#endif
