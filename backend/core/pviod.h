/* SPDX-License-Identifier: GPL-2.0 */
/* pviod.h - daemon-wide state and the pieces main() wires together. */
#ifndef PVBE_PVIOD_H
#define PVBE_PVIOD_H

#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"
#include "transport/guest.h"
#include "transport/ivshmem.h"

/* Worker -> supervisor messages. */
enum {
	PVBE_SUP_CONN = 1,	/* fd: a guest's connection; arg: its peer ID */
	PVBE_SUP_RAM,		/* fd: RAM memfd a frontend offered; arg: size */
	PVBE_SUP_GONE,		/* the guest's client left: drop its fds */
	PVBE_SUP_NEXT_ID,	/* arg: next peer ID to hand out */
};

struct pvbe_sup_msg {
	int op;
	int guest;
	uint64_t arg;
};

struct pvbe_daemon {
	struct pvbe_cfg cfg;
	int nguests;
	struct pvbe_guest guests[PVBE_MAX_GUESTS];
	int control_fd;		/* listening, kept by the supervisor */
	int sup_fd;		/* supervisor end of the pair */
	int worker_fd;		/* worker end of the pair */
	pid_t worker_pid;	/* in the supervisor */
	uint16_t next_client_id;
	uint64_t started;	/* worker start, seconds */
};

extern struct pvbe_daemon pvbe;

void pvbe_sup_send(int op, int guest, int fd, uint64_t arg);

/* worker.c */
int pvbe_worker_main(bool restart);

/* control.c */
int pvbe_control_listen(const char *path);
void pvbe_control_accept(int fd, uint32_t events, void *arg);

#endif
