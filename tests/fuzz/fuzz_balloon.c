// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_balloon - the balloon class: inflate, deflate and report ranges
 * checked and punched, statistics read under the guest's seq protocol,
 * the auto policy, the target in the persist page.
 */
#include <json-c/json.h>

#include "balloon/balloon.h"
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The statistics timer, the policy, and the control requests. */
static void balloon_extra(struct pvbe_guest *g, uint8_t arg)
{
	static char *const reqs[][3] = {
		{ "balloon", "status" }, { "balloon", "set", "1M" },
		{ "balloon", "policy", "auto" }, { "balloon", "headroom", "512K" },
		{ "balloon", "set", "8M" }, { "balloon", "policy", "off" },
	};
	struct pvbe_dev *d = &g->dev[0];
	struct json_object *o;
	char err[256];
	unsigned int i = arg % 6;

	if (arg & 0x80) {
		pvbe_bal_tick(d->priv);
		return;
	}
	o = json_object_new_object();
	pvbe_bal_control(d, reqs[i][2] ? 3 : 2, (char **)reqs[i], o, err, sizeof(err));
	json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pvbe_guest *g;

	fuzz_extra = balloon_extra;
	if (!g)
		g = fuzz_guest("[guest g]\nsocket = /nonexistent\nram_size = 4M\n"
			       "[device g b0]\ntype = balloon\npolicy = auto\nheadroom = 1M\n"
			       "stats_interval_ms = 100\n");
	fuzz_run(g, data, size);
	return 0;
}
