// SPDX-License-Identifier: GPL-2.0
/*
 * migrate.c - a guest live-migrated from this pviod to another, or from
 * another to this one (docs/operations.md 8.2, docs/protocol.md 6.4).
 *
 * QEMU copies the window (ivshmem-doorbell, master=on) and guest RAM to
 * the destination, but it sees only what the vCPUs write: a page pviod
 * writes into guest RAM or the window during pre-copy would reach the
 * destination stale.  So the source stops writing before pre-copy
 * begins and for all of it:
 *
 *   source       migrate-out GUEST: the guest's worker is killed, and the
 *                answer waits until nothing of it can write any more (its
 *                drain pipe hung up, core/workers.c) and the images are
 *                synced.  It carries the state the destination needs and
 *                must not take from the window (which the guest can
 *                write): generation, heartbeat and each device's persist
 *                record (balloon target, link state, reset and config
 *                counters), with what the window's layout was made from.
 *                No worker until the client leaves (QEMU quit after the
 *                migration) or migrate-cancel (the migration failed: a
 *                worker takes the window over, as after a crash).
 *   destination  migrate-in GUEST before the incoming QEMU connects: its
 *                client is held, no worker gets it, so nothing writes the
 *                window the migration is filling.  migrate-finish GUEST
 *                STATE once QEMU has the guest: the worker takes the
 *                migrated window over with the source's state and a
 *                generation past the source's, and the guest resets its
 *                devices as after a worker crash; requests that were in
 *                flight at the source are resubmitted by the guest.
 *
 * The guest's I/O stops at migrate-out and resumes at migrate-finish:
 * the whole migration, not only QEMU's downtime.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/migrate.h"
#include "core/pviod.h"
#include "core/sup.h"
#include "core/supervisor.h"

#define PVBE_MIG_MAGIC		0x474d5650u	/* "PVMG" */
#define PVBE_MIG_VERSION	1

/* The state, little-endian on the wire as in memory (x86-64 and arm64 alike). */
struct mig_dev {
	uint32_t type;
	uint32_t queues;
	uint32_t queue_size;
	uint32_t config_len;
	struct pvbe_dev_persist persist;
};

struct mig_state {
	uint32_t magic;
	uint32_t version;
	uint32_t generation;
	uint32_t ndev;
	uint64_t heartbeat;
	uint64_t win_size;
	uint32_t nvectors;
	uint32_t reserved;
	struct mig_dev dev[PVIO_MAX_DEVICES];
};

#define MIG_STATE_LEN(n)	(offsetof(struct mig_state, dev) + (size_t)(n) * sizeof(struct mig_dev))

const char *pvbe_migrate_name(const struct pvbe_guest *g)
{
	switch (g->mig) {
	case PVBE_MIG_OUT:
		return g->mig_paused ? "outgoing, paused" : "outgoing, pausing";
	case PVBE_MIG_IN:
		return g->conn_fd >= 0 ? "incoming, QEMU connected" : "incoming, waiting for QEMU";
	default:
		return g->mig_tracking ? "outgoing, the guest logs its pages" : NULL;
	}
}

/* ---- the source ------------------------------------------------------------------ */

/*
 * Written by the worker until it died (persist page) or by us: the
 * destination gets it through the operator, never through the window.
 */
static char *state_hex(struct pvbe_guest *g)
{
	struct mig_state st;
	const unsigned char *p = (const unsigned char *)&st;
	size_t len = MIG_STATE_LEN(g->ndev), i;
	char *hex;
	int j;

	memset(&st, 0, sizeof(st));
	st.magic = PVBE_MIG_MAGIC;
	st.version = PVBE_MIG_VERSION;
	st.generation = g->generation;
	st.ndev = (uint32_t)g->ndev;
	st.heartbeat = g->persist->heartbeat;
	st.win_size = g->win_size;
	st.nvectors = g->nvectors;
	for (j = 0; j < g->ndev; j++) {
		st.dev[j].type = (uint32_t)g->dev[j].cfg->type;
		st.dev[j].queues = g->dev[j].nqueues;
		st.dev[j].queue_size = g->dev[j].cfg->queue_size;
		st.dev[j].config_len = g->dev[j].config_len;
		st.dev[j].persist = g->persist->dev[j];
	}
	hex = malloc(2 * len + 1);
	if (!hex)
		return NULL;
	for (i = 0; i < len; i++)
		sprintf(hex + 2 * i, "%02x", p[i]);
	return hex;
}

