// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_config - the configuration parser (main file and `guest add`
 * files) and the classes' key checks (ops->parse), then undone
 * (ops->uninit): every guest a fuzzed file describes is built and freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "core/pviod.h"

struct pvbe_daemon pvbe;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	static int fd = -1;
	struct pvbe_guest *g;
	struct pvbe_cfg cfg;
	int i, stderr_fd;

	/*
	 * The parser opens a path: a memfd's, which goes with the process
	 * (a file in /tmp was left behind by every run).
	 */
	if (fd < 0) {
		pvbe_log_level = -1;
		fd = memfd_create("pvio-fuzz-config", 0);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	/* The parser reports on stderr: not here. */
	stderr_fd = dup(2);
	close(2);
	if (!pvbe_config_load(&cfg, path, size && (data[0] & 1))) {
		pvbe.cfg = cfg;
		for (i = 0; i < cfg.nguests; i++) {
			if (!pvbe_guest_new(cfg.guest[i], &g))
				pvbe_guest_free(g);
			cfg.guest[i] = NULL;
		}
	}
	dup2(stderr_fd, 2);
	close(stderr_fd);
	return 0;
}
