/* SPDX-License-Identifier: GPL-2.0 */
/*
 * guest.h - the worker's state for guests, devices and queues.
 *
 * Ownership: everything here belongs to the single worker thread.  The
 * window and guest RAM are shared with the guest and hostile: fields are
 * read once (pvio_read_once) into locals and validated before use.
 */
#ifndef PVBE_GUEST_H
#define PVBE_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "transport/memtable.h"
#include "pvio_abi.h"

#define PVBE_BACKEND_PEER	0	/* our ivshmem peer ID on every socket */

struct pvbe_dev;
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
};

struct pvbe_queue {
	struct pvbe_dev *dev;
	unsigned int index;
	unsigned int vector;
	struct pvio_queue_desc *desc;	/* in the window */
	void *sq_mem, *cq_mem;		/* in the window */
	uint32_t sq_size, cq_size;
	struct pvio_ring sq;		/* we consume */
	struct pvio_ring cq;		/* we produce */
	bool running;
	/*
	 * Busy-polled (poll = ...): the worker's poll round serves it and it
	 * never arms an event index, so the guest does not ring for it.
	 * @polled is the configuration, @poll whether it is polled right now
	 * (not while the worker sleeps after poll_idle_us without work).
	 */
	bool polled;
	bool poll;
	unsigned int pending;		/* completions written, not committed */
	unsigned int sq_unpub;		/* SQ slots taken, cons not published */
	void *priv;			/* class state */
	struct pvbe_queue_stats st;
};

/*
 * Device class handler.  process() handles one validated request and
 * returns the completion to post (status and bytes written).
 *
 * Where each hook runs: parse, setup and uninit in the supervisor (what
 * setup opens is inherited by every worker, so it outlives a worker
 * crash); everything else in the worker.
 */
struct pvbe_dev_ops {
	int type;
	const char *name;
	unsigned int sq_esize, cq_esize;
	unsigned int config_len;
	/* Supervisor, at start-up and for --check-config: check the class
	 * keys (may adjust cfg->queues); -errno on bad config. */
	int (*parse)(struct pvbe_dev *dev);
	/* Supervisor, before the first worker: open host resources. */
	int (*setup)(struct pvbe_dev *dev);
	/* Supervisor, clean shutdown: undo setup. */
	void (*uninit)(struct pvbe_dev *dev);
	/* Worker, on every fresh layout and takeover: fill the config area
	 * and per-queue descriptors; -errno on bad config. */
	int (*init)(struct pvbe_dev *dev);
	/* Fill one completion for @req (generic queue loop). */
	void (*process)(struct pvbe_queue *q, const struct pvbe_req *req,
			struct pvio_cpl *cpl);
	/* Or run the queue yourself with the pvbe_queue_* primitives. */
	void (*kick)(struct pvbe_queue *q);
	/* Queues started/stopped (guest DRIVER_OK, reset). */
	void (*start)(struct pvbe_dev *dev);
	void (*stop)(struct pvbe_dev *dev);
	/* Optional, for a class whose queues run on a thread of its own
	 * (net = dpdk): called first by pvbe_dev_mark_broken(); returns true
	 * when called on that thread, having taken the reason to repeat the
	 * call on the worker thread (which alone may stop the device). */
	bool (*defer_broken)(struct pvbe_dev *dev, uint32_t reason, const char *msg);
	/* The class runs correctly when its queues are busy-polled by the
	 * worker (poll = ...) instead of woken by doorbells. */
	bool can_poll;
};

struct pvbe_dev {
	struct pvbe_guest *g;
	struct pvbe_dev_cfg *cfg;
	const struct pvbe_dev_ops *ops;
	char tag[80];			/* "guest/device" for logs */
	unsigned int index;		/* in the device table */
	struct pvio_dev_desc *desc;	/* in the window */
	void *config;			/* config area in the window */
	uint32_t config_len;
	uint64_t host_features;
	unsigned int nqueues;
	struct pvbe_queue q[PVIO_MAX_QUEUES];
	uint32_t seen_status;		/* driver_status last acted on */
	uint32_t seen_reset;		/* reset_request last served */
	bool set_up;			/* ops->setup succeeded (supervisor) */
	bool live;			/* queues running */
	bool broken;
	void *priv;			/* class state */
};

