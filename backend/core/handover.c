// SPDX-License-Identifier: GPL-2.0
/*
 * handover.c - the state one pviod leaves the pviod it execs (handover.h).
 *
 * The state is a JSON object in a sealed memfd whose number is in
 * PVIOD_HANDOVER; every fd it names is open in the new process (the old
 * one cleared FD_CLOEXEC on them and on nothing else):
 *
 *   {"version": 1, "upgrades": N, "next_client_id": N,
 *    "guests": [{"name": S, "file": S or absent, "socket": S, "listen": FD,
 *                "drain": FD or absent (the dead worker's I/O not yet done),
 *                "conn": FD or absent, and with a client:
 *                "client_id": N, "generation": N, "backend_peer": N
 *                (absent: 0, an older pviod's), "win_size": N,
 *                "nvectors": N, "shm": FD, "be_efd": [FD...],
 *                "guest_efd": [FD...], "ram": FD or -1, "ram_size": N,
 *                "persist": HEX of struct pvbe_persist}]}
 *
 * systemd's fd store keeps the same state (fdstore.c), with names of
 * stored fds where this has numbers, and the device state page as a
 * memfd ("persist_fd") where this has a copy: read when it is taken.
 *
 * Written and read by pviod only, never by a guest; still, the reader
 * checks every fd it is given (fstat: what it must be) and every size,
 * and a guest whose configuration now lays its window out differently
 * is not adopted: its client is dropped and QEMU sees the server gone.
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
#include <unistd.h>

#include "core/fdstore.h"
#include "core/handover.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/pviod.h"
#include "core/supervisor.h"
#include "core/migrate.h"

#define PVBE_HANDOVER_ENV	"PVIOD_HANDOVER"
#define PVBE_HANDOVER_VERSION	1
#define PVBE_HANDOVER_MAX	(1 << 20)

/* The state read at start-up, until pvbe_handover_finish(). */
static struct json_object *state;
static struct json_object *gstate[PVBE_MAX_GUESTS];	/* taken: NULL */
static int ngstate;

/* ---- writing ----------------------------------------------------------------- */

static int keep_open(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl < 0 || fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0 ? -errno : 0;
}

/* For an exec: the fd's number, open across it. */
static int exec_fd(struct pvbe_guest *g, struct json_object *o, const char *key, int fd,
		   int vec, void *ctx)
{
	(void)g;
	(void)ctx;
	if (vec >= 0) {
		json_object_array_add(o, json_object_new_int(fd));
		return keep_open(fd);
	}
	json_object_object_add(o, key, json_object_new_int(fd));
	return fd >= 0 ? keep_open(fd) : 0;
}

static int add_fds(struct pvbe_guest *g, struct json_object *o, const char *key, const int *fds,
		   unsigned int n, const struct pvbe_handover_refs *refs)
{
	struct json_object *a = json_object_new_array();
	unsigned int i;
	int ret = 0;

	json_object_object_add(o, key, a);
	for (i = 0; i < n && !ret; i++)
		ret = refs->fd(g, a, key, fds[i], (int)i, refs->ctx);
	return ret;
}

