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
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "core/handover.h"
#include "core/http.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/msg.h"
#include "core/pviod.h"
#include "core/supervisor.h"
#include "core/unixsock.h"
#include "transport/hostile.h"
#include "transport/ivshmem.h"

#define PVBE_RESTART_PERIOD_MS	60000	/* restart_limit deaths in this long: a hold as long */
#define PVBE_STOP_GRACE_MS	5000	/* SIGTERM, then SIGKILL */
#define PVBE_SUP_TICK_MS	100
#define PVBE_ACCEPTS_PER_SEC	100	/* a QEMU connects once per boot */
#define PVBE_DEAD_WORKER_MSGS	256	/* read from a worker that died */

static sigset_t sup_oldmask;
static bool stopping;
static uint64_t stop_deadline;
static bool upgrading;			/* pvbe_upgrade(): workers going, then exec */
static uint64_t upgrade_deadline;	/* ms: exec even if I/O still drains */
static bool listeners_paused;		/* accept() hit EMFILE */
static uint64_t accept_second;		/* ms: per-guest accept counts restart */
static struct pvbe_ratelimit accept_rl;
static struct pvbe_msg *rx;		/* one message from a worker */

/* ---- guests: creation and teardown --------------------------------------- */

static int dev_config(struct pvbe_guest *g, int j, unsigned int *nvec)
{
	struct pvbe_dev *d = &g->dev[j];
	unsigned int q;

	d->g = g;
	d->cfg = &g->cfg->dev[j];
	d->index = (unsigned int)j;
	d->ops = pvbe_dev_ops_find(d->cfg->type);
	d->persist = &g->persist->dev[j];
	snprintf(d->tag, sizeof(d->tag), "%s/%s", g->cfg->name, d->cfg->name);
	if (!d->ops) {
		pvbe_err(d->tag, "device type %s is not supported by this pviod",
			 pvio_dev_type_name(d->cfg->type));
		return -EINVAL;
	}
	if (pvbe_hostile_parse(d) || (d->ops->parse && d->ops->parse(d)))
		return -EINVAL;
	d->config_len = d->ops->config_len;
	d->nqueues = d->cfg->queues;
	if (d->nqueues > PVIO_MAX_QUEUES) {
		pvbe_err(d->tag, "%u queues: at most %d", d->nqueues, PVIO_MAX_QUEUES);
		return -EINVAL;
	}
	*nvec += d->nqueues;
	if (*nvec + 1 > PVIO_MAX_VECTORS) {
		pvbe_err(g->tag, "%u queues in all: more than the %d interrupt vectors a guest can have",
			 *nvec, PVIO_MAX_VECTORS - 1);
		return -EINVAL;
	}
	for (q = 0; q < d->nqueues; q++) {
		d->q[q].dev = d;
		d->q[q].index = q;
		d->q[q].sq_size = d->cfg->queue_size;
		d->q[q].cq_size = d->cfg->queue_size;
		pvbe_queue_init(&d->q[q]);
	}
	return pvbe_dev_poll_parse(d) ? -EINVAL : 0;
}

/*
 * A guest from its configuration: classes parse their keys, the layout is
 * computed.  Nothing is opened yet (--check-config stops here).  Takes
 * @gc, which pvbe_guest_free() frees.
 */
int pvbe_guest_new(struct pvbe_guest_cfg *gc, struct pvbe_guest **out)
{
	struct pvbe_guest *g = calloc(1, sizeof(*g));
	unsigned int nvec = 0, v;
	int j, ret;

	if (!g) {
		free(gc);
		return -ENOMEM;
	}
	g->cfg = gc;
	g->listen_fd = g->conn_fd = g->shm_fd = g->ram_fd = g->log_fd = -1;
	g->drain_fd = g->drain_w = -1;
	g->pair[0] = g->pair[1] = -1;
	g->mem.fd = -1;
	for (v = 0; v < PVIO_MAX_VECTORS; v++)
		g->be_efd[v] = g->guest_efd[v] = -1;
	g->hb_ms = pvbe.cfg.heartbeat_ms;
	g->generation = 1;	/* as if laid out once: the first client sees 2 */
	snprintf(g->tag, sizeof(g->tag), "%s", gc->name);
	g->persist = mmap(NULL, sizeof(*g->persist), PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g->persist == MAP_FAILED) {
		g->persist = NULL;
		pvbe_guest_free(g);
		return -ENOMEM;
	}
	g->ndev = gc->ndev;
	for (j = 0; j < g->ndev; j++) {
		ret = dev_config(g, j, &nvec);
		if (ret) {
			g->ndev = j + 1;	/* free what parse allocated */
			pvbe_guest_free(g);
			return ret;
		}
	}
	pvbe_window_size(g);
	if (g->nvectors > PVIO_MAX_VECTORS) {
		pvbe_err(g->tag, "needs %u interrupt vectors, at most %d", g->nvectors,
			 PVIO_MAX_VECTORS);
		pvbe_guest_free(g);
		return -EINVAL;
	}
	*out = g;
	return 0;
}

static void conn_close_fds(struct pvbe_guest *g)
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

