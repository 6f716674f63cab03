/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sandbox.h - what a worker may still do once its guest can reach it:
 * only its own fds, an unprivileged user, and a seccomp filter that
 * allows the system calls of the data path and nothing else.
 */
#ifndef PVBE_SANDBOX_H
#define PVBE_SANDBOX_H

#include "transport/guest.h"

/* Close every fd but the @n in @keep. */
int pvbe_sandbox_close_fds(const int *keep, unsigned int n);
/*
 * Drop to the configured user (when root), forbid new privileges and
 * ptrace by our own user, load the seccomp filter.  Unless the
 * configuration says sandbox = no; a guest with a DPDK port keeps its
 * privileges and runs without the filter (EAL needs both), and says so.
 */
int pvbe_sandbox_lock(struct pvbe_guest *g);

#endif
