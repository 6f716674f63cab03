/* SPDX-License-Identifier: GPL-2.0 */
/*
 * isolation_fixture.h - what the isolation tests (isolation_test.c,
 * isolation_sandbox_test.c, isolation_guests_test.c) share: the fixture
 * of an attacking guest beside an honest one that runs verified I/O and
 * must come through every attack untouched (HONEST_UNTOUCHED()), and a
 * few helpers.  Each test binary includes it once.
 *
 *   guest g1 (attacker)  echo, 2 queues; blk on a 4 GiB sparse image
 *   guest g2 (honest)    echo, 1 queue: a thread of verified round trips
 */
#ifndef PVIO_ISOLATION_FIXTURE_H
#define PVIO_ISOLATION_FIXTURE_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pvio_front.h"
#include "kselftest_harness.h"
#include "test_util.h"

#define RAM1		(128u << 20)	/* room for 64 MiB segments */
#define RAM2		(8u << 20)
#define HB_MS		50
/* Generous for an ASan build on a shared 2-core machine, far below a stall. */
#define HB_STALL_MAX_MS	1500

/* The honest guest: verified echo round trips until told to stop. */
struct honest {
	struct pvfront *f;
	struct pvfront_queue *q;
	pthread_t thread;
	volatile int stop;
	uint64_t rounds, errors, max_gap_ms, hb_stall_ms;
};

static inline void *honest_main(void *arg)
{
	struct honest *h = arg;
	uint64_t gin, gout, t0, t, hb, hb_at, last = 0;
	unsigned char *in = pvfront_alloc(h->f, 4096, 64, &gin);
	unsigned char *out = pvfront_alloc(h->f, 4096, 64, &gout);
	uint16_t id = 0;

	hb = pvfront_heartbeat(h->f);
	hb_at = now_ms();
	while (!h->stop) {
		t0 = now_ms();
		if (!in || !out || echo_once(h->f, h->q, in, gin, out, gout, 4096, id++,
					     (unsigned int)h->rounds))
			h->errors++;
		h->rounds++;
		t = now_ms();
		if (t - t0 > h->max_gap_ms)
			h->max_gap_ms = t - t0;
		if (pvfront_heartbeat(h->f) != hb) {
			hb = pvfront_heartbeat(h->f);
			hb_at = t;
		} else if (t - hb_at > h->hb_stall_ms) {
			h->hb_stall_ms = t - hb_at;
		}
		if (t - last < 1)
			usleep(200);	/* a few thousand round trips a second is plenty */
		last = t;
	}
	return NULL;
}

FIXTURE(iso) {
	char dir[64];
	char cfg[96], log[96], sock1[96], sock2[96], ctl[96], img[96];
	pid_t pid;
	struct pvfront att, hon;
	struct pvfront_dev *ad, *hd;
	struct honest h;
	int hon_wpid;
	uint32_t hon_gen;
};

FIXTURE_SETUP(iso)
{
	FILE *f;
	int fd;

	strcpy(self->dir, "/tmp/pvio-iso-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->cfg, sizeof(self->cfg), "%s/pviod.ini", self->dir);
	snprintf(self->log, sizeof(self->log), "%s/pviod.log", self->dir);
	snprintf(self->sock1, sizeof(self->sock1), "%s/g1.sock", self->dir);
	snprintf(self->sock2, sizeof(self->sock2), "%s/g2.sock", self->dir);
	snprintf(self->ctl, sizeof(self->ctl), "%s/control.sock", self->dir);
	snprintf(self->img, sizeof(self->img), "%s/disk.img", self->dir);
	fd = open(self->img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 4ll << 30));
	close(fd);
	f = fopen(self->cfg, "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "[pviod]\ncontrol = %s\nheartbeat_ms = %d\n\n"
		"[guest g1]\nsocket = %s\n\n[guest g2]\nsocket = %s\n\n"
		"[device g1 echo0]\ntype = echo\nqueues = 2\nqueue_size = 128\n\n"
		"[device g1 disk0]\ntype = blk\npath = %s\ncache = writeback\nqueue_size = 64\n\n"
		"[device g2 echo0]\ntype = echo\nqueues = 1\nqueue_size = 64\n",
		self->ctl, HB_MS, self->sock1, self->sock2, self->img);
	fclose(f);
	self->pid = pviod_start(self->cfg, self->log, self->ctl);
	ASSERT_LT(0, self->pid);
	ASSERT_EQ(0, pvfront_connect(&self->att, self->sock1, RAM1));
	ASSERT_EQ(0, pvfront_connect(&self->hon, self->sock2, RAM2));
	ASSERT_EQ(0, pvfront_wait_ready(&self->att, 5000));
	ASSERT_EQ(0, pvfront_wait_ready(&self->hon, 5000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->att, 0, 0, 2, &self->ad));
	ASSERT_EQ(0, pvfront_dev_setup(&self->hon, 0, 0, 1, &self->hd));
	self->hon_wpid = guest_worker_pid(self->ctl, "g2");
	self->hon_gen = pvio_le32_to_cpu(self->hon.hdr->generation);
	ASSERT_LT(0, self->hon_wpid);
	self->h.f = &self->hon;
	self->h.q = &self->hd->q[0];
	ASSERT_EQ(0, pthread_create(&self->h.thread, NULL, honest_main, &self->h));
}

