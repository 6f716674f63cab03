// SPDX-License-Identifier: GPL-2.0
/*
 * threads_test - one guest's worker on two threads (`threads = 2`,
 * core/threads.h): each queue is served by the thread that owns it, the
 * sandbox holds for every thread, a device a queue thread finds broken is
 * marked by the main thread, and a guest that toggles every control
 * field of one device while its other device runs verified I/O on both
 * threads neither crashes the worker nor disturbs that I/O.
 *
 *   guest g   echo0: 2 queues (queue 0 on the main thread, 1 on thread 1)
 *             echo1: 2 queues (the same), the one that is attacked
 *
 * run.sh runs it twice: on the ASan/UBSan build of pviod and on the TSan
 * build (PVIOD env), which reports any data race between the threads.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pvio_front.h"
#include "kselftest_harness.h"
#include "test_util.h"

#define RAM_SIZE	(16u << 20)

/* Verified echo round trips on one queue until told to stop. */
struct pounder {
	struct pvfront *f;
	struct pvfront_queue *q;
	pthread_t thread;
	volatile int stop;
	unsigned int seed;
	uint64_t rounds, errors;
};

static void *pounder_main(void *arg)
{
	struct pounder *p = arg;
	uint64_t gin, gout;
	unsigned char *in = pvfront_alloc(p->f, 4096, 64, &gin);
	unsigned char *out = pvfront_alloc(p->f, 4096, 64, &gout);
	uint16_t id = 0;

	while (!p->stop) {
		if (!in || !out || echo_once(p->f, p->q, in, gin, out, gout, 4096, id++,
					     p->seed + (unsigned int)p->rounds))
			p->errors++;
		p->rounds++;
	}
	return NULL;
}

FIXTURE(thr) {
	char dir[64], cfg[96], log[96], sock[96], ctl[96];
	pid_t pid;
	int wpid;
	struct pvfront f;
	struct pvfront_dev *d0, *d1;
	struct pounder p[2];
};

FIXTURE_SETUP(thr)
{
	FILE *f;

	strcpy(self->dir, "/tmp/pvio-thr-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->cfg, sizeof(self->cfg), "%s/pviod.ini", self->dir);
	snprintf(self->log, sizeof(self->log), "%s/pviod.log", self->dir);
	snprintf(self->sock, sizeof(self->sock), "%s/g.sock", self->dir);
	snprintf(self->ctl, sizeof(self->ctl), "%s/control.sock", self->dir);
	f = fopen(self->cfg, "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "[pviod]\ncontrol = %s\nheartbeat_ms = 50\n\n"
		"[guest g]\nsocket = %s\nthreads = 2\n\n"
		"[device g echo0]\ntype = echo\nqueues = 2\nqueue_size = 64\n\n"
		"[device g echo1]\ntype = echo\nqueues = 2\nqueue_size = 64\n",
		self->ctl, self->sock);
	fclose(f);
	self->pid = pviod_start(self->cfg, self->log, self->ctl);
	ASSERT_LT(0, self->pid);
	ASSERT_EQ(0, pvfront_connect(&self->f, self->sock, RAM_SIZE));
	ASSERT_EQ(0, pvfront_wait_ready(&self->f, 5000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f, 0, 0, 2, &self->d0));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f, 1, 0, 2, &self->d1));
	self->wpid = guest_worker_pid(self->ctl, "g");
	ASSERT_LT(0, self->wpid);
}

FIXTURE_TEARDOWN(thr)
{
	char cmd[160];
	int i;

	for (i = 0; i < 2; i++) {
		if (self->p[i].f && !self->p[i].stop) {
			self->p[i].stop = 1;
			pthread_join(self->p[i].thread, NULL);
		}
	}
	pvfront_close(&self->f);
	if (pviod_stop(&self->pid, self->log))
		_metadata->passed = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	if (!getenv("PVIO_KEEP"))
		(void)system(cmd);
}