/*
 * What the guest's writes acknowledged to it are on, on the disk: the
 * destination may be another host on the same storage.  Images are the
 * supervisor's (ops->setup opened them); a TAP is no file to sync.
 */
static void sync_images(struct pvbe_guest *g)
{
	struct stat sb;
	int fds[8], j, k, n;

	for (j = 0; j < g->ndev; j++) {
		struct pvbe_dev *d = &g->dev[j];

		n = d->ops->host_fds ? d->ops->host_fds(d, fds, 8) : 0;
		for (k = 0; k < n; k++) {
			if (fstat(fds[k], &sb) || !(S_ISREG(sb.st_mode) || S_ISBLK(sb.st_mode)))
				continue;
			if (fdatasync(fds[k]))
				pvbe_warn(d->tag, "migrate-out: sync: %s", strerror(errno));
		}
	}
}

/* Paused once the worker is gone and its I/O is over; called until it is. */
void pvbe_migrate_check(struct pvbe_guest *g)
{
	char *hex;

	if (g->mig != PVBE_MIG_OUT || g->mig_paused || g->worker)
		return;
	if (!pvbe_worker_drained(g)) {
		if (!g->drain_wait) {
			g->drain_wait = true;
			if (pvbe_loop_add(g->drain_fd, EPOLLIN, pvbe_worker_on_drained, g))
				pvbe_dbg(g->tag, "migrate-out: drain pipe watched from the tick");
		}
		return;
	}
	g->drain_wait = false;
	sync_images(g);
	g->mig_paused = true;
	pvbe_info(g->tag, "migrate-out: paused %" PRIu64 " ms after it was asked: nothing of pviod writes the guest's memory until the QEMU migrating it leaves (or migrate-cancel)",
		  pvbe_now_ms() - g->mig_since);
	hex = state_hex(g);
	pvbe_control_migrate_paused(g, hex);
	free(hex);
}

/*
 * migrate-track on: the guest's worker asks the guest to log the pages
 * it reaps (protocol 6.4), so that QEMU's pre-copy sees what pviod
 * writes and migrate-out need only come at QEMU's pre-switchover.  0:
 * ask the worker (the control request is forwarded); -errno.
 */
int pvbe_migrate_track(struct pvbe_guest *g, bool on, char *err, size_t len)
{
	if (!on) {
		g->mig_tracking = false;
		return 0;
	}
	if (g->mig != PVBE_MIG_NONE || g->removing || pvbe_sup.stopping || pvbe_sup.upgrading) {
		snprintf(err, len, "guest %s is %s", g->cfg->name,
			 g->mig == PVBE_MIG_OUT ? "paused for a migration already" :
			 g->mig == PVBE_MIG_IN ? "waiting for an incoming migration" :
			 "going away");
		return -EBUSY;
	}
	if (g->conn_fd < 0 || !g->worker) {
		snprintf(err, len, "guest %s has no QEMU connected and served", g->cfg->name);
		return -ENOTCONN;
	}
	if (!g->mig_tracking) {
		g->mig_tracking = true;
		g->mig_since = pvbe_now_ms();
		pvbe_info(g->tag, "migrate-track: asking the guest to log the pages it reaps");
	}
	return 0;
}

/*
 * The worker died while the guest logged its pages: a new one would
 * write what nobody logs (the guest stops when its takeover clears the
 * request).  The guest pauses instead, as after migrate-out.
 */
bool pvbe_migrate_worker_died(struct pvbe_guest *g)
{
	if (!g->mig_tracking || g->mig != PVBE_MIG_NONE || g->conn_fd < 0)
		return false;
	pvbe_warn(g->tag, "migrate-track: the worker died while the guest logged its pages: its I/O pauses until the migration ends or is cancelled, as after migrate-out");
	g->mig_tracking = false;
	g->mig = PVBE_MIG_OUT;
	g->mig_paused = false;
	g->mig_since = pvbe_now_ms();
	return true;
}

