// SPDX-License-Identifier: GPL-2.0
/*
 * pvioctl - talk to pviod's control socket.
 *
 *   pvioctl [-s SOCKET] [--json] list
 *   pvioctl [-s SOCKET] [--json] metrics
 *   pvioctl [-s SOCKET] libvirt-xml GUEST
 *   pvioctl [-s SOCKET] [--json] status GUEST DEVICE
 *   pvioctl [-s SOCKET] worker-pid [GUEST]
 *   pvioctl [-s SOCKET] [--json] net-link GUEST DEVICE up|down
 *   pvioctl [-s SOCKET] [--json] blk-resize GUEST DEVICE [SIZE]
 *   pvioctl [-s SOCKET] [--json] balloon GUEST DEVICE status
 *   pvioctl [-s SOCKET] balloon GUEST DEVICE set SIZE [--wait [--timeout S]]
 *   pvioctl [-s SOCKET] balloon GUEST DEVICE policy auto|host|off [--headroom SIZE]
 *   pvioctl [-s SOCKET] [--json] balloon policy
 *   pvioctl [-s SOCKET] guest add FILE
 *   pvioctl [-s SOCKET] guest remove GUEST
 *   pvioctl [-s SOCKET] reload
 *
 * libvirt-xml prints what a libvirt domain needs to be GUEST (configured
 * in pviod): shared file-backed memory and the ivshmem-doorbell device on
 * GUEST's socket, with as many vectors as pviod wants.  With pvio's
 * libvirt hook (/etc/libvirt/hooks/qemu), the domain named GUEST is then
 * added to pviod when it starts and removed when it stops.
 *
 * metrics prints every guest's, device's and queue's counters as
 * Prometheus text, the same as pviod's endpoint (`metrics = ADDR:PORT` in
 * [pviod]) serves at /metrics.
 *
 * worker-pid prints the PID of a guest's worker process (of the only guest
 * when GUEST is left out).
 *
 * net-link sets a net device's link: pviod turns the TAP's carrier on or
 * off and shows the guest the new link status (a config change on vector
 * 0).  The guest's carrier follows.
 *
 * blk-resize grows a blk device's image file to SIZE bytes (K, M, G
 * suffixes; never shrinks), or, without SIZE, takes the size the backing
 * file or block device has now (grown on the host).  The guest sees the new
 * capacity as a config change.
 *
 * balloon set asks the guest to give SIZE bytes (K, M, G suffixes) of its
 * RAM to the host: SIZE is the balloon, not what the guest keeps; 0 gives
 * everything back.  More than the guest's RAM, or outside the device's
 * min..max, is refused.  --wait polls until the guest's balloon holds
 * exactly SIZE (default timeout 60 s) and prints how long it took.
 * balloon status shows target, actual, the host memory behind the guest's
 * RAM file (allocated blocks) and the guest's last statistics.
 *
 * guest add reads FILE (guest and device sections, as in the main
 * configuration) and adds its guests; guest remove stops a guest's worker
 * and releases its resources; reload re-reads the main configuration, as
 * SIGHUP does.  Other guests are not touched by any of the three.
 *
 * The daemon answers every request with one JSON object; --json prints it
 * as is, otherwise pvioctl renders a table.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/metrics.h"

#define DEFAULT_SOCKET	"/run/pvio/control.sock"

static char buf[1 << 20];

/* One request, one JSON object back (parsed; NULL after saying why). */
static bool quiet;	/* upgrade_wait(): pviod is away for a moment */

