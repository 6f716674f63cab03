// SPDX-License-Identifier: GPL-2.0
/*
 * balloon_test - pviod's balloon device driven natively by libpvio-front,
 * whose memfd plays guest RAM: the offered features and config area;
 * inflate and report punching holes (the memfd's allocated blocks drop by
 * what was given, one range or many, the pages read back as zeroes);
 * deflate completing without touching anything; requests the class
 * refuses (unaligned, WRITE/HDR flags, reporting not negotiated: INVAL /
 * UNSUPP, the device working on) and a range outside guest RAM (BROKEN,
 * ADDR); the guest's statistics read with the seq protocol (a half-written
 * block is skipped); "balloon ... set/status/policy" on the control socket
 * with the config interrupt, the refusal of a target above guest RAM, and
 * the auto policy following the guest's available memory; the target
 * surviving a worker crash.
 *
 * Runs the ASan/UBSan build of pviod (PVIOD, default build/pviod-san).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pvio_front.h"
#include "kselftest_harness.h"
#include "test_util.h"

#define RAM_SIZE	(64u << 20)

/* Guest RAM the next bal_up() offers (each test runs in a process of its own). */
static uint64_t ram_size = RAM_SIZE;
#define PAGE		4096u
#define MiB		(1u << 20)

static const uint64_t all_features = (1ull << PVIO_BAL_F_STATS) |
	(1ull << PVIO_BAL_F_REPORTING) | (1ull << PVIO_BAL_F_DEFLATE_ON_OOM);

FIXTURE(bal) {
	char dir[64], cfg[96], log[96], sock[96], ctl[96];
	pid_t pid;
	struct pvfront f;
	struct pvfront_dev *d;
	struct pvio_balloon_config *config;
	unsigned int index;
	uint8_t *buf;		/* 32 MiB of guest RAM */
	uint64_t gpa;
	uint16_t id;
};

FIXTURE_SETUP(bal)
{
	self->pid = -1;
	strcpy(self->dir, "/tmp/pvio-baltest-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->cfg, sizeof(self->cfg), "%s/pviod.ini", self->dir);
	snprintf(self->log, sizeof(self->log), "%s/pviod.log", self->dir);
	snprintf(self->sock, sizeof(self->sock), "%s/g.sock", self->dir);
	snprintf(self->ctl, sizeof(self->ctl), "%s/control.sock", self->dir);
}

FIXTURE_TEARDOWN(bal)
{
	char cmd[160];

	pvfront_close(&self->f);
	if (pviod_stop(&self->pid, self->log))
		_metadata->passed = 0;
	if (self->dir[0] && !getenv("PVIO_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
		(void)system(cmd);
	}
}

/* ---- helpers ------------------------------------------------------------- */

static int start_pviod(FIXTURE_DATA(bal) *self, const char *extra)
{
	FILE *f;

	f = fopen(self->cfg, "w");
	if (!f)
		return -1;
	fprintf(f, "[pviod]\ncontrol = %s\nheartbeat_ms = 50\n\n[guest g]\nsocket = %s\n\n"
		"[device g b0]\ntype = balloon\nstats_interval_ms = 100\nfloor = 4M\n%s",
		self->ctl, self->sock, extra ? extra : "");
	fclose(f);
	self->pid = pviod_start(self->cfg, self->log, self->ctl);
	return self->pid > 0 ? 0 : -1;
}

static void bal_up(struct __test_metadata *_metadata, FIXTURE_DATA(bal) *self,
		   const char *extra, uint64_t features, unsigned int nq)
{
	struct pvio_dev_desc *dd;

	ASSERT_EQ(0, start_pviod(self, extra));
	ASSERT_EQ(0, pvfront_connect(&self->f, self->sock, ram_size));
	ASSERT_EQ(0, pvfront_wait_ready(&self->f, 5000));
	dd = pvfront_find(&self->f, PVIO_DEV_BALLOON, 0, &self->index);
	ASSERT_NE(NULL, dd);
	ASSERT_EQ(sizeof(struct pvio_balloon_config), pvio_le32_to_cpu(dd->config_len));
	self->config = (struct pvio_balloon_config *)((char *)self->f.win +
						      pvio_le32_to_cpu(dd->config_off));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f, self->index, features, nq, &self->d));
	self->buf = pvfront_alloc(&self->f, 32 * MiB, 2 * MiB, &self->gpa);
	ASSERT_NE(NULL, self->buf);
}