static void pound(FIXTURE_DATA(thr) *self, struct pvfront_dev *d)
{
	int i;

	for (i = 0; i < 2; i++) {
		self->p[i].f = &self->f;
		self->p[i].q = &d->q[i];
		self->p[i].seed = 1000u * (unsigned int)i;
		pthread_create(&self->p[i].thread, NULL, pounder_main, &self->p[i]);
	}
}

static void pound_stop(FIXTURE_DATA(thr) *self)
{
	int i;

	for (i = 0; i < 2; i++) {
		self->p[i].stop = 1;
		pthread_join(self->p[i].thread, NULL);
	}
}

/* The worker's threads: their TIDs in @tid (at most @max); how many. */
static int tasks(pid_t pid, int *tid, int max)
{
	char path[64];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && n < max)
			tid[n++] = atoi(e->d_name);
	closedir(d);
	return n;
}

/* A thread's time on a CPU so far, in ns (schedstat), or -1. */
static long long task_ns(pid_t pid, int tid)
{
	char path[96];
	long long ns = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)pid, tid);
	f = fopen(path, "r");
	if (f && fscanf(f, "%lld", &ns) != 1)
		ns = -1;
	if (f)
		fclose(f);
	return ns;
}

/* The TID of @pid's thread whose name is @comm, or -1. */
static int task_named(pid_t pid, const char *comm)
{
	char path[96], name[32];
	int tid[16], n, i, found = -1;
	FILE *f;

	n = tasks(pid, tid, 16);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, tid[i]);
		f = fopen(path, "r");
		if (f && fgets(name, sizeof(name), f)) {
			name[strcspn(name, "\n")] = '\0';
			if (!strcmp(name, comm))
				found = tid[i];
		}
		if (f)
			fclose(f);
	}
	return found;
}

TEST_F(thr, each_queue_runs_on_its_own_thread_and_every_thread_is_sandboxed)
{
	long long before[2], after[2];
	int tid[16], n, i, qt;

	/* The main thread is the worker's first; the queue thread is named. */
	qt = task_named(self->wpid, "pviod:g/1");
	fprintf(stderr, "# worker %d: queue thread 'pviod:g/1' expected, got TID %d\n",
		self->wpid, qt);
	ASSERT_LT(0, qt);
	tid[0] = self->wpid;
	tid[1] = qt;
	for (i = 0; i < 2; i++)
		before[i] = task_ns(self->wpid, tid[i]);
	pound(self, self->d0);
	msleep(2000);
	pound_stop(self);
	for (i = 0; i < 2; i++) {
		after[i] = task_ns(self->wpid, tid[i]);
		fprintf(stderr, "# thread %d: %lld us on a CPU while both queues ran (expected > 20000)\n",
			tid[i], (after[i] - before[i]) / 1000);
		/* Both threads did real work: the queue thread is no bystander. */
		EXPECT_LT(20000000LL, after[i] - before[i]);
	}
	fprintf(stderr, "# queue 0: %llu round trips, %llu errors; queue 1: %llu, %llu (expected > 100 each, 0 errors)\n",
		(unsigned long long)self->p[0].rounds, (unsigned long long)self->p[0].errors,
		(unsigned long long)self->p[1].rounds, (unsigned long long)self->p[1].errors);
	for (i = 0; i < 2; i++) {
		EXPECT_LT(100, self->p[i].rounds);
		EXPECT_EQ(0, self->p[i].errors);
	}
	/* The sandbox is every thread's (a sanitizer's own thread too). */
	n = tasks(self->wpid, tid, 16);
	for (i = 0; i < n; i++) {
		fprintf(stderr, "# thread %d: Uid %ld NoNewPrivs %ld Seccomp %ld (expected non-zero as root, 1, 2)\n",
			tid[i], proc_status_num(self->wpid, tid[i], "Uid"),
			proc_status_num(self->wpid, tid[i], "NoNewPrivs"),
			proc_status_num(self->wpid, tid[i], "Seccomp"));
		if (geteuid() == 0)
			EXPECT_NE(0, proc_status_num(self->wpid, tid[i], "Uid"));
		EXPECT_EQ(1, proc_status_num(self->wpid, tid[i], "NoNewPrivs"));
		EXPECT_EQ(2, proc_status_num(self->wpid, tid[i], "Seccomp"));
	}
}

