// SPDX-License-Identifier: GPL-2.0
/*
 * blk_test - pviod's block device driven natively by libpvio-front, on real
 * image files under a temporary directory: every operation with its data
 * checked in guest memory and in the image itself (pread), multi-segment
 * requests, FUA and FLUSH, discard and write-zeroes giving back blocks, the
 * serial, a read-only device, every request the class refuses (and the
 * device working on afterwards), a structurally bad chain breaking the
 * device, resize through the control socket with its config interrupt,
 * ENOSPC from a small tmpfs, O_DIRECT alignment, a device reset with
 * reads in flight (nothing lands in the queue or guest RAM afterwards), a
 * worker killed with requests in flight, 32 requests in flight on each of
 * two queues, and a host block device (a loop device).
 *
 * Runs the ASan/UBSan build of pviod (PVIOD, default build/pviod-san).
 * The ENOSPC and loop device tests need root (a private mount namespace and
 * a tmpfs; losetup); they are skipped otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pvio_front.h"
#include "kselftest_harness.h"
#include "test_util.h"

#define RAM_SIZE	(32u << 20)
#define IMG_SIZE	(16u << 20)
#define BUF_SIZE	(4u << 20)	/* two guest buffers of this size */
#define SECT		512u

FIXTURE(blk) {
	char dir[64], cfg[96], log[96], sock[96], ctl[96], img[96], mnt[96];
	char loopdev[32];		/* a loop device we set up, or "" */
	const char *guest_extra;	/* keys for [guest g], or NULL */
	char cgroup[96];		/* a blkio cgroup we made, or "" */
	pid_t pid;
	int sanitizer_report;
	bool mounted;
	struct pvfront f;
	struct pvfront_dev *d;
	struct pvio_blk_config *config;
	unsigned int index;
	uint8_t *wbuf, *rbuf;		/* guest RAM */
	uint64_t wgpa, rgpa;
};

