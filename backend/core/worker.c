// SPDX-License-Identifier: GPL-2.0
/*
 * worker.c - one guest's I/O process: its window, its guest RAM, its
 * doorbells and interrupts, its devices' queues and host I/O, its
 * heartbeat, its control requests.  Forked by the supervisor, sandboxed
 * before it reads a byte the guest wrote (sandbox.c).  Its main thread
 * runs one event loop for all of that; with `threads = N` the queues are
 * shared out with N-1 queue threads, each with a loop of its own
 * (threads.h says who owns what).  A class may add a thread of its own
 * (net = dpdk).
 *
 * The loop: fds (doorbells, the class's host fds, the heartbeat timer,
 * the supervisor) mark work; before every wait, worker_prepare() does it
 * in a fixed order -- device events first (resets, status changes,
 * BROKEN: device.c), then the queues that asked to run -- so a state
 * change is never made from inside a data path, and a reset the guest
 * asked for is acted on before its queues are served again.
 *
 * What the worker keeps across its own death is in the supervisor (the
 * fds) and in the guest's persist page (guest.h); the next worker takes
 * the window over from those, never from what the guest wrote.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/msg.h"
#include "core/pviod.h"
#include "core/sandbox.h"
#include "core/threads.h"
#include "transport/hostile.h"
#include "transport/ivshmem.h"

/* Busy-poll rounds between two looks at the fds. */
#define PVBE_POLL_ROUNDS	64

static struct pvbe_msg *rx;
static bool exiting;
static bool polling;
/* A new client while the last one's devices were still stopping. */
static int pending_fds[PVBE_MSG_MAX_FDS];
static unsigned int pending_nfds;
static struct pvbe_msg pending_conn;
static struct pvbe_ratelimit mute_rl;

static void drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

/* ---- guest RAM -------------------------------------------------------------- */

/* Map @fd (taken) as guest RAM: an offered memfd of @size, or the configured file. */
static int map_ram(struct pvbe_guest *g, int fd, uint64_t size)
{
	struct pvbe_guest_cfg *c = g->cfg;
	int ret;

	if (size) {
		memset(&g->mem, 0, sizeof(g->mem));
		g->mem.fd = -1;
		g->mem.nregions = 1;
		g->mem.r[0].size = size;
		ret = 0;
	} else if (c->ram_layout[0]) {
		ret = pvbe_memtable_parse(&g->mem, c->ram_layout);
	} else {
		ret = pvbe_memtable_layout(&g->mem, c->machine, c->ram_size);
	}
	if (ret) {
		pvbe_err(g->tag, "bad guest RAM layout (ram_size must be a multiple of 2 MiB)");
		close(fd);
		return ret;
	}
	ret = pvbe_memtable_map(&g->mem, fd, g->tag);
	if (ret)
		return ret;
	g->mem_ready = true;
	if (size)
		pvbe_info(g->tag, "frontend RAM mapped, %" PRIu64 " bytes", size);
	else
		pvbe_info(g->tag, "guest RAM %s mapped, %d region(s)", c->ram_path,
			  g->mem.nregions);
	return 0;
}

static void unmap_ram(struct pvbe_guest *g)
{
	pvbe_memtable_unmap(&g->mem);
	g->mem_ready = false;
	g->ram_asked = false;
}

/* Devices waiting at DRIVER_OK for guest RAM: it is there (0) or it is not. */
void pvbe_guest_ram_result(struct pvbe_guest *g, int err)
{
	int i;

	for (i = 0; i < g->ndev; i++) {
		struct pvbe_dev *d = &g->dev[i];

		if (!d->wait_ram)
			continue;
		d->wait_ram = false;
		if (err)
			pvbe_dev_mark_broken(d, PVIO_BROKEN_BACKEND,
					     "guest RAM is not mapped: %s", strerror(-err));
		else
			pvbe_dev_event(d);
	}
}

