// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_echo - the transport with the simplest class: chains read and
 * validated (read_chain, the memory table), echo's copy and cap, the
 * device state machine, completions and notifications.
 */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pvbe_guest *g;

	if (!g)
		g = fuzz_guest("[guest g]\nsocket = /nonexistent\n"
			       "[device g e0]\ntype = echo\nqueues = 2\nqueue_size = 128\n"
			       "[device g e1]\ntype = echo\nqueue_size = 8\n");
	fuzz_run(g, data, size);
	return 0;
}
