// SPDX-License-Identifier: GPL-2.0
/*
 * blk_inflight_test - pviod's block device (the fixture is blk_fixture.h's)
 * with requests in flight: a worker killed with writes in flight, the
 * guest's reset with reads in flight (nothing lands in the queue or guest
 * RAM afterwards), a worker killed or pviod upgraded while reads are
 * still at a throttled disk, a client gone during a discard served again
 * when it comes back, and 32 requests in flight on each of two queues
 * (one thread or two, doorbells or busy polling).
 *
 * Runs the ASan/UBSan build of pviod (PVIOD, default build/pviod-san).
 * The throttled disk and the discard need root (a blkio cgroup; a private
 * mount namespace and a tmpfs); those tests are skipped otherwise.
 */
#include "blk_fixture.h"

TEST_F(blk, worker_killed_with_requests_in_flight_recovers_after_reset)
{
	const uint32_t chunk = 64 << 10;
	static uint8_t img[1 << 20];
	struct pvfront_queue *q;
	char json[65536], *p;
	unsigned int i;
	int wpid;

	blk_up(_metadata, self, 1, NULL, all_features);
	q = &self->d->q[0];
	/* 1 MiB written and flushed: must survive. */
	fill(self->wbuf, 1u << 20, 13);
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_WRITE, 0, 0, self->wgpa, 1u << 20, 16, NULL),
		  "write");
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_FLUSH, 0, 0, 0, 0, 0, NULL), "flush");
	/* 32 more in flight elsewhere, then the worker dies. */
	fill(self->wbuf + (1u << 20), 32 * chunk, 14);
	for (i = 0; i < 32; i++)
		ASSERT_EQ(0, submit_rw(q, PVIO_BLK_OP_WRITE, 0, 8192 + i * (chunk / SECT),
				       self->wgpa + (1u << 20) + i * chunk, chunk, 1,
				       (uint16_t)(100 + i)));
	ASSERT_EQ(0, control(self->ctl, "list", json, sizeof(json)));
	p = strstr(json, "\"worker_pid\":");
	ASSERT_NE(NULL, p);
	wpid = atoi(p + 13);
	ASSERT_EQ(0, kill(wpid, SIGKILL));
	for (i = 0; i < 300 && !(pvfront_device_state(self->d) & PVIO_DEV_S_NEEDS_RESET); i++)
		msleep(10);
	ASSERT_TRUE(pvfront_device_state(self->d) & PVIO_DEV_S_NEEDS_RESET);
	ASSERT_EQ(0, pvfront_dev_reset(self->d, 3000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f, self->index, all_features, 1, &self->d));
	q = &self->d->q[0];
	memset(self->rbuf, 0, 1u << 20);
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_READ, 0, 0, self->rgpa, 1u << 20, 16, NULL),
		  "read after the crash");
	EXPECT_EQ(0, memcmp(self->wbuf, self->rbuf, 1u << 20));
	ASSERT_EQ(0, image_pread(self->img, img, sizeof(img), 0));
	EXPECT_EQ(0, memcmp(self->wbuf, img, sizeof(img)));
	/* And new traffic flows. */
	fill(self->wbuf, 4096, 15);
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_WRITE, 0, 4096, self->wgpa, 4096, 1, NULL),
		  "write after the crash");
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_READ, 0, 4096, self->rgpa, 4096, 1, NULL),
		  "read after the crash");
	EXPECT_EQ(0, memcmp(self->wbuf, self->rbuf, 4096));
}