/* Bytes the host really holds for guest RAM. */
static long long ram_blocks(FIXTURE_DATA(bal) *self)
{
	struct stat st;

	return fstat(self->f.ram_fd, &st) ? -1 : (long long)st.st_blocks * 512;
}

static void touch(uint8_t *p, size_t len, uint8_t v)
{
	memset(p, v, len);
}

static bool all_zero(const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

struct range {
	uint64_t gpa;
	uint32_t len;
	uint16_t flags;		/* extra flags to set (tests of refusals) */
};

/* One request of @n ranges on queue @qi; its completion status or -1. */
static int ranges(FIXTURE_DATA(bal) *self, unsigned int qi, const struct range *r,
		  unsigned int n)
{
	struct pvfront_queue *q = &self->d->q[qi];
	struct pvio_desc d[PVIO_MAX_CHAIN];
	struct pvio_cpl c;
	uint16_t id = ++self->id;
	unsigned int i;
	int waited;

	for (i = 0; i < n; i++) {
		d[i].addr = pvio_cpu_to_le64(r[i].gpa);
		d[i].len = pvio_cpu_to_le32(r[i].len);
		d[i].id = pvio_cpu_to_le16(id);
		d[i].flags = pvio_cpu_to_le16(r[i].flags | (i < n - 1 ? PVIO_DESC_F_NEXT : 0));
	}
	if (pvfront_submit(q, d, n))
		return -1;
	pvfront_kick(q);
	for (waited = 0; waited < 5000; waited += 20) {
		int got = pvfront_reap(q, &c, 1);

		if (got == 1)
			return pvio_le16_to_cpu(c.id) == id ? (int)pvio_le32_to_cpu(c.status) : -2;
		if (got < 0)
			return -1;
		pvfront_wait(q, 20);
	}
	return -1;
}

static const char *const st_name[] = { "OK", "IOERR", "UNSUPP", "INVAL", "RANGE",
				       "ROFS", "NOSPC", "AGAIN" };

static const char *sname(int st)
{
	return st >= 0 && st <= 7 ? st_name[st] : "?";
}

#define EXPECT_ST(want, got, what) do {						\
	int __g = (got);							\
	if (__g != (want))							\
		fprintf(stderr, "# %s: expected %s, got %s (%d)\n", what,	\
			sname(want), sname(__g), __g);				\
	EXPECT_EQ(want, __g);							\
} while (0)

/* Value of "key": in a JSON line, as a number (-1 if absent). */
static long long jnum(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	return p ? atoll(p + strlen(pat)) : -1;
}

/* The guest side of the statistics seq protocol. */
static void write_stats(struct pvio_balloon_config *c, uint64_t avail, uint64_t pressure)
{
	struct pvio_balloon_stats *s = &c->stats;
	uint32_t seq = pvio_le32_to_cpu(s->seq);

	pvio_store_release(&s->seq, pvio_cpu_to_le32(seq + 1));
	__atomic_thread_fence(__ATOMIC_RELEASE);
	s->interval_ms = pvio_cpu_to_le32(100);
	s->total_bytes = pvio_cpu_to_le64(ram_size);
	s->free_bytes = pvio_cpu_to_le64(avail / 2);
	s->avail_bytes = pvio_cpu_to_le64(avail);
	s->cache_bytes = pvio_cpu_to_le64(3 * MiB);
	s->major_faults = pvio_cpu_to_le64(11);
	s->minor_faults = pvio_cpu_to_le64(12345);
	s->oom_kills = pvio_cpu_to_le64(0);
	s->deflated_on_pressure = pvio_cpu_to_le64(pressure);
	s->pgscan = pvio_cpu_to_le64(7001);
	s->allocstall = pvio_cpu_to_le64(7002);
	s->refaults = pvio_cpu_to_le64(7003);
	pvio_store_release(&s->seq, pvio_cpu_to_le32(seq + 2));
}

