// SPDX-License-Identifier: GPL-2.0
/*
 * pviod - the pvio host backend.
 *
 * Security model: every guest is hostile.  Nothing read from a window or
 * from guest RAM is assumed sensible; see queue.c and window.c.
 *
 * Process model: QEMU cannot re-join a restarted ivshmem server, so the
 * process that holds QEMU's connection, the window memfds and the eventfds
 * must outlive the one that does the I/O.  pviod is therefore two
 * processes:
 *
 *   supervisor  creates the listening sockets, windows and eventfds, keeps
 *               a copy of every client connection and RAM fd the worker
 *               hands it, and re-forks the worker when it dies;
 *   worker      accepts clients, runs the handshake, serves the queues.
 *               A new worker inherits every fd by fork(), takes over the
 *               windows, bumps their generation and asks the guests to
 *               reset their devices.
 *
 * main() reads top to bottom: parse -> configure -> listen -> supervise.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "core/pviod.h"
#include "core/log.h"
#include "core/unixsock.h"

struct pvbe_daemon pvbe;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pviod -c CONFIG [options]\n"
		"  -c, --config FILE     configuration (see docs/operations.md)\n"
		"      --check-config    parse and validate the configuration, then exit\n"
		"      --pidfile FILE    write the supervisor's PID here\n"
		"  -v, --verbose         debug logging\n"
		"  -h, --help            this text\n");
}

/* ---- setup shared by supervisor and worker ----------------------------- */

static int setup_guests(void)
{
	int i, j;
	unsigned int q, nvec;

	pvbe.nguests = pvbe.cfg.nguests;
	for (i = 0; i < pvbe.nguests; i++) {
		struct pvbe_guest *g = &pvbe.guests[i];
		struct pvbe_guest_cfg *gc = &pvbe.cfg.guest[i];

		memset(g, 0, sizeof(*g));
		g->cfg = gc;
		g->index = i;
		g->conn_fd = -1;
		g->ram_fd = -1;
		g->shm_fd = -1;
		g->listen_fd = -1;	/* remove_sockets() unlinks only ours */
		g->mem.fd = -1;
		g->hb_ms = pvbe.cfg.heartbeat_ms;
		strcpy(g->tag, gc->name);	/* names are < PVBE_NAME_MAX */
		g->ndev = gc->ndev;
		nvec = 0;
		for (j = 0; j < gc->ndev; j++) {
			struct pvbe_dev *d = &g->dev[j];

			d->g = g;
			d->cfg = &gc->dev[j];
			d->index = j;
			d->ops = pvbe_dev_ops_find(d->cfg->type);
			strcpy(d->tag, gc->name);
			strcat(d->tag, "/");
			strcat(d->tag, d->cfg->name);
			if (!d->ops) {
				pvbe_err(d->tag, "device type %s is not supported by this pviod",
					 pvio_dev_type_name(d->cfg->type));
				return -EINVAL;
			}
			if (d->ops->parse && d->ops->parse(d))
				return -EINVAL;
			d->config_len = d->ops->config_len;
			d->nqueues = d->cfg->queues;
			if (d->nqueues > PVIO_MAX_QUEUES) {
				pvbe_err(d->tag, "%u queues: at most %d", d->nqueues, PVIO_MAX_QUEUES);
				return -EINVAL;
			}
			nvec += d->nqueues;
			if (nvec + 1 > PVIO_MAX_VECTORS) {
				pvbe_err(g->tag, "%u queues in all: more than the %d interrupt vectors a guest can have",
					 nvec, PVIO_MAX_VECTORS - 1);
				return -EINVAL;
			}
			for (q = 0; q < d->nqueues; q++) {
				d->q[q].dev = d;
				d->q[q].index = q;
				d->q[q].sq_size = d->cfg->queue_size;
				d->q[q].cq_size = d->cfg->queue_size;
				pvbe_queue_init(&d->q[q]);
			}
			if (pvbe_dev_poll_parse(d))
				return -EINVAL;
		}
	}
	return 0;
}

