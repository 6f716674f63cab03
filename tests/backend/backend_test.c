// SPDX-License-Identifier: GPL-2.0
/*
 * backend_test - pviod driven natively by libpvio-front: echo round trips
 * with data verification, two frontends at once, every kind of misbehaving
 * frontend (the device goes broken with a logged reason while the other
 * guest keeps its traffic flowing), worker crash and takeover, the control
 * socket (strings of any bytes through its JSON, both ways), and
 * configuration errors.
 *
 * Runs the ASan/UBSan build of pviod (PVIOD env, default build/pviod-san).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "pvio_front.h"
#include "kselftest_harness.h"
#include "test_util.h"

#define RAM_SIZE	(8u << 20)

FIXTURE(pviod) {
	char dir[64];
	char cfg[96], log[96], sock1[96], sock2[96], ctl[96];
	pid_t pid;
	struct pvfront f1, f2;
	struct pvfront_dev *d1, *d2;
};

FIXTURE_SETUP(pviod)
{
	FILE *f;

	strcpy(self->dir, "/tmp/pvio-betest-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->cfg, sizeof(self->cfg), "%s/pviod.ini", self->dir);
	snprintf(self->log, sizeof(self->log), "%s/pviod.log", self->dir);
	snprintf(self->sock1, sizeof(self->sock1), "%s/g1.sock", self->dir);
	snprintf(self->sock2, sizeof(self->sock2), "%s/g2.sock", self->dir);
	snprintf(self->ctl, sizeof(self->ctl), "%s/control.sock", self->dir);
	f = fopen(self->cfg, "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "[pviod]\ncontrol = %s\nheartbeat_ms = 50\n\n"
		"[guest g1]\nsocket = %s\n\n[guest g2]\nsocket = %s\n\n"
		"[device g1 echo0]\ntype = echo\nqueues = 2\nqueue_size = 64\n\n"
		"[device g2 echo0]\ntype = echo\nqueues = 1\nqueue_size = 64\n",
		self->ctl, self->sock1, self->sock2);
	fclose(f);

	self->pid = pviod_start(self->cfg, self->log, self->ctl);
	ASSERT_LT(0, self->pid);

	ASSERT_EQ(0, pvfront_connect(&self->f1, self->sock1, RAM_SIZE));
	ASSERT_EQ(0, pvfront_connect(&self->f2, self->sock2, RAM_SIZE));
	ASSERT_EQ(0, pvfront_wait_ready(&self->f1, 5000));
	ASSERT_EQ(0, pvfront_wait_ready(&self->f2, 5000));
	ASSERT_NE(NULL, pvfront_find(&self->f1, PVIO_DEV_ECHO, 0, NULL));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f1, 0, 0, 2, &self->d1));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f2, 0, 0, 1, &self->d2));
}

FIXTURE_TEARDOWN(pviod)
{
	char cmd[160];

	pvfront_close(&self->f1);
	pvfront_close(&self->f2);
	if (pviod_stop(&self->pid, self->log))
		_metadata->passed = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	if (!getenv("PVIO_KEEP"))
		(void)system(cmd);
}

/*
 * Send @n echo requests of random layout on @q and verify every byte.
 * Returns the number verified, or -1 on any mismatch or timeout.
 */
static int echo_rounds(struct pvfront *f, struct pvfront_queue *q, int n,
		       unsigned int seed)
{
	uint64_t gin, gout;
	unsigned char *in = pvfront_alloc(f, 16384, 64, &gin);
	unsigned char *out = pvfront_alloc(f, 16384, 64, &gout);
	struct pvio_desc d[8];
	struct pvio_cpl c;
	int i, k, tries, got;

	if (!in || !out)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned int len = 1 + rand_r(&seed) % 16000, nseg = 1 + rand_r(&seed) % 3;
		unsigned int off = 0, s = 0, per = len / nseg;

		for (k = 0; k < (int)len; k++)
			in[k] = (unsigned char)rand_r(&seed);
		memset(out, 0xee, len);
		/* nseg readable segments, then one writable segment. */
		for (s = 0; s < nseg; s++) {
			unsigned int l = s == nseg - 1 ? len - off : per;

			d[s].addr = pvio_cpu_to_le64(gin + off);
			d[s].len = pvio_cpu_to_le32(l);
			d[s].id = pvio_cpu_to_le16(i & 0xffff);
			d[s].flags = pvio_cpu_to_le16(PVIO_DESC_F_NEXT);
			off += l;
		}
		d[s].addr = pvio_cpu_to_le64(gout);
		d[s].len = pvio_cpu_to_le32(len);
		d[s].id = pvio_cpu_to_le16(i & 0xffff);
		d[s].flags = pvio_cpu_to_le16(PVIO_DESC_F_WRITE);
		if (pvfront_submit(q, d, s + 1))
			return -1;
		pvfront_kick(q);
		for (tries = 0; (got = pvfront_reap(q, &c, 1)) == 0 && tries < 20; tries++)
			pvfront_wait(q, 100);
		if (got != 1) {
			fprintf(stderr, "# request %d: expected a completion, got none\n", i);
			return -1;
		}
		if (pvio_le16_to_cpu(c.id) != (i & 0xffff) ||
		    pvio_le32_to_cpu(c.len) != len || c.status ||
		    memcmp(in, out, len)) {
			fprintf(stderr, "# request %d: expected id %d len %u status 0, got id %u len %u status %u%s\n",
				i, i & 0xffff, len, pvio_le16_to_cpu(c.id),
				pvio_le32_to_cpu(c.len), pvio_le32_to_cpu(c.status),
				memcmp(in, out, len) ? " and different data" : "");
			return -1;
		}
	}
	return n;
}

