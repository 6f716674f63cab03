// SPDX-License-Identifier: GPL-2.0
/*
 * pvio_pci.c - pvio transport over QEMU's ivshmem-doorbell PCI device.
 *
 * Probe: check the window (magic, ABI major, size), then either start at
 * once or, when the backend has not finished laying the window out, poll
 * for it.  Start: MSI-X vectors, transport features and status, then one
 * pvio_device per device-table entry, registered last.  A watch work item
 * follows the backend's heartbeat and generation: a restarted backend gets
 * every device reset and its driver restored (or rebound).
 *
 * Nothing the backend wrote is trusted: offsets, sizes, counts and vectors
 * are read once and checked before use.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include "pvio_internal.h"

#define PVIO_TRANSPORT_FEATURES	(BIT_ULL(PVIO_F_EVENT_IDX) | \
				 BIT_ULL(PVIO_F_HEARTBEAT) | \
				 BIT_ULL(PVIO_F_DIRTY_LOG))
#define PVIO_RESET_TIMEOUT_MS	2000
#define PVIO_MISSED_BEATS	3

void pvio_ring_doorbell(struct pvio_transport *t, unsigned int vector)
{
	iowrite32(((u32)t->backend_peer << 16) | vector,
		  t->regs + PVIO_REG_DOORBELL);
}

static void pvio_set_guest_status(struct pvio_transport *t, u32 st)
{
	/* Features and generation written before are visible with the status. */
	smp_store_release(&t->hdr->guest_status, cpu_to_le32(st));
	pvio_ring_doorbell(t, PVIO_CONFIG_VECTOR);
}

/* ---- class-driver API ---------------------------------------------------- */

u64 pvio_host_features(struct pvio_device *pdev)
{
	return le64_to_cpu(READ_ONCE(pdev->desc->host_features));
}
EXPORT_SYMBOL_GPL(pvio_host_features);

static void pvio_set_driver_status(struct pvio_device *pdev, u32 st)
{
	/* guest_features, num_queues, enabled: visible before the status. */
	smp_store_release(&pdev->desc->driver_status, cpu_to_le32(st));
	pvio_ring_doorbell(pdev->t, PVIO_CONFIG_VECTOR);
}

int pvio_negotiate(struct pvio_device *pdev, u64 wanted)
{
	pvio_set_driver_status(pdev, PVIO_DS_ACKNOWLEDGE | PVIO_DS_DRIVER);
	pdev->features = wanted & pvio_host_features(pdev);
	WRITE_ONCE(pdev->desc->guest_features, cpu_to_le64(pdev->features));
	pvio_set_driver_status(pdev, PVIO_DS_ACKNOWLEDGE | PVIO_DS_DRIVER |
			       PVIO_DS_FEATURES_OK);
	return 0;
}
EXPORT_SYMBOL_GPL(pvio_negotiate);

u32 pvio_config_generation(struct pvio_device *pdev)
{
	/* Pairs with the backend's release after it rewrote the config. */
	return le32_to_cpu(smp_load_acquire(&pdev->desc->config_generation));
}
EXPORT_SYMBOL_GPL(pvio_config_generation);

/*
 * Copy @len bytes of the config area consistently: the backend makes the
 * generation odd while it rewrites the area (protocol 6.3), so wait that
 * out and retry until the generation is the same, even value before and
 * after the copy.  Returns the generation of the copy, or -EAGAIN when the
 * backend kept rewriting for a whole second (the copy is then torn).
 */
int pvio_config_read(struct pvio_device *pdev, void *buf, size_t len)
{
	unsigned long deadline = jiffies + HZ;
	u32 gen;

	if (!pdev->config || len > pdev->config_len)
		return -EINVAL;
	for (;;) {
		gen = pvio_config_generation(pdev);
		if (!(gen & 1)) {
			memcpy(buf, pdev->config, len);
			/* Copy complete before the generation is re-read. */
			smp_rmb();
			if (gen == pvio_config_generation(pdev))
				return gen & INT_MAX;
		}
		if (time_after(jiffies, deadline)) {
			dev_warn_ratelimited(&pdev->dev,
					     "config keeps changing; using the last copy\n");
			return -EAGAIN;
		}
		cpu_relax();
	}
}
EXPORT_SYMBOL_GPL(pvio_config_read);

