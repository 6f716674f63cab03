/* SPDX-License-Identifier: GPL-2.0 */
/*
 * guest.h - guests, devices and queues as pviod sees them.
 *
 * Ownership.  A struct pvbe_guest is built by the supervisor from the
 * configuration (class parse and setup run there) and inherited by the
 * guest's worker through fork(); from then on each process has its own
 * copy.  Fields are marked (S) supervisor, (W) worker, (SW) set by the
 * supervisor before the fork and read by the worker.  A worker serves
 * exactly one guest, on `threads` threads (core/threads.h: a queue and
 * its class state belong to its owner thread, everything else to the
 * main thread; a class may add a poll thread of its own, net = dpdk; see
 * net/dpdk.h for that contract).
 *
 * Trust.  The window and guest RAM are shared with the guest and hostile:
 * a field the guest writes is read once (pvio_read_once) into private
 * memory and only that copy is used; a field the backend owns is kept in
 * private memory and only ever written out, never read back.
 * docs/security.md lists every shared field, its writer and where it is
 * copied.
 */
#ifndef PVBE_GUEST_H
#define PVBE_GUEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"
#include "core/log.h"
#include "transport/memtable.h"
#include "pvio/abi.h"

/*
 * ivshmem peer IDs on every socket: the client is 0, which QEMU requires
 * of an ivshmem-doorbell device with master=on (the one that migrates
 * its window); the backend is 1 (the window's backend_peer).
 */
#define PVBE_CLIENT_PEER	0
#define PVBE_BACKEND_PEER	1

/* One queue run: at most this many requests and bytes of work, then yield. */
#define PVBE_QUEUE_BUDGET	256
#define PVBE_QUEUE_BUDGET_BYTES	(16ull << 20)
/* Per heartbeat period: error completions per queue, resets and status
 * changes per device, doorbells without work per vector. */
#define PVBE_ERRORS_PER_TICK	256
#define PVBE_EVENTS_PER_TICK	32
#define PVBE_IDLE_KICKS_PER_TICK 512

struct json_object;
struct pvbe_dev;
struct pvbe_hostile;
struct pvbe_queue;

/* A request copied out of the SQ into private memory and validated. */
struct pvbe_req {
	uint16_t id;
	unsigned int nslots;
	struct pvio_desc d[PVIO_MAX_CHAIN];	/* private copy */
	void *buf[PVIO_MAX_CHAIN];		/* translated, NULL for HDR */
	uint32_t in_bytes;	/* readable (guest -> device) bytes */
	uint32_t out_bytes;	/* writable (device -> guest) bytes */
};

struct pvbe_queue_stats {
	uint64_t kicks;		/* doorbells received */
	uint64_t irqs;		/* interrupts sent */
	uint64_t reqs;		/* requests completed */
	uint64_t bytes;		/* payload bytes moved */
	uint64_t errors;	/* requests completed with an error */
	uint64_t packets;	/* net: frames moved to or from the host */
	uint64_t drops;		/* net: frames dropped (link down, too big) */
	uint64_t popped;	/* requests taken off the SQ */
	uint64_t yields;	/* runs cut short by the budget */
	uint64_t muted;		/* doorbell floods: times the doorbell was muted */
	uint64_t throttled;	/* error floods: times the queue was held back */
};

/* (W) everything but the configuration fields. */
struct pvbe_queue {
	struct pvbe_dev *dev;
	unsigned int index;
	unsigned int thread;		/* the worker thread that owns it */
	unsigned int vector;		/* (SW) from the layout */
	uint64_t sq_off, cq_off;	/* (SW) in the window, from the layout */
	void *sq_mem, *cq_mem;		/* in the window */
	struct pvio_queue_desc *desc;	/* in the window */
	uint32_t sq_size, cq_size;
	struct pvio_ring sq;		/* we consume */
	struct pvio_ring cq;		/* we produce */
	bool running;
	bool kick;			/* run at the top of its thread's loop */
	/*
	 * Busy-polled (poll = ...): the worker's poll round serves it and it
	 * never arms an event index, so the guest does not ring for it.
	 * @polled is the configuration, @poll whether it is polled right now
	 * (not while the worker sleeps after poll_idle_us without work).
	 */
	bool polled;
	bool poll;
	/*
	 * Budgets per heartbeat period, reset by the tick: doorbells that
	 * found nothing to do (over budget: the doorbell leaves the loop),
	 * requests completed with an error (over budget: the queue is not
	 * served).  A guest that works does neither; one that attacks gets
	 * a bounded share of its own worker's time.
	 */
	unsigned int idle_kicks;
	bool muted;			/* doorbell out of the loop until the tick */
	unsigned int tick_errors;
	bool throttled;			/* not served until the tick */
	unsigned int pending;		/* completions written, not committed */
	unsigned int sq_unpub;		/* SQ slots taken, cons not published */
	void *priv;			/* class state */
	struct pvbe_queue_stats st;
} __attribute__((aligned(64)));	/* owners on different threads share no line */