static int wait_state(struct pvfront_dev *d, uint32_t bit, int ms)
{
	for (; ms > 0; ms -= 10) {
		if (pvfront_device_state(d) & bit)
			return 0;
		msleep(10);
	}
	return -1;
}

TEST_F(pviod, echo_round_trip_verifies_data)
{
	EXPECT_EQ(500, echo_rounds(&self->f1, &self->d1->q[0], 500, 1));
	EXPECT_EQ(500, echo_rounds(&self->f1, &self->d1->q[1], 500, 2));
	EXPECT_EQ(200, echo_rounds(&self->f2, &self->d2->q[0], 200, 3));
}

TEST_F(pviod, batch_fills_ring_and_suppresses_notifications)
{
	struct pvfront_queue *q = &self->d1->q[0];
	uint64_t gbuf;
	uint32_t *buf = pvfront_alloc(&self->f1, 64 * 2 * 64, 64, &gbuf);
	struct pvio_desc d[2];
	struct pvio_cpl c[64];
	int i, got = 0, rounds;

	ASSERT_NE(NULL, buf);
	for (rounds = 0; rounds < 50; rounds++) {
		/* 32 requests of 2 slots fill the 64-slot SQ; one kick. */
		for (i = 0; i < 32; i++) {
			buf[i * 32] = rounds * 1000 + i;
			d[0] = (struct pvio_desc){ pvio_cpu_to_le64(gbuf + i * 128), pvio_cpu_to_le32(4),
						  pvio_cpu_to_le16(i), pvio_cpu_to_le16(PVIO_DESC_F_NEXT) };
			d[1] = (struct pvio_desc){ pvio_cpu_to_le64(gbuf + i * 128 + 64), pvio_cpu_to_le32(4),
						  pvio_cpu_to_le16(i), pvio_cpu_to_le16(PVIO_DESC_F_WRITE) };
			ASSERT_EQ(0, pvfront_submit(q, d, 2));
		}
		pvfront_kick(q);
		for (got = 0; got < 32;) {
			int n = pvfront_reap(q, c, 64);

			ASSERT_GE(n, 0);
			for (i = 0; i < n; i++) {
				unsigned int id = pvio_le16_to_cpu(c[i].id);

				ASSERT_LT(id, 32);
				ASSERT_EQ(rounds * 1000 + id, buf[id * 32 + 16]);
			}
			got += n;
			if (!n)
				ASSERT_NE(-ETIMEDOUT, pvfront_wait(q, 2000));
		}
	}
	printf("# 1600 requests in 50 batches: %llu doorbells, %llu interrupts\n",
	       (unsigned long long)q->kicks, (unsigned long long)q->irqs);
	EXPECT_LE(q->kicks, 60);	/* one per batch, not one per request */
}

static void expect_broken(struct __test_metadata *_metadata,
			  FIXTURE_DATA(pviod) *self, uint32_t reason,
			  const char *logmsg)
{
	uint32_t got;

	ASSERT_EQ(0, wait_state(self->d1, PVIO_DEV_S_BROKEN, 3000));
	got = pvio_le32_to_cpu(self->d1->desc->broken_reason);
	if (got != reason)
		fprintf(stderr, "# expected broken_reason %u, got %u\n", reason, got);
	EXPECT_EQ(reason, got);
	msleep(100);
	if (!log_contains(self->log, logmsg))
		fprintf(stderr, "# expected '%s' in %s\n", logmsg, self->log);
	EXPECT_TRUE(log_contains(self->log, logmsg));
	/* The other guest is not affected. */
	EXPECT_EQ(100, echo_rounds(&self->f2, &self->d2->q[0], 100, 9));
	/* A reset brings the broken device back. */
	ASSERT_EQ(0, pvfront_dev_reset(self->d1, 3000));
	EXPECT_EQ(0, pvfront_device_state(self->d1) & PVIO_DEV_S_BROKEN);
	ASSERT_EQ(0, pvfront_dev_setup(&self->f1, 0, 0, 1, &self->d1));
	EXPECT_EQ(50, echo_rounds(&self->f1, &self->d1->q[0], 50, 10));
}

static void submit_raw(struct pvfront_queue *q, uint64_t addr, uint32_t len,
		       uint16_t flags)
{
	struct pvio_desc d = { pvio_cpu_to_le64(addr), pvio_cpu_to_le32(len),
			       0, pvio_cpu_to_le16(flags) };

	pvfront_submit(q, &d, 1);
	pvfront_kick(q);
}

