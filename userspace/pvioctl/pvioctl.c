// SPDX-License-Identifier: GPL-2.0
/*
 * pvioctl - talk to pviod's control socket.
 *
 *   pvioctl [-s SOCKET] [--json] list
 *   pvioctl [-s SOCKET] [--json] status GUEST DEVICE
 *   pvioctl [-s SOCKET] worker-pid
 *   pvioctl [-s SOCKET] [--json] net-link GUEST DEVICE up|down
 *   pvioctl [-s SOCKET] [--json] blk-resize GUEST DEVICE [SIZE]
 *   pvioctl [-s SOCKET] [--json] balloon GUEST DEVICE status
 *   pvioctl [-s SOCKET] balloon GUEST DEVICE set SIZE [--wait [--timeout S]]
 *   pvioctl [-s SOCKET] balloon GUEST DEVICE policy auto|off [--headroom SIZE]
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
 * The daemon answers every request with one JSON object; --json prints it
 * as is, otherwise pvioctl renders a table.  The parsing below is only what
 * the table needs: it looks up keys in the daemon's own, flat output.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SOCKET	"/run/pviod.sock"

static int request(const char *sock, const char *req, char *buf, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[512];
	size_t got = 0;
	ssize_t n;
	int fd, l;

	if (strlen(sock) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "pvioctl: socket path too long\n");
		return -1;
	}
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "pvioctl: cannot reach pviod at %s: %s\n", sock,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	l = snprintf(line, sizeof(line), "%s\n", req);
	if (l >= (int)sizeof(line) || send(fd, line, l, MSG_NOSIGNAL) != l) {
		fprintf(stderr, "pvioctl: send: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	while (got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	if (!got) {
		fprintf(stderr, "pvioctl: pviod closed the connection without answering\n");
		return -1;
	}
	return 0;
}

/* Value of "key": after @from, copied into @out (strings without quotes). */
static const char *jget(const char *from, const char *key, char *out, size_t len)
{
	char pat[64];
	const char *p, *e;
	size_t n;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(from, pat);
	if (!p) {
		snprintf(out, len, "-");
		return NULL;
	}
	p += strlen(pat);
	if (*p == '"') {
		p++;
		e = strchr(p, '"');
	} else {
		e = p + strcspn(p, ",}]");
	}
	n = e ? (size_t)(e - p) : strlen(p);
	if (n >= len)
		n = len - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	return p;
}

static void print_list(const char *j)
{
	char name[64], conn[16], gen[16], vec[16], dname[64], type[16], state[32];
	const char *g = strstr(j, "\"guests\":["), *next, *d, *dend;

	jget(j, "supervisor_pid", name, sizeof(name));
	jget(j, "worker_pid", gen, sizeof(gen));
	printf("pviod supervisor %s, worker %s\n", name, gen);
	printf("%-12s %-9s %-5s %-7s %-12s %-8s %s\n", "GUEST", "CONNECTED",
	       "GEN", "VECTORS", "DEVICE", "TYPE", "STATE");
	while (g && (g = strstr(g, "{\"name\":"))) {
		jget(g, "name", name, sizeof(name));
		jget(g, "connected", conn, sizeof(conn));
		jget(g, "generation", gen, sizeof(gen));
		jget(g, "vectors", vec, sizeof(vec));
		d = strstr(g, "\"devices\":[");
		dend = d ? strstr(d, "]}") : NULL;
		next = dend ? dend + 2 : NULL;
		for (d = d ? strstr(d, "{\"name\":") : NULL; d && (!dend || d < dend);
		     d = strstr(d + 1, "{\"name\":")) {
			jget(d, "name", dname, sizeof(dname));
			jget(d, "type", type, sizeof(type));
			jget(d, "state", state, sizeof(state));
			printf("%-12s %-9s %-5s %-7s %-12s %-8s %s\n", name, conn, gen,
			       vec, dname, type, state);
		}
		g = next;
	}
}

static void print_status(const char *j)
{
	static const char *const qk[] = { "index", "vector", "sq_prod", "sq_cons",
		"cq_prod", "cq_cons", "kicks", "interrupts", "requests", "bytes",
		"errors", "packets", "drops", "mode" };
	char v[64];
	const char *q;
	size_t i;

	jget(j, "name", v, sizeof(v));
	printf("device %s", v);
	jget(j, "type", v, sizeof(v));
	printf(" (%s)", v);
	jget(j, "state", v, sizeof(v));
	printf(": %s", v);
	jget(j, "broken_reason", v, sizeof(v));
	if (strcmp(v, "0"))
		printf(", broken reason %s", v);
	jget(j, "guest_features", v, sizeof(v));
	printf(", guest features %s\n", v);
	for (i = 0; i < sizeof(qk) / sizeof(qk[0]); i++)
		printf("%-11s", qk[i]);
	printf("\n");
	for (q = strstr(j, "{\"index\":"); q; q = strstr(q + 1, "{\"index\":")) {
		for (i = 0; i < sizeof(qk) / sizeof(qk[0]); i++) {
			jget(q, qk[i], v, sizeof(v));
			printf("%-11s", v);
		}
		printf("\n");
	}
}

