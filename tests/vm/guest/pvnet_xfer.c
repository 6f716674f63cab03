// SPDX-License-Identifier: GPL-2.0
/*
 * pvnet_xfer - move a verifiable byte stream over TCP (the net tests run it
 * on the host and in the guest; static, no libraries).
 *
 *   pvnet_xfer send HOST PORT BYTES SEED [--timeout S] [--rate MBIT] [--until FILE]
 *   pvnet_xfer recv PORT BYTES SEED [--timeout S]
 *
 * Both sides produce the same stream: xorshift64 seeded from SEED, eight
 * little-endian bytes per step.  send connects to the IPv4 address HOST
 * (retrying while nobody listens yet, so the two ends may start in either
 * order), sends BYTES bytes, and waits for the receiver to close.  recv
 * listens on PORT on every IPv4 address, accepts one connection, reads
 * exactly BYTES bytes and checks every one.  Each prints one line:
 *
 *   pvnet_xfer: ok BYTES bytes in T s (X Mbit/s)
 *   pvnet_xfer: MISMATCH at offset N (expected 0xEE, got 0xGG)
 *   pvnet_xfer: <what failed>: <why>
 *
 * and exits 0 only on success (2 on a usage error).  --timeout bounds the
 * whole run (default 120 s); --rate paces the sender to at most MBIT
 * Mbit/s, so that a stream lasts long enough for what a test does to it.
 * BYTES 0: an open-ended stream, one connection for as long as a test
 * needs it; the sender (with --until) stops at a chunk boundary once FILE
 * exists, the receiver reads and checks up to the sender's close.  Both
 * print how many bytes they moved: the test compares the two.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK	(256 * 1024)

struct stream {
	uint64_t s;
	uint8_t word[8];
	unsigned int used;	/* bytes of word already handed out */
};

static void stream_init(struct stream *st, uint64_t seed)
{
	st->s = seed ^ 0x9e3779b97f4a7c15ull;
	if (!st->s)
		st->s = 1;
	st->used = 8;
}

static uint64_t stream_next(struct stream *st)
{
	st->s ^= st->s << 13;
	st->s ^= st->s >> 7;
	st->s ^= st->s << 17;
	return st->s;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	unsigned int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The next @len bytes; whole words at a time (the guest runs under TCG). */
static void stream_fill(struct stream *st, uint8_t *buf, size_t len)
{
	while (len && st->used < 8) {
		*buf++ = st->word[st->used++];
		len--;
	}
	for (; len >= 8; len -= 8, buf += 8)
		put_le64(buf, stream_next(st));
	if (len) {
		put_le64(st->word, stream_next(st));
		st->used = 0;
		while (len--)
			*buf++ = st->word[st->used++];
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double deadline;

/* Wait for @events on @fd until the deadline; 0, or -1 with a message. */
static int wait_fd(int fd, short events, const char *what)
{
	struct pollfd p = { .fd = fd, .events = events };
	double left = deadline - now();
	int r;

	if (left <= 0) {
		printf("pvnet_xfer: %s: timed out\n", what);
		return -1;
	}
	do {
		r = poll(&p, 1, (int)(left * 1000) + 1);
	} while (r < 0 && errno == EINTR);
	if (r == 0) {
		printf("pvnet_xfer: %s: timed out\n", what);
		return -1;
	}
	if (r < 0) {
		printf("pvnet_xfer: %s: poll: %s\n", what, strerror(errno));
		return -1;
	}
	return 0;
}

static void report(unsigned long long bytes, double t0)
{
	double t = now() - t0;

	if (t < 1e-6)
		t = 1e-6;
	printf("pvnet_xfer: ok %llu bytes in %.2f s (%.1f Mbit/s)\n", bytes, t,
	       (double)bytes * 8 / t / 1e6);
}

static int do_send(const char *host, int port, unsigned long long bytes,
		   uint64_t seed, unsigned long long mbit, const char *until)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	static uint8_t buf[CHUNK];
	unsigned long long sent = 0;
	struct stream st;
	double t0;
	int fd = -1, err;
	ssize_t n;

	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		printf("pvnet_xfer: HOST must be an IPv4 address, not '%s'\n", host);
		return 2;
	}
	/* The receiver may not listen yet: retry refused connects. */
	for (;;) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			printf("pvnet_xfer: socket: %s\n", strerror(errno));
			return 1;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		err = errno;
		close(fd);
		if ((err != ECONNREFUSED && err != EHOSTUNREACH && err != ENETUNREACH) ||
		    now() > deadline) {
			printf("pvnet_xfer: connect %s:%d: %s\n", host, port, strerror(err));
			return 1;
		}
		usleep(100000);
	}
	stream_init(&st, seed);
	t0 = now();
	while (bytes ? sent < bytes : access(until, F_OK) != 0) {
		size_t len = bytes && bytes - sent < CHUNK ? (size_t)(bytes - sent) : CHUNK;
		size_t off = 0;

		stream_fill(&st, buf, len);
		while (off < len) {
			if (wait_fd(fd, POLLOUT, "send"))
				goto fail;
			n = send(fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n < 0) {
				printf("pvnet_xfer: send at offset %llu: %s\n", sent + off,
				       strerror(errno));
				goto fail;
			}
			off += (size_t)n;
		}
		sent += len;
		/* Paced: no further ahead than MBIT Mbit/s allows. */
		while (mbit && (double)sent * 8 / 1e6 / (double)mbit > now() - t0)
			usleep(1000);
	}
	/* Done when the receiver has read it all and closed. */
	shutdown(fd, SHUT_WR);
	for (;;) {
		if (wait_fd(fd, POLLIN, "waiting for the receiver to close"))
			goto fail;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			printf("pvnet_xfer: after sending: %s\n", strerror(errno));
			goto fail;
		}
	}
	close(fd);
	report(sent, t0);
	return 0;
