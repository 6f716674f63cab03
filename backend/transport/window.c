// SPDX-License-Identifier: GPL-2.0
/*
 * window.c - the shared window of one guest: layout, liveness, and the
 * device status state machine driven by what the guest writes.
 *
 * The layout is a pure function of the configuration, so a restarted
 * worker recomputes exactly the offsets the guest already uses.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "transport/guest.h"
#include "core/log.h"

#define ALIGN_UP(x, a)	(((x) + (a) - 1) & ~((uint64_t)(a) - 1))

/* Number of the @i-th device among the guest's devices of its type. */
static unsigned int instance_of(const struct pvbe_guest *g, int i)
{
	unsigned int n = 0;
	int j;

	for (j = 0; j < i; j++)
		n += g->dev[j].ops->type == g->dev[i].ops->type;
	return n;
}

/* Compute every offset; write the tables when @write.  Returns bytes used. */
static uint64_t layout(struct pvbe_guest *g, bool write)
{
	struct pvio_window_hdr *h = g->hdr;
	uint64_t off = sizeof(struct pvio_window_hdr);
	unsigned int vec = PVIO_CONFIG_VECTOR + 1;
	int i;
	unsigned int q;

	off = ALIGN_UP(off, 64);
	if (write) {
		h->dev_table_off = pvio_cpu_to_le32((uint32_t)off);
		h->num_devices = pvio_cpu_to_le16(g->ndev);
	}
	off += (uint64_t)g->ndev * sizeof(struct pvio_dev_desc);
	for (i = 0; i < g->ndev; i++) {
		struct pvbe_dev *d = &g->dev[i];
		struct pvio_dev_desc *dd = NULL;

		if (write) {
			dd = (struct pvio_dev_desc *)((char *)g->win +
				pvio_le32_to_cpu(h->dev_table_off)) + i;
			d->desc = dd;
			dd->type = pvio_cpu_to_le16(d->ops->type);
			dd->instance = pvio_cpu_to_le16(instance_of(g, i));
			dd->max_queues = pvio_cpu_to_le16(d->nqueues);
		}
		off = ALIGN_UP(off, 64);
		if (write) {
			dd->config_off = pvio_cpu_to_le32((uint32_t)off);
			dd->config_len = pvio_cpu_to_le32(d->config_len);
			d->config = d->config_len ? (char *)g->win + off : NULL;
		}
		off += d->config_len;
		off = ALIGN_UP(off, 64);
		if (write)
			dd->queue_off = pvio_cpu_to_le32((uint32_t)off);
		off += (uint64_t)d->nqueues * sizeof(struct pvio_queue_desc);
		for (q = 0; q < d->nqueues; q++) {
			struct pvbe_queue *pq = &d->q[q];
			uint64_t sq_off, cq_off;

			off = ALIGN_UP(off, PVIO_RING_LINE);
			sq_off = off;
			off += pvio_ring_bytes(pq->sq_size, d->ops->sq_esize);
			off = ALIGN_UP(off, PVIO_RING_LINE);
			cq_off = off;
			off += pvio_ring_bytes(pq->cq_size, d->ops->cq_esize);
			pq->vector = vec++;
			if (!write)
				continue;
			pq->desc = (struct pvio_queue_desc *)((char *)g->win +
				pvio_le32_to_cpu(dd->queue_off)) + q;
			pq->sq_mem = (char *)g->win + sq_off;
			pq->cq_mem = (char *)g->win + cq_off;
			pq->desc->sq_off = pvio_cpu_to_le32((uint32_t)sq_off);
			pq->desc->cq_off = pvio_cpu_to_le32((uint32_t)cq_off);
			pq->desc->sq_size = pvio_cpu_to_le32(pq->sq_size);
			pq->desc->cq_size = pvio_cpu_to_le32(pq->cq_size);
			pq->desc->sq_esize = pvio_cpu_to_le16(d->ops->sq_esize);
			pq->desc->cq_esize = pvio_cpu_to_le16(d->ops->cq_esize);
			pq->desc->vector = pvio_cpu_to_le16(pq->vector);
			g->vec_queue[pq->vector] = pq;
		}
	}
	g->nvectors = vec;
	return off;
}