static void set_actual(FIXTURE_DATA(bal) *self, uint64_t pages)
{
	pvio_write_once(self->config->actual_pages, pvio_cpu_to_le64(pages));
	pvfront_kick_config(&self->f);
}

/* ---- tests --------------------------------------------------------------- */

TEST_F(bal, features_queues_and_config_area)
{
	struct pvio_balloon_config *c;
	uint64_t hf;

	bal_up(_metadata, self, "target = 8M\n", all_features, 3);
	c = self->config;
	hf = pvio_le64_to_cpu(self->d->desc->host_features);
	fprintf(stderr, "# features %#llx queues %u target %llu floor %llu interval %u\n",
		(unsigned long long)hf, pvio_le16_to_cpu(self->d->desc->max_queues),
		(unsigned long long)pvio_le64_to_cpu(c->target_pages),
		(unsigned long long)pvio_le64_to_cpu(c->floor_pages),
		pvio_le32_to_cpu(c->stats_interval_ms));
	EXPECT_EQ(all_features, hf);
	EXPECT_EQ(3, pvio_le16_to_cpu(self->d->desc->max_queues));
	EXPECT_EQ(8 * MiB / PAGE, pvio_le64_to_cpu(c->target_pages));
	EXPECT_EQ(4 * MiB / PAGE, pvio_le64_to_cpu(c->floor_pages));
	EXPECT_EQ(100, pvio_le32_to_cpu(c->stats_interval_ms));
	EXPECT_EQ(0, pvio_le64_to_cpu(c->actual_pages));
}

TEST_F(bal, without_reporting_there_are_two_queues)
{
	bal_up(_metadata, self, "reporting = no\ndeflate_on_oom = no\n",
	       1ull << PVIO_BAL_F_STATS, 2);
	EXPECT_EQ(1ull << PVIO_BAL_F_STATS, pvio_le64_to_cpu(self->d->desc->host_features));
	EXPECT_EQ(2, pvio_le16_to_cpu(self->d->desc->max_queues));
}

TEST_F(bal, inflate_punches_holes_and_deflate_gives_zeroed_pages_back)
{
	struct range r[4];
	long long before, after, want = 16 * MiB;
	char json[4096];

	bal_up(_metadata, self, NULL, all_features, 3);
	touch(self->buf, 32 * MiB, 0x5a);
	before = ram_blocks(self);
	/* 16 MiB as four ranges, two of them adjacent (one hole punched for those). */
	r[0] = (struct range){ self->gpa, 4 * MiB, 0 };
	r[1] = (struct range){ self->gpa + 4 * MiB, 4 * MiB, 0 };
	r[2] = (struct range){ self->gpa + 12 * MiB, 4 * MiB, 0 };
	r[3] = (struct range){ self->gpa + 20 * MiB, 4 * MiB, 0 };
	EXPECT_ST(PVIO_S_OK, ranges(self, PVIO_BAL_Q_INFLATE, r, 4), "inflate 16 MiB");
	after = ram_blocks(self);
	fprintf(stderr, "# allocated guest RAM: before %lld KiB, after %lld KiB (expected a drop of %lld KiB)\n",
		before >> 10, after >> 10, want >> 10);
	EXPECT_GE(before - after, want);
	/* Untouched pages next to the holes keep their data. */
	EXPECT_EQ(0x5a, self->buf[8 * MiB]);
	EXPECT_EQ(0x5a, self->buf[12 * MiB - 1]);
	EXPECT_EQ(0x5a, self->buf[16 * MiB]);
	set_actual(self, want / PAGE);

	/* Deflate: nothing to do on the host, the pages come back as zeroes. */
	EXPECT_ST(PVIO_S_OK, ranges(self, PVIO_BAL_Q_DEFLATE, r, 4), "deflate 16 MiB");
	EXPECT_EQ(after, ram_blocks(self));
	EXPECT_TRUE(all_zero(self->buf, 8 * MiB));
	EXPECT_TRUE(all_zero(self->buf + 20 * MiB, 4 * MiB));
	set_actual(self, 0);

	ASSERT_EQ(0, control(self->ctl, "balloon g b0 status", json, sizeof(json)));
	fprintf(stderr, "# %s", json);
	EXPECT_EQ(4096, jnum(json, "inflated_pages"));
	EXPECT_EQ(4096, jnum(json, "deflated_pages"));
	EXPECT_EQ(want, jnum(json, "punched_bytes"));
	EXPECT_EQ(RAM_SIZE, jnum(json, "ram_bytes"));
	EXPECT_EQ(0, jnum(json, "punch_errors"));
}

