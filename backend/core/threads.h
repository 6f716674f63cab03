/* SPDX-License-Identifier: GPL-2.0 */
/*
 * threads.h - a worker's threads: one guest's queues over several cores.
 *
 * `[guest] threads = N` (default 1) gives the guest's worker N threads.
 * Thread 0 is the worker's main thread: the supervisor's messages, the
 * heartbeat, the control requests, the device state machine, guest RAM
 * -- everything that is not a queue -- and its share of the queues.
 * Threads 1..N-1 serve queues only, each around a loop of its own.
 *
 * Who owns what.  Every queue has one owner thread, fixed when the
 * worker starts (pvbe_threads_init): queues are dealt to the threads in
 * turn, a class's queues that share state in one group (net: an rx and
 * a tx queue of one TAP pair), a class that keeps per-device state on
 * its data path (balloon) or serves its queues elsewhere (net = dpdk)
 * on thread 0.  Only the owner runs a queue, its doorbell, its host fds
 * (TAP queue, io_uring ring) and its class state.  Device state and
 * everything above it belong to thread 0, which changes them only while
 * it holds every other thread out of its callbacks (pvbe_threads_hold):
 * a queue thread takes its own lock around each pass of its loop and
 * lets go of it around epoll_wait().  A data path that finds a device
 * event (a reset, a new status, a broken device) only raises it
 * (pvbe_dev_event, atomic) and wakes thread 0; nothing on a queue thread
 * calls the state machine.
 *
 * The threads are started by the sandbox after it has dropped the
 * worker's privileges and before it loads the seccomp filter, which it
 * loads for every thread at once (TSYNC); they touch nothing of the
 * guest's until pvbe_threads_go().
 */
#ifndef PVBE_THREADS_H
#define PVBE_THREADS_H

#include <stdbool.h>

#define PVBE_MAX_THREADS	16

struct pvbe_guest;
struct pvbe_loop;
struct pvbe_queue;

/* Worker, after the fork: deal the queues, make the loops.  -errno. */
int pvbe_threads_init(struct pvbe_guest *g);
/* The sandbox, before its filter: start threads 1..N-1 (they wait). */
int pvbe_threads_start(void);
/* The worker, sandboxed: let them run. */
void pvbe_threads_go(void);
/* The worker, leaving: stop and join them. */
void pvbe_threads_stop(void);

unsigned int pvbe_threads_count(void);
/* The calling thread's index: 0 for the main thread. */
unsigned int pvbe_thread_self(void);
/*
 * Thread 0: keep every other thread out of its callbacks until the
 * matching release (which wakes them: what was changed may be theirs to
 * run).  Nests.  A no-op with one thread.
 */
void pvbe_threads_hold(void);
void pvbe_threads_release(void);
/* May the caller change device state now?  One thread, or thread 0 holding. */
bool pvbe_threads_exclusive(void);
/* Wake thread 0 (an event was raised on another thread). */
void pvbe_threads_wake_main(void);
/* The loop of @q's owner. */
struct pvbe_loop *pvbe_queue_loop(const struct pvbe_queue *q);

#endif
