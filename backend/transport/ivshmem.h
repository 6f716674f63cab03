/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ivshmem.h - the server side of QEMU's ivshmem-doorbell protocol, plus the
 * pvio extension message a userspace frontend uses to offer its RAM.
 */
#ifndef PVBE_IVSHMEM_H
#define PVBE_IVSHMEM_H

#include <stdint.h>

#include "transport/guest.h"


int pvbe_ivshmem_listen(const char *path, const char *tag);
/* Send the whole handshake to a fresh connection.  0 or -errno. */
int pvbe_ivshmem_handshake(struct pvbe_guest *g);
/*
 * Read one extension message.  Returns 1 with *fd and *size for a RAM
 * offer, 0 on EOF (peer left), -errno on a malformed message.
 */
int pvbe_ivshmem_read_ext(int conn, int *fd, uint64_t *size);

#endif
