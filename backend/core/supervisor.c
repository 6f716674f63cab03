// SPDX-License-Identifier: GPL-2.0
/*
 * supervisor.c - the pviod process that outlives every worker.
 *
 * QEMU cannot re-join a restarted ivshmem server, so whatever holds a
 * guest's connection, its window and its eventfds must outlive the code
 * that does the guest's I/O.  The supervisor holds them all and does no
 * I/O for any guest:
 *
 *   per guest  the listening socket; for the client of the moment a fresh
 *              window memfd (sealed: it cannot be resized under anyone)
 *              and fresh eventfds, made at accept() and sent in the
 *              handshake, so a former client keeps nothing of a later
 *              one's; the guest RAM file or memfd; the host resources of
 *              its devices (TAP queues, disk images), opened here by
 *              ops->setup; and one worker process, forked here.
 *   workers    each serves one guest, sandboxed (worker.c, sandbox.c).  A
 *              worker that dies is restarted alone; it takes its guest's
 *              window over and the guest resets its devices.  Ten deaths
 *              within a minute put that guest's worker on hold for a
 *              minute: no other guest notices any of it.
 *   control    the control socket (control.c): requests about a guest go
 *              to its worker, whose answer is checked before it is passed
 *              on; guests are added, removed and reloaded here.
 *
 * Everything a worker sends is untrusted (msg.h): its guest may own it.
 * The supervisor reads no byte a guest wrote.
 *
 * This file: the client connections and the listening sockets, signals,
 * the tick, the upgrade in place (with handover.c) and the loop.  Guests
 * are made, opened and removed in guests.c; worker processes are forked,
 * heard and buried in workers.c (sup.h joins the three).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "core/fdstore.h"
#include "core/hostmem.h"
#include "core/handover.h"
#include "core/http.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/migrate.h"
#include "core/msg.h"
#include "core/pviod.h"
#include "core/sup.h"
#include "core/supervisor.h"
#include "transport/ivshmem.h"

#define PVBE_ACCEPTS_PER_SEC	100	/* a QEMU connects once per boot */

struct pvbe_sup_state pvbe_sup;
static uint64_t stop_deadline;
static uint64_t upgrade_deadline;	/* ms: exec even if I/O still drains */
static uint64_t accept_second;		/* ms: per-guest accept counts restart */
static struct pvbe_ratelimit accept_rl;

/* ---- the client connection --------------------------------------------------- */

void pvbe_conn_close_fds(struct pvbe_guest *g)
{
	unsigned int v;

	if (g->conn_fd >= 0) {
		pvbe_loop_del(g->conn_fd);
		close(g->conn_fd);
	}
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
	g->ram_size = 0;
}

/* The client left (or must go): its fds close, its worker is told. */
void pvbe_conn_drop(struct pvbe_guest *g, const char *why)
{
	if (g->conn_fd < 0)
		return;
	pvbe_info(g->tag, "peer %u gone (%s)", g->client_id, why);
	pvbe_conn_close_fds(g);
	pvbe_migrate_client_gone(g);
	/* A worker that cannot be told is replaced; the next starts clean. */
	if (g->worker && g->pair[0] >= 0 &&
	    pvbe_msg_send(g->pair[0], PVBE_MSG_GONE, 0, 0, 0, NULL, 0, NULL, 0)) {
		pvbe_warn(g->tag, "tell worker %d the client left: %s; replacing the worker",
			  (int)g->worker, strerror(errno));
		kill(g->worker, SIGKILL);
	}
}

void pvbe_on_conn(int fd, uint32_t events, void *arg)
{
	(void)fd;
	/* Registered for hang-ups only: what the client sends is the worker's. */
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		pvbe_conn_drop(arg, events & EPOLLERR ? "error" : "closed");
}

