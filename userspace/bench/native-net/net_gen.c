// SPDX-License-Identifier: GPL-2.0
/*
 * net_gen - inject frames into a network interface (the TAP of a pvio net
 * device, from inside its network namespace) as fast as the kernel takes
 * them: AF_PACKET, PACKET_QDISC_BYPASS, sendmmsg() in batches of 64.  The
 * TAP hands them to pviod's rx path.  Prints "sent_pps P".
 *
 * Usage: net_gen -I IFNAME [-b BYTES] [-t SEC]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define BATCH	64

int main(int argc, char **argv)
{
	struct sockaddr_ll sa = { .sll_family = AF_PACKET };
	static uint8_t frame[2048];
	struct mmsghdr msg[BATCH];
	struct iovec iov;
	const char *ifname = NULL;
	unsigned int bytes = 64, i;
	uint64_t sent = 0, start, end;
	double secs = 3;
	int s, opt, one = 1, n;

	while ((opt = getopt(argc, argv, "I:b:t:")) != -1) {
		switch (opt) {
		case 'I': ifname = optarg; break;
		case 'b': bytes = (unsigned int)atoi(optarg); break;
		case 't': secs = atof(optarg); break;
		default: goto usage;
		}
	}
	if (!ifname || bytes < 60 || bytes > sizeof(frame))
		goto usage;
	s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (s < 0) {
		perror("net_gen: socket");
		return 1;
	}
	sa.sll_ifindex = (int)if_nametoindex(ifname);
	sa.sll_halen = 6;
	memset(sa.sll_addr, 0xff, 6);
	if (!sa.sll_ifindex || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("net_gen: bind");
		return 1;
	}
	if (setsockopt(s, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0)
		perror("net_gen: PACKET_QDISC_BYPASS (going on without)");
	memset(frame, 0xff, 6);
	memcpy(frame + 6, "\x02\x00\x00\x00\x00\x02", 6);
	frame[12] = 0x88;
	frame[13] = 0xb5;
	iov.iov_base = frame;
	iov.iov_len = bytes;
	memset(msg, 0, sizeof(msg));
	for (i = 0; i < BATCH; i++) {
		msg[i].msg_hdr.msg_iov = &iov;
		msg[i].msg_hdr.msg_iovlen = 1;
	}
	start = bench_ns();
	end = start + (uint64_t)(secs * 1e9);
	while (bench_ns() < end) {
		n = sendmmsg(s, msg, BATCH, 0);
		if (n < 0) {
			if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)
				continue;
			perror("net_gen: sendmmsg");
			return 1;
		}
		sent += (unsigned int)n;
	}
	printf("sent_pps %.0f\n", sent / ((bench_ns() - start) * 1e-9));
	close(s);
	return 0;
usage:
	fprintf(stderr, "usage: net_gen -I IFNAME [-b BYTES] [-t SEC]\n");
	return 2;
}