/*
 * The driver changed a guest-written field of its config area (balloon
 * actual_pages): ring vector 0 so the backend looks.  The doorbell is an
 * MMIO write, ordered after the driver's earlier stores to the window.
 */
void pvio_config_notify(struct pvio_device *pdev)
{
	pvio_ring_doorbell(pdev->t, PVIO_CONFIG_VECTOR);
}
EXPORT_SYMBOL_GPL(pvio_config_notify);

u32 pvio_device_state(struct pvio_device *pdev)
{
	return le32_to_cpu(READ_ONCE(pdev->desc->device_state));
}
EXPORT_SYMBOL_GPL(pvio_device_state);

int pvio_device_ready(struct pvio_device *pdev, unsigned int nqueues)
{
	if (!nqueues || nqueues > pdev->max_queues)
		return -EINVAL;
	WRITE_ONCE(pdev->desc->num_queues, cpu_to_le16(nqueues));
	WRITE_ONCE(pdev->ready_gen, READ_ONCE(pdev->t->generation));
	pvio_set_driver_status(pdev, PVIO_DS_ACKNOWLEDGE | PVIO_DS_DRIVER |
			       PVIO_DS_FEATURES_OK | PVIO_DS_DRIVER_OK);
	return 0;
}
EXPORT_SYMBOL_GPL(pvio_device_ready);

bool pvio_device_reset_acked(struct pvio_device *pdev)
{
	bool acked;
	u32 cnt;

	spin_lock(&pdev->reset_lock);
	acked = !pdev->reset_pending;
	if (!acked) {
		/* Pairs with the backend's release after re-initialising rings. */
		cnt = le32_to_cpu(smp_load_acquire(&pdev->desc->reset_count));
		acked = cnt == pdev->reset_req;
		if (acked) {
			/* A served reset clears a violation of either side. */
			pdev->reset_pending = false;
			pdev->broken = false;
		}
	}
	spin_unlock(&pdev->reset_lock);
	return acked;
}
EXPORT_SYMBOL_GPL(pvio_device_reset_acked);

/* Poll for the echo of the reset asked for last; false after ~2 s. */
static bool pvio_device_wait_reset(struct pvio_device *pdev)
{
	int ms;

	for (ms = 0; ms < PVIO_RESET_TIMEOUT_MS; ms++) {
		if (pvio_device_reset_acked(pdev))
			return true;
		usleep_range(500, 1000);
	}
	return pvio_device_reset_acked(pdev);
}

/*
 * Ask the backend to reset the device and wait until it has: after that it
 * touches no buffer of an earlier request.  False when it did not answer
 * in time (gone or stalled): the pending reset stays recorded in @pdev.
 */
static bool pvio_device_do_reset(struct pvio_device *pdev)
{
	struct pvio_dev_desc *d = pdev->desc;
	u32 req = le32_to_cpu(READ_ONCE(d->reset_request)) + 1;

	spin_lock(&pdev->reset_lock);
	pdev->reset_req = req;
	pdev->reset_pending = true;
	spin_unlock(&pdev->reset_lock);
	WRITE_ONCE(d->driver_status, 0);
	/* driver_status = 0 is visible before the request. */
	smp_store_release(&d->reset_request, cpu_to_le32(req));
	pvio_ring_doorbell(pdev->t, PVIO_CONFIG_VECTOR);
	if (pvio_device_wait_reset(pdev))
		return true;
	dev_warn(&pdev->dev, "backend did not acknowledge reset %u\n", req);
	return false;
}

int pvio_device_reset(struct pvio_device *pdev)
{
	return pvio_device_do_reset(pdev) ? 0 : -ETIMEDOUT;
}
EXPORT_SYMBOL_GPL(pvio_device_reset);

int pvio_device_teardown(struct pvio_device *pdev)
{
	int ret = pvio_device_reset(pdev);

	pvio_queues_free(pdev);
	return ret;
}
EXPORT_SYMBOL_GPL(pvio_device_teardown);

/*
 * The bus and the transport reset a device no driver uses (any more, or
 * yet): there is nothing to hold back, and a reset left unanswered stays
 * recorded for the next probe or restore, which wait for its echo.
 */
void pvio_device_quiesce(struct pvio_device *pdev)
{
	pvio_device_do_reset(pdev);
	pvio_queues_free(pdev);
}