/* Undo pvbe_guest_new() and guest_open(). */
void pvbe_guest_free(struct pvbe_guest *g)
{
	int j;

	for (j = g->ndev - 1; j >= 0; j--) {
		struct pvbe_dev *d = &g->dev[j];

		if (d->ops && d->ops->uninit)
			d->ops->uninit(d);
		pvbe_hostile_free(d);
		d->set_up = false;
	}
	conn_close_fds(g);
	if (g->listen_fd >= 0) {
		pvbe_loop_del(g->listen_fd);
		close(g->listen_fd);
		unlink(g->cfg->socket);
	}
	if (g->pair[0] >= 0) {
		pvbe_loop_del(g->pair[0]);
		close(g->pair[0]);
	}
	if (g->pair[1] >= 0)
		close(g->pair[1]);
	if (g->persist)
		munmap(g->persist, sizeof(*g->persist));
	if (g->log_fd >= 0)
		close(g->log_fd);
	if (g->drain_fd >= 0) {
		pvbe_loop_del(g->drain_fd);
		close(g->drain_fd);
	}
	free(g->cfg);
	free(g);
}

/* ---- messages from a worker ------------------------------------------------ */

static void send_ram(struct pvbe_guest *g)
{
	int fd, err = 0;

	if (g->conn_fd < 0 || !g->cfg->ram_path[0]) {
		err = EINVAL;
	} else if (g->ram_fd < 0) {
		g->ram_fd = open(g->cfg->ram_path, O_RDWR | O_CLOEXEC);
		if (g->ram_fd < 0)
			err = errno;
	}
	fd = g->ram_fd;
	if (pvbe_msg_send(g->pair[0], PVBE_MSG_RAM, (uint64_t)err, 0, 0, NULL, 0,
			  &fd, err ? 0 : 1) && pvbe_ratelimit(&g->sup_rl, g->tag))
		pvbe_warn(g->tag, "tell the worker about guest RAM: %s", strerror(errno));
}

static void conn_drop(struct pvbe_guest *g, const char *why);

/* One message from @g's worker; false when there is none (or it is gone). */
static bool worker_msg(struct pvbe_guest *g)
{
	int fds[PVBE_MSG_MAX_FDS];
	unsigned int nfds = 0, i;
	int r;

	r = pvbe_msg_recv(g->pair[0], rx, fds, &nfds);
	if (r == -EAGAIN || r == 0)
		return false;
	if (r < 0) {
		if (pvbe_ratelimit(&g->sup_rl, g->tag))
			pvbe_warn(g->tag, "malformed message from the worker: %s", strerror(-r));
		return true;
	}
	switch (rx->op) {
	case PVBE_MSG_RAM_OPEN:
		send_ram(g);
		break;
	case PVBE_MSG_RAM_OFFER:
		/*
		 * A frontend's own RAM, for a guest configured without a file;
		 * from the client attached now (b: its id), not an earlier one.
		 */
		if (nfds == 1 && g->conn_fd >= 0 && g->ram_fd < 0 &&
		    !g->cfg->ram_path[0] && rx->a && rx->b == g->client_id) {
			g->ram_fd = fds[0];
			g->ram_size = rx->a;
			nfds = 0;
		}
		break;
	case PVBE_MSG_CTL_REPLY:
		pvbe_control_reply(g, rx->a, rx->data);
		break;
	case PVBE_MSG_DROP:
		/* The worker's word against its own guest's client only. */
		if (g->conn_fd >= 0 && rx->a == g->client_id)
			conn_drop(g, "the worker dropped it: protocol error or bad setup");
		break;
	default:
		if (pvbe_ratelimit(&g->sup_rl, g->tag))
			pvbe_warn(g->tag, "unexpected message %u from the worker", rx->op);
		break;
	}
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	return true;
}

static void on_worker_msg(int fd, uint32_t events, void *arg)
{
	struct pvbe_guest *g = arg;
	int n;

	(void)fd;
	(void)events;
	/* A bounded batch: a flooding worker does not starve the others. */
	for (n = 0; n < 16 && worker_msg(g); n++)
		;
}

/* ---- the workers' logs --------------------------------------------------------- */

/* Is @tag this guest's own ("g1", "g1/net0")? */
static bool own_tag(const struct pvbe_guest *g, const char *tag)
{
	size_t n = strlen(g->cfg->name);

	return !strncmp(tag, g->cfg->name, n) && (tag[n] == '\0' || tag[n] == '/');
}

/*
 * One line from @g's worker.  Whatever the worker writes is its guest's:
 * a record naming another guest's tag is logged under this one, with the
 * tag it claimed; control characters become '?'; and no worker logs more
 * than PVBE_LOG_BUDGET lines in PVBE_LOG_WINDOW_MS.
 */