int pvbe_migrate_out(struct pvbe_guest *g, char *err, size_t len)
{
	if (pvbe_sup.stopping || pvbe_sup.upgrading) {
		snprintf(err, len, "pviod is %s", pvbe_sup.stopping ? "stopping" : "upgrading");
		return -EBUSY;
	}
	if (g->removing) {
		snprintf(err, len, "guest %s is being removed", g->cfg->name);
		return -EBUSY;
	}
	if (g->mig == PVBE_MIG_IN) {
		snprintf(err, len, "guest %s is waiting for an incoming migration (migrate-cancel first)",
			 g->cfg->name);
		return -EBUSY;
	}
	if (g->mig == PVBE_MIG_OUT)	/* asked again: the same answer */
		return g->mig_paused ? 1 : 0;
	if (g->conn_fd < 0) {
		snprintf(err, len, "guest %s has no QEMU connected: nothing to migrate",
			 g->cfg->name);
		return -ENOTCONN;
	}
	g->mig = PVBE_MIG_OUT;
	g->mig_paused = false;
	g->mig_since = pvbe_now_ms();
	g->mig_tracking = false;
	g->restart_at = 0;
	pvbe_info(g->tag, "migrate-out: stopping worker %d; the guest's I/O waits until the destination takes over",
		  (int)g->worker);
	if (g->worker)
		kill(g->worker, SIGKILL);
	else
		pvbe_migrate_check(g);
	return g->mig_paused ? 1 : 0;
}

/* The paused guest's state, for migrate-out asked again once paused. */
char *pvbe_migrate_state(struct pvbe_guest *g)
{
	return g->mig == PVBE_MIG_OUT && g->mig_paused ? state_hex(g) : NULL;
}

/* ---- the destination ---------------------------------------------------------------- */

int pvbe_migrate_in(struct pvbe_guest *g, char *err, size_t len)
{
	if (g->removing) {
		snprintf(err, len, "guest %s is being removed", g->cfg->name);
		return -EBUSY;
	}
	if (pvbe_sup.stopping || pvbe_sup.upgrading) {
		snprintf(err, len, "pviod is %s", pvbe_sup.stopping ? "stopping" : "upgrading");
		return -EBUSY;
	}
	if (g->mig == PVBE_MIG_IN)
		return 0;
	if (g->mig == PVBE_MIG_OUT) {
		snprintf(err, len, "guest %s is migrating out of this pviod", g->cfg->name);
		return -EBUSY;
	}
	if (g->conn_fd >= 0) {
		snprintf(err, len, "guest %s has a QEMU connected already (peer %u)",
			 g->cfg->name, g->client_id);
		return -EBUSY;
	}
	g->mig = PVBE_MIG_IN;
	g->mig_since = pvbe_now_ms();
	pvbe_info(g->tag, "migrate-in: the next QEMU to connect is held until migrate-finish");
	return 0;
}

static int unhex(const char *s, unsigned char *out, size_t max, size_t *len)
{
	size_t n = strlen(s), i;
	unsigned int b;

	if (n % 2 || n / 2 > max)
		return -EINVAL;
	for (i = 0; i < n; i += 2) {
		if (!strchr("0123456789abcdef", s[i]) || !strchr("0123456789abcdef", s[i + 1]) ||
		    sscanf(s + i, "%2x", &b) != 1)
			return -EINVAL;
		out[i / 2] = (unsigned char)b;
	}
	*len = n / 2;
	return 0;
}

/* Is @st this guest's, configured here as it was at the source? */
static int state_check(struct pvbe_guest *g, const struct mig_state *st, size_t len,
		       char *err, size_t elen)
{
	int j;

	if (len < MIG_STATE_LEN(0) || st->magic != PVBE_MIG_MAGIC ||
	    st->version != PVBE_MIG_VERSION || st->ndev > PVIO_MAX_DEVICES ||
	    len != MIG_STATE_LEN(st->ndev)) {
		snprintf(err, elen, "not a migration state of this pviod (pass what migrate-out printed, whole)");
		return -EINVAL;
	}
	if (st->ndev != (uint32_t)g->ndev || st->win_size != g->win_size ||
	    st->nvectors != g->nvectors) {
		snprintf(err, elen, "guest %s differs here from the source: %u devices, window %" PRIu64 " bytes, %u vectors at the source; %d, %" PRIu64 ", %u here",
			 g->cfg->name, st->ndev, st->win_size, st->nvectors, g->ndev,
			 g->win_size, g->nvectors);
		return -EINVAL;
	}
	for (j = 0; j < g->ndev; j++) {
		const struct mig_dev *m = &st->dev[j];
		const struct pvbe_dev *d = &g->dev[j];

		if (m->type != (uint32_t)d->cfg->type || m->queues != d->nqueues ||
		    m->queue_size != d->cfg->queue_size || m->config_len != d->config_len) {
			snprintf(err, elen, "device %s differs here from the source: %s, %u queues of %u at the source; %s, %u of %u here",
				 d->cfg->name, pvio_dev_type_name((int)m->type), m->queues,
				 m->queue_size, pvio_dev_type_name(d->cfg->type), d->nqueues,
				 d->cfg->queue_size);
			return -EINVAL;
		}
	}
	return 0;
}