/*
 * Device class handler.  Where each hook runs: parse, setup, uninit,
 * host_fds and sup_control in the supervisor (what setup opens is
 * inherited by every worker, so it outlives a worker crash); everything
 * else in the guest's worker, and only from the places named: no hook
 * that runs on a data path may call back into the device state machine.
 */
struct pvbe_dev_ops {
	int type;
	const char *name;
	unsigned int sq_esize, cq_esize;
	unsigned int config_len;
	/* Supervisor, at start-up, guest add and --check-config: check the
	 * class keys (may adjust cfg->queues); -errno on bad config. */
	int (*parse)(struct pvbe_dev *dev);
	/* Supervisor, before the guest's first worker: open host resources. */
	int (*setup)(struct pvbe_dev *dev);
	/* Supervisor, clean shutdown or guest removal: undo parse and setup. */
	void (*uninit)(struct pvbe_dev *dev);
	/* Supervisor: the fds setup opened that the worker needs; the
	 * sandbox closes every other one.  Returns how many it stored. */
	int (*host_fds)(struct pvbe_dev *dev, int *fds, int max);
	/*
	 * Supervisor, before setup: the host resource the device will hold that
	 * no other guest may hold too ("TAP pvtap0", "image 8:1/1234"), in
	 * @buf; *@shared when another guest may hold it as well if it too
	 * says shared (a read-only image).  0 when it holds none.
	 */
	int (*claim)(struct pvbe_dev *dev, char *buf, size_t len, bool *shared);
	/*
	 * Supervisor and worker: the size up to which the worker may write
	 * a regular file of the device (a writable image), for its
	 * RLIMIT_FSIZE; 0 when it writes none.
	 */
	uint64_t (*file_extent)(struct pvbe_dev *dev);
	/* Supervisor: the privileged half of a control request the class
	 * knows (a TAP's carrier); 0, 1 to forward it to the worker, or
	 * -errno with @err set. */
	int (*sup_control)(struct pvbe_dev *dev, int argc, char **argv,
			   char *err, size_t len);
	/* Worker, once, before the sandbox closes in: what needs syscalls
	 * the sandbox forbids later (io_uring rings, DPDK's EAL). */
	int (*prepare)(struct pvbe_dev *dev);
	/* Worker, on every fresh layout and takeover: fill the config area
	 * and per-queue descriptors; -errno on bad config. */
	int (*init)(struct pvbe_dev *dev);
	/*
	 * The generic queue loop (pvbe_queue_run, queue.c):
	 * @request handles one popped, validated request: it posts the
	 * completion now or later (then it holds a CQ slot, counted by
	 * @held); returns the bytes of work it stands for (the budget), or
	 * <0 when the device broke.  @held: CQ slots the queue's requests
	 * in flight need (default 0).  @run_end: after popping, the class's
	 * own work (submit to io_uring, read the TAP); returns >0 when it
	 * made room and the loop should look at the ring again.
	 */
	int64_t (*request)(struct pvbe_queue *q, const struct pvbe_req *req);
	unsigned int (*held)(struct pvbe_queue *q);
	int (*run_end)(struct pvbe_queue *q, uint64_t *work);
	/*
	 * @sq_quiet: the SQ is empty, and the class needs no doorbell for
	 * what the guest posts next because it runs the queue again itself
	 * while it still holds requests (rx chains stocked: a packet from
	 * the TAP runs it, and that run takes what was posted meanwhile).
	 * The loop then leaves the SQ unarmed; @run_end arms it when the
	 * class runs short.  vhost-net's rx notification suppression.
	 */
	bool (*sq_quiet)(struct pvbe_queue *q);
	/* Or: the queue is served elsewhere (net = dpdk's poll thread); a
	 * doorbell or tick for it calls this on the worker thread. */
	void (*kick)(struct pvbe_queue *q);
	/* Queues started (guest DRIVER_OK). */
	void (*start)(struct pvbe_dev *dev);
	/*
	 * Queues stopped (reset, driver gone, BROKEN, client gone).  Called
	 * again until it returns 0: >0 is the number of requests the host
	 * still has in flight; the class calls pvbe_dev_event() when that
	 * number changes.  Never blocks.
	 */
	int (*stop)(struct pvbe_dev *dev);
	/* Control requests for this class: add to @out (a JSON object) and
	 * return 0, or -errno with @err set; -ENOSYS: unknown request. */
	int (*control)(struct pvbe_dev *dev, int argc, char **argv,
		       struct json_object *out, char *err, size_t len);
	/* Class fields for `status`. */
	void (*status)(struct pvbe_dev *dev, struct json_object *out);
	/* Optional, for a class whose queues run on a thread of its own
	 * (net = dpdk): called first by pvbe_dev_mark_broken(); returns true
	 * when called on that thread, having taken the reason to repeat the
	 * call on the worker thread (which alone may stop the device). */
	bool (*defer_broken)(struct pvbe_dev *dev, uint32_t reason, const char *msg);
	/*
	 * Worker threads (core/threads.h): queues of a device that return
	 * the same group share state and stay on one thread;
	 * PVBE_QUEUE_GROUP_MAIN keeps the queue on the main thread.  NULL:
	 * every queue is a group of its own.
	 */
	unsigned int (*queue_group)(struct pvbe_queue *q);
	/* The class runs correctly when its queues are busy-polled by the
	 * worker (poll = ...) instead of woken by doorbells. */
	bool can_poll;
	/*
	 * Worker, as root in the sandbox right after the worker's empty root
	 * (core/sandbox.c): give the threads the class made before it (DPDK's
	 * EAL) the same view (pvbe_sandbox_empty_root() on each of them).
	 */
	int (*confine)(struct pvbe_dev *dev);
	/*
	 * Worker, in the sandbox once the worker has dropped its privileges
	 * and before the seccomp filter (core/threads.c): make the threads
	 * of the class's own (net = dpdk's poll thread), which must touch
	 * nothing of the guest's until ops->start.  No thread is made later.
	 */
	int (*spawn)(struct pvbe_dev *dev);
};