static struct json_object *guest_state(struct pvbe_guest *g, const struct pvbe_handover_refs *refs,
				       int *err)
{
	struct json_object *o = json_object_new_object();
	const unsigned char *p = (const unsigned char *)g->persist;
	char *hex;
	size_t i;

	json_object_object_add(o, "name", json_object_new_string(g->cfg->name));
	if (g->source[0])
		json_object_object_add(o, "file", json_object_new_string(g->source));
	json_object_object_add(o, "socket", json_object_new_string(g->cfg->socket));
	*err = refs->fd(g, o, "listen", g->listen_fd, -1, refs->ctx);
	/* The last worker's I/O may still be at the disk: its drain pipe too. */
	if (!*err && g->drain_fd >= 0)
		*err = refs->fd(g, o, "drain", g->drain_fd, -1, refs->ctx);
	/*
	 * A client of a migration is not handed over: its window is the
	 * migration's (an upgrade waits for it; a restart drops it).
	 */
	if (g->conn_fd < 0 || g->mig != PVBE_MIG_NONE || g->mig_tracking)
		return o;
	if (refs->persist_fd) {
		/* Read at adoption: what the page holds then, not now. */
		if (!*err)
			*err = refs->fd(g, o, "persist_fd", g->persist_fd, -1, refs->ctx);
	} else {
		hex = malloc(2 * sizeof(*g->persist) + 1);
		if (!hex) {
			*err = -ENOMEM;
			return o;
		}
		for (i = 0; i < sizeof(*g->persist); i++)
			sprintf(hex + 2 * i, "%02x", p[i]);
		json_object_object_add(o, "persist", json_object_new_string(hex));
		free(hex);
	}
	if (!*err)
		*err = refs->fd(g, o, "conn", g->conn_fd, -1, refs->ctx);
	if (!*err)
		*err = refs->fd(g, o, "shm", g->shm_fd, -1, refs->ctx);
	if (!*err)
		*err = refs->fd(g, o, "ram", g->ram_fd, -1, refs->ctx);
	if (!*err)
		*err = add_fds(g, o, "be_efd", g->be_efd, g->nvectors, refs);
	if (!*err)
		*err = add_fds(g, o, "guest_efd", g->guest_efd, g->nvectors, refs);
	json_object_object_add(o, "client_id", json_object_new_int(g->client_id));
	json_object_object_add(o, "generation", json_object_new_int64(g->generation));
	json_object_object_add(o, "backend_peer", json_object_new_int(g->backend_peer));
	json_object_object_add(o, "win_size", json_object_new_int64((int64_t)g->win_size));
	json_object_object_add(o, "nvectors", json_object_new_int((int)g->nvectors));
	json_object_object_add(o, "ram_size", json_object_new_int64((int64_t)g->ram_size));
	return o;
}

struct json_object *pvbe_handover_state(const struct pvbe_handover_refs *refs, int *err,
					int *clients)
{
	struct json_object *top = json_object_new_object(), *arr = json_object_new_array();
	int i;

	*err = 0;
	*clients = 0;
	json_object_object_add(top, "version", json_object_new_int(PVBE_HANDOVER_VERSION));
	json_object_object_add(top, "upgrades", json_object_new_int64(pvbe.upgrades + 1));
	json_object_object_add(top, "next_client_id", json_object_new_int(pvbe.next_client_id));
	json_object_object_add(top, "guests", arr);
	for (i = 0; i < PVBE_MAX_GUESTS && !*err; i++) {
		struct pvbe_guest *g = pvbe.guests[i];
		struct json_object *o;

		if (!g || g->removing)
			continue;
		o = guest_state(g, refs, err);
		json_object_array_add(arr, o);
		*clients += json_object_object_get_ex(o, "conn", NULL);
	}
	return top;
}

int pvbe_handover_write(struct json_object *top, const char *name, unsigned int flags)
{
	const char *text = json_object_to_json_string_ext(top, JSON_C_TO_STRING_PLAIN);
	size_t n = strlen(text);
	int fd, ret;

	fd = memfd_create(name, flags | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (write(fd, text, n) != (ssize_t)n ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		ret = errno ? -errno : -EIO;
		close(fd);
		return ret;
	}
	return fd;
}

int pvbe_handover_exec(char *err, size_t len)
{
	static const struct pvbe_handover_refs refs = { .fd = exec_fd };
	struct json_object *top, *arr;
	char env[32];
	int fd, i, ret, adopted;

	top = pvbe_handover_state(&refs, &ret, &adopted);
	json_object_object_get_ex(top, "guests", &arr);
	fd = ret ? ret : pvbe_handover_write(top, "pviod-handover", 0);	/* no CLOEXEC */
	if (fd < 0) {
		ret = fd;
		snprintf(err, len, "hand-over state: %s", strerror(-ret));
		goto undo;
	}
	snprintf(env, sizeof(env), "%d", fd);
	setenv(PVBE_HANDOVER_ENV, env, 1);
	pvbe_info("supervisor", "upgrade: exec %s with %d guest(s), %d client(s)", pvbe.exe,
		  (int)json_object_array_length(arr), adopted);
	json_object_put(top);
	top = NULL;
	fflush(stderr);
	/* The new pviod stores what it adopts under names of its own. */
	pvbe_fdstore_release();
	execv(pvbe.exe, pvbe.argv);
	ret = -errno;
	snprintf(err, len, "exec %s: %s", pvbe.exe, strerror(errno));
	unsetenv(PVBE_HANDOVER_ENV);
undo:
	if (fd >= 0)
		close(fd);
	json_object_put(top);
	/* Ours again: nothing must leak into a worker or a later exec. */
	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		struct pvbe_guest *g = pvbe.guests[i];
		unsigned int v;

		if (!g)
			continue;
		if (g->listen_fd >= 0)
			fcntl(g->listen_fd, F_SETFD, FD_CLOEXEC);
		if (g->conn_fd >= 0)
			fcntl(g->conn_fd, F_SETFD, FD_CLOEXEC);
		if (g->shm_fd >= 0)
			fcntl(g->shm_fd, F_SETFD, FD_CLOEXEC);
		if (g->ram_fd >= 0)
			fcntl(g->ram_fd, F_SETFD, FD_CLOEXEC);
		if (g->drain_fd >= 0)
			fcntl(g->drain_fd, F_SETFD, FD_CLOEXEC);
		for (v = 0; v < g->nvectors; v++) {
			if (g->be_efd[v] >= 0)
				fcntl(g->be_efd[v], F_SETFD, FD_CLOEXEC);
			if (g->guest_efd[v] >= 0)
				fcntl(g->guest_efd[v], F_SETFD, FD_CLOEXEC);
		}
	}
	return ret;
}

