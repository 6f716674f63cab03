/* SPDX-License-Identifier: GPL-2.0 */
/*
 * migrate.h - live migration of a guest between two pviods, the
 * supervisor's part (migrate.c; docs/protocol.md 6.4).  A guest's @mig:
 *
 *   PVBE_MIG_NONE  served as usual
 *   PVBE_MIG_OUT   the source: no worker; @mig_paused once nothing of
 *                  the last one can write the guest's memory
 *   PVBE_MIG_IN    the destination: the client that connects is held,
 *                  no worker gets it until migrate-finish
 */
#ifndef PVBE_MIGRATE_H
#define PVBE_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

struct pvbe_guest;

enum {
	PVBE_MIG_NONE,
	PVBE_MIG_OUT,
	PVBE_MIG_IN,
};

/* "outgoing, paused" and the like for list; NULL: not migrating. */
const char *pvbe_migrate_name(const struct pvbe_guest *g);
/* 1 paused now, 0 pausing (pvbe_control_migrate_paused() follows), -errno. */
int pvbe_migrate_out(struct pvbe_guest *g, char *err, size_t len);
/* The state migrate-out answers with (malloc'd), NULL unless paused. */
char *pvbe_migrate_state(struct pvbe_guest *g);
int pvbe_migrate_in(struct pvbe_guest *g, char *err, size_t len);
/* migrate-track: 0 (then the worker is asked), -errno. */
int pvbe_migrate_track(struct pvbe_guest *g, bool on, char *err, size_t len);
/* The worker died: true when the guest pauses (it was logging). */
bool pvbe_migrate_worker_died(struct pvbe_guest *g);
/* @hex: what migrate-out answered at the source. */
int pvbe_migrate_finish(struct pvbe_guest *g, const char *hex, char *err, size_t len);
int pvbe_migrate_cancel(struct pvbe_guest *g, char *err, size_t len);
/* Supervisor hooks: the worker is gone or its I/O is over; the client left. */
void pvbe_migrate_check(struct pvbe_guest *g);
void pvbe_migrate_client_gone(struct pvbe_guest *g);

/* control.c: a migrate-out waiting for @g is answered (@hex NULL: failed). */
void pvbe_control_migrate_paused(struct pvbe_guest *g, const char *hex);

#endif
