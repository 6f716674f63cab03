/* SPDX-License-Identifier: GPL-2.0 */
/*
 * unixsock.h - the unix-socket plumbing pviod needs in three places (the
 * ivshmem server, the control socket, the supervisor/worker pairs):
 * listening on a path, and messages with fds attached (SCM_RIGHTS).
 */
#ifndef PVBE_UNIXSOCK_H
#define PVBE_UNIXSOCK_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Listen on @path, mode 0600, non-blocking.  A stale socket there is
 * replaced; any other kind of file is an error.  Returns the fd or -errno.
 */
int pvbe_unix_listen(const char *path, int backlog, const char *tag);
/* Send @len bytes with @nfds fds attached; 0 or -errno. */
int pvbe_send_fds(int sock, const void *buf, size_t len, const int *fds,
		  unsigned int nfds);
/*
 * Receive up to @len bytes into @buf and at most @max fds into @fds
 * (*@nfds: how many).  Returns the byte count (0 at EOF) or -errno.  A
 * message with more fds than @max, or with a truncated control part, is
 * -EPROTO and leaves no fd open: every fd the peer attached is either
 * handed to the caller or closed.
 */
ssize_t pvbe_recv_fds(int sock, void *buf, size_t len, int *fds,
		      unsigned int max, unsigned int *nfds, int flags);

#endif