FIXTURE_TEARDOWN(iso)
{
	char cmd[160];

	if (!self->h.stop) {
		self->h.stop = 1;
		pthread_join(self->h.thread, NULL);
	}
	pvfront_close(&self->att);
	pvfront_close(&self->hon);
	if (pviod_stop(&self->pid, self->log))
		_metadata->passed = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	if (!getenv("PVIO_KEEP"))
		(void)system(cmd);
}

/* Stop the honest traffic and check it went through the attack untouched. */
#define HONEST_UNTOUCHED() do { \
	uint64_t r0_ = self->h.rounds, t0_ = now_ms(); \
	/* Still served after the attack: 50 more round trips. */ \
	while (self->h.rounds < r0_ + 50 && now_ms() - t0_ < 5000) \
		msleep(10); \
	self->h.stop = 1; \
	pthread_join(self->h.thread, NULL); \
	fprintf(stderr, "# honest guest: %lu round trips, %lu errors, slowest %lu ms, heartbeat stall %lu ms (expected 0 errors, stall < %d ms)\n", \
	       (unsigned long)self->h.rounds, (unsigned long)self->h.errors, \
	       (unsigned long)self->h.max_gap_ms, (unsigned long)self->h.hb_stall_ms, \
	       HB_STALL_MAX_MS); \
	EXPECT_EQ(0, self->h.errors); \
	EXPECT_LE(r0_ + 50, self->h.rounds); \
	EXPECT_GT(HB_STALL_MAX_MS, self->h.hb_stall_ms); \
	fprintf(stderr, "# honest worker: expected %d, got %d; generation expected %u, got %u\n", \
	       self->hon_wpid, guest_worker_pid(self->ctl, "g2"), self->hon_gen, \
	       pvio_le32_to_cpu(self->hon.hdr->generation)); \
	EXPECT_EQ(self->hon_wpid, guest_worker_pid(self->ctl, "g2")); \
	EXPECT_EQ(self->hon_gen, pvio_le32_to_cpu(self->hon.hdr->generation)); \
	EXPECT_EQ(0, log_count(self->log, "AddressSanitizer")); \
	EXPECT_EQ(0, log_count(self->log, "runtime error")); \
} while (0)

static inline void echo_chain(struct pvfront_queue *q, struct pvio_desc *d, unsigned int n)
{
	pvfront_submit(q, d, n);
	pvfront_kick(q);
}

/* Reset the attacker's echo device and check it serves again. */
static inline int attacker_recovers(struct pvfront *f, struct pvfront_dev **d)
{
	uint64_t gin, gout;
	unsigned char *in = pvfront_alloc(f, 4096, 64, &gin);
	unsigned char *out = pvfront_alloc(f, 4096, 64, &gout);

	if (pvfront_dev_reset(*d, 3000) || pvfront_dev_setup(f, 0, 0, 2, d))
		return -1;
	return echo_once(f, &(*d)->q[0], in, gin, out, gout, 4096, 7, 3);
}

/* Field @n (1-based) of /proc/PID/stat, after the command's parentheses. */
static inline long stat_field(pid_t pid, int n)
{
	char path[64], buf[1024], *p;
	long v = -1;
	int i;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')'))) {
		p += 2;		/* field 3 */
		for (i = 3; i < n && p; i++) {
			p = strchr(p, ' ');
			if (p)
				p++;
		}
		if (p)
			v = strtol(p, NULL, 10);
	}
	fclose(f);
	return v;
}

#endif /* PVIO_ISOLATION_FIXTURE_H */