TEST_F(pviod, ring_index_past_end_breaks_device)
{
	struct pvfront_queue *q = &self->d1->q[0];

	/* Producer index claims more entries than the ring has slots. */
	q->sq_sh->prod = pvio_cpu_to_le32(64 + 7);
	pvfront_kick_config(&self->f1);
	{
		uint64_t one = 1;

		ASSERT_EQ(8, write(q->kick_fd, &one, 8));
	}
	expect_broken(_metadata, self, PVIO_BROKEN_RING_INDEX, "impossible");
}

TEST_F(pviod, address_outside_ram_breaks_device)
{
	submit_raw(&self->d1->q[0], RAM_SIZE + 4096, 64, 0);
	expect_broken(_metadata, self, PVIO_BROKEN_ADDR, "buffer outside guest RAM");
}

TEST_F(pviod, address_length_overflow_breaks_device)
{
	/* addr + len wraps around 2^64. */
	submit_raw(&self->d1->q[0], 0xfffffffffffff000ull, 0x2000, 0);
	expect_broken(_metadata, self, PVIO_BROKEN_ADDR, "buffer outside guest RAM");
}

TEST_F(pviod, zero_length_breaks_device)
{
	submit_raw(&self->d1->q[0], 4096, 0, 0);
	expect_broken(_metadata, self, PVIO_BROKEN_LEN, "zero or overflowing length");
}

TEST_F(pviod, unknown_descriptor_flags_break_device)
{
	submit_raw(&self->d1->q[0], 4096, 16, 0x4000);
	expect_broken(_metadata, self, PVIO_BROKEN_DESC, "malformed chain");
}

TEST_F(pviod, unterminated_chain_breaks_device)
{
	struct pvio_desc d[3];
	int i;

	for (i = 0; i < 3; i++)
		d[i] = (struct pvio_desc){ pvio_cpu_to_le64(4096), pvio_cpu_to_le32(8),
					  0, pvio_cpu_to_le16(PVIO_DESC_F_NEXT) };
	pvfront_submit(&self->d1->q[0], d, 3);
	pvfront_kick(&self->d1->q[0]);
	expect_broken(_metadata, self, PVIO_BROKEN_DESC, "malformed chain");
}

TEST_F(pviod, garbage_status_breaks_device)
{
	pvio_store_release(&self->d1->desc->driver_status, pvio_cpu_to_le32(0xdead0000 | 0xf));
	pvfront_kick_config(&self->f1);
	expect_broken(_metadata, self, PVIO_BROKEN_STATUS, "unknown driver_status bits");
}

TEST_F(pviod, unoffered_features_break_device)
{
	struct pvio_dev_desc *dd = self->d1->desc;

	ASSERT_EQ(0, pvfront_dev_reset(self->d1, 3000));
	dd->driver_status = pvio_cpu_to_le32(PVIO_DS_ACKNOWLEDGE | PVIO_DS_DRIVER);
	dd->guest_features = pvio_cpu_to_le64(1ull << 40);
	pvio_store_release(&dd->driver_status, pvio_cpu_to_le32(PVIO_DS_ACKNOWLEDGE |
			   PVIO_DS_DRIVER | PVIO_DS_FEATURES_OK));
	pvfront_kick_config(&self->f1);
	expect_broken(_metadata, self, PVIO_BROKEN_STATUS, "not offered");
}

TEST_F(pviod, garbage_queue_count_breaks_device)
{
	struct pvio_dev_desc *dd = self->d1->desc;

	ASSERT_EQ(0, pvfront_dev_reset(self->d1, 3000));
	dd->driver_status = pvio_cpu_to_le32(PVIO_DS_ACKNOWLEDGE | PVIO_DS_DRIVER |
					     PVIO_DS_FEATURES_OK);
	dd->num_queues = pvio_cpu_to_le16(999);
	pvio_store_release(&dd->driver_status, pvio_cpu_to_le32(PVIO_DS_ACKNOWLEDGE |
			   PVIO_DS_DRIVER | PVIO_DS_FEATURES_OK | PVIO_DS_DRIVER_OK));
	pvfront_kick_config(&self->f1);
	expect_broken(_metadata, self, PVIO_BROKEN_QUEUE, "guest enabled 999 queues");
}

TEST_F(pviod, heartbeat_moves)
{
	uint64_t a = pvfront_heartbeat(&self->f1);

	msleep(300);
	EXPECT_GT(pvfront_heartbeat(&self->f1), a + 2);
}

static int worker_pid(const char *ctl)
{
	char buf[65536], *p;

	if (control(ctl, "list", buf, sizeof(buf)))
		return -1;
	p = strstr(buf, "\"worker_pid\":");
	return p ? atoi(p + 13) : -1;
}

