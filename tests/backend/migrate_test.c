// SPDX-License-Identifier: GPL-2.0
/*
 * migrate_test.c - the control side of a live migration
 * (backend/core/migrate.c) with libpvio-front clients: migrate-out
 * pauses a guest for real (no worker, no heartbeat, no completion) and
 * answers with the state; migrate-cancel resumes it as after a crash;
 * migrate-in holds the next client unserved; migrate-finish checks the
 * state against the guest's configuration and takes the window over
 * with a generation past the source's; a source whose client left
 * serves the next one; every refusal says why.  QEMU's copy of the
 * window and guest RAM is tests/vm/migrate.sh's to test.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pvio_front.h"
#include "kselftest_harness.h"
#include "test_util.h"

#define RAM_SIZE	(8u << 20)

FIXTURE(mig) {
	char dir[64];
	char cfg[96], log[96], ctl[96], sock[3][96];
	pid_t pid;
	struct pvfront f[3];
	bool on[3];
	struct pvfront_dev *d[3];
	unsigned char *in[3], *out[3];
	uint64_t gin[3], gout[3];
};

/* g1 and g2 alike, g3 with a second queue. */
FIXTURE_SETUP(mig)
{
	FILE *f;
	int i;

	strcpy(self->dir, "/tmp/pvio-migtest-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->cfg, sizeof(self->cfg), "%s/pviod.ini", self->dir);
	snprintf(self->log, sizeof(self->log), "%s/pviod.log", self->dir);
	snprintf(self->ctl, sizeof(self->ctl), "%s/control.sock", self->dir);
	for (i = 0; i < 3; i++) {
		strcpy(self->sock[i], self->dir);
		snprintf(self->sock[i] + strlen(self->dir), sizeof(self->sock[i]) - strlen(self->dir),
			 "/g%d.sock", i + 1);
	}
	f = fopen(self->cfg, "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "[pviod]\ncontrol = %s\nheartbeat_ms = 50\n\n", self->ctl);
	for (i = 0; i < 3; i++)
		fprintf(f, "[guest g%d]\nsocket = %s\n\n[device g%d echo0]\ntype = echo\nqueues = %d\nqueue_size = 64\n\n",
			i + 1, self->sock[i], i + 1, i == 2 ? 2 : 1);
	fclose(f);
	self->pid = pviod_start(self->cfg, self->log, self->ctl);
	ASSERT_LT(0, self->pid);
}

FIXTURE_TEARDOWN(mig)
{
	int i;

	for (i = 0; i < 3; i++)
		if (self->on[i])
			pvfront_close(&self->f[i]);
	if (pviod_stop(&self->pid, self->log))
		_metadata->passed = 0;
	if (!getenv("PVIO_KEEP"))
		sh("rm -rf %s", self->dir);
}

/* Client @i on guest g(@i+1): connected; with @ready also served and set up. */
static int client(FIXTURE_DATA(mig) *self, int i, bool ready)
{
	struct pvfront *f = &self->f[i];

	if (pvfront_connect(f, self->sock[i], RAM_SIZE))
		return -1;
	self->on[i] = true;
	if (!ready)
		return 0;
	if (pvfront_wait_ready(f, 5000) || pvfront_dev_setup(f, 0, 0, 1, &self->d[i]))
		return -1;
	self->in[i] = pvfront_alloc(f, 4096, 64, &self->gin[i]);
	self->out[i] = pvfront_alloc(f, 4096, 64, &self->gout[i]);
	return self->in[i] && self->out[i] ? 0 : -1;
}

static int echo(FIXTURE_DATA(mig) *self, int i, uint16_t id)
{
	return echo_once(&self->f[i], &self->d[i]->q[0], self->in[i], self->gin[i],
			 self->out[i], self->gout[i], 4096, id, id);
}

/* How often @needle is in the log once it is there at all (the workers'
 * lines come through the supervisor, after what they did): 0 after 2 s. */
static int logged(FIXTURE_DATA(mig) *self, const char *needle)
{
	int ms;

	for (ms = 0; ms < 2000 && !log_count(self->log, needle); ms += 20)
		msleep(20);
	return log_count(self->log, needle);
}

static uint32_t gen(struct pvfront *f)
{
	return pvio_le32_to_cpu(pvio_read_once(f->hdr->generation));
}

/* The request's answer into @json; expect @want in it. */
static int ask(FIXTURE_DATA(mig) *self, const char *req, const char *want, char *json,
	       size_t len)
{
	if (control(self->ctl, req, json, len))
		return -1;
	fprintf(stderr, "# %s -> %.200s", req, json);
	if (!strstr(json, want)) {
		fprintf(stderr, "# expected '%s' in the answer\n", want);
		return -1;
	}
	return 0;
}

/* The "state" of a migrate-out answer, into @state. */
static int state_of(const char *json, char *state, size_t len)
{
	const char *p = strstr(json, "\"state\":\""), *e;

	if (!p)
		return -1;
	p += strlen("\"state\":\"");
	e = strchr(p, '"');
	if (!e || (size_t)(e - p) >= len)
		return -1;
	memcpy(state, p, (size_t)(e - p));
	state[e - p] = '\0';
	return 0;
}

TEST_F(mig, every_refusal_says_why)
{
	char json[4096];

	EXPECT_EQ(0, ask(self, "migrate-out g1", "guest g1 has no QEMU connected: nothing to migrate",
			 json, sizeof(json)));
	EXPECT_EQ(0, ask(self, "migrate-finish g1 00", "guest g1 is not waiting for a migration (migrate-in first)",
			 json, sizeof(json)));
	EXPECT_EQ(0, ask(self, "migrate-cancel g1", "guest g1 is not migrating", json, sizeof(json)));
	EXPECT_EQ(0, ask(self, "migrate-out nosuch", "no guest nosuch", json, sizeof(json)));
	EXPECT_EQ(0, ask(self, "migrate-out", "migrate-out GUEST |", json, sizeof(json)));
	ASSERT_EQ(0, client(self, 0, true));
	EXPECT_EQ(0, ask(self, "migrate-in g1", "guest g1 has a QEMU connected already", json,
			 sizeof(json)));
	EXPECT_EQ(0, ask(self, "migrate-in g2", "incoming, waiting for QEMU", json, sizeof(json)));
	EXPECT_EQ(0, ask(self, "migrate-finish g2 00", "guest g2: no QEMU has connected yet", json,
			 sizeof(json)));
	EXPECT_EQ(0, ask(self, "migrate-out g2", "guest g2 is waiting for an incoming migration",
			 json, sizeof(json)));
	/* Its state is in no handover: an upgrade waits. */
	EXPECT_EQ(0, ask(self, "upgrade", "guest g2 is migrating (incoming, waiting for QEMU)",
			 json, sizeof(json)));
	/* libpvio-front does not offer dirty logging. */
	EXPECT_EQ(0, ask(self, "migrate-track g1 on", "does not log the pages it reaps", json,
			 sizeof(json)));
	EXPECT_EQ(0, ask(self, "migrate-track g1 maybe", "migrate-track wants on or off", json,
			 sizeof(json)));
	ASSERT_EQ(0, control(self->ctl, "list", json, sizeof(json)));
	EXPECT_EQ(NULL, strstr(json, "logs its pages"));
	EXPECT_EQ(0, echo(self, 0, 1));
}

/*
 * migrate-track with a client that acts as a logging guest (it offers
 * PVIO_F_DIRTY_LOG and echoes log_request): the worker asks and sees the
 * ack; killed meanwhile, it is not replaced by one that would write what
 * nobody logs: the guest pauses, and migrate-out answers.
 */
TEST_F(mig, a_worker_dying_while_the_guest_logs_pauses_the_guest)
{
	struct pvio_window_hdr *h;
	char json[4096];
	uint32_t req;
	int w;

	ASSERT_EQ(0, client(self, 0, true));
	h = self->f[0].hdr;
	pvio_write_once(h->guest_features, pvio_cpu_to_le64(pvio_le64_to_cpu(h->guest_features) |
							      (1ull << PVIO_F_DIRTY_LOG)));
	ASSERT_EQ(0, ask(self, "migrate-track g1 on", "\"logging\":false", json, sizeof(json)));
	req = pvio_le32_to_cpu(pvio_load_acquire(&h->log_request));
	fprintf(stderr, "# log_request %u\n", req);
	ASSERT_NE(0, req);
	pvio_store_release(&h->log_ack, pvio_cpu_to_le32(req));
	EXPECT_EQ(0, ask(self, "migrate-track g1 on", "\"logging\":true", json, sizeof(json)));
	EXPECT_EQ(0, ask(self, "list", "\"migration\":\"outgoing, the guest logs its pages\"", json,
			 sizeof(json)));
	EXPECT_EQ(0, echo(self, 0, 1));
	/* A new pviod's takeover would stop the logging: no upgrade now. */
	EXPECT_EQ(0, ask(self, "upgrade", "guest g1 is migrating (outgoing, the guest logs its pages)",
			 json, sizeof(json)));
	w = guest_worker_pid(self->ctl, "g1");
	ASSERT_LT(0, w);
	ASSERT_EQ(0, kill(w, SIGKILL));
	EXPECT_EQ(1, logged(self, "g1: migrate-track: the worker died while the guest logged its pages"));
	msleep(300);
	fprintf(stderr, "# worker %d killed; now %d\n", w, guest_worker_pid(self->ctl, "g1"));
	EXPECT_EQ(0, guest_worker_pid(self->ctl, "g1"));
	EXPECT_EQ(0, ask(self, "list", "\"migration\":\"outgoing, paused\"", json, sizeof(json)));
	EXPECT_EQ(0, ask(self, "migrate-out g1", "\"state\":", json, sizeof(json)));
	/* Cancelled: served again, logging off (the takeover clears it). */
	ASSERT_EQ(0, ask(self, "migrate-cancel g1", "\"migration\":\"none\"", json, sizeof(json)));
	ASSERT_EQ(0, wait_dev_state(self->d[0], PVIO_DEV_S_NEEDS_RESET, 5000));
	EXPECT_EQ(0, pvio_le32_to_cpu(pvio_load_acquire(&h->log_request)));
}

/*
 * migrate-out: no worker, no heartbeat, no completion, until cancelled;
 * then a new worker takes the window over and the client recovers as
 * after a crash.
 */
TEST_F(mig, the_source_pauses_until_cancelled)
{
	char json[4096], again[4096], st1[4096], st2[4096];
	struct pvio_desc d[2];
	struct pvio_cpl c;
	uint64_t hb0, hb1;
	uint32_t g0;
	int w0;

	ASSERT_EQ(0, client(self, 0, true));
	ASSERT_EQ(0, echo(self, 0, 1));
	w0 = guest_worker_pid(self->ctl, "g1");
	g0 = gen(&self->f[0]);
	/* Served: the heartbeat moves (every 50 ms). */
	hb0 = pvfront_heartbeat(&self->f[0]);
	msleep(200);
	hb1 = pvfront_heartbeat(&self->f[0]);
	fprintf(stderr, "# served: heartbeat %llu -> %llu over 200 ms\n", (unsigned long long)hb0,
		(unsigned long long)hb1);
	EXPECT_LT(hb0, hb1);
	ASSERT_EQ(0, ask(self, "migrate-out g1", "\"paused_ms\":", json, sizeof(json)));
	ASSERT_EQ(0, state_of(json, st1, sizeof(st1)));
	fprintf(stderr, "# worker %d before, %d after; state %zu hex digits\n", w0,
		guest_worker_pid(self->ctl, "g1"), strlen(st1));
	EXPECT_LT(0, w0);
	EXPECT_EQ(0, guest_worker_pid(self->ctl, "g1"));
	EXPECT_EQ(0, ask(self, "list", "\"migration\":\"outgoing, paused\"", json, sizeof(json)));
	/* Nobody serves the window: the heartbeat stands, a request waits. */
	hb0 = pvfront_heartbeat(&self->f[0]);
	fill_desc(&d[0], self->gin[0], 64, 7, PVIO_DESC_F_NEXT);
	fill_desc(&d[1], self->gout[0], 64, 7, PVIO_DESC_F_WRITE);
	ASSERT_EQ(0, pvfront_submit(&self->d[0]->q[0], d, 2));
	pvfront_kick(&self->d[0]->q[0]);
	msleep(500);
	hb1 = pvfront_heartbeat(&self->f[0]);
	fprintf(stderr, "# paused: heartbeat %llu -> %llu over 500 ms, %d completion(s)\n",
		(unsigned long long)hb0, (unsigned long long)hb1,
		pvfront_reap(&self->d[0]->q[0], &c, 1));
	EXPECT_EQ(hb0, hb1);
	EXPECT_EQ(0, pvfront_reap(&self->d[0]->q[0], &c, 1));
	/* Asked again: the same state. */
	ASSERT_EQ(0, ask(self, "migrate-out g1", "\"state\":", again, sizeof(again)));
	ASSERT_EQ(0, state_of(again, st2, sizeof(st2)));
	EXPECT_STREQ(st1, st2);
	/* Cancelled: a new worker, a new generation, the device reset and used again. */
	ASSERT_EQ(0, ask(self, "migrate-cancel g1", "\"migration\":\"none\"", json, sizeof(json)));
	ASSERT_EQ(0, wait_dev_state(self->d[0], PVIO_DEV_S_NEEDS_RESET, 5000));
	fprintf(stderr, "# cancelled: generation %u -> %u, worker %d\n", g0, gen(&self->f[0]),
		guest_worker_pid(self->ctl, "g1"));
	EXPECT_EQ(g0 + 1, gen(&self->f[0]));
	EXPECT_LT(0, guest_worker_pid(self->ctl, "g1"));
	ASSERT_EQ(0, pvfront_dev_reset(self->d[0], 3000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f[0], 0, 0, 1, &self->d[0]));
	EXPECT_EQ(0, echo(self, 0, 9));
	EXPECT_EQ(1, logged(self, "g1: migrate-cancel: the guest stays here"));
}

/*
 * migrate-in holds the client (its window is never laid out); a state
 * of another shape is refused; the right one is taken over, with a
 * generation past the source's and the heartbeat going on from its.
 */
TEST_F(mig, the_destination_holds_then_takes_over)
{
	char json[4096], st[4096], req[4200];
	struct pvio_ring_shared *sh, *dsh;
	struct pvfront_dev moved = { 0 };
	struct pvio_desc d[2];
	uint32_t src_gen;
	uint64_t src_hb;
	int ms;

	/* g1 is the source, g2 (alike) and g3 (two queues) destinations. */
	ASSERT_EQ(0, client(self, 0, true));
	ASSERT_EQ(0, echo(self, 0, 1));
	ASSERT_EQ(0, ask(self, "migrate-in g2", "\"migration\":", json, sizeof(json)));
	ASSERT_EQ(0, ask(self, "migrate-in g3", "\"migration\":", json, sizeof(json)));
	ASSERT_EQ(0, client(self, 1, false));
	ASSERT_EQ(0, client(self, 2, false));
	EXPECT_EQ(-ETIMEDOUT, pvfront_wait_ready(&self->f[1], 500));
	EXPECT_EQ(0, ask(self, "list", "\"migration\":\"incoming, QEMU connected\"", json,
			 sizeof(json)));
	EXPECT_EQ(1, logged(self, "g2: migrate-in: peer"));

	/*
	 * A completion published and not reaped when the source paused: in
	 * a logged migration its slot may arrive older than the index.
	 */
	fill_desc(&d[0], self->gin[0], 64, 5, PVIO_DESC_F_NEXT);
	fill_desc(&d[1], self->gout[0], 64, 5, PVIO_DESC_F_WRITE);
	ASSERT_EQ(0, pvfront_submit(&self->d[0]->q[0], d, 2));
	pvfront_kick(&self->d[0]->q[0]);
	sh = self->d[0]->q[0].cq_sh;
	for (ms = 0; ms < 2000 && pvio_read_once(sh->prod) == pvio_read_once(sh->cons); ms += 10)
		msleep(10);
	ASSERT_NE(pvio_read_once(sh->prod), pvio_read_once(sh->cons));
	ASSERT_EQ(0, ask(self, "migrate-out g1", "\"state\":", json, sizeof(json)));
	ASSERT_EQ(0, state_of(json, st, sizeof(st)));
	src_gen = gen(&self->f[0]);
	src_hb = pvfront_heartbeat(&self->f[0]);
	/* QEMU's copy of the window: g1's bytes into g2's (the same layout). */
	ASSERT_EQ(self->f[0].win_size, self->f[1].win_size);
	memcpy(self->f[1].win, self->f[0].win, self->f[0].win_size);
	dsh = (struct pvio_ring_shared *)((char *)self->f[1].win +
					 ((char *)sh - (char *)self->f[0].win));

	EXPECT_EQ(0, ask(self, "migrate-finish g2 zz", "the state is not what migrate-out printed",
			 json, sizeof(json)));
	EXPECT_EQ(0, ask(self, "migrate-finish g2 00112233", "not a migration state of this pviod",
			 json, sizeof(json)));
	snprintf(req, sizeof(req), "migrate-finish g3 %s", st);
	EXPECT_EQ(0, ask(self, req, "differs here from the source", json, sizeof(json)));
	/* Refused: still held, still not served. */
	EXPECT_EQ(-ETIMEDOUT, pvfront_wait_ready(&self->f[2], 300));

	snprintf(req, sizeof(req), "migrate-finish g2 %s", st);
	ASSERT_EQ(0, ask(self, req, "\"devices\":[{", json, sizeof(json)));
	/* Answered once taken over: READY, the device to be reset, nothing to reap. */
	fprintf(stderr, "# at the answer: backend_state %u, device_state %#x, cq prod %u cons %u\n",
		pvio_le32_to_cpu(pvio_read_once(self->f[1].hdr->backend_state)),
		pvio_le32_to_cpu(pvio_read_once(((struct pvio_dev_desc *)((char *)self->f[1].win +
			((char *)self->d[0]->desc - (char *)self->f[0].win)))->device_state)),
		pvio_le32_to_cpu(pvio_read_once(dsh->prod)), pvio_le32_to_cpu(pvio_read_once(dsh->cons)));
	EXPECT_EQ(PVIO_BS_READY, pvio_le32_to_cpu(pvio_read_once(self->f[1].hdr->backend_state)));
	EXPECT_EQ(pvio_read_once(dsh->cons), pvio_read_once(dsh->prod));
	ASSERT_EQ(0, pvfront_wait_ready(&self->f[1], 5000));
	fprintf(stderr, "# source generation %u, heartbeat %llu; destination %u, %llu\n", src_gen,
		(unsigned long long)src_hb, gen(&self->f[1]),
		(unsigned long long)pvfront_heartbeat(&self->f[1]));
	EXPECT_LT(src_gen, gen(&self->f[1]));
	EXPECT_LE(src_hb, pvfront_heartbeat(&self->f[1]));
	EXPECT_EQ(1, logged(self, "g2: took over window"));
	/* The migrated device was in use: the guest resets it first. */
	moved.f = &self->f[1];
	moved.desc = (struct pvio_dev_desc *)((char *)self->f[1].win +
					      ((char *)self->d[0]->desc - (char *)self->f[0].win));
	EXPECT_EQ(0, wait_dev_state(&moved, PVIO_DEV_S_NEEDS_RESET, 2000));
	ASSERT_EQ(0, pvfront_dev_reset(&moved, 3000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f[1], 0, 0, 1, &self->d[1]));
	self->in[1] = pvfront_alloc(&self->f[1], 4096, 64, &self->gin[1]);
	self->out[1] = pvfront_alloc(&self->f[1], 4096, 64, &self->gout[1]);
	ASSERT_TRUE(self->in[1] && self->out[1]);
	EXPECT_EQ(0, echo(self, 1, 2));
	/* Cancelled at a destination: the held client is dropped. */
	EXPECT_EQ(0, ask(self, "migrate-cancel g3", "\"migration\":\"none\"", json, sizeof(json)));
	EXPECT_EQ(1, logged(self, "g3: peer 3 gone (incoming migration cancelled)"));
}

/* QEMU left the source after the migration: the next client is served. */
TEST_F(mig, the_source_serves_the_next_client)
{
	char json[4096];

	ASSERT_EQ(0, client(self, 0, true));
	ASSERT_EQ(0, ask(self, "migrate-out g1", "\"state\":", json, sizeof(json)));
	pvfront_close(&self->f[0]);
	self->on[0] = false;
	EXPECT_EQ(1, logged(self, "g1: migrate-out: the source QEMU left"));
	EXPECT_LT(0, guest_worker_pid(self->ctl, "g1"));
	ASSERT_EQ(0, client(self, 0, true));
	EXPECT_EQ(0, echo(self, 0, 3));
	EXPECT_EQ(0, ask(self, "list", "\"worker\":\"running\"", json, sizeof(json)));
	EXPECT_EQ(NULL, strstr(json, "\"migration\""));
}

TEST_HARNESS_MAIN