static struct json_object *request(const char *sock, const char *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	enum json_tokener_error jerr;
	struct json_object *o;
	char line[4200];
	size_t got = 0;
	ssize_t n;
	int fd, l;

	if (strlen(sock) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "pvioctl: socket path too long\n");
		return NULL;
	}
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (!quiet)
			fprintf(stderr, "pvioctl: cannot reach pviod at %s: %s\n", sock,
				strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	l = snprintf(line, sizeof(line), "%s\n", req);
	if (l >= (int)sizeof(line) || send(fd, line, l, MSG_NOSIGNAL) != l) {
		fprintf(stderr, "pvioctl: send: %s\n", strerror(errno));
		close(fd);
		return NULL;
	}
	while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	if (!got) {
		if (!quiet)
			fprintf(stderr, "pvioctl: pviod closed the connection without answering\n");
		return NULL;
	}
	o = json_tokener_parse_verbose(buf, &jerr);
	if (!o || !json_object_is_type(o, json_type_object)) {
		fprintf(stderr, "pvioctl: pviod's answer is not a JSON object: %s\n",
			o ? "wrong type" : json_tokener_error_desc(jerr));
		json_object_put(o);
		return NULL;
	}
	return o;
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	return v ? json_object_get_string(v) : "-";
}

static unsigned long long num(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	return v ? (unsigned long long)json_object_get_uint64(v) : 0;
}

static void print_list(struct json_object *j)
{
	struct json_object *gs = get(j, "guests"), *g, *ds, *d;
	size_t i, k, n;

	printf("pviod supervisor %s\n", str(j, "supervisor_pid"));
	printf("%-12s %-9s %-7s %-5s %-7s %-12s %-8s %s\n", "GUEST", "CONNECTED",
	       "WORKER", "GEN", "VECTORS", "DEVICE", "TYPE", "STATE");
	n = gs ? json_object_array_length(gs) : 0;
	for (i = 0; i < n; i++) {
		g = json_object_array_get_idx(gs, i);
		ds = get(g, "devices");
		if (!ds || !json_object_array_length(ds)) {
			printf("%-12s %-9s %-7s %-5s %-7s %-12s %-8s %s\n", str(g, "name"),
			       str(g, "connected"), str(g, "worker_pid"), str(g, "generation"),
			       str(g, "vectors"), "-", "-", get(g, "devices_error") ?
			       str(g, "devices_error") : str(g, "worker"));
			continue;
		}
		for (k = 0; k < json_object_array_length(ds); k++) {
			d = json_object_array_get_idx(ds, k);
			printf("%-12s %-9s %-7s %-5s %-7s %-12s %-8s %s\n", str(g, "name"),
			       str(g, "connected"), str(g, "worker_pid"), str(g, "generation"),
			       str(g, "vectors"), str(d, "name"), str(d, "type"), str(d, "state"));
		}
	}
}

static void print_status(struct json_object *j)
{
	static const char *const qk[] = { "index", "vector", "sq_prod", "sq_cons",
		"cq_prod", "cq_cons", "kicks", "interrupts", "requests", "bytes",
		"errors", "packets", "drops", "mode" };
	struct json_object *qs = get(j, "queues"), *q;
	size_t i, k;

	printf("device %s (%s): %s", str(j, "name"), str(j, "type"), str(j, "state"));
	if (num(j, "broken_reason"))
		printf(", broken reason %llu", num(j, "broken_reason"));
	printf(", guest features %s\n", str(j, "guest_features"));
	for (i = 0; i < sizeof(qk) / sizeof(qk[0]); i++)
		printf("%-11s", qk[i]);
	printf("\n");
	for (k = 0; qs && k < json_object_array_length(qs); k++) {
		q = json_object_array_get_idx(qs, k);
		for (i = 0; i < sizeof(qk) / sizeof(qk[0]); i++)
			printf("%-11s", str(q, qk[i]));
		printf("\n");
	}
}

/* @s as XML attribute text (between single quotes). */
static void xml_attr(const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", stdout);
			break;
		case '<':
			fputs("&lt;", stdout);
			break;
		case '>':
			fputs("&gt;", stdout);
			break;
		case '\'':
			fputs("&apos;", stdout);
			break;
		case '"':
			fputs("&quot;", stdout);
			break;
		default:
			putchar(*s);
		}
	}
}

