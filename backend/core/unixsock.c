// SPDX-License-Identifier: GPL-2.0
/* unixsock.c - listening unix sockets and fd passing for pviod. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/unixsock.h"

int pvbe_unix_listen(const char *path, int backlog, const char *tag)
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
	    chmod(path, 0600) < 0 || listen(fd, backlog) < 0) {
		int err = errno;

		pvbe_err(tag, "listen on %s: %s", path, strerror(err));
		close(fd);
		return -err;
	}
	return fd;
}

int pvbe_send_fds(int sock, const void *buf, size_t len, const int *fds,
		  unsigned int nfds)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	size_t space = CMSG_SPACE(nfds * sizeof(int));
	struct cmsghdr *c;
	void *ctl = NULL;
	ssize_t n;

	if (nfds) {
		/* cmsghdr alignment: calloc's is enough. */
		ctl = calloc(1, space);
		if (!ctl)
			return -ENOMEM;
		msg.msg_control = ctl;
		msg.msg_controllen = space;
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	do {
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	n = n < 0 ? -errno : n;
	free(ctl);
	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -EIO;
}

ssize_t pvbe_recv_fds(int sock, void *buf, size_t len, int *fds,
		      unsigned int max, unsigned int *nfds, int flags)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	/* Room for one fd more than @max: a message with too many is seen. */
	size_t space = CMSG_SPACE((max + 1) * sizeof(int));
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	unsigned int got = 0, i, k;
	bool bad = false;
	struct cmsghdr *c;
	void *ctl;
	ssize_t n;

	*nfds = 0;
	ctl = calloc(1, space);
	if (!ctl)
		return -ENOMEM;
	msg.msg_control = ctl;
	msg.msg_controllen = space;
	do {
		n = recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		n = -errno;
		free(ctl);
		return n;
	}
	/*
	 * Every fd the kernel installed is ours to hand out or close, in
	 * however many SCM_RIGHTS headers they came: never assume one fd
	 * per message (a peer that sends two would leak both).
	 */
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		k = (unsigned int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (got < max)
				fds[got++] = fd;
			else {
				close(fd);
				bad = true;
			}
		}
	}
	free(ctl);
	if (bad || (msg.msg_flags & MSG_CTRUNC)) {
		for (i = 0; i < got; i++)
			close(fds[i]);
		return -EPROTO;
	}
	*nfds = got;
	return n;
}
