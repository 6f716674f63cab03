// SPDX-License-Identifier: GPL-2.0
/*
 * control_worker.c - a guest's worker answering the control requests about
 * its devices (control.c forwards them, checks the JSON that comes back
 * and passes it on): status, net-link, blk-resize, balloon, and what the
 * test build adds (hostile scenarios, sandbox escape attempts).  The
 * answer is one JSON object, written into the supervisor's buffer.
 * Worker only.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/control.h"
#include "core/log.h"
#include "core/pviod.h"
#include "transport/hostile.h"

static struct pvbe_dev *find_dev(struct pvbe_guest *g, const char *name)
{
	int i;

	for (i = 0; i < g->ndev; i++)
		if (!strcmp(g->dev[i].cfg->name, name))
			return &g->dev[i];
	return NULL;
}

static struct json_object *queue_obj(const struct pvbe_queue *q)
{
	struct json_object *o = json_object_new_object();
	const struct pvio_ring_shared *sq = q->sq_mem, *cq = q->cq_mem;

	J_U64(o, "index", q->index);
	J_U64(o, "vector", q->vector);
	J_BOOL(o, "running", q->running);
	J_U64(o, "sq_size", q->sq_size);
	/* The guest's indices, for display only (read once, used for nothing). */
	if (sq && cq) {
		J_U64(o, "sq_prod", pvio_le32_to_cpu(pvio_read_once(sq->prod)));
		J_U64(o, "sq_cons", pvio_le32_to_cpu(pvio_read_once(sq->cons)));
		J_U64(o, "cq_prod", pvio_le32_to_cpu(pvio_read_once(cq->prod)));
		J_U64(o, "cq_cons", pvio_le32_to_cpu(pvio_read_once(cq->cons)));
	}
	J_U64(o, "kicks", q->st.kicks);
	J_U64(o, "interrupts", q->st.irqs);
	J_U64(o, "requests", q->st.reqs);
	J_U64(o, "bytes", q->st.bytes);
	J_U64(o, "errors", q->st.errors);
	J_U64(o, "yields", q->st.yields);
	J_U64(o, "doorbells_muted", q->st.muted);
	J_U64(o, "throttled", q->st.throttled);
	J_U64(o, "packets", q->st.packets);
	J_U64(o, "drops", q->st.drops);
	J_STR(o, "mode", q->polled ? "poll" : "event");
	return o;
}

static struct json_object *dev_obj(struct pvbe_dev *d, bool full)
{
	struct json_object *o = json_object_new_object(), *qs;
	unsigned int q;

	J_STR(o, "name", d->cfg->name);
	J_STR(o, "type", d->ops->name);
	J_STR(o, "state", pvbe_dev_state_name(d));
	J_U64(o, "driver_status", d->desc ?
	      pvio_le32_to_cpu(pvio_read_once(d->desc->driver_status)) : 0);
	J_U64(o, "broken_reason", d->broken_reason);
	J_U64(o, "reset_count", d->seen_reset);
	J_U64(o, "host_features", d->host_features);
	J_U64(o, "guest_features", d->guest_features);
	J_U64(o, "max_queues", d->nqueues);
	J_U64(o, "event_throttles", d->throttles);
	if (!full)
		return o;
	qs = json_object_new_array();
	for (q = 0; q < d->nqueues; q++)
		json_object_array_add(qs, queue_obj(&d->q[q]));
	json_object_object_add(o, "queues", qs);
	if (d->ops->status)
		d->ops->status(d, o);
	return o;
}

#ifdef PVBE_TEST_HOOKS
#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>