#define PVBE_QUEUE_GROUP_MAIN	(~0u)

/*
 * What a restarted worker needs from the one that died and must not take
 * from the window, per device: a page the supervisor maps shared before
 * the guest's first worker (struct pvbe_persist).  Written by the worker
 * (and, for net link state, by the supervisor); a worker only ever sees
 * its own guest's page.
 */
struct pvbe_dev_persist {
	uint32_t reset_served;		/* last reset_request echoed */
	uint32_t config_gen;		/* config_generation last written */
	uint8_t cls[56];		/* the class's own (balloon target, link) */
};

struct pvbe_persist {
	uint64_t heartbeat;
	struct pvbe_dev_persist dev[PVIO_MAX_DEVICES];
};

/* (W) everything but cfg, ops, tag, index, nqueues and the class's priv. */
struct pvbe_dev {
	struct pvbe_guest *g;
	struct pvbe_dev_cfg *cfg;
	const struct pvbe_dev_ops *ops;
	char tag[80];			/* "guest/device" for logs */
	unsigned int index;		/* in the device table */
	uint64_t config_off, queue_off;	/* (SW) in the window, from the layout */
	struct pvio_dev_desc *desc;	/* in the window */
	void *config;			/* config area in the window */
	uint32_t config_len;
	uint64_t host_features;		/* offered */
	uint64_t guest_features;	/* accepted: copied at FEATURES_OK */
	unsigned int nqueues;		/* configured */
	unsigned int num_queues;	/* enabled by the guest: copied at DRIVER_OK */
	struct pvbe_queue q[PVIO_MAX_QUEUES];
	/* The state machine (device.c); written out, never read back. */
	uint32_t state;			/* PVIO_DEV_S_* */
	uint32_t broken_reason;
	uint32_t seen_status;		/* driver_status last acted on */
	uint32_t seen_reset;		/* reset_request last served */
	uint32_t reset_req;		/* a reset being served (reset_pending) */
	bool reset_pending;		/* echo reset_req once stopped */
	bool stopping;			/* ops->stop still has I/O in flight */
	/* Look at the device at the top of the loop (raised on any thread). */
	atomic_bool event;
	/* A queue thread found it broken: the main thread marks it so. */
	atomic_bool broken_pending;
	uint32_t broken_pending_reason;	/* under the deferral's lock */
	char broken_pending_msg[256];
	bool wait_ram;			/* DRIVER_OK waits for guest RAM */
	/* Resets and status changes in this heartbeat period (budget). */
	unsigned int tick_events;
	bool throttled;			/* not serviced until the tick */
	uint64_t throttles;		/* times it was */
	bool set_up;			/* (S) ops->setup succeeded */
	bool live;			/* queues running, class started */
	struct pvbe_dev_persist *persist;
	void *priv;			/* class state */
	struct pvbe_hostile *hostile;	/* test builds: transport/hostile.c */
};

