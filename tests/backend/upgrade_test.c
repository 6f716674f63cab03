// SPDX-License-Identifier: GPL-2.0
/*
 * upgrade_test.c - pviod replaced in place (pvioctl upgrade, SIGUSR2;
 * backend/core/handover.h) with libpvio-front clients attached: the same
 * supervisor PID, the same connections, a new generation that the
 * clients recover from as after a worker crash; a new binary is the one
 * that runs after; a binary that cannot start changes nothing; guests
 * added at run time come back from their files; a guest whose layout
 * changed is not adopted.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pvio_front.h"
#include "kselftest_harness.h"
#include "test_util.h"

#define RAM_SIZE	(8u << 20)

FIXTURE(up) {
	char dir[64];
	char cfg[96], log[96], sock1[96], sock2[96], ctl[96], bin[96];
	pid_t pid;
	int port;			/* the metrics endpoint's */
	struct pvfront f1, f2;
	struct pvfront_dev *d1, *d2;
	unsigned char *in1, *out1, *in2, *out2;
	uint64_t gin1, gout1, gin2, gout2;
};

static void write_cfg(struct __test_metadata *_metadata, FIXTURE_DATA(up) *self,
		      unsigned int g2_queues)
{
	FILE *f = fopen(self->cfg, "w");

	if (!self->port)
		self->port = free_port();
	ASSERT_NE(NULL, f);
	ASSERT_LT(0, self->port);
	fprintf(f, "[pviod]\ncontrol = %s\nheartbeat_ms = 50\nmetrics = 127.0.0.1:%d\n\n"
		"[guest g1]\nsocket = %s\n\n[guest g2]\nsocket = %s\n\n"
		"[device g1 echo0]\ntype = echo\nqueues = 2\nqueue_size = 64\n\n"
		"[device g2 echo0]\ntype = echo\nqueues = %u\nqueue_size = 64\n",
		self->ctl, self->port, self->sock1, self->sock2, g2_queues);
	fclose(f);
}

/*
 * pviod runs from a copy of the binary in the test's directory, so that
 * a test can replace it (an upgrade) or remove it.
 */
FIXTURE_SETUP(up)
{
	const char *real = pviod_bin();

	strcpy(self->dir, "/tmp/pvio-uptest-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->cfg, sizeof(self->cfg), "%s/pviod.ini", self->dir);
	snprintf(self->log, sizeof(self->log), "%s/pviod.log", self->dir);
	snprintf(self->sock1, sizeof(self->sock1), "%s/g1.sock", self->dir);
	snprintf(self->sock2, sizeof(self->sock2), "%s/g2.sock", self->dir);
	snprintf(self->ctl, sizeof(self->ctl), "%s/control.sock", self->dir);
	snprintf(self->bin, sizeof(self->bin), "%s/pviod", self->dir);
	write_cfg(_metadata, self, 1);
	ASSERT_EQ(0, sh("cp '%s' '%s'", real, self->bin));
	setenv("PVIOD", self->bin, 1);
	self->pid = pviod_start(self->cfg, self->log, self->ctl);
	setenv("PVIOD", real, 1);
	ASSERT_LT(0, self->pid);

	ASSERT_EQ(0, pvfront_connect(&self->f1, self->sock1, RAM_SIZE));
	ASSERT_EQ(0, pvfront_connect(&self->f2, self->sock2, RAM_SIZE));
	ASSERT_EQ(0, pvfront_wait_ready(&self->f1, 5000));
	ASSERT_EQ(0, pvfront_wait_ready(&self->f2, 5000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f1, 0, 0, 2, &self->d1));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f2, 0, 0, 1, &self->d2));
	self->in1 = pvfront_alloc(&self->f1, 4096, 64, &self->gin1);
	self->out1 = pvfront_alloc(&self->f1, 4096, 64, &self->gout1);
	self->in2 = pvfront_alloc(&self->f2, 4096, 64, &self->gin2);
	self->out2 = pvfront_alloc(&self->f2, 4096, 64, &self->gout2);
	ASSERT_TRUE(self->in1 && self->out1 && self->in2 && self->out2);
}

FIXTURE_TEARDOWN(up)
{
	pvfront_close(&self->f1);
	pvfront_close(&self->f2);
	if (pviod_stop(&self->pid, self->log))
		_metadata->passed = 0;
	if (!getenv("PVIO_KEEP"))
		sh("rm -rf %s", self->dir);
}

static int echo1(FIXTURE_DATA(up) *self, unsigned int q, uint16_t id)
{
	return echo_once(&self->f1, &self->d1->q[q], self->in1, self->gin1, self->out1,
			 self->gout1, 4096, id, id);
}

static int echo2(FIXTURE_DATA(up) *self, uint16_t id)
{
	return echo_once(&self->f2, &self->d2->q[0], self->in2, self->gin2, self->out2,
			 self->gout2, 4096, id, id);
}

