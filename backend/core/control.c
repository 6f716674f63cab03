// SPDX-License-Identifier: GPL-2.0
/*
 * control.c - pviod's control socket.  A client connects, sends one request
 * line, reads one JSON object line back, and the connection closes.  Only
 * root or pviod's own user may connect (socket mode 0600 and SO_PEERCRED).
 * The protocol is in docs/operations.md; pvioctl is its client.
 *
 * The supervisor serves the socket.  What concerns a guest's devices is
 * answered by that guest's worker: the supervisor forwards the request
 * (CTL), waits for the answer (CTL_REPLY) at most a second, parses it as
 * JSON -- a worker may be its guest's by now, so its answer is checked,
 * never pasted -- and sends it on.  A stalled worker gives a timeout, not
 * a stalled control socket.
 *
 * Requests (supervisor):
 *   list                       guests, their workers, devices and states
 *   metrics                    list with every device's counters in full
 *                              (core/metrics.c renders it for Prometheus)
 *   workers                    guests and their worker PIDs only
 *   memory-policy              the host-wide memory policy's last round
 *                              (core/hostmem.h)
 *   guest add FILE             add the guests of a guest file
 *   guest remove GUEST         stop its worker, release its resources
 *   reload                     re-read the configuration (as SIGHUP)
 *   upgrade                    replace pviod in place (as SIGUSR2,
 *                              core/handover.h)
 *   migrate-out GUEST          live migration, the source: pause the guest's
 *                              I/O; answered once paused, with the state
 *   migrate-in GUEST           the destination: hold the next client
 *   migrate-finish GUEST STATE the destination: take the migrated window
 *                              over with the source's state
 *   migrate-cancel GUEST       either side: back to normal (core/migrate.h)
 *   migrate-track GUEST on|off the source: the guest logs the pages it reaps
 *                              (its worker answers whether it does)
 * Requests for one device (its guest's worker; net-link's carrier is set
 * by the supervisor first, the class's sup_control):
 *   status GUEST DEVICE        one device with per-queue counters
 *   net-link GUEST DEVICE up|down
 *   blk-resize GUEST DEVICE [SIZE]
 *   balloon GUEST DEVICE status | set SIZE | policy auto|host|off |
 *                              headroom SIZE | host-target SIZE
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/control.h"
#include "core/fdstore.h"
#include "core/hostmem.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/migrate.h"
#include "core/msg.h"
#include "core/pviod.h"
#include "core/sandbox.h"
#include "core/supervisor.h"
#include "core/unixsock.h"

#define PVBE_CTL_PENDING	64
#define PVBE_CTL_TIMEOUT_MS	1000
#define PVBE_CTL_MIGRATE_MS	30000	/* migrate-out: the last worker's I/O */
#define PVBE_CTL_LINE		4096	/* migrate-finish carries the state */

/* ---- request words ------------------------------------------------------------ */

/* Names: letters, digits, '-' and '_'. */
static bool valid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return false;
	return true;
}

/* Paths: names, '/' and '.', no "..". */
static bool valid_path(const char *s)
{
	if (!*s || strstr(s, ".."))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-_/.", *s))
			return false;
	return true;
}

int pvbe_ctl_split(char *line, char **w, int max)
{
	int n = 0;
	char *save = NULL, *t;

	for (t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == max)
			return -1;
		w[n++] = t;
	}
	return n;
}

struct json_object *pvbe_ctl_error(const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}

/* ---- the supervisor: clients and pending requests ------------------------------- */

struct ctl_req {
	bool used;
	int fd;				/* the client */
	uint64_t id;
	uint64_t deadline;		/* ms: for the request, then for the answers */
	bool reading;			/* no request yet */
	unsigned int waiting;		/* worker answers still to come */
	struct json_object *resp;	/* what goes back */
	/* list: one entry per guest, filled as workers answer */
	struct json_object *guests[PVBE_MAX_GUESTS];
	struct pvbe_guest *for_guest;	/* a device request: its guest */
	struct pvbe_guest *removing;	/* guest remove: done when it is gone */
	struct pvbe_guest *pausing;	/* migrate-out: done when it is paused */
	bool track;			/* migrate-track on: the worker may refuse */
	/* pviod's own request (fd -1): the answer goes to done(), not a client */
	void (*done)(struct json_object *resp, void *arg);
	void *done_arg;
};

static struct ctl_req reqs[PVBE_CTL_PENDING];
static uint64_t next_id = 1;

