// SPDX-License-Identifier: GPL-2.0
/*
 * metrics_test - pviod's Prometheus endpoint (`metrics = ADDR:PORT`) and
 * `pvioctl metrics`, against a real pviod: guest g1 (an echo device with
 * two queues) driven by libpvio-front, guest g2 never connected.  Scraped
 * with curl; the text checked with promtool (Debian's prometheus package)
 * and against what the guest did; the endpoint refuses other paths and
 * methods; a stopped worker delays a scrape by the control socket's second
 * at most and is reported as not answering, while the other guest's
 * metrics are there; a killed worker shows as a restart.  Bad addresses
 * in the configuration are refused with their line.
 *
 * Runs the ASan/UBSan build of pviod (PVIOD, default build/pviod-san) and
 * build/pvioctl (PVIOCTL).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pvio_front.h"
#include "kselftest_harness.h"
#include "test_util.h"

#define RAM_SIZE	(16u << 20)

FIXTURE(metrics) {
	char dir[64], cfg[96], log[96], sock1[96], sock2[96], ctl[96], out[96], url[64];
	int port;
	pid_t pid;
	struct pvfront f;
	struct pvfront_dev *d;
};

static const char *pvioctl_bin(void)
{
	const char *p = getenv("PVIOCTL");

	return p ? p : "build/pvioctl";
}

FIXTURE_SETUP(metrics)
{
	FILE *f;

	self->pid = -1;
	strcpy(self->dir, "/tmp/pvio-metrics-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->cfg, sizeof(self->cfg), "%s/pviod.ini", self->dir);
	snprintf(self->log, sizeof(self->log), "%s/pviod.log", self->dir);
	snprintf(self->sock1, sizeof(self->sock1), "%s/g1.sock", self->dir);
	snprintf(self->sock2, sizeof(self->sock2), "%s/g2.sock", self->dir);
	snprintf(self->ctl, sizeof(self->ctl), "%s/control.sock", self->dir);
	snprintf(self->out, sizeof(self->out), "%s/scrape.txt", self->dir);
	self->port = free_port();
	ASSERT_GT(self->port, 0);
	snprintf(self->url, sizeof(self->url), "http://127.0.0.1:%d", self->port);
	f = fopen(self->cfg, "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "[pviod]\ncontrol = %s\nheartbeat_ms = 50\nmetrics = 127.0.0.1:%d\n\n"
		"[guest g1]\nsocket = %s\n\n[device g1 e0]\ntype = echo\nqueues = 2\nqueue_size = 64\n\n"
		"[guest g2]\nsocket = %s\n\n[device g2 e0]\ntype = echo\n",
		self->ctl, self->port, self->sock1, self->sock2);
	fclose(f);
	self->pid = pviod_start(self->cfg, self->log, self->ctl);
	ASSERT_GT(self->pid, 0);
	ASSERT_EQ(0, pvfront_connect(&self->f, self->sock1, RAM_SIZE));
	ASSERT_EQ(0, pvfront_wait_ready(&self->f, 5000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f, 0, 0, 2, &self->d));
}

FIXTURE_TEARDOWN(metrics)
{
	char cmd[128];

	pvfront_close(&self->f);
	if (pviod_stop(&self->pid, self->log))
		_metadata->passed = 0;
	if (self->dir[0] && !getenv("PVIO_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
		(void)system(cmd);
	}
}

/* GET @path into self->out; the HTTP status, or -1 when curl failed. */
static int scrape(FIXTURE_DATA(metrics) *self, const char *method, const char *path)
{
	char code[8] = "";
	FILE *p;
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "curl -s -m 10 -X %s -o %s -w '%%{http_code}' %s%s",
		 method, self->out, self->url, path);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (!fgets(code, sizeof(code), p))
		code[0] = '\0';
	if (pclose(p))
		return -1;
	return atoi(code);
}