static void relay_line(struct pvbe_guest *g, char *line)
{
	char *tag = NULL, *msg = line, *p, quoted[PVBE_LOG_LINE_MAX + 80];
	uint64_t now = pvbe_now_ms();
	int level = PVBE_LOG_INFO;

	if (now - g->log_window >= PVBE_LOG_WINDOW_MS) {
		if (g->log_dropped)
			pvbe_warn(g->tag, "%u lines of worker %d's log suppressed", g->log_dropped,
				  (int)g->worker);
		g->log_window = now;
		g->log_lines = g->log_dropped = 0;
	}
	if (g->log_lines >= PVBE_LOG_BUDGET) {
		g->log_dropped++;
		return;
	}
	g->log_lines++;
	if (line[0] == PVBE_LOG_RECORD && line[1] >= '0' && line[1] <= '0' + PVBE_LOG_DEBUG &&
	    line[2] == '\t' && (p = strchr(line + 3, '\t'))) {
		level = line[1] - '0';
		tag = line + 3;
		*p = '\0';
		msg = p + 1;
	}
	for (p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (tag && !own_tag(g, tag)) {
		for (p = tag; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		snprintf(quoted, sizeof(quoted), "(claims tag '%.64s') %s", tag, msg);
		msg = quoted;
		tag = NULL;
	}
	if (level <= pvbe_log_level)
		pvbe_log_line((int)g->worker, level, tag ? tag : g->tag, msg);
}

/* Read what the worker wrote; false at its end (or an error). */
static bool relay_read(struct pvbe_guest *g)
{
	char *nl, *start;
	ssize_t n;

	n = read(g->log_fd, g->log_buf + g->log_len, sizeof(g->log_buf) - 1 - g->log_len);
	if (n <= 0)
		return n < 0 && errno == EAGAIN;
	g->log_len += (unsigned int)n;
	g->log_buf[g->log_len] = '\0';
	start = g->log_buf;
	while ((nl = memchr(start, '\n', g->log_len - (unsigned int)(start - g->log_buf)))) {
		*nl = '\0';
		relay_line(g, start);
		start = nl + 1;
	}
	g->log_len -= (unsigned int)(start - g->log_buf);
	memmove(g->log_buf, start, g->log_len);
	/* A line longer than the buffer: what there is, as a line. */
	if (g->log_len == sizeof(g->log_buf) - 1) {
		g->log_buf[g->log_len] = '\0';
		relay_line(g, g->log_buf);
		g->log_len = 0;
	}
	return true;
}

static void relay_close(struct pvbe_guest *g)
{
	if (g->log_fd < 0)
		return;
	if (g->log_len) {
		g->log_buf[g->log_len] = '\0';
		relay_line(g, g->log_buf);
		g->log_len = 0;
	}
	pvbe_loop_del(g->log_fd);
	close(g->log_fd);
	g->log_fd = -1;
}

static void on_worker_log(int fd, uint32_t events, void *arg)
{
	struct pvbe_guest *g = arg;
	int n;

	(void)fd;
	(void)events;
	/* A bounded batch: a flooding worker does not starve the others. */
	for (n = 0; n < 16; n++)
		if (!relay_read(g)) {
			relay_close(g);
			return;
		}
}

/* ---- workers ------------------------------------------------------------------ */

static int send_conn(struct pvbe_guest *g)
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
	return pvbe_msg_send(g->pair[0], PVBE_MSG_CONN,
			     (uint64_t)g->client_id << 16 | g->nvectors, flags,
			     g->generation, NULL, 0, fds, n);
}

/*
 * In a new worker: unmap every other guest's persist page, the only
 * memory the supervisor shares with its workers.  (Their fds go in
 * pvbe_worker_main(); what else the fork copied is private memory.)
 */
static void forget_other_guests(struct pvbe_guest *self)
{
	int i;

	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		struct pvbe_guest *g = pvbe.guests[i];

		if (g && g != self && g->persist) {
			munmap(g->persist, sizeof(*g->persist));
			g->persist = NULL;
		}
	}
}

/* In a new worker: stdin and stdout /dev/null, stderr the log pipe. */
static void worker_stdio(int log_w)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(log_w, 2) < 0)
		_exit(1);
	close(null);
	close(log_w);
	pvbe_log_to_supervisor = true;
}

static void worker_spawn(struct pvbe_guest *g)
{
	pid_t pid, sup_pid = getpid();
	int sp[2], lp[2], dp[2];

	if (pipe2(lp, O_CLOEXEC) < 0)
		goto err;
	if (pipe2(dp, O_CLOEXEC) < 0)
		goto err_lp;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0)
		goto err_dp;
	g->pair[0] = sp[0];
	g->pair[1] = sp[1];
	pid = fork();
	if (pid < 0) {
		close(sp[0]);
		close(sp[1]);
		g->pair[0] = g->pair[1] = -1;
		goto err_dp;
	}
	if (pid == 0) {
		/*
		 * The worker.  It dies with the supervisor (the sandbox sets
		 * that again after the uid drop, which clears it), and is a
		 * session of its own: no process group shared with the
		 * supervisor or other workers for a signal to reach.
		 */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != sup_pid)
			_exit(1);
		unsetenv("NOTIFY_SOCKET");	/* systemd hears the supervisor only */
		setsid();
		worker_stdio(lp[1]);
		sigprocmask(SIG_SETMASK, &sup_oldmask, NULL);
		forget_other_guests(g);
		pvbe.self = g;
		pvbe.sup_fd = sp[1];
		pvbe.sup_pid = sup_pid;
		g->drain_w = dp[1];
		/* _exit: no atexit handlers (LeakSanitizer cannot run sandboxed). */
		_exit(pvbe_worker_main(g) ? 1 : 0);
	}
	close(sp[1]);
	close(lp[1]);
	close(dp[1]);
	g->pair[1] = -1;
	g->worker = pid;
	g->drain_fd = dp[0];
	relay_close(g);		/* the last worker's, if it is still open */
	g->log_fd = lp[0];
	g->log_len = 0;
	if (fcntl(g->log_fd, F_SETFL, O_NONBLOCK) < 0 ||
	    pvbe_loop_add(g->log_fd, EPOLLIN, on_worker_log, g))
		pvbe_err(g->tag, "worker %d: cannot read its log", (int)pid);
	if (pvbe_loop_add(g->pair[0], EPOLLIN, on_worker_msg, g))
		pvbe_err(g->tag, "worker %d: cannot watch its messages", (int)pid);
	if (g->restarts)
		pvbe_info(g->tag, "worker %d started (restart %u%s)", (int)pid, g->restarts,
			  g->conn_fd >= 0 ? ", takes the window over" : "");
	else
		pvbe_info(g->tag, "worker %d started", (int)pid);
	return;