FIXTURE_SETUP(blk)
{
	self->pid = -1;
	strcpy(self->dir, "/tmp/pvio-blktest-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->cfg, sizeof(self->cfg), "%s/pviod.ini", self->dir);
	snprintf(self->log, sizeof(self->log), "%s/pviod.log", self->dir);
	snprintf(self->sock, sizeof(self->sock), "%s/g.sock", self->dir);
	snprintf(self->ctl, sizeof(self->ctl), "%s/control.sock", self->dir);
	snprintf(self->img, sizeof(self->img), "%s/disk.img", self->dir);
	snprintf(self->mnt, sizeof(self->mnt), "%s/small", self->dir);
}

FIXTURE_TEARDOWN(blk)
{
	char cmd[160];

	pvfront_close(&self->f);
	if (pviod_stop(&self->pid, self->log) || self->sanitizer_report)
		_metadata->passed = 0;
	if (self->mounted)
		umount2(self->mnt, MNT_DETACH);
	if (self->loopdev[0]) {
		snprintf(cmd, sizeof(cmd), "losetup -d %s", self->loopdev);
		(void)system(cmd);
	}
	if (self->cgroup[0] && rmdir(self->cgroup))
		fprintf(stderr, "# rmdir %s: %s\n", self->cgroup, strerror(errno));
	if (self->dir[0] && !getenv("PVIO_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
		(void)system(cmd);
	}
}

/* ---- helpers ------------------------------------------------------------- */

static void fill(uint8_t *b, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static int make_image(const char *path, uint64_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Start pviod on @img with extra device keys; 0, or -1 if it exited. */
static int start_pviod(FIXTURE_DATA(blk) *self, const char *img,
		       unsigned int queues, const char *extra)
{
	FILE *f;

	f = fopen(self->cfg, "w");
	if (!f)
		return -1;
	fprintf(f, "[pviod]\ncontrol = %s\nheartbeat_ms = 50\n\n[guest g]\nsocket = %s\n%s\n"
		"[device g b0]\ntype = blk\npath = %s\nqueues = %u\nqueue_size = 64\n%s",
		self->ctl, self->sock, self->guest_extra ? self->guest_extra : "", img, queues,
		extra ? extra : "");
	fclose(f);
	self->pid = pviod_start(self->cfg, self->log, self->ctl);
	return self->pid > 0 ? 0 : -1;
}

static const uint64_t all_features = (1ull << PVIO_BLK_F_FLUSH) | (1ull << PVIO_BLK_F_FUA) |
	(1ull << PVIO_BLK_F_DISCARD) | (1ull << PVIO_BLK_F_WRITE_ZEROES) | (1ull << PVIO_BLK_F_MQ);

static void guest_up(struct __test_metadata *_metadata, FIXTURE_DATA(blk) *self,
		     uint64_t features, unsigned int nq)
{
	struct pvio_dev_desc *dd;

	ASSERT_EQ(0, pvfront_connect(&self->f, self->sock, RAM_SIZE));
	ASSERT_EQ(0, pvfront_wait_ready(&self->f, 5000));
	dd = pvfront_find(&self->f, PVIO_DEV_BLK, 0, &self->index);
	ASSERT_NE(NULL, dd);
	self->config = (struct pvio_blk_config *)((char *)self->f.win +
						  pvio_le32_to_cpu(dd->config_off));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f, self->index, features, nq, &self->d));
	self->wbuf = pvfront_alloc(&self->f, BUF_SIZE, 4096, &self->wgpa);
	self->rbuf = pvfront_alloc(&self->f, BUF_SIZE, 4096, &self->rgpa);
	ASSERT_NE(NULL, self->wbuf);
	ASSERT_NE(NULL, self->rbuf);
}

/* Image + pviod + guest: what most tests start with. */
static void blk_up(struct __test_metadata *_metadata, FIXTURE_DATA(blk) *self,
		   unsigned int queues, const char *extra, uint64_t features)
{
	ASSERT_EQ(0, make_image(self->img, IMG_SIZE));
	ASSERT_EQ(0, start_pviod(self, self->img, queues, extra));
	guest_up(_metadata, self, features, queues);
}

static void hdr_slot(struct pvio_desc *d, uint8_t op, uint8_t rflags,
		     uint64_t sector, uint16_t id, bool more)
{
	struct pvio_blk_req h = {
		.sector = pvio_cpu_to_le64(sector), .op = op, .rflags = rflags,
		.id = pvio_cpu_to_le16(id),
		.flags = pvio_cpu_to_le16(PVIO_DESC_F_HDR | (more ? PVIO_DESC_F_NEXT : 0)),
	};

	memcpy(d, &h, sizeof(*d));
}

/* A data request: [gpa, gpa + len) cut into @nseg equal segments. */
static int submit_rw(struct pvfront_queue *q, uint8_t op, uint8_t rflags,
		     uint64_t sector, uint64_t gpa, uint32_t len, unsigned int nseg,
		     uint16_t id)
{
	struct pvio_desc d[PVIO_MAX_CHAIN];
	uint32_t per = nseg ? len / nseg : 0, off = 0;
	bool wr = op != PVIO_BLK_OP_WRITE;
	unsigned int i;
	int ret;

	hdr_slot(&d[0], op, rflags, sector, id, nseg > 0);
	for (i = 0; i < nseg; i++) {
		uint32_t l = i == nseg - 1 ? len - off : per;

		d[i + 1].addr = pvio_cpu_to_le64(gpa + off);
		d[i + 1].len = pvio_cpu_to_le32(l);
		d[i + 1].id = pvio_cpu_to_le16(id);
		d[i + 1].flags = pvio_cpu_to_le16((wr ? PVIO_DESC_F_WRITE : 0) |
						  (i < nseg - 1 ? PVIO_DESC_F_NEXT : 0));
		off += l;
	}
	ret = pvfront_submit(q, d, nseg + 1);
	if (ret)
		return ret;	/* -EAGAIN: no room in the SQ now */
	pvfront_kick(q);
	return 0;
}

static int submit_range(struct pvfront_queue *q, uint8_t op, uint8_t rflags,
			uint64_t sector, uint64_t nr, uint16_t id)
{
	struct pvio_desc d[2];
	struct pvio_blk_range r = {
		.nr_sectors = pvio_cpu_to_le64(nr), .id = pvio_cpu_to_le16(id),
		.flags = pvio_cpu_to_le16(PVIO_DESC_F_HDR),
	};

	hdr_slot(&d[0], op, rflags, sector, id, true);
	memcpy(&d[1], &r, sizeof(r));
	if (pvfront_submit(q, d, 2))
		return -1;
	pvfront_kick(q);
	return 0;
}

static int reap_one(struct pvfront_queue *q, struct pvio_cpl *c, int ms)
{
	int n, waited = 0;

	for (;;) {
		n = pvfront_reap(q, c, 1);
		if (n)
			return n == 1 ? 0 : -1;
		if (waited >= ms)
			return -1;
		pvfront_wait(q, 20);
		waited += 20;
	}
}

static const char *const st_name[] = { "OK", "IOERR", "UNSUPP", "INVAL", "RANGE",
				       "ROFS", "NOSPC", "AGAIN" };

static const char *sname(int st)
{
	return st >= 0 && st <= 7 ? st_name[st] : "?";
}

/* Completion status of one request, -1 on timeout; *@len its length. */
static int wait_status(struct pvfront_queue *q, uint16_t id, uint32_t *len)
{
	struct pvio_cpl c;

	if (reap_one(q, &c, 3000))
		return -1;
	if (pvio_le16_to_cpu(c.id) != id)
		return -2;
	if (len)
		*len = pvio_le32_to_cpu(c.len);
	return (int)pvio_le32_to_cpu(c.status);
}

static int rw(struct pvfront_queue *q, uint8_t op, uint8_t rflags, uint64_t sector,
	      uint64_t gpa, uint32_t len, unsigned int nseg, uint32_t *clen)
{
	static uint16_t id;

	id++;
	if (submit_rw(q, op, rflags, sector, gpa, len, nseg, id))
		return -1;
	return wait_status(q, id, clen);
}

static int range_op(struct pvfront_queue *q, uint8_t op, uint8_t rflags,
		    uint64_t sector, uint64_t nr)
{
	static uint16_t id = 30000;

	id++;
	if (submit_range(q, op, rflags, sector, nr, id))
		return -1;
	return wait_status(q, id, NULL);
}

/* Expect status @want; print what we expected and what we got. */
#define EXPECT_ST(want, got, what) do {						\
	int __g = (got);							\
	if (__g != (want))							\
		fprintf(stderr, "# %s: expected %s, got %s (%d)\n", what,	\
			sname(want), sname(__g), __g);				\
	EXPECT_EQ(want, __g);							\
} while (0)

static int image_pread(const char *img, void *buf, size_t len, off_t off)
{
	int fd = open(img, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pread(fd, buf, len, off);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

static long long image_blocks(const char *img)
{
	struct stat st;

	return stat(img, &st) ? -1 : (long long)st.st_blocks;
}

static bool all_zero(const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

static long long queue_counter(const char *json, unsigned int q, const char *key)
{
	char pat[48];
	const char *p;

	snprintf(pat, sizeof(pat), "{\"index\":%u,", q);
	p = strstr(json, pat);
	if (!p)
		return -1;
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(p, pat);
	return p ? atoll(p + strlen(pat)) : -1;
}

/* ---- tests --------------------------------------------------------------- */

TEST_F(blk, config_area_and_features_describe_the_image)
{
	struct pvio_blk_config *c;
	uint64_t hf;

	blk_up(_metadata, self, 2, NULL, all_features);
	c = self->config;
	hf = pvio_le64_to_cpu(self->d->desc->host_features);
	fprintf(stderr, "# capacity %llu lbs %u pbs %u segs %u segsize %u sectors %u disc %u/%u wz %u q %u depth %u features %#llx\n",
		(unsigned long long)pvio_le64_to_cpu(c->capacity),
		pvio_le32_to_cpu(c->logical_block_size), pvio_le32_to_cpu(c->physical_block_size),
		pvio_le32_to_cpu(c->max_segments), pvio_le32_to_cpu(c->max_segment_size),
		pvio_le32_to_cpu(c->max_sectors), pvio_le32_to_cpu(c->max_discard_sectors),
		pvio_le32_to_cpu(c->discard_granularity),
		pvio_le32_to_cpu(c->max_write_zeroes_sectors), pvio_le16_to_cpu(c->num_queues),
		pvio_le16_to_cpu(c->queue_depth), (unsigned long long)hf);
	EXPECT_EQ(IMG_SIZE / SECT, pvio_le64_to_cpu(c->capacity));
	EXPECT_EQ(0, pvio_le32_to_cpu(c->logical_block_size) % SECT);
	EXPECT_LE(pvio_le32_to_cpu(c->logical_block_size), pvio_le32_to_cpu(c->physical_block_size));
	EXPECT_EQ(63, pvio_le32_to_cpu(c->max_segments));
	EXPECT_EQ(2048, pvio_le32_to_cpu(c->max_sectors));
	EXPECT_EQ(2, pvio_le16_to_cpu(c->num_queues));
	EXPECT_EQ(64, pvio_le16_to_cpu(c->queue_depth));
	EXPECT_NE(0, pvio_le32_to_cpu(c->max_discard_sectors));
	EXPECT_NE(0, pvio_le32_to_cpu(c->max_write_zeroes_sectors));
	EXPECT_EQ(all_features, hf);
	EXPECT_EQ(0, hf & (1ull << PVIO_BLK_F_RO));
}

TEST_F(blk, write_read_flush_fua_and_get_id_on_a_real_file)
{
	static uint8_t img[256 << 10];
	struct pvfront_queue *q;
	char json[65536];
	uint32_t len = 0;

	blk_up(_metadata, self, 1, "serial = SN-1234\ncache = writeback\n", all_features);
	q = &self->d->q[0];
	/* 256 KiB at sector 100 in 4 segments, read back in 7. */
	fill(self->wbuf, sizeof(img), 1);
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_WRITE, 0, 100, self->wgpa, sizeof(img), 4, &len),
		  "write 256K/4 segments");
	EXPECT_EQ(0, len);
	memset(self->rbuf, 0xee, sizeof(img));
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_READ, 0, 100, self->rgpa, sizeof(img), 8, &len),
		  "read 256K/8 segments");
	EXPECT_EQ(sizeof(img), len);
	EXPECT_EQ(0, memcmp(self->wbuf, self->rbuf, sizeof(img)));
	/* The image holds it where the sectors say. */
	ASSERT_EQ(0, image_pread(self->img, img, sizeof(img), 100 * SECT));
	EXPECT_EQ(0, memcmp(self->wbuf, img, sizeof(img)));

	/* FUA write and FLUSH complete OK; data lands too. */
	fill(self->wbuf, 8192, 2);
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_WRITE, PVIO_BLK_RF_FUA, 0, self->wgpa, 8192, 1, NULL),
		  "FUA write");
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_FLUSH, 0, 0, 0, 0, 0, NULL), "flush");
	ASSERT_EQ(0, image_pread(self->img, img, 8192, 0));
	EXPECT_EQ(0, memcmp(self->wbuf, img, 8192));

	/* Last sector of the device. */
	fill(self->wbuf, SECT, 3);
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_WRITE, 0, IMG_SIZE / SECT - 1, self->wgpa, SECT, 1,
				NULL), "write last sector");
	ASSERT_EQ(0, image_pread(self->img, img, SECT, IMG_SIZE - SECT));
	EXPECT_EQ(0, memcmp(self->wbuf, img, SECT));

	/* GET_ID: 20 bytes, NUL-padded serial, split over two segments. */
	memset(self->rbuf, 0xee, 64);
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_GET_ID, 0, 0, self->rgpa, 24, 2, &len), "get-id");
	EXPECT_EQ(PVIO_BLK_ID_BYTES, len);
	EXPECT_EQ(0, memcmp(self->rbuf, "SN-1234\0\0\0\0\0\0\0\0\0\0\0\0", 20));
	fprintf(stderr, "# serial: expected 'SN-1234', got '%.20s'\n", (char *)self->rbuf);

	/* Per-queue counters. */
	ASSERT_EQ(0, control(self->ctl, "status g b0", json, sizeof(json)));
	EXPECT_EQ(6, queue_counter(json, 0, "requests"));
	EXPECT_EQ(2 * sizeof(img) + 8192 + SECT, queue_counter(json, 0, "bytes"));
	EXPECT_EQ(0, queue_counter(json, 0, "errors"));
}