/* ---- reading ----------------------------------------------------------------- */

static int64_t get_int(struct json_object *o, const char *key, int64_t dflt)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return dflt;
	return json_object_get_int64(v);
}

static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Every fd of one guest's state, for closing: @fds has room for 5 + 2 * vectors. */
static unsigned int state_fds(struct json_object *o, int *fds)
{
	static const char *const one[] = { "listen", "conn", "shm", "ram", "drain" };
	static const char *const many[] = { "be_efd", "guest_efd" };
	struct json_object *a;
	unsigned int n = 0, i;
	int64_t fd;
	size_t k;

	for (i = 0; i < 5; i++)
		if ((fd = get_int(o, one[i], -1)) >= 0 && fd <= INT_MAX)
			fds[n++] = (int)fd;
	for (i = 0; i < 2; i++) {
		if (!json_object_object_get_ex(o, many[i], &a) ||
		    !json_object_is_type(a, json_type_array))
			continue;
		for (k = 0; k < json_object_array_length(a) && k < PVIO_MAX_VECTORS; k++) {
			fd = json_object_get_int64(json_object_array_get_idx(a, k));
			if (fd >= 0 && fd <= INT_MAX)
				fds[n++] = (int)fd;
		}
	}
	return n;
}

static void close_state_fds(struct json_object *o)
{
	int fds[5 + 2 * PVIO_MAX_VECTORS];
	unsigned int i, n = state_fds(o, fds);

	for (i = 0; i < n; i++)
		close(fds[i]);
}

/* Every fd @st names, closed: it cannot be used. */
static void drop_state(struct json_object *st)
{
	struct json_object *arr;
	size_t i;

	if (st && json_object_object_get_ex(st, "guests", &arr) &&
	    json_object_is_type(arr, json_type_array))
		for (i = 0; i < json_object_array_length(arr); i++)
			if (json_object_is_type(json_object_array_get_idx(arr, i),
						json_type_object))
				close_state_fds(json_object_array_get_idx(arr, i));
	json_object_put(st);
}

int pvbe_handover_take(struct json_object *st, const char *how)
{
	struct json_object *arr;
	int64_t id;
	size_t i;

	if (!st || get_int(st, "version", 0) != PVBE_HANDOVER_VERSION ||
	    !json_object_object_get_ex(st, "guests", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		pvbe_err("supervisor", "%s: the hand-over state cannot be read: starting clean", how);
		drop_state(st);
		return -EINVAL;
	}
	state = st;
	pvbe.upgrades = (uint64_t)get_int(state, "upgrades", 0);
	id = get_int(state, "next_client_id", 0);
	if (id > 0 && id <= 0xffff)
		pvbe.next_client_id = (uint16_t)id;
	for (i = 0; i < json_object_array_length(arr) && ngstate < PVBE_MAX_GUESTS; i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);

		if (json_object_is_type(o, json_type_object) && get_str(o, "name"))
			gstate[ngstate++] = o;
	}
	pvbe_info("supervisor", "%s %" PRIu64 ": %d guest(s) handed over", how, pvbe.upgrades,
		  ngstate);
	return 1;
}