/*
 * A driver may set the device up only after the backend has echoed every
 * reset asked for (a reset served later would wipe the new queues).  The
 * echo may be due from a reset made long ago (an earlier driver, an
 * earlier load of pvio.ko): give the backend the usual time for it.
 */
bool pvio_device_ready_for_setup(struct pvio_device *pdev)
{
	return pvio_device_wait_reset(pdev);
}

void pvio_device_failed(struct pvio_device *pdev, const char *why)
{
	dev_err(&pdev->dev, "%s: device marked broken\n", why);
	pdev->broken = true;
	pvio_set_driver_status(pdev, le32_to_cpu(READ_ONCE(pdev->desc->driver_status)) |
			       PVIO_DS_FAILED);
}
EXPORT_SYMBOL_GPL(pvio_device_failed);

bool pvio_backend_alive(struct pvio_device *pdev)
{
	return READ_ONCE(pdev->t->alive);
}
EXPORT_SYMBOL_GPL(pvio_backend_alive);

struct device *pvio_dma_dev(struct pvio_device *pdev)
{
	return &pdev->t->pci->dev;
}
EXPORT_SYMBOL_GPL(pvio_dma_dev);

/* ---- start / stop ----------------------------------------------------------- */

static irqreturn_t pvio_config_interrupt(int irq, void *data)
{
	struct pvio_transport *t = data;

	schedule_work(&t->config_work);
	return IRQ_HANDLED;
}

static int pvio_add_devices(struct pvio_transport *t)
{
	struct pvio_window_hdr *h = t->hdr;
	u32 off = le32_to_cpu(READ_ONCE(h->dev_table_off));
	u16 n = le16_to_cpu(READ_ONCE(h->num_devices));
	struct pvio_dev_desc *table;
	u32 queues = 0;
	int i;

	if (n > PVIO_MAX_DEVICES || !IS_ALIGNED(off, 8) ||
	    !pvio_abi_range_ok(off, (u64)n * sizeof(*table), t->win_size)) {
		dev_err(&t->pci->dev, "bad device table (%u entries at %#x)\n", n, off);
		return -EPROTO;
	}
	table = t->win + off;
	for (i = 0; i < n; i++) {
		struct pvio_dev_desc *d = &table[i];
		struct pvio_dev_ident id = {
			.type = le16_to_cpu(READ_ONCE(d->type)),
			.instance = le16_to_cpu(READ_ONCE(d->instance)),
			.max_queues = le16_to_cpu(READ_ONCE(d->max_queues)),
			.config_off = le32_to_cpu(READ_ONCE(d->config_off)),
			.config_len = le32_to_cpu(READ_ONCE(d->config_len)),
		};
		struct pvio_device *pdev;

		if (id.max_queues == 0 || id.max_queues > PVIO_MAX_QUEUES ||
		    (id.config_len &&
		     !pvio_abi_range_ok(id.config_off, id.config_len, t->win_size))) {
			dev_err(&t->pci->dev, "device %d: bad queues (%u) or config area\n",
				i, id.max_queues);
			continue;	/* skip it, keep the others */
		}
		queues += id.max_queues;
		if (queues + 1 > t->nvec) {
			dev_err(&t->pci->dev, "device %d: not enough vectors (%u) for its queues\n",
				i, t->nvec);
			continue;
		}
		t->config_gen[i] = le32_to_cpu(READ_ONCE(d->config_generation));
		t->dev_state[i] = le32_to_cpu(READ_ONCE(d->device_state));
		pdev = pvio_device_create(t, i, d, &id);
		if (IS_ERR(pdev))
			return PTR_ERR(pdev);
		t->devs[i] = pdev;
		t->ndev = i + 1;
		dev_info(&t->pci->dev, "%s: %s device, %u queue(s)\n",
			 dev_name(&pdev->dev), pvio_dev_type_name(pdev->type),
			 id.max_queues);
	}
	return 0;
}

static void pvio_remove_devices(struct pvio_transport *t)
{
	int i;

	for (i = t->ndev - 1; i >= 0; i--) {
		if (t->devs[i])
			pvio_device_destroy(t->devs[i]);
		t->devs[i] = NULL;
	}
	t->ndev = 0;
}

