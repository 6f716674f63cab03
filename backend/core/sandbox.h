/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sandbox.h - what a worker may still do once its guest can reach it:
 * only its own fds, an unprivileged user, and a seccomp filter that
 * allows the system calls of the data path and nothing else.
 */
#ifndef PVBE_SANDBOX_H
#define PVBE_SANDBOX_H

#include "transport/guest.h"

/* Private memory a worker may take beyond what it has when it locks. */
#define PVBE_WORKER_DATA_MAX	(1ull << 30)

/*
 * RLIMIT_FSIZE of @g's worker @pid (0: this process) at the sizes of the
 * files it writes (ops->file_extent); again after the supervisor grows
 * one.  Confined workers only.
 */
int pvbe_sandbox_file_limit(struct pvbe_guest *g, pid_t pid);

/* Close every fd but the @n in @keep. */
int pvbe_sandbox_close_fds(const int *keep, unsigned int n);
/*
 * Limit private memory (RLIMIT_DATA), give the worker an empty read-only
 * root in its own mount namespace (when root), drop to the configured
 * user (when root), die with the supervisor, forbid new privileges and
 * ptrace by our own user, load the seccomp filter.  Unless the
 * configuration says sandbox = no; a guest with a DPDK port keeps its
 * privileges and runs without the filter (EAL needs both), and says so.
 */
int pvbe_sandbox_lock(struct pvbe_guest *g);

#endif