TEST_F(bal, a_64_slot_chain_of_single_pages_is_one_request)
{
	struct range r[PVIO_MAX_CHAIN];
	long long before, after;
	unsigned int i;

	bal_up(_metadata, self, NULL, all_features, 3);
	touch(self->buf, 2 * MiB, 1);
	before = ram_blocks(self);
	/* Every other page: 64 separate holes. */
	for (i = 0; i < PVIO_MAX_CHAIN; i++)
		r[i] = (struct range){ self->gpa + 2ull * i * PAGE, PAGE, 0 };
	EXPECT_ST(PVIO_S_OK, ranges(self, PVIO_BAL_Q_INFLATE, r, PVIO_MAX_CHAIN), "inflate 64 pages");
	after = ram_blocks(self);
	fprintf(stderr, "# drop %lld KiB, expected %u KiB\n", (before - after) >> 10,
		PVIO_MAX_CHAIN * PAGE >> 10);
	EXPECT_EQ((long long)PVIO_MAX_CHAIN * PAGE, before - after);
	EXPECT_EQ(1, self->buf[PAGE]);
	EXPECT_EQ(0, self->buf[2 * PAGE]);
}

TEST_F(bal, free_page_reports_punch_holes_too)
{
	struct range r = { 0, 8 * MiB, 0 };
	long long before, after;
	char json[4096];

	bal_up(_metadata, self, NULL, all_features, 3);
	r.gpa = self->gpa + 8 * MiB;
	touch(self->buf, 32 * MiB, 7);
	before = ram_blocks(self);
	EXPECT_ST(PVIO_S_OK, ranges(self, PVIO_BAL_Q_REPORT, &r, 1), "report 8 MiB");
	after = ram_blocks(self);
	fprintf(stderr, "# report: drop %lld KiB, expected %u KiB\n", (before - after) >> 10,
		8 * MiB >> 10);
	EXPECT_GE(before - after, 8 * MiB);
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 status", json, sizeof(json)));
	EXPECT_EQ(2048, jnum(json, "reported_pages"));
	EXPECT_EQ(0, jnum(json, "actual_bytes"));
}

TEST_F(bal, report_without_the_feature_is_unsupported)
{
	struct range r = { 0, PAGE, 0 };

	/* Queue 2 enabled although REPORTING was not negotiated. */
	bal_up(_metadata, self, NULL, 1ull << PVIO_BAL_F_STATS, 3);
	r.gpa = self->gpa;
	self->buf[0] = 9;
	EXPECT_ST(PVIO_S_UNSUPP, ranges(self, PVIO_BAL_Q_REPORT, &r, 1), "report, not negotiated");
	EXPECT_EQ(9, self->buf[0]);
}

TEST_F(bal, bad_ranges_are_refused_and_the_device_keeps_working)
{
	struct range r[2];

	bal_up(_metadata, self, NULL, all_features, 3);
	touch(self->buf, 4 * MiB, 3);
	/* Unaligned address, unaligned length, WRITE, HDR: INVAL, nothing punched. */
	r[0] = (struct range){ self->gpa, PAGE, 0 };
	r[1] = (struct range){ self->gpa + 2 * PAGE + 512, PAGE, 0 };
	EXPECT_ST(PVIO_S_INVAL, ranges(self, PVIO_BAL_Q_INFLATE, r, 2), "unaligned address");
	r[1] = (struct range){ self->gpa + 2 * PAGE, 100, 0 };
	EXPECT_ST(PVIO_S_INVAL, ranges(self, PVIO_BAL_Q_INFLATE, r, 2), "unaligned length");
	r[1] = (struct range){ self->gpa + 2 * PAGE, PAGE, PVIO_DESC_F_WRITE };
	EXPECT_ST(PVIO_S_INVAL, ranges(self, PVIO_BAL_Q_INFLATE, r, 2), "WRITE flag");
	r[1] = (struct range){ self->gpa + 2 * PAGE, PAGE, PVIO_DESC_F_HDR };
	EXPECT_ST(PVIO_S_INVAL, ranges(self, PVIO_BAL_Q_DEFLATE, r, 2), "HDR flag");
	EXPECT_EQ(3, self->buf[0]);
	EXPECT_EQ(3, self->buf[2 * PAGE]);
	/* Still serving. */
	EXPECT_ST(PVIO_S_OK, ranges(self, PVIO_BAL_Q_INFLATE, r, 1), "good range after refusals");
	EXPECT_EQ(0, self->buf[0]);
	EXPECT_EQ(3, self->buf[PAGE]);
	EXPECT_EQ(PVIO_DEV_S_LIVE, pvfront_device_state(self->d));
}