TEST_F(blk, reset_with_reads_in_flight_writes_nothing_afterwards)
{
	const uint32_t mb = 1u << 20;
	const unsigned int n = 16;
	struct pvfront_queue *q;
	uint64_t big_gpa;
	uint32_t prod;
	uint8_t *big;
	unsigned int i, k;
	size_t bad = 0;

	blk_up(_metadata, self, 1, NULL, all_features);
	q = &self->d->q[0];
	big = pvfront_alloc(&self->f, (size_t)n * mb, 4096, &big_gpa);
	ASSERT_NE(NULL, big);
	fill(self->wbuf, mb, 17);
	for (i = 0; i < n; i++)
		ASSERT_EQ(PVIO_S_OK, rw(q, PVIO_BLK_OP_WRITE, 0, (uint64_t)i * 2048, self->wgpa, mb,
					1, NULL));
	/* 16 MiB of reads; reset as soon as pviod has taken them all. */
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, submit_rw(q, PVIO_BLK_OP_READ, 0, (uint64_t)i * 2048, big_gpa + i * mb,
				       mb, 1, (uint16_t)(500 + i)));
	for (k = 0; k < 2000 && pvio_le32_to_cpu(pvio_load_acquire(&q->sq_sh->cons)) != q->sq.idx; k++)
		usleep(100);
	ASSERT_EQ(0, pvfront_dev_reset(self->d, 5000));
	/* From now on pviod must not touch the queue or those buffers. */
	memset(big, 0x5a, (size_t)n * mb);
	prod = pvio_le32_to_cpu(pvio_read_once(q->cq_sh->prod));
	msleep(300);
	EXPECT_EQ(prod, pvio_le32_to_cpu(pvio_read_once(q->cq_sh->prod)));
	for (i = 0; i < n * mb; i++)
		bad += big[i] != 0x5a;
	fprintf(stderr, "# after the reset: expected 0 bytes of guest RAM written, got %zu; %s\n",
		bad, log_contains(self->log, "in flight finished and dropped") ?
		"pviod waited for reads in flight" : "all reads had completed before the reset");
	EXPECT_EQ(0, bad);

	ASSERT_EQ(0, pvfront_dev_setup(&self->f, self->index, all_features, 1, &self->d));
	q = &self->d->q[0];
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_READ, 0, 2048, self->rgpa, mb, 1, NULL),
		  "read after the reset");
	EXPECT_EQ(0, memcmp(self->wbuf, self->rbuf, mb));
}

/* Write @val to the file @dir/@name; 0 or -errno. */
static int put(const char *dir, const char *name, const char *val)
{
	char path[192];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* "MAJ:MIN" of the whole disk under @path's file system; false if none. */
static bool disk_of(const char *path, char *out, size_t len)
{
	char sys[96], buf[32];
	struct stat st;
	FILE *f;

	if (stat(path, &st) || !major(st.st_dev))
		return false;
	/* A partition's bios are throttled as its disk's. */
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/../dev", major(st.st_dev),
		 minor(st.st_dev));
	snprintf(buf, sizeof(buf), "/sys/dev/block/%u:%u/partition", major(st.st_dev),
		 minor(st.st_dev));
	if (access(buf, F_OK))
		snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/dev", major(st.st_dev),
			 minor(st.st_dev));
	f = fopen(sys, "r");
	if (!f)
		return false;
	if (!fgets(out, (int)len, f))
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	return out[0] != '\0';
}

/*
 * A killed worker's O_DIRECT reads are the disk's to finish: they land in
 * guest RAM when it is done, after the process has gone.  The worker
 * that takes over must not acknowledge the guest's reset before then, or
 * the guest reuses those pages and the late data lands in whatever it put
 * there (the fault campaign read a block back with another block's
 * contents).  The disk is throttled to RATE reads a second (a blkio
 * cgroup for pviod's processes) so the reads are still at the disk when
 * the worker dies; the test insists that they were.
 */
