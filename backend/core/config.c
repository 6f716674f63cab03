// SPDX-License-Identifier: GPL-2.0
/*
 * config.c - pviod's configuration, INI read with libinih.  Strict: an
 * unknown section or key, a duplicate name, a bad number or a missing
 * required key is an error that names the file and line; nothing is
 * guessed.
 */
#include <ctype.h>
#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "core/threads.h"
#include "transport/memtable.h"

static const char *cfg_path;
static char cfg_err[512];	/* the last error, for the control socket */
static char cfg_ctx[80];	/* "guest NAME: " or "device GUEST NAME: " */

static void cfg_errorf(int line, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "path:line: reason" (line 0: "path: reason") on stderr and in cfg_err. */
static void cfg_errorf(int line, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line)
		snprintf(cfg_err, sizeof(cfg_err), "%.120s:%d: %.79s%.290s", cfg_path,
			 line, cfg_ctx, msg);
	else
		snprintf(cfg_err, sizeof(cfg_err), "%.120s: %.380s", cfg_path, msg);
	fprintf(stderr, "%spviod: %s\n", pvbe_log_prio(PVBE_LOG_ERR), cfg_err);
}

#define cfg_error(line, ...)	cfg_errorf(line, __VA_ARGS__)

const char *pvbe_config_error(void)
{
	return cfg_err;
}

int pvbe_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	v = strtoull(s, &end, 0);
	if (errno)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case 'G':
		v <<= 10;
		/* fallthrough */
	case 'M':
		v <<= 10;
		/* fallthrough */
	case 'K':
		v <<= 10;
		end++;
		break;
	case '\0':
		break;
	default:
		return -EINVAL;
	}
	if (*end && strcmp(end, "iB") && strcmp(end, "B"))
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_uint(const char *s, unsigned int min, unsigned int max,
		      unsigned int *out)
{
	uint64_t v;

	if (pvbe_parse_size(s, &v) || v < min || v > max)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int copy_str(char *dst, size_t n, const char *src, int line,
		    const char *what)
{
	if (strlen(src) >= n) {
		cfg_error(line, "%s too long (max %zu)", what, n - 1);
		return -EINVAL;
	}
	strcpy(dst, src);
	return 0;
}

static int valid_name(const char *s)
{
	if (!*s || strlen(s) >= PVBE_NAME_MAX)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return 0;
	return 1;
}

static int dev_type(const char *s)
{
	if (!strcmp(s, "net"))
		return PVIO_DEV_NET;
	if (!strcmp(s, "blk"))
		return PVIO_DEV_BLK;
	if (!strcmp(s, "balloon"))
		return PVIO_DEV_BALLOON;
	if (!strcmp(s, "echo"))
		return PVIO_DEV_ECHO;
	return -1;
}

static struct pvbe_guest_cfg *find_guest(struct pvbe_cfg *cfg, const char *n)
{
	int i;

	for (i = 0; i < cfg->nguests; i++)
		if (!strcmp(cfg->guest[i]->name, n))
			return cfg->guest[i];
	return NULL;
}

/*
 * metrics = ADDR:PORT, numeric only (no name lookup): 127.0.0.1:9847,
 * [::1]:9847; "no" or empty: none.
 */
static int parse_listen(struct pvbe_cfg *cfg, const char *v, int line)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&cfg->metrics_addr;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&cfg->metrics_addr;
	char host[64], *port;
	unsigned int p;

	cfg->metrics[0] = '\0';
	memset(&cfg->metrics_addr, 0, sizeof(cfg->metrics_addr));
	if (!*v || !strcmp(v, "no"))
		return 0;
	if (strlen(v) >= sizeof(host))
		goto bad;
	strcpy(host, v);
	port = strrchr(host, ':');
	if (!port || port == host)
		goto bad;
	*port++ = '\0';
	if (parse_uint(port, 1, 65535, &p))
		goto bad;
	if (host[0] == '[') {
		if (port[-2] != ']')
			goto bad;
		port[-2] = '\0';
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			goto bad;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
	} else {
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			goto bad;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
	}
	strcpy(cfg->metrics, v);
	return 0;
bad:
	cfg_error(line, "metrics must be ADDR:PORT with a numeric address (127.0.0.1:9847, [::1]:9847) or no");
	return -EINVAL;
}