static void req_reply(struct ctl_req *r)
{
	const char *s;
	size_t len;

	if (r->fd < 0) {
		/* Ours: the answer is done()'s to keep (or dropped, cancelled). */
		if (r->done)
			r->done(r->resp, r->done_arg);
		else
			json_object_put(r->resp);
		memset(r, 0, sizeof(*r));
		return;
	}
	s = json_object_to_json_string_ext(r->resp, JSON_C_TO_STRING_PLAIN);
	len = strlen(s);

	/* Small, local, one shot: the client reads; a full buffer is its loss. */
	if (send(r->fd, s, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ||
	    send(r->fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		pvbe_warn("control", "reply: %s", strerror(errno));
	pvbe_loop_del(r->fd);
	close(r->fd);
	json_object_put(r->resp);
	memset(r, 0, sizeof(*r));
}

static struct ctl_req *req_new(int fd)
{
	int i;

	for (i = 0; i < PVBE_CTL_PENDING; i++) {
		if (reqs[i].used)
			continue;
		memset(&reqs[i], 0, sizeof(reqs[i]));
		reqs[i].used = true;
		reqs[i].fd = fd;
		reqs[i].id = next_id++;
		reqs[i].deadline = pvbe_now_ms() + PVBE_CTL_TIMEOUT_MS;
		return &reqs[i];
	}
	return NULL;
}

static int forward(struct ctl_req *r, struct pvbe_guest *g, const char *line)
{
	if (!g->worker || g->pair[0] < 0)
		return -ESRCH;
	return pvbe_msg_send(g->pair[0], PVBE_MSG_CTL, r->id, 0, 0, line, strlen(line),
			     NULL, 0);
}

static struct json_object *guest_obj(struct pvbe_guest *g)
{
	struct json_object *o = json_object_new_object();

	J_STR(o, "name", g->cfg->name);
	J_STR(o, "socket", g->cfg->socket);
	J_BOOL(o, "connected", g->conn_fd >= 0);
	J_U64(o, "peer", g->conn_fd >= 0 ? g->client_id : 0);
	J_U64(o, "generation", g->generation);
	J_U64(o, "vectors", g->nvectors);
	J_U64(o, "window_bytes", g->win_size);
	J_U64(o, "worker_pid", (uint64_t)(g->worker > 0 ? g->worker : 0));
	J_U64(o, "worker_restarts", g->restarts);
	J_STR(o, "worker", g->removing ? "removing" : g->worker ? "running" :
	      g->mig == PVBE_MIG_OUT ? "none: migrating out" :
	      g->restart_at ? "on hold after repeated crashes" : "starting");
	if (pvbe_migrate_name(g))
		J_STR(o, "migration", pvbe_migrate_name(g));
	return o;
}

/* list: a guest's worker answered (@json NULL: it did not). */
static void list_fill(struct ctl_req *r, struct pvbe_guest *g, const char *json)
{
	struct json_object *ans, *devs = NULL, *go = r->guests[g->index];
	enum json_tokener_error jerr;

	if (!go)
		return;
	if (json) {
		ans = json_tokener_parse_verbose(json, &jerr);
		if (ans && json_object_object_get_ex(ans, "devices", &devs) &&
		    json_object_is_type(devs, json_type_array)) {
			json_object_object_add(go, "devices", json_object_get(devs));
		} else {
			J_STR(go, "devices_error", "the worker's answer was not valid");
		}
		json_object_put(ans);
	} else {
		J_STR(go, "devices_error", "the worker did not answer");
	}
	r->guests[g->index] = NULL;
}

/* list, or with @what "metrics" every device's counters too. */
static void do_list(struct ctl_req *r, const char *what)
{
	struct json_object *arr = json_object_new_array();
	int i;

	r->resp = json_object_new_object();
	J_U64(r->resp, "supervisor_pid", (uint64_t)getpid());
	J_U64(r->resp, "upgrades", pvbe.upgrades);
	json_object_object_add(r->resp, "guests", arr);
	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		struct pvbe_guest *g = pvbe.guests[i];
		struct json_object *go;

		if (!g)
			continue;
		go = guest_obj(g);
		json_object_array_add(arr, go);
		if (!forward(r, g, what)) {
			r->guests[i] = go;
			r->waiting++;
		} else {
			J_STR(go, "devices_error", "no worker");
		}
	}
}

static void do_workers(struct ctl_req *r)
{
	struct json_object *arr = json_object_new_array();
	int i;

	r->resp = json_object_new_object();
	J_U64(r->resp, "supervisor_pid", (uint64_t)getpid());
	J_U64(r->resp, "upgrades", pvbe.upgrades);
	/* Under systemd with its fd store (core/fdstore.h): how many are there. */
	if (pvbe_fdstore_on())
		J_U64(r->resp, "fd_store", pvbe_fdstore_count());
	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		struct pvbe_guest *g = pvbe.guests[i];
		struct json_object *go;

		if (!g)
			continue;
		go = json_object_new_object();
		J_STR(go, "name", g->cfg->name);
		J_U64(go, "worker_pid", (uint64_t)(g->worker > 0 ? g->worker : 0));
		json_object_array_add(arr, go);
	}
	json_object_object_add(r->resp, "guests", arr);
}

static void do_guest(struct ctl_req *r, int n, char **w)
{
	struct pvbe_guest *g;
	struct pvbe_cfg cfg;
	char err[320];
	int ret;

	if (n == 3 && !strcmp(w[1], "add") && valid_path(w[2])) {
		if (pvbe_config_load(&cfg, w[2], true)) {
			r->resp = pvbe_ctl_error("%s", pvbe_config_error());
			return;
		}
		if (!cfg.nguests) {
			pvbe_config_free(&cfg);
			r->resp = pvbe_ctl_error("%s: no [guest NAME] section", w[2]);
			return;
		}
		ret = pvbe_guests_add(&cfg, w[2], err, sizeof(err));
		r->resp = ret < 0 ? pvbe_ctl_error("%s", err) : json_object_new_object();
		if (ret >= 0)
			J_U64(r->resp, "added", (uint64_t)ret);
		return;
	}
	if (n == 3 && !strcmp(w[1], "remove") && valid_name(w[2])) {
		g = pvbe_guest_find(w[2]);
		if (!g) {
			r->resp = pvbe_ctl_error("no guest %s", w[2]);
			return;
		}
		if (g->removing) {
			r->resp = pvbe_ctl_error("guest %s is being removed already", w[2]);
			return;
		}
		r->resp = json_object_new_object();
		J_STR(r->resp, "removed", g->cfg->name);
		/* The answer goes when the guest is gone. */
		r->removing = g;
		r->deadline = pvbe_now_ms() + 10000;
		pvbe_guest_remove(g, NULL);
		return;
	}
	r->resp = pvbe_ctl_error("guest add FILE | guest remove GUEST");
}

static void migrate_answer(struct ctl_req *r, struct pvbe_guest *g, const char *hex)
{
	r->resp = json_object_new_object();
	J_STR(r->resp, "guest", g->cfg->name);
	J_STR(r->resp, "state", hex);
	J_U64(r->resp, "paused_ms", pvbe_now_ms() - g->mig_since);
}

/* migrate-out|migrate-in|migrate-cancel GUEST, migrate-finish GUEST STATE */
static void do_migrate(struct ctl_req *r, int n, char **w)
{
	struct pvbe_guest *g;
	char err[320], *hex;
	int ret;

	if (n != (strcmp(w[0], "migrate-finish") && strcmp(w[0], "migrate-track") ? 2 : 3)) {
		r->resp = pvbe_ctl_error("migrate-track GUEST on|off | migrate-out GUEST | migrate-in GUEST | migrate-finish GUEST STATE | migrate-cancel GUEST");
		return;
	}
	g = pvbe_guest_find(w[1]);
	if (!g) {
		r->resp = pvbe_ctl_error("no guest %s", w[1]);
		return;
	}
	err[0] = '\0';
	/* Tracking is the worker's to do and to say. */
	if (!strcmp(w[0], "migrate-track") || (!strcmp(w[0], "migrate-cancel") && g->mig_tracking &&
					       g->mig == PVBE_MIG_NONE)) {
		bool on = !strcmp(w[0], "migrate-track") && !strcmp(w[2], "on");

		if (!strcmp(w[0], "migrate-track") && strcmp(w[2], "on") && strcmp(w[2], "off")) {
			r->resp = pvbe_ctl_error("migrate-track wants on or off, not '%s'", w[2]);
			return;
		}
		ret = pvbe_migrate_track(g, on, err, sizeof(err));
		if (!ret && forward(r, g, on ? "migrate-track on" : "migrate-track off"))
			ret = -ESRCH;
		if (ret) {
			r->resp = pvbe_ctl_error("%s", err[0] ? err : "guest has no worker running at the moment");
			return;
		}
		r->for_guest = g;
		r->waiting = 1;
		r->track = on;
		return;
	}
	if (!strcmp(w[0], "migrate-out")) {
		ret = pvbe_migrate_out(g, err, sizeof(err));
		if (ret == 1) {
			hex = pvbe_migrate_state(g);
			if (hex)
				migrate_answer(r, g, hex);
			else
				r->resp = pvbe_ctl_error("out of memory");
			free(hex);
		} else if (ret == 0) {
			/* The answer goes once the guest is paused. */
			r->pausing = g;
			r->deadline = pvbe_now_ms() + PVBE_CTL_MIGRATE_MS;
		}
	} else if (!strcmp(w[0], "migrate-in")) {
		ret = pvbe_migrate_in(g, err, sizeof(err));
	} else if (!strcmp(w[0], "migrate-finish")) {
		ret = pvbe_migrate_finish(g, w[2], err, sizeof(err));
		/*
		 * Answered once the worker has taken the window over (it reads
		 * its messages in order): the destination QEMU, started with
		 * -S, may let the guest run then, not before.
		 */
		if (!ret && !forward(r, g, "devices")) {
			r->for_guest = g;
			r->waiting = 1;
			r->deadline = pvbe_now_ms() + 5000;
			return;
		}
	} else if (!strcmp(w[0], "migrate-cancel")) {
		ret = pvbe_migrate_cancel(g, err, sizeof(err));
	} else {
		ret = -EINVAL;
		snprintf(err, sizeof(err), "unknown request; migrate-out | migrate-in | migrate-finish | migrate-cancel");
	}
	if (ret < 0) {
		r->resp = pvbe_ctl_error("%s", err[0] ? err : strerror(-ret));
	} else if (!r->resp && !r->pausing) {
		r->resp = json_object_new_object();
		J_STR(r->resp, "guest", g->cfg->name);
		J_STR(r->resp, "migration", pvbe_migrate_name(g) ? pvbe_migrate_name(g) : "none");
	}
}

static void handle(struct ctl_req *r, char *line)
{
	char *w[PVBE_CTL_MAX_WORDS], fwd[512], err[256];
	struct pvbe_guest *g;
	struct pvbe_dev *d;
	int n, i, ret, argc;

	n = pvbe_ctl_split(line, w, PVBE_CTL_MAX_WORDS);
	argc = n;
	if (n <= 0) {
		r->resp = pvbe_ctl_error("empty or too long request");
		return;
	}
	for (i = 0; i < n; i++) {
		bool path_ok = (!strcmp(w[0], "guest") && i == 2) ||
			       (!strcmp(w[0], "test-escape") && i >= 2);

		if (!(path_ok ? valid_path(w[i]) : valid_name(w[i]))) {
			r->resp = pvbe_ctl_error("request words are names: letters, digits, '-' and '_'");
			return;
		}
	}
	if (!strcmp(w[0], "list") && n == 1) {
		do_list(r, "devices");
		return;
	}
	if (!strcmp(w[0], "metrics") && n == 1) {
		do_list(r, "metrics");
		return;
	}
	if (!strcmp(w[0], "workers") && n == 1) {
		do_workers(r);
		return;
	}
	if (!strcmp(w[0], "memory-policy") && n == 1) {
		r->resp = pvbe_hostmem_status();
		return;
	}
	if (!strcmp(w[0], "guest")) {
		do_guest(r, n, w);
		return;
	}
	if (!strncmp(w[0], "migrate-", 8)) {
		do_migrate(r, n, w);
		return;
	}
	if (!strcmp(w[0], "upgrade") && n == 1) {
		ret = pvbe_upgrade(err, sizeof(err));
		r->resp = ret ? pvbe_ctl_error("%s", err) : json_object_new_object();
		if (!ret) {
			J_U64(r->resp, "upgrading", (uint64_t)getpid());
			J_U64(r->resp, "upgrades", pvbe.upgrades);
		}
		return;
	}
	if (!strcmp(w[0], "reload") && n == 1) {
		ret = pvbe_reload(err, sizeof(err));
		r->resp = ret ? pvbe_ctl_error("%s", err) : json_object_new_object();
		if (!ret)
			J_STR(r->resp, "reloaded", pvbe.config_path);
		return;
	}
	if (n < 3) {
		r->resp = pvbe_ctl_error("unknown request; try: list | workers | metrics | status GUEST DEVICE | net-link GUEST DEVICE up|down | blk-resize GUEST DEVICE [SIZE] | balloon GUEST DEVICE status|set|policy|headroom [ARG] | guest add FILE | guest remove GUEST | reload | upgrade | migrate-out|migrate-in|migrate-cancel GUEST | migrate-finish GUEST STATE");
		return;
	}
	/* VERB GUEST DEVICE ARGS...: the guest's worker answers. */
	g = pvbe_guest_find(w[1]);
	if (!g) {
		r->resp = pvbe_ctl_error("no guest %s", w[1]);
		return;
	}
	d = NULL;
	for (i = 0; i < g->ndev; i++)
		if (!strcmp(g->dev[i].cfg->name, w[2]))
			d = &g->dev[i];
	if (!d && strcmp(w[0], "test-escape") && strcmp(w[0], "test-log")) {
		r->resp = pvbe_ctl_error("no device %s on guest %s", w[2], w[1]);
		return;
	}
	/* What only the supervisor may do (a TAP's carrier) comes first. */
	if (d && d->ops->sup_control) {
		err[0] = '\0';
		w[2] = w[0];
		ret = d->ops->sup_control(d, n - 2, w + 2, err, sizeof(err));
		w[2] = d->cfg->name;
		if (ret < 0) {
			r->resp = pvbe_ctl_error("%s", err[0] ? err : strerror(-ret));
			return;
		}
		/* An image it grew: the worker may write as far now. */
		if (g->worker)
			pvbe_sandbox_file_limit(g, g->worker);
	}
	/* To the worker: VERB DEVICE ARGS... */
	n = snprintf(fwd, sizeof(fwd), "%s", w[0]);
	for (i = 2; i < (int)PVBE_CTL_MAX_WORDS && i < argc && n < (int)sizeof(fwd); i++)
		n += snprintf(fwd + n, sizeof(fwd) - (size_t)n, " %s", w[i]);
	if (forward(r, g, fwd)) {
		r->resp = pvbe_ctl_error("guest %s has no worker running at the moment", w[1]);
		return;
	}
	r->for_guest = g;
	r->waiting = 1;
}

static void on_client(int fd, uint32_t events, void *arg)
{
	struct ctl_req *r = arg;
	char line[PVBE_CTL_LINE];
	ssize_t n;

	(void)events;
	n = recv(fd, line, sizeof(line) - 1, MSG_DONTWAIT);
	if (n < 0 && errno == EAGAIN)
		return;
	pvbe_loop_del(fd);
	r->reading = false;
	r->deadline = pvbe_now_ms() + PVBE_CTL_TIMEOUT_MS;
	if (n <= 0) {
		close(fd);
		memset(r, 0, sizeof(*r));
		return;
	}
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	handle(r, line);
	/* Answered now, unless it waits for a worker, a removal or a pause. */
	if (r->used && !r->waiting && !r->removing && !r->pausing)
		req_reply(r);
}

int pvbe_control_request(const char *line, pvbe_control_done_fn done, void *arg,
			 void **hp)
{
	struct ctl_req *r = req_new(-1);
	char copy[PVBE_CTL_LINE];

	*hp = NULL;
	if (!r)
		return -EBUSY;
	r->done = done;
	r->done_arg = arg;
	snprintf(copy, sizeof(copy), "%s", line);
	handle(r, copy);
	if (r->used && !r->waiting && !r->removing && !r->pausing)
		req_reply(r);
	else
		*hp = r;
	return 0;
}

void pvbe_control_cancel(void *handle)
{
	struct ctl_req *r = handle;

	if (r && r->used && r->fd < 0) {
		r->done = NULL;
		r->done_arg = NULL;
	}
}

void pvbe_control_accept(int lfd, uint32_t events, void *arg)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	struct ctl_req *r;
	int fd;

	(void)events;
	(void)arg;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
	    (cr.uid != 0 && cr.uid != geteuid())) {
		pvbe_warn("control", "refused client uid %d", (int)cr.uid);
		close(fd);
		return;
	}
	r = req_new(fd);
	if (!r) {
		pvbe_warn("control", "too many requests in progress: client refused");
		close(fd);
		return;
	}
	r->reading = true;
	if (pvbe_loop_add(fd, EPOLLIN, on_client, r)) {
		close(fd);
		memset(r, 0, sizeof(*r));
	}
}