/* Fresh for every client: a sealed window memfd and eventfds. */
static int conn_resources(struct pvbe_guest *g)
{
	char name[64];
	unsigned int v;

	snprintf(name, sizeof(name), "pvio-window-%s", g->cfg->name);
	g->shm_fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (g->shm_fd < 0 || ftruncate(g->shm_fd, (off_t)g->win_size) < 0 ||
	    fcntl(g->shm_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
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
	return pvbe_window_stub(g->shm_fd, g->win_size, g->generation);
}

static void pause_listeners(void);
static void resume_listeners(void);

/* Hand the client of the moment to @g's worker (@takeover: migrated). */
int pvbe_send_conn(struct pvbe_guest *g, bool takeover)
{
	int fds[PVBE_MSG_MAX_FDS];
	unsigned int n = 0, v;
	uint64_t flags = 0;

	fds[n++] = g->conn_fd;
	fds[n++] = g->shm_fd;
	for (v = 0; v < g->nvectors; v++)
		fds[n++] = g->be_efd[v];
	for (v = 0; v < g->nvectors; v++)
		fds[n++] = g->guest_efd[v];
	if (g->ram_fd >= 0) {
		fds[n++] = g->ram_fd;
		flags |= PVBE_CONN_RAM;
	}
	if (takeover)
		flags |= PVBE_CONN_TAKEOVER;
	return pvbe_msg_send(g->pair[0], PVBE_MSG_CONN,
			     (uint64_t)g->client_id << 16 | g->nvectors, flags,
			     g->generation, NULL, 0, fds, n);
}

void pvbe_on_accept(int lfd, uint32_t events, void *arg)
{
	struct pvbe_guest *g = arg;
	int fd, ret;

	(void)events;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* Level-triggered: the connection stays queued and would spin us. */
			if (pvbe_ratelimit(&accept_rl, g->tag))
				pvbe_err(g->tag, "accept: %s: not accepting for %d ms",
					 strerror(errno), PVBE_SUP_TICK_MS);
			pause_listeners();
		}
		return;
	}
	/* The last client may be gone with its hang-up not read yet. */
	if (g->conn_fd >= 0) {
		struct pollfd p = { .fd = g->conn_fd, .events = POLLRDHUP };

		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			pvbe_conn_drop(g, "closed");
	}
	if (g->conn_fd >= 0 || g->removing) {
		/* ivshmem peers share one window; pvio serves one per guest. */
		pvbe_err(g->tag, "a second client connected while peer %u is attached: refused",
			 g->client_id);
		close(fd);
		return;
	}
	/* Each client costs a window, eventfds and a handshake: not in a loop. */
	if (++g->accepts >= PVBE_ACCEPTS_PER_SEC && !g->listen_paused) {
		pvbe_loop_del(g->listen_fd);
		g->listen_paused = true;
		if (pvbe_ratelimit(&g->sup_rl, g->tag))
			pvbe_warn(g->tag, "%u clients within a second: not accepting more this second",
				  g->accepts);
	}
	g->conn_fd = fd;
	g->backend_peer = PVBE_BACKEND_PEER;
	g->client_id = pvbe.next_client_id++;
	if (pvbe.next_client_id == 0)
		pvbe.next_client_id = 1;
	g->generation++;
	ret = conn_resources(g);
	if (!ret)
		ret = pvbe_ivshmem_handshake(g);
	if (!ret)
		ret = pvbe_loop_add(fd, EPOLLRDHUP, pvbe_on_conn, g);
	if (ret) {
		pvbe_warn(g->tag, "client dropped: %s", strerror(-ret));
		pvbe_conn_close_fds(g);
		return;
	}
	/* QEMU makes the RAM file after connecting: the worker asks later. */
	if (g->cfg->ram_path[0])
		g->ram_fd = open(g->cfg->ram_path, O_RDWR | O_CLOEXEC);
	pvbe_info(g->tag, "peer %u connected, generation %u", g->client_id, g->generation);
	/* In systemd's fd store before the worker serves it: a crash keeps it. */
	pvbe_fdstore_sync();
	/* An incoming migration fills the window: no worker touches it yet. */
	if (g->mig == PVBE_MIG_IN) {
		pvbe_info(g->tag, "migrate-in: peer %u held until migrate-finish", g->client_id);
		return;
	}
	/*
	 * A worker that cannot be told (gone, not yet reaped; or not
	 * reading its messages) is replaced, and the next one takes the
	 * connection over: QEMU keeps its connection either way.  No
	 * worker (on hold): the next one takes it over too.
	 */
	if (g->worker && pvbe_send_conn(g, false)) {
		pvbe_warn(g->tag, "hand the client to worker %d: %s; replacing the worker",
			  (int)g->worker, strerror(errno));
		kill(g->worker, SIGKILL);
	}
}

static void pause_listeners(void)
{
	int i;

	if (pvbe_sup.listeners_paused)
		return;
	for (i = 0; i < PVBE_MAX_GUESTS; i++)
		if (pvbe.guests[i] && pvbe.guests[i]->listen_fd >= 0)
			pvbe_loop_del(pvbe.guests[i]->listen_fd);
	if (pvbe.control_fd >= 0)
		pvbe_loop_del(pvbe.control_fd);
	pvbe_sup.listeners_paused = true;
}

