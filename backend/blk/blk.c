// SPDX-License-Identifier: GPL-2.0
/*
 * blk/blk.c - the block device class: its configuration keys, opening the
 * backing store, the config area, start, stop and resize.  The data path
 * is blk/io.c.
 *
 * The backing store (a raw image file or a host block device) is opened by
 * the supervisor, so a worker crash loses nothing; what the guest sees as
 * capacity is re-read from it by every worker (init) and on blk-resize.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "blk/blk.h"
#include "core/log.h"


/* At most 5 data-path warnings per 5 s per device; then a count. */
bool pvbe_blk_ratelimit(struct pvbe_blk_dev *bd)
{
	return pvbe_ratelimit(&bd->log_rl, bd->dev->tag);
}

/* ---- configuration (supervisor) ----------------------------------------- */

/*
 * Default serial: "GUEST-DEVICE" when it fits in 20 bytes, else its first
 * 11 characters, '-' and 8 hex digits of an FNV-1a hash of the whole tag,
 * so two long names with a common prefix still differ.
 */
static void default_serial(const struct pvbe_dev *dev, char out[PVBE_BLK_SERIAL_MAX])
{
	char s[2 * PVBE_NAME_MAX + 2];
	uint32_t h = 2166136261u;
	const char *t;

	snprintf(s, sizeof(s), "%s-%s", dev->g->cfg->name, dev->cfg->name);
	memset(out, 0, PVBE_BLK_SERIAL_MAX);
	if (strlen(s) <= PVBE_BLK_SERIAL_MAX) {
		memcpy(out, s, strlen(s));
		return;
	}
	for (t = s; *t; t++)
		h = (h ^ (uint8_t)*t) * 16777619u;
	snprintf(s + 11, sizeof(s) - 11, "-%08x", h);
	memcpy(out, s, PVBE_BLK_SERIAL_MAX);
}