int pvbe_control_listen(const char *path)
{
	int fd = pvbe_unix_listen(path, 16, "control");

	if (fd >= 0)
		pvbe_info("control", "listening on %s", path);
	return fd;
}

static struct ctl_req *req_by_id(uint64_t id)
{
	int i;

	for (i = 0; i < PVBE_CTL_PENDING; i++)
		if (reqs[i].used && reqs[i].id == id)
			return &reqs[i];
	return NULL;
}

/* A worker answered request @id (@json NULL: it never will). */
void pvbe_control_reply(struct pvbe_guest *g, uint64_t id, const char *json)
{
	struct ctl_req *r = req_by_id(id);
	enum json_tokener_error jerr;
	struct json_object *o;

	if (!r || !r->waiting)
		return;
	if (r->for_guest) {
		if (r->for_guest != g)
			return;		/* not this worker's to answer */
		o = json ? json_tokener_parse_verbose(json, &jerr) : NULL;
		if (o && !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			o = NULL;
		}
		r->resp = o ? o : pvbe_ctl_error(json ? "guest %s: the worker's answer was not valid" :
					    "guest %s: the worker did not answer", g->cfg->name);
		/*
		 * The worker said the guest cannot log: nothing is tracked.
		 * No answer (a timeout, a worker that died) proves nothing:
		 * the guest may log already, and the flag stays.
		 */
		if (r->track && o && json_object_object_get_ex(o, "error", NULL))
			pvbe_migrate_track(g, false, NULL, 0);
		r->waiting = 0;
		req_reply(r);
		return;
	}
	if (!r->guests[g->index])
		return;
	list_fill(r, g, json);
	if (--r->waiting == 0)
		req_reply(r);
}