static void resume_listeners(void)
{
	int i;

	if (!pvbe_sup.listeners_paused || pvbe_sup.upgrading)
		return;
	pvbe_sup.listeners_paused = false;
	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		struct pvbe_guest *g = pvbe.guests[i];

		if (g && g->listen_fd >= 0 && !g->removing && !g->listen_paused)
			pvbe_loop_add(g->listen_fd, EPOLLIN, pvbe_on_accept, g);
	}
	if (pvbe.control_fd >= 0)
		pvbe_loop_add(pvbe.control_fd, EPOLLIN, pvbe_control_accept, NULL);
}

/* ---- signals, tick, the loop ---------------------------------------------------- */

/*
 * SIGTERM each worker, which stops its guest's devices.  With systemd's
 * fd store the guests outlive pviod (core/fdstore.h): each worker is
 * killed as for an upgrade, its devices left as they stand for the
 * pviod that systemd starts next, and the guests' sockets stay.
 */
static void stop_all(void)
{
	int i, sig = SIGTERM;

	if (pvbe_sup.stopping)
		return;
	pvbe_sup.stopping = true;
	stop_deadline = pvbe_now_ms() + PVBE_STOP_GRACE_MS;
	if (pvbe_fdstore_on()) {
		pvbe_info("supervisor", "the guests stay in systemd's fd store: workers killed, sockets kept");
		pvbe_sup.keep_sockets = true;
		sig = SIGKILL;
	}
	for (i = 0; i < PVBE_MAX_GUESTS; i++)
		if (pvbe.guests[i] && pvbe.guests[i]->worker)
			kill(pvbe.guests[i]->worker, sig);
}

static void notify_ready(void);

static bool workers_left(void)
{
	int i;

	for (i = 0; i < PVBE_MAX_GUESTS; i++)
		if (pvbe.guests[i] && pvbe.guests[i]->worker)
			return true;
	return false;
}

/*
 * Past the exec there is no way back: a new binary that cannot start, or
 * cannot read the configuration, would take every guest with it.  So it
 * is run first, as "pviod --check-config", and must say OK.
 */
static int check_new(char *err, size_t len)
{
	char *argv[] = { pvbe.exe, "--check-config", "-c", pvbe.config_path, NULL };
	int status, null;
	pid_t pid;

	pid = fork();
	if (pid < 0) {
		snprintf(err, len, "fork: %s", strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		sigprocmask(SIG_SETMASK, &pvbe_sup.oldmask, NULL);
		unsetenv("NOTIFY_SOCKET");
		execv(pvbe.exe, argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	snprintf(err, len, "%s --check-config -c %s failed (%s %d): not upgrading", pvbe.exe,
		 pvbe.config_path, WIFEXITED(status) ? "exit" : "signal",
		 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return -EINVAL;
}

/*
 * Replace pviod in place (core/handover.h).  Every worker is killed, as
 * if it had crashed: the guests' devices stand still, their requests
 * stay theirs.  Once no worker is left and none can still write guest
 * RAM (the drain pipes, as before a restart), the supervisor execs.
 */
int pvbe_upgrade(char *err, size_t len)
{
	int i, ret;

	if (pvbe_sup.stopping || pvbe_sup.upgrading) {
		snprintf(err, len, "pviod is %s already", pvbe_sup.stopping ? "stopping" : "upgrading");
		return -EBUSY;
	}
	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		if (pvbe.guests[i] && pvbe.guests[i]->removing) {
			snprintf(err, len, "guest %s is being removed: try again",
				 pvbe.guests[i]->cfg->name);
			return -EBUSY;
		}
		/*
		 * Its state is in no handover, and the new pviod's takeover
		 * would stop a guest's dirty logging under QEMU's pre-copy:
		 * finish or cancel first.
		 */
		if (pvbe.guests[i] && (pvbe.guests[i]->mig != PVBE_MIG_NONE ||
				       pvbe.guests[i]->mig_tracking)) {
			snprintf(err, len, "guest %s is migrating (%s): migrate-finish or migrate-cancel first",
				 pvbe.guests[i]->cfg->name, pvbe_migrate_name(pvbe.guests[i]));
			return -EBUSY;
		}
	}
	ret = check_new(err, len);
	if (ret)
		return ret;
	pvbe_sup.upgrading = true;
	upgrade_deadline = pvbe_now_ms() + PVBE_STOP_GRACE_MS;
	pvbe_info("supervisor", "upgrade: stopping the workers, then exec %s", pvbe.exe);
	sd_notify(0, "RELOADING=1\nSTATUS=upgrading in place");
	pause_listeners();
	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		struct pvbe_guest *g = pvbe.guests[i];

		if (g && g->worker)
			kill(g->worker, SIGKILL);
	}
	return 0;
}

/*
 * From the tick: exec once the workers are gone.  Not once their I/O is:
 * a guest whose last worker's reads are still at the disk hands its
 * drain pipe over, and the new pviod starts its worker only when that
 * hangs up (handover.c), so no guest waits for another's disk.
 */
static void upgrade_step(uint64_t now)
{
	char err[320];
	int i, busy = 0;

	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		struct pvbe_guest *g = pvbe.guests[i];

		if (g && g->worker)
			busy++;
	}
	if (busy && now < upgrade_deadline)
		return;
	/* Killed but not reaped (a task stuck in the kernel): still our child after the exec. */
	if (busy)
		pvbe_warn("supervisor", "upgrade: %d worker(s) not gone %d ms after SIGKILL: going on",
			  busy, PVBE_STOP_GRACE_MS);
	if (!pvbe_handover_exec(err, sizeof(err)))
		return;
	/* Still the old pviod: serve on, each guest as after a worker crash. */
	pvbe_err("supervisor", "upgrade failed: %s; serving on", err);
	pvbe_sup.upgrading = false;
	resume_listeners();
	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		struct pvbe_guest *g = pvbe.guests[i];

		if (!g || g->worker)
			continue;
		if (g->conn_fd >= 0)
			g->generation++;
		pvbe_worker_start(g);
	}
	notify_ready();
}

