// SPDX-License-Identifier: GPL-2.0
/*
 * fdstore.c - the guests' fds in systemd's file-descriptor store (fdstore.h).
 *
 * Each stored fd is named "GUEST.KEY.PID.N" (KEY as in the hand-over
 * state: listen, drain, persist_fd, conn, shm, ram, be_efd.V,
 * guest_efd.V), the state "state.PID.N": a sealed memfd holding the
 * hand-over state (handover.c's head) with those names where an exec'd
 * pviod finds fd numbers, and "written", the time it was written.
 *
 * systemd keeps one copy of an object however often it is stored, so an
 * fd is stored once, when it appears, and removed when it goes: the
 * supervisor remembers what it stored (the guest, the key, the fd and what
 * it refers to; the client for a connection's fds, whose eventfds all look
 * alike).  It stores before anything could need it: from the tick, when
 * a fingerprint of the guests' fds and counters changes, and as soon as a
 * worker starts, the moment a guest's generation moves.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "core/fdstore.h"
#include "core/handover.h"
#include "core/log.h"
#include "core/pviod.h"

#define PVBE_FDSTORE_KEY	24
#define PVBE_FDSTORE_NAME	(PVBE_NAME_MAX + PVBE_FDSTORE_KEY + 32)

struct stored {
	const struct pvbe_guest *g;
	char key[PVBE_FDSTORE_KEY];
	int fd;
	dev_t dev;
	ino_t ino;
	int client;			/* a connection's fds: its client; else -1 */
	bool seen;			/* in this sync */
	char name[PVBE_FDSTORE_NAME];
};

/* What systemd handed back at start-up, until the first sync. */
struct passed {
	int fd;				/* -1: closed */
	dev_t dev;
	ino_t ino;
	bool used;			/* named in the state taken: kept open */
	bool kept;			/* its name now an entry's: stays stored */
	char *name;
};

static bool on;
static unsigned long store_max;		/* $FDSTORE */
static struct stored *ents;
static unsigned int nents, cap_ents;
static char state_name[PVBE_FDSTORE_NAME];
static uint64_t seq, last_print;
static bool started, synced, full_warned;
static struct passed *passed;
static int npassed;

bool pvbe_fdstore_init(void)
{
	const char *max = getenv("FDSTORE");
	char *end;

	if (max && getenv("NOTIFY_SOCKET")) {
		store_max = strtoul(max, &end, 10);
		on = !*end && store_max > 0;
	}
	return on;
}

bool pvbe_fdstore_on(void)
{
	return on;
}

unsigned int pvbe_fdstore_count(void)
{
	return on ? nents + !!state_name[0] : 0;
}

static void name_of(char *buf, size_t len, const char *guest, const char *key)
{
	snprintf(buf, len, "%s.%s.%d.%" PRIu64, guest, key, (int)getpid(), ++seq);
}

static int store(int fd, const char *name)
{
	char msg[PVBE_FDSTORE_NAME + 32];
	int ret;

	pvbe_dbg("supervisor", "fd store: fd %d stored as %s", fd, name);
	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	ret = sd_pid_notify_with_fds(0, 0, msg, &fd, 1);
	if (ret <= 0) {
		pvbe_warn("supervisor", "fd store: cannot store %s: %s", name,
			  ret ? strerror(-ret) : "no NOTIFY_SOCKET");
		return ret ? ret : -ENOTCONN;
	}
	return 0;
}

static void unstore(const char *name)
{
	pvbe_dbg("supervisor", "fd store: %s removed", name);
	sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=%s", name);
}

/* The fd handed back at start-up that is @fd, if its name is still to be had. */
static struct passed *passed_as(int fd, const struct stat *st)
{
	int i;

	for (i = 0; i < npassed; i++)
		if (passed[i].fd == fd && passed[i].used && !passed[i].kept &&
		    passed[i].dev == st->st_dev &&
		    passed[i].ino == st->st_ino)
			return &passed[i];
	return NULL;
}

static bool per_client(const char *key)
{
	return strcmp(key, "listen") && strcmp(key, "drain") && strcmp(key, "persist_fd");
}