TEST_F(blk, default_serial_comes_from_guest_and_device_names)
{
	uint32_t len = 0;

	blk_up(_metadata, self, 1, NULL, all_features);
	EXPECT_ST(PVIO_S_OK, rw(&self->d->q[0], PVIO_BLK_OP_GET_ID, 0, 0, self->rgpa, 20, 1, &len),
		  "get-id");
	fprintf(stderr, "# serial: expected 'g-b0', got '%.20s'\n", (char *)self->rbuf);
	EXPECT_EQ(0, memcmp(self->rbuf, "g-b0\0", 5));
}

TEST_F(blk, max_segments_and_direct_io_on_the_file)
{
	static uint8_t img[63 * 4096];
	struct pvfront_queue *q;

	/* cache = none (the default): O_DIRECT on the temp filesystem. */
	blk_up(_metadata, self, 1, NULL, all_features);
	q = &self->d->q[0];
	fill(self->wbuf, sizeof(img), 4);
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_WRITE, 0, 2048, self->wgpa, sizeof(img), 63, NULL),
		  "write 63 segments");
	memset(self->rbuf, 0, sizeof(img));
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_READ, 0, 2048, self->rgpa, sizeof(img), 63, NULL),
		  "read 63 segments");
	EXPECT_EQ(0, memcmp(self->wbuf, self->rbuf, sizeof(img)));
	ASSERT_EQ(0, image_pread(self->img, img, sizeof(img), 2048 * SECT));
	EXPECT_EQ(0, memcmp(self->wbuf, img, sizeof(img)));
	EXPECT_TRUE(log_contains(self->log, "cache none (O_DIRECT)"));
}

