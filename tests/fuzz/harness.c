// SPDX-License-Identifier: GPL-2.0
/*
 * harness.c - run pviod's worker code on a fuzz input (harness.h).
 *
 * An input is a sequence of operations, each a byte (its code) and the
 * bytes it needs; running out of input ends it.  The guest side writes
 * only where a guest may (the window's (G) fields, the rings' producer
 * side, guest RAM) -- or anywhere at all with WIN_WRITE, which is the
 * point.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/pviod.h"
#include "harness.h"

struct pvbe_daemon pvbe;

enum {
	OP_WIN_WRITE,	/* u16 offset, u8 length, bytes: anywhere in the window */
	OP_RAM_WRITE,	/* u32 offset, u8 length, bytes: guest RAM */
	OP_PREPARE,	/* the worker's loop step: device events, kicked queues */
	OP_RUN,		/* u8 device, u8 queue: a doorbell for it */
	OP_SETUP,	/* u8 device, u64 features, u8 queues: a driver's set-up */
	OP_CHAIN,	/* u8 device, u8 queue, u8 slots, per slot 12 bytes */
	OP_RESET,	/* u8 device: driver_status 0, reset_request + 1 */
	OP_REAP,	/* u8 device, u8 queue: the guest takes every completion */
	OP_TICK,	/* the heartbeat tick */
	OP_LOOP,	/* the event loop once: io_uring completions, timers */
	OP_CONFIG,	/* a doorbell on vector 0 */
	OP_STATUS,	/* u8 device, u32 value: driver_status */
	OP_EXTRA,	/* u8: the target's own (fuzz_extra) */
	OP_COUNT,
};

struct cursor {
	const uint8_t *p;
	size_t left;
};

static uint64_t take(struct cursor *c, unsigned int bytes)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < bytes && c->left; i++, c->left--)
		v |= (uint64_t)*c->p++ << (8 * i);
	return v;
}

/* Step over @bytes of input that were used in place. */
static void skip(struct cursor *c, size_t bytes)
{
	bytes = bytes < c->left ? bytes : c->left;
	c->p += bytes;
	c->left -= bytes;
}

static uint8_t *ram;
static struct pvbe_guest *guest;
void (*fuzz_extra)(struct pvbe_guest *g, uint8_t arg);

/* ---- the concurrent mutator ------------------------------------------------ */

static pthread_t mut_thread;
static volatile int mut_run;	/* flip bytes while set */
static volatile int mut_idle;	/* the thread is not flipping */
static unsigned int mut_seed = 1;

