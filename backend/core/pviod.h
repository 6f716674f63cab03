/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pviod.h - daemon-wide state and the pieces main() wires together.
 *
 *   supervisor.c  the process that holds every guest's sockets, windows,
 *                 eventfds and host resources: connections, signals, the
 *                 loop, the upgrade in place (handover.c)
 *   guests.c      guests made, opened, added and removed at run time
 *   workers.c     one worker process per guest, forked, heard, reaped
 *   worker.c      one guest's I/O, sandboxed (sandbox.c)
 *   msg.c         the messages between the two
 *   control.c     control requests: parsing, and the worker's answers
 */
#ifndef PVBE_PVIOD_H
#define PVBE_PVIOD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"
#include "transport/guest.h"

struct pvbe_daemon {
	char config_path[4096];
	struct pvbe_cfg cfg;		/* global keys; guests move to guests[] */
	struct pvbe_guest *guests[PVBE_MAX_GUESTS];	/* (S) NULL: free slot */
	int control_fd;			/* (S) listening */
	uint16_t next_client_id;	/* (S) never reused while it can be */
	char exe[4096];			/* our binary, as at start: upgrade execs it */
	char **argv;			/* ... with these arguments */
	uint64_t upgrades;		/* in-place upgrades this process went through */
	uid_t uid;			/* workers drop to these when root */
	gid_t gid;
	/* In a worker: its guest, its end of the supervisor pair, and the
	 * supervisor's PID (the parent it must not outlive). */
	struct pvbe_guest *self;
	int sup_fd;
	pid_t sup_pid;
};

extern struct pvbe_daemon pvbe;

/* supervisor.c */
int pvbe_supervise(void);
/* guests.c */
int pvbe_guest_new(struct pvbe_guest_cfg *cfg, struct pvbe_guest **out);
void pvbe_guest_free(struct pvbe_guest *g);

/* worker.c */
int pvbe_worker_main(struct pvbe_guest *g);
/* In a worker: close its copies of the client's fds. */
void pvbe_worker_close_conn_fds(struct pvbe_guest *g);
/* The loop's steps, also driven by the fuzz targets (tests/fuzz). */
int pvbe_worker_prepare(void);
void pvbe_worker_tick(struct pvbe_guest *g);

/* control.c */
int pvbe_control_listen(const char *path);
void pvbe_control_accept(int fd, uint32_t events, void *arg);
/* Worker: answer one request line for its guest into @buf (one JSON object). */
size_t pvbe_control_worker(struct pvbe_guest *g, char *line, char *buf, size_t len);
/* Supervisor: a worker's answer to request @id arrived (NULL: none). */
void pvbe_control_reply(struct pvbe_guest *g, uint64_t id, const char *json);
/* Supervisor: the guest's worker is gone; fail what waits for it. */
void pvbe_control_guest_gone(struct pvbe_guest *g);

#endif