fail:
	close(fd);
	return 1;
}

static int do_recv(int port, unsigned long long bytes, uint64_t seed)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_ANY) };
	static uint8_t buf[CHUNK], want[CHUNK];
	unsigned long long got = 0;
	struct stream st;
	int lfd, fd, one = 1;
	double t0;
	ssize_t n;
	size_t i;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1)) {
		printf("pvnet_xfer: listen on port %d: %s\n", port, strerror(errno));
		return 1;
	}
	if (wait_fd(lfd, POLLIN, "accept"))
		return 1;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	close(lfd);
	if (fd < 0) {
		printf("pvnet_xfer: accept: %s\n", strerror(errno));
		return 1;
	}
	stream_init(&st, seed);
	t0 = now();
	while (!bytes || got < bytes) {
		size_t len = bytes && bytes - got < CHUNK ? (size_t)(bytes - got) : CHUNK;

		if (wait_fd(fd, POLLIN, "receive"))
			goto fail;
		n = recv(fd, buf, len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			printf("pvnet_xfer: receive at offset %llu: %s\n", got, strerror(errno));
			goto fail;
		}
		if (n == 0 && !bytes)
			break;		/* open-ended: the sender is done */
		if (n == 0) {
			printf("pvnet_xfer: connection closed after %llu of %llu bytes\n", got,
			       bytes);
			goto fail;
		}
		stream_fill(&st, want, (size_t)n);
		if (memcmp(buf, want, (size_t)n)) {
			for (i = 0; buf[i] == want[i]; i++)
				;
			printf("pvnet_xfer: MISMATCH at offset %llu (expected 0x%02x, got 0x%02x)\n",
			       got + i, want[i], buf[i]);
			goto fail;
		}
		got += (unsigned long long)n;
	}
	close(fd);
	report(got, t0);
	return 0;
fail:
	close(fd);
	return 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: pvnet_xfer send HOST PORT BYTES SEED [--timeout S] [--rate MBIT] [--until FILE]\n"
			"       pvnet_xfer recv PORT BYTES SEED [--timeout S]\n");
	return 2;
}

static int parse_ull(const char *s, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno || end == s || *end || *s == '-' ? -1 : 0;
}

int main(int argc, char **argv)
{
	unsigned long long port, bytes, seed, timeout = 120, mbit = 0;
	const char *until = NULL;
	int n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (argc >= 3 && (!strcmp(argv[argc - 2], "--timeout") ||
			     !strcmp(argv[argc - 2], "--rate") ||
			     !strcmp(argv[argc - 2], "--until"))) {
		bool t = !strcmp(argv[argc - 2], "--timeout");

		if (!strcmp(argv[argc - 2], "--until"))
			until = argv[argc - 1];
		else if (parse_ull(argv[argc - 1], t ? &timeout : &mbit) || !(t ? timeout : mbit))
			return usage();
		argc -= 2;
	}
	deadline = now() + (double)timeout;
	if (argc == 6 && !strcmp(argv[1], "send"))
		n = 3;
	else if (argc == 5 && !strcmp(argv[1], "recv"))
		n = 2;
	else
		return usage();
	if (parse_ull(argv[n], &port) || !port || port > 65535 ||
	    parse_ull(argv[n + 1], &bytes) || parse_ull(argv[n + 2], &seed) ||
	    (n == 3 && !bytes == !until) || (n == 2 && until))
		return usage();
	if (n == 3)
		return do_send(argv[2], (int)port, bytes, seed, mbit, until);
	return do_recv((int)port, bytes, seed);
}