static void *mutator(void *arg)
{
	struct pvbe_guest *g = arg;
	uint8_t *w = g->win;

	for (;;) {
		if (!__atomic_load_n(&mut_run, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(&mut_idle, 1, __ATOMIC_RELEASE);
			usleep(100);
			continue;
		}
		__atomic_store_n(&mut_idle, 0, __ATOMIC_RELEASE);
		/* The device table and what follows: descriptors, configs, rings. */
		w[g->dev_table_off + rand_r(&mut_seed) % (g->win_size - g->dev_table_off)] =
			(uint8_t)rand_r(&mut_seed);
	}
	return NULL;
}

static void mutator_pause(void)
{
	__atomic_store_n(&mut_run, 0, __ATOMIC_RELEASE);
	while (mut_thread && !__atomic_load_n(&mut_idle, __ATOMIC_ACQUIRE))
		;
}

/* ---- building the guest --------------------------------------------------------- */

static void die(const char *what)
{
	fprintf(stderr, "fuzz harness: %s\n", what);
	abort();
}

struct pvbe_guest *fuzz_guest(const char *text)
{
	char path[] = "/tmp/pvio-fuzz-cfg-XXXXXX";
	struct pvbe_guest *g = NULL;
	struct pvbe_cfg cfg;
	unsigned int v;
	int fd, j;

	if (!getenv("FUZZ_VERBOSE"))
		pvbe_log_level = -1;	/* every log line off */
	fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		die("config file");
	close(fd);
	if (pvbe_config_load(&pvbe.cfg, path, false))
		die(pvbe_config_error());
	unlink(path);
	cfg = pvbe.cfg;
	pvbe.cfg.nguests = 0;
	if (cfg.nguests != 1 || pvbe_guest_new(cfg.guest[0], &g))
		die("guest");
	pvbe.guests[0] = g;
	if (pvbe_loop_init())
		die("loop");
	/* The supervisor's half: host resources. */
	for (j = 0; j < g->ndev; j++) {
		if (g->dev[j].ops->setup && g->dev[j].ops->setup(&g->dev[j]))
			die("setup");
		g->dev[j].set_up = true;
	}
	/* The client's stand-ins: eventfds; no socket. */
	for (v = 0; v < g->nvectors; v++) {
		g->be_efd[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		g->guest_efd[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	}
	/* The worker's half. */
	pvbe.self = g;
	for (j = 0; j < g->ndev; j++)
		if (g->dev[j].ops->prepare && g->dev[j].ops->prepare(&g->dev[j]))
			die("prepare");
	/* Window and RAM on the heap, where ASan sees past their ends. */
	g->win = aligned_alloc(4096, g->win_size);
	g->hdr = g->win;
	ram = aligned_alloc(4096, FUZZ_RAM);
	if (!g->win || !ram)
		die("memory");
	memset(ram, 0, FUZZ_RAM);
	memset(&g->mem, 0, sizeof(g->mem));
	g->mem.nregions = 1;
	g->mem.r[0].size = FUZZ_RAM;
	g->mem.base = ram;
	g->mem.file_size = FUZZ_RAM;
	/* The balloon punches holes here (not in the heap copy). */
	g->mem.fd = memfd_create("fuzz-ram", MFD_CLOEXEC);
	if (g->mem.fd < 0 || ftruncate(g->mem.fd, FUZZ_RAM))
		die("ram memfd");
	g->mem_ready = true;
	g->connected = true;
	g->generation = 2;
	if (pvbe_window_layout(g))
		die("layout");
	guest = g;
	if (getenv("FUZZ_MUTATOR") && pthread_create(&mut_thread, NULL, mutator, g))
		die("mutator");
	return g;
}

/* ---- the guest's side of the protocol ------------------------------------------- */

static struct pvbe_dev *dev_of(struct pvbe_guest *g, struct cursor *c)
{
	return &g->dev[take(c, 1) % (unsigned int)g->ndev];
}

static void set_status(struct pvbe_dev *d, uint32_t st)
{
	pvio_store_release(&d->desc->driver_status, pvio_cpu_to_le32(st));
	pvbe_guest_event(d->g);
	pvbe_worker_prepare();
}

/* What a driver does: ACK, DRIVER, features, FEATURES_OK, queues, DRIVER_OK. */
static void setup(struct pvbe_dev *d, uint64_t features, unsigned int nq)
{
	unsigned int q;

	set_status(d, PVIO_DS_ACKNOWLEDGE | PVIO_DS_DRIVER);
	pvio_write_once(d->desc->guest_features, pvio_cpu_to_le64(features));
	set_status(d, PVIO_DS_ACKNOWLEDGE | PVIO_DS_DRIVER | PVIO_DS_FEATURES_OK);
	for (q = 0; q < d->nqueues; q++)
		pvio_write_once(d->q[q].desc->enabled, pvio_cpu_to_le32(q < nq));
	pvio_write_once(d->desc->num_queues, pvio_cpu_to_le16(nq));
	set_status(d, PVIO_DS_ACKNOWLEDGE | PVIO_DS_DRIVER | PVIO_DS_FEATURES_OK |
		   PVIO_DS_DRIVER_OK);
}

/* Post a chain into the SQ as a frontend would, if there is room. */
static void chain(struct pvbe_queue *q, struct cursor *c)
{
	struct pvio_ring_shared *sh = q->sq_mem;
	unsigned int n = 1 + take(c, 1) % PVIO_MAX_CHAIN, i;
	uint32_t prod = pvio_le32_to_cpu(sh->prod), cons = pvio_le32_to_cpu(sh->cons);
	uint16_t id = (uint16_t)take(c, 2);
	uint8_t *slots = (uint8_t *)q->sq_mem + PVIO_RING_HDR_SIZE;

	if (prod - cons > q->sq_size || q->sq_size - (prod - cons) < n)
		return;
	for (i = 0; i < n; i++) {
		struct pvio_desc d;
		uint8_t mode = (uint8_t)take(c, 1);

		/* Mostly sensible: inside RAM, an id shared by the chain. */
		if (mode & 0x80) {
			memcpy(&d, c->p, c->left < sizeof(d) ? c->left : sizeof(d));
			skip(c, sizeof(d));
		} else {
			uint64_t addr = take(c, 3) % FUZZ_RAM;
			uint32_t len = 1 + (uint32_t)take(c, 2);
			uint16_t fl = (mode & 0x07) & ~PVIO_DESC_F_NEXT;

			if (i + 1 < n)
				fl |= PVIO_DESC_F_NEXT;
			if (fl & PVIO_DESC_F_HDR) {
				/* An inline class header: 12 bytes of the input. */
				memset(&d, 0, sizeof(d));
				memcpy(&d, c->p, c->left < 12 ? c->left : 12);
				skip(c, 12);
			} else {
				d.addr = pvio_cpu_to_le64(addr);
				d.len = pvio_cpu_to_le32(len);
			}
			d.id = pvio_cpu_to_le16(mode & 0x40 ? (uint16_t)(id + i) : id);
			d.flags = pvio_cpu_to_le16(fl);
		}
		memcpy(slots + ((prod + i) & (q->sq_size - 1)) * sizeof(d), &d, sizeof(d));
	}
	pvio_store_release(&sh->prod, pvio_cpu_to_le32(prod + n));
}

/* The guest takes every completion there is. */
static void reap(struct pvbe_queue *q)
{
	struct pvio_ring_shared *sh = q->cq_mem;

	pvio_store_release(&sh->cons, pvio_load_acquire(&sh->prod));
}

static bool stopping(struct pvbe_guest *g)
{
	int j;

	for (j = 0; j < g->ndev; j++)
		if (g->dev[j].stopping)
			return true;
	return false;
}

void fuzz_run(struct pvbe_guest *g, const uint8_t *data, size_t size)
{
	struct cursor c = { data, size };
	struct pvbe_dev *d;
	uint64_t off, len;
	unsigned int ops, q;

	__atomic_store_n(&mut_run, 1, __ATOMIC_RELEASE);
	for (ops = 0; c.left && ops < 512; ops++) {
		switch (take(&c, 1) % OP_COUNT) {
		case OP_WIN_WRITE:
			off = take(&c, 2) % g->win_size;
			len = take(&c, 1) % 17;
			len = len > g->win_size - off ? g->win_size - off : len;
			len = len > c.left ? c.left : len;
			memcpy((uint8_t *)g->win + off, c.p, len);
			skip(&c, len);
			break;
		case OP_RAM_WRITE:
			off = take(&c, 4) % FUZZ_RAM;
			len = take(&c, 1) % 65;
			len = len > FUZZ_RAM - off ? FUZZ_RAM - off : len;
			len = len > c.left ? c.left : len;
			memcpy(ram + off, c.p, len);
			skip(&c, len);
			break;
		case OP_PREPARE:
			pvbe_worker_prepare();
			break;
		case OP_RUN:
			d = dev_of(g, &c);
			q = (unsigned int)take(&c, 1) % d->nqueues;
			pvbe_queue_run(&d->q[q]);
			break;
		case OP_SETUP:
			d = dev_of(g, &c);
			off = take(&c, 8);
			/* Half the time only what is offered, so devices start. */
			if (!(off & 1ull << 63))
				off &= d->host_features;
			setup(d, off, 1 + (unsigned int)take(&c, 1) % d->nqueues);
			break;
		case OP_CHAIN:
			d = dev_of(g, &c);
			q = (unsigned int)take(&c, 1) % d->nqueues;
			chain(&d->q[q], &c);
			break;
		case OP_RESET:
			d = dev_of(g, &c);
			pvio_write_once(d->desc->driver_status, 0);
			pvio_store_release(&d->desc->reset_request,
					   pvio_cpu_to_le32(pvio_le32_to_cpu(d->desc->reset_request) + 1));
			pvbe_guest_event(g);
			break;
		case OP_REAP:
			d = dev_of(g, &c);
			reap(&d->q[take(&c, 1) % d->nqueues]);
			break;
		case OP_TICK:
			pvbe_worker_tick(g);
			break;
		case OP_LOOP:
			pvbe_loop_once(0);
			break;
		case OP_CONFIG:
			pvbe_guest_event(g);
			break;
		case OP_STATUS:
			d = dev_of(g, &c);
			set_status(d, (uint32_t)take(&c, 4));
			break;
		case OP_EXTRA:
			off = take(&c, 1);
			if (fuzz_extra)
				fuzz_extra(g, (uint8_t)off);
			break;
		}
	}
	mutator_pause();
	/* Done: stop every device, let host I/O in flight finish, lay out again. */
	pvbe_guest_stop_all(g);
	for (ops = 0; stopping(g) && ops < 2000; ops++) {
		pvbe_loop_once(5);
		pvbe_worker_prepare();
	}
	if (stopping(g))
		die("a device never finished stopping");
	pvbe_worker_tick(g);
	if (pvbe_window_layout(g))
		die("layout");
}