/* A device waits for the configured RAM file: ask the supervisor (once a second). */
static void ask_ram(struct pvbe_guest *g)
{
	uint64_t now = pvbe_now_ms();
	bool waiting = false;
	int i;

	for (i = 0; i < g->ndev; i++)
		waiting |= g->dev[i].wait_ram;
	if (!waiting || g->mem_ready || !g->cfg->ram_path[0] ||
	    (g->ram_asked && now - g->ram_asked_at < 1000))
		return;
	g->ram_asked = true;
	g->ram_asked_at = now;
	if (pvbe_msg_send(pvbe.sup_fd, PVBE_MSG_RAM_OPEN, 0, 0, 0, NULL, 0, NULL, 0))
		pvbe_warn(g->tag, "ask for guest RAM: %s", strerror(errno));
}

static void on_ram(struct pvbe_guest *g, const struct pvbe_msg *m, int *fds,
		   unsigned int nfds)
{
	int ret;

	g->ram_asked = false;
	if (!g->connected || g->leaving || g->mem_ready) {
		if (nfds)
			close(fds[0]);
		return;
	}
	if (m->a || nfds != 1) {
		ret = m->a ? -(int)m->a : -EPROTO;
		pvbe_err(g->tag, "guest RAM file %s: %s (is QEMU using memory-backend-file with mem-path=%s,share=on?)",
			 g->cfg->ram_path, strerror(-ret), g->cfg->ram_path);
		pvbe_guest_ram_result(g, ret);
		return;
	}
	ret = map_ram(g, fds[0], 0);
	pvbe_guest_ram_result(g, ret);
}

/* ---- the client ---------------------------------------------------------------- */

static void on_config_doorbell(int fd, uint32_t events, void *arg)
{
	struct pvbe_guest *g = arg;

	(void)events;
	drain(fd);
	pvbe_guest_event(g);
	/* A driver rings it a few times per set-up; a flood waits for the tick. */
	if (++g->cfg_kicks < PVBE_IDLE_KICKS_PER_TICK || g->cfg_muted)
		return;
	pvbe_loop_del(fd);
	g->cfg_muted = true;
	if (pvbe_ratelimit(&mute_rl, g->tag))
		pvbe_warn(g->tag, "%u configuration doorbells in one heartbeat: muted until the next",
			  g->cfg_kicks);
}

static void on_doorbell(int fd, uint32_t events, void *arg)
{
	struct pvbe_queue *q = arg;
	uint64_t before = q->st.popped;

	(void)events;
	drain(fd);
	q->st.kicks++;
	pvbe_queue_run(q);
	if (q->st.popped != before || q->kick)
		return;
	/*
	 * A doorbell that found nothing to do.  A guest that rings without
	 * cause faster than this spends our time for nothing: its doorbell
	 * leaves the loop until the next heartbeat tick, which scans the
	 * queue anyway.
	 */
	if (++q->idle_kicks < PVBE_IDLE_KICKS_PER_TICK || q->muted)
		return;
	pvbe_loop_del(fd);
	q->muted = true;
	q->st.muted++;
	if (pvbe_ratelimit(&mute_rl, q->dev->tag))
		pvbe_warn(q->dev->tag, "queue %u: %u doorbells without work in one heartbeat: muted until the next",
			  q->index, q->idle_kicks);
}

static void watch_doorbells(struct pvbe_guest *g, bool on)
{
	unsigned int v;

	for (v = 0; v < g->nvectors; v++) {
		struct pvbe_queue *q = g->vec_queue[v];

		if (!on) {
			if (q) {
				pvbe_loop_del_from(pvbe_queue_loop(q), g->be_efd[v]);
				q->muted = false;
			} else {
				pvbe_loop_del(g->be_efd[v]);
				g->cfg_muted = false;
			}
			continue;
		}
		if (v == PVIO_CONFIG_VECTOR)
			pvbe_loop_add(g->be_efd[v], EPOLLIN, on_config_doorbell, g);
		else if (q)
			pvbe_loop_add_to(pvbe_queue_loop(q), g->be_efd[v], EPOLLIN,
					 on_doorbell, q);
	}
}