/* Open the backing store once to see that we can; setup opens it for good. */
static int probe_path(struct pvbe_dev *dev, struct pvbe_blk_dev *bd, int line)
{
	struct stat st;
	int fd;

	fd = open(bd->path, (bd->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		pvbe_err(dev->tag, "line %d: path = %s: cannot open %s: %s", line,
			 bd->path, bd->readonly ? "read-only" : "read-write",
			 strerror(errno));
		return -EINVAL;
	}
	if (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
		pvbe_err(dev->tag, "line %d: path = %s: not a regular file or a block device",
			 line, bd->path);
		close(fd);
		return -EINVAL;
	}
	close(fd);
	return 0;
}

static int blk_parse(struct pvbe_dev *dev)
{
	struct pvbe_dev_cfg *c = dev->cfg;
	const struct pvbe_param *p;
	struct pvbe_blk_dev *bd;
	unsigned int i;
	int k;

	bd = calloc(1, sizeof(*bd));
	if (!bd)
		return -ENOMEM;
	bd->dev = dev;
	bd->fd = -1;
	bd->direct = true;
	bd->discard = true;
	dev->priv = bd;

	p = pvbe_dev_param_get(c, "path");
	if (!p || !p->val[0]) {
		pvbe_err(dev->tag, "blk devices need 'path = FILE' (a raw image file or a host block device)");
		return -EINVAL;
	}
	strcpy(bd->path, p->val);	/* both are 224 bytes */
	if (pvbe_dev_param_bool(dev->tag, c, "readonly", &bd->readonly) ||
	    pvbe_dev_param_bool(dev->tag, c, "discard", &bd->discard))
		return -EINVAL;
	p = pvbe_dev_param_get(c, "cache");
	if (p) {
		if (!strcmp(p->val, "none")) {
			bd->direct = true;
		} else if (!strcmp(p->val, "writeback")) {
			bd->direct = false;
		} else {
			pvbe_err(dev->tag, "line %d: cache = %s: want none (O_DIRECT) or writeback (page cache)",
				 p->line, p->val);
			return -EINVAL;
		}
	}
	p = pvbe_dev_param_get(c, "serial");
	if (p) {
		const char *s;

		if (strlen(p->val) > PVBE_BLK_SERIAL_MAX) {
			pvbe_err(dev->tag, "line %d: serial = %s: at most %d characters",
				 p->line, p->val, PVBE_BLK_SERIAL_MAX);
			return -EINVAL;
		}
		for (s = p->val; *s; s++) {
			if (*s < 0x20 || *s > 0x7e) {
				pvbe_err(dev->tag, "line %d: serial: printable ASCII only",
					 p->line);
				return -EINVAL;
			}
		}
		memset(bd->serial, 0, sizeof(bd->serial));
		memcpy(bd->serial, p->val, strlen(p->val));
	} else {
		default_serial(dev, bd->serial);
	}
	for (k = 0; k < c->nparams; k++) {
		if (!c->params[k].used) {
			pvbe_err(dev->tag, "line %d: unknown key '%s' for a blk device (keys: path, readonly, cache, discard, serial, queues, queue_size)",
				 c->params[k].line, c->params[k].key);
			return -EINVAL;
		}
	}
	p = pvbe_dev_param_get(c, "path");
	if (probe_path(dev, bd, p->line))
		return -EINVAL;

	bd->nq = c->queues;
	bd->bq = calloc(bd->nq, sizeof(*bd->bq));
	if (!bd->bq)
		return -ENOMEM;
	for (i = 0; i < bd->nq; i++) {
		bd->bq[i].bd = bd;
		bd->bq[i].q = &dev->q[i];
		bd->bq[i].efd = -1;
	}
	return 0;
}

/* Read one logical block with O_DIRECT: some filesystems open but refuse. */
static int direct_probe(struct pvbe_blk_dev *bd)
{
	uint64_t size;
	ssize_t n;
	void *buf;

	if (pvbe_blk_backing_size(bd, &size) || size < bd->lbs)
		return 0;
	if (posix_memalign(&buf, bd->lbs < 4096 ? 4096 : bd->lbs, bd->lbs))
		return 0;
	n = pread(bd->fd, buf, bd->lbs, 0);
	free(buf);
	return n < 0 && errno == EINVAL ? -EINVAL : 0;
}

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t p = 512;

	while (p < v)
		p <<= 1;
	return p;
}

/* Does the host block device take discards?  Its queue says. */
static bool bdev_discards(const struct stat *st)
{
	char path[96];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/discard_max_bytes",
		 major(st->st_rdev), minor(st->st_rdev));
	f = fopen(path, "r");
	if (!f) {
		/* A partition: its disk's queue. */
		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/../queue/discard_max_bytes",
			 major(st->st_rdev), minor(st->st_rdev));
		f = fopen(path, "r");
	}
	if (!f)
		return true;	/* cannot tell: try, a refusal completes OK */
	if (fscanf(f, "%llu", &v) != 1)
		v = 1;
	fclose(f);
	return v != 0;
}

/*
 * Open the backing store for good (supervisor, so it outlives workers) and
 * work out its block sizes.  cache = none wants O_DIRECT; a filesystem
 * that refuses it gets the page cache instead, with a line in the log.
 */
