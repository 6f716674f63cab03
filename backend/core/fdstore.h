/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fdstore.h - pviod restarted by systemd without losing a guest.
 *
 * Under systemd with a file-descriptor store (FileDescriptorStoreMax= in
 * pviod.service; pviod uses it when $FDSTORE is set, as systemd 254 sets
 * it and pviod.service sets it for older ones), the supervisor keeps in
 * the store, named, every fd a guest's connection is made of: what an
 * upgrade's exec hands over (handover.h) plus each guest's device state
 * page, and a sealed memfd holding the hand-over state that names them.
 * It stores them as they change (a client connects or leaves, a worker
 * starts: sd_pid_notify_with_fds(FDSTORE=1), FDSTOREREMOVE=1), so the
 * store matches the process even when the process dies without a word.
 *
 * Stopped (systemctl restart, SIGTERM) with the store on, the supervisor
 * SIGKILLs its workers, as an upgrade does, instead of stopping their
 * devices, and leaves the guests' sockets in place.  Started again with
 * the store's fds (LISTEN_FDS, LISTEN_FDNAMES), it adopts every guest
 * exactly as after an upgrade: the guest sees a new generation and
 * resubmits what was in flight.  After a crash (Restart=on-failure) the
 * same.  A plain stop discards the store: QEMU sees the server gone.
 */
#ifndef PVBE_FDSTORE_H
#define PVBE_FDSTORE_H

#include <stdbool.h>

/* At start-up: is the store there ($FDSTORE and $NOTIFY_SOCKET)? */
bool pvbe_fdstore_init(void);
bool pvbe_fdstore_on(void);
/*
 * At start-up, after pvbe_fdstore_init(): the fds systemd handed back, if
 * any; the newest state among them is taken (pvbe_handover_take()), the
 * rest closed.  0: nothing handed back; 1: taken; -errno: unusable.
 */
int pvbe_fdstore_load(void);
/*
 * Once every guest is open (and adopted): the first pvbe_fdstore_sync(),
 * which keeps the names of what was handed back and taken again.  Syncs
 * before it do nothing.
 */
void pvbe_fdstore_start(void);
/*
 * Make the store match the guests: new fds stored, gone ones removed, the
 * state written again when anything changed.  Cheap when nothing did.
 */
void pvbe_fdstore_sync(void);
/* Before an upgrade's exec: empty the store (the new pviod fills it). */
void pvbe_fdstore_release(void);
/* How many fds are stored (for pvioctl workers): 0 when off. */
unsigned int pvbe_fdstore_count(void);

#endif