static int set_global(struct pvbe_cfg *cfg, const char *k, const char *v,
		      int line)
{
	if (!strcmp(k, "control"))
		return copy_str(cfg->control, sizeof(cfg->control), v, line,
				"control socket path");
	if (!strcmp(k, "heartbeat_ms")) {
		if (parse_uint(v, 10, 10000, &cfg->heartbeat_ms)) {
			cfg_error(line, "heartbeat_ms must be 10..10000");
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(k, "restart_limit")) {
		if (parse_uint(v, 1, 100000, &cfg->restart_limit)) {
			cfg_error(line, "restart_limit must be 1..100000");
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(k, "host_reserve") || !strcmp(k, "guest_memory_max")) {
		uint64_t *dst = !strcmp(k, "host_reserve") ? &cfg->host_reserve :
				&cfg->guest_memory_max;

		if (pvbe_parse_size(v, dst)) {
			cfg_error(line, "%s must be a size (bytes, or with a K, M or G suffix)", k);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(k, "memory_policy_ms")) {
		if (parse_uint(v, 100, 60000, &cfg->memory_policy_ms)) {
			cfg_error(line, "memory_policy_ms must be 100..60000");
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(k, "host_psi_limit")) {
		if (parse_uint(v, 1, 10000, &cfg->host_psi_limit)) {
			cfg_error(line, "host_psi_limit must be 1..10000 (hundredths of a per cent)");
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(k, "poll_idle_us")) {
		if (parse_uint(v, 0, 10000000, &cfg->poll_idle_us)) {
			cfg_error(line, "poll_idle_us must be 0..10000000");
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(k, "sandbox")) {
		if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) {
			cfg->sandbox = true;
		} else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) {
			cfg->sandbox = false;
		} else {
			cfg_error(line, "sandbox must be yes or no");
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(k, "user")) {
		if (!*v || strlen(v) >= sizeof(cfg->user) || strchr(v, ':')) {
			cfg_error(line, "user must be a user name (at most %zu characters)",
				  sizeof(cfg->user) - 1);
			return -EINVAL;
		}
		strcpy(cfg->user, v);
		return 0;
	}
	if (!strcmp(k, "metrics"))
		return parse_listen(cfg, v, line);
	cfg_error(line, "unknown key '%s' in [pviod]", k);
	return -EINVAL;
}

int pvbe_parse_cpulist(const char *s, cpu_set_t *set)
{
	unsigned long lo, hi, c;
	cpu_set_t allowed;
	char *end;

	CPU_ZERO(set);
	for (;;) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		lo = strtoul(s, &end, 10);
		hi = lo;
		if (*end == '-') {
			s = end + 1;
			if (*s < '0' || *s > '9')
				return -EINVAL;
			hi = strtoul(s, &end, 10);
		}
		if (hi < lo || hi >= CPU_SETSIZE)
			return -EINVAL;
		for (c = lo; c <= hi; c++)
			CPU_SET(c, set);
		if (!*end)
			break;
		if (*end != ',')
			return -EINVAL;
		s = end + 1;
	}
	if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
		CPU_AND(&allowed, &allowed, set);
		if (!CPU_EQUAL(&allowed, set))
			return -ENOENT;
	}
	return 0;
}

static int set_guest(struct pvbe_guest_cfg *g, const char *k, const char *v,
		     int line)
{
	if (!strcmp(k, "socket"))
		return copy_str(g->socket, sizeof(g->socket), v, line,
				"socket path");
	if (!strcmp(k, "ram"))
		return copy_str(g->ram_path, sizeof(g->ram_path), v, line,
				"ram path");
	if (!strcmp(k, "ram_size")) {
		if (pvbe_parse_size(v, &g->ram_size) || !g->ram_size) {
			cfg_error(line, "bad ram_size '%s'", v);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(k, "machine")) {
		if (strcmp(v, "pc") && strcmp(v, "q35")) {
			cfg_error(line, "machine must be pc or q35");
			return -EINVAL;
		}
		return copy_str(g->machine, sizeof(g->machine), v, line, "machine");
	}
	if (!strcmp(k, "cpus")) {
		cpu_set_t set;
		int ret = strlen(v) < sizeof(g->cpus) ? pvbe_parse_cpulist(v, &set) : -EINVAL;

		if (ret == -ENOENT) {
			cfg_error(line, "cpus '%s' names a CPU pviod itself may not run on", v);
			return ret;
		}
		if (ret) {
			cfg_error(line, "bad cpus '%s': want a CPU list such as 0-3,6 (at most %zu characters)",
				  v, sizeof(g->cpus) - 1);
			return ret;
		}
		return copy_str(g->cpus, sizeof(g->cpus), v, line, "cpus");
	}
	if (!strcmp(k, "nice")) {
		char *end;
		long n;

		errno = 0;
		n = strtol(v, &end, 10);
		if (errno || end == v || *end || n < -20 || n > 19) {
			cfg_error(line, "nice must be -20..19");
			return -EINVAL;
		}
		g->nice = (int)n;
		g->nice_set = true;
		return 0;
	}
	if (!strcmp(k, "threads")) {
		if (parse_uint(v, 1, PVBE_MAX_THREADS, &g->threads)) {
			cfg_error(line, "threads must be 1..%d", PVBE_MAX_THREADS);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(k, "ready_delay_ms")) {
		if (parse_uint(v, 0, 600000, &g->ready_delay_ms)) {
			cfg_error(line, "ready_delay_ms must be 0..600000");
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(k, "ram_layout")) {
		struct pvbe_memtable mt;

		if (pvbe_memtable_parse(&mt, v)) {
			cfg_error(line, "bad ram_layout '%s': want GPA:SIZE:FILE_OFFSET[,...], "
				  "decimal or 0x hex, 4 KiB aligned, at most %d regions, none overlapping",
				  v, PVBE_MAX_REGIONS);
			return -EINVAL;
		}
		return copy_str(g->ram_layout, sizeof(g->ram_layout), v, line,
				"ram_layout");
	}
	cfg_error(line, "unknown key '%s' in [guest %s]", k, g->name);
	return -EINVAL;
}

static int set_dev(struct pvbe_dev_cfg *d, const char *k, const char *v,
		   int line)
{
	struct pvbe_param *p;

	if (!strcmp(k, "type")) {
		d->type = dev_type(v);
		if (d->type < 0) {
			cfg_error(line, "unknown device type '%s' (net, blk, balloon, echo)", v);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(k, "queues")) {
		if (parse_uint(v, 1, PVIO_MAX_QUEUES, &d->queues)) {
			cfg_error(line, "queues must be 1..%d", PVIO_MAX_QUEUES);
			return -EINVAL;
		}
		d->queues_line = line;
		return 0;
	}
	if (!strcmp(k, "queue_size")) {
		if (parse_uint(v, 2, 4096, &d->queue_size) ||
		    (d->queue_size & (d->queue_size - 1))) {
			cfg_error(line, "queue_size must be a power of two, 2..4096");
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(k, "poll")) {
		/* Resolved per queue once the class has set the queue count. */
		d->poll_line = line;
		return copy_str(d->poll, sizeof(d->poll), v, line, "value");
	}
	if (d->nparams == PVBE_MAX_PARAMS) {
		cfg_error(line, "too many keys for device %s", d->name);
		return -EINVAL;
	}
	p = &d->params[d->nparams++];
	p->line = line;
	if (copy_str(p->key, sizeof(p->key), k, line, "key") ||
	    copy_str(p->val, sizeof(p->val), v, line, "value"))
		return -EINVAL;
	return 0;
}

/* A class key: the last one given wins; all of them count as used. */
const struct pvbe_param *pvbe_dev_param_get(struct pvbe_dev_cfg *d, const char *key)
{
	const struct pvbe_param *p = NULL;
	int i;

	for (i = 0; i < d->nparams; i++) {
		if (!strcmp(d->params[i].key, key)) {
			d->params[i].used = 1;
			p = &d->params[i];
		}
	}
	return p;
}

const char *pvbe_dev_param(struct pvbe_dev_cfg *d, const char *key)
{
	const struct pvbe_param *p = pvbe_dev_param_get(d, key);

	return p ? p->val : NULL;
}

int pvbe_dev_param_bool(const char *tag, struct pvbe_dev_cfg *d,
			const char *key, bool *out)
{
	const struct pvbe_param *p = pvbe_dev_param_get(d, key);

	if (!p)
		return 0;
	if (!strcmp(p->val, "yes") || !strcmp(p->val, "true") || !strcmp(p->val, "1")) {
		*out = true;
		return 0;
	}
	if (!strcmp(p->val, "no") || !strcmp(p->val, "false") || !strcmp(p->val, "0")) {
		*out = false;
		return 0;
	}
	pvbe_err(tag, "line %d: %s = %s: want yes or no", p->line, key, p->val);
	return -EINVAL;
}

static int check(struct pvbe_cfg *cfg)
{
	int i, j, k;

	for (i = 0; i < cfg->nguests; i++) {
		struct pvbe_guest_cfg *g = cfg->guest[i];

		if (!g->socket[0]) {
			cfg_error(0, "guest %s: 'socket' is required", g->name);
			return -EINVAL;
		}
		if (g->ram_path[0] && !g->ram_size) {
			cfg_error(0, "guest %s: 'ram' needs 'ram_size'", g->name);
			return -EINVAL;
		}
		/* Found here, not when the guest connects and its I/O hangs. */
		if (g->ram_path[0] && !g->ram_layout[0]) {
			struct pvbe_memtable mt;

			if (pvbe_memtable_layout(&mt, g->machine, g->ram_size)) {
				cfg_error(0, "guest %s: ram_size %llu is not a multiple of 2 MiB: pviod cannot lay out QEMU's '%s' RAM (give ram_layout for another layout)",
					  g->name, (unsigned long long)g->ram_size,
					  g->machine[0] ? g->machine : "pc");
				return -EINVAL;
			}
		}
		if (!g->ndev) {
			cfg_error(0, "guest %s has no devices", g->name);
			return -EINVAL;
		}
		for (j = 0; j < i; j++) {
			if (!strcmp(cfg->guest[j]->socket, g->socket)) {
				cfg_error(0, "guests %s and %s share socket %s",
					  cfg->guest[j]->name, g->name, g->socket);
				return -EINVAL;
			}
			/* One guest's RAM is not another's (guest add checks the same). */
			if (g->ram_path[0] && !strcmp(cfg->guest[j]->ram_path, g->ram_path)) {
				cfg_error(0, "guests %s and %s share RAM file %s",
					  cfg->guest[j]->name, g->name, g->ram_path);
				return -EINVAL;
			}
		}
		for (k = 0; k < g->ndev; k++) {
			if (g->dev[k].type <= 0) {
				cfg_error(0, "device %s %s: 'type' is required",
					  g->name, g->dev[k].name);
				return -EINVAL;
			}
		}
	}
	return 0;
}

void pvbe_config_free(struct pvbe_cfg *cfg)
{
	int i;

	for (i = 0; i < cfg->nguests; i++)
		free(cfg->guest[i]);
	cfg->nguests = 0;
}

/* Two device sections: the first key that differs, or NULL. */
static const char *dev_cfg_diff(const struct pvbe_dev_cfg *a, const struct pvbe_dev_cfg *b)
{
	int i;

	if (strcmp(a->name, b->name))
		return "devices";
	if (a->type != b->type)
		return "type";
	if (a->queues != b->queues || !a->queues_line != !b->queues_line)
		return "queues";
	if (a->queue_size != b->queue_size)
		return "queue_size";
	if (strcmp(a->poll, b->poll))
		return "poll";
	if (a->nparams != b->nparams)
		return a->nparams > b->nparams ? a->params[b->nparams].key :
						  b->params[a->nparams].key;
	for (i = 0; i < a->nparams; i++)
		if (strcmp(a->params[i].key, b->params[i].key) ||
		    strcmp(a->params[i].val, b->params[i].val))
			return a->params[i].key;
	return NULL;
}

const char *pvbe_guest_cfg_diff(const struct pvbe_guest_cfg *a,
				const struct pvbe_guest_cfg *b)
{
	const char *k;
	int i;

	if (strcmp(a->socket, b->socket))
		return "socket";
	if (strcmp(a->ram_path, b->ram_path))
		return "ram";
	if (a->ram_size != b->ram_size)
		return "ram_size";
	if (strcmp(a->machine, b->machine))
		return "machine";
	if (strcmp(a->ram_layout, b->ram_layout))
		return "ram_layout";
	if (a->ready_delay_ms != b->ready_delay_ms)
		return "ready_delay_ms";
	if (strcmp(a->cpus, b->cpus))
		return "cpus";
	if (a->nice_set != b->nice_set || a->nice != b->nice)
		return "nice";
	if ((a->threads ? a->threads : 1) != (b->threads ? b->threads : 1))
		return "threads";
	if (a->ndev != b->ndev)
		return "devices";
	for (i = 0; i < a->ndev; i++) {
		k = dev_cfg_diff(&a->dev[i], &b->dev[i]);
		if (k)
			return k;
	}
	return NULL;
}

/*
 * The parse: libinih splits lines into keys and values and finds the
 * lines that are neither; this file's reader feeds it, and keeps what
 * INI leaves open or does differently from our format: it numbers the
 * lines (for the errors), refuses one too long (inih would split it),
 * strips comments from the first '#' or ';', removes leading blanks (an
 * indented line is not a continuation of the last value here), refuses a
 * line without '=' (inih takes ':' too) and takes the section headers
 * itself, since ours name objects ([device GUEST NAME]) and a section
 * without keys is still one.  inih reads a line and
 * is done with it before it asks for the next, so a header opens its
 * section in order.
 */
struct cfg_parse {
	struct pvbe_cfg *cfg;
	FILE *f;
	bool guests_only;
	enum { S_NONE, S_GLOBAL, S_GUEST, S_DEV } sect;
	struct pvbe_guest_cfg *g;
	struct pvbe_dev_cfg *d;
	int line;
	int ret;		/* the first error; the parse stops there */
};

/* A section header (@s: "[...]", trimmed). */
static int open_section(struct cfg_parse *cp, const char *s)
{
	struct pvbe_cfg *cfg = cp->cfg;
	struct pvbe_guest_cfg *g;
	struct pvbe_dev_cfg *d;
	char a[64], b[64], c[64], extra;
	int n, line = cp->line;

	n = sscanf(s, "[%63s %63s %63[^] ] %c", a, b, c, &extra);
	if (n == 1 && !strcmp(a, "pviod]")) {
		if (cp->guests_only) {
			cfg_error(line, "[pviod] belongs in the main configuration, not in a guest file");
			return -EINVAL;
		}
		cp->sect = S_GLOBAL;
		cfg_ctx[0] = '\0';
		return 0;
	}
	if (n == 2 && !strcmp(a, "guest") && b[strlen(b) - 1] == ']') {
		b[strlen(b) - 1] = '\0';
		if (!valid_name(b) || find_guest(cfg, b) || cfg->nguests == PVBE_MAX_GUESTS) {
			cfg_error(line, "bad, duplicate or one too many guest '%s'", b);
			return -EINVAL;
		}
		g = calloc(1, sizeof(*g));
		if (!g)
			return -ENOMEM;
		cfg->guest[cfg->nguests++] = g;
		strcpy(g->name, b);
		strcpy(g->machine, "pc");
		cp->g = g;
		cp->sect = S_GUEST;
		snprintf(cfg_ctx, sizeof(cfg_ctx), "guest %.31s: ", b);
		return 0;
	}
	if (n == 4 && !strcmp(a, "device") && extra == ']') {
		g = find_guest(cfg, b);
		if (!g) {
			cfg_error(line, "device for unknown guest '%s' (declare [guest %s] first)", b, b);
			return -EINVAL;
		}
		if (!valid_name(c) || g->ndev == PVIO_MAX_DEVICES) {
			cfg_error(line, "bad device name '%s' or too many devices", c);
			return -EINVAL;
		}
		for (n = 0; n < g->ndev; n++)
			if (!strcmp(g->dev[n].name, c)) {
				cfg_error(line, "duplicate device '%s'", c);
				return -EINVAL;
			}
		d = &g->dev[g->ndev++];
		strcpy(d->name, c);
		d->queues = 1;
		d->queue_size = 256;
		cp->d = d;
		cp->sect = S_DEV;
		snprintf(cfg_ctx, sizeof(cfg_ctx), "device %.31s %.31s: ", b, c);
		return 0;
	}
	cfg_error(line, "bad section header: want [pviod], [guest NAME] or [device GUEST NAME]");
	return -EINVAL;
}

/* inih's line source: one line of ours, as described above; NULL ends the parse. */
static char *cfg_reader(char *str, int num, void *stream)
{
	struct cfg_parse *cp = stream;
	char *s, *cut;
	size_t len;

	if (cp->ret || !fgets(str, num, cp->f))
		return NULL;
	cp->line++;
	len = strlen(str);
	if (len && str[len - 1] != '\n' && !feof(cp->f)) {
		cfg_error(cp->line, "line too long (at most %d characters)", num - 2);
		cp->ret = -EINVAL;
		return NULL;
	}
	cut = strpbrk(str, "#;");
	if (cut)
		*cut = '\0';
	s = trim(str);
	if (*s == '[') {
		cp->ret = open_section(cp, s);
		/* inih counts this line too: hand it an empty one. */
		*str = '\0';
		return cp->ret ? NULL : str;
	}
	if (*s && !strchr(s, '=')) {
		cfg_error(cp->line, "expected key = value");
		cp->ret = -EINVAL;
		return NULL;
	}
	/* A key line for inih, or a blank one it skips. */
	memmove(str, s, strlen(s) + 1);
	return str;
}

/*
 * inih's handler: one key of the current section.  Returning 0 (an
 * error) stops nothing in inih: cp->ret does, through the reader.
 */
static int cfg_handler(void *user, const char *section, const char *key, const char *value)
{
	struct cfg_parse *cp = user;

	(void)section;		/* ours: cp->sect, opened by the reader */
	if (cp->ret)
		return 1;
	switch (cp->sect) {
	case S_GLOBAL:
		cp->ret = set_global(cp->cfg, key, value, cp->line);
		break;
	case S_GUEST:
		cp->ret = set_guest(cp->g, key, value, cp->line);
		break;
	case S_DEV:
		cp->ret = set_dev(cp->d, key, value, cp->line);
		break;
	default:
		cfg_error(cp->line, "key outside a section");
		cp->ret = -EINVAL;
	}
	return !cp->ret;
}

int pvbe_config_load(struct pvbe_cfg *cfg, const char *path, bool guests_only)
{
	struct cfg_parse cp = { .cfg = cfg, .guests_only = guests_only };
	int ret, bad;

	cfg_path = path;
	cfg_err[0] = '\0';
	cfg_ctx[0] = '\0';
	memset(cfg, 0, sizeof(*cfg));
	cfg->heartbeat_ms = 100;
	cfg->restart_limit = 10;
	cfg->host_reserve = 1ull << 30;
	cfg->memory_policy_ms = 1000;
	cfg->host_psi_limit = 1000;
	cfg->sandbox = true;
	strcpy(cfg->user, "nobody");
	cp.f = fopen(path, "r");
	if (!cp.f) {
		ret = -errno;
		cfg_error(0, "cannot open config: %s", strerror(errno));
		return ret;
	}
	bad = ini_parse_stream(cfg_reader, &cp, cfg_handler, &cp);
	fclose(cp.f);
	ret = cp.ret;
	if (!ret && bad < 0) {
		cfg_error(0, "cannot parse: out of memory");
		ret = -ENOMEM;
	} else if (!ret && bad > 0) {
		/* The reader passes none that inih would refuse. */
		cfg_error(bad, "not a line of an INI file");
		ret = -EINVAL;
	}
	cfg_ctx[0] = '\0';
	if (!ret)
		ret = check(cfg);
	if (ret)
		pvbe_config_free(cfg);
	return ret;
}