static uint64_t pow2_at_least(uint64_t v)
{
	uint64_t p = 4096;

	while (p < v)
		p <<= 1;
	return p;
}

/*
 * Supervisor side: size the window, create its memfd and the eventfds.
 * These outlive any worker.
 */
int pvbe_window_create(struct pvbe_guest *g)
{
	char name[64];
	unsigned int v;
	uint64_t need;

	need = layout(g, false);
	if (g->nvectors > PVIO_MAX_VECTORS) {
		pvbe_err(g->tag, "needs %u interrupt vectors, at most %d", g->nvectors,
			 PVIO_MAX_VECTORS);
		return -EINVAL;
	}
	g->win_size = pow2_at_least(need);
	snprintf(name, sizeof(name), "pvio-window-%s", g->cfg->name);
	g->shm_fd = memfd_create(name, MFD_CLOEXEC);
	if (g->shm_fd < 0 || ftruncate(g->shm_fd, (off_t)g->win_size) < 0) {
		pvbe_err(g->tag, "window memfd: %s", strerror(errno));
		return -errno;
	}
	for (v = 0; v < g->nvectors; v++) {
		g->be_efd[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		g->guest_efd[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (g->be_efd[v] < 0 || g->guest_efd[v] < 0) {
			pvbe_err(g->tag, "eventfd: %s", strerror(errno));
			return -errno;
		}
	}
	pvbe_info(g->tag, "window %" PRIu64 " bytes, %u vectors (QEMU: vectors=%u or more)",
		  g->win_size, g->nvectors, g->nvectors);
	return 0;
}

int pvbe_window_map(struct pvbe_guest *g)
{
	g->win = mmap(NULL, g->win_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      g->shm_fd, 0);
	if (g->win == MAP_FAILED) {
		g->win = NULL;
		pvbe_err(g->tag, "map window: %s", strerror(errno));
		return -errno;
	}
	g->hdr = g->win;
	return 0;
}

static void init_rings(struct pvbe_dev *d)
{
	unsigned int q;

	for (q = 0; q < d->nqueues; q++) {
		pvio_ring_shared_init(d->q[q].sq_mem, 0);
		pvio_ring_shared_init(d->q[q].cq_mem, 0);
		d->q[q].desc->enabled = 0;
	}
}

static void publish_devices(struct pvbe_guest *g)
{
	int i;

	for (i = 0; i < g->ndev; i++) {
		struct pvbe_dev *d = &g->dev[i];

		d->desc->host_features = pvio_cpu_to_le64(d->host_features);
		pvio_write_once(d->desc->device_state,
				pvio_cpu_to_le32(PVIO_DEV_S_LIVE));
	}
}

/* Fresh layout for a new guest connection. */
int pvbe_window_layout(struct pvbe_guest *g, uint32_t generation)
{
	struct pvio_window_hdr *h = g->hdr;
	int i, ret;

	memset(g->win, 0, g->win_size);
	h->magic = pvio_cpu_to_le32(PVIO_MAGIC);
	h->abi_version = pvio_cpu_to_le32(PVIO_ABI_VERSION);
	h->window_size = pvio_cpu_to_le64(g->win_size);
	h->host_features = pvio_cpu_to_le64((1ull << PVIO_F_EVENT_IDX) |
					    (1ull << PVIO_F_HEARTBEAT));
	h->backend_state = pvio_cpu_to_le32(PVIO_BS_INIT);
	h->generation = pvio_cpu_to_le32(generation);
	h->heartbeat_ms = pvio_cpu_to_le32(g->hb_ms);
	h->backend_peer = pvio_cpu_to_le16(PVBE_BACKEND_PEER);
	h->num_vectors = pvio_cpu_to_le32(g->nvectors);
	layout(g, true);
	for (i = 0; i < g->ndev; i++) {
		struct pvbe_dev *d = &g->dev[i];

		d->seen_status = 0;
		d->seen_reset = 0;
		d->live = false;
		d->broken = false;
		init_rings(d);
		if (d->ops->init) {
			ret = d->ops->init(d);
			if (ret)
				return ret;
		}
	}
	publish_devices(g);
	if (g->cfg->ready_delay_ms) {
		/* Test knob: the guest sees a window still being set up. */
		g->ready_at = pvbe_now_ms() + g->cfg->ready_delay_ms;
		return 0;
	}
	/* The guest may use the layout once it reads READY. */
	pvio_store_release(&h->backend_state, pvio_cpu_to_le32(PVIO_BS_READY));
	return 0;
}

uint64_t pvbe_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Publish READY now (end of a ready_delay_ms). */
void pvbe_window_ready(struct pvbe_guest *g)
{
	g->ready_at = 0;
	pvio_store_release(&g->hdr->backend_state, pvio_cpu_to_le32(PVIO_BS_READY));
	pvbe_info(g->tag, "window ready");
	pvbe_guest_notify(g, PVIO_CONFIG_VECTOR);
}

/*
 * A new worker after a crash: same layout (same configuration), bump the
 * generation and ask the guest to reset every device.  What the old worker
 * consumed but never completed is lost; the guest fails or resubmits it.
 */
int pvbe_window_takeover(struct pvbe_guest *g)
{
	struct pvio_window_hdr *h = g->hdr;
	uint32_t gen;
	int i, ret;

	if (pvio_le32_to_cpu(h->magic) != PVIO_MAGIC) {
		pvbe_warn(g->tag, "takeover: no window yet, laying out afresh");
		return pvbe_window_layout(g, 1);
	}
	gen = pvio_le32_to_cpu(h->generation) + 1;
	layout(g, true);
	for (i = 0; i < g->ndev; i++) {
		struct pvbe_dev *d = &g->dev[i];

		d->live = false;
		d->broken = false;
		d->desc->broken_reason = 0;
		/* Act on nothing until the guest resets the device. */
		d->seen_status = pvio_le32_to_cpu(pvio_read_once(d->desc->driver_status));
		/*
		 * A reset asked for while no worker ran is served by the
		 * guest's next poll: leave seen_reset at the last one echoed.
		 */
		d->seen_reset = pvio_le32_to_cpu(pvio_read_once(d->desc->reset_count));
		if (d->ops->init) {
			ret = d->ops->init(d);
			if (ret)
				return ret;
		}
		d->desc->host_features = pvio_cpu_to_le64(d->host_features);
		pvio_write_once(d->desc->device_state,
				pvio_cpu_to_le32(d->seen_status ?
						 PVIO_DEV_S_NEEDS_RESET : PVIO_DEV_S_LIVE));
		if (!d->seen_status)
			init_rings(d);
	}
	/* Device states above are visible before the new generation. */
	pvio_store_release(&h->generation, pvio_cpu_to_le32(gen));
	pvio_store_release(&h->backend_state, pvio_cpu_to_le32(PVIO_BS_READY));
	pvbe_info(g->tag, "took over window, generation %u", gen);
	pvbe_guest_notify(g, PVIO_CONFIG_VECTOR);
	return 0;
}

void pvbe_window_heartbeat(struct pvbe_guest *g)
{
	uint64_t hb;

	if (!g->hdr)
		return;
	hb = pvio_le64_to_cpu(g->hdr->heartbeat);
	pvio_write_once(g->hdr->heartbeat, pvio_cpu_to_le64(hb + 1));
}

void pvbe_window_stop(struct pvbe_guest *g)
{
	if (g->hdr)
		pvio_store_release(&g->hdr->backend_state,
				   pvio_cpu_to_le32(PVIO_BS_STOPPED));
}

void pvbe_guest_notify(struct pvbe_guest *g, unsigned int vector)
{
	uint64_t one = 1;

	if (g->conn_fd < 0 || vector >= g->nvectors)
		return;
	if (write(g->guest_efd[vector], &one, sizeof(one)) < 0 && errno != EAGAIN)
		pvbe_warn(g->tag, "interrupt vector %u: %s", vector, strerror(errno));
}

/*
 * A config area changes as a seqlock (protocol.md 6.3):
 * pvbe_guest_config_begin(), write the fields, pvbe_guest_config_changed().
 * An odd config_generation tells the guest a change is under way.
 */
void pvbe_guest_config_begin(struct pvbe_dev *d)
{
	uint32_t gen = pvio_le32_to_cpu(d->desc->config_generation);

	pvio_write_once(d->desc->config_generation, pvio_cpu_to_le32(gen | 1));
	/* The odd generation is visible before any field changes. */
	pvio_mb();
}

void pvbe_guest_config_changed(struct pvbe_dev *d)
{
	uint32_t gen = pvio_le32_to_cpu(d->desc->config_generation);

	/* Field stores are visible before the even generation (release). */
	pvio_store_release(&d->desc->config_generation,
			   pvio_cpu_to_le32((gen | 1) + 1));
	pvbe_guest_notify(d->g, PVIO_CONFIG_VECTOR);
}

static void set_state(struct pvbe_dev *d, uint32_t state)
{
	pvio_write_once(d->desc->device_state, pvio_cpu_to_le32(state));
}

static void dev_stop(struct pvbe_dev *d)
{
	unsigned int q;

	if (d->live && d->ops->stop)
		d->ops->stop(d);
	for (q = 0; q < d->nqueues; q++)
		pvbe_queue_stop(&d->q[q]);
	d->live = false;
}

void pvbe_dev_mark_broken(struct pvbe_dev *d, uint32_t reason,
			  const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (d->ops->defer_broken && d->ops->defer_broken(d, reason, msg))
		return;		/* off the worker thread: redone on it */
	if (d->broken)
		return;
	pvbe_err(d->tag, "device broken (reason %u): %s", reason, msg);
	d->broken = true;
	dev_stop(d);
	d->desc->broken_reason = pvio_cpu_to_le32(reason);
	set_state(d, PVIO_DEV_S_BROKEN);
	pvbe_guest_notify(d->g, PVIO_CONFIG_VECTOR);
}

static void dev_reset(struct pvbe_dev *d, uint32_t req)
{
	dev_stop(d);
	init_rings(d);
	d->broken = false;
	d->desc->broken_reason = 0;
	d->desc->guest_features = 0;
	d->desc->num_queues = 0;
	d->seen_reset = req;
	d->seen_status = 0;
	set_state(d, PVIO_DEV_S_LIVE);
	/* Last: the guest waits for this echo before it sets up again. */
	pvio_store_release(&d->desc->reset_count, pvio_cpu_to_le32(req));
	pvbe_info(d->tag, "reset by guest (request %u)", req);
}

static void dev_start(struct pvbe_dev *d)
{
	uint16_t nq = pvio_le16_to_cpu(pvio_read_once(d->desc->num_queues));
	unsigned int q;

	if (nq == 0 || nq > d->nqueues) {
		pvbe_dev_mark_broken(d, PVIO_BROKEN_QUEUE,
				     "guest enabled %u queues, device has %u",
				     nq, d->nqueues);
		return;
	}
	if (!d->g->mem_ready && pvbe_guest_map_ram(d->g)) {
		pvbe_dev_mark_broken(d, PVIO_BROKEN_BACKEND,
				     "guest RAM is not mapped");
		return;
	}
	for (q = 0; q < nq; q++) {
		if (!pvio_read_once(d->q[q].desc->enabled))
			continue;
		if (pvbe_queue_start(&d->q[q])) {
			pvbe_dev_mark_broken(d, PVIO_BROKEN_RING_INDEX,
					     "queue %u: ring indices impossible at start", q);
			return;
		}
	}
	d->live = true;
	if (d->ops->start)
		d->ops->start(d);
	pvbe_info(d->tag, "driver ready, %u queue(s), features %#" PRIx64, nq,
		  (uint64_t)pvio_le64_to_cpu(d->desc->guest_features));
	/* Requests may have been queued before DRIVER_OK: look now. */
	for (q = 0; q < nq; q++)
		if (d->q[q].running)
			pvbe_queue_kick(&d->q[q]);
}

static void dev_poll(struct pvbe_dev *d)
{
	uint32_t rr = pvio_le32_to_cpu(pvio_load_acquire(&d->desc->reset_request));
	uint32_t st, old;
	uint64_t gf;

	if (rr != d->seen_reset)
		dev_reset(d, rr);
	st = pvio_le32_to_cpu(pvio_read_once(d->desc->driver_status));
	old = d->seen_status;
	if (st == old)
		return;
	d->seen_status = st;
	if (st == 0) {
		dev_stop(d);
		return;
	}
	if (d->broken)
		return;			/* only a reset clears it */
	if (pvio_le32_to_cpu(d->desc->device_state) & PVIO_DEV_S_NEEDS_RESET)
		return;
	if (st & ~(uint32_t)(PVIO_DS_ACKNOWLEDGE | PVIO_DS_DRIVER |
			     PVIO_DS_FEATURES_OK | PVIO_DS_DRIVER_OK |
			     PVIO_DS_FAILED)) {
		pvbe_dev_mark_broken(d, PVIO_BROKEN_STATUS,
				     "unknown driver_status bits %#x", st);
		return;
	}
	if (st & PVIO_DS_FAILED) {
		dev_stop(d);
		pvbe_warn(d->tag, "guest driver reported failure");
		return;
	}
	if ((st & ~old) & PVIO_DS_FEATURES_OK) {
		gf = pvio_le64_to_cpu(pvio_read_once(d->desc->guest_features));
		if (gf & ~d->host_features) {
			pvbe_dev_mark_broken(d, PVIO_BROKEN_STATUS,
					     "guest features %#" PRIx64 " not offered (%#" PRIx64 ")",
					     gf, d->host_features);
			return;
		}
	}
	if ((st & PVIO_DS_DRIVER_OK) && !(st & PVIO_DS_FEATURES_OK)) {
		pvbe_dev_mark_broken(d, PVIO_BROKEN_STATUS,
				     "DRIVER_OK without FEATURES_OK");
		return;
	}
	if ((st & ~old) & PVIO_DS_DRIVER_OK) {
		if (!d->g->mem_ready && !d->g->cfg->ram_path[0]) {
			/*
			 * A userspace frontend's RAM offer travels on the socket
			 * and may be read after this doorbell: try again when it
			 * arrives (or on the next tick).
			 */
			d->seen_status = old;
			return;
		}
		dev_start(d);
	}
	else if ((old & PVIO_DS_DRIVER_OK) && !(st & PVIO_DS_DRIVER_OK))
		dev_stop(d);
}

/*
 * Before serving a queue: a reset or stop the guest asked for comes first,
 * even when its doorbell has not been read yet (a worker that was stalled
 * finds both at once).  Returns whether the queue may still run.
 */
bool pvbe_queue_may_run(struct pvbe_queue *q)
{
	struct pvbe_dev *d = q->dev;

	if (pvio_le32_to_cpu(pvio_read_once(d->desc->reset_request)) != d->seen_reset ||
	    pvio_le32_to_cpu(pvio_read_once(d->desc->driver_status)) != d->seen_status)
		dev_poll(d);
	return q->running;
}

/* Called on a configuration doorbell and on every heartbeat tick. */
void pvbe_guest_poll_status(struct pvbe_guest *g)
{
	int i;

	if (!g->hdr || g->conn_fd < 0 || g->ready_at)
		return;
	for (i = 0; i < g->ndev; i++)
		dev_poll(&g->dev[i]);
}