static void reads_at_the_disk(struct __test_metadata *_metadata, FIXTURE_DATA(blk) *self,
			      bool upgrade)
{
	enum { N = 24, RATE = 16 };
	struct pvfront_queue *q;
	char disk[32], rule[64];
	unsigned int i, k, pending = 0;
	uint64_t big_gpa, t_kill, t_ack;
	char json[4096];
	size_t bad = 0;
	uint8_t *big;
	int wpid;

	if (geteuid() != 0)
		SKIP(return, "needs root for a blkio cgroup");
	ASSERT_EQ(0, make_image(self->img, IMG_SIZE));
	if (!disk_of(self->img, disk, sizeof(disk)))
		SKIP(return, "%s is on no block device to throttle", self->dir);
	snprintf(self->cgroup, sizeof(self->cgroup), "/sys/fs/cgroup/blkio/pvio-blktest-%d",
		 (int)getpid());
	if (mkdir(self->cgroup, 0755)) {
		self->cgroup[0] = '\0';
		SKIP(return, "no blkio cgroup (v1) to throttle the disk: %s", strerror(errno));
	}
	snprintf(rule, sizeof(rule), "%s %d", disk, RATE);
	if (put(self->cgroup, "blkio.throttle.read_iops_device", rule))
		SKIP(return, "blkio.throttle.read_iops_device refuses '%s'", rule);
	ASSERT_EQ(0, start_pviod(self, self->img, 1, NULL));
	guest_up(_metadata, self, all_features, 1);
	q = &self->d->q[0];
	wpid = guest_worker_pid(self->ctl, "g");
	ASSERT_LT(0, wpid);
	/*
	 * This worker, and for a kill the supervisor (its next worker is
	 * forked in it).  Not for an upgrade: the new pviod's own reads of
	 * the image (its set-up) would wait behind the old worker's, and the
	 * old reads would be done before it could take anything over.
	 */
	snprintf(rule, sizeof(rule), "%d", (int)self->pid);
	if (!upgrade)
		ASSERT_EQ(0, put(self->cgroup, "cgroup.procs", rule));
	snprintf(rule, sizeof(rule), "%d", wpid);
	ASSERT_EQ(0, put(self->cgroup, "cgroup.procs", rule));

	/* N blocks on the disk (writes are not throttled), far apart. */
	big = pvfront_alloc(&self->f, N * 4096, 4096, &big_gpa);
	ASSERT_NE(NULL, big);
	for (i = 0; i < N; i++) {
		fill(self->wbuf, 4096, 40 + i);
		ASSERT_EQ(PVIO_S_OK, rw(q, PVIO_BLK_OP_WRITE, 0, (uint64_t)i * 1024, self->wgpa,
					4096, 1, NULL));
	}
	memset(big, 0, N * 4096);
	for (i = 0; i < N; i++)
		ASSERT_EQ(0, submit_rw(q, PVIO_BLK_OP_READ, 0, (uint64_t)i * 1024,
				       big_gpa + i * 4096, 4096, 1, (uint16_t)(700 + i)));
	for (k = 0; k < 20000 && pvio_le32_to_cpu(pvio_load_acquire(&q->sq_sh->cons)) != q->sq.idx;
	     k++)
		usleep(50);
	if (upgrade) {
		ASSERT_EQ(0, control(self->ctl, "upgrade", json, sizeof(json)));
		ASSERT_NE(NULL, strstr(json, "\"upgrading\""));
	} else {
		ASSERT_EQ(0, kill(wpid, SIGKILL));
	}
	t_kill = now_ms();
	for (i = 0; i < N; i++)
		pending += big[i * 4096 + 4095] == 0 && big[i * 4096 + 4094] == 0;
	fprintf(stderr, "# at the %s: expected reads still at the disk, got %u of %u\n",
		upgrade ? "upgrade" : "kill", pending, N);
	ASSERT_LT(0, pending);

	for (i = 0; i < 1000 && !(pvfront_device_state(self->d) & PVIO_DEV_S_NEEDS_RESET); i++)
		msleep(10);
	ASSERT_TRUE(pvfront_device_state(self->d) & PVIO_DEV_S_NEEDS_RESET);
	ASSERT_EQ(0, pvfront_dev_reset(self->d, 10000));
	t_ack = now_ms();
	/* The guest's pages again: nothing may write them from now on. */
	memset(big, 0x5a, N * 4096);
	msleep(1000 * N / RATE + 500);
	for (i = 0; i < N * 4096; i++)
		bad += big[i] != 0x5a;
	fprintf(stderr, "# reset acknowledged %llu ms after the %s; after it: expected 0 bytes of guest RAM written, got %zu\n",
		(unsigned long long)(t_ack - t_kill), upgrade ? "upgrade" : "kill", bad);
	EXPECT_EQ(0, bad);
	EXPECT_TRUE(log_contains(self->log, "the last worker's I/O finished"));
	if (upgrade)
		EXPECT_TRUE(log_contains(self->log, "g: upgrade: the last worker's I/O is still in the kernel"));

	ASSERT_EQ(0, pvfront_dev_setup(&self->f, self->index, all_features, 1, &self->d));
	q = &self->d->q[0];
	fill(self->wbuf, 4096, 40 + N - 1);
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_READ, 0, (uint64_t)(N - 1) * 1024, self->rgpa, 4096,
				1, NULL), "read after the reset");
	EXPECT_EQ(0, memcmp(self->wbuf, self->rbuf, 4096));
}

TEST_F(blk, worker_killed_with_reads_at_the_disk_writes_nothing_after_the_reset)
{
	reads_at_the_disk(_metadata, self, false);
}

/*
 * The same across an upgrade in place: the exec does not wait for the
 * killed workers' reads (no guest waits for another's disk), so the
 * drain pipe is handed to the new pviod, whose worker takes the window
 * over only once it hangs up.  Without that the reset was acknowledged
 * at once and the reads landed after it.
 */
TEST_F(blk, upgrade_with_reads_at_the_disk_writes_nothing_after_the_reset)
{
	reads_at_the_disk(_metadata, self, true);
}

