/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sup.h - the supervisor's three parts between themselves: supervisor.c
 * (connections, listeners, signals, the loop), guests.c (guests made,
 * opened, removed) and workers.c (worker processes).  Nothing outside
 * them includes it.
 */
#ifndef PVBE_SUP_H
#define PVBE_SUP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct pvbe_guest;

#define PVBE_STOP_GRACE_MS	5000	/* SIGTERM, then SIGKILL */
#define PVBE_SUP_TICK_MS	100

struct pvbe_sup_state {
	bool stopping;			/* SIGTERM: workers going, then exit */
	bool upgrading;			/* pvbe_upgrade(): workers going, then exec */
	bool listeners_paused;		/* accept() hit EMFILE, or upgrading */
	bool keep_sockets;		/* stopping into systemd's fd store */
	sigset_t oldmask;		/* the signal mask workers start with */
};

extern struct pvbe_sup_state pvbe_sup;

/* supervisor.c: the client connection */
void pvbe_conn_close_fds(struct pvbe_guest *g);
/* The client left (or must go): its fds close, its worker is told. */
void pvbe_conn_drop(struct pvbe_guest *g, const char *why);
void pvbe_on_conn(int fd, uint32_t events, void *arg);
void pvbe_on_accept(int lfd, uint32_t events, void *arg);
/* Hand the client to @g's worker (@takeover: a migrated window). */
int pvbe_send_conn(struct pvbe_guest *g, bool takeover);

/* guests.c */
/* Open what the guest needs on the host and start its worker. */
int pvbe_guest_open(struct pvbe_guest *g);
void pvbe_guest_finish_remove(struct pvbe_guest *g);
void pvbe_guests_readd(void);

/* workers.c */
int pvbe_workers_init(void);
void pvbe_workers_exit(void);
void pvbe_worker_spawn(struct pvbe_guest *g);
/* A new worker for @g, once nothing of the last one can write guest RAM. */
void pvbe_worker_start(struct pvbe_guest *g);
void pvbe_worker_on_drained(int fd, uint32_t events, void *arg);
/* Has the last worker's drain pipe hung up?  Then it is closed. */
bool pvbe_worker_drained(struct pvbe_guest *g);
void pvbe_workers_reap(void);

#endif
