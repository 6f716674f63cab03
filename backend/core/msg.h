/* SPDX-License-Identifier: GPL-2.0 */
/*
 * msg.h - the messages between the supervisor and a guest's worker, one
 * SOCK_SEQPACKET pair per guest.  The supervisor trusts nothing a worker
 * sends: a worker may have been taken over by its guest.  A message from a
 * pair concerns that pair's guest only (no guest is named in it), sizes
 * are checked, fds are counted, and a worker can only hand the supervisor
 * fds of its own client.
 */
#ifndef PVBE_MSG_H
#define PVBE_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pvio/abi.h"

enum pvbe_msg_op {
	/* supervisor -> worker */
	PVBE_MSG_CONN = 1,	/* a new client.  fds: connection, window,
				 * a.nvectors doorbell eventfds, as many
				 * interrupt eventfds, then the RAM file if
				 * b & PVBE_CONN_RAM (b & PVBE_CONN_TAKEOVER:
				 * take the window over, migrate.c); a: client ID << 16 |
				 * nvectors, c: generation */
	PVBE_MSG_GONE,		/* the client left */
	PVBE_MSG_RAM,		/* fd: the configured RAM file (RAM_OPEN);
				 * none and a = errno when it cannot be had */
	PVBE_MSG_CTL,		/* a: request id; data: the request line */
	/* worker -> supervisor */
	PVBE_MSG_RAM_OPEN,	/* open the configured RAM file for me */
	PVBE_MSG_RAM_OFFER,	/* fd: the frontend's RAM memfd; a: size;
				 * b: the client's id */
	PVBE_MSG_CTL_REPLY,	/* a: request id; data: one JSON object */
	PVBE_MSG_DROP,		/* disconnect client a (it broke the protocol);
				 * data: why */
};

#define PVBE_CONN_RAM		1
#define PVBE_CONN_TAKEOVER	2	/* a migrated window: take it over */

struct pvbe_msg {
	uint32_t op;
	uint32_t len;		/* bytes of data[] */
	uint64_t a, b, c;
	char data[];
};

#define PVBE_MSG_MAX		(64u * 1024)	/* header and data */
#define PVBE_MSG_MAX_FDS	(3 + 2 * PVIO_MAX_VECTORS)

int pvbe_msg_send(int sock, uint32_t op, uint64_t a, uint64_t b, uint64_t c,
		  const void *data, size_t len, const int *fds, unsigned int nfds);
/*
 * Receive one message into @m (PVBE_MSG_MAX bytes) and its fds.  Returns
 * 1, 0 when the other end has gone, -EAGAIN when there is nothing, or
 * -EPROTO for a malformed message (no fd left open).  data[] is
 * NUL-terminated.
 */
int pvbe_msg_recv(int sock, struct pvbe_msg *m, int *fds, unsigned int *nfds);

#endif