/* The stored entry for @g's @fd under @key: the one there, or a new one. */
static struct stored *lookup(struct pvbe_guest *g, const char *key, int fd)
{
	int client = per_client(key) ? g->client_id : -1;
	struct stored *e = NULL, *n;
	struct passed *p;
	struct stat st;
	unsigned int i;

	if (fstat(fd, &st) < 0)
		return NULL;
	for (i = 0; i < nents; i++)
		if (ents[i].g == g && !strcmp(ents[i].key, key)) {
			e = &ents[i];
			break;
		}
	if (e && e->fd == fd && e->dev == st.st_dev && e->ino == st.st_ino && e->client == client) {
		e->seen = true;
		return e;
	}
	if (e) {
		/* Another object now: the old one goes. */
		unstore(e->name);
		*e = ents[--nents];
	}
	if (nents + 2 > store_max) {	/* one left for the state */
		if (!full_warned)
			pvbe_warn(g->tag, "fd store full (FDSTORE=%lu): what does not fit is lost at a restart",
				  store_max);
		full_warned = true;
		return NULL;
	}
	if (nents == cap_ents) {
		n = realloc(ents, (cap_ents ? 2 * cap_ents : 64) * sizeof(*ents));
		if (!n)
			return NULL;
		ents = n;
		cap_ents = cap_ents ? 2 * cap_ents : 64;
	}
	e = &ents[nents];
	memset(e, 0, sizeof(*e));
	e->g = g;
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->fd = fd;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->client = client;
	e->seen = true;
	p = passed_as(fd, &st);
	if (p) {
		/* Already in the store, under the name it was handed back with. */
		snprintf(e->name, sizeof(e->name), "%s", p->name);
		p->kept = true;
	} else {
		name_of(e->name, sizeof(e->name), g->cfg->name, key);
		if (store(fd, e->name))
			return NULL;
	}
	nents++;
	return e;
}

/* handover.c's callback: the fd by its name in the store. */
static int name_fd(struct pvbe_guest *g, struct json_object *o, const char *key, int fd, int vec,
		   void *ctx)
{
	char k[PVBE_FDSTORE_KEY];
	struct stored *e;

	(void)ctx;
	if (fd < 0) {
		if (vec < 0)
			json_object_object_add(o, key, json_object_new_int(-1));
		return 0;
	}
	if (vec >= 0)
		snprintf(k, sizeof(k), "%s.%d", key, vec);
	else
		snprintf(k, sizeof(k), "%s", key);
	e = lookup(g, k, fd);
	/* Not stored: the state names nothing (or too few), so it is not adopted. */
	if (!e)
		return 0;
	if (vec >= 0)
		json_object_array_add(o, json_object_new_string(e->name));
	else
		json_object_object_add(o, key, json_object_new_string(e->name));
	return 0;
}

/* FNV-1a over what the state is made of: it changed, or (very nearly) not. */
static uint64_t mix(uint64_t h, uint64_t v)
{
	unsigned int i;

	for (i = 0; i < 8; i++, v >>= 8)
		h = (h ^ (v & 0xff)) * 0x100000001b3ULL;
	return h;
}

static uint64_t fingerprint(void)
{
	uint64_t h = mix(0xcbf29ce484222325ULL, pvbe.upgrades);
	unsigned int i, v;

	h = mix(h, pvbe.next_client_id);
	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		const struct pvbe_guest *g = pvbe.guests[i];

		if (!g)
			continue;
		h = mix(h, (uintptr_t)g);
		h = mix(h, (uint64_t)(unsigned int)g->listen_fd << 32 | (unsigned int)g->drain_fd);
		h = mix(h, (uint64_t)(unsigned int)g->conn_fd << 32 | (unsigned int)g->shm_fd);
		h = mix(h, (uint64_t)(unsigned int)g->ram_fd << 32 | (unsigned int)g->persist_fd);
		h = mix(h, (uint64_t)g->client_id << 32 | g->generation);
		h = mix(h, (uint64_t)g->mig << 8 | (uint64_t)g->mig_tracking << 4 | g->removing);
		h = mix(h, g->ram_size);
		for (v = 0; v < g->nvectors && g->conn_fd >= 0; v++)
			h = mix(h, (uint64_t)(unsigned int)g->be_efd[v] << 32 |
				   (unsigned int)g->guest_efd[v]);
	}
	return h;
}

