// SPDX-License-Identifier: GPL-2.0
/*
 * core/hostmem.c - the supervisor runs the host-wide memory policy
 * (hostmem.h).  The workers own the balloons and read the guests'
 * statistics; the supervisor sees every guest, so the arbitration is
 * here, over what the workers report.  A round waits for the workers'
 * answers (at most the control socket's second) and never overlaps the
 * next; a worker that does not answer leaves its balloon out of that
 * round, its target where it was.
 */
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "balloon/hostpolicy.h"
#include "core/control.h"
#include "core/hostmem.h"
#include "core/log.h"
#include "core/pviod.h"
#include "core/supervisor.h"
#include "transport/guest.h"

#define HM_MAX		(PVBE_MAX_GUESTS * 2)	/* balloons under the host policy */
#define MiB		((uint64_t)1 << 20)

struct hm_balloon {
	char guest[PVBE_NAME_MAX], dev[PVBE_NAME_MAX];
	struct pvbe_hpol_state st;
	bool seen;			/* in the last round */
};

static struct hm_balloon tab[HM_MAX];
static bool pending;
static uint64_t last_round;
static struct json_object *last;	/* the last round's status */
static bool active;			/* the last round found a balloon under it */

static uint64_t jnum(struct json_object *o, const char *k)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, k, &v) ? json_object_get_uint64(v) : 0;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : "";
}

/* MemAvailable and some avg10 (hundredths of a per cent); 0 if unreadable. */
static void host_read(struct pvbe_hpol_host *h)
{
	char line[256];
	unsigned long long kb;
	unsigned int whole, frac;
	FILE *f;

	h->avail = 0;
	h->psi_some_avg10 = 0;
	f = fopen("/proc/meminfo", "re");
	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
				h->avail = (uint64_t)kb << 10;
		fclose(f);
	}
	f = fopen("/proc/pressure/memory", "re");
	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "some avg10=%u.%2u", &whole, &frac) == 2)
				h->psi_some_avg10 = whole * 100 + frac;
		fclose(f);
	}
}

static struct hm_balloon *entry(const char *guest, const char *dev)
{
	struct hm_balloon *free_e = NULL;
	int i;

	for (i = 0; i < HM_MAX; i++) {
		if (tab[i].guest[0] && !strcmp(tab[i].guest, guest) && !strcmp(tab[i].dev, dev))
			return &tab[i];
		if (!tab[i].guest[0] && !free_e)
			free_e = &tab[i];
	}
	if (free_e) {
		memset(free_e, 0, sizeof(*free_e));
		snprintf(free_e->guest, sizeof(free_e->guest), "%s", guest);
		snprintf(free_e->dev, sizeof(free_e->dev), "%s", dev);
	}
	return free_e;
}

static void target_sent(struct json_object *resp, void *arg)
{
	(void)arg;
	if (resp && *jstr(resp, "error"))
		pvbe_warn("memory", "a target was refused: %s", jstr(resp, "error"));
	json_object_put(resp);
}

/* The balloon of one device object of a "metrics" answer, if under the host policy. */
static bool balloon_in(struct json_object *d, struct pvbe_hpol_guest *x)
{
	struct json_object *s = NULL;

	if (strcmp(jstr(d, "type"), "balloon") || strcmp(jstr(d, "policy"), "host") ||
	    !jnum(d, "ram_bytes"))
		return false;
	memset(x, 0, sizeof(*x));
	x->ram = jnum(d, "ram_bytes");
	x->actual = jnum(d, "actual_bytes");
	x->target = jnum(d, "target_bytes");
	x->min = jnum(d, "min_bytes");
	x->max = jnum(d, "max_bytes");
	x->headroom = jnum(d, "headroom_bytes");
	x->backed = jnum(d, "backed_bytes");
	if (json_object_object_get_ex(d, "stats", &s) && !strcmp(jstr(d, "state"), "running")) {
		x->stats = true;
		x->total = jnum(s, "total_bytes");
		x->avail = jnum(s, "avail_bytes");
		x->free = jnum(s, "free_bytes");
		x->allocstall = jnum(s, "allocstall");
		x->swap_out = jnum(s, "swap_out");
		x->oom_kills = jnum(s, "oom_kills");
		x->deflated_on_pressure = jnum(s, "deflated_on_pressure");
		x->pgscan = jnum(s, "pgscan");
	}
	return true;
}