/* Test builds only: what a worker taken over by its guest could reach. */
static struct json_object *test_escape(const char *path, const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct json_object *o = json_object_new_object();
	int fd, err, fl, j, sig = 0;
	struct stat st;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	err = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	J_STR(o, "open", err ? strerrorname_np(err) : "ok");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	err = fd < 0 ? errno : 0;
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		err = errno;
	if (fd >= 0)
		close(fd);
	J_STR(o, "connect", err ? strerrorname_np(err) : "ok");
	J_U64(o, "uid", getuid());
	/* A path outside: its metadata (another guest's image, say). */
	J_STR(o, "stat", fstatat(AT_FDCWD, path, &st, 0) < 0 ? strerrorname_np(errno) : "ok");
	/* Signals by way of an fd: to itself here, to anyone if it worked. */
	J_STR(o, "fcntl_setown", fcntl(pvbe.sup_fd, F_SETOWN, getpid()) < 0 ?
	      strerrorname_np(errno) : "ok");
	J_STR(o, "fcntl_setsig", fcntl(pvbe.sup_fd, F_SETSIG, SIGUSR2) < 0 ?
	      strerrorname_np(errno) : "ok");
	fl = fcntl(pvbe.sup_fd, F_GETFL);
	J_STR(o, "fcntl_async", fl < 0 ? strerrorname_np(errno) :
	      fcntl(pvbe.sup_fd, F_SETFL, fl | O_ASYNC) < 0 ? strerrorname_np(errno) : "ok");
	if (fl >= 0)
		fcntl(pvbe.sup_fd, F_SETFL, fl);
	J_U64(o, "pdeathsig", prctl(PR_GET_PDEATHSIG, &sig) < 0 ? 0 : (uint64_t)sig);
	/* Off the CPUs and out of the nice value it was given. */
	{
		cpu_set_t all;

		CPU_ZERO(&all);
		for (j = 0; j < 64; j++)
			CPU_SET(j, &all);
		J_STR(o, "setaffinity", sched_setaffinity(0, sizeof(all), &all) < 0 ?
		      strerrorname_np(errno) : "ok");
		J_STR(o, "setpriority", setpriority(PRIO_PROCESS, 0, 0) < 0 ?
		      strerrorname_np(errno) : "ok");
	}
	/* Its images: write past the end, extend, allocate past the end. */
	for (j = 0; pvbe.self && j < pvbe.self->ndev; j++) {
		struct pvbe_dev *d = &pvbe.self->dev[j];
		int fds[8], k, nfd = d->ops->host_fds ? d->ops->host_fds(d, fds, 8) : 0;

		for (k = 0; k < nfd; k++) {
			if (fstat(fds[k], &st) < 0 || !S_ISREG(st.st_mode))
				continue;
			J_STR(o, "grow_write", pwrite(fds[k], "x", 1, st.st_size + (1 << 20)) < 0 ?
			      strerrorname_np(errno) : "ok");
			J_STR(o, "grow_truncate", ftruncate(fds[k], st.st_size + 4096) < 0 ?
			      strerrorname_np(errno) : "ok");
			J_STR(o, "grow_fallocate", fallocate(fds[k], 0, st.st_size, 1 << 20) < 0 ?
			      strerrorname_np(errno) : "ok");
			J_STR(o, "grow_fallocate_keep",
			      fallocate(fds[k], FALLOC_FL_KEEP_SIZE, st.st_size, 1 << 20) < 0 ?
			      strerrorname_np(errno) : "ok");
			/* allowed (blk's write-zeroes), and held by RLIMIT_FSIZE */
			J_STR(o, "grow_fallocate_zero",
			      fallocate(fds[k], FALLOC_FL_ZERO_RANGE, st.st_size, 1 << 20) < 0 ?
			      strerrorname_np(errno) : "ok");
			J_STR(o, "grow_fallocate_keep_zero",
			      fallocate(fds[k], FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
					st.st_size, 1 << 20) < 0 ? strerrorname_np(errno) : "ok");
		}
	}
	return o;
}
#endif

/*
 * migrate-track on|off (migrate.c): ask the guest to log the pages of the
 * buffers it reaps (protocol 6.4), or to stop; says whether it does.
 */
static struct json_object *migrate_track(struct pvbe_guest *g, bool on)
{
	struct json_object *o;
	uint64_t gf;
	uint32_t ack;

