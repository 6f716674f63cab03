/* SPDX-License-Identifier: GPL-2.0 */
/*
 * config.h - pviod configuration: an INI file with one [pviod] section, a
 * [guest NAME] section per guest and a [device GUEST NAME] section per
 * device.  See docs/operations.md for every key.  The same parser reads
 * the guest files of `pvioctl guest add` (guest and device sections only).
 */
#ifndef PVBE_CONFIG_H
#define PVBE_CONFIG_H

#include <sched.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <stdint.h>

#include "pvio/abi.h"

#define PVBE_MAX_GUESTS		64
#define PVBE_NAME_MAX		32
#define PVBE_PATH_MAX		108	/* sun_path */
#define PVBE_MAX_PARAMS		16

struct pvbe_param {
	char key[32];
	char val[224];
	int line;
	int used;		/* consumed by the class handler */
};

struct pvbe_dev_cfg {
	char name[PVBE_NAME_MAX];
	int type;			/* PVIO_DEV_* */
	unsigned int queues;
	int queues_line;		/* 0: not given, the class may choose */
	unsigned int queue_size;
	char poll[64];			/* poll = no | yes | Q,Q,...; "" = no */
	int poll_line;
	int nparams;
	struct pvbe_param params[PVBE_MAX_PARAMS];	/* class-specific */
};

struct pvbe_guest_cfg {
	char name[PVBE_NAME_MAX];
	char socket[PVBE_PATH_MAX];
	char ram_path[256];		/* empty: RAM offered by the frontend */
	uint64_t ram_size;
	char machine[8];
	char ram_layout[128];		/* explicit layout, overrides machine */
	unsigned int ready_delay_ms;	/* test knob: publish READY this late */
	char cpus[64];			/* the worker's CPUs (a cpulist); "": pviod's */
	int nice;			/* the worker's nice value, if nice_set */
	bool nice_set;
	unsigned int threads;		/* the worker's threads; 0: 1 */
	int ndev;
	struct pvbe_dev_cfg dev[PVIO_MAX_DEVICES];
};

struct pvbe_cfg {
	char control[PVBE_PATH_MAX];
	unsigned int heartbeat_ms;
	unsigned int restart_limit;	/* worker deaths per minute before a hold */
	unsigned int poll_idle_us;	/* busy-poll: sleep after this long idle; 0 never */
	bool sandbox;			/* workers: own uid, no other fds, seccomp */
	char user[PVBE_NAME_MAX];	/* the workers' user when run as root */
	/* Prometheus endpoint (core/http.c): "ADDR:PORT" as written, or "" */
	char metrics[64];
	struct sockaddr_storage metrics_addr;
	/* The host-wide memory policy (core/hostmem.c, balloon/hostpolicy.h) */
	uint64_t host_reserve;		/* bytes the guests never get */
	uint64_t guest_memory_max;	/* bytes all its guests may have; 0: no limit */
	unsigned int memory_policy_ms;	/* round period */
	unsigned int host_psi_limit;	/* some avg10, hundredths of %: host pressure */
	int nguests;
	struct pvbe_guest_cfg *guest[PVBE_MAX_GUESTS];	/* heap, owned */
};

/*
 * Parse @path into @cfg (zeroed first; free it with pvbe_config_free).
 * @guests_only: a guest file, no [pviod] section allowed.  On error the
 * reason, "path:line: reason", is printed and kept for
 * pvbe_config_error().  A configuration with no guest is valid.
 */
int pvbe_config_load(struct pvbe_cfg *cfg, const char *path, bool guests_only);
void pvbe_config_free(struct pvbe_cfg *cfg);
const char *pvbe_config_error(void);
/*
 * Do two guest configurations differ?  NULL if not, else the name of the
 * first key (or "devices") that differs.  Line numbers do not count.
 */
const char *pvbe_guest_cfg_diff(const struct pvbe_guest_cfg *a,
				const struct pvbe_guest_cfg *b);
/*
 * Parse a CPU list ("0-3,6") into @set: 0, or -EINVAL (syntax, or a CPU
 * at or past CPU_SETSIZE), -ENOENT (a CPU pviod itself may not run on).
 */
int pvbe_parse_cpulist(const char *s, cpu_set_t *set);
/* Parse a size with an optional K/M/G suffix. */
int pvbe_parse_size(const char *s, uint64_t *out);
/* Class-specific parameters: the last one given wins, every one of them
 * counts as used.  _get also gives the line; _bool parses yes/no (true,
 * false, 1, 0), 0 when absent, -EINVAL with a log line when bad. */
const struct pvbe_param *pvbe_dev_param_get(struct pvbe_dev_cfg *d, const char *key);
const char *pvbe_dev_param(struct pvbe_dev_cfg *d, const char *key);
int pvbe_dev_param_bool(const char *tag, struct pvbe_dev_cfg *d,
			const char *key, bool *out);

#endif