TEST_F(bal, a_range_outside_guest_ram_breaks_the_device)
{
	struct range r = { RAM_SIZE - PAGE, 2 * PAGE, 0 };
	unsigned int i;

	bal_up(_metadata, self, NULL, all_features, 3);
	EXPECT_EQ(-1, ranges(self, PVIO_BAL_Q_INFLATE, &r, 1));
	for (i = 0; i < 200 && !(pvfront_device_state(self->d) & PVIO_DEV_S_BROKEN); i++)
		msleep(10);
	fprintf(stderr, "# state %#x reason %u (expected BROKEN, ADDR=%u)\n",
		pvfront_device_state(self->d), pvio_le32_to_cpu(self->d->desc->broken_reason),
		PVIO_BROKEN_ADDR);
	EXPECT_EQ(PVIO_DEV_S_BROKEN, pvfront_device_state(self->d));
	EXPECT_EQ(PVIO_BROKEN_ADDR, pvio_le32_to_cpu(self->d->desc->broken_reason));
	/* A reset brings it back. */
	ASSERT_EQ(0, pvfront_dev_reset(self->d, 3000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f, self->index, all_features, 3, &self->d));
	r.gpa = self->gpa;
	r.len = PAGE;
	EXPECT_ST(PVIO_S_OK, ranges(self, PVIO_BAL_Q_INFLATE, &r, 1), "inflate after the reset");
}

TEST_F(bal, statistics_follow_the_seq_protocol)
{
	struct pvio_balloon_stats *s;
	char json[4096];

	bal_up(_metadata, self, NULL, all_features, 3);
	s = &self->config->stats;
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 status", json, sizeof(json)));
	EXPECT_EQ(NULL, strstr(json, "\"stats\":"));	/* never written */
	write_stats(self->config, 40 * MiB, 0);
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 status", json, sizeof(json)));
	fprintf(stderr, "# %s", json);
	EXPECT_EQ(40 * MiB, jnum(json, "avail_bytes"));
	EXPECT_EQ(20 * MiB, jnum(json, "free_bytes"));
	EXPECT_EQ(12345, jnum(json, "minor_faults"));
	EXPECT_EQ(RAM_SIZE, jnum(json, "total_bytes"));
	/* Reclaim activity, the last 24 bytes of the config area. */
	EXPECT_EQ(7001, jnum(json, "pgscan"));
	EXPECT_EQ(7002, jnum(json, "allocstall"));
	EXPECT_EQ(7003, jnum(json, "refaults"));

	/* Odd seq: a write in progress; pviod keeps the last good copy. */
	pvio_store_release(&s->seq, pvio_cpu_to_le32(pvio_le32_to_cpu(s->seq) + 1));
	s->avail_bytes = pvio_cpu_to_le64(1);
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 status", json, sizeof(json)));
	fprintf(stderr, "# odd seq: avail %lld (expected the last good %u), skipped %lld\n",
		jnum(json, "avail_bytes"), 40 * MiB, jnum(json, "stats_skipped"));
	EXPECT_EQ(40 * MiB, jnum(json, "avail_bytes"));
	EXPECT_GE(jnum(json, "stats_skipped"), 1);
}

