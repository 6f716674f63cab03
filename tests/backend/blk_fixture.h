/* SPDX-License-Identifier: GPL-2.0 */
/*
 * blk_fixture.h - the fixture of the block tests (blk_test.c,
 * blk_inflight_test.c) and the helpers they share: an image file under a
 * temporary directory, pviod on it, the guest's device, requests built
 * and waited for, their status checked (EXPECT_ST()) and the image read
 * back.  Each test binary includes it once.
 */
#ifndef PVIO_BLK_FIXTURE_H
#define PVIO_BLK_FIXTURE_H

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

static inline void fill(uint8_t *b, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static inline int make_image(const char *path, uint64_t size)
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
static inline int start_pviod(FIXTURE_DATA(blk) *self, const char *img,
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

static inline void guest_up(struct __test_metadata *_metadata, FIXTURE_DATA(blk) *self,
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
static inline void blk_up(struct __test_metadata *_metadata, FIXTURE_DATA(blk) *self,
			  unsigned int queues, const char *extra, uint64_t features)
{
	ASSERT_EQ(0, make_image(self->img, IMG_SIZE));
	ASSERT_EQ(0, start_pviod(self, self->img, queues, extra));
	guest_up(_metadata, self, features, queues);
}

static inline void hdr_slot(struct pvio_desc *d, uint8_t op, uint8_t rflags,
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
static inline int submit_rw(struct pvfront_queue *q, uint8_t op, uint8_t rflags,
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

static inline int submit_range(struct pvfront_queue *q, uint8_t op, uint8_t rflags,
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

static inline int reap_one(struct pvfront_queue *q, struct pvio_cpl *c, int ms)
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
static inline int wait_status(struct pvfront_queue *q, uint16_t id, uint32_t *len)
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

static inline int rw(struct pvfront_queue *q, uint8_t op, uint8_t rflags, uint64_t sector,
		     uint64_t gpa, uint32_t len, unsigned int nseg, uint32_t *clen)
{
	static uint16_t id;

	id++;
	if (submit_rw(q, op, rflags, sector, gpa, len, nseg, id))
		return -1;
	return wait_status(q, id, clen);
}

/* Expect status @want; print what we expected and what we got. */
#define EXPECT_ST(want, got, what) do {						\
	int __g = (got);							\
	if (__g != (want))							\
		fprintf(stderr, "# %s: expected %s, got %s (%d)\n", what,	\
			sname(want), sname(__g), __g);				\
	EXPECT_EQ(want, __g);							\
} while (0)

static inline int image_pread(const char *img, void *buf, size_t len, off_t off)
{
	int fd = open(img, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pread(fd, buf, len, off);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

static inline long long queue_counter(const char *json, unsigned int q, const char *key)
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

#endif /* PVIO_BLK_FIXTURE_H */
