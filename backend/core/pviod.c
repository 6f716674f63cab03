// SPDX-License-Identifier: GPL-2.0
/*
 * pviod - the pvio host backend.
 *
 * Security model: every guest is hostile.  Nothing read from a window or
 * from guest RAM is assumed sensible (transport/queue.c, device.c,
 * docs/security.md), and one guest can only spend and break what is its
 * own: each guest has a worker process of its own, sandboxed, with
 * budgets in requests, bytes and doorbells (core/worker.c, sandbox.c).
 *
 * Process model: QEMU cannot re-join a restarted ivshmem server, so the
 * process that holds QEMU's connections, the windows and the eventfds must
 * outlive the ones that do the I/O: a supervisor (core/supervisor.c) that
 * holds every fd and forks one worker per guest, restarting only the one
 * that dies.
 *
 * main() reads top to bottom: parse -> configure -> listen -> supervise.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/fdstore.h"
#include "core/handover.h"
#include "core/log.h"
#include "core/pviod.h"

struct pvbe_daemon pvbe;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pviod -c CONFIG [options]\n"
		"  -c, --config FILE     configuration (see docs/operations.md)\n"
		"      --check-config    parse and validate the configuration, then exit\n"
		"      --pidfile FILE    write the supervisor's PID here\n"
		"  -v, --verbose         debug logging\n"
		"  -h, --help            this text\n");
}

/* Every guest holds up to 2 * 64 eventfds: take what the hard limit allows. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The configuration's guests, checked and laid out; nothing opened yet. */
static int configure(void)
{
	struct pvbe_guest *g;
	int i, ret;

	for (i = 0; i < pvbe.cfg.nguests; i++) {
		ret = pvbe_guest_new(pvbe.cfg.guest[i], &g);
		pvbe.cfg.guest[i] = NULL;
		if (ret)
			return ret;
		g->index = (unsigned int)i;
		pvbe.guests[i] = g;
	}
	pvbe.cfg.nguests = 0;
	return 0;
}

static void release(void)
{
	int i;

	for (i = 0; i < PVBE_MAX_GUESTS; i++) {
		if (pvbe.guests[i])
			pvbe_guest_free(pvbe.guests[i]);
		pvbe.guests[i] = NULL;
	}
	if (pvbe.control_fd >= 0) {
		close(pvbe.control_fd);
		unlink(pvbe.cfg.control);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *pidfile = NULL;
	int check_only = 0, opt, ret, n = 0, i;
	ssize_t len;

	while ((opt = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'C':
			check_only = 1;
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 'v':
			pvbe_log_level = PVBE_LOG_DEBUG;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!config || optind != argc) {
		usage(stderr);
		return 2;
	}
	pvbe.control_fd = -1;
	pvbe.next_client_id = 1;
	/* Reload reads it again: keep it absolute (systemd starts us in /). */
	if (!realpath(config, pvbe.config_path))
		snprintf(pvbe.config_path, sizeof(pvbe.config_path), "%s", config);
	if (pvbe_config_load(&pvbe.cfg, pvbe.config_path, false))
		return 1;
	/* An upgrade execs this binary again (core/handover.h). */
	pvbe.argv = argv;
	len = readlink("/proc/self/exe", pvbe.exe, sizeof(pvbe.exe) - 1);
	if (len < 0)
		len = 0;
	pvbe.exe[len] = '\0';
	if (configure()) {
		release();
		return 1;
	}
	if (check_only) {
		for (i = 0; i < PVBE_MAX_GUESTS; i++)
			n += pvbe.guests[i] != NULL;
		printf("%s: OK, %d guest(s)\n", config, n);
		release();
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	/* Handed over by an exec, else perhaps by systemd's fd store. */
	pvbe_fdstore_init();
	if (!pvbe_handover_load())
		pvbe_fdstore_load();
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");

		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f)) {
			pvbe_err("supervisor", "pidfile %s: %s", pidfile, strerror(errno));
			release();
			return 1;
		}
	}
	ret = pvbe_supervise();
	release();
	if (pidfile)
		unlink(pidfile);
	pvbe_info("supervisor", "stopped");
	return ret ? 1 : 0;
}
