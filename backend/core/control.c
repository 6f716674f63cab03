// SPDX-License-Identifier: GPL-2.0
/*
 * control.c - pviod's control socket.  A client connects, sends one request
 * line, reads one JSON object line back, and the connection closes.  Only
 * root or pviod's own user may connect (socket mode 0600 and SO_PEERCRED).
 * The protocol is in docs/operations.md; pvioctl is its client.
 *
 * Requests:
 *   list                       guests, devices, their states
 *   status GUEST DEVICE        one device with per-queue counters
 *   net-link GUEST DEVICE up|down
 *                              set a net device's link: the TAP's carrier
 *                              and the guest's config status (vector 0);
 *                              answers {"link":"up"|"down"}
 *   blk-resize GUEST DEVICE [SIZE]
 *                              grow a blk device's image file to SIZE
 *                              (K/M/G suffix), or without SIZE take the
 *                              backing store's current size; the guest
 *                              sees the new capacity (vector 0); answers
 *                              {"capacity":SECTORS,"bytes":BYTES}
 *   balloon GUEST DEVICE status
 *                              target, actual, host-backed RAM, statistics
 *   balloon GUEST DEVICE set SIZE
 *                              the balloon should hold SIZE (K/M/G); more
 *                              than guest RAM, or outside min..max, is
 *                              refused; answers {"target_pages":N}
 *   balloon GUEST DEVICE policy auto|off
 *   balloon GUEST DEVICE headroom SIZE
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "balloon/balloon.h"
#include "blk/blk.h"
#include "core/log.h"
#include "core/unixsock.h"
#include "core/loop.h"
#include "core/pviod.h"

struct out {
	char buf[65536];
	size_t len;
	int overflow;
};

static void put(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, sizeof(o->buf) - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(o->buf) - o->len)
		o->overflow = 1;
	else
		o->len += (size_t)n;
}

/* JSON string body for @s: quotes, backslashes and controls escaped. */
static const char *jesc(const char *s, char *buf, size_t n)
{
	size_t o = 0;

	for (; *s && o + 7 < n; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(buf + o, n - o, "\\u%04x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* Request arguments are names: refuse anything else before echoing it. */
static int valid_arg(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return 0;
	return 1;
}

int pvbe_control_listen(const char *path)
{
	int fd = pvbe_unix_listen(path, 8, "control");

	if (fd >= 0)
		pvbe_info("control", "listening on %s", path);
	return fd;
}

static const char *dev_state_name(const struct pvbe_dev *d)
{
	uint32_t s = pvio_le32_to_cpu(d->desc->device_state);

	if (s & PVIO_DEV_S_BROKEN)
		return "broken";
	if (s & PVIO_DEV_S_NEEDS_RESET)
		return "needs-reset";
	if (d->live)
		return "running";
	return "idle";
}

static void put_dev(struct out *o, const struct pvbe_dev *d, int queues)
{
	unsigned int q;

	put(o, "{\"name\":\"%s\",\"type\":\"%s\",\"state\":\"%s\","
	    "\"driver_status\":%u,\"broken_reason\":%u,\"reset_count\":%u,"
	    "\"host_features\":%" PRIu64 ",\"guest_features\":%" PRIu64 ","
	    "\"max_queues\":%u",
	    d->cfg->name, d->ops->name, dev_state_name(d),
	    pvio_le32_to_cpu(d->desc->driver_status),
	    pvio_le32_to_cpu(d->desc->broken_reason),
	    pvio_le32_to_cpu(d->desc->reset_count), d->host_features,
	    (uint64_t)pvio_le64_to_cpu(d->desc->guest_features), d->nqueues);
	if (queues) {
		put(o, ",\"queues\":[");
		for (q = 0; q < d->nqueues; q++) {
			const struct pvbe_queue *pq = &d->q[q];
			const struct pvio_ring_shared *sq = pq->sq_mem, *cq = pq->cq_mem;

			put(o, "%s{\"index\":%u,\"vector\":%u,\"running\":%s,"
			    "\"sq_size\":%u,\"sq_prod\":%u,\"sq_cons\":%u,"
			    "\"cq_prod\":%u,\"cq_cons\":%u,\"kicks\":%" PRIu64 ","
			    "\"interrupts\":%" PRIu64 ",\"requests\":%" PRIu64 ","
			    "\"bytes\":%" PRIu64 ",\"errors\":%" PRIu64 ","
			    "\"packets\":%" PRIu64 ",\"drops\":%" PRIu64 ",\"mode\":\"%s\"}",
			    q ? "," : "", q, pq->vector, pq->running ? "true" : "false",
			    pq->sq_size, pvio_le32_to_cpu(sq->prod),
			    pvio_le32_to_cpu(sq->cons), pvio_le32_to_cpu(cq->prod),
			    pvio_le32_to_cpu(cq->cons), pq->st.kicks, pq->st.irqs,
			    pq->st.reqs, pq->st.bytes, pq->st.errors, pq->st.packets,
			    pq->st.drops,
			    pq->polled ? "poll" : "event");
		}
		put(o, "]");
	}
	put(o, "}");
}

static void put_guest(struct out *o, const struct pvbe_guest *g)
{
	char sock[4 * PVBE_PATH_MAX];
	int i;

	put(o, "{\"name\":\"%s\",\"socket\":\"%s\",\"connected\":%s,\"peer\":%u,"
	    "\"generation\":%u,\"vectors\":%u,\"window_bytes\":%" PRIu64 ","
	    "\"ram_mapped\":%s,\"devices\":[",
	    g->cfg->name, jesc(g->cfg->socket, sock, sizeof(sock)),
	    g->conn_fd >= 0 ? "true" : "false",
	    g->conn_fd >= 0 ? g->client_id : 0,
	    pvio_le32_to_cpu(g->hdr->generation), g->nvectors, g->win_size,
	    g->mem_ready ? "true" : "false");
	for (i = 0; i < g->ndev; i++) {
		if (i)
			put(o, ",");
		put_dev(o, &g->dev[i], 0);
	}
	put(o, "]}");
}

static struct pvbe_guest *find_guest(const char *name)
{
	int i;

	for (i = 0; i < pvbe.nguests; i++)
		if (!strcmp(pvbe.guests[i].cfg->name, name))
			return &pvbe.guests[i];
	return NULL;
}

static struct pvbe_dev *find_dev(struct pvbe_guest *g, const char *name)
{
	int i;

	for (i = 0; i < g->ndev; i++)
		if (!strcmp(g->dev[i].cfg->name, name))
			return &g->dev[i];
	return NULL;
}

static void net_link(struct pvbe_dev *d, const char *arg, struct out *o)
{
	char err[160], e2[400];

	if (strcmp(arg, "up") && strcmp(arg, "down")) {
		put(o, "{\"error\":\"net-link wants up or down\"}");
		return;
	}
	if (pvbe_net_set_link(d, !strcmp(arg, "up"), err, sizeof(err))) {
		put(o, "{\"error\":\"%s\"}", jesc(err, e2, sizeof(e2)));
		return;
	}
	put(o, "{\"link\":\"%s\"}", arg);
}

static void blk_resize(struct pvbe_dev *d, const char *size, struct out *o)
{
	char err[200], e2[500];
	uint64_t sectors = 0;

	if (pvbe_blk_resize(d, size, &sectors, err, sizeof(err))) {
		put(o, "{\"error\":\"%s\"}", jesc(err, e2, sizeof(e2)));
		return;
	}
	put(o, "{\"capacity\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", sectors,
	    sectors * PVIO_BLK_SECTOR_SIZE);
}

static void balloon_status(struct pvbe_dev *d, struct out *o)
{
	char err[200], e2[500];
	struct pvbe_bal_status st;
	const struct pvio_balloon_stats *s = &st.stats;

	if (pvbe_balloon_status(d, &st, err, sizeof(err))) {
		put(o, "{\"error\":\"%s\"}", jesc(err, e2, sizeof(e2)));
		return;
	}
	put(o, "{\"name\":\"%s\",\"state\":\"%s\",\"guest_features\":%" PRIu64 ","
	    "\"ram_bytes\":%" PRIu64 ",\"target_bytes\":%" PRIu64 ","
	    "\"actual_bytes\":%" PRIu64 ",\"backed_bytes\":%" PRIu64 ","
	    "\"floor_bytes\":%" PRIu64 ",\"policy\":\"%s\",\"headroom_bytes\":%" PRIu64 ","
	    "\"min_bytes\":%" PRIu64 ",\"max_bytes\":%" PRIu64 ","
	    "\"inflated_pages\":%" PRIu64 ",\"deflated_pages\":%" PRIu64 ","
	    "\"reported_pages\":%" PRIu64 ",\"punched_bytes\":%" PRIu64 ","
	    "\"punch_errors\":%" PRIu64 ",\"policy_changes\":%" PRIu64 ","
	    "\"stats_skipped\":%" PRIu64,
	    d->cfg->name, dev_state_name(d), st.guest_features, st.ram, st.target,
	    st.actual, st.backed, st.floor, st.policy, st.headroom, st.min, st.max,
	    st.inflated_pages, st.deflated_pages, st.reported_pages,
	    st.punched_bytes, st.punch_errors, st.policy_changes, st.stats_skipped);
	if (st.stats_valid)
		put(o, ",\"stats\":{\"age_ms\":%" PRIu64 ",\"seq\":%u,\"interval_ms\":%u,"
		    "\"free_bytes\":%" PRIu64 ",\"avail_bytes\":%" PRIu64 ","
		    "\"cache_bytes\":%" PRIu64 ",\"total_bytes\":%" PRIu64 ","
		    "\"swap_in\":%" PRIu64 ",\"swap_out\":%" PRIu64 ","
		    "\"major_faults\":%" PRIu64 ",\"minor_faults\":%" PRIu64 ","
		    "\"oom_kills\":%" PRIu64 ",\"psi_some_avg10\":%u,"
		    "\"psi_full_avg10\":%u,\"deflated_on_pressure\":%" PRIu64 "}",
		    st.stats_age_ms, (unsigned int)s->seq, (unsigned int)s->interval_ms,
		    (uint64_t)s->free_bytes, (uint64_t)s->avail_bytes,
		    (uint64_t)s->cache_bytes, (uint64_t)s->total_bytes,
		    (uint64_t)s->swap_in, (uint64_t)s->swap_out,
		    (uint64_t)s->major_faults, (uint64_t)s->minor_faults,
		    (uint64_t)s->oom_kills, (unsigned int)s->psi_some_avg10,
		    (unsigned int)s->psi_full_avg10, (uint64_t)s->deflated_on_pressure);
	put(o, "}");
}

/* balloon GUEST DEVICE status | set SIZE | policy auto|off | headroom SIZE */
static void balloon_req(struct pvbe_dev *d, const char *verb, const char *arg,
			struct out *o)
{
	char err[200], e2[500];
	uint64_t pages = 0;
	int ret;

	if (!strcmp(verb, "status") && !arg[0]) {
		balloon_status(d, o);
		return;
	}
	if (!arg[0] || (strcmp(verb, "set") && strcmp(verb, "policy") &&
			strcmp(verb, "headroom"))) {
		put(o, "{\"error\":\"balloon GUEST DEVICE status | set SIZE | policy auto|off | headroom SIZE\"}");
		return;
	}
	if (!strcmp(verb, "set"))
		ret = pvbe_balloon_set(d, arg, &pages, err, sizeof(err));
	else if (!strcmp(verb, "policy"))
		ret = pvbe_balloon_policy(d, arg, err, sizeof(err));
	else
		ret = pvbe_balloon_headroom(d, arg, err, sizeof(err));
	if (ret) {
		put(o, "{\"error\":\"%s\"}", jesc(err, e2, sizeof(e2)));
		return;
	}
	if (!strcmp(verb, "set"))
		put(o, "{\"target_pages\":%" PRIu64 ",\"target_bytes\":%" PRIu64 "}",
		    pages, pages * PVBE_BAL_PAGE);
	else
		balloon_status(d, o);
}

static void handle(char *line, struct out *o)
{
	char cmd[32] = "", a[64] = "", b[64] = "", c[16] = "", e[32] = "";
	struct pvbe_guest *g;
	struct pvbe_dev *d;
	int i, n;

	n = sscanf(line, "%31s %63s %63s %15s %31s", cmd, a, b, c, e);
	if (!valid_arg(cmd) || !valid_arg(a) || !valid_arg(b) || !valid_arg(c) ||
	    !valid_arg(e)) {
		put(o, "{\"error\":\"request words are names: letters, digits, '-' and '_'\"}");
		return;
	}
	if (n >= 1 && !strcmp(cmd, "list")) {
		put(o, "{\"supervisor_pid\":%d,\"worker_pid\":%d,\"guests\":[",
		    (int)getppid(), (int)getpid());
		for (i = 0; i < pvbe.nguests; i++) {
			if (i)
				put(o, ",");
			put_guest(o, &pvbe.guests[i]);
		}
		put(o, "]}");
		return;
	}
	if (n == 3 && !strcmp(cmd, "status")) {
		g = find_guest(a);
		d = g ? find_dev(g, b) : NULL;
		if (!d) {
			put(o, "{\"error\":\"no device %s on guest %s\"}", b, a);
			return;
		}
		put_dev(o, d, 1);
		return;
	}
	if (n == 4 && !strcmp(cmd, "net-link")) {
		g = find_guest(a);
		d = g ? find_dev(g, b) : NULL;
		if (!d) {
			put(o, "{\"error\":\"no device %s on guest %s\"}", b, a);
			return;
		}
		net_link(d, c, o);
		return;
	}
	if ((n == 3 || n == 4) && !strcmp(cmd, "blk-resize")) {
		g = find_guest(a);
		d = g ? find_dev(g, b) : NULL;
		if (!d) {
			put(o, "{\"error\":\"no device %s on guest %s\"}", b, a);
			return;
		}
		blk_resize(d, n == 4 ? c : NULL, o);
		return;
	}
	if ((n == 4 || n == 5) && !strcmp(cmd, "balloon")) {
		g = find_guest(a);
		d = g ? find_dev(g, b) : NULL;
		if (!d) {
			put(o, "{\"error\":\"no device %s on guest %s\"}", b, a);
			return;
		}
		balloon_req(d, c, n == 5 ? e : "", o);
		return;
	}
	put(o, "{\"error\":\"unknown request; try: list | status GUEST DEVICE | net-link GUEST DEVICE up|down | blk-resize GUEST DEVICE [SIZE] | balloon GUEST DEVICE status|set|policy|headroom [ARG]\"}");
}

static void on_client(int fd, uint32_t events, void *arg)
{
	static struct out o;
	char line[512];
	ssize_t n;

	(void)events;
	(void)arg;
	n = recv(fd, line, sizeof(line) - 1, MSG_DONTWAIT);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n > 0) {
		line[n] = '\0';
		line[strcspn(line, "\r\n")] = '\0';
		o.len = 0;
		o.overflow = 0;
		handle(line, &o);
		if (o.overflow) {
			o.len = 0;
			o.overflow = 0;
			put(&o, "{\"error\":\"response too large\"}");
		}
		put(&o, "\n");
		/* Small, local, one shot: a blocking send is fine here. */
		if (send(fd, o.buf, o.len, MSG_NOSIGNAL) < 0)
			pvbe_warn("control", "reply: %s", strerror(errno));
	}
	pvbe_loop_del(fd);
	close(fd);
}

void pvbe_control_accept(int lfd, uint32_t events, void *arg)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int fd;

	(void)events;
	(void)arg;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
	    (cr.uid != 0 && cr.uid != geteuid())) {
		pvbe_warn("control", "refused client uid %d", (int)cr.uid);
		close(fd);
		return;
	}
	if (pvbe_loop_add(fd, EPOLLIN, on_client, NULL))
		close(fd);
}
