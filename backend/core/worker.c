// SPDX-License-Identifier: GPL-2.0
/*
 * worker.c - the I/O process: accepts clients, runs the ivshmem handshake,
 * maps guest RAM, serves doorbells, beats the heartbeat.  Single-threaded
 * around one epoll loop (loop.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/pviod.h"

static void drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

static void on_doorbell(int fd, uint32_t events, void *arg)
{
	struct pvbe_guest *g = arg;
	unsigned int v;

	(void)events;
	drain(fd);
	for (v = 0; v < g->nvectors; v++)
		if (g->be_efd[v] == fd)
			break;
	if (v == PVIO_CONFIG_VECTOR) {
		pvbe_guest_poll_status(g);
		return;
	}
	if (v < g->nvectors && g->vec_queue[v] && g->conn_fd >= 0) {
		g->vec_queue[v]->st.kicks++;
		pvbe_queue_kick(g->vec_queue[v]);
	}
}

static int map_configured_ram(struct pvbe_guest *g)
{
	struct pvbe_guest_cfg *c = g->cfg;
	int fd, ret;

	if (c->ram_layout[0])
		ret = pvbe_memtable_parse(&g->mem, c->ram_layout);
	else
		ret = pvbe_memtable_layout(&g->mem, c->machine, c->ram_size);
	if (ret) {
		pvbe_err(g->tag, "bad guest RAM layout (ram_size must be a multiple of 2 MiB)");
		return ret;
	}
	fd = open(c->ram_path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		pvbe_err(g->tag, "guest RAM file %s: %s (is QEMU using memory-backend-file with mem-path=%s,share=on?)",
			 c->ram_path, strerror(errno), c->ram_path);
		return -errno;
	}
	ret = pvbe_memtable_map(&g->mem, fd, g->tag);
	if (ret)
		return ret;
	g->mem_ready = true;
	pvbe_info(g->tag, "guest RAM %s mapped, %d region(s)", c->ram_path,
		  g->mem.nregions);
	return 0;
}

/*
 * QEMU connects its ivshmem chardev before it creates the RAM backend file,
 * so the file may appear only after the handshake: map it on first need.
 */
int pvbe_guest_map_ram(struct pvbe_guest *g)
{
	if (g->mem_ready)
		return 0;
	if (!g->cfg->ram_path[0])
		return -ENOENT;
	return map_configured_ram(g);
}

static int map_offered_ram(struct pvbe_guest *g, int fd, uint64_t size)
{
	int dupfd, ret;

	if (g->mem_ready) {
		pvbe_err(g->tag, "client offered RAM but guest RAM is already mapped");
		return -EEXIST;
	}
	if (g->cfg->ram_path[0]) {
		pvbe_err(g->tag, "client offered RAM but the configuration names %s",
			 g->cfg->ram_path);
		return -EPERM;
	}
	if (!size || size > (1ull << 40)) {
		pvbe_err(g->tag, "client offered %" PRIu64 " bytes of RAM", size);
		return -EINVAL;
	}
	memset(&g->mem, 0, sizeof(g->mem));
	g->mem.fd = -1;
	g->mem.nregions = 1;
	g->mem.r[0].size = size;
	dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dupfd < 0)
		return -errno;
	ret = pvbe_memtable_map(&g->mem, dupfd, g->tag);
	if (ret)
		return ret;
	g->mem_ready = true;
	g->ram_fd = fd;
	g->ram_size = size;
	pvbe_info(g->tag, "frontend RAM mapped, %" PRIu64 " bytes", size);
	return 0;
}

static void guest_disconnect(struct pvbe_guest *g, const char *why)
{
	int i;
	unsigned int q;

	pvbe_info(g->tag, "peer %u gone (%s)", g->client_id, why);
	for (i = 0; i < g->ndev; i++) {
		struct pvbe_dev *d = &g->dev[i];

		if (d->live && d->ops->stop)
			d->ops->stop(d);
		d->live = false;
		for (q = 0; q < d->nqueues; q++)
			pvbe_queue_stop(&d->q[q]);
	}
	pvbe_loop_del(g->conn_fd);
	close(g->conn_fd);
	g->conn_fd = -1;
	if (g->ram_fd >= 0)
		close(g->ram_fd);
	g->ram_fd = -1;
	pvbe_memtable_unmap(&g->mem);
	g->mem_ready = false;
	pvbe_window_stop(g);
	pvbe_sup_send(PVBE_SUP_GONE, (int)g->index, -1, 0);
}

static void on_conn(int fd, uint32_t events, void *arg)
{
	struct pvbe_guest *g = arg;
	uint64_t size = 0;
	int rfd, ret;

	(void)fd;
	if (events & (EPOLLHUP | EPOLLERR) && !(events & EPOLLIN)) {
		guest_disconnect(g, "hang-up");
		return;
	}
	ret = pvbe_ivshmem_read_ext(g->conn_fd, &rfd, &size);
	if (ret == -EAGAIN)
		return;
	if (ret == 0) {
		guest_disconnect(g, "closed");
		return;
	}
	if (ret < 0) {
		pvbe_err(g->tag, "malformed message from peer %u: dropping it", g->client_id);
		guest_disconnect(g, "protocol error");
		return;
	}
	if (map_offered_ram(g, rfd, size)) {
		close(rfd);
		guest_disconnect(g, "bad RAM offer");
		return;
	}
	pvbe_sup_send(PVBE_SUP_RAM, (int)g->index, rfd, size);
	pvbe_guest_poll_status(g);	/* a start may have waited for RAM */
}

static void drain_all(struct pvbe_guest *g)
{
	unsigned int v;

	for (v = 0; v < g->nvectors; v++) {
		drain(g->be_efd[v]);
		drain(g->guest_efd[v]);
	}
}

