// SPDX-License-Identifier: GPL-2.0
/*
 * hostile.c - a backend that misbehaves on purpose, so that the VM tests
 * can show what each guest driver does with a host it cannot trust
 * (tests/vm/hostile.sh, docs/security.md "Hostile host").  Test builds
 * only; see hostile.h for how it is armed and where its hooks sit.
 *
 * Scenarios, by what they bend:
 *
 *   one completion (the next one that fits, then disarmed):
 *     cpl-id-range   its id made one no ring has (id ^ 0x8000)
 *     cpl-dup        posted twice
 *     cpl-dup-late   blk: posted again once a later request has the same
 *                    id modulo the ring size (a blk tag sent again), as
 *                    soon as that request is taken and before it runs;
 *                    the worker then waits 200 ms, so a guest that took
 *                    the stale completion for the new request ends it
 *                    before its data is there
 *     cpl-unposted   followed by one for an id never posted (id + size/2)
 *     cpl-len        one byte more than the request's writable bytes
 *                    (1 for a balloon request, which has none)
 *     cpl-status     a status no protocol version defines
 *     mrg-nb-big     net rx with MRG_RXBUF: num_buffers 65535
 *     mrg-nb-zero    ... num_buffers 0
 *     mrg-nb-lie     ... num_buffers one more than the packet has: a
 *                    plausible lie the guest cannot tell from the truth
 *   one ring index, after the next commit, rewritten after every later
 *   one until the guest resets the device:
 *     cq-jump        CQ prod three ring sizes ahead of the truth
 *     cq-back        CQ prod one behind what the guest has consumed
 *     sq-cons        SQ cons two ring sizes ahead of the guest's prod
 *   the config area (under the seqlock; `off` writes the saved copy back):
 *     cfg-lbs        blk: logical block size 1000, physical 0
 *     cfg-limits     blk: capacity 2^64-1 and every limit absurd; net: mtu
 *                    0, min/max_mtu 65535, 65535 queue pairs, broadcast
 *                    MAC, rx_buf_len 0; balloon: target and floor 2^64-1,
 *                    statistics every 1 ms
 *     cfg-storm      a config change every tick: blk capacity +-8
 *                    sectors, net link up/down, balloon target +-16 MiB
 *   storms, one step per heartbeat tick, 20 ticks (a number word before
 *   them changes that):
 *     gen-storm          the window's generation changes every tick
 *     needs-reset-storm  device_state NEEDS_RESET every tick
 *     irq-storm          every vector signalled for 50 ms of every tick
 *   once, at the next tick:
 *     state-broken   device_state BROKEN, broken_reason 0xdead
 *   modes, until `off`:
 *     reset-noack    resets are served but never echoed; `off` scribbles
 *                    over every writable buffer of a request taken before
 *                    and not completed (the guest must still hold those),
 *                    then echoes the last reset
 *     hb-stop        the heartbeat stands still
 *     silent         hb-stop, reset-noack, and no completion is posted
 *
 * hostile_ring.c has what bends requests, completions and ring indices.
 *
 * The backend's own state never changes: whatever it writes into the
 * window is written over the truth, which it keeps privately, and its
 * next honest write (a reset, a commit, `off`) puts the truth back.
 */
#ifdef PVBE_TEST_HOOKS

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "pvio/balloon.h"
#include "pvio/blk.h"
#include "pvio/net.h"
#include "transport/hostile_internal.h"

#define ALL_CLASSES	0u