err_dp:
	close(dp[0]);
	close(dp[1]);
err_lp:
	close(lp[0]);
	close(lp[1]);
err:
	pvbe_err(g->tag, "worker: %s", strerror(errno));
	g->restart_at = pvbe_now_ms() + 1000;
}

/* Has the last worker's drain pipe hung up?  Then it is closed. */
static bool drained(struct pvbe_guest *g)
{
	struct pollfd p = { .fd = g->drain_fd, .events = POLLIN };

	if (g->drain_fd < 0)
		return true;
	if (poll(&p, 1, 0) != 1 || !(p.revents & (POLLHUP | POLLERR)))
		return false;
	pvbe_loop_del(g->drain_fd);
	close(g->drain_fd);
	g->drain_fd = -1;
	return true;
}

static void on_drained(int fd, uint32_t events, void *arg)
{
	struct pvbe_guest *g = arg;

	(void)fd;
	(void)events;
	if (!drained(g))
		return;
	if (!g->drain_wait)
		return;
	g->drain_wait = false;
	pvbe_info(g->tag, "the last worker's I/O finished %llu ms after it died: a new worker takes over",
		  (unsigned long long)(pvbe_now_ms() - g->drain_since));
	if (!g->worker && !g->removing && !stopping && !upgrading)
		worker_spawn(g);
}

/*
 * A new worker for @g, once nothing of the last one can write guest RAM.
 * A killed worker's reads with O_DIRECT are in the disk's hands and land
 * when the disk is done, after the process is gone: a successor that
 * took the window over at once would let the guest reset and reuse those
 * pages, and the late data would land in whatever the guest put there
 * (the fault campaign caught a block read back with another block's
 * contents).  So the guest waits -- its reset is not acknowledged --
 * until the kernel has freed the dead worker's rings.
 */
static void worker_start(struct pvbe_guest *g)
{
	if (drained(g)) {
		worker_spawn(g);
		return;
	}
	if (g->drain_wait)
		return;
	g->drain_wait = true;
	pvbe_dbg(g->tag, "the last worker's I/O is still in the kernel: a new worker once it has finished");
	if (pvbe_loop_add(g->drain_fd, EPOLLIN, on_drained, g))
		pvbe_err(g->tag, "cannot watch the last worker's I/O: a new worker on the next tick");
}

static void guest_finish_remove(struct pvbe_guest *g);

static void worker_died(struct pvbe_guest *g, int status)
{
	uint64_t now = pvbe_now_ms();
	int n;

	/*
	 * Take what the dead worker sent first (a RAM offer), a bounded
	 * number: a worker could have handed its end to someone who keeps
	 * writing.
	 */
	for (n = 0; n < PVBE_DEAD_WORKER_MSGS && worker_msg(g); n++)
		;
	/* Its last words (a sanitizer report) before the news of its death. */
	for (n = 0; n < 64 && g->log_fd >= 0 && relay_read(g); n++)
		;
	relay_close(g);
	pvbe_loop_del(g->pair[0]);
	close(g->pair[0]);
	g->pair[0] = -1;
	g->worker = 0;
	pvbe_control_guest_gone(g);
	if (WIFSIGNALED(status))
		pvbe_log(stopping || g->removing ? PVBE_LOG_INFO : PVBE_LOG_ERR, g->tag,
			 "worker killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		pvbe_log(stopping || g->removing ? PVBE_LOG_INFO : PVBE_LOG_ERR, g->tag,
			 "worker exited with %d", WEXITSTATUS(status));
	if (g->removing) {
		guest_finish_remove(g);
		return;
	}
	if (stopping || upgrading)
		return;
	if (now - g->restart_period > PVBE_RESTART_PERIOD_MS) {
		g->restart_period = now;
		g->restarts = 0;
	}
	if (++g->restarts >= pvbe.cfg.restart_limit) {
		pvbe_err(g->tag, "worker died %u times within a minute: no worker for this guest for %d s",
			 g->restarts, PVBE_RESTART_PERIOD_MS / 1000);
		g->restart_at = now + PVBE_RESTART_PERIOD_MS;
		g->restarts = 0;
		g->restart_period = g->restart_at;
		return;
	}
	/* A new generation: the guest sees its setup is void. */
	if (g->conn_fd >= 0)
		g->generation++;
	g->drain_since = now;
	worker_start(g);
}

static struct pvbe_guest *guest_by_pid(pid_t pid)
{
	int i;

	for (i = 0; i < PVBE_MAX_GUESTS; i++)
		if (pvbe.guests[i] && pvbe.guests[i]->worker == pid)
			return pvbe.guests[i];
	return NULL;
}

