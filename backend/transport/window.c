// SPDX-License-Identifier: GPL-2.0
/*
 * window.c - the shared window of one guest: layout, liveness, and
 * configuration changes.
 *
 * The layout is a pure function of the configuration: the supervisor
 * computes it to size the window, and every worker computes the same
 * offsets into private fields and only writes them out.  Nothing the
 * backend owns is ever read back from the window: the guest can rewrite
 * any byte of it at any time (protocol.md 10.1).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "transport/guest.h"
#include "transport/hostile.h"

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

/* Every offset and vector, into private fields only.  Returns bytes used. */
static uint64_t compute_layout(struct pvbe_guest *g)
{
	uint64_t off = ALIGN_UP(sizeof(struct pvio_window_hdr), 64);
	unsigned int vec = PVIO_CONFIG_VECTOR + 1, q;
	int i;

	g->dev_table_off = off;
	off += (uint64_t)g->ndev * sizeof(struct pvio_dev_desc);
	for (i = 0; i < g->ndev; i++) {
		struct pvbe_dev *d = &g->dev[i];

		off = ALIGN_UP(off, 64);
		d->config_off = off;
		off += d->config_len;
		off = ALIGN_UP(off, 64);
		d->queue_off = off;
		off += (uint64_t)d->nqueues * sizeof(struct pvio_queue_desc);
		for (q = 0; q < d->nqueues; q++) {
			struct pvbe_queue *pq = &d->q[q];

			off = ALIGN_UP(off, PVIO_RING_LINE);
			pq->sq_off = off;
			off += pvio_ring_bytes(pq->sq_size, d->ops->sq_esize);
			off = ALIGN_UP(off, PVIO_RING_LINE);
			pq->cq_off = off;
			off += pvio_ring_bytes(pq->cq_size, d->ops->cq_esize);
			pq->vector = vec++;
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

/* Supervisor: compute the layout and the window's size (a power of two). */
uint64_t pvbe_window_size(struct pvbe_guest *g)
{
	g->win_size = pow2_at_least(compute_layout(g));
	return g->win_size;
}

/*
 * The header fields the backend owns, from private values.  @state is the
 * backend_state to publish; READY goes out last, with release ordering,
 * by the callers.
 */
static void header_fill(struct pvio_window_hdr *h, uint64_t win_size,
			uint32_t generation, unsigned int nvectors,
			unsigned int ndev, uint64_t dev_table_off,
			unsigned int hb_ms, uint16_t backend_peer)
{
	pvio_write_once(h->magic, pvio_cpu_to_le32(PVIO_MAGIC));
	pvio_write_once(h->abi_version, pvio_cpu_to_le32(PVIO_ABI_VERSION));
	pvio_write_once(h->window_size, pvio_cpu_to_le64(win_size));
	pvio_write_once(h->host_features,
			pvio_cpu_to_le64((1ull << PVIO_F_EVENT_IDX) |
					 (1ull << PVIO_F_HEARTBEAT) |
					 (1ull << PVIO_F_DIRTY_LOG)));
	/* Every layout and takeover: no dirty logging (migrate.c asks). */
	pvio_write_once(h->log_request, 0);
	pvio_write_once(h->generation, pvio_cpu_to_le32(generation));
	pvio_write_once(h->heartbeat_ms, pvio_cpu_to_le32(hb_ms));
	pvio_write_once(h->num_devices, pvio_cpu_to_le16(ndev));
	pvio_write_once(h->backend_peer, pvio_cpu_to_le16(backend_peer));
	pvio_write_once(h->dev_table_off, pvio_cpu_to_le32((uint32_t)dev_table_off));
	pvio_write_once(h->num_vectors, pvio_cpu_to_le32(nvectors));
}

/*
 * Supervisor, for a new client before the handshake: the header of a
 * fresh window, state INIT, so the guest finds a pvio window and waits for
 * READY while the worker lays the rest out.
 */
int pvbe_window_stub(int fd, uint64_t size, uint32_t generation)
{
	struct pvio_window_hdr h;

	memset(&h, 0, sizeof(h));
	header_fill(&h, size, generation, 0, 0, 0, 0, PVBE_BACKEND_PEER);
	h.backend_state = pvio_cpu_to_le32(PVIO_BS_INIT);
	if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return -errno ? -errno : -EIO;
	return 0;
}

/* Write the tables from the private offsets. */
static void write_layout(struct pvbe_guest *g)
{
	unsigned int q;
	int i;

	for (i = 0; i < g->ndev; i++) {
		struct pvbe_dev *d = &g->dev[i];
		struct pvio_dev_desc *dd;

		dd = (struct pvio_dev_desc *)((char *)g->win + g->dev_table_off) + i;
		d->desc = dd;
		d->config = d->config_len ? (char *)g->win + d->config_off : NULL;
		pvio_write_once(dd->type, pvio_cpu_to_le16(d->ops->type));
		pvio_write_once(dd->instance, pvio_cpu_to_le16(instance_of(g, i)));
		pvio_write_once(dd->max_queues, pvio_cpu_to_le16(d->nqueues));
		pvio_write_once(dd->config_off, pvio_cpu_to_le32((uint32_t)d->config_off));
		pvio_write_once(dd->config_len, pvio_cpu_to_le32(d->config_len));
		pvio_write_once(dd->queue_off, pvio_cpu_to_le32((uint32_t)d->queue_off));
		for (q = 0; q < d->nqueues; q++) {
			struct pvbe_queue *pq = &d->q[q];
			struct pvio_queue_desc *qd;

			qd = (struct pvio_queue_desc *)((char *)g->win + d->queue_off) + q;
			pq->desc = qd;
			pq->sq_mem = (char *)g->win + pq->sq_off;
			pq->cq_mem = (char *)g->win + pq->cq_off;
			pvio_write_once(qd->sq_off, pvio_cpu_to_le32((uint32_t)pq->sq_off));
			pvio_write_once(qd->cq_off, pvio_cpu_to_le32((uint32_t)pq->cq_off));
			pvio_write_once(qd->sq_size, pvio_cpu_to_le32(pq->sq_size));
			pvio_write_once(qd->cq_size, pvio_cpu_to_le32(pq->cq_size));
			pvio_write_once(qd->sq_esize, pvio_cpu_to_le16(d->ops->sq_esize));
			pvio_write_once(qd->cq_esize, pvio_cpu_to_le16(d->ops->cq_esize));
			pvio_write_once(qd->vector, pvio_cpu_to_le16(pq->vector));
			g->vec_queue[pq->vector] = pq;
		}
	}
}

int pvbe_window_map(struct pvbe_guest *g)
{
	void *p = mmap(NULL, g->win_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       g->shm_fd, 0);

	if (p == MAP_FAILED) {
		pvbe_err(g->tag, "map window: %s", strerror(errno));
		return -errno;
	}
	g->win = p;
	g->hdr = p;
	return 0;
}

void pvbe_window_unmap(struct pvbe_guest *g)
{
	int i;

	if (g->win)
		munmap(g->win, g->win_size);
	g->win = NULL;
	g->hdr = NULL;
	for (i = 0; i < g->ndev; i++) {
		struct pvbe_dev *d = &g->dev[i];
		unsigned int q;

		d->desc = NULL;
		d->config = NULL;
		for (q = 0; q < d->nqueues; q++) {
			d->q[q].desc = NULL;
			d->q[q].sq_mem = NULL;
			d->q[q].cq_mem = NULL;
		}
	}
}

/* Publish READY now, or after the ready_delay_ms test knob. */
static void publish_ready(struct pvbe_guest *g)
{
	if (g->cfg->ready_delay_ms) {
		/* Test knob: the guest sees a window still being set up. */
		g->ready_at = pvbe_now_ms() + g->cfg->ready_delay_ms;
		return;
	}
	/* Everything above is visible before READY (the guest's acquire). */
	pvio_store_release(&g->hdr->backend_state, pvio_cpu_to_le32(PVIO_BS_READY));
	pvbe_guest_notify(g, PVIO_CONFIG_VECTOR);
}

/*
 * A window that came with a live migration (protocol 6.4): the slots pviod
 * wrote at the source may have arrived older than the indices beside them
 * (QEMU sends again only what the guest wrote).  Nothing published and not
 * yet reaped may be read: each completion ring's prod becomes the guest's
 * cons, and the guest resubmits those requests after its reset.
 */
static void drop_migrated_completions(struct pvbe_dev *d)
{
	unsigned int q;

	for (q = 0; q < d->nqueues; q++) {
		struct pvio_ring_shared *sh = d->q[q].cq_mem;

		pvio_write_once(sh->prod, pvio_read_once(sh->cons));
	}
}

/* Both layouts: header, tables, and each device's state and config area. */
static int lay_out(struct pvbe_guest *g, bool takeover)
{
	struct pvio_window_hdr *h = g->hdr;
	uint32_t st;
	int i, ret;

	compute_layout(g);
	header_fill(h, g->win_size, g->generation, g->nvectors, g->ndev,
		    g->dev_table_off, g->hb_ms, g->backend_peer);
	pvio_write_once(h->heartbeat, pvio_cpu_to_le64(g->heartbeat));
	write_layout(g);
	for (i = 0; i < g->ndev; i++) {
		struct pvbe_dev *d = &g->dev[i];

		/* The guest's status, read once: what a takeover acts on. */
		st = takeover ? pvio_le32_to_cpu(pvio_read_once(d->desc->driver_status)) : 0;
		if (st && g->migrated)
			drop_migrated_completions(d);
		if (!takeover) {
			/* A new client; the class's own part (a balloon
			 * target, a link state) is the host's and stays. */
			d->persist->reset_served = 0;
			d->persist->config_gen = 0;
		}
		pvbe_dev_init_state(d, st);
		if (d->ops->init) {
			ret = d->ops->init(d);
			if (ret)
				return ret;
		}
		pvbe_hostile_init(d);
		pvio_write_once(d->desc->host_features, pvio_cpu_to_le64(d->host_features));
		pvio_write_once(d->desc->config_generation,
				pvio_cpu_to_le32(d->persist->config_gen));
	}
	return 0;
}

/* A new client: a fresh window (the memfd is new and zero but for the stub). */
int pvbe_window_layout(struct pvbe_guest *g)
{
	int ret;

	memset(g->win, 0, g->win_size);
	g->heartbeat = 0;
	ret = lay_out(g, false);
	if (ret)
		return ret;
	g->persist->heartbeat = 0;
	publish_ready(g);
	return 0;
}

/*
 * A new worker after a crash: the same layout (same configuration), the
 * generation the supervisor chose, and every device the guest was using
 * marked NEEDS_RESET.  What the old worker consumed but never completed
 * is lost; the guest fails or resubmits it.
 */
int pvbe_window_takeover(struct pvbe_guest *g)
{
	int ret;

	g->heartbeat = g->persist->heartbeat + 1;
	ret = lay_out(g, true);
	if (ret)
		return ret;
	publish_ready(g);
	pvbe_info(g->tag, "took over window, generation %u", g->generation);
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

void pvbe_window_heartbeat(struct pvbe_guest *g)
{
	if (!g->hdr)
		return;
	g->heartbeat++;
	g->persist->heartbeat = g->heartbeat;
	pvio_write_once(g->hdr->heartbeat, pvio_cpu_to_le64(g->heartbeat));
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

	if (!g->connected || vector >= g->nvectors)
		return;
	if (write(g->guest_efd[vector], &one, sizeof(one)) < 0 && errno != EAGAIN)
		pvbe_warn(g->tag, "interrupt vector %u: %s", vector, strerror(errno));
}

/*
 * A config area changes as a seqlock (protocol.md 6.3):
 * pvbe_guest_config_begin(), write the fields, pvbe_guest_config_changed().
 * An odd config_generation tells the guest a change is under way.  The
 * count is ours (persisted across workers), never the window's.
 */
void pvbe_guest_config_begin(struct pvbe_dev *d)
{
	d->persist->config_gen |= 1;
	if (!d->desc)
		return;		/* no window: the next layout writes the count */
	pvio_write_once(d->desc->config_generation,
			pvio_cpu_to_le32(d->persist->config_gen));
	/* The odd generation is visible before any field changes. */
	pvio_mb();
}

void pvbe_guest_config_changed(struct pvbe_dev *d)
{
	d->persist->config_gen = (d->persist->config_gen | 1) + 1;
	if (!d->desc)
		return;
	/* Field stores are visible before the even generation (release). */
	pvio_store_release(&d->desc->config_generation,
			   pvio_cpu_to_le32(d->persist->config_gen));
	pvbe_guest_notify(d->g, PVIO_CONFIG_VECTOR);
}