TEST_F(pviod, worker_killed_is_replaced_and_devices_recover)
{
	uint32_t gen = pvio_le32_to_cpu(self->f1.hdr->generation);
	int wpid = worker_pid(self->ctl), wpid2;

	ASSERT_GT(wpid, 0);
	ASSERT_EQ(20, echo_rounds(&self->f1, &self->d1->q[0], 20, 4));
	ASSERT_EQ(0, kill(wpid, SIGKILL));
	/* The new worker bumps the generation and asks for a reset. */
	ASSERT_EQ(0, wait_state(self->d1, PVIO_DEV_S_NEEDS_RESET, 5000));
	EXPECT_EQ(gen + 1, pvio_le32_to_cpu(self->f1.hdr->generation));
	wpid2 = worker_pid(self->ctl);
	printf("# worker %d killed, replaced by %d; generation %u -> %u\n", wpid,
	       wpid2, gen, pvio_le32_to_cpu(self->f1.hdr->generation));
	EXPECT_NE(wpid, wpid2);
	ASSERT_EQ(0, pvfront_dev_reset(self->d1, 3000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f1, 0, 0, 2, &self->d1));
	EXPECT_EQ(100, echo_rounds(&self->f1, &self->d1->q[1], 100, 5));
	/* g2 was idle during the crash: it recovers the same way. */
	ASSERT_EQ(0, pvfront_dev_reset(self->d2, 3000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f2, 0, 0, 1, &self->d2));
	EXPECT_EQ(100, echo_rounds(&self->f2, &self->d2->q[0], 100, 6));
}

/*
 * NEEDS_RESET is the backend's to clear: a guest that overwrites
 * device_state and sets up again without a reset is not served (review
 * finding 4: the state used to be read back from the window).
 */
TEST_F(pviod, a_guest_cannot_clear_needs_reset_by_writing_device_state)
{
	int wpid = worker_pid(self->ctl), i;
	uint64_t gin, gout;
	struct pvio_desc d[2];
	struct pvio_cpl c;
	char json[65536];

	ASSERT_NE(NULL, pvfront_alloc(&self->f1, 4096, 64, &gin));
	ASSERT_NE(NULL, pvfront_alloc(&self->f1, 4096, 64, &gout));
	ASSERT_EQ(0, kill(wpid, SIGKILL));
	for (i = 0; i < 300 && pvfront_device_state(self->d1) != PVIO_DEV_S_NEEDS_RESET; i++)
		msleep(10);
	ASSERT_EQ(PVIO_DEV_S_NEEDS_RESET, pvfront_device_state(self->d1));
	/* Forge LIVE, then the whole set-up again, no reset. */
	pvio_write_once(self->d1->desc->device_state, pvio_cpu_to_le32(PVIO_DEV_S_LIVE));
	pvio_store_release(&self->d1->desc->driver_status, 0);
	pvfront_kick_config(&self->f1);
	msleep(200);
	ASSERT_EQ(0, pvfront_dev_setup(&self->f1, 0, 0, 2, &self->d1));
	d[0].addr = pvio_cpu_to_le64(gin);
	d[0].len = pvio_cpu_to_le32(64);
	d[0].id = pvio_cpu_to_le16(1);
	d[0].flags = pvio_cpu_to_le16(PVIO_DESC_F_NEXT);
	d[1].addr = pvio_cpu_to_le64(gout);
	d[1].len = pvio_cpu_to_le32(64);
	d[1].id = pvio_cpu_to_le16(1);
	d[1].flags = pvio_cpu_to_le16(PVIO_DESC_F_WRITE);
	ASSERT_EQ(0, pvfront_submit(&self->d1->q[0], d, 2));
	pvfront_kick(&self->d1->q[0]);
	for (i = 0; i < 10 && !pvfront_reap(&self->d1->q[0], &c, 1); i++)
		pvfront_wait(&self->d1->q[0], 50);
	ASSERT_EQ(0, control(self->ctl, "status g1 echo0", json, sizeof(json)));
	fprintf(stderr, "# forged LIVE: expected no completion and needs-reset, got %s completion, %s\n",
		i < 10 ? "a" : "no", strstr(json, "needs-reset") ? "needs-reset" : json);
	EXPECT_EQ(10, i);
	EXPECT_NE(NULL, strstr(json, "\"state\":\"needs-reset\""));
	/* A real reset serves it. */
	ASSERT_EQ(0, pvfront_dev_reset(self->d1, 3000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f1, 0, 0, 2, &self->d1));
	EXPECT_EQ(20, echo_rounds(&self->f1, &self->d1->q[0], 20, 5));
}

TEST_F(pviod, second_client_on_same_socket_is_refused)
{
	struct pvfront f3;

	EXPECT_NE(0, pvfront_connect(&f3, self->sock1, RAM_SIZE));
	msleep(50);
	EXPECT_TRUE(log_contains(self->log, "second client connected"));
	EXPECT_EQ(10, echo_rounds(&self->f1, &self->d1->q[0], 10, 7));
}