struct json_object *pvbe_handover_read(int fd)
{
	struct json_object *st = NULL;
	struct stat sb;
	char *buf;

	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0 ||
	    sb.st_size > PVBE_HANDOVER_MAX)
		return NULL;
	buf = calloc(1, (size_t)sb.st_size + 1);
	if (buf && pread(fd, buf, (size_t)sb.st_size, 0) == sb.st_size)
		st = json_tokener_parse(buf);
	free(buf);
	return st;
}

int pvbe_handover_load(void)
{
	const char *env = getenv(PVBE_HANDOVER_ENV);
	struct json_object *st;
	struct stat sb;
	char *end;
	long fd;

	if (!env)
		return 0;
	fd = strtol(env, &end, 10);
	unsetenv(PVBE_HANDOVER_ENV);	/* not for a worker, not for the next exec */
	if (*end || fd < 3 || fd > INT_MAX || fstat((int)fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		pvbe_err("supervisor", "upgrade: %s=%s is no hand-over state: starting clean",
			 PVBE_HANDOVER_ENV, env);
		return -EINVAL;
	}
	st = pvbe_handover_read((int)fd);
	close((int)fd);
	return pvbe_handover_take(st, "upgrade");
}

const char *pvbe_handover_extra_file(int i, const char **guest)
{
	if (i >= ngstate)
		return NULL;
	*guest = gstate[i] ? get_str(gstate[i], "name") : "";
	if (!gstate[i])
		return "";	/* adopted already */
	return get_str(gstate[i], "file") ? get_str(gstate[i], "file") : "";
}

static struct json_object *find(const char *name)
{
	int i;

	for (i = 0; i < ngstate; i++)
		if (gstate[i] && !strcmp(get_str(gstate[i], "name"), name))
			return gstate[i];
	return NULL;
}

/* @fd as the state names it, if it is open and of type @mode (0: any). */
static int check_fd(struct json_object *o, const char *key, mode_t mode)
{
	int64_t fd = get_int(o, key, -1);
	struct stat st;

	if (fd < 0 || fd > INT_MAX || fstat((int)fd, &st) < 0 ||
	    (mode && (st.st_mode & S_IFMT) != mode))
		return -1;
	return (int)fd;
}

int pvbe_handover_listen_fd(struct pvbe_guest *g)
{
	struct json_object *o = find(g->cfg->name);
	const char *path = o ? get_str(o, "socket") : NULL;
	int fd;

	/* Moved to another path: a new socket there, the old one goes. */
	if (!path || strcmp(path, g->cfg->socket))
		return -1;
	fd = check_fd(o, "listen", S_IFSOCK);
	if (fd >= 0) {
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		json_object_object_del(o, "listen");	/* ours now */
	}
	return fd;
}

/* The vector fds of @key, checked: all @n eventfds, or false. */
static bool get_efds(struct json_object *o, const char *key, int *fds, unsigned int n)
{
	struct json_object *a;
	unsigned int v;

	if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array) ||
	    json_object_array_length(a) != n)
		return false;
	for (v = 0; v < n; v++) {
		int64_t fd = json_object_get_int64(json_object_array_get_idx(a, v));
		char path[64], link[64];
		ssize_t l;

		snprintf(path, sizeof(path), "/proc/self/fd/%" PRId64, fd);
		l = readlink(path, link, sizeof(link) - 1);
		if (fd < 0 || fd > INT_MAX || l < 0)
			return false;
		link[l] = '\0';
		if (strcmp(link, "anon_inode:[eventfd]"))
			return false;
		fds[v] = (int)fd;
	}
	return true;
}