struct pvbe_guest {
	/* (S) configuration and the supervisor's bookkeeping */
	struct pvbe_guest_cfg *cfg;	/* owned */
	char source[4096];		/* (S) guest add FILE; "": the configuration */
	unsigned int index;		/* slot in the daemon's table */
	char tag[PVBE_NAME_MAX + 8];
	int listen_fd;			/* the ivshmem socket; supervisor only */
	pid_t worker;			/* its worker, 0: none */
	int pair[2];			/* [0] supervisor end, [1] worker end */
	unsigned int restarts;		/* worker deaths in this period */
	uint64_t restart_period;	/* ms, start of that period */
	struct pvbe_ratelimit sup_rl;	/* (S) the supervisor's warnings about it */
	/* (S) the worker's stderr: a pipe, relayed line by line (log.h) */
	int log_fd;
	unsigned int log_len;		/* bytes of a partial line in log_buf */
	unsigned int log_lines;		/* relayed in this window */
	unsigned int log_dropped;	/* over the budget in this window */
	uint64_t log_window;		/* ms, start of the window */
	char log_buf[PVBE_LOG_LINE_MAX];
	uint64_t restart_at;		/* ms, back-off: no worker until then */
	/*
	 * (S) the read end of the last worker's drain pipe, whose write end
	 * every io_uring ring of that worker holds until the kernel frees
	 * the ring, after its last request: it hangs up once nothing of
	 * the worker can write guest RAM any more.  -1: none left.
	 */
	int drain_fd;
	bool drain_wait;		/* (S) a worker is due once it hangs up */
	uint64_t drain_since;		/* (S) ms, the worker's death */
	bool removing;			/* guest remove: stop the worker, then free */
	unsigned int accepts;		/* clients accepted this second */
	bool listen_paused;		/* too many: not accepting this second */
	uint64_t stop_by;		/* ms: SIGKILL the worker after this */
	struct pvbe_guest_cfg *replacement;	/* reload: add this once removed */
	struct pvbe_persist *persist;	/* (SW) shared page */
	int persist_fd;			/* (S) its memfd */
	/* (S) live migration (core/migrate.h): PVBE_MIG_*, since when (ms) */
	unsigned int mig;
	bool mig_paused;
	bool mig_tracking;		/* migrate-track on: the guest logs */
	uint64_t mig_since;

	/* (SW) the client connection and what it was handed */
	int conn_fd;			/* QEMU / frontend connection, or -1 */
	uint16_t backend_peer;		/* our ivshmem ID in its handshake:
					 * PVBE_BACKEND_PEER, or 0 for a client
					 * an older pviod handed over */
	uint16_t client_id;		/* the connection's number (logs say
					 * "peer N"), daemon-wide; its ivshmem
					 * ID is PVBE_CLIENT_PEER */
	uint32_t generation;		/* of the layout the worker must publish */
	int shm_fd;			/* the window memfd (sealed), or -1 */
	uint64_t win_size;		/* (SW) from the layout */
	uint64_t dev_table_off;		/* (SW) from the layout */
	unsigned int nvectors;		/* (SW) from the layout */
	int be_efd[PVIO_MAX_VECTORS];	/* doorbells: guest -> us */
	int guest_efd[PVIO_MAX_VECTORS];/* interrupts: us -> guest */
	int ram_fd;			/* guest RAM: the configured file or the
					 * frontend's memfd; -1: not yet */
	uint64_t ram_size;		/* offered by a frontend; 0: configured */