/* The state, in a sealed memfd of its own, stored; the last one goes. */
static void store_state(struct json_object *top)
{
	struct timespec ts;
	char name[PVBE_FDSTORE_NAME];
	int fd;

	clock_gettime(CLOCK_REALTIME, &ts);
	json_object_object_add(top, "written",
			       json_object_new_int64((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec));
	fd = pvbe_handover_write(top, "pviod-state", MFD_CLOEXEC);
	if (fd < 0) {
		pvbe_warn("supervisor", "fd store: the state: %s", strerror(-fd));
		return;
	}
	snprintf(name, sizeof(name), "state.%d.%" PRIu64, (int)getpid(), ++seq);
	if (!store(fd, name)) {
		if (state_name[0])
			unstore(state_name);
		snprintf(state_name, sizeof(state_name), "%s", name);
	}
	close(fd);
}

void pvbe_fdstore_sync(void)
{
	static const struct pvbe_handover_refs refs = { .fd = name_fd, .persist_fd = true };
	struct json_object *top;
	unsigned int i;
	uint64_t h;
	int err, clients, p;

	if (!started)
		return;
	h = fingerprint();
	if (synced && h == last_print)
		return;
	for (i = 0; i < nents; i++)
		ents[i].seen = false;
	top = pvbe_handover_state(&refs, &err, &clients);
	store_state(top);
	json_object_put(top);
	/* What no guest has any more (a guest removed: its entries too). */
	for (i = 0; i < nents;) {
		if (ents[i].seen) {
			i++;
			continue;
		}
		unstore(ents[i].name);
		ents[i] = ents[--nents];
	}
	/* Handed back and not taken again (old states too): gone from the store. */
	for (p = 0; p < npassed; p++) {
		if (!passed[p].kept)
			unstore(passed[p].name);
		free(passed[p].name);
	}
	free(passed);
	passed = NULL;
	npassed = 0;
	last_print = h;
	synced = true;
}

void pvbe_fdstore_start(void)
{
	started = on;
	pvbe_fdstore_sync();
}

void pvbe_fdstore_release(void)
{
	unsigned int i;

	if (!on)
		return;
	for (i = 0; i < nents; i++)
		unstore(ents[i].name);
	if (state_name[0])
		unstore(state_name);
	nents = 0;
	state_name[0] = '\0';
	synced = false;
}

/* ---- start-up ------------------------------------------------------------------ */

static struct passed *find_passed(const char *name)
{
	int i;

	for (i = 0; i < npassed; i++)
		if (passed[i].fd >= 0 && !strcmp(passed[i].name, name))
			return &passed[i];
	return NULL;
}

/* The state's name for @key in @o, as the fd handed back under it; else gone. */
static bool resolve(struct json_object *o, const char *key)
{
	struct json_object *v;
	struct passed *p;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return true;	/* absent or -1 */
	p = find_passed(json_object_get_string(v));
	if (!p) {
		json_object_object_del(o, key);
		return false;
	}
	p->used = true;
	json_object_object_add(o, key, json_object_new_int(p->fd));
	return true;
}

static void resolve_array(struct json_object *o, const char *key)
{
	struct json_object *a, *b;
	struct passed *p;
	size_t i;

	if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
		return;
	b = json_object_new_array();
	for (i = 0; i < json_object_array_length(a); i++) {
		struct json_object *v = json_object_array_get_idx(a, i);

		p = json_object_is_type(v, json_type_string) ?
		    find_passed(json_object_get_string(v)) : NULL;
		if (!p) {
			/* Not all there: no array, and the guest is not adopted. */
			json_object_put(b);
			json_object_object_del(o, key);
			return;
		}
		p->used = true;
		json_object_array_add(b, json_object_new_int(p->fd));
	}
	json_object_object_add(o, key, b);
}

/* The device state page, as the copy an exec hands over ("persist"). */
static void resolve_persist(struct json_object *o)
{
	struct pvbe_persist page;
	char hex[2 * sizeof(page) + 1];
	struct json_object *v;
	struct passed *p;
	size_t i;

	if (!json_object_object_get_ex(o, "persist_fd", &v) || !json_object_is_type(v, json_type_string))
		return;
	p = find_passed(json_object_get_string(v));
	json_object_object_del(o, "persist_fd");
	if (!p || pread(p->fd, &page, sizeof(page), 0) != (ssize_t)sizeof(page))
		return;		/* no "persist": not adopted */
	for (i = 0; i < sizeof(page); i++)
		sprintf(hex + 2 * i, "%02x", ((unsigned char *)&page)[i]);
	json_object_object_add(o, "persist", json_object_new_string(hex));
}

static struct json_object *read_state(int fd, int64_t *written)
{
	struct json_object *st = pvbe_handover_read(fd), *v;

	if (st && (!json_object_object_get_ex(st, "written", &v) ||
		   !json_object_is_type(v, json_type_int))) {
		json_object_put(st);
		return NULL;
	}
	*written = st ? json_object_get_int64(v) : 0;
	return st;
}

int pvbe_fdstore_load(void)
{
	static const char *const one[] = { "listen", "drain", "conn", "shm", "ram" };
	struct json_object *best = NULL, *arr;
	int64_t best_at = 0, at;
	char **names = NULL;
	int n, i, taken = 0;
	struct stat sb;
	size_t k, j;

	if (!on)
		return 0;
	n = sd_listen_fds_with_names(1, &names);
	if (n <= 0) {
		if (n < 0)
			pvbe_err("supervisor", "fd store: the fds handed back: %s", strerror(-n));
		return n;
	}
	passed = calloc((size_t)n, sizeof(*passed));
	if (!passed) {
		for (i = 0; i < n; i++) {
			close(SD_LISTEN_FDS_START + i);
			free(names[i]);
		}
		free(names);
		return -ENOMEM;
	}
	npassed = n;
	for (i = 0; i < n; i++) {
		struct json_object *st;

		passed[i].fd = SD_LISTEN_FDS_START + i;
		passed[i].name = names[i];
		pvbe_dbg("supervisor", "fd store: fd %d is %s", passed[i].fd, names[i]);
		if (fstat(passed[i].fd, &sb) == 0) {
			passed[i].dev = sb.st_dev;
			passed[i].ino = sb.st_ino;
		}
		if (strncmp(names[i], "state.", 6))
			continue;
		st = read_state(passed[i].fd, &at);
		if (st && (!best || at > best_at)) {
			json_object_put(best);
			best = st;
			best_at = at;
		} else {
			json_object_put(st);
		}
	}
	free(names);
	if (best && json_object_object_get_ex(best, "guests", &arr) &&
	    json_object_is_type(arr, json_type_array)) {
		for (k = 0; k < json_object_array_length(arr); k++) {
			struct json_object *o = json_object_array_get_idx(arr, k);

			if (!json_object_is_type(o, json_type_object))
				continue;
			for (j = 0; j < sizeof(one) / sizeof(one[0]); j++)
				resolve(o, one[j]);
			resolve_array(o, "be_efd");
			resolve_array(o, "guest_efd");
			resolve_persist(o);
			taken++;
		}
	}
	/* What the state does not name is of no use: closed (its name goes at the first sync). */
	for (i = 0; i < npassed; i++)
		if (!passed[i].used) {
			close(passed[i].fd);
			passed[i].fd = -1;
		}
	if (!best) {
		pvbe_err("supervisor", "fd store: %d fd(s) handed back but no state among them: starting clean",
			 n);
		return -EINVAL;
	}
	pvbe_info("supervisor", "fd store: %d fd(s) handed back, %d guest(s) in the state", n, taken);
	return pvbe_handover_take(best, "restart");
}