TEST_F(bal, set_and_status_through_the_control_socket)
{
	struct pollfd p;
	char json[4096];
	uint32_t gen;
	uint64_t v;

	bal_up(_metadata, self, "max = 48M\n", all_features, 3);
	p.fd = self->f.my_efd[PVIO_CONFIG_VECTOR];
	p.events = POLLIN;
	while (read(p.fd, &v, sizeof(v)) == sizeof(v))
		;
	gen = pvio_le32_to_cpu(self->d->desc->config_generation);
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 set 16M", json, sizeof(json)));
	fprintf(stderr, "# set 16M: %s", json);
	EXPECT_EQ(16 * MiB / PAGE, jnum(json, "target_pages"));
	EXPECT_EQ(16 * MiB / PAGE, pvio_le64_to_cpu(self->config->target_pages));
	EXPECT_EQ(gen + 2, pvio_le32_to_cpu(self->d->desc->config_generation));
	EXPECT_EQ(1, poll(&p, 1, 2000));

	/* The guest reports progress; status shows it. */
	touch(self->buf, MiB, 1);
	set_actual(self, 1000);
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 status", json, sizeof(json)));
	fprintf(stderr, "# status: %s", json);
	EXPECT_EQ(16 * MiB, jnum(json, "target_bytes"));
	EXPECT_EQ(1000 * PAGE, jnum(json, "actual_bytes"));
	EXPECT_EQ(48 * MiB, jnum(json, "max_bytes"));
	EXPECT_GT(jnum(json, "backed_bytes"), 0);

	/* Above guest RAM, above max, nonsense: refused, target unchanged. */
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 set 1G", json, sizeof(json)));
	fprintf(stderr, "# set 1G: %s", json);
	EXPECT_NE(NULL, strstr(json, "the guest has 67108864 bytes of RAM"));
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 set 50M", json, sizeof(json)));
	EXPECT_NE(NULL, strstr(json, "above max"));
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 set lots", json, sizeof(json)));
	EXPECT_NE(NULL, strstr(json, "\"error\""));
	EXPECT_EQ(16 * MiB / PAGE, pvio_le64_to_cpu(self->config->target_pages));
	/* A guest that claims more than its RAM is shown clamped. */
	set_actual(self, 1ull << 40);
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 status", json, sizeof(json)));
	EXPECT_EQ(RAM_SIZE, jnum(json, "actual_bytes"));

	/* Not a balloon, no such device, bad verb. */
	ASSERT_EQ(0, control(self->ctl, "balloon g nosuch status", json, sizeof(json)));
	EXPECT_NE(NULL, strstr(json, "\"error\""));
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 shrink 1M", json, sizeof(json)));
	EXPECT_NE(NULL, strstr(json, "\"error\""));
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 set 0", json, sizeof(json)));
	EXPECT_EQ(0, pvio_le64_to_cpu(self->config->target_pages));
}

TEST_F(bal, auto_policy_follows_available_memory)
{
	char json[4096];
	uint64_t t;
	int i;

	bal_up(_metadata, self, "policy = auto\nheadroom = 16M\nmax = 40M\n", all_features, 3);
	/* 48 MiB available, 16 wanted: the balloon should take 32 MiB. */
	write_stats(self->config, 48 * MiB, 0);
	for (i = 0; i < 100; i++) {
		t = pvio_le64_to_cpu(pvio_read_once(self->config->target_pages));
		if (t)
			break;
		msleep(20);
	}
	fprintf(stderr, "# auto: target %llu pages (expected %u)\n", (unsigned long long)t,
		32 * MiB / PAGE);
	EXPECT_EQ(32 * MiB / PAGE, t);
	/* The guest got there and now has only 4 MiB: give 12 back. */
	set_actual(self, t);
	write_stats(self->config, 4 * MiB, 0);
	for (i = 0; i < 100; i++) {
		t = pvio_le64_to_cpu(pvio_read_once(self->config->target_pages));
		if (t != 32 * MiB / PAGE)
			break;
		msleep(20);
	}
	fprintf(stderr, "# auto: target %llu pages (expected %u)\n", (unsigned long long)t,
		20 * MiB / PAGE);
	EXPECT_EQ(20 * MiB / PAGE, t);
	/* A guest deflating under pressure: the target follows what it kept. */
	set_actual(self, 2000);
	write_stats(self->config, 16 * MiB, 7);
	for (i = 0; i < 100; i++) {
		t = pvio_le64_to_cpu(pvio_read_once(self->config->target_pages));
		if (t == 2000)
			break;
		msleep(20);
	}
	EXPECT_EQ(2000, t);
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 status", json, sizeof(json)));
	fprintf(stderr, "# %s", json);
	EXPECT_NE(NULL, strstr(json, "\"policy\":\"auto\""));
	EXPECT_GE(jnum(json, "policy_changes"), 3);
	/* A target set by hand turns the policy off. */
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 set 8M", json, sizeof(json)));
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 status", json, sizeof(json)));
	EXPECT_NE(NULL, strstr(json, "\"policy\":\"off\""));
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 policy sometimes", json, sizeof(json)));
	EXPECT_NE(NULL, strstr(json, "\"error\""));
}