static void reap_children(void)
{
	struct pvbe_guest *g;
	int status;
	pid_t p;

	while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
		g = guest_by_pid(p);
		if (g)
			worker_died(g, status);
	}
}

/* ---- the client connection --------------------------------------------------- */

/* The client left (or must go): its fds close, its worker is told. */
static void conn_drop(struct pvbe_guest *g, const char *why)
{
	if (g->conn_fd < 0)
		return;
	pvbe_info(g->tag, "peer %u gone (%s)", g->client_id, why);
	conn_close_fds(g);
	/* A worker that cannot be told is replaced; the next starts clean. */
	if (g->worker && g->pair[0] >= 0 &&
	    pvbe_msg_send(g->pair[0], PVBE_MSG_GONE, 0, 0, 0, NULL, 0, NULL, 0)) {
		pvbe_warn(g->tag, "tell worker %d the client left: %s; replacing the worker",
			  (int)g->worker, strerror(errno));
		kill(g->worker, SIGKILL);
	}
}

static void on_conn(int fd, uint32_t events, void *arg)
{
	(void)fd;
	/* Registered for hang-ups only: what the client sends is the worker's. */
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		conn_drop(arg, events & EPOLLERR ? "error" : "closed");
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

static void on_accept(int lfd, uint32_t events, void *arg)
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
			conn_drop(g, "closed");
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
	g->client_id = pvbe.next_client_id++;
	if (pvbe.next_client_id == 0)
		pvbe.next_client_id = 1;
	g->generation++;
	ret = conn_resources(g);
	if (!ret)
		ret = pvbe_ivshmem_handshake(g);
	if (!ret)
		ret = pvbe_loop_add(fd, EPOLLRDHUP, on_conn, g);
	if (ret) {
		pvbe_warn(g->tag, "client dropped: %s", strerror(-ret));
		conn_close_fds(g);
		return;
	}
	/* QEMU makes the RAM file after connecting: the worker asks later. */
	if (g->cfg->ram_path[0])
		g->ram_fd = open(g->cfg->ram_path, O_RDWR | O_CLOEXEC);
	pvbe_info(g->tag, "peer %u connected, generation %u", g->client_id, g->generation);
	/*
	 * A worker that cannot be told (gone, not yet reaped; or not
	 * reading its messages) is replaced, and the next one takes the
	 * connection over: QEMU keeps its connection either way.  No
	 * worker (on hold): the next one takes it over too.
	 */
	if (g->worker && send_conn(g)) {
		pvbe_warn(g->tag, "hand the client to worker %d: %s; replacing the worker",
			  (int)g->worker, strerror(errno));
		kill(g->worker, SIGKILL);
	}
}

static void pause_listeners(void)
{
	int i;

	if (listeners_paused)
		return;
	for (i = 0; i < PVBE_MAX_GUESTS; i++)
		if (pvbe.guests[i] && pvbe.guests[i]->listen_fd >= 0)
			pvbe_loop_del(pvbe.guests[i]->listen_fd);
	if (pvbe.control_fd >= 0)
		pvbe_loop_del(pvbe.control_fd);
	listeners_paused = true;
}

static void resume_listeners(void)
{
	int i;

	if (!listeners_paused || upgrading)
		return;
	listeners_paused = false;
	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		struct pvbe_guest *g = pvbe.guests[i];

		if (g && g->listen_fd >= 0 && !g->removing && !g->listen_paused)
			pvbe_loop_add(g->listen_fd, EPOLLIN, on_accept, g);
	}
	if (pvbe.control_fd >= 0)
		pvbe_loop_add(pvbe.control_fd, EPOLLIN, pvbe_control_accept, NULL);
}

/* ---- guests at run time ------------------------------------------------------ */

static int free_slot(void)
{
	int i;

	for (i = 0; i < PVBE_MAX_GUESTS; i++)
		if (!pvbe.guests[i])
			return i;
	return -1;
}

struct pvbe_guest *pvbe_guest_find(const char *name)
{
	int i;

	for (i = 0; i < PVBE_MAX_GUESTS; i++)
		if (pvbe.guests[i] && !strcmp(pvbe.guests[i]->cfg->name, name))
			return pvbe.guests[i];
	return NULL;
}

/*
 * Is a host resource of @g's devices (a TAP, an image) held by another
 * guest?  Two guests on one TAP would share its traffic; on one image
 * they would write under each other.  Read-only images may be shared.
 */
static int claims_conflict(struct pvbe_guest *g)
{
	char mine[160], theirs[160];
	bool my_shared, their_shared;
	int i, j, k;

	for (j = 0; j < g->ndev; j++) {
		struct pvbe_dev *d = &g->dev[j];

		if (!d->ops->claim || !d->ops->claim(d, mine, sizeof(mine), &my_shared))
			continue;
		for (i = 0; i < PVBE_MAX_GUESTS; i++) {
			struct pvbe_guest *o = pvbe.guests[i];

			if (!o || o == g)
				continue;
			for (k = 0; k < o->ndev; k++) {
				struct pvbe_dev *od = &o->dev[k];

				if (od->ops != d->ops || !od->ops->claim || !od->set_up ||
				    !od->ops->claim(od, theirs, sizeof(theirs), &their_shared) ||
				    strcmp(mine, theirs) || (my_shared && their_shared))
					continue;
				pvbe_err(d->tag, "%s is %s's already%s", mine, od->tag,
					 my_shared || their_shared ? " (shared only if read-only for both)" : "");
				return -EBUSY;
			}
		}
	}
	return 0;
}

