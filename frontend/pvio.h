/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pvio.h - the pvio bus: what class drivers (net, block, balloon, echo) see
 * of the transport.
 *
 * A class driver registers a struct pvio_driver for one device type.  In
 * probe() it negotiates features, sets up its queues and calls
 * pvio_device_ready(); from then on it submits chains and reaps
 * completions.  The transport owns the window, the vectors and liveness.
 *
 * Concurrency: a struct pvio_queue is single-producer on its submission
 * ring and single-consumer on its completion ring; the class driver
 * serialises pvio_queue_submit() calls with its own lock, and reaping with
 * its own (NAPI, or the queue's irq path).  Kicks may be issued outside the
 * lock: prepare under the lock, notify after unlocking.
 */
#ifndef PVIO_H
#define PVIO_H

#include <linux/device.h>
#include <linux/interrupt.h>
#include <linux/mod_devicetable.h>
#include <linux/spinlock.h>
#include "pvio/abi.h"

struct pvio_transport;
struct pvio_queue;

typedef void (*pvio_queue_cb)(struct pvio_queue *q);

struct pvio_device {
	struct device dev;
	struct pvio_transport *t;
	u16 type;
	u16 instance;
	unsigned int index;		/* in the device table */
	struct pvio_dev_desc *desc;	/* in the window */
	void *config;			/* config area, NULL if none */
	u32 config_len;
	u16 max_queues;
	u64 features;			/* negotiated */
	bool broken;			/* protocol violation seen (either side) */
	struct pvio_queue *queues;	/* max_queues entries */
	/*
	 * Reset handshake (protocol 5.4): the last reset_request we wrote and
	 * whether the backend has echoed it in reset_count yet.  Until it has,
	 * the backend may still use buffers of requests submitted before, and
	 * a queue set up meanwhile would be wiped when it serves the reset.
	 */
	spinlock_t reset_lock;		/* the two fields below */
	u32 reset_req;
	bool reset_pending;
	/*
	 * Transport only: waiting for that echo to restore() the frozen
	 * driver (under the device lock) or to bind one (READ/WRITE_ONCE).
	 */
	bool restore_pending;
	bool attach_pending;
	/*
	 * The generation pvio_device_ready() was called under: the backend
	 * the queues were set up with (WRITE_ONCE there, READ_ONCE in
	 * pvio_backend_moved()).
	 */
	u32 ready_gen;
	/*
	 * A live migration asks for dirty logging (protocol 6.4): written by
	 * the transport, read where the driver reaps (READ_ONCE).
	 */
	bool log_dirty;
};

struct pvio_driver {
	struct device_driver driver;
	u16 type;			/* PVIO_DEV_* served */
	int (*probe)(struct pvio_device *pdev);
	void (*remove)(struct pvio_device *pdev);
	/* Config area or device state changed (from the config vector). */
	void (*config_changed)(struct pvio_device *pdev);
	/*
	 * Backend restarted or asked for a reset.  Without these two the
	 * transport unbinds and rebinds the driver instead.  restore() comes
	 * only once the backend has acknowledged a reset made after freeze()
	 * (until then the driver stays frozen): nothing of the driver's is in
	 * the backend's hands any more and every buffer may be freed.
	 */
	void (*freeze)(struct pvio_device *pdev);
	int (*restore)(struct pvio_device *pdev);
};

#define to_pvio_device(d)	container_of(d, struct pvio_device, dev)
#define to_pvio_driver(d)	container_of(d, struct pvio_driver, driver)

/* pvio_bus.c */
int __pvio_register_driver(struct pvio_driver *drv, struct module *owner);
#define pvio_register_driver(drv) __pvio_register_driver(drv, THIS_MODULE)
void pvio_unregister_driver(struct pvio_driver *drv);
#define module_pvio_driver(drv) \
	module_driver(drv, pvio_register_driver, pvio_unregister_driver)

/* pvio_pci.c: device setup, in probe order */
u64 pvio_host_features(struct pvio_device *pdev);
int pvio_negotiate(struct pvio_device *pdev, u64 wanted);
static inline bool pvio_has_feature(const struct pvio_device *pdev,
				    unsigned int bit)
{
	return pdev->features & BIT_ULL(bit);
}

u32 pvio_config_generation(struct pvio_device *pdev);
int pvio_config_read(struct pvio_device *pdev, void *buf, size_t len);
void pvio_config_notify(struct pvio_device *pdev);
int pvio_device_ready(struct pvio_device *pdev, unsigned int nqueues);
/*
 * Reset the device (protocol 5.4) and wait for the backend's echo, about
 * 2 s at most.  0: the backend holds no buffer of any earlier request.
 * -ETIMEDOUT: it may still write into or read from every buffer the
 * driver ever handed it that has not completed: the driver must neither
 * free nor reuse those (leak them if need be, and say so) until
 * pvio_device_reset_acked() is true, and must set no queue up before.
 */
int __must_check pvio_device_reset(struct pvio_device *pdev);
/* Reset as above, then free every queue (interrupts); the same result. */
int __must_check pvio_device_teardown(struct pvio_device *pdev);
/*
 * Has the backend served the last reset asked for?  It may do so late,
 * after pvio_device_reset() gave up: a stalled backend that comes back.
 * Cheap; never waits.
 */
bool pvio_device_reset_acked(struct pvio_device *pdev);
void pvio_device_failed(struct pvio_device *pdev, const char *why);
bool pvio_backend_alive(struct pvio_device *pdev);
/*
 * Dirty logging (protocol 6.4): while pvio_log_dirty() is true, a driver
 * passes every buffer it reaps that the backend may have written to
 * pvio_touch() before it uses the data, so that the hypervisor's dirty
 * log (which sees only this CPU's stores) sees those pages written.
 */
static inline bool pvio_log_dirty(const struct pvio_device *pdev)
{
	return READ_ONCE(pdev->log_dirty);
}

void pvio_touch(void *addr, size_t len);
/*
 * After pvio_touch(): has the guest moved since (protocol 6.4)?  The
 * destination's backend writes a new generation before the guest runs
 * there, so a touch followed by the generation the device was set up
 * under (not the transport's, which another CPU may have moved on
 * already) was made at the source, before the final copy.  Otherwise
 * the touch may have come after it, the data is perhaps older than the
 * completion says, and the driver treats the completion as never
 * received: the request goes round again after the reset that follows,
 * a frame is dropped.
 */
bool pvio_backend_moved(struct pvio_device *pdev);
struct device *pvio_dma_dev(struct pvio_device *pdev);
u32 pvio_device_state(struct pvio_device *pdev);

/* pvio_queue.c */
/* -EBUSY while a reset is not acknowledged (pvio_device_reset_acked()). */
struct pvio_queue *pvio_queue_setup(struct pvio_device *pdev,
				    unsigned int index, pvio_queue_cb cb,
				    void *priv);
int pvio_queue_set_affinity(struct pvio_queue *q, const struct cpumask *mask);
void pvio_queue_sync(struct pvio_queue *q);
void *pvio_queue_priv(struct pvio_queue *q);
unsigned int pvio_queue_size(struct pvio_queue *q);
/* Free SQ slots (or -EPROTO). */
int pvio_queue_space(struct pvio_queue *q, unsigned int want);
/* Publish one whole chain of @n slots, or -ENOSPC/-EPROTO. */
int pvio_queue_submit(struct pvio_queue *q, const struct pvio_desc *d,
		      unsigned int n);
bool pvio_queue_kick_prepare(struct pvio_queue *q);
void pvio_queue_notify(struct pvio_queue *q);
static inline void pvio_queue_kick(struct pvio_queue *q)
{
	if (pvio_queue_kick_prepare(q))
		pvio_queue_notify(q);
}

/* Copy up to @max completions out; -EPROTO marks the device broken. */
int pvio_queue_reap(struct pvio_queue *q, struct pvio_cpl *c,
		    unsigned int max);
/*
 * Ask for an interrupt at the next completion; false if some arrived.  It
 * re-reads the completion ring: call it under the lock that serialises
 * pvio_queue_reap() on this queue.
 */
bool pvio_queue_enable_cb(struct pvio_queue *q);
/* The same, but the interrupt comes once @n (>= 1) completions are there. */
bool pvio_queue_enable_cb_after(struct pvio_queue *q, unsigned int n);
/*
 * Ask for an interrupt when the backend frees submission slots; false if
 * @want are free already.  Call it under the lock that serialises
 * submission on this queue.
 */
bool pvio_queue_arm_space(struct pvio_queue *q, unsigned int want);
void pvio_queue_disable_cb(struct pvio_queue *q);

#endif /* PVIO_H */
