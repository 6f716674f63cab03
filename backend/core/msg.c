// SPDX-License-Identifier: GPL-2.0
/* msg.c - supervisor <-> worker messages (msg.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/msg.h"
#include "core/unixsock.h"

int pvbe_msg_send(int sock, uint32_t op, uint64_t a, uint64_t b, uint64_t c,
		  const void *data, size_t len, const int *fds, unsigned int nfds)
{
	struct pvbe_msg *m;
	int ret;

	if (len > PVBE_MSG_MAX - sizeof(*m) - 1 || nfds > PVBE_MSG_MAX_FDS)
		return -EMSGSIZE;
	m = malloc(sizeof(*m) + len);
	if (!m)
		return -ENOMEM;
	m->op = op;
	m->len = (uint32_t)len;
	m->a = a;
	m->b = b;
	m->c = c;
	if (len)
		memcpy(m->data, data, len);
	ret = pvbe_send_fds(sock, m, sizeof(*m) + len, fds, nfds);
	free(m);
	return ret;
}

int pvbe_msg_recv(int sock, struct pvbe_msg *m, int *fds, unsigned int *nfds)
{
	ssize_t n;
	unsigned int i;

	n = pvbe_recv_fds(sock, m, PVBE_MSG_MAX - 1, fds, PVBE_MSG_MAX_FDS, nfds,
			  MSG_DONTWAIT);
	if (n == 0)
		return 0;
	if (n < 0)
		return n == -EAGAIN || n == -EWOULDBLOCK ? -EAGAIN :
		       n == -ECONNRESET ? 0 : (int)n;
	if ((size_t)n < sizeof(*m) || m->len != (size_t)n - sizeof(*m)) {
		for (i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		return -EPROTO;
	}
	m->data[m->len] = '\0';
	return 1;
}