bool pvbe_handover_adopt(struct pvbe_guest *g)
{
	struct json_object *o = find(g->cfg->name);
	int be[PVIO_MAX_VECTORS], ge[PVIO_MAX_VECTORS];
	const char *hex, *why = NULL;
	int conn, shm, ram, drain;
	unsigned int v;
	struct stat st;
	size_t i;

	if (!o || get_int(o, "conn", -1) < 0)
		return false;
	conn = check_fd(o, "conn", S_IFSOCK);
	shm = check_fd(o, "shm", S_IFREG);
	ram = get_int(o, "ram", -1) < 0 ? -1 : check_fd(o, "ram", 0);
	hex = get_str(o, "persist");
	if (conn < 0 || shm < 0 || (get_int(o, "ram", -1) >= 0 && ram < 0) || !hex ||
	    strlen(hex) != 2 * sizeof(*g->persist))
		why = "the hand-over state is incomplete";
	else if ((uint64_t)get_int(o, "win_size", 0) != g->win_size ||
		 fstat(shm, &st) < 0 || (uint64_t)st.st_size != g->win_size ||
		 get_int(o, "nvectors", 0) != (int64_t)g->nvectors)
		why = "its configuration lays the window out differently now";
	else if (!get_efds(o, "be_efd", be, g->nvectors) ||
		 !get_efds(o, "guest_efd", ge, g->nvectors))
		why = "its eventfds are missing";
	if (why) {
		pvbe_err(g->tag, "upgrade: client not adopted: %s; QEMU sees the server gone", why);
		return false;
	}
	for (i = 0; i < sizeof(*g->persist); i++) {
		unsigned int b;

		if (sscanf(hex + 2 * i, "%2x", &b) != 1) {
			pvbe_err(g->tag, "upgrade: client not adopted: bad device state");
			return false;
		}
		((unsigned char *)g->persist)[i] = (unsigned char)b;
	}
	g->conn_fd = conn;
	g->shm_fd = shm;
	g->ram_fd = ram;
	g->ram_size = (uint64_t)get_int(o, "ram_size", 0);
	g->client_id = (uint16_t)get_int(o, "client_id", 0);
	/* An older pviod was peer 0 in its clients' handshakes (no field). */
	g->backend_peer = get_int(o, "backend_peer", 0) == PVBE_BACKEND_PEER ? PVBE_BACKEND_PEER : 0;
	/* A new generation: the guest sees its setup is void, as after a crash. */
	g->generation = (uint32_t)get_int(o, "generation", 1) + 1;
	for (v = 0; v < g->nvectors; v++) {
		g->be_efd[v] = be[v];
		g->guest_efd[v] = ge[v];
		fcntl(be[v], F_SETFD, FD_CLOEXEC);
		fcntl(ge[v], F_SETFD, FD_CLOEXEC);
	}
	fcntl(conn, F_SETFD, FD_CLOEXEC);
	fcntl(shm, F_SETFD, FD_CLOEXEC);
	if (ram >= 0)
		fcntl(ram, F_SETFD, FD_CLOEXEC);
	/*
	 * The dead worker's reads may still land in guest RAM: the new
	 * worker takes the window over only once its drain pipe hangs up,
	 * as after a crash (core/workers.c).
	 */
	drain = check_fd(o, "drain", S_IFIFO);
	if (drain >= 0) {
		fcntl(drain, F_SETFD, FD_CLOEXEC);
		g->drain_fd = drain;
		g->drain_since = pvbe_now_ms();
		pvbe_info(g->tag, "upgrade: the last worker's I/O is still in the kernel: its successor waits for it");
	}
	/* Taken: pvbe_handover_finish() leaves its fds alone. */
	for (i = 0; i < (size_t)ngstate; i++)
		if (gstate[i] == o)
			gstate[i] = NULL;
	pvbe_info(g->tag, "upgrade: peer %u adopted, generation %u", g->client_id, g->generation);
	return true;
}

static bool socket_in_use(const char *path)
{
	int i;

	for (i = 0; i < PVBE_MAX_GUESTS; i++)
		if (pvbe.guests[i] && !strcmp(pvbe.guests[i]->cfg->socket, path))
			return true;
	return false;
}

void pvbe_handover_finish(void)
{
	int i;

	if (!state)
		return;
	for (i = 0; i < ngstate; i++) {
		struct json_object *o = gstate[i];
		struct pvbe_guest *g;

		if (!o)
			continue;
		g = pvbe_guest_find(get_str(o, "name"));
		if (!g)
			pvbe_warn(get_str(o, "name"), "upgrade: no longer configured%s",
				  get_int(o, "conn", -1) >= 0 ? ": its client is dropped" : "");
		/* A socket nobody took: its file goes with it. */
		if (get_int(o, "listen", -1) >= 0 && get_str(o, "socket") &&
		    !socket_in_use(get_str(o, "socket")))
			unlink(get_str(o, "socket"));
		close_state_fds(o);
	}
	json_object_put(state);
	state = NULL;
	ngstate = 0;
}
