// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_ext - what arrives on sockets from the untrusted side: a client's
 * message after the handshake (the guest-RAM extension, protocol 2.3) and
 * a worker's message to the supervisor (core/msg.h), each with 0 to 3 fds
 * attached.  Every fd received must be handed out or closed: the test
 * fails when fds accumulate.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/msg.h"
#include "core/pviod.h"
#include "core/unixsock.h"
#include "transport/ivshmem.h"

struct pvbe_daemon pvbe;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void send_with_fds(int s, const uint8_t *data, size_t size, unsigned int nfds)
{
	int fds[3];
	unsigned int i;

	for (i = 0; i < nfds; i++)
		fds[i] = memfd_create("fuzz", MFD_CLOEXEC);
	pvbe_send_fds(s, data, size, fds, nfds);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pvbe_msg *m;
	int sp[2], fds[PVBE_MSG_MAX_FDS], fd, probe;
	unsigned int nfds, i, n;
	uint64_t sz;

	if (!m) {
		pvbe_log_level = -1;
		m = malloc(PVBE_MSG_MAX);
	}
	if (!size || size > 4096)
		return 0;
	n = data[0] % 4;
	/* A client: the RAM offer, or anything else. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp))
		abort();
	send_with_fds(sp[0], data + 1, size - 1, n);
	close(sp[0]);
	while (pvbe_ivshmem_read_ext(sp[1], &fd, &sz) > 0)
		close(fd);
	close(sp[1]);
	/* A worker, to the supervisor. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp))
		abort();
	send_with_fds(sp[0], data + 1, size - 1, n);
	if (pvbe_msg_recv(sp[1], m, fds, &nfds) > 0)
		for (i = 0; i < nfds; i++)
			close(fds[i]);
	close(sp[0]);
	close(sp[1]);
	/* The lowest free fd stays low when nothing leaks. */
	probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (probe > 64) {
		fprintf(stderr, "fuzz_ext: fd %d free first: fds leak\n", probe);
		abort();
	}
	close(probe);
	return 0;
}