/* A guest's worker died: what waits for it gets no answer. */
void pvbe_control_guest_gone(struct pvbe_guest *g)
{
	int i;

	for (i = 0; i < PVBE_CTL_PENDING; i++)
		if (reqs[i].used && reqs[i].waiting &&
		    (reqs[i].for_guest == g || reqs[i].guests[g->index]))
			pvbe_control_reply(g, reqs[i].id, NULL);
}

void pvbe_control_guest_removed(struct pvbe_guest *g)
{
	int i;

	for (i = 0; i < PVBE_CTL_PENDING; i++) {
		if (!reqs[i].used)
			continue;
		if (reqs[i].removing == g) {
			reqs[i].removing = NULL;
			if (!reqs[i].waiting)
				req_reply(&reqs[i]);
		}
		if (reqs[i].for_guest == g)
			reqs[i].for_guest = NULL;
		reqs[i].guests[g->index] = NULL;
	}
	pvbe_control_migrate_paused(g, NULL);
}

void pvbe_control_migrate_paused(struct pvbe_guest *g, const char *hex)
{
	int i;

	for (i = 0; i < PVBE_CTL_PENDING; i++) {
		struct ctl_req *r = &reqs[i];

		if (!r->used || r->pausing != g)
			continue;
		r->pausing = NULL;
		if (hex)
			migrate_answer(r, g, hex);
		else
			r->resp = pvbe_ctl_error("guest %s: not paused: the migration was cancelled, the client left or the guest was removed",
						 g->cfg->name);
		req_reply(r);
	}
}