/*
 * systemd (Type=notify): ready once every guest's socket and the control
 * socket listen, and again after each reload.  A no-op without
 * NOTIFY_SOCKET.
 */
static void notify_ready(void)
{
	unsigned int i, n = 0, w = 0;

	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		if (!pvbe.guests[i])
			continue;
		n++;
		w += pvbe.guests[i]->worker != 0;
	}
	sd_notifyf(0, "READY=1\nSTATUS=%u guest(s), %u worker(s) running", n, w);
}

static void on_signal(int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo si;
	char err[320];

	(void)events;
	(void)arg;
	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	switch (si.ssi_signo) {
	case SIGCHLD:
		pvbe_workers_reap();
		break;
	case SIGUSR2:
		pvbe_info("supervisor", "SIGUSR2: upgrading in place");
		if (pvbe_upgrade(err, sizeof(err)))
			pvbe_err("supervisor", "upgrade: %s", err);
		break;
	case SIGHUP:
		if (pvbe_sup.upgrading)
			break;	/* the new pviod reads the file anyway */
		pvbe_info("supervisor", "SIGHUP: reloading %s", pvbe.config_path);
		sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration");
		if (pvbe_reload(err, sizeof(err)))
			pvbe_err("reload", "%s", err);
		notify_ready();
		break;
	default:
		pvbe_info("supervisor", "signal %u: stopping", si.ssi_signo);
		pvbe_sup.upgrading = false;
		sd_notify(0, "STOPPING=1\nSTATUS=stopping the workers");
		stop_all();
		break;
	}
	if (pvbe_sup.stopping && !workers_left())
		pvbe_loop_stop();
}

static void on_tick(int fd, uint32_t events, void *arg)
{
	uint64_t n, now = pvbe_now_ms();
	int i;

	(void)events;
	(void)arg;
	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return;
	resume_listeners();
	pvbe_control_tick(now);
	pvbe_http_tick();
	pvbe_hostmem_tick(now);
	if (now - accept_second >= 1000) {
		accept_second = now;
		for (i = 0; i < PVBE_MAX_GUESTS; i++) {
			struct pvbe_guest *g = pvbe.guests[i];

			if (!g)
				continue;
			g->accepts = 0;
			if (g->listen_paused && g->listen_fd >= 0 && !g->removing &&
			    !pvbe_sup.listeners_paused)
				pvbe_loop_add(g->listen_fd, EPOLLIN, pvbe_on_accept, g);
			g->listen_paused = false;
		}
	}
	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		struct pvbe_guest *g = pvbe.guests[i];

		if (!g)
			continue;
		/* A worker that ignores SIGTERM (stopped, stuck) gets SIGKILL. */
		if (g->worker && ((g->removing && now > g->stop_by) ||
				  (pvbe_sup.stopping && now > stop_deadline)))
			kill(g->worker, SIGKILL);
		if (!g->worker && !g->removing && !pvbe_sup.stopping && !pvbe_sup.upgrading && g->restart_at &&
		    now >= g->restart_at && g->mig != PVBE_MIG_OUT) {
			g->restart_at = 0;
			if (g->conn_fd >= 0)
				g->generation++;
			pvbe_worker_start(g);
		}
		/* Watched, but the loop could not add it: look here. */
		if (g->drain_wait && g->drain_fd >= 0)
			pvbe_worker_on_drained(g->drain_fd, 0, g);
	}
	if (pvbe_sup.upgrading)
		upgrade_step(now);
	pvbe_fdstore_sync();
	if (pvbe_sup.stopping && !workers_left())
		pvbe_loop_stop();
}

