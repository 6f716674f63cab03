// SPDX-License-Identifier: GPL-2.0
/*
 * metrics.c - the answer to the control request `metrics` as Prometheus
 * text (exposition format 0.0.4), for pviod's HTTP endpoint (core/http.c)
 * and `pvioctl metrics`.
 *
 * The answer is the supervisor's list of guests, each with its worker's
 * devices in full (per-queue counters, and what the class adds: a blk
 * device's capacity, a net device's link, a balloon's sizes and its
 * guest's memory statistics).  Every metric is labelled with its guest,
 * and below that with its device (and the device's class) and queue:
 *
 *   pvio_guest_*{guest}                 connection, generation, worker
 *   pvio_device_*{guest,device,type}    state, resets, throttles
 *   pvio_queue_*{guest,device,queue}    the queue's counters
 *   pvio_<class>_*{guest,device}        what the class adds, as gauges
 *
 * Queue and device counters are a worker's: they start again from 0 when
 * a worker is replaced (a counter reset, as Prometheus expects them), and
 * pvio_guest_worker_restarts_total counts those.  A guest whose worker
 * did not answer in time has pvio_guest_devices_answered 0 and no device
 * metrics in that scrape.  Names are built from the answer's keys, and
 * label values are escaped; the guest and device names are the
 * configuration's (letters, digits, '-' and '_').
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"

enum kind { GAUGE, COUNTER };

static const char *const kind_name[] = { "gauge", "counter" };

/* ---- the answer ---------------------------------------------------------------- */

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

static bool is_value(struct json_object *v)
{
	return v && (json_object_is_type(v, json_type_int) ||
		     json_object_is_type(v, json_type_double) ||
		     json_object_is_type(v, json_type_boolean));
}

static size_t count(struct json_object *arr)
{
	return arr && json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;
}

static struct json_object *at(struct json_object *arr, size_t i)
{
	return json_object_array_get_idx(arr, i);
}

/* ---- output ---------------------------------------------------------------------- */

static void family(FILE *f, const char *name, enum kind k, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind_name[k]);
}