/* A numeric field of the `workers` answer ("upgrades", "supervisor_pid"). */
static long long workers_num(const char *ctl, const char *key)
{
	char json[8192], pat[64];
	const char *p;

	if (control(ctl, "workers", json, sizeof(json)))
		return -1;
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	return p ? atoll(p + strlen(pat)) : -1;
}

/* Until `workers` says @n upgrades and both guests have a worker: 0, or -1. */
static int wait_upgraded(const char *ctl, long long n, int ms)
{
	for (; ms > 0; ms -= 20) {
		if (workers_num(ctl, "upgrades") == n && guest_worker_pid(ctl, "g1") > 0 &&
		    guest_worker_pid(ctl, "g2") > 0)
			return 0;
		msleep(20);
	}
	return -1;
}

static uint32_t gen(struct pvfront *f)
{
	return pvio_le32_to_cpu(pvio_read_once(f->hdr->generation));
}

/* Both clients, after a generation change: reset, set up, echo again. */
static int recover(FIXTURE_DATA(up) *self, uint16_t id)
{
	if (wait_dev_state(self->d1, PVIO_DEV_S_NEEDS_RESET, 5000) ||
	    wait_dev_state(self->d2, PVIO_DEV_S_NEEDS_RESET, 5000) ||
	    pvfront_dev_reset(self->d1, 3000) || pvfront_dev_setup(&self->f1, 0, 0, 2, &self->d1) ||
	    pvfront_dev_reset(self->d2, 3000) || pvfront_dev_setup(&self->f2, 0, 0, 1, &self->d2))
		return -1;
	return echo1(self, 0, id) || echo1(self, 1, id + 1) || echo2(self, id + 2) ? -1 : 0;
}

/*
 * Three upgrades in a row, alternating the control request and SIGUSR2:
 * each time the supervisor keeps its PID, every worker is new, each
 * client keeps its connection and sees the generation move by one, and
 * the guests' sockets still take new clients.
 */
TEST_F(up, clients_keep_their_connections_through_upgrades)
{
	int round, w1, w2, fds[4] = { 0 };
	char json[4096];
	uint32_t g1, g2;

	ASSERT_EQ(0, echo1(self, 0, 1));
	ASSERT_EQ(0, echo2(self, 2));
	for (round = 1; round <= 3; round++) {
		g1 = gen(&self->f1);
		g2 = gen(&self->f2);
		w1 = guest_worker_pid(self->ctl, "g1");
		w2 = guest_worker_pid(self->ctl, "g2");
		if (round % 2) {
			ASSERT_EQ(0, control(self->ctl, "upgrade", json, sizeof(json)));
			fprintf(stderr, "# upgrade %d: %s", round, json);
			EXPECT_NE(NULL, strstr(json, "\"upgrading\""));
		} else {
			ASSERT_EQ(0, kill(self->pid, SIGUSR2));
		}
		ASSERT_EQ(0, wait_upgraded(self->ctl, round, 10000));
		ASSERT_EQ(0, recover(self, (uint16_t)(10 * round)));
		fprintf(stderr, "# upgrade %d: supervisor %lld (expected %d); generations %u -> %u, %u -> %u; workers %d -> %d, %d -> %d\n",
			round, workers_num(self->ctl, "supervisor_pid"), (int)self->pid, g1,
			gen(&self->f1), g2, gen(&self->f2), w1,
			guest_worker_pid(self->ctl, "g1"), w2, guest_worker_pid(self->ctl, "g2"));
		EXPECT_EQ(self->pid, workers_num(self->ctl, "supervisor_pid"));
		EXPECT_NE(w1, guest_worker_pid(self->ctl, "g1"));
		EXPECT_NE(w2, guest_worker_pid(self->ctl, "g2"));
		EXPECT_EQ(g1 + 1, gen(&self->f1));
		EXPECT_EQ(g2 + 1, gen(&self->f2));
		fds[round] = proc_fds(self->pid);
	}
	/*
	 * The metrics endpoint is back: its socket is not handed over but
	 * closed at the exec, or the new pviod could not bind the port
	 * again and would exit, taking every guest with it.
	 */
	EXPECT_EQ(0, sh("curl -sf http://127.0.0.1:%d/metrics | grep -q '^pvio_guests 2$'", self->port));
	/* Nothing is left open by an exec: the same fds after each. */
	fprintf(stderr, "# supervisor fds after each upgrade: %d %d %d\n", fds[1], fds[2], fds[3]);
	EXPECT_EQ(fds[1], fds[2]);
	EXPECT_EQ(fds[1], fds[3]);
	EXPECT_EQ(3, log_count(self->log, "upgrade: exec "));
	EXPECT_EQ(3, log_count(self->log, "g1: upgrade: peer 1 adopted"));
	EXPECT_EQ(3, log_count(self->log, "g2: upgrade: peer 2 adopted"));
	/* The adopted listening socket takes a new client. */
	pvfront_close(&self->f2);
	msleep(100);
	ASSERT_EQ(0, pvfront_connect(&self->f2, self->sock2, RAM_SIZE));
	ASSERT_EQ(0, pvfront_wait_ready(&self->f2, 5000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f2, 0, 0, 1, &self->d2));
	self->in2 = pvfront_alloc(&self->f2, 4096, 64, &self->gin2);
	self->out2 = pvfront_alloc(&self->f2, 4096, 64, &self->gout2);
	ASSERT_TRUE(self->in2 && self->out2);
	EXPECT_EQ(0, echo2(self, 99));
}