int pvbe_migrate_finish(struct pvbe_guest *g, const char *hex, char *err, size_t len)
{
	struct mig_state st;
	size_t n;
	int j;

	if (g->mig != PVBE_MIG_IN) {
		snprintf(err, len, "guest %s is not waiting for a migration (migrate-in first)",
			 g->cfg->name);
		return -EINVAL;
	}
	if (g->conn_fd < 0) {
		snprintf(err, len, "guest %s: no QEMU has connected yet", g->cfg->name);
		return -ENOTCONN;
	}
	memset(&st, 0, sizeof(st));
	if (unhex(hex, (unsigned char *)&st, sizeof(st), &n)) {
		snprintf(err, len, "the state is not what migrate-out printed (hex digits, at most %zu)",
			 2 * sizeof(st));
		return -EINVAL;
	}
	if (state_check(g, &st, n, err, len))
		return -EINVAL;
	/* Past the source's: the guest must see a new backend. */
	if (st.generation >= g->generation)
		g->generation = st.generation;
	g->generation++;
	g->persist->heartbeat = st.heartbeat;
	for (j = 0; j < g->ndev; j++)
		g->persist->dev[j] = st.dev[j].persist;
	g->mig = PVBE_MIG_NONE;
	pvbe_info(g->tag, "migrate-finish: %" PRIu64 " ms after migrate-in; peer %u's window taken over, generation %u",
		  pvbe_now_ms() - g->mig_since, g->client_id, g->generation);
	if (!g->worker) {
		/* The next worker takes the client over as it starts. */
		g->migrated = true;
		pvbe_worker_start(g);
	} else if (pvbe_send_conn(g, true)) {
		pvbe_warn(g->tag, "hand the client to worker %d: %s; replacing the worker",
			  (int)g->worker, strerror(errno));
		kill(g->worker, SIGKILL);
	}
	return 0;
}

/* ---- either side ------------------------------------------------------------------ */

int pvbe_migrate_cancel(struct pvbe_guest *g, char *err, size_t len)
{
	switch (g->mig) {
	case PVBE_MIG_OUT:
		g->mig = PVBE_MIG_NONE;
		pvbe_control_migrate_paused(g, NULL);
		if (g->conn_fd < 0 || g->removing)
			return 0;
		pvbe_info(g->tag, "migrate-cancel: the guest stays here; a worker takes the window over");
		if (!g->worker) {
			g->generation++;
			pvbe_worker_start(g);
		}
		return 0;
	case PVBE_MIG_IN:
		g->mig = PVBE_MIG_NONE;
		pvbe_info(g->tag, "migrate-cancel: no incoming migration any more");
		pvbe_conn_drop(g, "incoming migration cancelled");
		return 0;
	default:
		snprintf(err, len, "guest %s is not migrating", g->cfg->name);
		return -EINVAL;
	}
}

/* The client left (QEMU quit, or the connection broke). */
void pvbe_migrate_client_gone(struct pvbe_guest *g)
{
	g->mig_tracking = false;
	if (g->mig == PVBE_MIG_OUT) {
		pvbe_info(g->tag, "migrate-out: the source QEMU left after %" PRIu64 " ms: the guest is the destination's now",
			  pvbe_now_ms() - g->mig_since);
		g->mig = PVBE_MIG_NONE;
		pvbe_control_migrate_paused(g, NULL);
		/* A worker for the next client, once the last one's I/O is over. */
		if (!g->worker && !g->removing && !pvbe_sup.stopping && !pvbe_sup.upgrading)
			pvbe_worker_start(g);
	} else if (g->mig == PVBE_MIG_IN) {
		pvbe_warn(g->tag, "migrate-in: the incoming QEMU left before migrate-finish: still waiting for one");
	}
}