static void pvio_transport_handshake(struct pvio_transport *t)
{
	u64 host = le64_to_cpu(READ_ONCE(t->hdr->host_features));

	pvio_set_guest_status(t, PVIO_GS_ACKNOWLEDGE | PVIO_GS_DRIVER);
	WRITE_ONCE(t->hdr->guest_features,
		   cpu_to_le64(host & PVIO_TRANSPORT_FEATURES));
	WRITE_ONCE(t->hdr->guest_generation, cpu_to_le32(t->generation));
	pvio_set_guest_status(t, PVIO_GS_ACKNOWLEDGE | PVIO_GS_DRIVER |
			      PVIO_GS_FEATURES_OK | PVIO_GS_DRIVER_OK);
}

/* Called with t->lock held once the backend reports READY. */
static int pvio_transport_start(struct pvio_transport *t)
{
	struct pvio_window_hdr *h = t->hdr;
	u32 nvec = le32_to_cpu(READ_ONCE(h->num_vectors));
	u32 hb = le32_to_cpu(READ_ONCE(h->heartbeat_ms));
	int ret;

	if (nvec < 2 || nvec > PVIO_MAX_VECTORS) {
		dev_err(&t->pci->dev, "backend asks for %u vectors\n", nvec);
		return -EPROTO;
	}
	t->nvec = nvec;
	t->backend_peer = le16_to_cpu(READ_ONCE(h->backend_peer));
	t->generation = le32_to_cpu(READ_ONCE(h->generation));
	t->hb_ms = clamp_t(u32, hb, 10, 10000);
	t->heartbeat = le64_to_cpu(READ_ONCE(h->heartbeat));
	t->heartbeat_at = jiffies;
	t->alive = true;

	ret = pci_alloc_irq_vectors(t->pci, nvec, nvec, PCI_IRQ_MSIX);
	if (ret < 0) {
		dev_err(&t->pci->dev, "need %u MSI-X vectors (start QEMU's ivshmem-doorbell with vectors=%u): %d\n",
			nvec, nvec, ret);
		return ret;
	}
	t->vectors_allocated = true;
	ret = request_irq(pci_irq_vector(t->pci, PVIO_CONFIG_VECTOR),
			  pvio_config_interrupt, 0, "pvio-config", t);
	if (ret)
		goto err_free_vectors;
	pvio_transport_handshake(t);
	ret = pvio_add_devices(t);
	if (ret)
		goto err_remove_devices;
	t->started = true;
	dev_info(&t->pci->dev, "pvio window %llu KiB, ABI %u.%u, generation %u, %d device(s)\n",
		 t->win_size >> 10, le32_to_cpu(h->abi_version) >> 16,
		 le32_to_cpu(h->abi_version) & 0xffff, t->generation, t->ndev);
	return 0;

err_remove_devices:
	pvio_remove_devices(t);
	pvio_set_guest_status(t, 0);
	free_irq(pci_irq_vector(t->pci, PVIO_CONFIG_VECTOR), t);
err_free_vectors:
	pci_free_irq_vectors(t->pci);
	t->vectors_allocated = false;
	return ret;
}

static void pvio_transport_stop(struct pvio_transport *t)
{
	if (!t->started)
		return;
	pvio_remove_devices(t);
	pvio_set_guest_status(t, 0);
	free_irq(pci_irq_vector(t->pci, PVIO_CONFIG_VECTOR), t);
	pci_free_irq_vectors(t->pci);
	t->vectors_allocated = false;
	t->started = false;
}

/* ---- restarts, resets, liveness ------------------------------------------ */

/*
 * Bring one device back after a backend restart or a reset request.  A
 * driver with freeze()/restore() is restored only once the backend has
 * acknowledged the reset (pvio_finish_recovery() waits for a late echo);
 * one without is unbound, and bound again when probe may set it up.
 */
static void pvio_device_recover(struct pvio_device *pdev)
{
	struct device *dev = &pdev->dev;
	struct pvio_driver *drv;

	device_lock(dev);
	drv = dev->driver ? to_pvio_driver(dev->driver) : NULL;
	if (drv && drv->freeze && drv->restore) {
		if (!pdev->restore_pending)
			drv->freeze(pdev);
		if (!pvio_device_teardown(pdev)) {
			pdev->restore_pending = false;
			if (drv->restore(pdev))
				dev_err(dev, "driver could not restore after reset\n");
		} else if (!pdev->restore_pending) {
			pdev->restore_pending = true;
			dev_warn(dev, "driver stays frozen until the backend acknowledges a reset\n");
		}
		device_unlock(dev);
		return;
	}
	device_unlock(dev);
	if (drv) {
		/* Unbind (remove resets the device), then bind afresh. */
		device_release_driver(dev);
		if (device_attach(dev) < 0)
			dev_err(dev, "rebind after reset failed\n");
	} else {
		pvio_device_quiesce(pdev);
	}
}

