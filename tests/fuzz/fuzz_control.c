// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_control - the control requests a worker answers (status, the
 * classes' requests through their ops) on a guest with a device of every
 * class, after a fuzzed set of guest actions; the request line is the
 * first 200 bytes of the input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/pviod.h"
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pvbe_guest *g;
	static char out[65536];
	char line[201], cfg[640], img[] = "/tmp/pvio-fuzz-img-XXXXXX";
	size_t n = size < 200 ? size : 200;
	int fd;

	if (!g) {
		fd = mkstemp(img);
		if (fd < 0 || ftruncate(fd, 1 << 20))
			abort();
		close(fd);
		snprintf(cfg, sizeof(cfg), "[guest g]\nsocket = /nonexistent\nram_size = 4M\n"
			 "[device g e]\ntype = echo\n"
			 "[device g n]\ntype = net\nnet = null\n"
			 "[device g b]\ntype = blk\npath = %s\ncache = writeback\n"
			 "[device g m]\ntype = balloon\n", img);
		g = fuzz_guest(cfg);
		unlink(img);
	}
	memcpy(line, data, n);
	line[n] = '\0';
	fuzz_run(g, data + n, size - n);
	pvbe_control_worker(g, line, out, sizeof(out));
	return 0;
}