TEST_F(blk, discard_and_write_zeroes_read_back_zeroes_and_free_blocks)
{
	const uint32_t mb = 1u << 20;
	static uint8_t img[1 << 20];
	struct pvfront_queue *q;
	long long before, after;

	blk_up(_metadata, self, 1, NULL, all_features);
	q = &self->d->q[0];
	/* 3 MiB of data at 1 MiB, on disk. */
	fill(self->wbuf, 3 * mb, 5);
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_WRITE, 0, 2048, self->wgpa, mb, 8, NULL), "write");
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_WRITE, 0, 4096, self->wgpa + mb, mb, 8, NULL), "write");
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_WRITE, 0, 6144, self->wgpa + 2 * mb, mb, 8, NULL),
		  "write");
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_FLUSH, 0, 0, 0, 0, 0, NULL), "flush");

	before = image_blocks(self->img);
	EXPECT_ST(PVIO_S_OK, range_op(q, PVIO_BLK_OP_DISCARD, 0, 2048, 2048), "discard 1 MiB");
	after = image_blocks(self->img);
	fprintf(stderr, "# discard: st_blocks %lld -> %lld (expected -2048)\n", before, after);
	EXPECT_EQ(before - 2048, after);
	memset(self->rbuf, 0xee, mb);
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_READ, 0, 2048, self->rgpa, mb, 4, NULL), "read");
	EXPECT_TRUE(all_zero(self->rbuf, mb));

	/* WRITE_ZEROES without UNMAP: zeroes, the blocks may stay. */
	EXPECT_ST(PVIO_S_OK, range_op(q, PVIO_BLK_OP_WRITE_ZEROES, 0, 4096 + 8, 16), "write-zeroes");
	ASSERT_EQ(0, image_pread(self->img, img, mb, 4096 * SECT));
	EXPECT_TRUE(all_zero(img + 8 * SECT, 16 * SECT));
	EXPECT_EQ(0, memcmp(img, self->wbuf + mb, 8 * SECT));
	EXPECT_EQ(0, memcmp(img + 24 * SECT, self->wbuf + mb + 24 * SECT, mb - 24 * SECT));

	/* WRITE_ZEROES with UNMAP: zeroes and the blocks go. */
	before = image_blocks(self->img);
	EXPECT_ST(PVIO_S_OK, range_op(q, PVIO_BLK_OP_WRITE_ZEROES, PVIO_BLK_RF_UNMAP, 6144, 2048),
		  "write-zeroes unmap");
	after = image_blocks(self->img);
	fprintf(stderr, "# write-zeroes unmap: st_blocks %lld -> %lld (expected -2048)\n", before,
		after);
	EXPECT_EQ(before - 2048, after);
	memset(self->rbuf, 0xee, mb);
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_READ, 0, 6144, self->rgpa, mb, 1, NULL), "read");
	EXPECT_TRUE(all_zero(self->rbuf, mb));
}

/* Between FEATURES_OK and DRIVER_OK: accept DISCARD after all. */
static void add_discard(struct pvfront_dev *d, void *arg)
{
	(void)arg;
	/* pviod has seen FEATURES_OK by now (its heartbeat polls every 50 ms). */
	msleep(300);
	pvio_write_once(d->desc->guest_features, pvio_cpu_to_le64(1ull << PVIO_BLK_F_DISCARD |
								  1ull << PVIO_BLK_F_FLUSH));
}

/*
 * Features are what the guest accepted at FEATURES_OK: one written into
 * the window afterwards -- here DISCARD, which discard = no does not
 * offer -- counts for nothing (review finding 4: the class re-read
 * guest_features at start).
 */
TEST_F(blk, features_changed_after_features_ok_count_for_nothing)
{
	static uint8_t data[1 << 20];
	struct pvio_dev_desc *dd;
	long long before, after;
	int fd;

	ASSERT_EQ(0, make_image(self->img, IMG_SIZE));
	fd = open(self->img, O_WRONLY);
	ASSERT_LE(0, fd);
	fill(data, sizeof(data), 3);
	ASSERT_EQ((ssize_t)sizeof(data), pwrite(fd, data, sizeof(data), 0));
	fsync(fd);
	close(fd);
	ASSERT_EQ(0, start_pviod(self, self->img, 1, "discard = no\n"));
	ASSERT_EQ(0, pvfront_connect(&self->f, self->sock, RAM_SIZE));
	ASSERT_EQ(0, pvfront_wait_ready(&self->f, 5000));
	dd = pvfront_find(&self->f, PVIO_DEV_BLK, 0, &self->index);
	ASSERT_NE(NULL, dd);
	ASSERT_EQ(0, pvfront_dev_setup_ex(&self->f, self->index, 1ull << PVIO_BLK_F_FLUSH, 1,
					  add_discard, NULL, &self->d));
	before = image_blocks(self->img);
	EXPECT_ST(PVIO_S_UNSUPP, range_op(&self->d->q[0], PVIO_BLK_OP_DISCARD, 0, 0, 2048),
		  "discard of 1 MiB the guest did not negotiate");
	after = image_blocks(self->img);
	fprintf(stderr, "# image blocks: expected %lld, got %lld\n", before, after);
	EXPECT_EQ(before, after);
}

