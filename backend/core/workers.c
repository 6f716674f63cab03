// SPDX-License-Identifier: GPL-2.0
/*
 * workers.c - the supervisor's side of its worker processes: one forked
 * per guest (worker.c runs in it), what it sends (untrusted: msg.h), its
 * log lines relayed under its guest's name, its death, and the wait
 * before a successor (the drain pipe: nothing of the dead worker may
 * still write guest RAM when the next one takes the window over).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fdstore.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/migrate.h"
#include "core/msg.h"
#include "core/pviod.h"
#include "core/sup.h"
#include "core/supervisor.h"

#define PVBE_RESTART_PERIOD_MS	60000	/* restart_limit deaths in this long: a hold as long */
#define PVBE_DEAD_WORKER_MSGS	256	/* read from a worker that died */

static struct pvbe_msg *rx;		/* one message from a worker */

int pvbe_workers_init(void)
{
	rx = malloc(PVBE_MSG_MAX);
	return rx ? 0 : -ENOMEM;
}

void pvbe_workers_exit(void)
{
	free(rx);
	rx = NULL;
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
			pvbe_conn_drop(g, "the worker dropped it: protocol error or bad setup");
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

void pvbe_worker_spawn(struct pvbe_guest *g)
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
		sigprocmask(SIG_SETMASK, &pvbe_sup.oldmask, NULL);
		forget_other_guests(g);
		/* A client held for an incoming migration is not this worker's yet. */
		if (g->mig == PVBE_MIG_IN)
			pvbe_worker_close_conn_fds(g);
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
	g->restart_at = 0;
	g->migrated = false;	/* the worker's to act on, once */
	g->drain_fd = dp[0];
	relay_close(g);		/* the last worker's, if it is still open */
	g->log_fd = lp[0];
	g->log_len = 0;
	if (fcntl(g->log_fd, F_SETFL, O_NONBLOCK) < 0 ||
	    pvbe_loop_add(g->log_fd, EPOLLIN, on_worker_log, g))
		pvbe_err(g->tag, "worker %d: cannot read its log", (int)pid);
	if (pvbe_loop_add(g->pair[0], EPOLLIN, on_worker_msg, g))
		pvbe_err(g->tag, "worker %d: cannot watch its messages", (int)pid);
	/* Its generation and drain pipe, in systemd's fd store before it acts. */
	pvbe_fdstore_sync();
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
bool pvbe_worker_drained(struct pvbe_guest *g)
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

void pvbe_worker_on_drained(int fd, uint32_t events, void *arg)
{
	struct pvbe_guest *g = arg;

	(void)fd;
	(void)events;
	if (!pvbe_worker_drained(g))
		return;
	if (g->mig == PVBE_MIG_OUT) {
		pvbe_migrate_check(g);
		return;
	}
	if (!g->drain_wait)
		return;
	g->drain_wait = false;
	pvbe_info(g->tag, "the last worker's I/O finished %llu ms after it died: a new worker takes over",
		  (unsigned long long)(pvbe_now_ms() - g->drain_since));
	if (!g->worker && !g->removing && !pvbe_sup.stopping && !pvbe_sup.upgrading)
		pvbe_worker_spawn(g);
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
void pvbe_worker_start(struct pvbe_guest *g)
{
	if (pvbe_worker_drained(g)) {
		g->drain_wait = false;
		pvbe_worker_spawn(g);
		return;
	}
	if (g->drain_wait)
		return;
	g->drain_wait = true;
	pvbe_dbg(g->tag, "the last worker's I/O is still in the kernel: a new worker once it has finished");
	if (pvbe_loop_add(g->drain_fd, EPOLLIN, pvbe_worker_on_drained, g))
		pvbe_err(g->tag, "cannot watch the last worker's I/O: a new worker on the next tick");
}

static void worker_died(struct pvbe_guest *g, int status)
{
	uint64_t now = pvbe_now_ms();
	int n, lvl;

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
	/* Asked for (a stop, an upgrade, a removal, a migration) or not. */
	lvl = pvbe_sup.stopping || pvbe_sup.upgrading || g->removing || g->mig == PVBE_MIG_OUT ?
	      PVBE_LOG_INFO : PVBE_LOG_ERR;
	if (WIFSIGNALED(status))
		pvbe_log(lvl, g->tag, "worker killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		pvbe_log(lvl, g->tag, "worker exited with %d", WEXITSTATUS(status));
	if (g->removing) {
		pvbe_guest_finish_remove(g);
		return;
	}
	if (pvbe_sup.stopping || pvbe_sup.upgrading)
		return;
	/* Migrating out: no worker until the client leaves or the migration is cancelled. */
	if (g->mig == PVBE_MIG_OUT || pvbe_migrate_worker_died(g)) {
		g->drain_since = now;
		pvbe_migrate_check(g);
		return;
	}
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
	pvbe_worker_start(g);
}

static struct pvbe_guest *guest_by_pid(pid_t pid)
{
	int i;

	for (i = 0; i < PVBE_MAX_GUESTS; i++)
		if (pvbe.guests[i] && pvbe.guests[i]->worker == pid)
			return pvbe.guests[i];
	return NULL;
}

void pvbe_workers_reap(void)
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
