// SPDX-License-Identifier: GPL-2.0
/*
 * pvioctl - talk to pviod's control socket.
 *
 *   pvioctl [-s SOCKET] [--json] list
 *   pvioctl [-s SOCKET] [--json] status GUEST DEVICE
 *   pvioctl [-s SOCKET] worker-pid
 *   pvioctl [-s SOCKET] [--json] net-link GUEST DEVICE up|down
 *   pvioctl [-s SOCKET] [--json] blk-resize GUEST DEVICE [SIZE]
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
 * The daemon answers every request with one JSON object; --json prints it
 * as is, otherwise pvioctl renders a table.  The parsing below is only what
 * the table needs: it looks up keys in the daemon's own, flat output.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
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
		"errors", "packets", "drops" };
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

static void usage(FILE *f)
{
	fprintf(f, "usage: pvioctl [-s SOCKET] [--json] list\n"
		   "       pvioctl [-s SOCKET] [--json] status GUEST DEVICE\n"
		   "       pvioctl [-s SOCKET] worker-pid\n"
		   "       pvioctl [-s SOCKET] [--json] net-link GUEST DEVICE up|down\n"
		   "       pvioctl [-s SOCKET] [--json] blk-resize GUEST DEVICE [SIZE]\n"
		   "SOCKET defaults to $PVIOD_SOCKET or " DEFAULT_SOCKET "\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char buf[1 << 20];
	const char *sock = getenv("PVIOD_SOCKET");
	char req[256], v[32];
	int json = 0, opt;

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
	} else if (json) {
		fputs(buf, stdout);
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