TEST_F(blk, read_only_device_refuses_writes_and_keeps_the_image)
{
	static uint8_t before[64 << 10], after[64 << 10];
	struct pvfront_queue *q;
	int fd;

	ASSERT_EQ(0, make_image(self->img, IMG_SIZE));
	fill(before, sizeof(before), 6);
	fd = open(self->img, O_WRONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)sizeof(before), pwrite(fd, before, sizeof(before), 0));
	close(fd);
	ASSERT_EQ(0, chmod(self->img, 0400));	/* root opens it anyway; pviod must not write */
	ASSERT_EQ(0, start_pviod(self, self->img, 1, "readonly = yes\n"));
	guest_up(_metadata, self, all_features | (1ull << PVIO_BLK_F_RO), 1);
	q = &self->d->q[0];
	EXPECT_EQ(1ull << PVIO_BLK_F_RO, pvio_le64_to_cpu(self->d->desc->host_features));

	fill(self->wbuf, sizeof(before), 7);
	EXPECT_ST(PVIO_S_ROFS, rw(q, PVIO_BLK_OP_WRITE, 0, 0, self->wgpa, 4096, 1, NULL), "write");
	EXPECT_ST(PVIO_S_ROFS, range_op(q, PVIO_BLK_OP_DISCARD, 0, 0, 8), "discard");
	EXPECT_ST(PVIO_S_ROFS, range_op(q, PVIO_BLK_OP_WRITE_ZEROES, 0, 0, 8), "write-zeroes");
	EXPECT_ST(PVIO_S_UNSUPP, rw(q, PVIO_BLK_OP_FLUSH, 0, 0, 0, 0, 0, NULL), "flush");
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_READ, 0, 0, self->rgpa, sizeof(before), 2, NULL),
		  "read");
	EXPECT_EQ(0, memcmp(before, self->rbuf, sizeof(before)));
	ASSERT_EQ(0, image_pread(self->img, after, sizeof(after), 0));
	EXPECT_EQ(0, memcmp(before, after, sizeof(after)));
}

TEST_F(blk, requests_outside_the_device_get_range)
{
	struct pvfront_queue *q;
	const uint64_t cap = IMG_SIZE / SECT;

	blk_up(_metadata, self, 1, NULL, all_features);
	q = &self->d->q[0];
	EXPECT_ST(PVIO_S_RANGE, rw(q, PVIO_BLK_OP_READ, 0, cap - 1, self->rgpa, 1024, 1, NULL),
		  "read across the end");
	EXPECT_ST(PVIO_S_RANGE, rw(q, PVIO_BLK_OP_WRITE, 0, cap, self->wgpa, 512, 1, NULL),
		  "write at capacity");
	EXPECT_ST(PVIO_S_RANGE, rw(q, PVIO_BLK_OP_READ, 0, UINT64_MAX - 1, self->rgpa, 4096, 1,
				   NULL), "read at 2^64-2 (overflow)");
	EXPECT_ST(PVIO_S_RANGE, range_op(q, PVIO_BLK_OP_DISCARD, 0, cap - 8, 16), "discard");
	EXPECT_ST(PVIO_S_RANGE, range_op(q, PVIO_BLK_OP_WRITE_ZEROES, 0, 1ull << 62, 1ull << 20),
		  "write-zeroes far away");
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_READ, 0, cap - 8, self->rgpa, 4096, 1, NULL),
		  "read the last 4K");
}