/* Clients that send nothing, and answers that are late: go without them. */
void pvbe_control_tick(uint64_t now)
{
	int i, k;

	for (i = 0; i < PVBE_CTL_PENDING; i++) {
		struct ctl_req *r = &reqs[i];

		/* A client that sends nothing does not keep its slot. */
		if (r->used && r->reading && now >= r->deadline) {
			pvbe_loop_del(r->fd);
			close(r->fd);
			memset(r, 0, sizeof(*r));
			continue;
		}
		if (!r->used || (!r->waiting && !r->removing && !r->pausing) || now < r->deadline)
			continue;
		if (r->pausing) {
			r->resp = pvbe_ctl_error("guest %s: not paused after %d s: its last worker's I/O is still at the disk (migrate-out again to wait on, migrate-cancel to resume)",
						 r->pausing->cfg->name, PVBE_CTL_MIGRATE_MS / 1000);
			r->pausing = NULL;
			req_reply(r);
			continue;
		}
		if (r->removing) {
			json_object_put(r->resp);
			r->resp = pvbe_ctl_error("guest %s: its worker has not exited yet",
					    r->removing->cfg->name);
			r->removing = NULL;
			req_reply(r);
			continue;
		}
		if (r->for_guest) {
			pvbe_control_reply(r->for_guest, r->id, NULL);
			continue;
		}
		for (k = 0; k < PVBE_MAX_GUESTS; k++)
			if (r->guests[k])
				list_fill(r, pvbe.guests[k], NULL);
		r->waiting = 0;
		req_reply(r);
	}
}