static int blk_setup(struct pvbe_dev *dev)
{
	struct pvbe_blk_dev *bd = dev->priv;
	int flags = (bd->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct statx sx;
	struct stat st;
	int v;

	bd->fd = open(bd->path, flags | (bd->direct ? O_DIRECT : 0));
	bd->o_direct = bd->direct && bd->fd >= 0;
	if (bd->fd < 0 && bd->direct && errno == EINVAL) {
		pvbe_warn(dev->tag, "cache = none: %s refuses O_DIRECT; using the page cache instead",
			  bd->path);
		bd->fd = open(bd->path, flags);
	}
	if (bd->fd < 0 || fstat(bd->fd, &st) < 0) {
		pvbe_err(dev->tag, "path = %s: %s", bd->path, strerror(errno));
		if (bd->fd >= 0)
			close(bd->fd);
		bd->fd = -1;
		return -EINVAL;
	}
	bd->is_bdev = S_ISBLK(st.st_mode);
	bd->lbs = 512;
	bd->pbs = 4096;
	if (bd->is_bdev) {
		if (ioctl(bd->fd, BLKSSZGET, &v) == 0 && v > 0)
			bd->lbs = (uint32_t)v;
		if (ioctl(bd->fd, BLKPBSZGET, &v) == 0 && v > 0)
			bd->pbs = (uint32_t)v;
		if (bd->discard && !bdev_discards(&st)) {
			pvbe_info(dev->tag, "%s does not discard: DISCARD not offered", bd->path);
			bd->discard = false;
		}
	}
	if (bd->o_direct) {
		bd->dio_mem_align = bd->dio_len_align = bd->lbs;
		if (statx(bd->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
		    (sx.stx_mask & STATX_DIOALIGN)) {
			bd->dio_mem_align = sx.stx_dio_mem_align;
			bd->dio_len_align = sx.stx_dio_offset_align;
		}
		if (!bd->dio_mem_align || !bd->dio_len_align || direct_probe(bd)) {
			pvbe_warn(dev->tag, "cache = none: the filesystem of %s refuses O_DIRECT; using the page cache instead",
				  bd->path);
			close(bd->fd);
			bd->o_direct = false;
			bd->fd = open(bd->path, flags);
			if (bd->fd < 0) {
				pvbe_err(dev->tag, "path = %s: %s", bd->path, strerror(errno));
				return -EINVAL;
			}
		}
	}
	/*
	 * One rule for the guest: align every segment's address and length to
	 * logical_block_size and O_DIRECT is always satisfied.
	 */
	if (bd->o_direct) {
		if (bd->dio_len_align > bd->lbs)
			bd->lbs = bd->dio_len_align;
		if (bd->dio_mem_align > bd->lbs)
			bd->lbs = bd->dio_mem_align;
	}
	bd->lbs = pow2_at_least(bd->lbs);
	if (bd->pbs < bd->lbs)
		bd->pbs = bd->lbs;
	bd->discard_gran = bd->is_bdev ? bd->pbs :
		(uint32_t)(st.st_blksize > bd->lbs ? st.st_blksize : bd->lbs);
	pvbe_info(dev->tag, "%s %s%s, cache %s, logical block %u, physical block %u",
		  bd->is_bdev ? "block device" : "image", bd->path,
		  bd->readonly ? " (read-only)" : "",
		  bd->o_direct ? "none (O_DIRECT)" : "writeback", bd->lbs, bd->pbs);
	return 0;
}

/* Undo parse and setup. */
static void blk_uninit(struct pvbe_dev *dev)
{
	struct pvbe_blk_dev *bd = dev->priv;

	if (!bd)
		return;
	if (bd->fd >= 0) {
		close(bd->fd);
		pvbe_info(dev->tag, "%s released", bd->path);
	}
	free(bd->bq);
	free(bd);
	dev->priv = NULL;
}

/* ---- config area (worker) ----------------------------------------------- */

int pvbe_blk_backing_size(struct pvbe_blk_dev *bd, uint64_t *bytes)
{
	struct stat st;

	if (bd->is_bdev)
		return ioctl(bd->fd, BLKGETSIZE64, bytes) < 0 ? -errno : 0;
	if (fstat(bd->fd, &st) < 0)
		return -errno;
	*bytes = (uint64_t)st.st_size;
	return 0;
}

static int blk_init(struct pvbe_dev *dev)
{
	struct pvbe_blk_dev *bd = dev->priv;
	struct pvio_blk_config *c = dev->config;
	uint32_t segs = dev->cfg->queue_size - 1;	/* a chain fits the SQ */
	uint64_t bytes;
	int ret;

	ret = pvbe_blk_backing_size(bd, &bytes);
	if (ret) {
		pvbe_err(dev->tag, "size of %s: %s", bd->path, strerror(-ret));
		return ret;
	}
	bd->size = bytes / bd->lbs * bd->lbs;
	if (segs > PVBE_BLK_MAX_SEGMENTS)
		segs = PVBE_BLK_MAX_SEGMENTS;

	if (bd->readonly) {
		dev->host_features = 1ull << PVIO_BLK_F_RO;
	} else {
		dev->host_features = (1ull << PVIO_BLK_F_FLUSH) | (1ull << PVIO_BLK_F_FUA) |
				     (1ull << PVIO_BLK_F_WRITE_ZEROES);
		if (bd->discard)
			dev->host_features |= 1ull << PVIO_BLK_F_DISCARD;
	}
	if (bd->nq > 1)
		dev->host_features |= 1ull << PVIO_BLK_F_MQ;

	memset(c, 0, sizeof(*c));
	c->capacity = pvio_cpu_to_le64(bd->size / PVIO_BLK_SECTOR_SIZE);
	c->logical_block_size = pvio_cpu_to_le32(bd->lbs);
	c->physical_block_size = pvio_cpu_to_le32(bd->pbs);
	c->max_segments = pvio_cpu_to_le32(segs);
	c->max_segment_size = pvio_cpu_to_le32(PVBE_BLK_MAX_SEG_SIZE);
	c->max_sectors = pvio_cpu_to_le32(PVBE_BLK_MAX_SECTORS);
	if (dev->host_features & (1ull << PVIO_BLK_F_DISCARD)) {
		c->max_discard_sectors = pvio_cpu_to_le32(PVBE_BLK_MAX_DZ_SECTORS);
		c->discard_granularity = pvio_cpu_to_le32(bd->discard_gran);
	}
	if (!bd->readonly)
		c->max_write_zeroes_sectors = pvio_cpu_to_le32(PVBE_BLK_MAX_DZ_SECTORS);
	c->num_queues = pvio_cpu_to_le16(bd->nq);
	c->queue_depth = pvio_cpu_to_le16(dev->cfg->queue_size);
	return 0;
}

/* ---- resize (supervisor grows, worker re-reads) ------------------------- */

/*
 * Check a resize to @size against the device and the backing store now
 * (*@cur); 0, or -errno with @err set.
 */
static int resize_check(struct pvbe_dev *dev, const char *size, uint64_t cur, uint64_t *want,
			char *err, size_t len)
{
	struct pvbe_blk_dev *bd = dev->priv;

	if (pvbe_parse_size(size, want)) {
		snprintf(err, len, "bad size '%s' (bytes, or with a K, M or G suffix)", size);
		return -EINVAL;
	}
	if (bd->is_bdev) {
		snprintf(err, len, "%s is a block device: grow it on the host, then run blk-resize without a size",
			 bd->path);
		return -EINVAL;
	}
	if (bd->readonly) {
		snprintf(err, len, "read-only device: pviod does not grow its image");
		return -EROFS;
	}
	if (*want % bd->lbs) {
		snprintf(err, len, "size %" PRIu64 " is not a multiple of the logical block size %u",
			 *want, bd->lbs);
		return -EINVAL;
	}
	if (*want < cur) {
		snprintf(err, len, "shrinking is not supported: %s has %" PRIu64 " bytes, asked for %" PRIu64,
			 bd->path, cur, *want);
		return -EINVAL;
	}
	return 0;
}

/*
 * ops->sup_control: blk-resize GUEST DEVICE SIZE grows the image here, in
 * the supervisor -- a worker may not change its files' sizes (no
 * ftruncate in its filter, RLIMIT_FSIZE at their sizes) -- then the
 * worker re-reads the size and tells the guest.
 */
static int blk_sup_control(struct pvbe_dev *dev, int argc, char **argv, char *err, size_t len)
{
	struct pvbe_blk_dev *bd = dev->priv;
	uint64_t cur, want;
	int ret;

	if (strcmp(argv[0], "blk-resize") || argc != 2)
		return 1;
	ret = pvbe_blk_backing_size(bd, &cur);
	if (!ret)
		ret = resize_check(dev, argv[1], cur, &want, err, len);
	else
		snprintf(err, len, "size of %s: %s", bd->path, strerror(-ret));
	if (ret)
		return ret;
	if (want > cur && ftruncate(bd->fd, (off_t)want) < 0) {
		ret = -errno;
		snprintf(err, len, "grow %s: %s", bd->path, strerror(errno));
		return ret;
	}
	return 1;
}

/* ops->file_extent: how far the worker may write into the image. */
static uint64_t blk_file_extent(struct pvbe_dev *dev)
{
	struct pvbe_blk_dev *bd = dev->priv;
	uint64_t cur;

	if (bd->readonly || bd->is_bdev || bd->fd < 0 || pvbe_blk_backing_size(bd, &cur))
		return 0;
	return cur;
}

/* Worker: take the backing store's size now (grown by the supervisor or the host). */
static int blk_resize(struct pvbe_dev *dev, const char *size, uint64_t *sectors,
		      char *err, size_t len)
{
	struct pvio_blk_config *c = dev->config;
	struct pvbe_blk_dev *bd = dev->priv;
	uint64_t want, cur, old;
	int ret;

	ret = pvbe_blk_backing_size(bd, &cur);
	if (ret) {
		snprintf(err, len, "size of %s: %s", bd->path, strerror(-ret));
		return ret;
	}
	if (size) {
		ret = resize_check(dev, size, cur, &want, err, len);
		if (ret)
			return ret;
		if (want > cur) {
			snprintf(err, len, "%s has %" PRIu64 " bytes, not %" PRIu64 ": it was not grown",
				 bd->path, cur, want);
			return -EIO;
		}
	}
	old = bd->size;
	bd->size = cur / bd->lbs * bd->lbs;
	if (bd->size < old)
		pvbe_warn(dev->tag, "%s shrank under the guest: %" PRIu64 " -> %" PRIu64 " bytes",
			  bd->path, old, bd->size);
	if (c) {
		pvbe_guest_config_begin(dev);
		pvio_write_once(c->capacity, pvio_cpu_to_le64(bd->size / PVIO_BLK_SECTOR_SIZE));
		pvbe_guest_config_changed(dev);
	}
	pvbe_info(dev->tag, "capacity %" PRIu64 " -> %" PRIu64 " sectors", old / 512,
		  bd->size / 512);
	*sectors = bd->size / PVIO_BLK_SECTOR_SIZE;
	return 0;
}

/* ops->status: the capacity the guest sees (set up with its window) */
static void blk_status(struct pvbe_dev *dev, struct json_object *out)
{
	struct pvbe_blk_dev *bd = dev->priv;

	if (dev->desc)
		json_object_object_add(out, "capacity_bytes", json_object_new_uint64(bd->size));
}

/* ops->control: blk-resize [SIZE] */
static int blk_control(struct pvbe_dev *dev, int argc, char **argv,
		       struct json_object *out, char *err, size_t len)
{
	uint64_t sectors = 0;
	int ret;

#ifdef PVBE_TEST_HOOKS
	/* Test builds: the image's ring asked to allocate past the end. */
	if (!strcmp(argv[0], "test-uring-fallocate") && argc == 1) {
		ret = pvbe_blk_test_uring_fallocate(dev);
		json_object_object_add(out, "uring_fallocate_keep",
				       json_object_new_string(ret < 0 ? strerrorname_np(-ret) : "ok"));
		return 0;
	}
#endif
	if (strcmp(argv[0], "blk-resize"))
		return -ENOSYS;
	if (argc > 2) {
		snprintf(err, len, "blk-resize GUEST DEVICE [SIZE]");
		return -EINVAL;
	}
	ret = blk_resize(dev, argc == 2 ? argv[1] : NULL, &sectors, err, len);
	if (ret)
		return ret;
	json_object_object_add(out, "capacity", json_object_new_uint64(sectors));
	json_object_object_add(out, "bytes", json_object_new_uint64(sectors * PVIO_BLK_SECTOR_SIZE));
	return 0;
}

/* ---- queues, start and stop (worker) ------------------------------------ */

/* Worker, before the sandbox: every queue's ring (none can be made after). */
static int blk_prepare(struct pvbe_dev *dev)
{
	struct pvbe_blk_dev *bd = dev->priv;
	unsigned int i;
	int ret;

	for (i = 0; i < bd->nq; i++) {
		ret = pvbe_blk_queue_open(&bd->bq[i]);
		if (ret) {
			pvbe_err(dev->tag, "queue %u: io_uring: %s", i, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int blk_host_fds(struct pvbe_dev *dev, int *fds, int max)
{
	struct pvbe_blk_dev *bd = dev->priv;

	if (max < 1 || bd->fd < 0)
		return 0;
	fds[0] = bd->fd;
	return 1;
}

static void blk_start(struct pvbe_dev *dev)
{
	struct pvbe_blk_dev *bd = dev->priv;
	unsigned int i, used = 0;

	bd->features = dev->guest_features;
	for (i = 0; i < bd->nq; i++)
		used += dev->q[i].running;
	pvbe_info(dev->tag, "%u of %u queue(s) in use, capacity %" PRIu64 " sectors", used,
		  bd->nq, bd->size / PVIO_BLK_SECTOR_SIZE);
}

/*
 * Guest reset, driver gone, device broken, guest disconnected: nothing is
 * waited for here.  Returns how many requests the kernel still has; each
 * completion is dropped when it comes (the guest has forgotten the
 * requests) and the last one raises the device's event, so the caller
 * reuses neither the queue memory nor guest RAM before they are done.
 */
static int blk_stop(struct pvbe_dev *dev)
{
	struct pvbe_blk_dev *bd = dev->priv;
	unsigned int i, n = 0;

	for (i = 0; i < bd->nq; i++)
		n += pvbe_blk_queue_stop(&bd->bq[i]);
	if (!n)
		bd->features = 0;
	return (int)n;
}

/* ops->claim: an image by inode, a block device by number; read-only ones may be shared. */
static int blk_claim(struct pvbe_dev *dev, char *buf, size_t len, bool *shared)
{
	struct pvbe_blk_dev *bd = dev->priv;
	struct stat st;

	/* Before setup (the check comes first), by path. */
	if (bd->fd >= 0 ? fstat(bd->fd, &st) < 0 : stat(bd->path, &st) < 0)
		return 0;
	bd->is_bdev = S_ISBLK(st.st_mode);
	if (bd->is_bdev)
		snprintf(buf, len, "block device %u:%u", major(st.st_rdev), minor(st.st_rdev));
	else
		snprintf(buf, len, "image inode %llu on %u:%u", (unsigned long long)st.st_ino,
			 major(st.st_dev), minor(st.st_dev));
	*shared = bd->readonly;
	return 1;
}

const struct pvbe_dev_ops pvbe_blk_ops = {
	.type = PVIO_DEV_BLK,
	.name = "blk",
	.sq_esize = sizeof(struct pvio_desc),
	.cq_esize = sizeof(struct pvio_cpl),
	.config_len = sizeof(struct pvio_blk_config),
	.parse = blk_parse,
	.setup = blk_setup,
	.uninit = blk_uninit,
	.host_fds = blk_host_fds,
	.claim = blk_claim,
	.sup_control = blk_sup_control,
	.file_extent = blk_file_extent,
	.prepare = blk_prepare,
	.init = blk_init,
	.request = pvbe_blk_request,
	.held = pvbe_blk_held,
	.run_end = pvbe_blk_run_end,
	.start = blk_start,
	.stop = blk_stop,
	.control = blk_control,
	.spawn = pvbe_blk_spawn,
	.status = blk_status,
	.can_poll = true,
};