/* A device waiting for a late reset echo: restore or bind it once it came. */
static void pvio_finish_recovery(struct pvio_device *pdev)
{
	struct device *dev = &pdev->dev;
	struct pvio_driver *drv;

	if (READ_ONCE(pdev->attach_pending) && pvio_device_reset_acked(pdev)) {
		WRITE_ONCE(pdev->attach_pending, false);
		dev_info(dev, "backend acknowledged the reset: binding\n");
		if (device_attach(dev) < 0)
			dev_err(dev, "bind after reset failed\n");
		return;
	}
	if (!READ_ONCE(pdev->restore_pending) || !pvio_device_reset_acked(pdev))
		return;
	device_lock(dev);
	drv = dev->driver ? to_pvio_driver(dev->driver) : NULL;
	if (pdev->restore_pending && drv) {
		pdev->restore_pending = false;
		dev_info(dev, "backend acknowledged the reset: restoring the driver\n");
		if (drv->restore(pdev))
			dev_err(dev, "driver could not restore after reset\n");
	}
	device_unlock(dev);
}

/* Tell the bound driver, if any, that config or device state changed. */
static void pvio_config_changed(struct pvio_device *pdev)
{
	struct pvio_driver *drv;

	device_lock(&pdev->dev);
	drv = pdev->dev.driver ? to_pvio_driver(pdev->dev.driver) : NULL;
	if (drv && drv->config_changed)
		drv->config_changed(pdev);
	device_unlock(&pdev->dev);
}

static void pvio_check(struct pvio_transport *t)
{
	struct pvio_window_hdr *h = t->hdr;
	/* Pairs with the backend's release of a new generation. */
	u32 gen = le32_to_cpu(smp_load_acquire(&h->generation));
	u32 bstate = le32_to_cpu(READ_ONCE(h->backend_state));
	int i;

	if (gen != t->generation && bstate == PVIO_BS_READY) {
		dev_warn(&t->pci->dev, "backend restarted (generation %u -> %u): resetting devices\n",
			 t->generation, gen);
		t->generation = gen;
		/* A new backend may be another peer (an older pviod was 0). */
		t->backend_peer = le16_to_cpu(READ_ONCE(h->backend_peer));
		pvio_transport_handshake(t);
		for (i = 0; i < t->ndev; i++)
			if (t->devs[i])
				pvio_device_recover(t->devs[i]);
	}
	for (i = 0; i < t->ndev; i++) {
		struct pvio_device *pdev = t->devs[i];
		bool changed = false;
		u32 st, cg;

		if (!pdev)
			continue;
		st = le32_to_cpu(READ_ONCE(pdev->desc->device_state));
		/* Pairs with the backend's release after a config update. */
		cg = le32_to_cpu(smp_load_acquire(&pdev->desc->config_generation));
		if (st != t->dev_state[i]) {
			t->dev_state[i] = st;
			changed = true;
			if (st & PVIO_DEV_S_BROKEN) {
				dev_err(&pdev->dev, "backend marked the device broken (reason %u)\n",
					le32_to_cpu(READ_ONCE(pdev->desc->broken_reason)));
				pdev->broken = true;
			}
			if (st & PVIO_DEV_S_NEEDS_RESET)
				pvio_device_recover(pdev);
		}
		if (cg != t->config_gen[i] || changed) {
			t->config_gen[i] = cg;
			pvio_config_changed(pdev);
		}
		pvio_finish_recovery(pdev);
	}
}

/*
 * Store to every page of [@addr, @addr + @len): the byte there, written
 * back.  No other CPU writes a buffer the backend just filled.
 */
void pvio_touch(void *addr, size_t len)
{
	u8 *p = addr, *end = p + len;

	while (p < end) {
		WRITE_ONCE(*p, READ_ONCE(*p));
		p = PTR_ALIGN(p + 1, PAGE_SIZE);
	}
}
EXPORT_SYMBOL_GPL(pvio_touch);

