/* SPDX-License-Identifier: GPL-2.0 */
/*
 * unixsock.h - the unix-socket plumbing pviod needs in three places (the
 * ivshmem server, the control socket, the supervisor pair): listening on a
 * path, and one message with at most one fd attached (SCM_RIGHTS).
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
/* Send @len bytes with @fd attached (none when @fd < 0); 0 or -errno. */
int pvbe_send_fd(int sock, const void *buf, size_t len, int fd);
/*
 * Receive up to @len bytes into @buf; *fd gets the attached fd or -1.
 * Returns the byte count (0 at EOF) or -errno; a truncated control message
 * is -EPROTO and leaves no fd open.
 */
ssize_t pvbe_recv_fd(int sock, void *buf, size_t len, int *fd, int flags);

#endif