/*
 * The host-wide policy (balloon/hostpolicy.h) runs in the supervisor: it
 * reads the guest's statistics through the worker and sends the target
 * back with host-target, which only a balloon under that policy takes.
 */
TEST_F(bal, host_policy_sets_the_target_through_the_supervisor)
{
	char json[8192];
	uint64_t t = 0;
	int i;

	/*
	 * 256 MiB: a real driver keeps 64 MiB whatever the target, so the
	 * policy takes nothing from a 64 MiB guest.  This one uses 16 MiB
	 * and has 120 free: it wants 64 (the driver's floor); after 5 calm
	 * rounds what it has free beyond RAM/16 is taken at once, 104 MiB.
	 */
	ram_size = 256 * MiB;
	bal_up(_metadata, self, "policy = host\nheadroom = 8M\n", all_features, 3);
	for (i = 0; i < 150; i++) {
		write_stats(self->config, ram_size - 16 * MiB, 0);
		t = pvio_le64_to_cpu(pvio_read_once(self->config->target_pages));
		if (t)
			break;
		msleep(100);
	}
	fprintf(stderr, "# host policy: target %llu pages after %d.%d s (expected %u)\n",
		(unsigned long long)t, i / 10, i % 10, 104 * MiB / PAGE);
	EXPECT_EQ(104 * MiB / PAGE, t);
	ASSERT_EQ(0, control(self->ctl, "memory-policy", json, sizeof(json)));
	fprintf(stderr, "# %s\n", json);
	EXPECT_NE(NULL, strstr(json, "\"guest\":\"g\",\"device\":\"b0\""));
	EXPECT_NE(NULL, strstr(json, "what it had free taken"));
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 status", json, sizeof(json)));
	EXPECT_NE(NULL, strstr(json, "\"policy\":\"host\""));
	/* By hand: off the policy, and host-target is refused from then on. */
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 set 8M", json, sizeof(json)));
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 host-target 4M", json, sizeof(json)));
	fprintf(stderr, "# host-target after set: %s\n", json);
	EXPECT_NE(NULL, strstr(json, "not under the host policy (policy off)"));
	EXPECT_EQ(8 * MiB / PAGE, pvio_le64_to_cpu(pvio_read_once(self->config->target_pages)));
}

/*
 * The target lives in the page that outlives a worker: after a crash, and
 * after an upgrade in place (pvioctl upgrade), which hands that page to
 * the new pviod with the connection, the balloon keeps its accounting.
 */