/*
 * Without FLUSH, a DISCARD is followed by an fdatasync.  A client that
 * leaves while the DISCARD is in flight must not leave that second phase
 * prepared with nobody to submit it: the stop would wait for it forever,
 * and the guest's next connection would never be served (the review
 * found it, fuzz_blk too).  The client leaves as soon as pviod has taken
 * the request; the test insists that the request was in flight then.
 */
TEST_F(blk, client_gone_during_a_discard_without_flush_is_served_again)
{
	const uint64_t size = 256ull << 20, mb = 1u << 20;
	const uint64_t no_flush = all_features & ~(1ull << PVIO_BLK_F_FLUSH);
	struct pvfront_queue *q;
	char opts[32], img[128];
	unsigned int attempt, k;
	bool in_flight = false;
	uint64_t off;
	int fd;

	if (geteuid() != 0)
		SKIP(return, "needs root to mount a tmpfs");
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		SKIP(return, "no private mount namespace: %s", strerror(errno));
	ASSERT_EQ(0, mkdir(self->mnt, 0700));
	snprintf(opts, sizeof(opts), "size=%llu", (unsigned long long)(size + (64ull << 20)));
	ASSERT_EQ(0, mount("pvio-discard", self->mnt, "tmpfs", 0, opts));
	self->mounted = true;
	snprintf(img, sizeof(img), "%s/disk.img", self->mnt);
	ASSERT_EQ(0, make_image(img, size));
	ASSERT_EQ(0, start_pviod(self, img, 1, "cache = writeback\n"));
	for (attempt = 1; attempt <= 5 && !in_flight; attempt++) {
		/* Every page allocated: punching them out takes a while. */
		fd = open(img, O_WRONLY);
		ASSERT_LE(0, fd);
		for (off = 0; off < size; off += mb)
			ASSERT_EQ(0, fallocate(fd, 0, (off_t)off, (off_t)mb));
		close(fd);
		guest_up(_metadata, self, no_flush, 1);
		q = &self->d->q[0];
		ASSERT_EQ(0, submit_range(q, PVIO_BLK_OP_DISCARD, 0, 0, size / SECT, 77));
		for (k = 0; k < 2000 && pvio_le32_to_cpu(pvio_load_acquire(&q->sq_sh->cons)) !=
					q->sq.idx; k++)
			usleep(50);
		pvfront_close(&self->f);
		for (k = 0; k < 100 && log_count(self->log, "window released") < (int)attempt; k++)
			msleep(10);
		in_flight = log_count(self->log, "in flight: dropped as they finish") >= (int)attempt;
		fprintf(stderr, "# attempt %u: the client left with the discard %s\n", attempt,
			in_flight ? "in flight" : "already complete (again)");
	}
	ASSERT_TRUE(in_flight) {
		TH_LOG("the discard never was in flight when the client left: the test proved nothing");
	}
	/* The guest comes back (QEMU restarted): its device is served. */
	ASSERT_EQ(0, pvfront_connect(&self->f, self->sock, RAM_SIZE));
	k = pvfront_wait_ready(&self->f, 5000) == 0;
	fprintf(stderr, "# reconnect after the client left mid-discard: expected READY, got %s\n",
		k ? "READY" : "no window within 5 s");
	ASSERT_TRUE(k);
	pvfront_close(&self->f);
	guest_up(_metadata, self, no_flush, 1);
	fill(self->wbuf, mb, 23);
	EXPECT_ST(PVIO_S_OK, rw(&self->d->q[0], PVIO_BLK_OP_WRITE, 0, 0, self->wgpa, mb, 1, NULL),
		  "write after the reconnect");
	EXPECT_ST(PVIO_S_OK, rw(&self->d->q[0], PVIO_BLK_OP_READ, 0, 0, self->rgpa, mb, 1, NULL),
		  "read after the reconnect");
	EXPECT_EQ(0, memcmp(self->wbuf, self->rbuf, mb));
}

/* Keep @qd requests in flight on @q until @n are done; 0 or failures. */
static int run_qd(struct pvfront_queue *q, uint8_t op, unsigned int n, unsigned int qd,
		  uint64_t first_sector, uint64_t gpa, uint32_t bs)
{
	unsigned int sent = 0, done = 0, bad = 0, i;
	struct pvio_cpl c[64];
	int k, idle = 0;

	while (done < n && idle < 250) {
		while (sent < n && sent - done < qd) {
			k = submit_rw(q, op, 0, first_sector + (uint64_t)sent * (bs / SECT),
				      gpa + (uint64_t)sent * bs, bs, 1u << (sent % 4), (uint16_t)sent);
			if (k == -EAGAIN)
				break;		/* SQ full: reap first */
			if (k)
				return -1;
			sent++;
		}
		k = pvfront_reap(q, c, 64);
		if (k <= 0) {
			pvfront_wait(q, 20);
			idle++;
			continue;
		}
		for (i = 0; i < (unsigned int)k; i++)
			bad += pvio_le32_to_cpu(c[i].status) != PVIO_S_OK;
		done += (unsigned int)k;
	}
	if (done < n)
		fprintf(stderr, "# %u of %u completions\n", done, n);
	return done < n ? -1 : (int)bad;
}