/* The binary replaced on disk (as a package upgrade does): the new one runs. */
TEST_F(up, the_binary_on_disk_is_what_runs_after_the_upgrade)
{
	char exe[64], link[PATH_MAX], json[4096], tmp[128];
	struct stat st_new, st_run;
	ssize_t n;

	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)self->pid);
	snprintf(tmp, sizeof(tmp), "%s.new", self->bin);
	ASSERT_EQ(0, sh("cp '%s' '%s' && mv '%s' '%s'", pviod_bin(), tmp, tmp, self->bin));
	n = readlink(exe, link, sizeof(link) - 1);
	ASSERT_LT(0, n);
	link[n] = '\0';
	fprintf(stderr, "# before: %s runs %s\n", exe, link);
	EXPECT_NE(NULL, strstr(link, "(deleted)"));
	ASSERT_EQ(0, control(self->ctl, "upgrade", json, sizeof(json)));
	ASSERT_EQ(0, wait_upgraded(self->ctl, 1, 10000));
	n = readlink(exe, link, sizeof(link) - 1);
	ASSERT_LT(0, n);
	link[n] = '\0';
	ASSERT_EQ(0, stat(self->bin, &st_new));
	ASSERT_EQ(0, stat(exe, &st_run));
	fprintf(stderr, "# after: %s runs %s; inode %lu, the new file's %lu\n", exe, link,
		(unsigned long)st_run.st_ino, (unsigned long)st_new.st_ino);
	EXPECT_EQ(NULL, strstr(link, "(deleted)"));
	EXPECT_EQ(st_new.st_ino, st_run.st_ino);
	EXPECT_EQ(0, recover(self, 20));
}

/*
 * A binary that cannot start (gone; or one that rejects the
 * configuration) is found out before anything is stopped: the answer
 * says why, the workers and generations are the same, I/O goes on.
 */
TEST_F(up, an_upgrade_that_cannot_start_changes_nothing)
{
	int w1 = guest_worker_pid(self->ctl, "g1"), w2 = guest_worker_pid(self->ctl, "g2");
	uint32_t g1 = gen(&self->f1), g2 = gen(&self->f2);
	char json[4096], bad[128];

	ASSERT_EQ(0, unlink(self->bin));
	ASSERT_EQ(0, control(self->ctl, "upgrade", json, sizeof(json)));
	fprintf(stderr, "# binary gone: %s", json);
	EXPECT_NE(NULL, strstr(json, "--check-config"));
	EXPECT_NE(NULL, strstr(json, "not upgrading"));
	/* A configuration the new pviod would refuse: the same. */
	ASSERT_EQ(0, sh("cp '%s' '%s'", pviod_bin(), self->bin));
	snprintf(bad, sizeof(bad), "%s.good", self->cfg);
	ASSERT_EQ(0, sh("cp '%s' '%s' && echo 'bogus = 1' >> '%s'", self->cfg, bad, self->cfg));
	ASSERT_EQ(0, kill(self->pid, SIGUSR2));
	msleep(500);
	EXPECT_EQ(1, log_count(self->log, "not upgrading"));
	EXPECT_EQ(0, log_count(self->log, "upgrade: exec"));
	fprintf(stderr, "# generations %u -> %u, %u -> %u; workers %d -> %d, %d -> %d\n", g1,
		gen(&self->f1), g2, gen(&self->f2), w1, guest_worker_pid(self->ctl, "g1"), w2,
		guest_worker_pid(self->ctl, "g2"));
	EXPECT_EQ(g1, gen(&self->f1));
	EXPECT_EQ(g2, gen(&self->f2));
	EXPECT_EQ(w1, guest_worker_pid(self->ctl, "g1"));
	EXPECT_EQ(w2, guest_worker_pid(self->ctl, "g2"));
	EXPECT_EQ(PVIO_DEV_S_LIVE, pvfront_device_state(self->d1));
	EXPECT_EQ(0, echo1(self, 0, 5));
	EXPECT_EQ(0, echo2(self, 6));
	EXPECT_EQ(0, workers_num(self->ctl, "upgrades"));
}