static void target_survives(struct __test_metadata *_metadata, FIXTURE_DATA(bal) *self,
			    bool upgrade)
{
	const char *what = upgrade ? "upgrade" : "restart";
	struct range r = { 0, MiB, 0 };
	char json[4096];
	const char *p;
	unsigned int i;

	bal_up(_metadata, self, NULL, all_features, 3);
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 set 12M", json, sizeof(json)));
	if (upgrade) {
		ASSERT_EQ(0, control(self->ctl, "upgrade", json, sizeof(json)));
		fprintf(stderr, "# upgrade: %s", json);
		ASSERT_NE(NULL, strstr(json, "\"upgrading\""));
	} else {
		ASSERT_EQ(0, control(self->ctl, "list", json, sizeof(json)));
		p = strstr(json, "\"worker_pid\":");
		ASSERT_NE(NULL, p);
		ASSERT_EQ(0, kill(atoi(p + 13), SIGKILL));
	}
	for (i = 0; i < (upgrade ? 500 : 300) &&
		    !(pvfront_device_state(self->d) & PVIO_DEV_S_NEEDS_RESET); i++)
		msleep(10);
	ASSERT_TRUE(pvfront_device_state(self->d) & PVIO_DEV_S_NEEDS_RESET);
	EXPECT_EQ(12 * MiB / PAGE, pvio_le64_to_cpu(self->config->target_pages));
	ASSERT_EQ(0, pvfront_dev_reset(self->d, 3000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f, self->index, all_features, 3, &self->d));
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 status", json, sizeof(json)));
	fprintf(stderr, "# after the %s: %s", what, json);
	EXPECT_EQ(12 * MiB, jnum(json, "target_bytes"));
	if (upgrade)
		EXPECT_TRUE(log_contains(self->log, "g: upgrade: peer"));
	r.gpa = self->gpa;
	touch(self->buf, MiB, 1);
	EXPECT_ST(PVIO_S_OK, ranges(self, PVIO_BAL_Q_INFLATE, &r, 1),
		  upgrade ? "inflate after the upgrade" : "inflate after the restart");
	EXPECT_TRUE(all_zero(self->buf, MiB));
}

TEST_F(bal, the_target_survives_a_worker_crash)
{
	target_survives(_metadata, self, false);
}

TEST_F(bal, the_target_survives_an_upgrade_in_place)
{
	target_survives(_metadata, self, true);
}

/*
 * The target is the host's: a restarted worker used to take it back from
 * the config area, which the guest can write (review finding 4).
 */
TEST_F(bal, a_target_the_guest_forges_is_not_taken_over)
{
	char json[4096];
	const char *p;
	unsigned int i;

	bal_up(_metadata, self, NULL, all_features, 3);
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 set 12M", json, sizeof(json)));
	/* The guest writes its own idea of the target, then the worker dies. */
	pvio_write_once(self->config->target_pages, pvio_cpu_to_le64(0));
	ASSERT_EQ(0, control(self->ctl, "list", json, sizeof(json)));
	p = strstr(json, "\"worker_pid\":");
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, kill(atoi(p + 13), SIGKILL));
	for (i = 0; i < 300 && !(pvfront_device_state(self->d) & PVIO_DEV_S_NEEDS_RESET); i++)
		msleep(10);
	ASSERT_TRUE(pvfront_device_state(self->d) & PVIO_DEV_S_NEEDS_RESET);
	ASSERT_EQ(0, control(self->ctl, "balloon g b0 status", json, sizeof(json)));
	fprintf(stderr, "# target after the restart: expected %llu bytes, got %llu (window: %llu pages)\n",
		(unsigned long long)12 * MiB, (unsigned long long)jnum(json, "target_bytes"),
		(unsigned long long)pvio_le64_to_cpu(self->config->target_pages));
	EXPECT_EQ(12 * MiB, jnum(json, "target_bytes"));
	EXPECT_EQ(12 * MiB / PAGE, pvio_le64_to_cpu(self->config->target_pages));
}

TEST(bad_balloon_keys_are_refused_at_config_time)
{
	static const char *const bad[] = {
		"queues = 2\n",			/* reporting on: 3 queues */
		"stats_interval_ms = 5\n",
		"floor = 4097\n",
		"policy = maybe\n",
		"min = 8M\nmax = 4M\n",
		"target = 2G\n",		/* above ram_size */
		"colour = blue\n",
	};
	char dir[] = "/tmp/pvio-balcfg-XXXXXX", path[96], cmd[256];
	unsigned int i;
	FILE *f;

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pviod.ini", dir);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc;

		f = fopen(path, "w");
		ASSERT_NE(NULL, f);
		fprintf(f, "[guest g]\nsocket = %s/s\nram = /dev/shm/x\nram_size = 1G\n\n"
			"[device g b0]\ntype = balloon\n%s", dir, bad[i]);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "%s --check-config -c %s 2>/dev/null", pviod_bin(), path);
		rc = system(cmd);
		if (!WIFEXITED(rc) || WEXITSTATUS(rc) == 0)
			fprintf(stderr, "# accepted: %s", bad[i]);
		EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) != 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)system(cmd);
}

TEST_HARNESS_MAIN