TEST_F(blk, malformed_requests_get_a_status_and_the_device_keeps_working)
{
	struct pvfront_queue *q;
	struct pvio_desc d[3];
	struct pvio_blk_req h;
	static uint16_t id = 1000;

	blk_up(_metadata, self, 1, NULL, (1ull << PVIO_BLK_F_FLUSH));
	q = &self->d->q[0];

	EXPECT_ST(PVIO_S_UNSUPP, rw(q, 9, 0, 0, self->rgpa, 4096, 1, NULL), "unknown op 9");
	EXPECT_ST(PVIO_S_UNSUPP, range_op(q, PVIO_BLK_OP_DISCARD, 0, 0, 8), "discard not negotiated");
	EXPECT_ST(PVIO_S_UNSUPP, range_op(q, PVIO_BLK_OP_WRITE_ZEROES, 0, 0, 8),
		  "write-zeroes not negotiated");
	EXPECT_ST(PVIO_S_UNSUPP, rw(q, PVIO_BLK_OP_WRITE, PVIO_BLK_RF_FUA, 0, self->wgpa, 4096, 1,
				    NULL), "FUA not negotiated");
	EXPECT_ST(PVIO_S_INVAL, rw(q, PVIO_BLK_OP_READ, 0x80, 0, self->rgpa, 4096, 1, NULL),
		  "unknown rflags");
	EXPECT_ST(PVIO_S_INVAL, rw(q, PVIO_BLK_OP_READ, 0, 0, self->rgpa, 1000, 1, NULL),
		  "length not a multiple of 512");
	EXPECT_ST(PVIO_S_INVAL, rw(q, PVIO_BLK_OP_READ, 0, 0, self->rgpa, 2 << 20, 2, NULL),
		  "2 MiB > max_sectors");
	EXPECT_ST(PVIO_S_INVAL, rw(q, PVIO_BLK_OP_READ, 0, 0, self->rgpa, 0, 0, NULL),
		  "read without data");
	EXPECT_ST(PVIO_S_INVAL, rw(q, PVIO_BLK_OP_FLUSH, 0, 8, 0, 0, 0, NULL), "flush at sector 8");
	EXPECT_ST(PVIO_S_INVAL, rw(q, PVIO_BLK_OP_GET_ID, 0, 0, self->rgpa, 16, 1, NULL),
		  "get-id into 16 bytes");

	/* Reserved header bytes set. */
	hdr_slot(&d[0], PVIO_BLK_OP_READ, 0, 0, ++id, true);
	memcpy(&h, &d[0], sizeof(h));
	h.reserved = pvio_cpu_to_le16(1);
	memcpy(&d[0], &h, sizeof(h));
	d[1] = (struct pvio_desc){ pvio_cpu_to_le64(self->rgpa), pvio_cpu_to_le32(4096),
				   pvio_cpu_to_le16(id), pvio_cpu_to_le16(PVIO_DESC_F_WRITE) };
	ASSERT_EQ(0, pvfront_submit(q, d, 2));
	pvfront_kick(q);
	EXPECT_ST(PVIO_S_INVAL, wait_status(q, id, NULL), "reserved header field");

	/* No header slot: a bare data buffer. */
	d[0] = (struct pvio_desc){ pvio_cpu_to_le64(self->rgpa), pvio_cpu_to_le32(4096),
				   pvio_cpu_to_le16(++id), pvio_cpu_to_le16(PVIO_DESC_F_WRITE) };
	ASSERT_EQ(0, pvfront_submit(q, d, 1));
	pvfront_kick(q);
	EXPECT_ST(PVIO_S_INVAL, wait_status(q, id, NULL), "no header slot");

	/* READ into a readable buffer: wrong direction. */
	hdr_slot(&d[0], PVIO_BLK_OP_READ, 0, 0, ++id, true);
	d[1] = (struct pvio_desc){ pvio_cpu_to_le64(self->rgpa), pvio_cpu_to_le32(4096),
				   pvio_cpu_to_le16(id), 0 };
	ASSERT_EQ(0, pvfront_submit(q, d, 2));
	pvfront_kick(q);
	EXPECT_ST(PVIO_S_INVAL, wait_status(q, id, NULL), "read into a readable segment");

	/* Discard range with a data slot instead of a range header. */
	hdr_slot(&d[0], PVIO_BLK_OP_FLUSH, 0, 0, ++id, true);
	d[1] = (struct pvio_desc){ pvio_cpu_to_le64(self->rgpa), pvio_cpu_to_le32(4096),
				   pvio_cpu_to_le16(id), pvio_cpu_to_le16(PVIO_DESC_F_WRITE) };
	ASSERT_EQ(0, pvfront_submit(q, d, 2));
	pvfront_kick(q);
	EXPECT_ST(PVIO_S_INVAL, wait_status(q, id, NULL), "flush with a data segment");

	/* Still working, and the refusals were counted. */
	fill(self->wbuf, 4096, 8);
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_WRITE, 0, 8, self->wgpa, 4096, 1, NULL), "write");
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_READ, 0, 8, self->rgpa, 4096, 1, NULL), "read");
	EXPECT_EQ(0, memcmp(self->wbuf, self->rbuf, 4096));
	EXPECT_EQ(PVIO_DEV_S_LIVE, pvfront_device_state(self->d));
}

TEST_F(blk, chain_outside_guest_ram_breaks_the_device_until_reset)
{
	struct pvfront_queue *q;
	char json[65536];
	int i;

	blk_up(_metadata, self, 1, NULL, all_features);
	q = &self->d->q[0];
	ASSERT_EQ(0, submit_rw(q, PVIO_BLK_OP_READ, 0, 0, RAM_SIZE - 2048, 4096, 1, 7));
	for (i = 0; i < 300 && !(pvfront_device_state(self->d) & PVIO_DEV_S_BROKEN); i++)
		msleep(10);
	EXPECT_TRUE(pvfront_device_state(self->d) & PVIO_DEV_S_BROKEN);
	EXPECT_EQ(PVIO_BROKEN_ADDR, pvio_le32_to_cpu(self->d->desc->broken_reason));
	ASSERT_EQ(0, control(self->ctl, "status g b0", json, sizeof(json)));
	EXPECT_NE(NULL, strstr(json, "\"state\":\"broken\""));
	EXPECT_TRUE(log_contains(self->log, "buffer outside guest RAM"));

	ASSERT_EQ(0, pvfront_dev_reset(self->d, 3000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->f, self->index, all_features, 1, &self->d));
	q = &self->d->q[0];
	fill(self->wbuf, 4096, 9);
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_WRITE, 0, 0, self->wgpa, 4096, 1, NULL),
		  "write after reset");
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_READ, 0, 0, self->rgpa, 4096, 1, NULL),
		  "read after reset");
	EXPECT_EQ(0, memcmp(self->wbuf, self->rbuf, 4096));
}