/* 2 MiB written and read back at QD32 on each of two queues. */
static void qd32_two_queues(struct __test_metadata *_metadata, FIXTURE_DATA(blk) *self,
			    const char *extra)
{
	const uint32_t bs = 16 << 10;
	const unsigned int n = 128;		/* 2 MiB per queue */
	static uint8_t img[2 << 20];
	unsigned int qi;
	char json[65536];

	blk_up(_metadata, self, 2, extra, all_features);
	fill(self->wbuf, BUF_SIZE, 16);
	for (qi = 0; qi < 2; qi++) {
		int bad = run_qd(&self->d->q[qi], PVIO_BLK_OP_WRITE, n, 32,
				 (uint64_t)qi * (n * bs / SECT), self->wgpa + (uint64_t)qi * n * bs, bs);

		fprintf(stderr, "# queue %u: %u writes at QD32: expected 0 failures, got %d\n",
			qi, n, bad);
		EXPECT_EQ(0, bad);
	}
	memset(self->rbuf, 0, BUF_SIZE);
	for (qi = 0; qi < 2; qi++) {
		int bad = run_qd(&self->d->q[qi], PVIO_BLK_OP_READ, n, 32,
				 (uint64_t)qi * (n * bs / SECT), self->rgpa + (uint64_t)qi * n * bs, bs);

		fprintf(stderr, "# queue %u: %u reads at QD32: expected 0 failures, got %d\n",
			qi, n, bad);
		EXPECT_EQ(0, bad);
	}
	EXPECT_EQ(0, memcmp(self->wbuf, self->rbuf, 2 * n * bs));
	ASSERT_EQ(0, image_pread(self->img, img, sizeof(img), 0));
	EXPECT_EQ(0, memcmp(self->wbuf, img, sizeof(img)));
	ASSERT_EQ(0, control(self->ctl, "status g b0", json, sizeof(json)));
	EXPECT_EQ(2 * n, queue_counter(json, 0, "requests"));
	EXPECT_EQ(2 * n, queue_counter(json, 1, "requests"));
	EXPECT_EQ(2ll * n * bs, queue_counter(json, 1, "bytes"));
}

TEST_F(blk, qd32_on_two_queues_with_verification)
{
	qd32_two_queues(_metadata, self, NULL);
}

/*
 * The same on a worker with two threads: queue 1's io_uring ring, its
 * completions and its doorbell are thread 1's, queue 0's the main
 * thread's.
 */
TEST_F(blk, qd32_on_two_queues_served_by_two_threads)
{
	self->guest_extra = "threads = 2\n";
	qd32_two_queues(_metadata, self, NULL);
	EXPECT_TRUE(log_contains(self->log, "2 thread(s)"));
}

/* Queue 1 busy-polled, queue 0 woken by doorbells: both serve the same I/O. */
TEST_F(blk, qd32_with_one_queue_busy_polled)
{
	qd32_two_queues(_metadata, self, "poll = 1\n");
	fprintf(stderr, "# doorbells: queue 0 (event) %llu, queue 1 (polled) expected at most 1, got %llu\n",
		(unsigned long long)self->d->q[0].kicks, (unsigned long long)self->d->q[1].kicks);
	EXPECT_LT(1, self->d->q[0].kicks);
	EXPECT_GE(1, self->d->q[1].kicks);
}

/* Thread 1 busy-polls queue 1, the main thread sleeps on queue 0's doorbells. */
TEST_F(blk, qd32_with_queue_1_busy_polled_by_its_own_thread)
{
	self->guest_extra = "threads = 2\n";
	qd32_two_queues(_metadata, self, "poll = 1\n");
	fprintf(stderr, "# doorbells: queue 0 (event) %llu, queue 1 (polled) expected at most 1, got %llu\n",
		(unsigned long long)self->d->q[0].kicks, (unsigned long long)self->d->q[1].kicks);
	EXPECT_LT(1, self->d->q[0].kicks);
	EXPECT_GE(1, self->d->q[1].kicks);
}

TEST_HARNESS_MAIN