/* The domain XML for guest @name: memory backing and the shmem device. */
static int libvirt_xml(struct json_object *j, const char *name)
{
	struct json_object *gs = get(j, "guests"), *g;
	size_t i, n = gs ? json_object_array_length(gs) : 0;

	for (i = 0; i < n; i++) {
		g = json_object_array_get_idx(gs, i);
		if (strcmp(str(g, "name"), name))
			continue;
		printf("<!-- pvio guest %s: in <domain>, named %s for the pvio libvirt hook -->\n",
		       name, name);
		printf("<memoryBacking>\n  <source type='file'/>\n  <access mode='shared'/>\n"
		       "</memoryBacking>\n");
		/* role='master' (QEMU's master=on): its window migrates with it. */
		printf("<!-- in <devices> -->\n<shmem name='pvio-%s' role='master'>\n"
		       "  <model type='ivshmem-doorbell'/>\n  <server path='", name);
		xml_attr(str(g, "socket"));
		printf("'/>\n  <msi vectors='%llu' ioeventfd='on'/>\n</shmem>\n", num(g, "vectors"));
		return 0;
	}
	fprintf(stderr, "pvioctl: no guest %s\n", name);
	return 1;
}

static int print_metrics(struct json_object *j)
{
	size_t len;
	char *text = pvbe_metrics_text(j, &len);

	if (!text) {
		fprintf(stderr, "pvioctl: cannot render the metrics: %s\n", strerror(errno));
		return 1;
	}
	fwrite(text, 1, len, stdout);
	free(text);
	return 0;
}

static void print_mib(const char *label, unsigned long long bytes)
{
	printf("  %-22s %10.1f MiB\n", label, bytes / 1048576.0);
}

/* balloon policy: the host-wide memory policy's last round. */
static void print_policy(struct json_object *j)
{
	struct json_object *h = get(j, "host"), *arr = get(j, "balloons");
	size_t i, n = arr ? json_object_array_length(arr) : 0;

	if (!h) {
		printf("%s\n", str(j, "note"));
		return;
	}
	printf("host: %.0f MiB available, reserve %.0f MiB, memory pressure %.2f%% (limit %.2f%%)",
	       num(h, "avail_bytes") / 1048576.0, num(h, "reserve_bytes") / 1048576.0,
	       num(h, "psi_some_avg10") / 100.0, num(h, "psi_limit") / 100.0);
	if (num(h, "guest_memory_max_bytes"))
		printf(", guests at most %.0f MiB", num(h, "guest_memory_max_bytes") / 1048576.0);
	printf("\npool for the guests: %.0f MiB%s\n", num(h, "pool_bytes") / 1048576.0,
	       get(h, "short") && json_object_get_boolean(get(h, "short")) ?
	       ", short: the guests want more" : "");
	printf("%-20s %8s %8s %8s %8s %8s %8s %8s  %s\n", "guest/device (MiB)", "RAM", "kernel",
	       "uses", "demand", "may have", "balloon", "target", "why");
	for (i = 0; i < n; i++) {
		struct json_object *b = json_object_array_get_idx(arr, i);
		char name[64];

		snprintf(name, sizeof(name), "%s/%s", str(b, "guest"), str(b, "device"));
		printf("%-20s %8llu %8llu %8llu %8llu %8llu %8llu %8llu  %s%s\n", name,
		       num(b, "ram_bytes") >> 20, num(b, "unmanaged_bytes") >> 20,
		       num(b, "used_bytes") >> 20,
		       num(b, "demand_bytes") >> 20, num(b, "grant_bytes") >> 20,
		       num(b, "actual_bytes") >> 20, num(b, "target_bytes") >> 20,
		       get(b, "pressure") && json_object_get_boolean(get(b, "pressure")) ?
		       "PRESSURE: " : "", str(b, "why"));
	}
}

