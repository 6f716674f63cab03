// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_blk - the blk class on a real 16 MiB file through a real io_uring:
 * request headers and ranges checked, reads, writes, flushes, discards and
 * write-zeroes submitted and completed, stops with I/O in flight.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pvbe_guest *g;
	char cfg[512], img[] = "/tmp/pvio-fuzz-img-XXXXXX";
	int fd;

	if (!g) {
		fd = mkstemp(img);
		if (fd < 0 || ftruncate(fd, 16 << 20))
			abort();
		close(fd);
		snprintf(cfg, sizeof(cfg), "[guest g]\nsocket = /nonexistent\n"
			 "[device g b0]\ntype = blk\npath = %s\ncache = writeback\n"
			 "queues = 2\nqueue_size = 32\n", img);
		g = fuzz_guest(cfg);
		unlink(img);	/* pviod keeps it open */
	}
	fuzz_run(g, data, size);
	return 0;
}