static void on_accept(int lfd, uint32_t events, void *arg)
{
	struct pvbe_guest *g = arg;
	uint32_t gen;
	int fd;

	(void)events;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if (g->conn_fd >= 0) {
		/* ivshmem peers share one window; pvio serves one per guest. */
		pvbe_err(g->tag, "a second client connected while peer %u is attached: refused",
			 g->client_id);
		close(fd);
		return;
	}
	g->conn_fd = fd;
	g->client_id = pvbe.next_client_id++;
	if (pvbe.next_client_id == 0)
		pvbe.next_client_id = 1;
	pvbe_sup_send(PVBE_SUP_NEXT_ID, (int)g->index, -1, pvbe.next_client_id);
	gen = pvio_le32_to_cpu(g->hdr->generation) + 1;
	drain_all(g);
	if (pvbe_window_layout(g, gen) || pvbe_ivshmem_handshake(g)) {
		close(fd);
		g->conn_fd = -1;
		return;
	}
	pvbe_sup_send(PVBE_SUP_CONN, (int)g->index, fd, g->client_id);
	if (pvbe_loop_add(fd, EPOLLIN | EPOLLRDHUP, on_conn, g)) {
		guest_disconnect(g, "event loop full");
		return;
	}
	pvbe_info(g->tag, "peer %u connected, generation %u", g->client_id, gen);
	if (g->cfg->ram_path[0] && access(g->cfg->ram_path, F_OK) == 0)
		map_configured_ram(g);	/* else mapped when a device starts */
}

static void on_tick(int fd, uint32_t events, void *arg)
{
	uint64_t n;
	int i;

	(void)events;
	(void)arg;
	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return;
	for (i = 0; i < pvbe.nguests; i++) {
		struct pvbe_guest *g = &pvbe.guests[i];
		int j;
		unsigned int q;

		if (g->conn_fd < 0)
			continue;
		if (g->ready_at && pvbe_now_ms() >= g->ready_at)
			pvbe_window_ready(g);
		pvbe_window_heartbeat(g);
		/* Polling fallback: a doorbell rung too early is lost. */
		pvbe_guest_poll_status(g);
		for (j = 0; j < g->ndev; j++)
			for (q = 0; q < g->dev[j].nqueues; q++)
				pvbe_queue_kick(&g->dev[j].q[q]);
	}
}

static void on_signal(int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo si;

	(void)events;
	(void)arg;
	if (read(fd, &si, sizeof(si)) == sizeof(si))
		pvbe_loop_stop();
}

static int add_guest(struct pvbe_guest *g, bool restart)
{
	unsigned int v;
	int ret;

	ret = pvbe_window_map(g);
	if (ret)
		return ret;
	if (restart && g->conn_fd >= 0) {
		if (g->ram_fd >= 0) {
			int rfd = g->ram_fd;

			g->ram_fd = -1;
			ret = map_offered_ram(g, rfd, g->ram_size);
		} else if (g->cfg->ram_path[0]) {
			ret = map_configured_ram(g);
		}
		if (ret)
			pvbe_err(g->tag, "restart: guest RAM not mapped");
		ret = pvbe_window_takeover(g);
		if (ret)
			return ret;
		ret = pvbe_loop_add(g->conn_fd, EPOLLIN | EPOLLRDHUP, on_conn, g);
		if (ret)
			return ret;
	} else {
		g->conn_fd = -1;
		ret = pvbe_window_layout(g, 1);
		if (ret)
			return ret;
		pvbe_window_stop(g);	/* nobody to serve yet */
	}
	ret = pvbe_loop_add(g->listen_fd, EPOLLIN, on_accept, g);
	for (v = 0; !ret && v < g->nvectors; v++)
		ret = pvbe_loop_add(g->be_efd[v], EPOLLIN, on_doorbell, g);
	return ret;
}

int pvbe_worker_main(bool restart)
{
	struct itimerspec its = { 0 };
	sigset_t mask;
	int i, ret, tfd, sfd;

	pvbe.started = (uint64_t)time(NULL);
	ret = pvbe_loop_init();
	if (ret)
		return ret;
	for (i = 0; i < pvbe.nguests; i++) {
		ret = add_guest(&pvbe.guests[i], restart);
		if (ret) {
			pvbe_err(pvbe.guests[i].tag, "cannot serve: %s", strerror(-ret));
			return ret;
		}
	}
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	its.it_interval.tv_nsec = (long)pvbe.cfg.heartbeat_ms * 1000000L;
	its.it_interval.tv_sec = its.it_interval.tv_nsec / 1000000000L;
	its.it_interval.tv_nsec %= 1000000000L;
	its.it_value = its.it_interval;
	if (tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0)
		return -errno;
	ret = pvbe_loop_add(tfd, EPOLLIN, on_tick, NULL);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (!ret)
		ret = sfd < 0 ? -errno : pvbe_loop_add(sfd, EPOLLIN, on_signal, NULL);
	if (!ret && pvbe.control_fd >= 0)
		ret = pvbe_loop_add(pvbe.control_fd, EPOLLIN, pvbe_control_accept, NULL);
	if (ret)
		return ret;
	if (pvbe_poll_wanted())
		pvbe_loop_set_poll(pvbe_poll_round);
	pvbe_info("worker", "serving %d guest(s)%s", pvbe.nguests,
		  restart ? " after a restart" : "");
	ret = pvbe_loop_run();
	for (i = 0; i < pvbe.nguests; i++)
		pvbe_window_stop(&pvbe.guests[i]);
	pvbe_info("worker", "stopped");
	return ret;
}