/* A label value: backslash, double quote and newline escaped. */
static void label_value(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* name{k1="v1",...} VALUE: @lv holds label names and values, NULL-ended. */
static void sample_start(FILE *f, const char *name, const char *const *lv)
{
	int i;

	fputs(name, f);
	for (i = 0; lv[i]; i += 2) {
		fprintf(f, "%s%s=", i ? "," : "{", lv[i]);
		label_value(f, lv[i + 1]);
	}
	fputs(i ? "} " : " ", f);
}

static void sample(FILE *f, const char *name, const char *const *lv, struct json_object *v)
{
	sample_start(f, name, lv);
	if (json_object_is_type(v, json_type_boolean))
		fputs(json_object_get_boolean(v) ? "1" : "0", f);
	else if (json_object_is_type(v, json_type_double))
		fprintf(f, "%.17g", json_object_get_double(v));
	else if (json_object_get_int64(v) < 0)
		fprintf(f, "%" PRId64, json_object_get_int64(v));
	else
		fprintf(f, "%" PRIu64, json_object_get_uint64(v));
	fputc('\n', f);
}

static void sample_u(FILE *f, const char *name, const char *const *lv, uint64_t v)
{
	sample_start(f, name, lv);
	fprintf(f, "%" PRIu64 "\n", v);
}

/* ---- guests, devices, queues ------------------------------------------------------ */

struct fam {
	const char *name, *key;
	enum kind kind;
	const char *help;
};

static const struct fam guest_fams[] = {
	{ "pvio_guest_connected", "connected", GAUGE, "1 while the guest's QEMU is connected" },
	{ "pvio_guest_generation", "generation", GAUGE,
	  "the generation of the guest's window (it changes with every worker)" },
	{ "pvio_guest_worker_restarts_total", "worker_restarts", COUNTER,
	  "workers started again for the guest after one died" },
};

static const struct fam dev_fams[] = {
	{ "pvio_device_broken_reason", "broken_reason", GAUGE,
	  "the reason a broken device was marked broken (docs/protocol.md), else 0" },
	{ "pvio_device_resets_total", "reset_count", COUNTER, "resets the guest asked for" },
	{ "pvio_device_event_throttles_total", "event_throttles", COUNTER,
	  "times the device's doorbells were throttled for arriving too fast" },
	{ "pvio_device_queues", "max_queues", GAUGE, "queues the device offers" },
};

static const struct fam queue_fams[] = {
	{ "pvio_queue_running", "running", GAUGE, "1 while the queue is set up and served" },
	{ "pvio_queue_kicks_total", "kicks", COUNTER, "doorbells the guest rang" },
	{ "pvio_queue_interrupts_total", "interrupts", COUNTER, "interrupts sent to the guest" },
	{ "pvio_queue_requests_total", "requests", COUNTER, "requests completed" },
	{ "pvio_queue_bytes_total", "bytes", COUNTER, "bytes moved by completed requests" },
	{ "pvio_queue_errors_total", "errors", COUNTER, "requests completed with an error" },
	{ "pvio_queue_packets_total", "packets", COUNTER, "packets (net) moved" },
	{ "pvio_queue_drops_total", "drops", COUNTER, "packets (net) dropped" },
	{ "pvio_queue_yields_total", "yields", COUNTER,
	  "times the queue gave way to others with requests left" },
	{ "pvio_queue_doorbells_muted_total", "doorbells_muted", COUNTER,
	  "rounds served with the guest's doorbell muted" },
	{ "pvio_queue_throttled_total", "throttled", COUNTER, "times the queue was throttled" },
};

/* Keys of a device the fixed families cover, or that are no metric. */
static const char *const dev_known[] = {
	"name", "type", "state", "driver_status", "broken_reason", "reset_count",
	"host_features", "guest_features", "max_queues", "event_throttles", "queues",
};

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static struct json_object *guests_of(struct json_object *m)
{
	struct json_object *g = get(m, "guests");

	return g && json_object_is_type(g, json_type_array) ? g : NULL;
}

static void guest_metrics(FILE *f, struct json_object *gs)
{
	size_t i, k, n = count(gs);

	for (k = 0; k < ARRAY_SIZE(guest_fams); k++) {
		family(f, guest_fams[k].name, guest_fams[k].kind, guest_fams[k].help);
		for (i = 0; i < n; i++) {
			const char *lv[] = { "guest", str(at(gs, i), "name"), NULL };
			struct json_object *v = get(at(gs, i), guest_fams[k].key);

			if (is_value(v))
				sample(f, guest_fams[k].name, lv, v);
		}
	}
	family(f, "pvio_guest_worker_running", GAUGE, "1 while the guest has a worker process");
	for (i = 0; i < n; i++) {
		const char *lv[] = { "guest", str(at(gs, i), "name"), NULL };

		sample_u(f, "pvio_guest_worker_running", lv,
			 !strcmp(str(at(gs, i), "worker"), "running"));
	}
	family(f, "pvio_guest_devices_answered", GAUGE,
	       "1 when the guest's worker answered for its devices in this scrape");
	for (i = 0; i < n; i++) {
		const char *lv[] = { "guest", str(at(gs, i), "name"), NULL };

		sample_u(f, "pvio_guest_devices_answered", lv,
			 json_object_is_type(get(at(gs, i), "devices"), json_type_array));
	}
}

/* Call @fn for every device of every guest that answered. */
#define for_each_dev(gs, gi, di, g, d)							\
	for (gi = 0; gi < count(gs); gi++)						\
		for (g = at(gs, gi), di = 0; di < count(get(g, "devices")); di++)	\
			if ((d = at(get(g, "devices"), di)) != NULL)

static void device_metrics(FILE *f, struct json_object *gs)
{
	struct json_object *g, *d, *v;
	size_t gi, di, k;

	family(f, "pvio_device_info", GAUGE, "1 for every device, with its class and state");
	for_each_dev(gs, gi, di, g, d) {
		const char *lv[] = { "guest", str(g, "name"), "device", str(d, "name"),
				     "type", str(d, "type"), "state", str(d, "state"), NULL };

		sample_u(f, "pvio_device_info", lv, 1);
	}
	family(f, "pvio_device_broken", GAUGE, "1 while the device is marked broken");
	for_each_dev(gs, gi, di, g, d) {
		const char *lv[] = { "guest", str(g, "name"), "device", str(d, "name"),
				     "type", str(d, "type"), NULL };

		sample_u(f, "pvio_device_broken", lv, !strcmp(str(d, "state"), "broken"));
	}
	for (k = 0; k < ARRAY_SIZE(dev_fams); k++) {
		family(f, dev_fams[k].name, dev_fams[k].kind, dev_fams[k].help);
		for_each_dev(gs, gi, di, g, d) {
			const char *lv[] = { "guest", str(g, "name"), "device", str(d, "name"),
					     "type", str(d, "type"), NULL };

			v = get(d, dev_fams[k].key);
			if (is_value(v))
				sample(f, dev_fams[k].name, lv, v);
		}
	}
}

static void queue_metrics(FILE *f, struct json_object *gs)
{
	struct json_object *g, *d, *q, *v;
	size_t gi, di, qi, k;
	char idx[24];

	for (k = 0; k < ARRAY_SIZE(queue_fams); k++) {
		family(f, queue_fams[k].name, queue_fams[k].kind, queue_fams[k].help);
		for_each_dev(gs, gi, di, g, d) {
			for (qi = 0; qi < count(get(d, "queues")); qi++) {
				const char *lv[] = { "guest", str(g, "name"), "device", str(d, "name"),
						     "queue", idx, NULL };

				q = at(get(d, "queues"), qi);
				snprintf(idx, sizeof(idx), "%s", json_object_get_string(get(q, "index")));
				v = get(q, queue_fams[k].key);
				if (is_value(v))
					sample(f, queue_fams[k].name, lv, v);
			}
		}
	}
	family(f, "pvio_queue_polling", GAUGE, "1 while the queue is busy-polled, 0 in event mode");
	for_each_dev(gs, gi, di, g, d) {
		for (qi = 0; qi < count(get(d, "queues")); qi++) {
			const char *lv[] = { "guest", str(g, "name"), "device", str(d, "name"),
					     "queue", idx, NULL };

			q = at(get(d, "queues"), qi);
			snprintf(idx, sizeof(idx), "%s", json_object_get_string(get(q, "index")));
			sample_u(f, "pvio_queue_polling", lv, !strcmp(str(q, "mode"), "poll"));
		}
	}
}

/* ---- what a class adds ------------------------------------------------------------- */

/* A class's metric: pvio_<type>_<path>, the path's keys joined with '_'. */
struct extra {
	char name[128];
	char type[32];
	char path[96];		/* keys joined with '.' */
};

struct extras {
	struct extra *e;
	size_t n, cap;
};

static bool dev_key_known(const char *k)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(dev_known); i++)
		if (!strcmp(k, dev_known[i]))
			return true;
	return false;
}