/* ---- supervisor -------------------------------------------------------- */

/*
 * Messages the worker sends the supervisor over a SOCK_SEQPACKET pair, an
 * fd attached where noted.  The supervisor keeps its own copy of each fd.
 */
void pvbe_sup_send(int op, int guest, int fd, uint64_t arg)
{
	struct pvbe_sup_msg m = { .op = op, .guest = guest, .arg = arg };
	int ret = pvbe_send_fd(pvbe.worker_fd, &m, sizeof(m), fd);

	if (ret)
		pvbe_err("worker", "tell supervisor: %s", strerror(-ret));
}

static void sup_recv(void)
{
	struct pvbe_sup_msg m;
	struct pvbe_guest *g;
	ssize_t n;
	int fd;

	n = pvbe_recv_fd(pvbe.sup_fd, &m, sizeof(m), &fd, MSG_DONTWAIT);
	if (n <= 0)
		return;
	if (n != sizeof(m) || m.guest < 0 || m.guest >= pvbe.nguests) {
		if (fd >= 0)
			close(fd);
		return;
	}
	g = &pvbe.guests[m.guest];
	switch (m.op) {
	case PVBE_SUP_CONN:
		if (g->conn_fd >= 0)
			close(g->conn_fd);
		g->conn_fd = fd;
		g->client_id = (uint16_t)m.arg;
		fd = -1;
		break;
	case PVBE_SUP_RAM:
		if (g->ram_fd >= 0)
			close(g->ram_fd);
		g->ram_fd = fd;
		g->ram_size = m.arg;
		fd = -1;
		break;
	case PVBE_SUP_GONE:
		if (g->conn_fd >= 0)
			close(g->conn_fd);
		if (g->ram_fd >= 0)
			close(g->ram_fd);
		g->conn_fd = -1;
		g->ram_fd = -1;
		break;
	case PVBE_SUP_NEXT_ID:
		pvbe.next_client_id = (uint16_t)m.arg;
		break;
	}
	if (fd >= 0)
		close(fd);
}

static pid_t spawn_worker(sigset_t *oldmask, bool restart)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	/* Child: the worker.  Die with the supervisor. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	sigprocmask(SIG_SETMASK, oldmask, NULL);
	exit(pvbe_worker_main(restart) ? 1 : 0);
}

static int supervise(void)
{
	sigset_t mask, oldmask;
	struct pollfd pfd[2];
	time_t window_start = time(NULL);
	int restarts = 0, stopping = 0, sfd, sp[2];
	pid_t worker;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	/* sp[0]: supervisor end; sp[1]: worker end, inherited by each worker. */
	pvbe.sup_fd = sp[0];
	pvbe.worker_fd = sp[1];

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &oldmask);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0)
		return -errno;

	worker = spawn_worker(&oldmask, false);
	pvbe.worker_pid = worker;
	pvbe_info("supervisor", "worker %d started", (int)worker);
	pfd[0].fd = sfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = pvbe.sup_fd;
	pfd[1].events = POLLIN;
	for (;;) {
		struct signalfd_siginfo si;
		int status;
		pid_t p;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pfd[1].revents & POLLIN)
			sup_recv();
		if (!(pfd[0].revents & POLLIN))
			continue;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo != SIGCHLD) {
			pvbe_info("supervisor", "signal %u: stopping", si.ssi_signo);
			stopping = 1;
			if (worker > 0)
				kill(worker, SIGTERM);
			continue;
		}
		while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
			if (p != worker)
				continue;
			/* Take every fd message the dead worker sent first. */
			while (poll(&pfd[1], 1, 0) > 0 && (pfd[1].revents & POLLIN))
				sup_recv();
			if (stopping) {
				pvbe_info("supervisor", "worker exited, bye");
				return 0;
			}
			if (WIFSIGNALED(status))
				pvbe_err("supervisor", "worker %d killed by signal %d",
					 (int)p, WTERMSIG(status));
			else
				pvbe_err("supervisor", "worker %d exited with %d",
					 (int)p, WEXITSTATUS(status));
			if (time(NULL) - window_start > 60) {
				window_start = time(NULL);
				restarts = 0;
			}
			if (++restarts > 10) {
				pvbe_err("supervisor", "worker died 10 times within a minute; giving up");
				return -EIO;
			}
			worker = spawn_worker(&oldmask, true);
			pvbe.worker_pid = worker;
			pvbe_info("supervisor", "worker %d started (restart %d)",
				  (int)worker, restarts);
		}
	}
}