/*
 * With -v, each round's inputs, one line per balloon after one for the
 * host: what tests/backend/hostpolicy_test.c replays (docs/operations.md
 * 10.4).  Changing the format means re-recording its traces.
 */
static void trace_inputs(const struct pvbe_hpol_host *h, const struct pvbe_hpol_guest *in,
			 struct hm_balloon *const *ent, unsigned int n)
{
	unsigned int i;

	if (pvbe_log_level < PVBE_LOG_DEBUG)
		return;
	pvbe_dbg("memory", "in host avail %" PRIu64 " reserve %" PRIu64 " limit %" PRIu64
		 " psi %u psi_limit %u guests %u", h->avail, h->reserve, h->limit,
		 h->psi_some_avg10, h->psi_limit, n);
	for (i = 0; i < n; i++) {
		const struct pvbe_hpol_guest *x = &in[i];

		pvbe_dbg("memory", "in balloon %s/%s ram %" PRIu64 " actual %" PRIu64
			 " target %" PRIu64 " min %" PRIu64 " max %" PRIu64 " headroom %" PRIu64
			 " backed %" PRIu64 " stats %d total %" PRIu64 " avail %" PRIu64
			 " allocstall %" PRIu64 " swap_out %" PRIu64 " oom_kills %" PRIu64
			 " deflated %" PRIu64 " pgscan %" PRIu64 " free %" PRIu64,
			 ent[i]->guest, ent[i]->dev, x->ram, x->actual, x->target, x->min, x->max,
			 x->headroom, x->backed, x->stats, x->total, x->avail, x->allocstall,
			 x->swap_out, x->oom_kills, x->deflated_on_pressure, x->pgscan, x->free);
	}
}