TEST_F(pviod, reconnect_gets_fresh_window)
{
	uint32_t gen = pvio_le32_to_cpu(self->f1.hdr->generation);

	pvfront_close(&self->f1);
	msleep(100);
	ASSERT_EQ(0, pvfront_connect(&self->f1, self->sock1, RAM_SIZE));
	ASSERT_EQ(0, pvfront_wait_ready(&self->f1, 5000));
	EXPECT_GT(pvio_le32_to_cpu(self->f1.hdr->generation), gen);
	ASSERT_EQ(0, pvfront_dev_setup(&self->f1, 0, 0, 2, &self->d1));
	EXPECT_EQ(20, echo_rounds(&self->f1, &self->d1->q[0], 20, 8));
}

TEST_F(pviod, control_reports_counters)
{
	char buf[65536];

	ASSERT_EQ(50, echo_rounds(&self->f1, &self->d1->q[0], 50, 11));
	ASSERT_EQ(0, control(self->ctl, "status g1 echo0", buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "\"state\":\"running\""));
	EXPECT_NE(NULL, strstr(buf, "\"requests\":50"));
	ASSERT_EQ(0, control(self->ctl, "status g1 nosuch", buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "\"error\""));
	/* Names with quotes never reach the JSON output. */
	ASSERT_EQ(0, control(self->ctl, "status g1 a\"b", buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "request words are names"));
}

/* ---- configuration errors: pviod refuses to start, says why ----------- */

static int run_check(const char *text, char *out, size_t len)
{
	char path[] = "/tmp/pvio-cfg-XXXXXX", cmd[256];
	FILE *f, *p;
	int fd = mkstemp(path), status;
	size_t n;

	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	if (text)
		fputs(text, f);
	fclose(f);
	if (!text)
		unlink(path);
	snprintf(cmd, sizeof(cmd), "%s -c %s --check-config 2>&1", pviod_bin(), path);
	p = popen(cmd, "r");
	n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	status = pclose(p);
	unlink(path);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define X50	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define LONG_LINE "[guest g]\nsocket=/tmp/" X50 X50 X50 X50 X50 "\n[device g d]\ntype=echo\n"

TEST(config_errors_are_reported)
{
	static const struct { const char *text, *msg; } cases[] = {
		{ NULL, "cannot open config" },
		{ "[guest g]\nsocket=/tmp/x\nbogus=1\n", "unknown key 'bogus'" },
		{ "[guest g]\nsocket=/tmp/x\n[device g d]\ntype=echo\nqueue_size=100\n",
		  "power of two" },
		{ "[guest g]\nsocket=/tmp/x\n[device h d]\ntype=echo\n", "unknown guest 'h'" },
		{ "[guest g]\nsocket=/tmp/x\n[device g d]\ntype=floppy\n", "unknown device type" },
		{ "[guest g]\nsocket=/tmp/x\n", "has no devices" },
		{ "[guest g]\nram=/dev/shm/x\nsocket=/tmp/x\n[device g d]\ntype=echo\n",
		  "needs 'ram_size'" },
		{ "[guest g]\nram=/dev/shm/x\nram_size=524280K\nsocket=/tmp/x\n[device g d]\ntype=echo\n",
		  "guest g: ram_size 536862720 is not a multiple of 2 MiB" },
		{ "[guest g]\nsocket=/tmp/x\n[device g d]\ntype=echo\nqueues=99\n", "queues must be" },
		{ "[pviod\n", "bad section header" },
		{ "[guest g]\nsocket=/tmp/x\n[device g d]\ntype=echo\nfoo=1\n",
		  "take no key 'foo'" },
		{ "[guest g]\nsocket=/tmp/x\nram_layout=0:0x1000:0,0x800:0x1000:0x1000\n"
		  "[device g d]\ntype=echo\n", "bad ram_layout" },
		{ "[guest g]\nsocket=/tmp/x\nram_layout=0:010:0\n[device g d]\ntype=echo\n",
		  "bad ram_layout" },
		/* the file and line of each error, and the section it is in */
		{ "[pviod]\n\n[guest g]\nsocket=/tmp/x\nbogus=1\n", ":5: guest g: unknown key 'bogus'" },
		/* INI as libinih reads it, less what our format does not take */
		{ "[guest g]\nsocket: /tmp/x\n[device g d]\ntype=echo\n", ":2: guest g: expected key = value" },
		{ "[guest g]\nsocket=/tmp/x\n  ram_size\n[device g d]\ntype=echo\n",
		  ":3: guest g: expected key = value" },
		{ "socket=/tmp/x\n[guest g]\n", ":1: key outside a section" },
		{ "[guest g]\n[device g d]\ntype=echo\n", "guest g: 'socket' is required" },
		{ "[guest g]\nsocket=/tmp/x\n[guest g]\nram_size=1M\n", ":3: guest g: bad, duplicate or one too many guest 'g'" },
		{ LONG_LINE, ":2: guest g: line too long (at most 198 characters)" },
	};
	char out[1024];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = run_check(cases[i].text, out, sizeof(out));

		if (rc == 0 || !strstr(out, cases[i].msg))
			fprintf(stderr, "# case %zu: expected failure with '%s', got rc %d: %s\n",
				i, cases[i].msg, rc, out);
		EXPECT_NE(0, rc);
		EXPECT_NE(NULL, strstr(out, cases[i].msg));
	}
}

