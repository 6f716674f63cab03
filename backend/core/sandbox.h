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

/*
 * The calling thread's empty, read-only root in a mount namespace of its
 * own (root only); pvbe_sandbox_lock() does it for the worker, a class's
 * ops->confine for threads it made before.
 */
int pvbe_sandbox_empty_root(const char *tag);
/* Close every fd but the @n in @keep. */
int pvbe_sandbox_close_fds(const int *keep, unsigned int n);
/*
 * Limit private memory (RLIMIT_DATA), give the worker an empty read-only
 * root in its own mount namespace (when root), drop to the configured
 * user (when root), die with the supervisor, forbid new privileges and
 * ptrace by our own user, start the worker's threads (core/threads.c),
 * load the seccomp filter on every thread.  Unless the configuration
 * says sandbox = no.  A guest with a DPDK port is confined the same
 * way: EAL and the port are set up before (ops->prepare), EAL's own
 * thread gets the empty root too (ops->confine).
 */
int pvbe_sandbox_lock(struct pvbe_guest *g);

#endif