bool pvio_backend_moved(struct pvio_device *pdev)
{
	struct pvio_transport *t = pdev->t;

	/*
	 * In program order after the touch: the guest stops between two
	 * instructions, so either both ran at the source or this load ran
	 * at the destination, where the window has the new generation.
	 * Compared with the generation the queues were set up under: the
	 * transport's own moves on as soon as another CPU sees the new one,
	 * long before these queues are gone.
	 */
	if (likely(le32_to_cpu(READ_ONCE(t->hdr->generation)) == READ_ONCE(pdev->ready_gen)))
		return false;
	dev_info_ratelimited(&pdev->dev, "a completion taken as the guest moved: not used\n");
	return true;
}
EXPORT_SYMBOL_GPL(pvio_backend_moved);

/*
 * The backend's log_request (protocol 6.4), under t->lock: the devices
 * log, or stop; once every reap that may have begun before has ended
 * (NAPI polls and completions are RCU readers), the guest says so.
 */
static void pvio_check_log(struct pvio_transport *t)
{
	u32 req = le32_to_cpu(READ_ONCE(t->hdr->log_request));
	int i;

	if (req == t->log_ack)
		return;
	for (i = 0; i < t->ndev; i++)
		if (t->devs[i])
			WRITE_ONCE(t->devs[i]->log_dirty, req != 0);
	synchronize_rcu();
	t->log_ack = req;
	/* Pairs with the backend's acquire of log_ack. */
	smp_store_release(&t->hdr->log_ack, cpu_to_le32(req));
	dev_info(&t->pci->dev, "dirty logging %s (request %u)\n", req ? "on" : "off", req);
}

static void pvio_check_heartbeat(struct pvio_transport *t)
{
	u64 hb = le64_to_cpu(READ_ONCE(t->hdr->heartbeat));
	unsigned long limit = msecs_to_jiffies(t->hb_ms * PVIO_MISSED_BEATS);
	bool alive = t->alive;

	if (hb != t->heartbeat) {
		t->heartbeat = hb;
		t->heartbeat_at = jiffies;
		alive = true;
	} else if (time_after(jiffies, t->heartbeat_at + limit)) {
		alive = false;
	}
	if (alive != t->alive) {
		int i;

		WRITE_ONCE(t->alive, alive);
		if (alive)
			dev_info(&t->pci->dev, "backend is back\n");
		else
			dev_warn(&t->pci->dev, "backend not responding (no heartbeat for %u ms)\n",
				 t->hb_ms * PVIO_MISSED_BEATS);
		/* Drivers follow liveness through config_changed (carrier). */
		for (i = 0; i < t->ndev; i++)
			if (t->devs[i])
				pvio_config_changed(t->devs[i]);
	}
}

static void pvio_watch(struct work_struct *work)
{
	struct pvio_transport *t = container_of(to_delayed_work(work),
						struct pvio_transport, watch);
	unsigned int period = 100;

	mutex_lock(&t->lock);
	if (t->stopping)
		goto out;
	if (!t->started) {
		/* Pairs with the backend's release of READY after the layout. */
		u32 bs = le32_to_cpu(smp_load_acquire(&t->hdr->backend_state));

		if (bs == PVIO_BS_READY && pvio_transport_start(t)) {
			dev_err(&t->pci->dev, "cannot start; will retry\n");
			period = 1000;
		}
	} else {
		pvio_check_heartbeat(t);
		pvio_check(t);
		pvio_check_log(t);
		period = t->hb_ms;
	}
	if (!t->stopping)
		schedule_delayed_work(&t->watch, msecs_to_jiffies(period));
out:
	mutex_unlock(&t->lock);
}

static void pvio_config_work(struct work_struct *work)
{
	struct pvio_transport *t = container_of(work, struct pvio_transport,
						config_work);

	mutex_lock(&t->lock);
	if (t->started && !t->stopping) {
		pvio_check(t);
		pvio_check_log(t);
	}
	mutex_unlock(&t->lock);
}

/* ---- PCI driver -------------------------------------------------------------- */