/* The value of the sample @series (name{labels}) in @file, or -1. */
static long long value_of(const char *file, const char *series)
{
	size_t n = strlen(series);
	long long v = -1;
	char line[512];
	FILE *f = fopen(file, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, series, n) && line[n] == ' ')
			v = atoll(line + n + 1);
	fclose(f);
	return v;
}

static int echo_n(FIXTURE_DATA(metrics) *self, unsigned int q, int n)
{
	uint64_t gin, gout;
	unsigned char *in = pvfront_alloc(&self->f, 4096, 64, &gin);
	unsigned char *out = pvfront_alloc(&self->f, 4096, 64, &gout);
	int i;

	if (!in || !out)
		return -1;
	for (i = 0; i < n; i++)
		if (echo_once(&self->f, &self->d->q[q], in, gin, out, gout, 4096, (uint16_t)i,
			      (unsigned int)i))
			return -1;
	return 0;
}

#define EXPECT_SERIES(file, series, want)						\
	do {										\
		long long got_ = value_of(file, series);				\
		fprintf(stderr, "# %s: expected %lld, got %lld\n", series,		\
			(long long)(want), got_);					\
		EXPECT_EQ((long long)(want), got_);					\
	} while (0)

TEST_F(metrics, scrape_validates_and_counts_the_guests_io)
{
	char cmd[256];

	ASSERT_EQ(0, echo_n(self, 0, 5));
	ASSERT_EQ(0, echo_n(self, 1, 3));
	ASSERT_EQ(200, scrape(self, "GET", "/metrics"));
	EXPECT_EQ(0, sh("promtool check metrics < %s", self->out));
	EXPECT_SERIES(self->out, "pvio_guests", 2);
	EXPECT_SERIES(self->out, "pvio_guest_connected{guest=\"g1\"}", 1);
	EXPECT_SERIES(self->out, "pvio_guest_connected{guest=\"g2\"}", 0);
	EXPECT_SERIES(self->out, "pvio_device_info{guest=\"g1\",device=\"e0\",type=\"echo\",state=\"running\"}", 1);
	EXPECT_SERIES(self->out, "pvio_device_info{guest=\"g2\",device=\"e0\",type=\"echo\",state=\"idle\"}", 1);
	EXPECT_SERIES(self->out, "pvio_queue_requests_total{guest=\"g1\",device=\"e0\",queue=\"0\"}", 5);
	EXPECT_SERIES(self->out, "pvio_queue_requests_total{guest=\"g1\",device=\"e0\",queue=\"1\"}", 3);
	/* echo counts the bytes it read and the bytes it wrote back */
	EXPECT_SERIES(self->out, "pvio_queue_bytes_total{guest=\"g1\",device=\"e0\",queue=\"0\"}", 5 * 2 * 4096);
	EXPECT_SERIES(self->out, "pvio_queue_requests_total{guest=\"g2\",device=\"e0\",queue=\"0\"}", 0);
	EXPECT_SERIES(self->out, "pvio_queue_running{guest=\"g1\",device=\"e0\",queue=\"1\"}", 1);
	EXPECT_SERIES(self->out, "pvio_guest_worker_restarts_total{guest=\"g1\"}", 0);
	/* pvioctl metrics prints the same text (nothing moved in between). */
	snprintf(cmd, sizeof(cmd), "%s -s %s metrics | cmp -s - %s", pvioctl_bin(), self->ctl,
		 self->out);
	EXPECT_EQ(0, sh("%s", cmd));
}

TEST_F(metrics, other_paths_and_methods_are_refused)
{
	int code;

	code = scrape(self, "GET", "/");
	fprintf(stderr, "# GET /: expected 404, got %d\n", code);
	EXPECT_EQ(404, code);
	code = scrape(self, "GET", "/metrics/x");
	fprintf(stderr, "# GET /metrics/x: expected 404, got %d\n", code);
	EXPECT_EQ(404, code);
	code = scrape(self, "POST", "/metrics");
	fprintf(stderr, "# POST /metrics: expected 405, got %d\n", code);
	EXPECT_EQ(405, code);
	code = scrape(self, "GET", "/metrics");
	EXPECT_EQ(200, code);
}