static const struct {
	const char *name;
	unsigned int classes;	/* 1 << PVIO_DEV_*; 0: every class */
	bool storm;
} scn[S_COUNT] = {
	[S_CPL_ID_RANGE] = { "cpl-id-range", ALL_CLASSES, false },
	[S_CPL_DUP] = { "cpl-dup", ALL_CLASSES, false },
	[S_CPL_DUP_LATE] = { "cpl-dup-late", C(PVIO_DEV_BLK), false },
	[S_CPL_UNPOSTED] = { "cpl-unposted", ALL_CLASSES, false },
	[S_CPL_LEN] = { "cpl-len", ALL_CLASSES, false },
	[S_CPL_STATUS] = { "cpl-status", ALL_CLASSES, false },
	[S_MRG_NB_BIG] = { "mrg-nb-big", C(PVIO_DEV_NET), false },
	[S_MRG_NB_ZERO] = { "mrg-nb-zero", C(PVIO_DEV_NET), false },
	[S_MRG_NB_LIE] = { "mrg-nb-lie", C(PVIO_DEV_NET), false },
	[S_CQ_JUMP] = { "cq-jump", ALL_CLASSES, false },
	[S_CQ_BACK] = { "cq-back", ALL_CLASSES, false },
	[S_SQ_CONS] = { "sq-cons", ALL_CLASSES, false },
	[S_CFG_LBS] = { "cfg-lbs", C(PVIO_DEV_BLK), false },
	[S_CFG_LIMITS] = { "cfg-limits", C(PVIO_DEV_BLK) | C(PVIO_DEV_NET) | C(PVIO_DEV_BALLOON), false },
	[S_CFG_STORM] = { "cfg-storm", C(PVIO_DEV_BLK) | C(PVIO_DEV_NET) | C(PVIO_DEV_BALLOON), true },
	[S_GEN_STORM] = { "gen-storm", ALL_CLASSES, true },
	[S_RESET_STORM] = { "needs-reset-storm", ALL_CLASSES, true },
	[S_IRQ_STORM] = { "irq-storm", ALL_CLASSES, true },
	[S_STATE_BROKEN] = { "state-broken", ALL_CLASSES, false },
	[S_RESET_NOACK] = { "reset-noack", ALL_CLASSES, false },
	[S_HB_STOP] = { "hb-stop", ALL_CLASSES, false },
	[S_SILENT] = { "silent", ALL_CLASSES, false },
};


/* ---- helpers ------------------------------------------------------------- */

static int scn_find(const char *name)
{
	int s;

	for (s = 0; s < S_COUNT; s++)
		if (!strcmp(scn[s].name, name))
			return s;
	return -1;
}

static bool scn_fits(int s, const struct pvbe_dev *d)
{
	int t = d->cfg->type;

	/* Net, blk and balloon have bits; echo (127) only takes them all. */
	return !scn[s].classes || (t > 0 && t < 32 && (scn[s].classes & C(t)));
}