struct pvbe_guest {
	struct pvbe_guest_cfg *cfg;
	unsigned int index;		/* in the configuration */
	char tag[PVBE_NAME_MAX + 8];
	int listen_fd;			/* kept by the supervisor */
	int conn_fd;			/* QEMU / frontend connection, or -1 */
	uint16_t client_id;		/* its ivshmem peer ID */
	int shm_fd;			/* the window memfd */
	void *win;
	uint64_t win_size;
	struct pvio_window_hdr *hdr;
	unsigned int nvectors;
	unsigned int hb_ms;
	uint64_t ready_at;		/* ms, CLOCK_MONOTONIC; 0: READY now */
	int be_efd[PVIO_MAX_VECTORS];	/* doorbells: guest -> us */
	int guest_efd[PVIO_MAX_VECTORS];/* interrupts: us -> guest */
	struct pvbe_queue *vec_queue[PVIO_MAX_VECTORS];
	struct pvbe_memtable mem;
	bool mem_ready;
	int ram_fd;			/* RAM memfd offered by a frontend, or -1 */
	uint64_t ram_size;
	int ndev;
	struct pvbe_dev dev[PVIO_MAX_DEVICES];
};

/* window.c */
int pvbe_window_create(struct pvbe_guest *g);	/* size + memfd, supervisor */
int pvbe_window_map(struct pvbe_guest *g);
int pvbe_window_layout(struct pvbe_guest *g, uint32_t generation);
int pvbe_window_takeover(struct pvbe_guest *g);
void pvbe_window_heartbeat(struct pvbe_guest *g);
void pvbe_window_stop(struct pvbe_guest *g);
void pvbe_window_ready(struct pvbe_guest *g);
uint64_t pvbe_now_ms(void);
void pvbe_guest_poll_status(struct pvbe_guest *g);
bool pvbe_queue_may_run(struct pvbe_queue *q);
void pvbe_dev_mark_broken(struct pvbe_dev *dev, uint32_t reason,
			  const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void pvbe_guest_config_begin(struct pvbe_dev *dev);
void pvbe_guest_config_changed(struct pvbe_dev *dev);
void pvbe_guest_notify(struct pvbe_guest *g, unsigned int vector);

/* worker.c: map the configured RAM file now if not done yet */
int pvbe_guest_map_ram(struct pvbe_guest *g);

/* queue.c */
void pvbe_queue_init(struct pvbe_queue *q);
int pvbe_queue_start(struct pvbe_queue *q);
void pvbe_queue_stop(struct pvbe_queue *q);
void pvbe_queue_kick(struct pvbe_queue *q);
/* Primitives for classes that run their own queue loop (ops->kick). */
int pvbe_queue_pop(struct pvbe_queue *q, struct pvbe_req *req);
int pvbe_queue_arm(struct pvbe_queue *q);
int pvbe_queue_cq_space(struct pvbe_queue *q);
int pvbe_queue_cq_room(struct pvbe_queue *q, unsigned int want);
int pvbe_queue_cq_arm(struct pvbe_queue *q);
void pvbe_queue_post(struct pvbe_queue *q, const struct pvio_cpl *c);
void pvbe_queue_flush(struct pvbe_queue *q);
void pvbe_queue_yield(struct pvbe_queue *q);
void pvbe_queue_disarm(struct pvbe_queue *q);

/* poll.c: busy-poll mode (poll = no | yes | Q,Q,...) */
int pvbe_dev_poll_parse(struct pvbe_dev *dev);
int pvbe_poll_round(void);
bool pvbe_poll_wanted(void);
void *pvbe_req_buf(struct pvbe_queue *q, const struct pvio_desc *d);

/* device.c */
const struct pvbe_dev_ops *pvbe_dev_ops_find(int type);

/* net/net.c: link state from the control socket; 0 or -errno, @err set. */
int pvbe_net_set_link(struct pvbe_dev *dev, bool up, char *err, size_t len);

#endif