static int pvio_pci_probe(struct pci_dev *pci, const struct pci_device_id *id)
{
	struct pvio_transport *t;
	resource_size_t start, len;
	u32 magic, abi;
	int ret;

	ret = pcim_enable_device(pci);
	if (ret)
		return ret;
	start = pci_resource_start(pci, 2);
	len = pci_resource_len(pci, 2);
	if (len < PAGE_SIZE || !is_power_of_2(len))
		return -ENODEV;
	t = devm_kzalloc(&pci->dev, sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	t->win = devm_memremap(&pci->dev, start, len, MEMREMAP_WB);
	if (IS_ERR(t->win))
		return PTR_ERR(t->win);
	t->hdr = t->win;
	t->win_size = len;
	magic = le32_to_cpu(READ_ONCE(t->hdr->magic));
	abi = le32_to_cpu(READ_ONCE(t->hdr->abi_version));
	if (magic != PVIO_MAGIC) {
		/* A generic ivshmem device for other software: not ours. */
		dev_info(&pci->dev, "no pvio window (magic %#x): not binding\n", magic);
		return -ENODEV;
	}
	if (abi >> 16 != PVIO_ABI_VERSION_MAJOR) {
		dev_err(&pci->dev, "pvio ABI %u.%u not supported (this driver: %u.x)\n",
			abi >> 16, abi & 0xffff, PVIO_ABI_VERSION_MAJOR);
		return -ENODEV;
	}
	if (le64_to_cpu(READ_ONCE(t->hdr->window_size)) != len) {
		dev_err(&pci->dev, "window size %llu does not match BAR2 (%llu)\n",
			le64_to_cpu(READ_ONCE(t->hdr->window_size)), (u64)len);
		return -ENODEV;
	}
	ret = pcim_iomap_regions(pci, BIT(0), KBUILD_MODNAME);
	if (ret)
		return ret;
	t->regs = pcim_iomap_table(pci)[0];
	ret = dma_set_mask_and_coherent(&pci->dev, DMA_BIT_MASK(64));
	if (ret)
		return ret;
	/*
	 * The backend reads guest memory by address, not through a DMA
	 * engine: a segment is bounded by a descriptor's 32-bit len only,
	 * not by PCI's default of 64 KiB (which the block layer and the
	 * DMA API debug checks would otherwise hold the drivers to).
	 */
	ret = dma_set_max_seg_size(&pci->dev, UINT_MAX);
	if (ret)
		return ret;
	pci_set_master(pci);
	t->pci = pci;
	mutex_init(&t->lock);
	INIT_DELAYED_WORK(&t->watch, pvio_watch);
	INIT_WORK(&t->config_work, pvio_config_work);
	pci_set_drvdata(pci, t);

	mutex_lock(&t->lock);
	/* Pairs with the backend's release of READY after the layout. */
	if (le32_to_cpu(smp_load_acquire(&t->hdr->backend_state)) == PVIO_BS_READY) {
		ret = pvio_transport_start(t);
		if (ret) {
			mutex_unlock(&t->lock);
			return ret;
		}
	} else {
		dev_info(&pci->dev, "pvio window found, backend not ready yet: waiting\n");
	}
	schedule_delayed_work(&t->watch, msecs_to_jiffies(100));
	mutex_unlock(&t->lock);
	return 0;
}

static void pvio_pci_remove(struct pci_dev *pci)
{
	struct pvio_transport *t = pci_get_drvdata(pci);

	mutex_lock(&t->lock);
	t->stopping = true;
	mutex_unlock(&t->lock);
	cancel_delayed_work_sync(&t->watch);
	cancel_work_sync(&t->config_work);
	mutex_lock(&t->lock);
	pvio_transport_stop(t);
	mutex_unlock(&t->lock);
}

static const struct pci_device_id pvio_pci_ids[] = {
	{ PCI_DEVICE(PVIO_PCI_VENDOR_ID, PVIO_PCI_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, pvio_pci_ids);

static struct pci_driver pvio_pci_driver = {
	.name = KBUILD_MODNAME,
	.id_table = pvio_pci_ids,
	.probe = pvio_pci_probe,
	.remove = pvio_pci_remove,
};

static int __init pvio_init(void)
{
	int ret;

	ret = pvio_bus_init();
	if (ret)
		return ret;
	ret = pci_register_driver(&pvio_pci_driver);
	if (ret)
		goto err_bus;
	return 0;

err_bus:
	pvio_bus_uninit();
	return ret;
}

static void __exit pvio_exit(void)
{
	pci_unregister_driver(&pvio_pci_driver);
	pvio_bus_uninit();
}

module_init(pvio_init);
module_exit(pvio_exit);
MODULE_DESCRIPTION("pvio paravirtual I/O transport (ivshmem-doorbell)");
MODULE_LICENSE("GPL");