TEST_F(blk, resize_through_the_control_socket_raises_a_config_interrupt)
{
	struct pollfd p;
	char json[4096];
	struct stat st;
	uint32_t gen;
	uint64_t v;

	blk_up(_metadata, self, 1, NULL, all_features);
	p.fd = self->f.my_efd[PVIO_CONFIG_VECTOR];
	p.events = POLLIN;
	while (read(p.fd, &v, sizeof(v)) == sizeof(v))
		;
	gen = pvio_le32_to_cpu(self->d->desc->config_generation);

	ASSERT_EQ(0, control(self->ctl, "blk-resize g b0 32M", json, sizeof(json)));
	fprintf(stderr, "# blk-resize 32M: %s", json);
	EXPECT_NE(NULL, strstr(json, "\"capacity\":65536"));
	EXPECT_EQ((32u << 20) / SECT, pvio_le64_to_cpu(self->config->capacity));
	EXPECT_EQ(gen + 2, pvio_le32_to_cpu(self->d->desc->config_generation));
	EXPECT_EQ(1, poll(&p, 1, 2000));
	ASSERT_EQ(0, stat(self->img, &st));
	EXPECT_EQ(32 << 20, st.st_size);
	/* The new end is usable. */
	fill(self->wbuf, 4096, 10);
	EXPECT_ST(PVIO_S_OK, rw(&self->d->q[0], PVIO_BLK_OP_WRITE, 0, (32u << 20) / SECT - 8,
				self->wgpa, 4096, 1, NULL), "write at the new end");

	/* Shrinking is refused and changes nothing. */
	ASSERT_EQ(0, control(self->ctl, "blk-resize g b0 1M", json, sizeof(json)));
	fprintf(stderr, "# blk-resize 1M: %s", json);
	EXPECT_NE(NULL, strstr(json, "shrinking is not supported"));
	EXPECT_EQ((32u << 20) / SECT, pvio_le64_to_cpu(self->config->capacity));

	/* Grown by someone else: re-read without a size. */
	while (read(p.fd, &v, sizeof(v)) == sizeof(v))
		;
	ASSERT_EQ(0, truncate(self->img, 48 << 20));
	ASSERT_EQ(0, control(self->ctl, "blk-resize g b0", json, sizeof(json)));
	fprintf(stderr, "# blk-resize (re-read): %s", json);
	EXPECT_EQ((48u << 20) / SECT, pvio_le64_to_cpu(self->config->capacity));
	EXPECT_EQ(gen + 4, pvio_le32_to_cpu(self->d->desc->config_generation));
	EXPECT_EQ(1, poll(&p, 1, 2000));

	/* Errors: bad size, wrong device, unknown device. */
	ASSERT_EQ(0, control(self->ctl, "blk-resize g b0 lots", json, sizeof(json)));
	EXPECT_NE(NULL, strstr(json, "\"error\""));
	ASSERT_EQ(0, control(self->ctl, "blk-resize g nosuch 1G", json, sizeof(json)));
	EXPECT_NE(NULL, strstr(json, "\"error\""));
}

TEST_F(blk, full_filesystem_completes_with_nospc)
{
	struct pvfront_queue *q;
	char opts[32], img[128];
	int st = PVIO_S_OK;
	unsigned int i;

	if (geteuid() != 0)
		SKIP(return, "needs root to mount a small tmpfs");
	/* The harness runs each test in its own process: a private namespace. */
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		SKIP(return, "no private mount namespace: %s", strerror(errno));
	ASSERT_EQ(0, mkdir(self->mnt, 0700));
	snprintf(opts, sizeof(opts), "size=%u", 2u << 20);
	ASSERT_EQ(0, mount("pvio-small", self->mnt, "tmpfs", 0, opts));
	self->mounted = true;
	snprintf(img, sizeof(img), "%s/sparse.img", self->mnt);
	ASSERT_EQ(0, make_image(img, 16u << 20));	/* sparse: 16 MiB on 2 MiB */
	ASSERT_EQ(0, start_pviod(self, img, 1, "cache = writeback\n"));
	guest_up(_metadata, self, all_features, 1);
	q = &self->d->q[0];
	fill(self->wbuf, 1u << 20, 11);
	for (i = 0; i < 16 && st == PVIO_S_OK; i++)
		st = rw(q, PVIO_BLK_OP_WRITE, 0, (uint64_t)i * 2048, self->wgpa, 1u << 20, 4, NULL);
	fprintf(stderr, "# write %u MiB into a 2 MiB tmpfs: expected NOSPC, got %s\n", i, sname(st));
	EXPECT_EQ(PVIO_S_NOSPC, st);
	EXPECT_LE(2, i);
	/* What fit is there and readable. */
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_READ, 0, 0, self->rgpa, 1u << 20, 1, NULL), "read");
	EXPECT_EQ(0, memcmp(self->wbuf, self->rbuf, 1u << 20));
}

TEST_F(blk, misaligned_segments_are_refused_with_o_direct_only)
{
	struct pvfront_queue *q;
	struct pvio_desc d[3];
	static uint16_t id = 2000;

	blk_up(_metadata, self, 1, NULL, all_features);
	q = &self->d->q[0];
	if (!log_contains(self->log, "cache none (O_DIRECT)"))
		SKIP(return, "the temp filesystem refuses O_DIRECT");
	/* 4 KiB as 256 + 3840 bytes: segment lengths break O_DIRECT. */
	hdr_slot(&d[0], PVIO_BLK_OP_READ, 0, 0, ++id, true);
	d[1] = (struct pvio_desc){ pvio_cpu_to_le64(self->rgpa), pvio_cpu_to_le32(256),
				   pvio_cpu_to_le16(id),
				   pvio_cpu_to_le16(PVIO_DESC_F_WRITE | PVIO_DESC_F_NEXT) };
	d[2] = (struct pvio_desc){ pvio_cpu_to_le64(self->rgpa + 256), pvio_cpu_to_le32(3840),
				   pvio_cpu_to_le16(id), pvio_cpu_to_le16(PVIO_DESC_F_WRITE) };
	ASSERT_EQ(0, pvfront_submit(q, d, 3));
	pvfront_kick(q);
	EXPECT_ST(PVIO_S_INVAL, wait_status(q, id, NULL), "segments of 256 + 3840 bytes");
	/* 4 KiB at an odd address. */
	EXPECT_ST(PVIO_S_INVAL, rw(q, PVIO_BLK_OP_WRITE, 0, 0, self->wgpa + 1, 4096, 1, NULL),
		  "segment at an odd address");
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_WRITE, 0, 0, self->wgpa, 4096, 1, NULL),
		  "aligned write");

	/* The page cache takes anything a multiple of 512 in total. */
	pvfront_close(&self->f);
	self->sanitizer_report |= pviod_stop(&self->pid, self->log);
	ASSERT_EQ(0, start_pviod(self, self->img, 1, "cache = writeback\n"));
	guest_up(_metadata, self, all_features, 1);
	q = &self->d->q[0];
	fill(self->wbuf + 1, 4096, 12);
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_WRITE, 0, 0, self->wgpa + 1, 4096, 1, NULL),
		  "odd address, writeback");
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_READ, 0, 0, self->rgpa + 3, 4096, 3, NULL),
		  "odd segments, writeback");
	EXPECT_EQ(0, memcmp(self->wbuf + 1, self->rbuf + 3, 4096));
}

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