static void scn_list(char *buf, size_t len)
{
	size_t n = 0;
	int s;

	buf[0] = '\0';
	for (s = 0; s < S_COUNT && n < len; s++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", s ? " " : "", scn[s].name);
}

/* Say so in the log: the test counts these lines. */
void pvbe_hostile_fire(struct pvbe_dev *d, int s, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->hostile->fired[s]++;
	pvbe_warn(d->tag, "hostile %s: %s", scn[s].name, msg);
}

static void arm(struct pvbe_hostile *h, int s)
{
	h->armed |= BIT(s);
	if (scn[s].storm)
		h->storm_left[s] = h->storm_n;
}

static struct pvbe_hostile *h_new(void)
{
	struct pvbe_hostile *h = calloc(1, sizeof(*h));
	unsigned int i;

	if (!h)
		return NULL;
	h->storm_n = H_STORM_TICKS;
	for (i = 0; i < PVIO_MAX_QUEUES; i++)
		h->q[i].sticky = -1;
	return h;
}

/* Arm the words of @argv (names, or a number: ticks of later storms). */
static int arm_words(struct pvbe_dev *d, struct pvbe_hostile *h, int argc, char **argv,
		     char *err, size_t len)
{
	char names[400];
	int i, s;

	for (i = 0; i < argc; i++) {
		const char *w = argv[i];

		if (!strcmp(w, "none") || !*w)
			continue;
		if (strspn(w, "0123456789") == strlen(w)) {
			h->storm_n = (unsigned int)atoi(w);
			if (h->storm_n < 1 || h->storm_n > 600)
				h->storm_n = H_STORM_TICKS;
			continue;
		}
		s = scn_find(w);
		if (s < 0) {
			scn_list(names, sizeof(names));
			snprintf(err, len, "unknown scenario '%s' (%s)", w, names);
			return -EINVAL;
		}
		if (!scn_fits(s, d)) {
			snprintf(err, len, "scenario %s is not for %s devices", w, d->ops->name);
			return -EINVAL;
		}
		arm(h, s);
	}
	return 0;
}

/* ---- the config area --------------------------------------------------- */

/* Bytes of the config area the backend owns (a balloon's guest half stays). */
static uint32_t cfg_owned(const struct pvbe_dev *d)
{
	uint32_t n = d->config_len;

	if (d->ops->type == PVIO_DEV_BALLOON)
		n = offsetof(struct pvio_balloon_config, actual_pages);
	return n < 256 ? n : 256;
}

static void cfg_save(struct pvbe_dev *d)
{
	struct pvbe_hostile *h = d->hostile;

	if (!h->cfg_saved && d->config) {
		memcpy(h->cfg, d->config, cfg_owned(d));
		h->cfg_saved = true;
	}
}

static void cfg_restore(struct pvbe_dev *d)
{
	struct pvbe_hostile *h = d->hostile;

	if (!h->cfg_saved || !d->config)
		return;
	pvbe_guest_config_begin(d);
	memcpy(d->config, h->cfg, cfg_owned(d));
	pvbe_guest_config_changed(d);
	h->cfg_saved = false;
}

static void cfg_garbage(struct pvbe_dev *d, int s)
{
	if (!d->config)
		return;
	cfg_save(d);
	pvbe_guest_config_begin(d);
	switch (d->ops->type) {
	case PVIO_DEV_BLK: {
		struct pvio_blk_config *c = d->config;

		if (s == S_CFG_LBS) {
			c->logical_block_size = pvio_cpu_to_le32(1000);
			c->physical_block_size = 0;
			break;
		}
		c->capacity = pvio_cpu_to_le64(UINT64_MAX);
		c->physical_block_size = pvio_cpu_to_le32(3);
		c->max_segments = pvio_cpu_to_le32(UINT32_MAX);
		c->max_segment_size = pvio_cpu_to_le32(1);
		c->max_sectors = 0;
		c->max_discard_sectors = pvio_cpu_to_le32(UINT32_MAX);
		c->discard_granularity = pvio_cpu_to_le32(3);
		c->max_write_zeroes_sectors = pvio_cpu_to_le32(UINT32_MAX);
		c->num_queues = pvio_cpu_to_le16(UINT16_MAX);
		c->queue_depth = 0;
		break;
	}
	case PVIO_DEV_NET: {
		struct pvio_net_config *c = d->config;

		memset(c->mac, 0xff, sizeof(c->mac));
		c->max_queue_pairs = pvio_cpu_to_le16(UINT16_MAX);
		c->mtu = 0;
		c->min_mtu = pvio_cpu_to_le16(UINT16_MAX);
		c->max_mtu = pvio_cpu_to_le16(UINT16_MAX);
		c->rx_buf_len = 0;
		break;
	}
	case PVIO_DEV_BALLOON: {
		struct pvio_balloon_config *c = d->config;

		c->target_pages = pvio_cpu_to_le64(UINT64_MAX);
		c->floor_pages = pvio_cpu_to_le64(UINT64_MAX);
		c->stats_interval_ms = pvio_cpu_to_le32(1);
		break;
	}
	}
	pvbe_guest_config_changed(d);
	pvbe_hostile_fire(d, s, "config area rewritten with garbage (generation %u)",
			  d->persist->config_gen);
}

/* One step of cfg-storm: the field a driver follows at run time moves. */
static void cfg_storm_step(struct pvbe_dev *d, unsigned int k)
{
	struct pvbe_hostile *h = d->hostile;

	if (!d->config)
		return;
	cfg_save(d);
	pvbe_guest_config_begin(d);
	switch (d->ops->type) {
	case PVIO_DEV_BLK: {
		const struct pvio_blk_config *o = (const void *)h->cfg;
		struct pvio_blk_config *c = d->config;

		c->capacity = pvio_cpu_to_le64(pvio_le64_to_cpu(o->capacity) + (k & 1 ? 8 : 0));
		break;
	}
	case PVIO_DEV_NET: {
		struct pvio_net_config *c = d->config;

		c->status = pvio_cpu_to_le16(k & 1 ? 0 : PVIO_NET_S_LINK_UP);
		break;
	}
	case PVIO_DEV_BALLOON: {
		const struct pvio_balloon_config *o = (const void *)h->cfg;
		struct pvio_balloon_config *c = d->config;

		c->target_pages = pvio_cpu_to_le64(pvio_le64_to_cpu(o->target_pages) +
						   (k & 1 ? 4096 : 0));
		break;
	}
	}
	pvbe_guest_config_changed(d);
}


/* ---- hooks ----------------------------------------------------------------- */

int pvbe_hostile_parse(struct pvbe_dev *d)
{
	struct pvbe_dev_cfg *c = d->cfg;
	char val[sizeof(c->params[0].val)], err[500], *w[64], *save = NULL, *t;
	struct pvbe_hostile *h;
	int i, n = 0, line = 0;
	bool found = false;

	/* Out of the class's keys: the class must not see it, echo takes none. */
	for (i = 0; i < c->nparams;) {
		if (strcmp(c->params[i].key, "hostile")) {
			i++;
			continue;
		}
		found = true;
		line = c->params[i].line;
		snprintf(val, sizeof(val), "%s", c->params[i].val);
		memmove(&c->params[i], &c->params[i + 1],
			(size_t)(c->nparams - i - 1) * sizeof(c->params[0]));
		c->nparams--;
	}
	if (!found)
		return 0;
	h = h_new();
	if (!h)
		return -ENOMEM;
	for (t = strtok_r(val, ", \t", &save); t && n < 64; t = strtok_r(NULL, ", \t", &save))
		w[n++] = t;
	if (arm_words(d, h, n, w, err, sizeof(err))) {
		pvbe_err(d->tag, "line %d: hostile: %s", line, err);
		free(h);
		return -EINVAL;
	}
	d->hostile = h;
	pvbe_warn(d->tag, "hostile backend (test build only), armed %#x", h->armed);
	return 0;
}

void pvbe_hostile_free(struct pvbe_dev *d)
{
	struct pvbe_hostile *h = d->hostile;
	unsigned int i;

	if (!h)
		return;
	for (i = 0; i < PVIO_MAX_QUEUES; i++)
		free(h->q[i].rec);
	free(h);
	d->hostile = NULL;
}

/* The tables of requests taken, once the queue sizes are known. */
static void h_queues(struct pvbe_dev *d)
{
	struct pvbe_hostile *h = d->hostile;
	unsigned int i;

	for (i = 0; i < d->nqueues; i++) {
		struct h_queue *hq = &h->q[i];

		if (!hq->rec && d->q[i].sq_size) {
			hq->rec = calloc(d->q[i].sq_size, sizeof(*hq->rec));
			hq->mask = hq->rec ? d->q[i].sq_size - 1 : 0;
		}
		hq->pkt_left = 0;
		hq->sticky = -1;
	}
}

/*
 * The hooks run on the worker's thread; a class whose queues run on a
 * thread of their own (net = dpdk: ops->kick) would race with them.
 */
static bool h_unfit(const struct pvbe_dev *d)
{
	return d->ops->kick != NULL;
}

void pvbe_hostile_init(struct pvbe_dev *d)
{
	struct pvbe_hostile *h = d->hostile;

	if (!h)
		return;
	if (h_unfit(d)) {
		pvbe_warn(d->tag, "hostile: not for a device served by a thread of its own (net = dpdk): ignored");
		pvbe_hostile_free(d);
		return;
	}
	h_queues(d);
	pvbe_hostile_rec_clear(h);
	h->echo_held = false;
	h->gen_touched = false;
	h->state_touched = false;
	h->cfg_saved = false;
	if (h->armed & BIT(S_CFG_LBS))
		cfg_garbage(d, S_CFG_LBS);
	if (h->armed & BIT(S_CFG_LIMITS))
		cfg_garbage(d, S_CFG_LIMITS);
}

/* Every vector, for H_IRQ_MS: QEMU raises an MSI-X message per wake-up. */
static void irq_storm(struct pvbe_guest *g)
{
	uint64_t end = pvbe_now_ms() + H_IRQ_MS;
	unsigned int v;

	while (pvbe_now_ms() < end)
		for (v = 0; v < g->nvectors; v++)
			pvbe_guest_notify(g, v);
}

static void storm_step(struct pvbe_dev *d, int s, unsigned int k, bool *irq)
{
	struct pvbe_hostile *h = d->hostile;
	struct pvbe_guest *g = d->g;

	switch (s) {
	case S_CFG_STORM:
		cfg_storm_step(d, k);
		break;
	case S_GEN_STORM:
		h->gen_touched = true;
		pvio_store_release(&g->hdr->generation, pvio_cpu_to_le32(g->generation + 1 + k));
		pvbe_guest_notify(g, PVIO_CONFIG_VECTOR);
		break;
	case S_RESET_STORM:
		h->state_touched = true;
		pvio_write_once(d->desc->device_state, pvio_cpu_to_le32(PVIO_DEV_S_NEEDS_RESET));
		pvbe_guest_notify(g, PVIO_CONFIG_VECTOR);
		break;
	case S_IRQ_STORM:
		*irq = true;
		break;
	}
}

/* The truth back where a storm or a lie left something else. */
static void truth(struct pvbe_dev *d)
{
	struct pvbe_hostile *h = d->hostile;
	struct pvbe_guest *g = d->g;

	if (h->gen_touched) {
		pvio_store_release(&g->hdr->generation, pvio_cpu_to_le32(g->generation));
		h->gen_touched = false;
	}
	if (h->state_touched) {
		pvio_write_once(d->desc->broken_reason, pvio_cpu_to_le32(d->broken_reason));
		pvio_write_once(d->desc->device_state, pvio_cpu_to_le32(d->state));
		h->state_touched = false;
	}
	pvbe_guest_notify(g, PVIO_CONFIG_VECTOR);
}

bool pvbe_hostile_tick(struct pvbe_guest *g)
{
	bool still = false, irq = false;
	int i, s;

	for (i = 0; i < g->ndev; i++) {
		struct pvbe_dev *d = &g->dev[i];
		struct pvbe_hostile *h = d->hostile;
		bool ended = false;

		if (!h || !d->desc)
			continue;
		if (h->armed & BIT(S_HB_STOP) && !h->fired[S_HB_STOP])
			pvbe_hostile_fire(d, S_HB_STOP, "the heartbeat stands still at %" PRIu64, g->heartbeat);
		still |= !!(h->armed & (BIT(S_HB_STOP) | BIT(S_SILENT)));
		if (h->armed & BIT(S_STATE_BROKEN)) {
			h->armed &= ~BIT(S_STATE_BROKEN);
			h->state_touched = true;
			pvio_write_once(d->desc->broken_reason, pvio_cpu_to_le32(0xdead));
			pvio_write_once(d->desc->device_state, pvio_cpu_to_le32(PVIO_DEV_S_BROKEN));
			pvbe_guest_notify(g, PVIO_CONFIG_VECTOR);
			pvbe_hostile_fire(d, S_STATE_BROKEN, "device_state BROKEN, reason 0xdead (really %s)",
					  pvbe_dev_state_name(d));
		}
		for (s = 0; s < S_COUNT; s++) {
			if (!scn[s].storm || !(h->armed & BIT(s)) || !h->storm_left[s])
				continue;
			if (h->storm_left[s] == h->storm_n)
				pvbe_hostile_fire(d, s, "%u ticks", h->storm_n);
			storm_step(d, s, h->storm_step, &irq);
			if (--h->storm_left[s])
				continue;
			h->armed &= ~BIT(s);
			ended = true;
			if (s == S_CFG_STORM)
				cfg_restore(d);
			pvbe_warn(d->tag, "hostile %s: over", scn[s].name);
		}
		h->storm_step++;
		if (ended)
			truth(d);
	}
	if (irq)
		irq_storm(g);
	return still;
}


static struct json_object *h_status(struct pvbe_dev *d)
{
	struct pvbe_hostile *h = d->hostile;
	struct json_object *o = json_object_new_object(), *f = json_object_new_object();
	char armed[400];
	size_t n = 0;
	int s;

	armed[0] = '\0';
	for (s = 0; s < S_COUNT; s++) {
		if (h->armed & BIT(s))
			n += (size_t)snprintf(armed + n, sizeof(armed) - n, "%s%s",
					      n ? " " : "", scn[s].name);
		if (h->fired[s])
			json_object_object_add(f, scn[s].name, json_object_new_int64(h->fired[s]));
	}
	json_object_object_add(o, "armed", json_object_new_string(armed));
	json_object_object_add(o, "fired", f);
	json_object_object_add(o, "echo_held", json_object_new_boolean(h->echo_held));
	return o;
}

struct json_object *pvbe_hostile_control(struct pvbe_dev *d, int argc, char **argv)
{
	struct pvbe_hostile *h = d->hostile;
	struct json_object *o;
	char err[500];
	uint32_t before;
	int s;

	if (h_unfit(d)) {
		o = json_object_new_object();
		json_object_object_add(o, "error", json_object_new_string(
			"not for a device served by a thread of its own (net = dpdk)"));
		return o;
	}
	if (!h) {
		h = d->hostile = h_new();
		if (!h) {
			o = json_object_new_object();
			json_object_object_add(o, "error", json_object_new_string("out of memory"));
			return o;
		}
		if (d->desc)
			h_queues(d);
	}
	if (argc == 1 && !strcmp(argv[0], "off")) {
		h->armed = 0;
		h->fired[S_HB_STOP] = 0;
		h->fired[S_SILENT] = 0;
		memset(h->storm_left, 0, sizeof(h->storm_left));
		pvbe_hostile_echo_late(d);
		cfg_restore(d);
		if (d->desc)
			truth(d);
		pvbe_warn(d->tag, "hostile: off");
	} else if (!(argc == 1 && !strcmp(argv[0], "status"))) {
		before = h->armed;
		if (arm_words(d, h, argc, argv, err, sizeof(err))) {
			o = json_object_new_object();
			json_object_object_add(o, "error", json_object_new_string(err));
			return o;
		}
		for (s = S_CFG_LBS; s <= S_CFG_LIMITS; s++)
			if ((h->armed & ~before & BIT(s)) && d->desc)
				cfg_garbage(d, s);
		pvbe_warn(d->tag, "hostile: armed %#x", h->armed);
	}
	return h_status(d);
}

#endif /* PVBE_TEST_HOOKS */
