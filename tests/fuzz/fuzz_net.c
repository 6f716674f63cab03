// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_net - the net class with no TAP behind it (net = null, echo): tx
 * headers checked, frames copied out, echoed back into rx chains, with and
 * without MRG_RXBUF (the FIFO, the overflow buffer, num_buffers).
 */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pvbe_guest *g;

	if (!g)
		g = fuzz_guest("[guest g]\nsocket = /nonexistent\n"
			       "[device g n0]\ntype = net\nnet = null\nnull_rx = echo\n"
			       "queues = 4\nqueue_size = 64\n");
	fuzz_run(g, data, size);
	return 0;
}
