// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem.c - the ivshmem server protocol as QEMU's ivshmem-doorbell client
 * expects it.  Every message is one little-endian int64, optionally with
 * one fd attached (SCM_RIGHTS):
 *
 *   1. protocol version 0
 *   2. the client's own peer ID
 *   3. -1 with the shared-memory fd
 *   4. for each other peer (here: only us, PVBE_BACKEND_PEER): its ID with
 *      one eventfd, once per vector, in vector order -- the client's
 *      doorbell writes land on these
 *   5. the client's own ID with one eventfd per vector: its interrupts
 */
#include <errno.h>
#include <endian.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ivshmem.h"
#include "log.h"

int pvbe_ivshmem_listen(const char *path, const char *tag)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		pvbe_err(tag, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	/* Replace a stale socket, never another kind of file. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			pvbe_err(tag, "%s exists and is not a socket", path);
			return -EEXIST;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(fd, 4) < 0) {
		int err = errno;

		pvbe_err(tag, "listen on %s: %s", path, strerror(err));
		close(fd);
		return -err;
	}
	return fd;
}

static int send_msg(int conn, int64_t val, int fd)
{
	int64_t le = (int64_t)htole64((uint64_t)val);
	struct iovec iov = { .iov_base = &le, .iov_len = sizeof(le) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	ssize_t n;

	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do {
		n = sendmsg(conn, &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == sizeof(le) ? 0 : -EIO;
}

int pvbe_ivshmem_handshake(struct pvbe_guest *g)
{
	unsigned int v;
	int ret;

	ret = send_msg(g->conn_fd, 0, -1);
	if (!ret)
		ret = send_msg(g->conn_fd, g->client_id, -1);
	if (!ret)
		ret = send_msg(g->conn_fd, -1, g->shm_fd);
	for (v = 0; !ret && v < g->nvectors; v++)
		ret = send_msg(g->conn_fd, PVBE_BACKEND_PEER, g->be_efd[v]);
	for (v = 0; !ret && v < g->nvectors; v++)
		ret = send_msg(g->conn_fd, g->client_id, g->guest_efd[v]);
	if (ret)
		pvbe_err(g->tag, "handshake with peer %u: %s", g->client_id,
			 strerror(-ret));
	return ret;
}

int pvbe_ivshmem_read_ext(int conn, int *fd, uint64_t *size)
{
	int64_t m[2];
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(m) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	do {
		n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n < 0)
		return errno == EAGAIN ? -EAGAIN : (errno == ECONNRESET ? 0 : -errno);
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	if (n != sizeof(m) || (int64_t)le64toh((uint64_t)m[0]) != PVIO_IVSHMEM_EXT_RAM ||
	    *fd < 0 || (msg.msg_flags & MSG_CTRUNC)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -EPROTO;
	}
	*size = le64toh((uint64_t)m[1]);
	return 1;
}