/*
 * A chain outside guest RAM on queue 1 is found by thread 1, which only
 * raises it: the main thread marks the device broken, both queues stop,
 * and a reset brings both back.
 */
TEST_F(thr, a_device_a_queue_thread_finds_broken_is_marked_by_the_main_thread)
{
	struct pvio_desc d[2];
	uint64_t gin, gout;
	unsigned char *in = pvfront_alloc(&self->f, 4096, 64, &gin);
	unsigned char *out = pvfront_alloc(&self->f, 4096, 64, &gout);
	uint32_t reason;
	int i;

	ASSERT_EQ(0, echo_once(&self->f, &self->d1->q[1], in, gin, out, gout, 4096, 1, 1));
	fill_desc(&d[0], gin, 64, 2, PVIO_DESC_F_NEXT);
	fill_desc(&d[1], RAM_SIZE + 4096, 64, 2, PVIO_DESC_F_WRITE);
	ASSERT_EQ(0, pvfront_submit(&self->d1->q[1], d, 2));
	pvfront_kick(&self->d1->q[1]);
	ASSERT_EQ(0, wait_dev_state(self->d1, PVIO_DEV_S_BROKEN, 3000));
	reason = pvio_le32_to_cpu(self->d1->desc->broken_reason);
	fprintf(stderr, "# broken reason: expected %u, got %u\n", PVIO_BROKEN_ADDR, reason);
	EXPECT_EQ(PVIO_BROKEN_ADDR, reason);
	/*
	 * The worker logs before it writes the state, but its log reaches the
	 * file through the supervisor's relay, which may come later.
	 */
	for (i = 0; i < 200 && !log_count(self->log, "device broken (reason"); i++)
		msleep(10);
	EXPECT_EQ(1, log_count(self->log, "device broken (reason"));
	/* Queue 0, on the main thread, is stopped too. */
	EXPECT_NE(0, echo_once(&self->f, &self->d1->q[0], in, gin, out, gout, 64, 3, 3));
	/* The other device never noticed. */
	EXPECT_EQ(0, echo_once(&self->f, &self->d0->q[1], in, gin, out, gout, 4096, 4, 4));
	ASSERT_EQ(0, pvfront_dev_reset(self->d1, 3000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f, 1, 0, 2, &self->d1));
	for (i = 0; i < 2; i++)
		EXPECT_EQ(0, echo_once(&self->f, &self->d1->q[i], in, gin, out, gout, 4096,
				       (uint16_t)(5 + i), 5));
}

struct toggler {
	struct pvfront *f;
	struct pvfront_dev *d;
	unsigned long iters;	/* at least this many */
	uint64_t ms;		/* and for at least this long */
};

/* Every field echo1's driver writes, at random, with doorbells on its queues. */
static void *toggler_main(void *arg)
{
	struct toggler *t = arg;
	struct pvio_dev_desc *desc = t->d->desc;
	struct pvio_queue_desc *qd = (void *)((char *)t->f->win +
					      pvio_le32_to_cpu(desc->queue_off));
	uint32_t rr = pvio_le32_to_cpu(desc->reset_request);
	uint64_t one = 1, t0 = now_ms();
	unsigned long i;

	for (i = 0; i < t->iters || now_ms() - t0 < t->ms; i++) {
		pvio_write_once(desc->driver_status,
				pvio_cpu_to_le32(i & 1 ? 0x0f : (i & 2 ? 0x8f : 0)));
		pvio_write_once(desc->num_queues, pvio_cpu_to_le16(i % 4));
		pvio_write_once(qd[i % 2].enabled, pvio_cpu_to_le32(i & 4 ? 1 : 0));
		pvio_write_once(desc->guest_features, pvio_cpu_to_le64(i & 8 ? ~0ull : 0));
		pvio_store_release(&desc->reset_request, pvio_cpu_to_le32(++rr));
		if (i % 512 == 0)
			pvfront_kick_config(t->f);
		if (i % 64 == 0 && write(t->d->q[(i / 64) % 2].kick_fd, &one, sizeof(one)) < 0)
			break;
	}
	t->iters = i;
	return NULL;
}