	/* (W) the worker's view */
	int drain_w;			/* the drain pipe's write end, or -1 */
	void *win;
	struct pvio_window_hdr *hdr;
	unsigned int hb_ms;
	uint64_t heartbeat;
	uint64_t ready_at;		/* ms, CLOCK_MONOTONIC; 0: READY now */
	bool connected;			/* serving a client */
	bool leaving;			/* client gone, devices stopping */
	atomic_bool events;		/* some device has an event */
	bool ram_asked;			/* RAM_OPEN sent, no answer yet */
	unsigned int cfg_kicks;		/* config doorbells this heartbeat period */
	bool cfg_muted;
	uint64_t ram_asked_at;		/* ms */
	struct pvbe_queue *vec_queue[PVIO_MAX_VECTORS];
	struct pvbe_memtable mem;
	bool mem_ready;
	bool migrated;			/* (SW) the takeover's window was migrated */
	uint32_t log_request;		/* dirty logging asked (migrate-track) */
	uint32_t log_seq;
	int ndev;
	struct pvbe_dev dev[PVIO_MAX_DEVICES];
};

/* window.c: layout, liveness, configuration changes */
uint64_t pvbe_window_size(struct pvbe_guest *g);	/* computes the layout */
int pvbe_window_stub(int fd, uint64_t size, uint32_t generation);
int pvbe_window_map(struct pvbe_guest *g);
void pvbe_window_unmap(struct pvbe_guest *g);
int pvbe_window_layout(struct pvbe_guest *g);	/* a new client */
int pvbe_window_takeover(struct pvbe_guest *g);	/* a restarted worker */
void pvbe_window_heartbeat(struct pvbe_guest *g);
void pvbe_window_stop(struct pvbe_guest *g);
void pvbe_window_ready(struct pvbe_guest *g);
uint64_t pvbe_now_ms(void);
void pvbe_guest_config_begin(struct pvbe_dev *dev);
void pvbe_guest_config_changed(struct pvbe_dev *dev);
void pvbe_guest_notify(struct pvbe_guest *g, unsigned int vector);

/* device.c: the device state machine, run from the top of the loop */
const struct pvbe_dev_ops *pvbe_dev_ops_find(int type);
void pvbe_dev_event(struct pvbe_dev *dev);
void pvbe_guest_event(struct pvbe_guest *g);
bool pvbe_guest_service(struct pvbe_guest *g);
void pvbe_dev_init_state(struct pvbe_dev *dev, uint32_t driver_status);
int pvbe_guest_stop_all(struct pvbe_guest *g);
void pvbe_dev_mark_broken(struct pvbe_dev *dev, uint32_t reason,
			  const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *pvbe_dev_state_name(const struct pvbe_dev *dev);
/* worker.c: guest RAM arrived (0) or cannot be had (-errno) */
void pvbe_guest_ram_result(struct pvbe_guest *g, int err);

/* queue.c */
void pvbe_queue_init(struct pvbe_queue *q);
int pvbe_queue_start(struct pvbe_queue *q);
void pvbe_queue_stop(struct pvbe_queue *q);
bool pvbe_queue_may_run(struct pvbe_queue *q);
void pvbe_queue_run(struct pvbe_queue *q);
/* Primitives for class code that works a queue outside pvbe_queue_run. */
int pvbe_queue_pop(struct pvbe_queue *q, struct pvbe_req *req);
int pvbe_queue_arm(struct pvbe_queue *q);
int pvbe_queue_cq_space(struct pvbe_queue *q);
int pvbe_queue_cq_room(struct pvbe_queue *q, unsigned int want);
int pvbe_queue_cq_wait(struct pvbe_queue *q, unsigned int k);
void pvbe_queue_post(struct pvbe_queue *q, const struct pvio_cpl *c);
void pvbe_queue_complete(struct pvbe_queue *q, uint16_t id, uint32_t status,
			 uint32_t len);
void pvbe_queue_flush(struct pvbe_queue *q);
void pvbe_queue_yield(struct pvbe_queue *q);
void pvbe_queue_disarm(struct pvbe_queue *q);

/* poll.c: busy-poll mode (poll = no | yes | Q,Q,...) */
int pvbe_dev_poll_parse(struct pvbe_dev *dev);
int pvbe_poll_round(struct pvbe_guest *g);
bool pvbe_poll_wanted(const struct pvbe_guest *g);
bool pvbe_poll_wanted_by(const struct pvbe_guest *g, unsigned int thread);

#endif