/* Open what the guest needs on the host and start its worker. */
static int guest_open(struct pvbe_guest *g)
{
	int j, ret;

	g->listen_fd = pvbe_handover_listen_fd(g);
	if (g->listen_fd < 0)
		g->listen_fd = pvbe_ivshmem_listen(g->cfg->socket, g->tag);
	if (g->listen_fd < 0) {
		ret = g->listen_fd;
		g->listen_fd = -1;
		return ret;
	}
	/* Before setup: attaching to another guest's TAP would take its traffic at once. */
	ret = claims_conflict(g);
	if (ret)
		return ret;
	for (j = 0; j < g->ndev; j++) {
		struct pvbe_dev *d = &g->dev[j];

		if (!d->ops->setup)
			continue;
		ret = d->ops->setup(d);
		if (ret)
			return ret;
		d->set_up = true;
	}
	if (!listeners_paused) {
		ret = pvbe_loop_add(g->listen_fd, EPOLLIN, on_accept, g);
		if (ret)
			return ret;
	}
	pvbe_info(g->tag, "listening on %s; window %" PRIu64 " bytes, %u vectors (QEMU: vectors=%u or more)",
		  g->cfg->socket, g->win_size, g->nvectors, g->nvectors);
	/* After an upgrade: the client the last pviod served, taken over. */
	if (pvbe_handover_adopt(g) && pvbe_loop_add(g->conn_fd, EPOLLRDHUP, on_conn, g)) {
		pvbe_err(g->tag, "upgrade: cannot watch the adopted client: dropped");
		conn_close_fds(g);
	}
	worker_spawn(g);
	return 0;
}

/*
 * Add the guests of @cfg (taking their configurations).  Each is checked
 * against the guests there are, then set up; the first error stops it,
 * names the guest and is kept in @err.  Returns how many were added, or
 * -errno.
 */
int pvbe_guests_add(struct pvbe_cfg *cfg, const char *source, char *err, size_t len)
{
	int i, k, slot, ret = 0, added = 0;

	for (i = 0; i < cfg->nguests; i++) {
		struct pvbe_guest_cfg *gc = cfg->guest[i];
		struct pvbe_guest *g;

		cfg->guest[i] = NULL;
		if (ret) {
			free(gc);	/* the first error stops it */
			continue;
		}
		if (pvbe_guest_find(gc->name)) {
			snprintf(err, len, "guest %s exists already", gc->name);
			ret = -EEXIST;
		}
		for (k = 0; !ret && k < PVBE_MAX_GUESTS; k++) {
			if (!pvbe.guests[k])
				continue;
			if (!strcmp(pvbe.guests[k]->cfg->socket, gc->socket)) {
				snprintf(err, len, "guest %s: socket %s is guest %s's",
					 gc->name, gc->socket, pvbe.guests[k]->cfg->name);
				ret = -EEXIST;
			} else if (gc->ram_path[0] &&
				   !strcmp(pvbe.guests[k]->cfg->ram_path, gc->ram_path)) {
				snprintf(err, len, "guest %s: RAM file %s is guest %s's",
					 gc->name, gc->ram_path, pvbe.guests[k]->cfg->name);
				ret = -EEXIST;
			}
		}
		slot = free_slot();
		if (!ret && slot < 0) {
			snprintf(err, len, "guest %s: already %d guests", gc->name, PVBE_MAX_GUESTS);
			ret = -ENOSPC;
		}
		if (ret) {
			free(gc);
			continue;
		}
		pvbe_log_last_err[0] = '\0';
		ret = pvbe_guest_new(gc, &g);
		if (!ret) {
			snprintf(g->source, sizeof(g->source), "%s", source ? source : "");
			g->index = (unsigned int)slot;
			pvbe.guests[slot] = g;
			ret = guest_open(g);
			if (ret) {
				pvbe.guests[slot] = NULL;
				pvbe_guest_free(g);
			}
		}
		if (ret) {
			snprintf(err, len, "%s", pvbe_log_last_err[0] ? pvbe_log_last_err :
				 strerror(-ret));
			continue;
		}
		added++;
		pvbe_info(g->tag, "guest added");
	}
	pvbe_config_free(cfg);
	return ret ? ret : added;
}

/* Stop the guest's worker; the guest goes once it has exited. */
void pvbe_guest_remove(struct pvbe_guest *g, struct pvbe_guest_cfg *replacement)
{
	if (g->removing)
		return;
	g->removing = true;
	g->replacement = replacement;
	pvbe_info(g->tag, "removing the guest");
	if (g->listen_fd >= 0) {
		pvbe_loop_del(g->listen_fd);
		close(g->listen_fd);
		g->listen_fd = -1;
		unlink(g->cfg->socket);
	}
	conn_drop(g, "guest removed");
	if (g->worker) {
		kill(g->worker, SIGTERM);
		g->stop_by = pvbe_now_ms() + PVBE_STOP_GRACE_MS;
	} else {
		guest_finish_remove(g);
	}
}