static void round_done(struct json_object *resp, void *arg)
{
	static struct pvbe_hpol_guest in[HM_MAX];
	static struct pvbe_hpol_state st[HM_MAX];
	static struct pvbe_hpol_out out[HM_MAX];
	struct hm_balloon *ent[HM_MAX];
	struct json_object *guests = NULL, *status, *arr, *o, *host;
	struct pvbe_hpol_host h = {
		.reserve = pvbe.cfg.host_reserve,
		.limit = pvbe.cfg.guest_memory_max,
		.psi_limit = pvbe.cfg.host_psi_limit,
	};
	unsigned int n = 0, i, k, nd;
	char line[160];
	bool short_;
	void *hd;

	(void)arg;
	pending = false;
	if (!resp)
		return;
	for (i = 0; i < HM_MAX; i++)
		tab[i].seen = false;
	if (json_object_object_get_ex(resp, "guests", &guests) &&
	    json_object_is_type(guests, json_type_array)) {
		for (i = 0; i < json_object_array_length(guests); i++) {
			struct json_object *g = json_object_array_get_idx(guests, i), *devs;

			if (!json_object_object_get_ex(g, "devices", &devs) ||
			    !json_object_is_type(devs, json_type_array))
				continue;
			nd = json_object_array_length(devs);
			for (k = 0; k < nd && n < HM_MAX; k++) {
				struct json_object *d = json_object_array_get_idx(devs, k);

				if (!balloon_in(d, &in[n]))
					continue;
				ent[n] = entry(jstr(g, "name"), jstr(d, "name"));
				if (!ent[n])
					continue;
				ent[n]->seen = true;
				st[n] = ent[n]->st;
				n++;
			}
		}
	}
	/* A balloon gone from the answers starts afresh if it comes back. */
	for (i = 0; i < HM_MAX; i++)
		if (!tab[i].seen)
			tab[i].guest[0] = '\0';
	active = n > 0;
	host_read(&h);
	trace_inputs(&h, in, ent, n);
	short_ = pvbe_hpol_decide(&h, in, st, out, n);

	status = json_object_new_object();
	host = json_object_new_object();
	J_U64(host, "avail_bytes", h.avail);
	J_U64(host, "reserve_bytes", h.reserve);
	J_U64(host, "guest_memory_max_bytes", h.limit);
	J_U64(host, "psi_some_avg10", h.psi_some_avg10);
	J_U64(host, "psi_limit", h.psi_limit);
	J_U64(host, "pool_bytes", pvbe_hpol_pool(&h, in, n));
	J_BOOL(host, "short", short_);
	json_object_object_add(status, "host", host);
	arr = json_object_new_array();
	for (i = 0; i < n; i++) {
		struct pvbe_hpol_out *r = &out[i];

		ent[i]->st = st[i];
		o = json_object_new_object();
		J_STR(o, "guest", ent[i]->guest);
		J_STR(o, "device", ent[i]->dev);
		J_U64(o, "ram_bytes", in[i].ram);
		J_U64(o, "used_bytes", r->used);
		J_U64(o, "unmanaged_bytes", r->unmanaged);
		J_U64(o, "demand_bytes", r->demand);
		J_U64(o, "grant_bytes", r->grant);
		J_U64(o, "actual_bytes", in[i].actual);
		J_U64(o, "target_bytes", r->target);
		J_U64(o, "backed_bytes", in[i].backed);
		J_BOOL(o, "pressure", r->pressure);
		J_STR(o, "why", r->why);
		json_object_array_add(arr, o);
		if (!r->changed)
			continue;
		pvbe_info("memory", "%s/%s: balloon %" PRIu64 " -> %" PRIu64 " MiB (%s; uses %" PRIu64 " MiB, wants %" PRIu64 ", may have %" PRIu64 ")",
			  ent[i]->guest, ent[i]->dev, in[i].target / MiB, r->target / MiB, r->why,
			  r->used / MiB, r->want / MiB, r->grant / MiB);
		snprintf(line, sizeof(line), "balloon %s %s host-target %" PRIu64, ent[i]->guest,
			 ent[i]->dev, r->target);
		if (pvbe_control_request(line, target_sent, NULL, &hd))
			pvbe_warn("memory", "%s/%s: no room for the request", ent[i]->guest,
				  ent[i]->dev);
	}
	json_object_object_add(status, "balloons", arr);
	json_object_put(last);
	last = status;
	json_object_put(resp);
}

/*
 * How often to look: every memory_policy_ms while a balloon is under the
 * policy (found in the last round, or so configured); ten times less
 * often while balloons exist but none is (one may be switched to it at
 * run time); never without a balloon.
 */
static uint64_t period(void)
{
	const struct pvbe_param *p;
	bool any = false;
	int i, k, j;

	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		const struct pvbe_guest *g = pvbe.guests[i];

		for (k = 0; g && k < g->cfg->ndev; k++) {
			if (g->cfg->dev[k].type != PVIO_DEV_BALLOON)
				continue;
			any = true;
			for (j = 0; j < g->cfg->dev[k].nparams; j++) {
				p = &g->cfg->dev[k].params[j];
				if (!strcmp(p->key, "policy") && !strcmp(p->val, "host"))
					return pvbe.cfg.memory_policy_ms;
			}
		}
	}
	if (!any)
		return UINT64_MAX;
	return active ? pvbe.cfg.memory_policy_ms : 10ull * pvbe.cfg.memory_policy_ms;
}

void pvbe_hostmem_tick(uint64_t now_ms)
{
	uint64_t every;
	void *hd;

	/* Never more often than memory_policy_ms: the common case, cheaply. */
	if (pending || now_ms - last_round < pvbe.cfg.memory_policy_ms)
		return;
	every = period();
	if (every == UINT64_MAX || now_ms - last_round < every)
		return;
	last_round = now_ms;
	pending = true;
	if (pvbe_control_request("metrics", round_done, NULL, &hd))
		pending = false;
}

struct json_object *pvbe_hostmem_status(void)
{
	struct json_object *o;

	if (last)
		return json_object_get(last);
	o = json_object_new_object();
	J_STR(o, "note", "no round yet (rounds run while a guest has a balloon)");
	return o;
}