static void begin_leave(struct pvbe_guest *g, const char *why);

/*
 * The client broke the protocol: we leave it, and the supervisor closes
 * its connection (it holds a copy: closing ours alone would leave QEMU
 * connected to nobody, and the guest without its devices until it
 * reconnected).
 */
static void drop_client(struct pvbe_guest *g, const char *why)
{
	if (pvbe_msg_send(pvbe.sup_fd, PVBE_MSG_DROP, g->client_id, 0, 0, why,
			  strlen(why) + 1, NULL, 0))
		pvbe_warn(g->tag, "ask the supervisor to drop peer %u: %s", g->client_id,
			  strerror(errno));
	begin_leave(g, why);
}

static void conn_msg(int fd, uint32_t events, struct pvbe_guest *g);

/* The one message a client may send: a frontend's RAM offer (protocol 2.3). */
static void on_conn(int fd, uint32_t events, void *arg)
{
	pvbe_threads_hold();
	conn_msg(fd, events, arg);
	pvbe_threads_release();
}

static void conn_msg(int fd, uint32_t events, struct pvbe_guest *g)
{
	uint64_t size = 0;
	int rfd, ret;

	(void)fd;
	if (events & (EPOLLHUP | EPOLLERR) && !(events & EPOLLIN)) {
		begin_leave(g, "hang-up");
		return;
	}
	ret = pvbe_ivshmem_read_ext(g->conn_fd, &rfd, &size);
	if (ret == -EAGAIN)
		return;
	if (ret == 0) {
		begin_leave(g, "closed");
		return;
	}
	if (ret < 0) {
		pvbe_err(g->tag, "malformed message from peer %u: dropping it", g->client_id);
		drop_client(g, "protocol error");
		return;
	}
	if (g->mem_ready || g->cfg->ram_path[0] || !size || size > (1ull << 40)) {
		pvbe_err(g->tag, "client offered %" PRIu64 " bytes of RAM%s: refused", size,
			 g->mem_ready ? " again" : g->cfg->ram_path[0] ?
			 " but the configuration names a RAM file" : "");
		close(rfd);
		drop_client(g, "bad RAM offer");
		return;
	}
	/*
	 * Nobody may shrink it under us now (a memfd made with sealing
	 * allowed; anything else can still be truncated, which kills this
	 * worker only, with SIGBUS).
	 */
	if (fcntl(rfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		pvbe_info(g->tag, "frontend RAM cannot be sealed against shrinking (%s)",
			  strerror(errno));
	/* The supervisor keeps a copy for the next worker. */
	pvbe_msg_send(pvbe.sup_fd, PVBE_MSG_RAM_OFFER, size, g->client_id, 0, NULL, 0, &rfd, 1);
	ret = map_ram(g, rfd, size);
	if (ret) {
		drop_client(g, "bad RAM offer");
		return;
	}
	pvbe_guest_ram_result(g, 0);	/* a start may have waited for RAM */
}

/* The worker's copies of the client's fds (the supervisor keeps its own). */
void pvbe_worker_close_conn_fds(struct pvbe_guest *g)
{
	unsigned int v;

	if (g->conn_fd >= 0)
		close(g->conn_fd);
	if (g->shm_fd >= 0)
		close(g->shm_fd);
	if (g->ram_fd >= 0)
		close(g->ram_fd);
	for (v = 0; v < PVIO_MAX_VECTORS; v++) {
		if (g->be_efd[v] >= 0)
			close(g->be_efd[v]);
		if (g->guest_efd[v] >= 0)
			close(g->guest_efd[v]);
		g->be_efd[v] = g->guest_efd[v] = -1;
	}
	g->conn_fd = g->shm_fd = g->ram_fd = -1;
}

/* Serve the client whose fds are in @g: a fresh layout, or a takeover. */
static int adopt(struct pvbe_guest *g, bool takeover)
{
	int ret, rfd;

	ret = pvbe_window_map(g);
	if (ret)
		return ret;
	if (g->ram_fd >= 0) {
		/* The configured file, or (after a restart) the frontend's memfd. */
		rfd = g->ram_fd;
		g->ram_fd = -1;
		if (map_ram(g, rfd, g->ram_size))
			pvbe_warn(g->tag, "guest RAM not mapped");
	}
	g->connected = true;
	g->leaving = false;
	/* Dirty logging is per client: a new one starts without (6.4). */
	pvio_write_once(g->log_request, 0);
	g->log_seq = g->generation << 8;
	ret = takeover ? pvbe_window_takeover(g) : pvbe_window_layout(g);
	g->migrated = false;
	if (ret)
		return ret;
	watch_doorbells(g, true);
	ret = pvbe_loop_add(g->conn_fd, EPOLLIN | EPOLLRDHUP, on_conn, g);
	if (ret)
		return ret;
	if (!takeover)
		pvbe_info(g->tag, "serving peer %u, generation %u", g->client_id, g->generation);
	return 0;
}

static void on_new_client(struct pvbe_guest *g, const struct pvbe_msg *m, int *fds,
			  unsigned int nfds)
{
	unsigned int nvec = m->a & 0xffff, v, i = 0;
	bool ram = m->b & PVBE_CONN_RAM;

	if (nvec != g->nvectors || nfds != 2 + 2 * nvec + ram) {
		pvbe_err(g->tag, "supervisor sent a client with %u vectors and %u fds: dropped",
			 nvec, nfds);
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		return;
	}
	g->conn_fd = fds[i++];
	g->shm_fd = fds[i++];
	for (v = 0; v < nvec; v++)
		g->be_efd[v] = fds[i++];
	for (v = 0; v < nvec; v++)
		g->guest_efd[v] = fds[i++];
	g->ram_fd = ram ? fds[i++] : -1;
	g->ram_size = 0;
	g->client_id = (uint16_t)(m->a >> 16);
	g->generation = (uint32_t)m->c;
	g->backend_peer = PVBE_BACKEND_PEER;	/* we handshook it */
	g->migrated = m->b & PVBE_CONN_TAKEOVER;
	if (adopt(g, g->migrated)) {
		pvbe_err(g->tag, "cannot serve peer %u", g->client_id);
		if (g->connected) {
			drop_client(g, "setup failed");
		} else {
			/* Not ours yet: nothing to stop, only fds to close. */
			pvbe_msg_send(pvbe.sup_fd, PVBE_MSG_DROP, g->client_id, 0, 0,
				      "setup failed", sizeof("setup failed"), NULL, 0);
			pvbe_worker_close_conn_fds(g);
		}
	}
}

/* The client's devices have stopped: let go of everything of it. */
static void finish_leave(struct pvbe_guest *g)
{
	pvbe_window_stop(g);
	watch_doorbells(g, false);
	if (g->conn_fd >= 0)
		pvbe_loop_del(g->conn_fd);
	pvbe_window_unmap(g);
	unmap_ram(g);
	pvbe_worker_close_conn_fds(g);
	g->connected = false;
	g->leaving = false;
	pvbe_info(g->tag, "client's devices stopped, window released");
	if (pending_nfds) {
		unsigned int n = pending_nfds;

		pending_nfds = 0;
		on_new_client(g, &pending_conn, pending_fds, n);
	}
}

static void begin_leave(struct pvbe_guest *g, const char *why)
{
	if (!g->connected || g->leaving)
		return;
	pvbe_info(g->tag, "peer %u gone (%s)", g->client_id, why);
	g->leaving = true;
	/* No doorbell or message of this client is acted on any more. */
	watch_doorbells(g, false);
	pvbe_loop_del(g->conn_fd);
	/* Devices stop now; one with host I/O in flight finishes it first. */
	if (!pvbe_guest_stop_all(g))
		finish_leave(g);
}

/* ---- the supervisor ---------------------------------------------------------- */

static void sup_msgs(int fd, struct pvbe_guest *g);

/* Every message changes what the queue threads use: they wait meanwhile. */
static void on_sup(int fd, uint32_t events, void *arg)
{
	(void)events;
	pvbe_threads_hold();
	sup_msgs(fd, arg);
	pvbe_threads_release();
}

static void sup_msgs(int fd, struct pvbe_guest *g)
{
	int fds[PVBE_MSG_MAX_FDS];
	unsigned int nfds, i;
	char *reply;
	size_t n;
	int r;

	for (;;) {
		r = pvbe_msg_recv(fd, rx, fds, &nfds);
		if (r == -EAGAIN)
			return;
		if (r == 0) {
			pvbe_err(g->tag, "supervisor gone: exiting");
			exit(1);
		}
		if (r < 0)
			continue;
		switch (rx->op) {
		case PVBE_MSG_CONN:
			if (g->connected) {
				/* Its GONE came first; wait for the devices to stop. */
				if (pending_nfds)
					for (i = 0; i < pending_nfds; i++)
						close(pending_fds[i]);
				pending_conn = *rx;
				memcpy(pending_fds, fds, nfds * sizeof(int));
				pending_nfds = nfds;
				if (!g->leaving)
					begin_leave(g, "a new client came");
				break;
			}
			on_new_client(g, rx, fds, nfds);
			break;
		case PVBE_MSG_GONE:
			begin_leave(g, "closed");
			for (i = 0; i < nfds; i++)
				close(fds[i]);
			break;
		case PVBE_MSG_RAM:
			on_ram(g, rx, fds, nfds);
			break;
		case PVBE_MSG_CTL:
			for (i = 0; i < nfds; i++)
				close(fds[i]);
			reply = malloc(PVBE_MSG_MAX);
			if (!reply)
				break;
			n = pvbe_control_worker(g, rx->data, reply, PVBE_MSG_MAX - 64);
			if (pvbe_msg_send(fd, PVBE_MSG_CTL_REPLY, rx->a, 0, 0, reply, n, NULL, 0))
				pvbe_warn(g->tag, "control reply: %s", strerror(errno));
			free(reply);
			break;
		default:
			for (i = 0; i < nfds; i++)
				close(fds[i]);
			break;
		}
	}
}

/* ---- the loop --------------------------------------------------------------- */

static void on_tick(int fd, uint32_t events, void *arg)
{
	uint64_t n;

	(void)events;
	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return;
	pvbe_threads_hold();
	pvbe_worker_tick(arg);
	pvbe_threads_release();
}

/* Every heartbeat_ms: liveness, the polling fallback, budgets start again. */
void pvbe_worker_tick(struct pvbe_guest *g)
{
	unsigned int q, v;
	int j;

	if (!g->connected || g->leaving)
		return;
	if (g->ready_at && pvbe_now_ms() >= g->ready_at)
		pvbe_window_ready(g);
	if (!pvbe_hostile_tick(g))
		pvbe_window_heartbeat(g);
	if (g->ready_at)
		return;
	/* Polling fallback: a doorbell rung too early is lost. */
	pvbe_guest_event(g);
	/* A new heartbeat period: every budget starts again. */
	for (j = 0; j < g->ndev; j++) {
		g->dev[j].tick_events = 0;
		g->dev[j].throttled = false;
		for (q = 0; q < g->dev[j].nqueues; q++) {
			struct pvbe_queue *pq = &g->dev[j].q[q];

			pq->idle_kicks = 0;
			pq->tick_errors = 0;
			pq->throttled = false;
			if (pq->running)
				pq->kick = true;
		}
	}
	g->cfg_kicks = 0;
	if (g->cfg_muted) {
		g->cfg_muted = false;
		pvbe_loop_add(g->be_efd[PVIO_CONFIG_VECTOR], EPOLLIN, on_config_doorbell, g);
	}
	/* Muted doorbells are heard again. */
	for (v = 1; v < g->nvectors; v++) {
		struct pvbe_queue *pq = g->vec_queue[v];

		if (pq && pq->muted) {
			pq->muted = false;
			pvbe_loop_add_to(pvbe_queue_loop(pq), g->be_efd[v], EPOLLIN,
					 on_doorbell, pq);
		}
	}
	ask_ram(g);
}

static void on_signal(int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo si;
	struct pvbe_guest *g = arg;

	(void)events;
	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	exiting = true;
	pvbe_threads_hold();
	if (g->connected && !g->leaving)
		begin_leave(g, "pviod stopping");
	pvbe_threads_release();
}

/*
 * Before every wait of the main thread: device events (the other threads
 * held out), then the queues it owns that asked to run.
 */
int pvbe_worker_prepare(void)
{
	struct pvbe_guest *g = pvbe.self;
	bool busy = false, stopping = false;
	unsigned int q;
	int j, r;

	if (g->events) {
		pvbe_threads_hold();
		busy = pvbe_guest_service(g);
		pvbe_threads_release();
	}
	for (j = 0; j < g->ndev; j++) {
		struct pvbe_dev *d = &g->dev[j];

		stopping |= d->stopping;
		for (q = 0; q < d->nqueues; q++) {
			if (d->q[q].thread != 0 || !d->q[q].kick)
				continue;
			pvbe_queue_run(&d->q[q]);
			busy |= d->q[q].kick;
		}
	}
	busy |= g->events;
	if (g->leaving && !stopping && !g->events) {
		pvbe_threads_hold();
		finish_leave(g);
		pvbe_threads_release();
	}
	if (exiting && !g->connected) {
		pvbe_loop_stop();
		return 0;
	}
	if (polling && g->connected && !g->leaving) {
		for (r = 0; r < PVBE_POLL_ROUNDS; r++) {
			if (!pvbe_poll_round(g))
				return busy;	/* polled queues asleep */
			if (g->events)
				break;
		}
		return 1;
	}
	return busy;
}

/* Write without stdio: this runs in a signal handler. */
static void sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	static const char hex[] = "0123456789abcdef";
	char msg[160] = "pviod worker: SIGBUS at 0x", *p;
	uintptr_t a = (uintptr_t)si->si_addr;
	int i;

	(void)uc;
	p = msg + strlen(msg);
	for (i = (int)sizeof(a) * 2 - 1; i >= 0; i--)
		*p++ = hex[(a >> (i * 4)) & 15];
	strcpy(p, ": guest RAM shrunk under us (file truncated)? this worker dies\n");
	if (write(2, msg, strlen(msg)) < 0)
		(void)0;
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Every fd the worker may keep from the supervisor; the rest is closed. */
static unsigned int keep_list(struct pvbe_guest *g, int *keep, unsigned int max)
{
	unsigned int n = 0, v;
	int j, k;

	keep[n++] = 0;
	keep[n++] = 1;
	keep[n++] = 2;
	keep[n++] = pvbe.sup_fd;
	if (g->drain_w >= 0)
		keep[n++] = g->drain_w;
	if (g->conn_fd >= 0) {
		keep[n++] = g->conn_fd;
		keep[n++] = g->shm_fd;
		if (g->ram_fd >= 0)
			keep[n++] = g->ram_fd;
		for (v = 0; v < g->nvectors; v++) {
			keep[n++] = g->be_efd[v];
			keep[n++] = g->guest_efd[v];
		}
	}
	for (j = 0; j < g->ndev; j++) {
		struct pvbe_dev *d = &g->dev[j];

		if (!d->ops->host_fds)
			continue;
		k = d->ops->host_fds(d, keep + n, (int)(max - n));
		if (k > 0)
			n += (unsigned int)k;
	}
	return n;
}

/*
 * The CPUs and nice value of the guest's configuration, before anything
 * else (threads and io_uring workers made later inherit them).  The
 * sandbox's filter refuses sched_setaffinity() and setpriority(): a
 * worker its guest took over cannot move itself back.
 */
static int worker_sched(struct pvbe_guest *g)
{
	struct pvbe_guest_cfg *c = g->cfg;
	cpu_set_t set;
	int ret;

	if (c->cpus[0]) {
		ret = pvbe_parse_cpulist(c->cpus, &set);
		if (!ret && sched_setaffinity(0, sizeof(set), &set) < 0)
			ret = -errno;
		if (ret) {
			pvbe_err(g->tag, "cpus %s: %s", c->cpus, strerror(-ret));
			return ret;
		}
	}
	if (c->nice_set && setpriority(PRIO_PROCESS, 0, c->nice) < 0) {
		ret = -errno;
		pvbe_err(g->tag, "nice %d: %s", c->nice, strerror(-ret));
		return ret;
	}
	return 0;
}

int pvbe_worker_main(struct pvbe_guest *g)
{
	struct itimerspec its = { 0 };
	int keep[PVBE_MSG_MAX_FDS + 256];
	struct sigaction sa;
	unsigned int nkeep;
	sigset_t mask;
	char name[16];
	int j, ret, tfd, sfd;

	snprintf(name, sizeof(name), "pviod:%.9s", g->cfg->name);
	prctl(PR_SET_NAME, name);
	/* Nothing of the supervisor's or of other guests' stays open. */
	nkeep = keep_list(g, keep, sizeof(keep) / sizeof(keep[0]));
	ret = pvbe_sandbox_close_fds(keep, nkeep);
	if (!ret)
		ret = worker_sched(g);
	if (!ret)
		ret = pvbe_loop_reinit();
	/* Queue threads' loops now: a class's prepare adds its fds to them. */
	if (!ret)
		ret = pvbe_threads_init(g);
	if (ret) {
		pvbe_err(g->tag, "worker setup: %s", strerror(-ret));
		return ret;
	}
	rx = malloc(PVBE_MSG_MAX);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigbus_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGBUS, &sa, NULL);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	its.it_interval.tv_sec = g->hb_ms / 1000;
	its.it_interval.tv_nsec = (long)(g->hb_ms % 1000) * 1000000L;
	its.it_value = its.it_interval;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (!rx || tfd < 0 || sfd < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0) {
		pvbe_err(g->tag, "worker setup: %s", strerror(errno));
		return -errno;
	}
	ret = pvbe_loop_add(tfd, EPOLLIN, on_tick, g);
	if (!ret)
		ret = pvbe_loop_add(sfd, EPOLLIN, on_signal, g);
	if (!ret)
		ret = pvbe_loop_add(pvbe.sup_fd, EPOLLIN, on_sup, g);
	/* What the sandbox forbids later: io_uring rings, DPDK's EAL, timers. */
	for (j = 0; !ret && j < g->ndev; j++)
		if (g->dev[j].ops->prepare)
			ret = g->dev[j].ops->prepare(&g->dev[j]);
	if (!ret)
		ret = pvbe_sandbox_lock(g);
	if (ret) {
		pvbe_err(g->tag, "worker setup: %s", strerror(-ret));
		return ret;
	}
	polling = pvbe_poll_wanted(g);
	pvbe_loop_set_prepare(pvbe_worker_prepare);
	pvbe_threads_go();
	/* Restarted with a client attached: take its window over. */
	pvbe_threads_hold();
	ret = g->conn_fd >= 0 ? adopt(g, true) : 0;
	pvbe_threads_release();
	if (ret) {
		pvbe_err(g->tag, "cannot take the window over");
		return -EIO;
	}
	pvbe_info(g->tag, "worker serving%s, %u thread(s)",
		  g->connected ? " (took over)" : ", no client yet", pvbe_threads_count());
	ret = pvbe_loop_run();
	pvbe_threads_hold();
	if (g->connected)
		finish_leave(g);
	pvbe_threads_release();
	pvbe_threads_stop();
	pvbe_info(g->tag, "worker stopped");
	return ret;
}