/*
 * Host resources of the device classes (a TAP, a disk): opened here, in the
 * supervisor, so every worker inherits them and a worker crash loses none.
 */
static int setup_devices(void)
{
	int i, j, ret;

	for (i = 0; i < pvbe.nguests; i++) {
		struct pvbe_guest *g = &pvbe.guests[i];

		for (j = 0; j < g->ndev; j++) {
			struct pvbe_dev *d = &g->dev[j];

			if (!d->ops->setup)
				continue;
			ret = d->ops->setup(d);
			if (ret)
				return ret;
			d->set_up = true;
		}
	}
	return 0;
}

static void uninit_devices(void)
{
	int i, j;

	for (i = pvbe.nguests - 1; i >= 0; i--) {
		struct pvbe_guest *g = &pvbe.guests[i];

		for (j = g->ndev - 1; j >= 0; j--) {
			struct pvbe_dev *d = &g->dev[j];

			if (d->set_up && d->ops->uninit)
				d->ops->uninit(d);
			d->set_up = false;
		}
	}
}

static int create_resources(void)
{
	int i, ret;

	for (i = 0; i < pvbe.nguests; i++) {
		struct pvbe_guest *g = &pvbe.guests[i];

		g->listen_fd = pvbe_ivshmem_listen(g->cfg->socket, g->tag);
		if (g->listen_fd < 0)
			return g->listen_fd;
		ret = pvbe_window_create(g);
		if (ret)
			return ret;
		pvbe_info(g->tag, "listening on %s", g->cfg->socket);
	}
	ret = setup_devices();
	if (ret)
		return ret;
	if (pvbe.cfg.control[0]) {
		pvbe.control_fd = pvbe_control_listen(pvbe.cfg.control);
		if (pvbe.control_fd < 0)
			return pvbe.control_fd;
	}
	return 0;
}

static void remove_sockets(void)
{
	int i;

	for (i = 0; i < pvbe.nguests; i++)
		if (pvbe.guests[i].listen_fd >= 0)
			unlink(pvbe.cfg.guest[i].socket);
	if (pvbe.control_fd >= 0)
		unlink(pvbe.cfg.control);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *pidfile = NULL;
	int check_only = 0, opt, ret;

	while ((opt = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'C':
			check_only = 1;
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 'v':
			pvbe_log_level = PVBE_LOG_DEBUG;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!config || optind != argc) {
		usage(stderr);
		return 2;
	}
	pvbe.control_fd = -1;
	pvbe.next_client_id = 1;
	if (pvbe_config_load(&pvbe.cfg, config))
		return 1;
	if (setup_guests())
		return 1;
	if (check_only) {
		printf("%s: OK, %d guest(s)\n", config, pvbe.nguests);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	ret = create_resources();
	if (ret) {
		uninit_devices();
		remove_sockets();
		return 1;
	}
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");

		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f)) {
			pvbe_err("supervisor", "pidfile %s: %s", pidfile, strerror(errno));
			uninit_devices();
			remove_sockets();
			return 1;
		}
	}
	ret = supervise();
	uninit_devices();
	remove_sockets();
	if (pidfile)
		unlink(pidfile);
	return ret ? 1 : 0;
}