static void guest_finish_remove(struct pvbe_guest *g)
{
	struct pvbe_guest_cfg *rep = g->replacement;
	struct pvbe_cfg one;
	char err[256];

	pvbe.guests[g->index] = NULL;
	pvbe_info(g->tag, "guest removed");
	pvbe_control_guest_removed(g);
	pvbe_guest_free(g);
	if (rep) {
		memset(&one, 0, sizeof(one));
		one.guest[0] = rep;
		one.nguests = 1;
		if (pvbe_guests_add(&one, NULL, err, sizeof(err)) < 0)
			pvbe_err("reload", "%s", err);
	}
}

/*
 * Reload the configuration file: guests that are new are added, guests
 * that are gone removed, a guest whose section changed is replaced when
 * it has no client (with one, the change waits, and the error says so).
 */
int pvbe_reload(char *err, size_t len)
{
	struct pvbe_cfg cfg;
	int i, k, nerr = 0;

	err[0] = '\0';
	if (pvbe_config_load(&cfg, pvbe.config_path, false)) {
		snprintf(err, len, "%s", pvbe_config_error());
		return -EINVAL;
	}
	if (strcmp(cfg.control, pvbe.cfg.control))
		pvbe_warn("reload", "control socket path changed: takes effect at the next start");
	if (strcmp(cfg.metrics, pvbe.cfg.metrics))
		pvbe_warn("reload", "metrics address changed: takes effect at the next start");
	pvbe.cfg.heartbeat_ms = cfg.heartbeat_ms;
	pvbe.cfg.poll_idle_us = cfg.poll_idle_us;
	/*
	 * Gone from the file: remove.  A guest added from a file of its own
	 * (guest add FILE: a libvirt domain) is not the configuration's: it
	 * stays until it is removed; named in the file, it becomes the file's.
	 */
	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		struct pvbe_guest *g = pvbe.guests[i];

		if (!g || g->removing)
			continue;
		for (k = 0; g->source[0] && k < cfg.nguests; k++)
			if (!strcmp(cfg.guest[k]->name, g->cfg->name))
				g->source[0] = '\0';
		if (g->source[0])
			continue;
		for (k = 0; k < cfg.nguests; k++)
			if (!strcmp(cfg.guest[k]->name, g->cfg->name))
				break;
		if (k == cfg.nguests)
			pvbe_guest_remove(g, NULL);
	}
	/* Changed: replace, or say why not; unchanged: leave alone. */
	for (k = 0; k < cfg.nguests; k++) {
		struct pvbe_guest *g = pvbe_guest_find(cfg.guest[k]->name);
		const char *key;

		if (!g)
			continue;
		key = g->removing ? NULL : pvbe_guest_cfg_diff(g->cfg, cfg.guest[k]);
		if (key && g->conn_fd >= 0) {
			pvbe_err(g->tag, "reload: key '%s' changed while a client is connected: not applied (remove the guest or stop its VM first)",
				 key);
			if (!nerr++)
				snprintf(err, len, "guest %s: key '%s' changed while a client is connected: not applied",
					 g->cfg->name, key);
		} else if (key) {
			pvbe_info(g->tag, "reload: key '%s' changed: replacing the guest", key);
			pvbe_guest_remove(g, cfg.guest[k]);
			cfg.guest[k] = NULL;
			continue;
		}
		free(cfg.guest[k]);
		cfg.guest[k] = NULL;
	}
	/* New: add (compacting the list to what is left). */
	for (i = 0, k = 0; k < cfg.nguests; k++)
		if (cfg.guest[k])
			cfg.guest[i++] = cfg.guest[k];
	cfg.nguests = i;
	if (i) {
		char aerr[256] = "";

		if (pvbe_guests_add(&cfg, NULL, aerr, sizeof(aerr)) < 0) {
			if (!nerr++)
				snprintf(err, len, "%s", aerr);
		}
	} else {
		pvbe_config_free(&cfg);
	}
	return nerr ? -EINVAL : 0;
}

/* ---- signals, tick, the loop ---------------------------------------------------- */

static void stop_all(void)
{
	int i;

	if (stopping)
		return;
	stopping = true;
	stop_deadline = pvbe_now_ms() + PVBE_STOP_GRACE_MS;
	for (i = 0; i < PVBE_MAX_GUESTS; i++)
		if (pvbe.guests[i] && pvbe.guests[i]->worker)
			kill(pvbe.guests[i]->worker, SIGTERM);
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
		sigprocmask(SIG_SETMASK, &sup_oldmask, NULL);
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

	if (stopping || upgrading) {
		snprintf(err, len, "pviod is %s already", stopping ? "stopping" : "upgrading");
		return -EBUSY;
	}
	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		if (pvbe.guests[i] && pvbe.guests[i]->removing) {
			snprintf(err, len, "guest %s is being removed: try again",
				 pvbe.guests[i]->cfg->name);
			return -EBUSY;
		}
	}
	ret = check_new(err, len);
	if (ret)
		return ret;
	upgrading = true;
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