/* Comments (whole lines, and after '#' or ';' on a line), blank lines and indented keys. */
TEST(config_comments_and_blanks_are_skipped)
{
	char out[1024];
	int rc = run_check("# pviod.ini\n; also a comment\n\n[pviod]\n  heartbeat_ms = 100 # ms\n"
			   "[guest g]   ; the guest\n\tsocket = /tmp/x;the socket\n"
			   "[device g d]\ntype = echo\n", out, sizeof(out));

	fprintf(stderr, "# want rc 0, got %d: %s\n", rc, out);
	EXPECT_EQ(0, rc);
}

/* A pviod of one echo guest, g1, in @dir: its configuration, log, control and guest sockets. */
struct one_echo {
	char cfg[96], log[96], ctl[96], sock[96];
};

static int one_echo_setup(struct one_echo *e, const char *dir)
{
	FILE *f;

	snprintf(e->cfg, sizeof(e->cfg), "%s/pviod.ini", dir);
	snprintf(e->log, sizeof(e->log), "%s/pviod.log", dir);
	snprintf(e->ctl, sizeof(e->ctl), "%s/control.sock", dir);
	snprintf(e->sock, sizeof(e->sock), "%s/g1.sock", dir);
	f = fopen(e->cfg, "w");
	if (!f)
		return -1;
	fprintf(f, "[pviod]\ncontrol = %s\n\n[guest g1]\nsocket = %s\n\n[device g1 e]\ntype = echo\n",
		e->ctl, e->sock);
	return fclose(f);
}

/* One datagram from @fd within @ms, its sender's PID in *@from; its length or -1. */
static int notify_recv(int fd, char *buf, size_t len, int ms, pid_t *from)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct ucred))];
	} c;
	struct iovec iov = { buf, len - 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b,
			    .msg_controllen = sizeof(c.b) };
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct cmsghdr *h;
	ssize_t n;
	int i;

	*from = 0;
	if (poll(&p, 1, ms) != 1)
		return -1;
	n = recvmsg(fd, &m, MSG_DONTWAIT);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	for (i = 0; i < n; i++)
		if (buf[i] == '\n')
			buf[i] = ' ';	/* one line for the log; keys stay apart */
	for (h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
		if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_CREDENTIALS)
			*from = ((struct ucred *)CMSG_DATA(h))->pid;
	return (int)n;
}

/*
 * Under systemd (Type=notify, packaging/systemd/pviod.service): READY=1
 * from the supervisor once the guests' sockets and the control socket
 * listen, RELOADING=1 and READY=1 around a SIGHUP, STOPPING=1 at SIGTERM;
 * nothing from a worker.  The notification socket is a real one, as
 * systemd's, and libsystemd's sd_notify() writes to it.
 */
TEST(systemd_hears_ready_reload_and_stopping_from_the_supervisor)
{
	char dir[] = "/tmp/pvio-notify-XXXXXX", path[96], msg[512], all[2048] = "", cmd[128];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, one = 1, n, status;
	bool sock_there, ctl_there;
	struct one_echo e;
	pid_t pid, from;

	ASSERT_NE(NULL, mkdtemp(dir));
	ASSERT_EQ(0, one_echo_setup(&e, dir));
	snprintf(path, sizeof(path), "%s/notify.sock", dir);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, fd);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ASSERT_EQ(0, bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	ASSERT_EQ(0, setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)));

	setenv("NOTIFY_SOCKET", path, 1);
	pid = pviod_start(e.cfg, e.log, e.ctl);
	unsetenv("NOTIFY_SOCKET");
	ASSERT_LT(0, pid);
	n = notify_recv(fd, msg, sizeof(msg), 5000, &from);
	sock_there = access(e.sock, F_OK) == 0;
	ctl_there = access(e.ctl, F_OK) == 0;
	fprintf(stderr, "# at start: expected READY=1 from %d with both sockets there, got '%s' from %d, guest socket %s, control socket %s\n",
		(int)pid, n < 0 ? "(nothing)" : msg, (int)from, sock_there ? "yes" : "no",
		ctl_there ? "yes" : "no");
	EXPECT_TRUE(n > 0 && strstr(msg, "READY=1") && strstr(msg, "STATUS=1 guest(s)"));
	EXPECT_EQ(pid, from);
	EXPECT_TRUE(sock_there && ctl_there);

	ASSERT_EQ(0, kill(pid, SIGHUP));
	while ((n = notify_recv(fd, msg, sizeof(msg), 5000, &from)) > 0) {
		snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s[%d] %s", *all ? " | " : "",
			 (int)from, msg);
		if (from != pid || strstr(msg, "READY=1"))
			break;
	}
	fprintf(stderr, "# SIGHUP: expected RELOADING=1 then READY=1, both from %d; got %s\n",
		(int)pid, all);
	EXPECT_TRUE(strstr(all, "RELOADING=1") && strstr(all, "READY=1") &&
		    strstr(all, "RELOADING=1") < strstr(all, "READY=1"));
	EXPECT_EQ(pid, from);

	ASSERT_EQ(0, kill(pid, SIGTERM));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	n = notify_recv(fd, msg, sizeof(msg), 1000, &from);
	fprintf(stderr, "# SIGTERM: expected STOPPING=1 from %d, got '%s' from %d\n", (int)pid,
		n < 0 ? "(nothing)" : msg, (int)from);
	EXPECT_TRUE(n > 0 && strstr(msg, "STOPPING=1"));
	EXPECT_EQ(pid, from);
	n = notify_recv(fd, msg, sizeof(msg), 200, &from);
	EXPECT_EQ(-1, n) {
		fprintf(stderr, "# and then: expected nothing, got '%s' from %d\n", msg, (int)from);
	}
	EXPECT_FALSE(log_contains(e.log, "ERROR: AddressSanitizer") ||
		     log_contains(e.log, "runtime error:"));
	close(fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (!getenv("PVIO_KEEP"))
		(void)system(cmd);
}