static void print_balloon(const char *guest, const char *dev, struct json_object *j)
{
	struct json_object *s = get(j, "stats");

	printf("%s/%s (balloon): %s, policy %s\n", guest, dev, str(j, "state"),
	       str(j, "policy"));
	print_mib("guest RAM", num(j, "ram_bytes"));
	print_mib("target (balloon)", num(j, "target_bytes"));
	print_mib("actual (balloon)", num(j, "actual_bytes"));
	if (get(j, "backed_bytes"))
		print_mib("host-backed RAM", num(j, "backed_bytes"));
	else
		printf("  %-22s %14s\n", "host-backed RAM", "(no client)");
	print_mib("floor", num(j, "floor_bytes"));
	if (strcmp(str(j, "policy"), "off"))
		print_mib("headroom", num(j, "headroom_bytes"));
	printf("  %-22s %10llu / %llu / %llu\n", "pages in/out/reported",
	       num(j, "inflated_pages"), num(j, "deflated_pages"), num(j, "reported_pages"));
	print_mib("released on the host", num(j, "punched_bytes"));
	if (num(j, "punch_errors"))
		printf("  %-22s %10llu\n", "release errors", num(j, "punch_errors"));
	if (!s) {
		printf("  no statistics from the guest\n");
		return;
	}
	printf("  guest statistics, %llu ms old:\n", num(s, "age_ms"));
	print_mib("  total", num(s, "total_bytes"));
	print_mib("  free", num(s, "free_bytes"));
	print_mib("  available", num(s, "avail_bytes"));
	print_mib("  page cache", num(s, "cache_bytes"));
	printf("  %-22s %10llu / %llu\n", "  faults major/minor", num(s, "major_faults"),
	       num(s, "minor_faults"));
	printf("  %-22s %10llu / %llu\n", "  swap in/out (pages)", num(s, "swap_in"),
	       num(s, "swap_out"));
	printf("  %-22s %10llu\n", "  OOM kills", num(s, "oom_kills"));
	printf("  %-22s %10llu pages\n", "  deflated on pressure",
	       num(s, "deflated_on_pressure"));
	printf("  %-22s %10llu pages scanned, %llu direct-reclaim stalls, %llu refaults\n",
	       "  reclaim", num(s, "pgscan"), num(s, "allocstall"), num(s, "refaults"));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Poll until actual == target; 0, or 1 on timeout / error.  Progress goes
 * to stderr once a second: one line that updates on a terminal, else a
 * line whenever the balloon moved.
 */
static int balloon_wait(const char *sock, const char *guest, const char *dev,
			double timeout)
{
	unsigned long long target = 0, actual = 0, shown = ~0ull;
	bool err, tty = isatty(STDERR_FILENO), dirty = false;
	double t0 = now_s(), next = t0 + 1;
	struct json_object *o;
	char req[256];

	snprintf(req, sizeof(req), "balloon %s %s status", guest, dev);
	for (;;) {
		o = request(sock, req);
		if (!o)
			return 1;
		target = num(o, "target_bytes");
		actual = num(o, "actual_bytes");
		err = get(o, "error") != NULL;
		json_object_put(o);
		if (!err && target == actual) {
			if (dirty)
				fputc('\n', stderr);
			printf("%s/%s: balloon at %.1f MiB after %.2f s\n", guest, dev,
			       actual / 1048576.0, now_s() - t0);
			return 0;
		}
		if (now_s() - t0 > timeout)
			break;
		if (!err && now_s() >= next && (tty || actual != shown)) {
			fprintf(stderr, "%s%s/%s: balloon %.1f MiB, target %.1f MiB, %.0f s%s",
				tty ? "\r" : "", guest, dev, actual / 1048576.0,
				target / 1048576.0, now_s() - t0, tty ? "" : "\n");
			shown = actual;
			dirty = tty;
			next += 1;
		}
		usleep(50000);
	}
	if (dirty)
		fputc('\n', stderr);
	fprintf(stderr, "pvioctl: %s/%s: balloon at %.1f MiB, target %.1f MiB after %.0f s\n",
		guest, dev, actual / 1048576.0, target / 1048576.0, timeout);
	return 1;
}

/*
 * upgrade: pviod execs itself once its workers are gone; done when the
 * control socket answers again, one upgrade further, with a worker for
 * every guest.
 */
static int upgrade_wait(const char *sock, unsigned long long before, double timeout)
{
	unsigned long long upgrades = before, pid = 0;
	struct json_object *o, *gs = NULL;
	double t0 = now_s();
	size_t i, n = 0, w = 0;

	quiet = true;
	while (now_s() - t0 < timeout) {
		usleep(50000);
		o = request(sock, "workers");
		if (!o)
			continue;
		upgrades = num(o, "upgrades");
		pid = num(o, "supervisor_pid");
		n = w = 0;
		if (json_object_object_get_ex(o, "guests", &gs)) {
			n = json_object_array_length(gs);
			for (i = 0; i < n; i++)
				w += num(json_object_array_get_idx(gs, i), "worker_pid") != 0;
		}
		json_object_put(o);
		if (upgrades > before && w == n) {
			printf("pviod %llu upgraded in place (upgrade %llu) after %.2f s: %zu guest(s), %zu worker(s)\n",
			       pid, upgrades, now_s() - t0, n, w);
			return 0;
		}
	}
	fprintf(stderr, "pvioctl: pviod not back after %.0f s (upgrades %llu, %zu of %zu workers)\n",
		timeout, upgrades, w, n);
	return 1;
}

/* worker-pid [GUEST]: from `workers`, which never waits for a worker. */
static int worker_pid(struct json_object *j, const char *guest)
{
	struct json_object *gs = get(j, "guests"), *g;
	size_t i, n = gs ? json_object_array_length(gs) : 0;

	if (!guest && n != 1) {
		fprintf(stderr, "pvioctl: %zu guests: name one (worker-pid GUEST)\n", n);
		return 1;
	}
	for (i = 0; i < n; i++) {
		g = json_object_array_get_idx(gs, i);
		if (guest && strcmp(str(g, "name"), guest))
			continue;
		if (!num(g, "worker_pid")) {
			fprintf(stderr, "pvioctl: guest %s has no worker running\n", str(g, "name"));
			return 1;
		}
		printf("%llu\n", num(g, "worker_pid"));
		return 0;
	}
	fprintf(stderr, "pvioctl: no guest %s\n", guest);
	return 1;
}

/*
 * migrate-track: asked again until the guest says it does as asked (its
 * log_ack): only then may QEMU's pre-copy begin.
 */
static int track_wait(const char *sock, const char *req, const char *guest, double timeout)
{
	bool on = !strstr(req, " off");
	double t0 = now_s();
	struct json_object *o;
	bool done;

	for (;;) {
		o = request(sock, req);
		if (!o)
			return 1;
		if (get(o, "error")) {
			fprintf(stderr, "pvioctl: %s\n", str(o, "error"));
			json_object_put(o);
			return 1;
		}
		done = json_object_get_boolean(get(o, on ? "logging" : "stopped"));
		json_object_put(o);
		if (done) {
			printf("%s: the guest %s the pages it reaps (after %.2f s)\n", guest,
			       on ? "logs" : "no longer logs", now_s() - t0);
			return 0;
		}
		if (now_s() - t0 > timeout) {
			fprintf(stderr, "pvioctl: %s: the guest did not answer the dirty-log request within %.0f s\n",
				guest, timeout);
			return 1;
		}
		usleep(20000);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pvioctl [-s SOCKET] [--json] list\n"
		   "       pvioctl [-s SOCKET] [--json] metrics\n"
		   "       pvioctl [-s SOCKET] libvirt-xml GUEST\n"
		   "       pvioctl [-s SOCKET] [--json] status GUEST DEVICE\n"
		   "       pvioctl [-s SOCKET] worker-pid [GUEST]\n"
		   "       pvioctl [-s SOCKET] [--json] net-link GUEST DEVICE up|down\n"
		   "       pvioctl [-s SOCKET] [--json] blk-resize GUEST DEVICE [SIZE]\n"
		   "       pvioctl [-s SOCKET] [--json] balloon GUEST DEVICE status\n"
		   "       pvioctl [-s SOCKET] balloon GUEST DEVICE set SIZE [--wait [--timeout S]]\n"
		   "       pvioctl [-s SOCKET] balloon GUEST DEVICE policy auto|host|off [--headroom SIZE]\n"
		   "       pvioctl [-s SOCKET] [--json] balloon policy\n"
		   "       pvioctl [-s SOCKET] guest add FILE | guest remove GUEST | reload\n"
		   "       pvioctl [-s SOCKET] upgrade [--timeout S]\n"
		   "       pvioctl [-s SOCKET] migrate-track GUEST [on|off] [--timeout S]\n"
		   "       pvioctl [-s SOCKET] migrate-out GUEST        (prints the STATE)\n"
		   "       pvioctl [-s SOCKET] migrate-in GUEST | migrate-cancel GUEST\n"
		   "       pvioctl [-s SOCKET] migrate-finish GUEST STATE\n"
		   "balloon SIZE is what the guest gives to the host (0: all back)\n"
		   "SOCKET defaults to $PVIOD_SOCKET or " DEFAULT_SOCKET "\n");
}

/* The request line from the command line; 0, or 2 for a usage error. */
static int build(int argc, char **argv, char *req, size_t len)
{
	char path[PATH_MAX];
	int n = 0, i;

	if (argc == 1 && !strcmp(argv[0], "list"))
		n = snprintf(req, len, "list");
	else if (argc == 1 && !strcmp(argv[0], "metrics"))
		n = snprintf(req, len, "metrics");
	else if (argc == 2 && !strcmp(argv[0], "libvirt-xml"))
		n = snprintf(req, len, "list");
	else if ((argc == 1 || argc == 2) && !strcmp(argv[0], "worker-pid"))
		n = snprintf(req, len, "workers");
	else if (argc == 2 && !strcmp(argv[0], "balloon") && !strcmp(argv[1], "policy"))
		n = snprintf(req, len, "memory-policy");
	else if (argc == 1 && !strcmp(argv[0], "reload"))
		n = snprintf(req, len, "reload");
	else if (argc == 1 && !strcmp(argv[0], "upgrade"))
		n = snprintf(req, len, "upgrade");
	else if (argc == 2 && (!strcmp(argv[0], "migrate-out") || !strcmp(argv[0], "migrate-in") ||
			       !strcmp(argv[0], "migrate-cancel")))
		n = snprintf(req, len, "%s %s", argv[0], argv[1]);
	else if ((argc == 2 || argc == 3) && !strcmp(argv[0], "migrate-track"))
		n = snprintf(req, len, "migrate-track %s %s", argv[1], argc == 3 ? argv[2] : "on");
	else if (argc == 3 && !strcmp(argv[0], "migrate-finish"))
		n = snprintf(req, len, "%s %s %s", argv[0], argv[1], argv[2]);
	else if (argc == 3 && !strcmp(argv[0], "guest") && !strcmp(argv[1], "add")) {
		/* pviod reads the file: it needs the whole path. */
		if (!realpath(argv[2], path)) {
			fprintf(stderr, "pvioctl: %s: %s\n", argv[2], strerror(errno));
			return 2;
		}
		n = snprintf(req, len, "guest add %s", path);
	} else if (argc == 3 && !strcmp(argv[0], "guest") && !strcmp(argv[1], "remove"))
		n = snprintf(req, len, "guest remove %s", argv[2]);
	else if ((argc == 3 && !strcmp(argv[0], "status")) ||
		 (argc == 4 && !strcmp(argv[0], "net-link")) ||
		 ((argc == 3 || argc == 4) && !strcmp(argv[0], "blk-resize")) ||
		 ((argc == 4 || argc == 5) && !strcmp(argv[0], "balloon") &&
		  (argc == 4) == !strcmp(argv[3], "status"))) {
		if (!strcmp(argv[0], "net-link") && strcmp(argv[3], "up") &&
		    strcmp(argv[3], "down")) {
			fprintf(stderr, "pvioctl: net-link wants up or down, not '%s'\n", argv[3]);
			return 2;
		}
		for (i = 0; i < argc && n >= 0 && (size_t)n < len; i++)
			n += snprintf(req + n, len - (size_t)n, "%s%s", i ? " " : "", argv[i]);
	} else {
		usage(stderr);
		return 2;
	}
	if (n < 0 || (size_t)n >= len) {
		fprintf(stderr, "pvioctl: request too long\n");
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "wait", no_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "headroom", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = getenv("PVIOD_SOCKET");
	const char *headroom = NULL;
	struct json_object *o;
	char req[4096];
	double timeout = 60;
	int json = 0, wait = 0, opt, ret = 0;

	if (!sock)
		sock = DEFAULT_SOCKET;
	while ((opt = getopt_long(argc, argv, "s:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'w':
			wait = 1;
			break;
		case 't':
			timeout = strtod(optarg, NULL);
			break;
		case 'H':
			headroom = optarg;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	ret = build(argc, argv, req, sizeof(req));
	if (ret)
		return ret;
	if (headroom && !strcmp(argv[0], "balloon") && argc >= 4) {
		char hreq[256];

		snprintf(hreq, sizeof(hreq), "balloon %s %s headroom %s", argv[1], argv[2],
			 headroom);
		o = request(sock, hreq);
		if (!o)
			return 1;
		if (get(o, "error")) {
			fprintf(stderr, "pvioctl: %s\n", str(o, "error"));
			json_object_put(o);
			return 1;
		}
		json_object_put(o);
	}
	o = request(sock, req);
	if (!o)
		return 1;
	if (get(o, "error")) {
		if (json)
			printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		else
			fprintf(stderr, "pvioctl: %s\n", str(o, "error"));
		json_object_put(o);
		return 1;
	}
	if (!strcmp(argv[0], "worker-pid")) {
		ret = worker_pid(o, argc == 2 ? argv[1] : NULL);
	} else if (!strcmp(argv[0], "libvirt-xml")) {
		ret = libvirt_xml(o, argv[1]);
	} else if (!strcmp(argv[0], "migrate-track")) {
		/* Asked until the guest acts on it, --json or not. */
		ret = track_wait(sock, req, argv[1], timeout);
	} else if (json) {
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		if (!strcmp(argv[0], "balloon") && argc >= 4 && !strcmp(argv[3], "set") && wait)
			ret = balloon_wait(sock, argv[1], argv[2], timeout);
	} else if (!strcmp(argv[0], "balloon") && argc == 2) {
		print_policy(o);
	} else if (!strcmp(argv[0], "balloon") && !strcmp(argv[3], "set")) {
		printf("%s/%s: balloon target %.1f MiB\n", argv[1], argv[2],
		       num(o, "target_bytes") / 1048576.0);
		if (wait)
			ret = balloon_wait(sock, argv[1], argv[2], timeout);
	} else if (!strcmp(argv[0], "balloon")) {
		print_balloon(argv[1], argv[2], o);
	} else if (!strcmp(argv[0], "list")) {
		print_list(o);
	} else if (!strcmp(argv[0], "metrics")) {
		ret = print_metrics(o);
	} else if (!strcmp(argv[0], "net-link")) {
		printf("%s/%s: link %s\n", argv[1], argv[2], str(o, "link"));
	} else if (!strcmp(argv[0], "blk-resize")) {
		printf("%s/%s: capacity %llu sectors (%llu bytes)\n", argv[1], argv[2],
		       num(o, "capacity"), num(o, "bytes"));
	} else if (!strcmp(argv[0], "guest")) {
		if (!strcmp(argv[1], "add"))
			printf("%llu guest(s) added\n", num(o, "added"));
		else
			printf("guest %s removed\n", str(o, "removed"));
	} else if (!strcmp(argv[0], "reload")) {
		printf("reloaded %s\n", str(o, "reloaded"));
	} else if (!strcmp(argv[0], "upgrade")) {
		ret = upgrade_wait(sock, num(o, "upgrades"), timeout);
	} else if (!strcmp(argv[0], "migrate-out")) {
		/* The state alone on stdout: STATE=$(pvioctl migrate-out GUEST) */
		fprintf(stderr, "%s: paused for migration after %llu ms\n", argv[1],
			num(o, "paused_ms"));
		printf("%s\n", str(o, "state"));
	} else if (!strcmp(argv[0], "migrate-finish")) {
		struct json_object *devs = get(o, "devices");

		printf("%s: taken over, %zu device(s) waiting for the guest's reset\n", argv[1],
		       devs ? json_object_array_length(devs) : (size_t)0);
	} else if (!strncmp(argv[0], "migrate-", 8)) {
		printf("%s: migration %s\n", argv[1], str(o, "migration"));
	} else {
		print_status(o);
	}
	json_object_put(o);
	return ret;
}