static unsigned long long jnum(const char *from, const char *key)
{
	char v[32];

	jget(from, key, v, sizeof(v));
	return strtoull(v, NULL, 10);
}

static void print_mib(const char *label, unsigned long long bytes)
{
	printf("  %-22s %10.1f MiB\n", label, bytes / 1048576.0);
}

static void print_balloon(const char *guest, const char *dev, const char *j)
{
	const char *s = strstr(j, "\"stats\":{");
	char v[64], p[16];

	jget(j, "state", v, sizeof(v));
	jget(j, "policy", p, sizeof(p));
	printf("%s/%s (balloon): %s, policy %s\n", guest, dev, v, p);
	print_mib("guest RAM", jnum(j, "ram_bytes"));
	print_mib("target (balloon)", jnum(j, "target_bytes"));
	print_mib("actual (balloon)", jnum(j, "actual_bytes"));
	print_mib("host-backed RAM", jnum(j, "backed_bytes"));
	print_mib("floor", jnum(j, "floor_bytes"));
	if (!strcmp(p, "auto"))
		print_mib("headroom", jnum(j, "headroom_bytes"));
	printf("  %-22s %10llu / %llu / %llu\n", "pages in/out/reported",
	       jnum(j, "inflated_pages"), jnum(j, "deflated_pages"),
	       jnum(j, "reported_pages"));
	print_mib("released on the host", jnum(j, "punched_bytes"));
	if (jnum(j, "punch_errors"))
		printf("  %-22s %10llu\n", "release errors", jnum(j, "punch_errors"));
	if (!s) {
		printf("  no statistics from the guest\n");
		return;
	}
	printf("  guest statistics, %llu ms old:\n", jnum(s, "age_ms"));
	print_mib("  total", jnum(s, "total_bytes"));
	print_mib("  free", jnum(s, "free_bytes"));
	print_mib("  available", jnum(s, "avail_bytes"));
	print_mib("  page cache", jnum(s, "cache_bytes"));
	printf("  %-22s %10llu / %llu\n", "  faults major/minor", jnum(s, "major_faults"),
	       jnum(s, "minor_faults"));
	printf("  %-22s %10llu / %llu\n", "  swap in/out (pages)", jnum(s, "swap_in"),
	       jnum(s, "swap_out"));
	printf("  %-22s %10llu\n", "  OOM kills", jnum(s, "oom_kills"));
	printf("  %-22s %10llu pages\n", "  deflated on pressure",
	       jnum(s, "deflated_on_pressure"));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Poll until actual == target; 0, or 1 on timeout / error. */
static int balloon_wait(const char *sock, const char *guest, const char *dev,
			double timeout, char *buf, size_t len)
{
	char req[256];
	double t0 = now_s();
	unsigned long long target = 0, actual = 0;

	snprintf(req, sizeof(req), "balloon %s %s status", guest, dev);
	for (;;) {
		if (request(sock, req, buf, len))
			return 1;
		target = jnum(buf, "target_bytes");
		actual = jnum(buf, "actual_bytes");
		if (!strstr(buf, "{\"error\":") && target == actual) {
			printf("%s/%s: balloon at %.1f MiB after %.2f s\n", guest, dev,
			       actual / 1048576.0, now_s() - t0);
			return 0;
		}
		if (now_s() - t0 > timeout)
			break;
		usleep(50000);
	}
	fprintf(stderr, "pvioctl: %s/%s: balloon at %.1f MiB, target %.1f MiB after %.0f s\n",
		guest, dev, actual / 1048576.0, target / 1048576.0, timeout);
	return 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pvioctl [-s SOCKET] [--json] list\n"
		   "       pvioctl [-s SOCKET] [--json] status GUEST DEVICE\n"
		   "       pvioctl [-s SOCKET] worker-pid\n"
		   "       pvioctl [-s SOCKET] [--json] net-link GUEST DEVICE up|down\n"
		   "       pvioctl [-s SOCKET] [--json] blk-resize GUEST DEVICE [SIZE]\n"
		   "       pvioctl [-s SOCKET] [--json] balloon GUEST DEVICE status\n"
		   "       pvioctl [-s SOCKET] balloon GUEST DEVICE set SIZE [--wait [--timeout S]]\n"
		   "       pvioctl [-s SOCKET] balloon GUEST DEVICE policy auto|off [--headroom SIZE]\n"
		   "balloon SIZE is what the guest gives to the host (0: all back)\n"
		   "SOCKET defaults to $PVIOD_SOCKET or " DEFAULT_SOCKET "\n");
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
	static char buf[1 << 20];
	const char *sock = getenv("PVIOD_SOCKET");
	char req[256], v[32];
	const char *headroom = NULL;
	double timeout = 60;
	int json = 0, wait = 0, opt;

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
	if (argc == 1 && (!strcmp(argv[0], "list") || !strcmp(argv[0], "worker-pid"))) {
		snprintf(req, sizeof(req), "list");
	} else if (argc == 3 && !strcmp(argv[0], "status")) {
		if (snprintf(req, sizeof(req), "status %s %s", argv[1], argv[2]) >=
		    (int)sizeof(req)) {
			fprintf(stderr, "pvioctl: names too long\n");
			return 2;
		}
	} else if (argc == 4 && !strcmp(argv[0], "net-link")) {
		if (strcmp(argv[3], "up") && strcmp(argv[3], "down")) {
			fprintf(stderr, "pvioctl: net-link wants up or down, not '%s'\n", argv[3]);
			return 2;
		}
		if (snprintf(req, sizeof(req), "net-link %s %s %s", argv[1], argv[2],
			     argv[3]) >= (int)sizeof(req)) {
			fprintf(stderr, "pvioctl: names too long\n");
			return 2;
		}
	} else if ((argc == 3 || argc == 4) && !strcmp(argv[0], "blk-resize")) {
		if (snprintf(req, sizeof(req), "blk-resize %s %s%s%s", argv[1], argv[2],
			     argc == 4 ? " " : "", argc == 4 ? argv[3] : "") >=
		    (int)sizeof(req)) {
			fprintf(stderr, "pvioctl: names too long\n");
			return 2;
		}
	} else if ((argc == 4 || argc == 5) && !strcmp(argv[0], "balloon")) {
		if ((argc == 4) != !strcmp(argv[3], "status")) {
			usage(stderr);
			return 2;
		}
		if (snprintf(req, sizeof(req), "balloon %s %s %s%s%s", argv[1], argv[2],
			     argv[3], argc == 5 ? " " : "", argc == 5 ? argv[4] : "") >=
		    (int)sizeof(req)) {
			fprintf(stderr, "pvioctl: names too long\n");
			return 2;
		}
		if (headroom) {
			char hreq[256];

			snprintf(hreq, sizeof(hreq), "balloon %s %s headroom %s", argv[1],
				 argv[2], headroom);
			if (request(sock, hreq, buf, sizeof(buf)))
				return 1;
			if (strstr(buf, "{\"error\":") == buf) {
				jget(buf, "error", hreq, sizeof(hreq));
				fprintf(stderr, "pvioctl: %s\n", hreq);
				return 1;
			}
		}
	} else {
		usage(stderr);
		return 2;
	}
	if (request(sock, req, buf, sizeof(buf)))
		return 1;
	if (strstr(buf, "{\"error\":") == buf) {
		jget(buf, "error", req, sizeof(req));
		if (json)
			fputs(buf, stdout);
		else
			fprintf(stderr, "pvioctl: %s\n", req);
		return 1;
	}
	if (!strcmp(argv[0], "worker-pid")) {
		jget(buf, "worker_pid", v, sizeof(v));
		printf("%s\n", v);
	} else if (!strcmp(argv[0], "balloon") && !strcmp(argv[3], "set")) {
		if (json)
			fputs(buf, stdout);
		else
			printf("%s/%s: balloon target %.1f MiB\n", argv[1], argv[2],
			       jnum(buf, "target_bytes") / 1048576.0);
		if (wait)
			return balloon_wait(sock, argv[1], argv[2], timeout, buf, sizeof(buf));
	} else if (json) {
		fputs(buf, stdout);
	} else if (!strcmp(argv[0], "balloon")) {
		print_balloon(argv[1], argv[2], buf);
	} else if (!strcmp(argv[0], "list")) {
		print_list(buf);
	} else if (!strcmp(argv[0], "net-link")) {
		jget(buf, "link", v, sizeof(v));
		printf("%s/%s: link %s\n", argv[1], argv[2], v);
	} else if (!strcmp(argv[0], "blk-resize")) {
		jget(buf, "capacity", v, sizeof(v));
		printf("%s/%s: capacity %s sectors", argv[1], argv[2], v);
		jget(buf, "bytes", v, sizeof(v));
		printf(" (%s bytes)\n", v);
	} else {
		print_status(buf);
	}
	return 0;
}