	if (!g->connected || !g->hdr)
		return pvbe_ctl_error("guest %s has no client", g->cfg->name);
	gf = pvio_le64_to_cpu(pvio_read_once(g->hdr->guest_features));
	if (on && !(gf & (1ull << PVIO_F_DIRTY_LOG)))
		return pvbe_ctl_error("the guest's driver does not log the pages it reaps (no PVIO_F_DIRTY_LOG): migrate-out before the migration instead, which pauses its I/O for all of it");
	if (on && !g->log_request) {
		/* Queue threads read it too (balloon.c). */
		pvio_write_once(g->log_request, ++g->log_seq ? g->log_seq : ++g->log_seq);
		pvio_store_release(&g->hdr->log_request, pvio_cpu_to_le32(g->log_request));
		pvbe_guest_notify(g, PVIO_CONFIG_VECTOR);
	} else if (!on && g->log_request) {
		pvio_write_once(g->log_request, 0);
		pvio_store_release(&g->hdr->log_request, 0);
		pvbe_guest_notify(g, PVIO_CONFIG_VECTOR);
	}
	ack = pvio_le32_to_cpu(pvio_load_acquire(&g->hdr->log_ack));
	o = json_object_new_object();
	J_U64(o, "log_request", g->log_request);
	J_U64(o, "log_ack", ack);
	J_BOOL(o, "logging", g->log_request && ack == g->log_request);
	J_BOOL(o, "stopped", !g->log_request && ack == 0);
	return o;
}

/* Worker: one request line for this guest; the answer into @buf. */
size_t pvbe_control_worker(struct pvbe_guest *g, char *line, char *buf, size_t len)
{
	struct json_object *o = NULL, *arr;
	char *w[PVBE_CTL_MAX_WORDS], err[256];
	struct pvbe_dev *d;
	const char *s;
	int n, i, ret;

	n = pvbe_ctl_split(line, w, PVBE_CTL_MAX_WORDS);
	if (n == 1 && (!strcmp(w[0], "devices") || !strcmp(w[0], "metrics"))) {
		arr = json_object_new_array();
		for (i = 0; i < g->ndev; i++)
			json_object_array_add(arr, dev_obj(&g->dev[i], !strcmp(w[0], "metrics")));
		o = json_object_new_object();
		json_object_object_add(o, "devices", arr);
#ifdef PVBE_TEST_HOOKS
	} else if (n == 3 && !strcmp(w[0], "test-escape")) {
		o = test_escape(w[1], w[2]);
	} else if (n == 3 && !strcmp(w[0], "test-log")) {
		/* A worker that floods the log, as another guest, with escapes. */
		for (i = 0; i < atoi(w[2]); i++)
			pvbe_err(w[1], "forged line %d\r\x1b[2K\x07", i);
		o = json_object_new_object();
		J_U64(o, "logged", (uint64_t)i);
	} else if (n >= 3 && !strcmp(w[0], "hostile") && (d = find_dev(g, w[1]))) {
		o = pvbe_hostile_control(d, n - 2, w + 2);
#endif
	} else if (n == 2 && !strcmp(w[0], "migrate-track")) {
		o = migrate_track(g, !strcmp(w[1], "on"));
	} else if (n >= 2 && (d = find_dev(g, w[1]))) {
		if (n == 2 && !strcmp(w[0], "status")) {
			o = dev_obj(d, true);
		} else {
			o = json_object_new_object();
			err[0] = '\0';
			w[1] = w[0];	/* the class sees VERB ARGS... */
			ret = d->ops->control ? d->ops->control(d, n - 1, w + 1, o, err, sizeof(err)) :
						-ENOSYS;
			if (ret) {
				json_object_put(o);
				o = ret == -ENOSYS ?
				    pvbe_ctl_error("%s devices take no request '%s'", d->ops->name, w[0]) :
				    pvbe_ctl_error("%s", err[0] ? err : strerror(-ret));
			}
		}
	} else {
		o = pvbe_ctl_error("no such device on guest %s", g->cfg->name);
	}
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	n = snprintf(buf, len, "%s", s);
	if (n < 0 || (size_t)n >= len)
		n = snprintf(buf, len, "{\"error\":\"response too large\"}");
	json_object_put(o);
	return (size_t)n;
}
