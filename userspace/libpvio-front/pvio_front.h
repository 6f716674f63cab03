/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pvio_front.h - libpvio-front: the guest side of the pvio ABI in
 * userspace.  It connects to pviod exactly like QEMU's ivshmem-doorbell
 * device does, offers a memfd as "guest RAM" (guest-physical address ==
 * offset in that memfd), and drives devices and queues the way pvio.ko
 * does.  Tests and native benchmarks of the backend use it.
 *
 * Not thread-safe per object: one thread per queue at most, setup and
 * teardown from one thread.
 */
#ifndef PVIO_FRONT_H
#define PVIO_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvio/abi.h"
#include "pvio/balloon.h"
#include "pvio/blk.h"
#include "pvio/echo.h"
#include "pvio/net.h"

struct pvfront_queue {
	struct pvfront_dev *dev;
	unsigned int index;
	unsigned int vector;
	struct pvio_ring sq;		/* we produce */
	struct pvio_ring cq;		/* we consume */
	struct pvio_ring_shared *sq_sh, *cq_sh;
	int kick_fd;			/* backend's eventfd for our vector */
	int irq_fd;			/* our interrupt eventfd */
	uint64_t kicks, irqs;
};

struct pvfront_dev {
	struct pvfront *f;
	unsigned int index;
	struct pvio_dev_desc *desc;
	void *config;
	unsigned int nqueues;
	struct pvfront_queue q[PVIO_MAX_QUEUES];
};

struct pvfront {
	int sock;
	int shm_fd;
	void *win;
	uint64_t win_size;
	struct pvio_window_hdr *hdr;
	uint16_t my_id;
	unsigned int nvectors;
	int be_efd[PVIO_MAX_VECTORS];
	int my_efd[PVIO_MAX_VECTORS];
	int ram_fd;
	void *ram;
	uint64_t ram_size;
	uint64_t ram_brk;		/* bump allocator */
	uint32_t generation;
	struct pvfront_dev dev[PVIO_MAX_DEVICES];
};

/* Connect, take the handshake, offer @ram_size bytes of RAM (0: none). */
int pvfront_connect(struct pvfront *f, const char *socket_path,
		    uint64_t ram_size);
/*
 * Guest RAM from a file, as QEMU's memory-backend-file: map @path (all of
 * it) as this frontend's RAM, GPA == file offset, without offering it:
 * pviod maps the same file from its configuration.
 */
int pvfront_use_ram_file(struct pvfront *f, const char *path);
void pvfront_close(struct pvfront *f);
/* Wait until backend_state is READY.  0, or -ETIMEDOUT. */
int pvfront_wait_ready(struct pvfront *f, int timeout_ms);

/* Find the @nth device of @type; NULL if none. */
struct pvio_dev_desc *pvfront_find(struct pvfront *f, int type, int nth,
				   unsigned int *index);
/* Full status dance up to DRIVER_OK with @features and @nqueues queues. */
int pvfront_dev_setup(struct pvfront *f, unsigned int index,
		      uint64_t features, unsigned int nqueues,
		      struct pvfront_dev **out);
/*
 * The same, calling @between(d, @arg) once FEATURES_OK is set and before
 * the queues: tests of a guest that changes its mind (or lies) there.
 */
int pvfront_dev_setup_ex(struct pvfront *f, unsigned int index,
			 uint64_t features, unsigned int nqueues,
			 void (*between)(struct pvfront_dev *d, void *arg), void *arg,
			 struct pvfront_dev **out);
/* Write driver_status 0 and wait for the backend to acknowledge. */
int pvfront_dev_reset(struct pvfront_dev *d, int timeout_ms);
/* Ring the configuration doorbell (status changed). */
void pvfront_kick_config(struct pvfront *f);

/* Guest RAM: allocate from the memfd; returns host pointer and gpa. */
void *pvfront_alloc(struct pvfront *f, size_t size, size_t align,
		    uint64_t *gpa);

/* Data path. */
int pvfront_submit(struct pvfront_queue *q, const struct pvio_desc *d,
		   unsigned int n);		/* publishes one chain */
void pvfront_kick(struct pvfront_queue *q);	/* if the backend asked */
int pvfront_reap(struct pvfront_queue *q, struct pvio_cpl *c,
		 unsigned int max);
/* Arm, re-check and sleep on the interrupt eventfd up to @timeout_ms. */
int pvfront_wait(struct pvfront_queue *q, int timeout_ms);

/* Backend liveness as the guest sees it. */
uint64_t pvfront_heartbeat(struct pvfront *f);
uint32_t pvfront_device_state(struct pvfront_dev *d);

#endif