TEST_F(thr, toggling_one_device_leaves_the_other_devices_threads_serving)
{
	struct toggler tg = { .f = &self->f, .d = self->d1, .iters = 1000000, .ms = 3000 };
	uint64_t gin, gout, r0[2], rs[2], t0;
	unsigned char *in = pvfront_alloc(&self->f, 4096, 64, &gin);
	unsigned char *out = pvfront_alloc(&self->f, 4096, 64, &gout);
	pthread_t t;
	int i, ok;

	pound(self, self->d0);
	msleep(100);
	rs[0] = self->p[0].rounds;
	rs[1] = self->p[1].rounds;
	t0 = now_ms();
	ASSERT_EQ(0, pthread_create(&t, NULL, toggler_main, &tg));
	pthread_join(t, NULL);
	r0[0] = self->p[0].rounds;
	r0[1] = self->p[1].rounds;
	fprintf(stderr, "# %lu toggles in %llu ms; echo0 meanwhile: queue 0 %llu round trips, queue 1 %llu (expected some on each)\n",
		tg.iters, (unsigned long long)(now_ms() - t0),
		(unsigned long long)(r0[0] - rs[0]), (unsigned long long)(r0[1] - rs[1]));
	msleep(500);
	pound_stop(self);
	fprintf(stderr, "# echo0: errors on queue 0 %llu, queue 1 %llu (expected 0); round trips after the attack %llu and %llu (expected some)\n",
		(unsigned long long)self->p[0].errors, (unsigned long long)self->p[1].errors,
		(unsigned long long)(self->p[0].rounds - r0[0]),
		(unsigned long long)(self->p[1].rounds - r0[1]));
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(0, self->p[i].errors);
		EXPECT_LT(rs[i], r0[i]);
		EXPECT_LT(r0[i], self->p[i].rounds);
	}
	fprintf(stderr, "# worker: expected %d, got %d\n", self->wpid,
		guest_worker_pid(self->ctl, "g"));
	EXPECT_EQ(self->wpid, guest_worker_pid(self->ctl, "g"));
	EXPECT_EQ(0, log_count(self->log, "killed by signal"));
	/* echo1 works again after a clean reset (or says why it cannot). */
	ok = !pvfront_dev_reset(self->d1, 3000) && !pvfront_dev_setup(&self->f, 1, 0, 2, &self->d1);
	EXPECT_TRUE(ok);
	if (ok)
		for (i = 0; i < 2; i++)
			EXPECT_EQ(0, echo_once(&self->f, &self->d1->q[i], in, gin, out, gout,
					       4096, (uint16_t)(9 + i), 9));
}

TEST(threads_key_out_of_range_is_refused_with_its_line)
{
	char dir[] = "/tmp/pvio-thrcfg-XXXXXX", cfg[96], log[96], cmd[400];
	static const char *const bad[] = { "0", "17", "two" };
	unsigned int i;
	FILE *f;

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(cfg, sizeof(cfg), "%s/pviod.ini", dir);
	snprintf(log, sizeof(log), "%s/out", dir);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = fopen(cfg, "w");
		ASSERT_NE(NULL, f);
		fprintf(f, "[guest g]\nsocket = %s/g.sock\nthreads = %s\n\n"
			"[device g e]\ntype = echo\n", dir, bad[i]);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "%s --check-config -c %s >%s 2>&1", pviod_bin(), cfg, log);
		EXPECT_NE(0, system(cmd));
		if (!log_contains(log, "pviod.ini:3: guest g: threads must be 1..16"))
			fprintf(stderr, "# threads = %s: expected 'pviod.ini:3: guest g: threads must be 1..16' in the output\n",
				bad[i]);
		EXPECT_TRUE(log_contains(log, "pviod.ini:3: guest g: threads must be 1..16"));
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)system(cmd);
}

TEST_HARNESS_MAIN