/* A worker that never answers costs a scrape a second, and only its own guest. */
TEST_F(metrics, a_stopped_worker_is_reported_and_the_rest_scraped)
{
	int w = guest_worker_pid(self->ctl, "g1"), code;
	uint64_t t0;

	ASSERT_GT(w, 0);
	ASSERT_EQ(0, kill(w, SIGSTOP));
	t0 = now_ms();
	code = scrape(self, "GET", "/metrics");
	fprintf(stderr, "# scrape with g1's worker stopped: HTTP %d after %llu ms (expected 200 within 3000)\n",
		code, (unsigned long long)(now_ms() - t0));
	EXPECT_EQ(200, code);
	EXPECT_LT(now_ms() - t0, 3000);
	EXPECT_SERIES(self->out, "pvio_guest_devices_answered{guest=\"g1\"}", 0);
	EXPECT_SERIES(self->out, "pvio_guest_devices_answered{guest=\"g2\"}", 1);
	EXPECT_SERIES(self->out, "pvio_device_info{guest=\"g2\",device=\"e0\",type=\"echo\",state=\"idle\"}", 1);
	EXPECT_EQ(0, sh("promtool check metrics < %s", self->out));
	ASSERT_EQ(0, kill(w, SIGCONT));
	EXPECT_EQ(200, scrape(self, "GET", "/metrics"));
	EXPECT_SERIES(self->out, "pvio_guest_devices_answered{guest=\"g1\"}", 1);
}

TEST_F(metrics, a_killed_worker_shows_as_a_restart)
{
	int w = guest_worker_pid(self->ctl, "g1"), w2 = w, i;

	ASSERT_GT(w, 0);
	ASSERT_EQ(0, kill(w, SIGKILL));
	for (i = 0; i < 100 && (w2 == w || w2 <= 0); i++) {
		msleep(50);
		w2 = guest_worker_pid(self->ctl, "g1");
	}
	ASSERT_NE(w, w2);
	ASSERT_EQ(200, scrape(self, "GET", "/metrics"));
	EXPECT_SERIES(self->out, "pvio_guest_worker_restarts_total{guest=\"g1\"}", 1);
	EXPECT_SERIES(self->out, "pvio_guest_worker_running{guest=\"g1\"}", 1);
	EXPECT_EQ(0, sh("promtool check metrics < %s", self->out));
}

/* Not the fixture's pviod: --check-config of a file with a bad address. */
TEST(bad_addresses_are_refused_with_their_line)
{
	static const char *const bad[] = { "localhost:9847", "127.0.0.1", "127.0.0.1:0",
					   "127.0.0.1:65536", "::1:9847", "[::1]9847", "1.2.3:80" };
	char dir[] = "/tmp/pvio-metrics-cfg-XXXXXX", cfg[96], out[96];
	unsigned int i;
	FILE *f;

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(cfg, sizeof(cfg), "%s/pviod.ini", dir);
	snprintf(out, sizeof(out), "%s/out.txt", dir);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc;

		f = fopen(cfg, "w");
		ASSERT_NE(NULL, f);
		fprintf(f, "[pviod]\nmetrics = %s\n", bad[i]);
		fclose(f);
		rc = sh("%s --check-config -c %s >%s 2>&1", pviod_bin(), cfg, out);
		fprintf(stderr, "# metrics = %s: expected exit 1 and 'pviod.ini:2: metrics must be', got %d, %s\n",
			bad[i], rc, log_contains(out, "pviod.ini:2: metrics must be") ? "that" : "not that");
		EXPECT_NE(0, rc);
		EXPECT_TRUE(log_contains(out, "pviod.ini:2: metrics must be"));
	}
	f = fopen(cfg, "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "[pviod]\nmetrics = [::1]:9847\n");
	fclose(f);
	EXPECT_EQ(0, sh("%s --check-config -c %s >%s 2>&1", pviod_bin(), cfg, out));
	sh("rm -rf %s", dir);
}

TEST_HARNESS_MAIN
