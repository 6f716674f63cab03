/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pvio_internal.h - transport internals shared by pvio_pci.c, pvio_bus.c
 * and pvio_queue.c.  Class drivers use pvio.h only.
 */
#ifndef PVIO_INTERNAL_H
#define PVIO_INTERNAL_H

#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/workqueue.h>
#include "pvio.h"

/* ivshmem BAR0 registers. */
#define PVIO_REG_INTR_MASK	0x00
#define PVIO_REG_INTR_STATUS	0x04
#define PVIO_REG_IVPOSITION	0x08
#define PVIO_REG_DOORBELL	0x0c

struct pvio_queue {
	struct pvio_device *pdev;
	unsigned int index;
	unsigned int vector;
	int irq;			/* Linux irq, 0 when not requested */
	struct pvio_ring sq;		/* we produce */
	struct pvio_ring cq;		/* we consume */
	u32 size;
	pvio_queue_cb cb;
	void *priv;
	char name[32];
	bool ready;
};

struct pvio_transport {
	struct pci_dev *pci;
	void __iomem *regs;		/* BAR0 */
	void *win;			/* BAR2, mapped write-back */
	u64 win_size;
	struct pvio_window_hdr *hdr;
	u16 backend_peer;
	unsigned int nvec;
	bool vectors_allocated;
	bool started;			/* devices enumerated */
	u32 generation;			/* backend generation we set up for */
	u64 heartbeat;			/* last value seen */
	unsigned long heartbeat_at;	/* jiffies when it last moved */
	unsigned int hb_ms;
	bool alive;
	u32 log_ack;			/* log_request we acted on (6.4) */
	int ndev;
	struct pvio_device *devs[PVIO_MAX_DEVICES];
	u32 config_gen[PVIO_MAX_DEVICES];	/* last config_generation seen */
	u32 dev_state[PVIO_MAX_DEVICES];	/* last device_state seen */
	struct mutex lock;		/* start/stop, restarts, device list */
	struct delayed_work watch;	/* liveness, generation, late start */
	struct work_struct config_work;	/* config vector */
	bool stopping;
};

/* pvio_bus.c */
extern struct bus_type pvio_bus;
int pvio_bus_init(void);
void pvio_bus_uninit(void);
/* The identity fields, read once from the device table and validated. */
struct pvio_dev_ident {
	u16 type;
	u16 instance;
	u16 max_queues;		/* 1..PVIO_MAX_QUEUES */
	u32 config_off;		/* inside the window when config_len != 0 */
	u32 config_len;
};

struct pvio_device *pvio_device_create(struct pvio_transport *t,
				       unsigned int index,
				       struct pvio_dev_desc *desc,
				       const struct pvio_dev_ident *id);
void pvio_device_destroy(struct pvio_device *pdev);

/* pvio_pci.c */
void pvio_ring_doorbell(struct pvio_transport *t, unsigned int vector);
void pvio_device_quiesce(struct pvio_device *pdev);
bool pvio_device_ready_for_setup(struct pvio_device *pdev);

/* pvio_queue.c */
void pvio_queues_free(struct pvio_device *pdev);

#endif
