// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem.c - the ivshmem server protocol as QEMU's ivshmem-doorbell client
 * expects it.  Every message is one little-endian int64, optionally with
 * one fd attached (SCM_RIGHTS):
 *
 *   1. protocol version 0
 *   2. the client's own peer ID, PVBE_CLIENT_PEER (0: QEMU may be master)
 *   3. -1 with the shared-memory fd
 *   4. for each other peer (here: only us, PVBE_BACKEND_PEER): its ID with
 *      one eventfd, once per vector, in vector order -- the client's
 *      doorbell writes land on these
 *   5. the client's own ID with one eventfd per vector: its interrupts
 *
 * The supervisor sends the handshake (it made the window and eventfds for
 * this client); the guest's worker reads the one message a client may
 * send afterwards, the RAM offer of a userspace frontend (protocol 2.3).
 */
#include <errno.h>
#include <endian.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport/ivshmem.h"
#include "core/log.h"
#include "core/unixsock.h"

int pvbe_ivshmem_listen(const char *path, const char *tag)
{
	return pvbe_unix_listen(path, 4, tag);
}

static int send_msg(int conn, int64_t val, int fd)
{
	int64_t le = (int64_t)htole64((uint64_t)val);

	return pvbe_send_fds(conn, &le, sizeof(le), &fd, fd >= 0);
}

int pvbe_ivshmem_handshake(struct pvbe_guest *g)
{
	unsigned int v;
	int ret;

	ret = send_msg(g->conn_fd, 0, -1);
	if (!ret)
		ret = send_msg(g->conn_fd, PVBE_CLIENT_PEER, -1);
	if (!ret)
		ret = send_msg(g->conn_fd, -1, g->shm_fd);
	for (v = 0; !ret && v < g->nvectors; v++)
		ret = send_msg(g->conn_fd, PVBE_BACKEND_PEER, g->be_efd[v]);
	for (v = 0; !ret && v < g->nvectors; v++)
		ret = send_msg(g->conn_fd, PVBE_CLIENT_PEER, g->guest_efd[v]);
	if (ret)
		pvbe_err(g->tag, "handshake with peer %u: %s", g->client_id,
			 strerror(-ret));
	return ret;
}

int pvbe_ivshmem_read_ext(int conn, int *fd, uint64_t *size)
{
	unsigned int nfds;
	int64_t m[2];
	ssize_t n;

	*fd = -1;
	/* One fd exactly: pvbe_recv_fds closes any beyond it. */
	n = pvbe_recv_fds(conn, m, sizeof(m), fd, 1, &nfds, MSG_DONTWAIT);
	if (n == 0 || n == -ECONNRESET)
		return 0;
	if (n < 0)
		return (int)n;
	if (n != sizeof(m) || (int64_t)le64toh((uint64_t)m[0]) != PVIO_IVSHMEM_EXT_RAM ||
	    nfds != 1) {
		if (nfds)
			close(*fd);
		*fd = -1;
		return -EPROTO;
	}
	*size = le64toh((uint64_t)m[1]);
	return 1;
}