/*
 * After an upgrade: the guests the last pviod had added from files of
 * their own (guest add FILE), added again from those files, those guests
 * only.  A file that is gone or now wrong loses its guests, with the
 * reason in the log.
 */
static int worker_credentials(void)
{
	struct passwd *pw;

	pvbe.uid = geteuid();
	pvbe.gid = getegid();
	if (!pvbe.cfg.sandbox || geteuid() != 0)
		return 0;
	pw = getpwnam(pvbe.cfg.user);
	if (!pw) {
		pvbe_err("supervisor", "user = %s: no such user (workers must not run as root)",
			 pvbe.cfg.user);
		return -EINVAL;
	}
	if (pw->pw_uid == 0) {
		pvbe_err("supervisor", "user = %s: is root; workers must not run as root",
			 pvbe.cfg.user);
		return -EINVAL;
	}
	pvbe.uid = pw->pw_uid;
	pvbe.gid = pw->pw_gid;
	return 0;
}

int pvbe_supervise(void)
{
	struct itimerspec its = { .it_interval = { 0, PVBE_SUP_TICK_MS * 1000000L } };
	sigset_t mask;
	int sfd, tfd, i, ret;

	ret = pvbe_workers_init();
	if (ret)
		return ret;
	ret = worker_credentials();
	if (ret)
		return ret;
	ret = pvbe_loop_init();
	if (ret)
		return ret;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR2);
	/*
	 * Blocked across an upgrade's exec too (a SIGTERM then waits for the
	 * new pviod): workers get the mask pviod was started with, not ours.
	 */
	sigprocmask(SIG_BLOCK, &mask, &pvbe_sup.oldmask);
	if (pvbe.upgrades) {
		sigdelset(&pvbe_sup.oldmask, SIGCHLD);
		sigdelset(&pvbe_sup.oldmask, SIGTERM);
		sigdelset(&pvbe_sup.oldmask, SIGINT);
		sigdelset(&pvbe_sup.oldmask, SIGHUP);
		sigdelset(&pvbe_sup.oldmask, SIGUSR2);
	}
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	its.it_value = its.it_interval;
	if (sfd < 0 || tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0)
		return -errno;
	ret = pvbe_loop_add(sfd, EPOLLIN, on_signal, NULL);
	if (!ret)
		ret = pvbe_loop_add(tfd, EPOLLIN, on_tick, NULL);
	if (ret)
		return ret;
	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		if (!pvbe.guests[i])
			continue;
		ret = pvbe_guest_open(pvbe.guests[i]);
		if (ret)
			return ret;
	}
	pvbe_guests_readd();
	pvbe_handover_finish();
	/* Before a client can connect: what was handed back keeps its names. */
	pvbe_fdstore_start();
	/* Last: once the control socket is there, every guest's socket is too. */
	if (pvbe.cfg.control[0]) {
		pvbe.control_fd = pvbe_control_listen(pvbe.cfg.control);
		if (pvbe.control_fd < 0)
			return pvbe.control_fd;
		ret = pvbe_loop_add(pvbe.control_fd, EPOLLIN, pvbe_control_accept, NULL);
		if (ret)
			return ret;
	}
	ret = pvbe_http_start(&pvbe.cfg);
	if (ret)
		return ret;
	notify_ready();
	ret = pvbe_loop_run();
	pvbe_http_stop();
	/* Workers are gone (or SIGKILLed and reaped by now). */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	pvbe_fdstore_sync();
	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		if (!pvbe.guests[i])
			continue;
		pvbe_guest_free(pvbe.guests[i]);
		pvbe.guests[i] = NULL;
	}
	close(sfd);
	close(tfd);
	pvbe_workers_exit();
	return ret;
}