/*
 * What the configuration says after the upgrade counts: a guest whose
 * window would be laid out differently is not adopted (its client is
 * dropped, said in the log), the others are.
 */
TEST_F(up, a_guest_whose_layout_changed_is_not_adopted)
{
	uint32_t g1 = gen(&self->f1);
	char json[4096];

	write_cfg(_metadata, self, 2);
	ASSERT_EQ(0, control(self->ctl, "upgrade", json, sizeof(json)));
	ASSERT_EQ(0, wait_upgraded(self->ctl, 1, 10000));
	msleep(200);
	EXPECT_EQ(1, log_count(self->log, "g2: upgrade: client not adopted: its configuration lays the window out differently now"));
	EXPECT_EQ(1, log_count(self->log, "g1: upgrade: peer 1 adopted"));
	ASSERT_EQ(0, wait_dev_state(self->d1, PVIO_DEV_S_NEEDS_RESET, 5000));
	EXPECT_EQ(g1 + 1, gen(&self->f1));
	ASSERT_EQ(0, pvfront_dev_reset(self->d1, 3000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f1, 0, 0, 2, &self->d1));
	EXPECT_EQ(0, echo1(self, 1, 7));
	/* g2's client may connect again and gets the new layout. */
	pvfront_close(&self->f2);
	ASSERT_EQ(0, pvfront_connect(&self->f2, self->sock2, RAM_SIZE));
	ASSERT_EQ(0, pvfront_wait_ready(&self->f2, 5000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f2, 0, 0, 2, &self->d2));
	self->in2 = pvfront_alloc(&self->f2, 4096, 64, &self->gin2);
	self->out2 = pvfront_alloc(&self->f2, 4096, 64, &self->gout2);
	ASSERT_TRUE(self->in2 && self->out2);
	EXPECT_EQ(0, echo2(self, 8));
}

/*
 * A guest added at run time (guest add FILE, as the libvirt hook does)
 * is added again from its file after an upgrade, its client adopted;
 * and a reload of the main configuration, which does not name it, keeps
 * it: it is not the configuration's.
 */
TEST_F(up, a_guest_added_at_run_time_survives_upgrade_and_reload)
{
	char add[128], s3[128], req[256], json[8192];
	struct pvfront f3;
	struct pvfront_dev *d3;
	unsigned char *in, *out;
	uint64_t gin, gout;
	FILE *f;

	snprintf(add, sizeof(add), "%s/g3.ini", self->dir);
	snprintf(s3, sizeof(s3), "%s/g3.sock", self->dir);
	f = fopen(add, "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "[guest g3]\nsocket = %s\n[device g3 e]\ntype = echo\n", s3);
	fclose(f);
	snprintf(req, sizeof(req), "guest add %s", add);
	ASSERT_EQ(0, control(self->ctl, req, json, sizeof(json)));
	ASSERT_NE(NULL, strstr(json, "\"added\":1"));
	ASSERT_EQ(0, pvfront_connect(&f3, s3, RAM_SIZE));
	ASSERT_EQ(0, pvfront_wait_ready(&f3, 5000));
	ASSERT_EQ(0, pvfront_dev_setup(&f3, 0, 0, 1, &d3));
	in = pvfront_alloc(&f3, 4096, 64, &gin);
	out = pvfront_alloc(&f3, 4096, 64, &gout);
	ASSERT_TRUE(in && out);
	EXPECT_EQ(0, echo_once(&f3, &d3->q[0], in, gin, out, gout, 4096, 1, 1));

	ASSERT_EQ(0, control(self->ctl, "upgrade", json, sizeof(json)));
	ASSERT_EQ(0, wait_upgraded(self->ctl, 1, 10000));
	ASSERT_EQ(0, wait_dev_state(d3, PVIO_DEV_S_NEEDS_RESET, 5000));
	EXPECT_EQ(1, log_count(self->log, "g3: upgrade: peer 3 adopted"));
	ASSERT_EQ(0, pvfront_dev_reset(d3, 3000));
	ASSERT_EQ(0, pvfront_dev_setup(&f3, 0, 0, 1, &d3));
	EXPECT_EQ(0, echo_once(&f3, &d3->q[0], in, gin, out, gout, 4096, 2, 2));

	ASSERT_EQ(0, control(self->ctl, "reload", json, sizeof(json)));
	fprintf(stderr, "# reload: %s", json);
	msleep(300);
	EXPECT_LT(0, guest_worker_pid(self->ctl, "g3"));
	EXPECT_EQ(0, log_count(self->log, "g3: guest removed"));
	EXPECT_EQ(0, echo_once(&f3, &d3->q[0], in, gin, out, gout, 4096, 3, 3));
	pvfront_close(&f3);
}

TEST_HARNESS_MAIN
