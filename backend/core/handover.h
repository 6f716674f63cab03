/* SPDX-License-Identifier: GPL-2.0 */
/*
 * handover.h - pviod replaced in place (pvioctl upgrade, SIGUSR2).
 *
 * The supervisor kills its workers and, once they are gone, execs the
 * pviod binary it was started from (a new version, after a package
 * upgrade) in the same process: the same PID, the same parent, systemd's
 * notify socket.  What a guest's connection is made of survives the
 * exec: each guest's listening socket, the client's connection, its
 * window memfd, its eventfds and guest RAM fd, the page that carries
 * device state across workers, and the dead worker's drain pipe while
 * its reads may still land in guest RAM (the successor waits for it).  The new
 * process reads the configuration again, adopts those fds for every
 * guest that is still configured with the same layout, and starts a
 * worker per guest that takes the window over, as after a worker crash:
 * the guest sees a new generation, resets its devices and resubmits what
 * was in flight.  QEMU never notices.
 */
#ifndef PVBE_HANDOVER_H
#define PVBE_HANDOVER_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct pvbe_guest;

/*
 * How the state names a guest's fds: @fd adds @g's @fd under @key to the
 * guest's object @o (@vec < 0), or as element @vec of the array @o (the
 * eventfds).  0, or -errno.  With @persist_fd the device state page goes
 * as an fd ("persist_fd"), read when the state is taken, not as a copy.
 */
struct pvbe_handover_refs {
	int (*fd)(struct pvbe_guest *g, struct json_object *o, const char *key, int fd, int vec,
		  void *ctx);
	void *ctx;
	bool persist_fd;
};

/*
 * The hand-over state of every guest, as the next pviod takes it
 * (handover.c's head); *@err: -errno if an fd could not be named;
 * *@clients: how many clients it hands over.  The caller puts it.
 */
struct json_object *pvbe_handover_state(const struct pvbe_handover_refs *refs, int *err,
					int *clients);
/* @top's text in a sealed memfd named @name (@flags: MFD_CLOEXEC or 0): the fd, or -errno. */
int pvbe_handover_write(struct json_object *top, const char *name, unsigned int flags);
/* The state in @fd, a regular file of 1 byte to 1 MiB, parsed: NULL if it is none. */
struct json_object *pvbe_handover_read(int fd);
/*
 * Take @st (ownership too) as the state to adopt guests from, its fds
 * numbers open in this process; @how ("upgrade", "restart") for the log.
 * 1, or -errno (logged; the state's fds are closed).
 */
int pvbe_handover_take(struct json_object *st, const char *how);

/*
 * At start-up, before any guest opens: the state an exec'd predecessor
 * left (PVIOD_HANDOVER), if any.  0: none; 1: loaded; -errno: unusable
 * (logged; pviod starts clean, closing what it was given).
 */
int pvbe_handover_load(void);
/*
 * The @i-th guest handed over: its file if it was added at run time from
 * a file of its own (to add again), "" if not; NULL past the last.
 */
const char *pvbe_handover_extra_file(int i, const char **guest);
/* In guest_open(): the listening socket @g had, or -1. */
int pvbe_handover_listen_fd(struct pvbe_guest *g);
/* After the guest's setup: adopt its client, if it had one and still fits. */
bool pvbe_handover_adopt(struct pvbe_guest *g);
/* Once every guest is open: close what no guest took, forget the state. */
void pvbe_handover_finish(void);

/*
 * Exec the new pviod with every guest's fds; workers must be gone and
 * drained.  Returns only on failure (-errno, @err set): the caller goes
 * on as before.
 */
int pvbe_handover_exec(char *err, size_t len);

#endif