/* The first line of @path that does not start with @prefix into @bad; how many lines do. */
static int lines_starting(const char *path, const char *prefix, char *bad, size_t len)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int n = 0;

	*bad = '\0';
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, prefix, strlen(prefix)))
			n++;
		else if (!*bad)
			snprintf(bad, len, "%s", line);
	}
	fclose(f);
	return n;
}

/*
 * Under systemd, stderr is the journal's stream and JOURNAL_STREAM names
 * it (systemd.exec(5)): every line, the workers' too, then starts with its
 * syslog priority ("<6>") and no time stamp, so that the journal files
 * errors as errors.  A JOURNAL_STREAM that names another file (a service
 * that redirected stderr) changes nothing.
 */
TEST(log_lines_carry_their_priority_on_the_journal_stream)
{
	char dir[] = "/tmp/pvio-journal-XXXXXX", other[96], env[64], bad[1024], cmd[128], out[256];
	int n, wpid, all, info, err;
	struct one_echo e;
	struct stat st;
	pid_t pid;

	ASSERT_NE(NULL, mkdtemp(dir));
	ASSERT_EQ(0, one_echo_setup(&e, dir));
	snprintf(other, sizeof(other), "%s/other.log", dir);
	ASSERT_EQ(0, sh(": >%s; : >%s", e.log, other));

	/* stderr is the stream JOURNAL_STREAM names */
	ASSERT_EQ(0, stat(e.log, &st));
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	pid = pviod_start(e.cfg, e.log, e.ctl);
	ASSERT_LT(0, pid);
	wpid = guest_worker_pid(e.ctl, "g1");
	ASSERT_LT(0, wpid);
	snprintf(cmd, sizeof(cmd), "pviod[%d] info", wpid);
	ASSERT_EQ(0, wait_path(e.log, 1000));
	for (n = 0; n < 50 && !log_contains(e.log, cmd); n++)
		msleep(100);
	ASSERT_EQ(0, pviod_stop(&pid, e.log));
	all = log_count(e.log, "pviod[");
	info = lines_starting(e.log, "<6>pviod[", bad, sizeof(bad));
	n = lines_starting(e.log, "<", bad, sizeof(bad));
	fprintf(stderr, "# JOURNAL_STREAM=%s (stderr): expected every line to start with a priority, got %d of %d (%d at <6>); first without: '%s'\n",
		env, n, all, info, bad);
	EXPECT_TRUE(n > 0 && n == all && !*bad);
	snprintf(cmd, sizeof(cmd), "<6>pviod[%d] info", wpid);
	EXPECT_TRUE(log_contains(e.log, cmd)) {
		fprintf(stderr, "# expected a line of the worker's (%d) at <6>: none\n", wpid);
	}

	/* a configuration error is filed as an error */
	EXPECT_NE(0, sh("echo '[guest g]' >%s/bad.ini; : >%s; JOURNAL_STREAM=$(stat -c %%d:%%i %s) %s -c %s/bad.ini --check-config 2>>%s",
			dir, other, other, pviod_bin(), dir, other));
	err = lines_starting(other, "<3>pviod: ", bad, sizeof(bad));
	fprintf(stderr, "# a bad configuration: expected '<3>pviod: ...', got %d such line(s), other: '%s'\n",
		err, bad);
	EXPECT_TRUE(err == 1 && !*bad);

	/* another stream named: plain lines with a time stamp */
	ASSERT_EQ(0, sh(": >%s", e.log));
	ASSERT_EQ(0, stat(other, &st));
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	pid = pviod_start(e.cfg, e.log, e.ctl);
	unsetenv("JOURNAL_STREAM");
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, pviod_stop(&pid, e.log));
	all = log_count(e.log, "pviod[");
	n = lines_starting(e.log, "<", out, sizeof(out));
	fprintf(stderr, "# JOURNAL_STREAM naming another file: expected no priorities, got %d of %d lines with one\n",
		n, all);
	EXPECT_TRUE(all > 0 && n == 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (!getenv("PVIO_KEEP"))
		(void)system(cmd);
}

/* ---- the control socket's JSON: any string goes through it and back --- */