/* Metric names: [a-zA-Z0-9_], whatever else the key has becomes '_'. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			*s = '_';
}

static int extra_add(struct extras *x, const char *type, const char *path)
{
	struct extra e;
	size_t i;

	if (snprintf(e.name, sizeof(e.name), "pvio_%s_%s", type, path) >= (int)sizeof(e.name) ||
	    snprintf(e.type, sizeof(e.type), "%s", type) >= (int)sizeof(e.type) ||
	    snprintf(e.path, sizeof(e.path), "%s", path) >= (int)sizeof(e.path))
		return 0;	/* absurdly long: left out */
	sanitize(e.name);
	for (i = 0; i < x->n; i++)
		if (!strcmp(x->e[i].name, e.name))
			return 0;
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 32;
		struct extra *ne = realloc(x->e, cap * sizeof(*ne));

		if (!ne)
			return -1;
		x->e = ne;
		x->cap = cap;
	}
	x->e[x->n++] = e;
	return 0;
}

/* Every value below @o, one level of objects deep (a balloon's "stats"). */
static int extras_of(struct extras *x, const char *type, struct json_object *o,
		     const char *prefix)
{
	char path[96];

	json_object_object_foreach(o, k, v) {
		if (!*prefix && dev_key_known(k))
			continue;
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", k);
		if (is_value(v)) {
			if (extra_add(x, type, path))
				return -1;
		} else if (!*prefix && json_object_is_type(v, json_type_object)) {
			if (extras_of(x, type, v, k))
				return -1;
		}
	}
	return 0;
}

static struct json_object *at_path(struct json_object *o, const char *path)
{
	char p[96], *save = NULL, *k;

	snprintf(p, sizeof(p), "%s", path);
	for (k = strtok_r(p, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
		o = get(o, k);
	return o;
}

static int class_metrics(FILE *f, struct json_object *gs)
{
	struct extras x = { 0 };
	struct json_object *g, *d, *v;
	size_t gi, di, k;
	char help[200];

	for_each_dev(gs, gi, di, g, d) {
		if (extras_of(&x, str(d, "type"), d, "")) {
			free(x.e);
			return -1;
		}
	}
	for (k = 0; k < x.n; k++) {
		snprintf(help, sizeof(help), "%s of a %s device, as pvioctl status shows it",
			 x.e[k].path, x.e[k].type);
		family(f, x.e[k].name, GAUGE, help);
		for_each_dev(gs, gi, di, g, d) {
			const char *lv[] = { "guest", str(g, "name"), "device", str(d, "name"), NULL };

			if (strcmp(str(d, "type"), x.e[k].type))
				continue;
			v = at_path(d, x.e[k].path);
			if (is_value(v))
				sample(f, x.e[k].name, lv, v);
		}
	}
	free(x.e);
	return 0;
}

char *pvbe_metrics_text(struct json_object *m, size_t *len)
{
	struct json_object *gs = guests_of(m);
	char *buf = NULL;
	size_t n = 0;
	FILE *f;
	int ret;

	if (!gs) {
		errno = EINVAL;
		return NULL;
	}
	f = open_memstream(&buf, &n);
	if (!f)
		return NULL;
	family(f, "pvio_guests", GAUGE, "guests pviod serves");
	sample_u(f, "pvio_guests", (const char *const[]){ NULL }, count(gs));
	guest_metrics(f, gs);
	device_metrics(f, gs);
	queue_metrics(f, gs);
	ret = class_metrics(f, gs);
	if (fclose(f) || ret) {
		free(buf);
		errno = ENOMEM;
		return NULL;
	}
	*len = n;
	return buf;
}