TEST_F(blk, host_block_device_through_a_loop_device)
{
	const uint32_t mb = 1u << 20;
	static uint8_t img[1 << 20];
	struct pvfront_queue *q;
	char cmd[256], json[4096];
	long long before, after;
	FILE *p;

	if (geteuid() != 0)
		SKIP(return, "needs root for a loop device");
	ASSERT_EQ(0, make_image(self->img, IMG_SIZE));
	snprintf(cmd, sizeof(cmd), "losetup -f --show %s 2>/dev/null", self->img);
	p = popen(cmd, "r");
	ASSERT_NE(NULL, p);
	if (!fgets(self->loopdev, sizeof(self->loopdev), p))
		self->loopdev[0] = '\0';
	pclose(p);
	self->loopdev[strcspn(self->loopdev, "\n")] = '\0';
	if (!self->loopdev[0])
		SKIP(return, "losetup cannot set up a loop device here");
	ASSERT_EQ(0, start_pviod(self, self->loopdev, 1, NULL));
	guest_up(_metadata, self, all_features, 1);
	q = &self->d->q[0];
	EXPECT_TRUE(log_contains(self->log, "block device"));
	EXPECT_EQ(IMG_SIZE / SECT, pvio_le64_to_cpu(self->config->capacity));
	EXPECT_EQ(512, pvio_le32_to_cpu(self->config->logical_block_size));

	fill(self->wbuf, mb, 18);
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_WRITE, 0, 2048, self->wgpa, mb, 8, NULL), "write");
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_FLUSH, 0, 0, 0, 0, 0, NULL), "flush");
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_READ, 0, 2048, self->rgpa, mb, 4, NULL), "read");
	EXPECT_EQ(0, memcmp(self->wbuf, self->rbuf, mb));
	ASSERT_EQ(0, image_pread(self->img, img, mb, 2048 * SECT));
	EXPECT_EQ(0, memcmp(self->wbuf, img, mb));

	/* BLKDISCARD on a loop device punches the hole in its file. */
	before = image_blocks(self->img);
	EXPECT_ST(PVIO_S_OK, range_op(q, PVIO_BLK_OP_DISCARD, 0, 2048, 2048), "discard");
	after = image_blocks(self->img);
	fprintf(stderr, "# loop discard: st_blocks %lld -> %lld\n", before, after);
	EXPECT_GT(before, after);
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_READ, 0, 2048, self->rgpa, mb, 1, NULL), "read");
	EXPECT_TRUE(all_zero(self->rbuf, mb));
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_WRITE, 0, 0, self->wgpa, 8192, 1, NULL), "write");
	EXPECT_ST(PVIO_S_OK, range_op(q, PVIO_BLK_OP_WRITE_ZEROES, 0, 0, 16), "write-zeroes");
	EXPECT_ST(PVIO_S_OK, rw(q, PVIO_BLK_OP_READ, 0, 0, self->rgpa, 8192, 1, NULL), "read");
	EXPECT_TRUE(all_zero(self->rbuf, 8192));

	/* The device grows on the host; blk-resize without a size follows. */
	ASSERT_EQ(0, truncate(self->img, 32 << 20));
	snprintf(cmd, sizeof(cmd), "losetup -c %s", self->loopdev);
	ASSERT_EQ(0, system(cmd));
	ASSERT_EQ(0, control(self->ctl, "blk-resize g b0", json, sizeof(json)));
	fprintf(stderr, "# blk-resize: %s", json);
	EXPECT_EQ((32u << 20) / SECT, pvio_le64_to_cpu(self->config->capacity));
	ASSERT_EQ(0, control(self->ctl, "blk-resize g b0 64M", json, sizeof(json)));
	EXPECT_NE(NULL, strstr(json, "is a block device"));
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

TEST_F(blk, bad_configuration_is_reported_with_its_line)
{
	static const struct { const char *extra; const char *msg; } cases[] = {
		{ "colour = blue\n", "line 13: unknown key 'colour' for a blk device" },
		{ "cache = sometimes\n", "cache = sometimes: want none" },
		{ "readonly = perhaps\n", "readonly = perhaps: want yes or no" },
		{ "serial = 123456789012345678901\n", "at most 20 characters" },
	};
	char cmd[512];
	unsigned int i;

	ASSERT_EQ(0, make_image(self->img, IMG_SIZE));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unlink(self->log);
		EXPECT_NE(0, start_pviod(self, self->img, 1, cases[i].extra));
		if (!log_contains(self->log, cases[i].msg))
			fprintf(stderr, "# case %u: expected '%s' in the log\n", i, cases[i].msg);
		EXPECT_TRUE(log_contains(self->log, cases[i].msg));
	}
	unlink(self->log);
	EXPECT_NE(0, start_pviod(self, "/nonexistent/disk.img", 1, NULL));
	EXPECT_TRUE(log_contains(self->log, "cannot open read-write: No such file"));
	unlink(self->log);
	EXPECT_NE(0, start_pviod(self, self->dir, 1, NULL));
	EXPECT_TRUE(log_contains(self->log, "not a regular file or a block device") ||
		    log_contains(self->log, "Is a directory"));
	/* --check-config says the same without starting anything. */
	unlink(self->log);
	EXPECT_NE(0, start_pviod(self, "/nonexistent/disk.img", 1, "readonly = yes\n"));
	unlink(self->log);
	snprintf(cmd, sizeof(cmd), "%s --check-config -c %s 2>%s", pviod_bin(), self->cfg,
		 self->log);
	EXPECT_NE(0, system(cmd));
	EXPECT_TRUE(log_contains(self->log, "cannot open read-only: No such file"));
}

TEST_HARNESS_MAIN