/*
 * A directory name with a quote, a backslash, a tab, two other control
 * characters, a '/'-free UTF-8 letter: the control socket, the guest's
 * socket and the configuration file all live in it.
 */
#define WEIRD	"q\"b\\s\tc\001d\037e\303\251"

/* @text is RFC 8259 JSON text as far as raw bytes go: none below 0x20. */
static int raw_control_byte(const char *text)
{
	const unsigned char *p;

	for (p = (const unsigned char *)text; *p; p++)
		if (*p < 0x20 && !(*p == '\n' && !p[1]))
			return (int)(p - (const unsigned char *)text);
	return -1;
}

/* The string at @key of the first object of array @arr in @o ("" if none). */
static const char *json_first(struct json_object *o, const char *arr, const char *key)
{
	struct json_object *a, *v;

	if (!o || !json_object_object_get_ex(o, arr, &a) ||
	    !json_object_is_type(a, json_type_array) || !json_object_array_length(a) ||
	    !json_object_object_get_ex(json_object_array_get_idx(a, 0), key, &v))
		return "";
	return json_object_get_string(v);
}

static const char *json_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

/* pvioctl -s @ctl --json list, its stdout in @buf (argv, no shell: @ctl is WEIRD). */
static int pvioctl_json_list(const char *ctl, char *buf, size_t len)
{
	const char *bin = getenv("PVIOCTL") ? getenv("PVIOCTL") : "build/pvioctl";
	size_t got = 0;
	int p[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execl(bin, "pvioctl", "-s", ctl, "--json", "list", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (got < len - 1 && (n = read(p[0], buf + got, len - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(p[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(control_json_round_trips_quotes_backslashes_and_control_characters)
{
	char base[] = "/tmp/pvio-json-XXXXXX", dir[96], log[96], cmd[128], raw[8192];
	char want_err[256];
	struct json_object *o;
	struct one_echo e;
	FILE *f;
	pid_t pid;
	int at;

	ASSERT_NE(NULL, mkdtemp(base));
	snprintf(dir, sizeof(dir), "%s/%s", base, WEIRD);
	ASSERT_EQ(0, mkdir(dir, 0700));
	ASSERT_EQ(0, one_echo_setup(&e, dir));
	snprintf(log, sizeof(log), "%s/pviod.log", base);
	pid = pviod_start(e.cfg, log, e.ctl);
	ASSERT_LT(0, pid);

	/* pviod writes it: the guest's socket path, as configured */
	ASSERT_EQ(0, control(e.ctl, "list", raw, sizeof(raw)));
	at = raw_control_byte(raw);
	o = json_tokener_parse(raw);
	fprintf(stderr, "# list: %s# raw control byte at %d (expected none); socket '%s' (expected '%s')\n",
		raw, at, json_first(o, "guests", "socket"), e.sock);
	EXPECT_EQ(-1, at);
	EXPECT_STREQ(e.sock, json_first(o, "guests", "socket"));
	json_object_put(o);

	/* pvioctl reads it and writes it again */
	EXPECT_EQ(0, pvioctl_json_list(e.ctl, raw, sizeof(raw)));
	at = raw_control_byte(raw);
	o = json_tokener_parse(raw);
	fprintf(stderr, "# pvioctl --json list: raw control byte at %d (expected none); socket '%s' (expected '%s')\n",
		at, json_first(o, "guests", "socket"), e.sock);
	EXPECT_EQ(-1, at);
	EXPECT_STREQ(e.sock, json_first(o, "guests", "socket"));
	json_object_put(o);

	/* the configuration's path */
	ASSERT_EQ(0, control(e.ctl, "reload", raw, sizeof(raw)));
	o = json_tokener_parse(raw);
	fprintf(stderr, "# reload: %s# reloaded '%s' (expected '%s')\n", raw,
		json_str(o, "reloaded"), e.cfg);
	EXPECT_EQ(-1, raw_control_byte(raw));
	EXPECT_STREQ(e.cfg, json_str(o, "reloaded"));
	json_object_put(o);

	/* an error that quotes what the operator wrote, key and path */
	f = fopen(e.cfg, "a");
	ASSERT_NE(NULL, f);
	fprintf(f, "\n[guest g2]\nsocket = %s/g2.sock\nk\"\\\001y = 1\n", dir);
	fclose(f);
	snprintf(want_err, sizeof(want_err), "%s:12: guest g2: unknown key 'k\"\\\001y'", e.cfg);
	ASSERT_EQ(0, control(e.ctl, "reload", raw, sizeof(raw)));
	o = json_tokener_parse(raw);
	fprintf(stderr, "# reload of a bad key: %s# error contains the key and path: %s\n", raw,
		strstr(json_str(o, "error"), want_err) ? "yes" : "no (expected yes)");
	EXPECT_EQ(-1, raw_control_byte(raw));
	EXPECT_NE(NULL, strstr(json_str(o, "error"), want_err));
	json_object_put(o);

	EXPECT_EQ(0, pviod_stop(&pid, log));
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	if (!getenv("PVIO_KEEP"))
		(void)system(cmd);
}

TEST_HARNESS_MAIN