/* From the tick: exec once the workers are gone and drained. */
static void upgrade_step(uint64_t now)
{
	char err[320];
	int i, busy = 0;

	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		struct pvbe_guest *g = pvbe.guests[i];

		if (g && (g->worker || !drained(g)))
			busy++;
	}
	if (busy && now < upgrade_deadline)
		return;
	if (busy)
		pvbe_warn("supervisor", "upgrade: %d guest(s) still have I/O in the kernel after %d ms: going on",
			  busy, PVBE_STOP_GRACE_MS);
	if (!pvbe_handover_exec(err, sizeof(err)))
		return;
	/* Still the old pviod: serve on, each guest as after a worker crash. */
	pvbe_err("supervisor", "upgrade failed: %s; serving on", err);
	upgrading = false;
	resume_listeners();
	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		struct pvbe_guest *g = pvbe.guests[i];

		if (!g || g->worker)
			continue;
		if (g->conn_fd >= 0)
			g->generation++;
		worker_start(g);
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
		reap_children();
		break;
	case SIGUSR2:
		pvbe_info("supervisor", "SIGUSR2: upgrading in place");
		if (pvbe_upgrade(err, sizeof(err)))
			pvbe_err("supervisor", "upgrade: %s", err);
		break;
	case SIGHUP:
		if (upgrading)
			break;	/* the new pviod reads the file anyway */
		pvbe_info("supervisor", "SIGHUP: reloading %s", pvbe.config_path);
		sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration");
		if (pvbe_reload(err, sizeof(err)))
			pvbe_err("reload", "%s", err);
		notify_ready();
		break;
	default:
		pvbe_info("supervisor", "signal %u: stopping", si.ssi_signo);
		upgrading = false;
		sd_notify(0, "STOPPING=1\nSTATUS=stopping the workers");
		stop_all();
		break;
	}
	if (stopping && !workers_left())
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
	if (now - accept_second >= 1000) {
		accept_second = now;
		for (i = 0; i < PVBE_MAX_GUESTS; i++) {
			struct pvbe_guest *g = pvbe.guests[i];

			if (!g)
				continue;
			g->accepts = 0;
			if (g->listen_paused && g->listen_fd >= 0 && !g->removing &&
			    !listeners_paused)
				pvbe_loop_add(g->listen_fd, EPOLLIN, on_accept, g);
			g->listen_paused = false;
		}
	}
	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		struct pvbe_guest *g = pvbe.guests[i];

		if (!g)
			continue;
		/* A worker that ignores SIGTERM (stopped, stuck) gets SIGKILL. */
		if (g->worker && ((g->removing && now > g->stop_by) ||
				  (stopping && now > stop_deadline)))
			kill(g->worker, SIGKILL);
		if (!g->worker && !g->removing && !stopping && !upgrading && g->restart_at &&
		    now >= g->restart_at) {
			g->restart_at = 0;
			if (g->conn_fd >= 0)
				g->generation++;
			worker_start(g);
		}
		/* Watched, but the loop could not add it: look here. */
		if (g->drain_wait && g->drain_fd >= 0)
			on_drained(g->drain_fd, 0, g);
	}
	if (upgrading)
		upgrade_step(now);
	if (stopping && !workers_left())
		pvbe_loop_stop();
}

/*
 * After an upgrade: the guests the last pviod had added from files of
 * their own (guest add FILE), added again from those files, those guests
 * only.  A file that is gone or now wrong loses its guests, with the
 * reason in the log.
 */
static void readd_guests(void)
{
	const char *file, *name;
	struct pvbe_cfg cfg;
	char err[320];
	int i, k;

	for (i = 0; (file = pvbe_handover_extra_file(i, &name)); i++) {
		if (!file[0] || pvbe_guest_find(name))
			continue;
		if (pvbe_config_load(&cfg, file, true)) {
			pvbe_err(name, "upgrade: not added again: %s", pvbe_config_error());
			continue;
		}
		for (k = 0; k < cfg.nguests;) {
			if (!strcmp(cfg.guest[k]->name, name)) {
				k++;
				continue;
			}
			free(cfg.guest[k]);
			cfg.guest[k] = cfg.guest[--cfg.nguests];
			cfg.guest[cfg.nguests] = NULL;
		}
		if (!cfg.nguests) {
			pvbe_err(name, "upgrade: not added again: %s has no [guest %s] now", file, name);
			pvbe_config_free(&cfg);
			continue;
		}
		if (pvbe_guests_add(&cfg, file, err, sizeof(err)) < 0)
			pvbe_err(name, "upgrade: not added again: %s", err);
	}
}

/* Workers run as this user when pviod runs as root. */
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

	rx = malloc(PVBE_MSG_MAX);
	if (!rx)
		return -ENOMEM;
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
	sigprocmask(SIG_BLOCK, &mask, &sup_oldmask);
	if (pvbe.upgrades) {
		sigdelset(&sup_oldmask, SIGCHLD);
		sigdelset(&sup_oldmask, SIGTERM);
		sigdelset(&sup_oldmask, SIGINT);
		sigdelset(&sup_oldmask, SIGHUP);
		sigdelset(&sup_oldmask, SIGUSR2);
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
		ret = guest_open(pvbe.guests[i]);
		if (ret)
			return ret;
	}
	readd_guests();
	pvbe_handover_finish();
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
	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		if (!pvbe.guests[i])
			continue;
		pvbe_guest_free(pvbe.guests[i]);
		pvbe.guests[i] = NULL;
	}
	close(sfd);
	close(tfd);
	free(rx);
	return ret;
}
