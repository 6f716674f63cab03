// SPDX-License-Identifier: GPL-2.0
/*
 * guests.c - guests as the supervisor makes, opens and removes them: from
 * the configuration at start-up, and at run time (guest add FILE, guest
 * remove, reload; after an upgrade, the guests added from files again).
 * A guest is checked against every other (its name, socket, RAM file and
 * host resources are its own), set up (the classes open their host
 * resources), given its listening socket and its first worker.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/handover.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/migrate.h"
#include "core/pviod.h"
#include "core/sup.h"
#include "core/supervisor.h"
#include "transport/hostile.h"
#include "transport/ivshmem.h"

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
	g->drain_fd = g->drain_w = g->persist_fd = -1;
	g->pair[0] = g->pair[1] = -1;
	g->mem.fd = -1;
	for (v = 0; v < PVIO_MAX_VECTORS; v++)
		g->be_efd[v] = g->guest_efd[v] = -1;
	g->hb_ms = pvbe.cfg.heartbeat_ms;
	g->generation = 1;	/* as if laid out once: the first client sees 2 */
	snprintf(g->tag, sizeof(g->tag), "%s", gc->name);
	/* A memfd, that systemd's fd store can keep across a restart (fdstore.h). */
	g->persist_fd = memfd_create("pviod-persist", MFD_CLOEXEC);
	if (g->persist_fd < 0 || ftruncate(g->persist_fd, sizeof(*g->persist)) < 0 ||
	    (g->persist = mmap(NULL, sizeof(*g->persist), PROT_READ | PROT_WRITE, MAP_SHARED,
			       g->persist_fd, 0)) == MAP_FAILED) {
		ret = -errno;
		g->persist = NULL;
		pvbe_err(gc->name, "device state page: %s", strerror(-ret));
		pvbe_guest_free(g);
		return ret;
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
	pvbe_conn_close_fds(g);
	if (g->listen_fd >= 0) {
		pvbe_loop_del(g->listen_fd);
		close(g->listen_fd);
		/* Stopping into systemd's fd store: the next pviod listens on it. */
		if (!pvbe_sup.keep_sockets)
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
	if (g->persist_fd >= 0)
		close(g->persist_fd);
	if (g->log_fd >= 0)
		close(g->log_fd);
	if (g->drain_fd >= 0) {
		pvbe_loop_del(g->drain_fd);
		close(g->drain_fd);
	}
	free(g->cfg);
	free(g);
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
int pvbe_guest_open(struct pvbe_guest *g)
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
	if (!pvbe_sup.listeners_paused) {
		ret = pvbe_loop_add(g->listen_fd, EPOLLIN, pvbe_on_accept, g);
		if (ret)
			return ret;
	}
	pvbe_info(g->tag, "listening on %s; window %" PRIu64 " bytes, %u vectors (QEMU: vectors=%u or more)",
		  g->cfg->socket, g->win_size, g->nvectors, g->nvectors);
	/* After an upgrade: the client the last pviod served, taken over. */
	if (pvbe_handover_adopt(g) && pvbe_loop_add(g->conn_fd, EPOLLRDHUP, pvbe_on_conn, g)) {
		pvbe_err(g->tag, "upgrade: cannot watch the adopted client: dropped");
		pvbe_conn_close_fds(g);
	}
	/* Adopted with the last worker's I/O still at the disk: not before it is done. */
	pvbe_worker_start(g);
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
			ret = pvbe_guest_open(g);
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
	pvbe_conn_drop(g, "guest removed");
	if (g->worker) {
		kill(g->worker, SIGTERM);
		g->stop_by = pvbe_now_ms() + PVBE_STOP_GRACE_MS;
	} else {
		pvbe_guest_finish_remove(g);
	}
}

void pvbe_guest_finish_remove(struct pvbe_guest *g)
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
		if (key && (g->conn_fd >= 0 || g->mig != PVBE_MIG_NONE)) {
			pvbe_err(g->tag, "reload: key '%s' changed while %s: not applied (remove the guest or stop its VM first)",
				 key, g->conn_fd >= 0 ? "a client is connected" : "it waits for a migration");
			if (!nerr++)
				snprintf(err, len, "guest %s: key '%s' changed while %s: not applied",
					 g->cfg->name, key,
					 g->conn_fd >= 0 ? "a client is connected" : "it waits for a migration");
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

void pvbe_guests_readd(void)
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