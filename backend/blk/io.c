// SPDX-License-Identifier: GPL-2.0
/*
 * blk/io.c - the block data path: one io_uring per queue, reads and
 * writes as readv/writev straight on translated guest RAM, no bounce
 * buffer.
 *
 *   pop chain -> validate (private copy only) -> prepare an SQE in a free
 *   in-flight slot -> ... -> one io_uring_submit per run
 *   ring eventfd (epoll) -> reap CQEs -> resubmit a short transfer or post
 *   the completion -> pop more
 *
 * The generic queue loop (transport/queue.c) pops; this file is its
 * ops->request (validate, prepare an SQE), ops->held (requests in flight:
 * each holds a CQ slot, so a completion can always be posted) and
 * ops->run_end (one io_uring_submit per run, inline completions reaped at
 * once).  Completions arriving later wake on_ring(), which posts them and
 * then runs the queue through the loop's gate, never around it: a reset
 * the guest asked for is acted on before another request is taken.
 *
 * Nothing blocks the worker: discard and write-zeroes are fallocate()s
 * on the device's zero thread (blk/zero.c; a host block device takes the
 * same modes),
 * which posts its results to the queue's completion eventfd like the
 * ring; and a stop does not wait for the kernel.  It submits what is
 * prepared and returns the number in flight; their completions are
 * dropped as they come, and the last one raises the device's event, so a
 * reset is echoed only when neither the queue memory nor guest RAM will
 * be written any more.
 *
 * The rings are made before the worker is sandboxed, restricted to the
 * opcodes below (IORING_REGISTER_RESTRICTIONS): a worker its guest took
 * over cannot make io_uring open a file either.  Nor fallocate: io_uring
 * would take any mode, and a KEEP_SIZE allocation past the image's end
 * escapes RLIMIT_FSIZE; the zero thread's fallocate(2) goes through the
 * seccomp filter, which allows PUNCH_HOLE | KEEP_SIZE and ZERO_RANGE
 * only.  Worker only.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "blk/blk.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/threads.h"

#define PVBE_BLK_BUDGET		256	/* requests per queue per turn */
#define PVBE_BLK_NOP_TAG		UINT64_MAX	/* user_data of a neutered SQE */

static void on_ring(int fd, uint32_t events, void *arg);
#ifdef PVBE_TEST_HOOKS
#define PVBE_BLK_TEST_TAG	(UINT64_MAX - 1)
static int test_res;
#endif
static int submit(struct pvbe_blk_queue *bq);
static void finish(struct pvbe_blk_queue *bq, unsigned int s, uint32_t status);

/* ---- slots and submission ---------------------------------------------- */

/* What a ring may do: the data path's operations and nothing else. */
static int ring_restrict(struct io_uring *ring)
{
	static const uint8_t ops[] = {
		IORING_OP_NOP, IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC,
	};
	struct io_uring_restriction res[sizeof(ops)];
	unsigned int i;

	memset(res, 0, sizeof(res));
	for (i = 0; i < sizeof(ops); i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = ops[i];
	}
	/*
	 * liburing 2.3 declares io_uring_register_restrictions() and
	 * io_uring_enable_rings() but does not export them: the raw calls.
	 */
	return io_uring_register(ring->ring_fd, IORING_REGISTER_RESTRICTIONS, res,
				 sizeof(ops));
}

/* Worker, before the sandbox: the queue's ring, its eventfd and slots. */
int pvbe_blk_queue_open(struct pvbe_blk_queue *bq)
{
	struct io_uring_params p;
	unsigned int i, depth = bq->q->cq_size;
	int ret;

	bq->io = calloc(depth, sizeof(*bq->io));
	bq->free = calloc(depth, sizeof(*bq->free));
	bq->zdone = calloc(depth, sizeof(*bq->zdone));
	if (!bq->io || !bq->free || !bq->zdone) {
		ret = -ENOMEM;
		goto err_free;
	}
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_R_DISABLED;
	ret = io_uring_queue_init_params(depth, &bq->ring, &p);
	if (ret < 0)
		goto err_free;
	bq->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (bq->efd < 0) {
		ret = -errno;
		goto err_ring;
	}
	ret = io_uring_register_eventfd(&bq->ring, bq->efd);
	/*
	 * The ring holds the supervisor's drain pipe until the kernel frees
	 * it, after its last request: a killed worker's reads cannot land
	 * in guest RAM once a successor has taken over (core/workers.c).
	 */
	if (!ret && bq->bd->dev->g->drain_w >= 0)
		ret = io_uring_register_files(&bq->ring, &bq->bd->dev->g->drain_w, 1);
	if (!ret)
		ret = ring_restrict(&bq->ring);
	if (!ret)
		ret = io_uring_register(bq->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS,
					NULL, 0);
	if (ret < 0)
		goto err_efd;
	ret = pvbe_loop_add_to(pvbe_queue_loop(bq->q), bq->efd, EPOLLIN, on_ring, bq);
	if (ret < 0)
		goto err_efd;
	bq->depth = depth;
	for (i = 0; i < depth; i++)
		bq->free[i] = (uint16_t)(depth - 1 - i);
	bq->nfree = depth;
	bq->inflight = 0;
	bq->unsubmitted = 0;
	bq->draining = false;
	bq->ring_ok = true;
	return 0;

err_efd:
	close(bq->efd);
	bq->efd = -1;
err_ring:
	io_uring_queue_exit(&bq->ring);
err_free:
	free(bq->io);
	free(bq->free);
	free(bq->zdone);
	bq->io = NULL;
	bq->free = NULL;
	bq->zdone = NULL;
	return ret;
}

static unsigned int slot_get(struct pvbe_blk_queue *bq)
{
	unsigned int s = bq->free[--bq->nfree];

	memset(&bq->io[s], 0, offsetof(struct pvbe_blk_io, iov));
	bq->io[s].busy = true;
	bq->inflight++;
	return s;
}

static void slot_put(struct pvbe_blk_queue *bq, unsigned int s)
{
	bq->io[s].busy = false;
	bq->free[bq->nfree++] = (uint16_t)s;
	bq->inflight--;
}

/* Prepare the SQE for slot @s in its current state. */
static void io_prep(struct pvbe_blk_queue *bq, unsigned int s)
{
	struct pvbe_blk_io *io = &bq->io[s];
	int fd = bq->bd->fd;
	struct io_uring_sqe *sqe;

	if (io->phase == PVBE_BLK_PH_MAIN &&
	    (io->op == PVIO_BLK_OP_DISCARD || io->op == PVIO_BLK_OP_WRITE_ZEROES)) {
		/* On the zero thread (blk/zero.c); none: the worker's set-up failed. */
		if (!pvbe_blk_zero_submit(bq, s))
			finish(bq, s, PVIO_S_IOERR);
		return;
	}
	/* At most depth SQEs exist, and the ring has depth entries. */
	sqe = io_uring_get_sqe(&bq->ring);
	if (!sqe) {
		submit(bq);
		sqe = io_uring_get_sqe(&bq->ring);
	}
	if (!sqe) {
		finish(bq, s, PVIO_S_AGAIN);
		return;
	}
	if (io->phase == PVBE_BLK_PH_SYNC || io->op == PVIO_BLK_OP_FLUSH) {
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
	} else if (io->op == PVIO_BLK_OP_READ) {
		io_uring_prep_readv(sqe, fd, io->iov + io->iov_first,
				    io->niov - io->iov_first, io->off + io->done);
	} else {		/* WRITE: discard and write-zeroes went above */
		io_uring_prep_writev2(sqe, fd, io->iov + io->iov_first,
				      io->niov - io->iov_first, io->off + io->done,
				      io->dsync ? RWF_DSYNC : 0);
	}
	io_uring_sqe_set_data64(sqe, s);
	bq->unsubmitted++;
}

/*
 * SQEs prepared but never taken by the kernel become NOPs nobody waits
 * for, and their slots are dropped: last resort of a drain when the ring
 * refuses submissions, so no stale read can land in guest RAM later.
 */
static void neuter_unsubmitted(struct pvbe_blk_queue *bq)
{
	struct io_uring_sq *sq = &bq->ring.sq;
	unsigned int i, head = io_uring_smp_load_acquire(sq->khead);

	for (i = head; i != sq->sqe_tail; i++) {
		struct io_uring_sqe *sqe = &sq->sqes[i & sq->ring_mask];
		uint64_t s = sqe->user_data;

		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data64(sqe, PVBE_BLK_NOP_TAG);
		if (s < bq->depth && bq->io[s].busy)
			slot_put(bq, (unsigned int)s);
	}
	bq->unsubmitted = 0;
}

/* Give every prepared SQE to the kernel.  0, -EAGAIN (try later), -errno. */
static int submit(struct pvbe_blk_queue *bq)
{
	int r;

	if (!bq->unsubmitted)
		return 0;
	r = io_uring_submit(&bq->ring);
	if (r >= 0) {
		bq->unsubmitted = (unsigned int)r >= bq->unsubmitted ? 0 :
				  bq->unsubmitted - (unsigned int)r;
		return bq->unsubmitted ? -EAGAIN : 0;
	}
	if (r == -EAGAIN || r == -EBUSY || r == -EINTR)
		return -EAGAIN;
	return r;
}

/* ---- completions -------------------------------------------------------- */

static uint32_t errno_status(int err)
{
	switch (err) {
	case 0:
		return PVIO_S_OK;
	case ENOSPC:
	case EDQUOT:
		return PVIO_S_NOSPC;
	case EAGAIN:
	case EINTR:
		return PVIO_S_AGAIN;
	case EROFS:
		return PVIO_S_ROFS;
	default:
		return PVIO_S_IOERR;
	}
}

static const char *const op_name[] = {
	[PVIO_BLK_OP_READ] = "read", [PVIO_BLK_OP_WRITE] = "write",
	[PVIO_BLK_OP_FLUSH] = "flush", [PVIO_BLK_OP_DISCARD] = "discard",
	[PVIO_BLK_OP_WRITE_ZEROES] = "write-zeroes", [PVIO_BLK_OP_GET_ID] = "get-id",
};

/* Post the completion of slot @s and free the slot. */
static void finish(struct pvbe_blk_queue *bq, unsigned int s, uint32_t status)
{
	struct pvbe_blk_io *io = &bq->io[s];
	struct pvio_cpl cpl;

	/* A stopped queue's requests are void: the guest resets. */
	if (!bq->q->running || bq->draining) {
		slot_put(bq, s);
		return;
	}
	memset(&cpl, 0, sizeof(cpl));
	cpl.id = pvio_cpu_to_le16(io->id);
	cpl.status = pvio_cpu_to_le32(status);
	if (status == PVIO_S_OK) {
		if (io->op == PVIO_BLK_OP_READ)
			cpl.len = pvio_cpu_to_le32((uint32_t)io->len);
		else if (io->op == PVIO_BLK_OP_GET_ID)
			cpl.len = pvio_cpu_to_le32(PVIO_BLK_ID_BYTES);
		if (io->op == PVIO_BLK_OP_READ || io->op == PVIO_BLK_OP_WRITE)
			bq->q->st.bytes += io->len;
	}
	pvbe_queue_post(bq->q, &cpl);
	slot_put(bq, s);
}

/* Skip @n transferred bytes in the slot's iovecs (a short transfer). */
static void iov_advance(struct pvbe_blk_io *io, uint64_t n)
{
	while (n && io->iov_first < io->niov) {
		struct iovec *v = &io->iov[io->iov_first];

		if (n >= v->iov_len) {
			n -= v->iov_len;
			io->iov_first++;
		} else {
			v->iov_base = (char *)v->iov_base + n;
			v->iov_len -= n;
			n = 0;
		}
	}
}

static void complete(struct pvbe_blk_queue *bq, unsigned int s, int res)
{
	struct pvbe_blk_io *io = &bq->io[s];
	struct pvbe_blk_dev *bd = bq->bd;

	/*
	 * A stopped queue's request ends here, whatever phase it is in: a
	 * next phase (the rest of a short transfer, the fdatasync after a
	 * write, the other way to zeroes) would be prepared with nobody to
	 * submit it, and the stop would wait for it forever; and the rest
	 * of a read must not land in RAM the guest has taken back.
	 */
	if (!bq->q->running || bq->draining) {
		finish(bq, s, PVIO_S_IOERR);
		return;
	}
	if (res < 0 && io->phase == PVBE_BLK_PH_MAIN) {
		if (io->op == PVIO_BLK_OP_WRITE_ZEROES && res == -EOPNOTSUPP &&
		    !io->retried) {
			/*
			 * The other way to zeroes: a punched hole where there
			 * is no ZERO_RANGE (tmpfs), ZERO_RANGE where a device
			 * cannot unmap and zero.
			 */
			io->fmode = io->fmode & FALLOC_FL_ZERO_RANGE ?
				    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE :
				    FALLOC_FL_ZERO_RANGE;
			io->retried = true;
			io_prep(bq, s);
			return;
		}
		if (io->op == PVIO_BLK_OP_DISCARD && res == -EOPNOTSUPP)
			res = 0;	/* a discard is a hint */
	}
	if (res < 0) {
		if (pvbe_blk_ratelimit(bd))
			pvbe_warn(bd->dev->tag, "queue %u: %s%s of %llu bytes at %llu: %s",
				  bq->q->index, op_name[io->op],
				  io->phase == PVBE_BLK_PH_SYNC ? " (its fdatasync)" : "",
				  (unsigned long long)io->len, (unsigned long long)io->off,
				  strerror(-res));
		finish(bq, s, errno_status(-res));
		return;
	}
	if (io->phase == PVBE_BLK_PH_MAIN &&
	    (io->op == PVIO_BLK_OP_READ || io->op == PVIO_BLK_OP_WRITE)) {
		if (res == 0) {
			/* The backing store ended (shrunk under us) or wrote nothing. */
			if (pvbe_blk_ratelimit(bd))
				pvbe_warn(bd->dev->tag, "queue %u: %s at %llu: %llu of %llu bytes, then nothing more",
					  bq->q->index, op_name[io->op],
					  (unsigned long long)io->off,
					  (unsigned long long)io->done,
					  (unsigned long long)io->len);
			finish(bq, s, PVIO_S_IOERR);
			return;
		}
		io->done += (uint64_t)res;
		if (io->done < io->len) {
			iov_advance(io, (uint64_t)res);
			io_prep(bq, s);		/* the rest */
			return;
		}
	}
	if (io->phase == PVBE_BLK_PH_MAIN && io->sync_after) {
		io->phase = PVBE_BLK_PH_SYNC;
		io_prep(bq, s);
		return;
	}
	finish(bq, s, PVIO_S_OK);
}

/* The zero thread's finished fallocate()s for this queue (blk/zero.c). */
static void reap_zero(struct pvbe_blk_queue *bq)
{
	uint16_t done[64];
	int res[64];
	unsigned int i, n;

	do {
		n = pvbe_blk_zero_take(bq, done, res, 64);
		/* complete() may hand the slot back to the thread (the other mode). */
		for (i = 0; i < n; i++)
			complete(bq, done[i], res[i]);
	} while (n == 64);
}

static void reap(struct pvbe_blk_queue *bq)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;

	reap_zero(bq);

	io_uring_for_each_cqe(&bq->ring, head, cqe) {
		uint64_t s = io_uring_cqe_get_data64(cqe);

		n++;
#ifdef PVBE_TEST_HOOKS
		if (s == PVBE_BLK_TEST_TAG) {
			test_res = cqe->res;
			continue;
		}
#endif
		if (s >= bq->depth || !bq->io[s].busy)
			continue;	/* a neutered SQE */
		complete(bq, (unsigned int)s, cqe->res);
	}
	io_uring_cq_advance(&bq->ring, n);
}

/* ---- validation and dispatch ------------------------------------------- */

static bool is_write_op(unsigned int op)
{
	return op == PVIO_BLK_OP_WRITE || op == PVIO_BLK_OP_DISCARD ||
	       op == PVIO_BLK_OP_WRITE_ZEROES;
}

/* Is [sector, sector + nsect) inside the device?  Overflow-safe. */
static bool in_range(const struct pvbe_blk_dev *bd, uint64_t sector, uint64_t nsect)
{
	uint64_t cap = bd->size / PVIO_BLK_SECTOR_SIZE;

	return sector <= cap && nsect <= cap - sector;
}

/* Data slots 1..n of a READ, WRITE or GET_ID: all buffers, one direction. */
static uint32_t check_data(const struct pvbe_blk_dev *bd, const struct pvbe_req *req,
			   bool writable, struct pvbe_blk_io *io)
{
	uint32_t max_segs = bd->dev->cfg->queue_size - 1;
	unsigned int i;

	if (max_segs > PVBE_BLK_MAX_SEGMENTS)
		max_segs = PVBE_BLK_MAX_SEGMENTS;
	if (req->nslots < 2 || req->nslots - 1 > max_segs)
		return PVIO_S_INVAL;
	for (i = 1; i < req->nslots; i++) {
		uint16_t f = pvio_le16_to_cpu(req->d[i].flags);
		uint32_t len = pvio_le32_to_cpu(req->d[i].len);

		if (!req->buf[i] || !(f & PVIO_DESC_F_WRITE) != !writable ||
		    len > PVBE_BLK_MAX_SEG_SIZE)
			return PVIO_S_INVAL;
		io->iov[i - 1].iov_base = req->buf[i];
		io->iov[i - 1].iov_len = len;
	}
	io->niov = req->nslots - 1;
	io->len = writable ? req->out_bytes : req->in_bytes;
	return PVIO_S_OK;
}

/* O_DIRECT: every segment's address and length suitably aligned. */
static bool dio_aligned(const struct pvbe_blk_dev *bd, const struct pvbe_blk_io *io)
{
	unsigned int i;

	if (!bd->o_direct)
		return true;
	for (i = 0; i < io->niov; i++)
		if ((uintptr_t)io->iov[i].iov_base % bd->dio_mem_align ||
		    io->iov[i].iov_len % bd->dio_len_align)
			return false;
	return true;
}

/*
 * Check a popped request against the class rules (protocol.md 9.2), in
 * this order: header slot, op known, read-only, feature negotiated,
 * reserved fields, chain shape, range, size limits, alignment.  Fills the
 * slot on success.
 */
static uint32_t check(struct pvbe_blk_queue *bq, const struct pvbe_req *req,
		      struct pvbe_blk_io *io)
{
	struct pvbe_blk_dev *bd = bq->bd;
	struct pvio_blk_req h;
	struct pvio_blk_range r;
	uint64_t sector, nsect;
	uint32_t st;

	if (!(pvio_le16_to_cpu(req->d[0].flags) & PVIO_DESC_F_HDR))
		return PVIO_S_INVAL;
	/* The header slot's 16 bytes are the request header (private copy). */
	memcpy(&h, &req->d[0], sizeof(h));
	io->op = h.op;
	if (h.op > PVIO_BLK_OP_GET_ID)
		return PVIO_S_UNSUPP;
	if (bd->readonly && is_write_op(h.op))
		return PVIO_S_ROFS;
	if ((h.op == PVIO_BLK_OP_FLUSH && !pvbe_blk_has(bd, PVIO_BLK_F_FLUSH)) ||
	    (h.op == PVIO_BLK_OP_DISCARD && !pvbe_blk_has(bd, PVIO_BLK_F_DISCARD)) ||
	    (h.op == PVIO_BLK_OP_WRITE_ZEROES && !pvbe_blk_has(bd, PVIO_BLK_F_WRITE_ZEROES)) ||
	    (h.op == PVIO_BLK_OP_WRITE && (h.rflags & PVIO_BLK_RF_FUA) &&
	     !pvbe_blk_has(bd, PVIO_BLK_F_FUA)))
		return PVIO_S_UNSUPP;
	if (h.reserved || (h.rflags & ~(PVIO_BLK_RF_FUA | PVIO_BLK_RF_UNMAP)))
		return PVIO_S_INVAL;
	sector = pvio_le64_to_cpu(h.sector);

	switch (h.op) {
	case PVIO_BLK_OP_READ:
	case PVIO_BLK_OP_WRITE:
		st = check_data(bd, req, h.op == PVIO_BLK_OP_READ, io);
		if (st)
			return st;
		if (io->len % PVIO_BLK_SECTOR_SIZE)
			return PVIO_S_INVAL;
		nsect = io->len / PVIO_BLK_SECTOR_SIZE;
		if (!in_range(bd, sector, nsect))
			return PVIO_S_RANGE;
		io->off = sector * PVIO_BLK_SECTOR_SIZE;
		if (io->len % bd->lbs || io->off % bd->lbs ||
		    nsect > PVBE_BLK_MAX_SECTORS || !dio_aligned(bd, io))
			return PVIO_S_INVAL;
		/* Without FLUSH negotiated every write is on stable storage. */
		io->dsync = h.op == PVIO_BLK_OP_WRITE &&
			    ((h.rflags & PVIO_BLK_RF_FUA) || !pvbe_blk_has(bd, PVIO_BLK_F_FLUSH));
		return PVIO_S_OK;
	case PVIO_BLK_OP_FLUSH:
		return req->nslots == 1 && sector == 0 ? PVIO_S_OK : PVIO_S_INVAL;
	case PVIO_BLK_OP_DISCARD:
	case PVIO_BLK_OP_WRITE_ZEROES:
		if (req->nslots != 2 ||
		    !(pvio_le16_to_cpu(req->d[1].flags) & PVIO_DESC_F_HDR))
			return PVIO_S_INVAL;
		memcpy(&r, &req->d[1], sizeof(r));
		nsect = pvio_le64_to_cpu(r.nr_sectors);
		if (r.reserved || nsect == 0 || nsect > PVBE_BLK_MAX_DZ_SECTORS)
			return PVIO_S_INVAL;
		if (!in_range(bd, sector, nsect))
			return PVIO_S_RANGE;
		io->off = sector * PVIO_BLK_SECTOR_SIZE;
		io->len = nsect * PVIO_BLK_SECTOR_SIZE;
		if (io->off % bd->lbs || io->len % bd->lbs)
			return PVIO_S_INVAL;
		/*
		 * On a host block device, a punched hole is an unmapping
		 * zero-out if the device does that cheaply, else EOPNOTSUPP:
		 * a discard is a hint either way (complete()).
		 */
		if (h.op == PVIO_BLK_OP_DISCARD)
			io->fmode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		else if (h.rflags & PVIO_BLK_RF_UNMAP)
			io->fmode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		else	/* no KEEP_SIZE: in range, it changes nothing (sandbox.c) */
			io->fmode = FALLOC_FL_ZERO_RANGE;
		io->sync_after = !pvbe_blk_has(bd, PVIO_BLK_F_FLUSH);
		return PVIO_S_OK;
	default:	/* GET_ID */
		st = check_data(bd, req, true, io);
		if (st)
			return st;
		return io->len >= PVIO_BLK_ID_BYTES ? PVIO_S_OK : PVIO_S_INVAL;
	}
}

/* GET_ID: the serial into the writable segments, in order. */
static void get_id(const struct pvbe_blk_dev *bd, const struct pvbe_blk_io *io)
{
	const char *src = bd->serial;
	size_t left = PVIO_BLK_ID_BYTES;
	unsigned int i;

	for (i = 0; i < io->niov && left; i++) {
		size_t n = io->iov[i].iov_len < left ? io->iov[i].iov_len : left;

		memcpy(io->iov[i].iov_base, src, n);
		src += n;
		left -= n;
	}
}

/* ops->request: one popped request, answered now or handed to the kernel. */
int64_t pvbe_blk_request(struct pvbe_queue *q, const struct pvbe_req *req)
{
	struct pvbe_blk_dev *bd = q->dev->priv;
	struct pvbe_blk_queue *bq = &bd->bq[q->index];
	unsigned int s = slot_get(bq);
	struct pvbe_blk_io *io = &bq->io[s];
	uint32_t st;

	io->id = req->id;
	st = check(bq, req, io);
	if (st) {
		pvbe_dbg(bd->dev->tag, "queue %u: request %u (op %u) refused with status %u",
			 q->index, req->id, io->op, st);
		finish(bq, s, st);
		return 0;
	}
	if (io->op == PVIO_BLK_OP_GET_ID) {
		get_id(bd, io);
		finish(bq, s, PVIO_S_OK);
		return 0;
	}
	io_prep(bq, s);
	/* The budget counts what the host is asked to move or clear. */
	return (int64_t)io->len;
}

/* ---- the queue loop's hooks, completions, stop -------------------------- */

/* Push prepared SQEs; a ring that refuses them makes the device unusable. */
static int submit_or_break(struct pvbe_blk_queue *bq)
{
	int r = submit(bq);

	if (r == -EAGAIN) {
		pvbe_queue_yield(bq->q);	/* retried on our next turn */
		return 0;
	}
	if (r < 0) {
		pvbe_dev_mark_broken(bq->q->dev, PVIO_BROKEN_BACKEND,
				     "queue %u: io_uring submit: %s", bq->q->index,
				     strerror(-r));
		return r;
	}
	return 0;
}

/* ops->held: every request in flight holds a CQ slot. */
unsigned int pvbe_blk_held(struct pvbe_queue *q)
{
	struct pvbe_blk_dev *bd = q->dev->priv;

	return bd->bq[q->index].inflight;
}

/*
 * ops->run_end: one submission for everything prepared.  Reads served
 * from the page cache (and other requests the kernel finishes inline) are
 * complete when io_uring_submit() returns: post them now instead of after
 * another trip through epoll.  The eventfd is muted meanwhile, so those
 * completions do not wake us again; any completion posted while it was
 * muted is found by the reap after it is back on.  Returns >0 when that
 * freed slots (the loop looks at the SQ again).
 */
int pvbe_blk_run_end(struct pvbe_queue *q, uint64_t *work)
{
	struct pvbe_blk_dev *bd = q->dev->priv;
	struct pvbe_blk_queue *bq = &bd->bq[q->index];
	unsigned int before = bq->inflight;
	int r;

	(void)work;
	io_uring_cq_eventfd_toggle(&bq->ring, false);
	r = submit_or_break(bq);
	io_uring_cq_eventfd_toggle(&bq->ring, true);
	if (r)
		return r;
	reap(bq);
	if (bq->unsubmitted && submit_or_break(bq))
		return -EIO;
	return bq->inflight < before;
}

/* Completions: post them, then run the queue -- through the loop's gate. */
static void on_ring(int fd, uint32_t events, void *arg)
{
	struct pvbe_blk_queue *bq = arg;
	struct pvbe_queue *q = bq->q;
	uint64_t v;

	(void)events;
	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
	reap(bq);
	if (bq->draining) {
		/* The stop waits for these; the last one wakes it. */
		if (!bq->inflight) {
			bq->draining = false;
			pvbe_dev_event(q->dev);
		}
		return;
	}
	if (q->running) {
		pvbe_queue_flush(q);
		pvbe_queue_run(q);
	}
}

/*
 * ops->stop for one queue: the guest resets, its driver went, the device
 * broke, the client left.  Whatever is prepared goes to the kernel (so no
 * SQE lingers to land in guest RAM later), nothing is waited for: the
 * number still in flight is returned, their completions are dropped by
 * on_ring(), and the last one raises the device's event.
 */
unsigned int pvbe_blk_queue_stop(struct pvbe_blk_queue *bq)
{
	int r, tries;

	if (!bq->ring_ok)
		return 0;
	for (tries = 0; bq->unsubmitted; tries++) {
		r = submit(bq);
		if (r == -EAGAIN && tries < 100)
			continue;
		if (r < 0) {
			pvbe_err(bq->bd->dev->tag, "queue %u: io_uring refuses %u request(s) (%s): dropped unsubmitted",
				 bq->q->index, bq->unsubmitted, strerror(-r));
			neuter_unsubmitted(bq);
		}
	}
	reap(bq);
	bq->draining = bq->inflight > 0;
	if (bq->draining)
		pvbe_info(bq->bd->dev->tag, "queue %u: %u request(s) in flight: dropped as they finish",
			  bq->q->index, bq->inflight);
	return bq->inflight;
}

#ifdef PVBE_TEST_HOOKS
/*
 * Test builds only (control.c's test-escape): what a worker its guest
 * took over gets from its own ring for a fallocate that would allocate
 * 1 MiB past the image's end without changing its size.  -EACCES: the
 * ring refuses the opcode.  Queue 0's owner thread only.
 */
int pvbe_blk_test_uring_fallocate(struct pvbe_dev *dev)
{
	struct pvbe_blk_dev *bd = dev->priv;
	struct pvbe_blk_queue *bq = &bd->bq[0];
	struct io_uring_sqe *sqe;
	int i;

	if (!bd->nq || !bq->ring_ok)
		return -ENODEV;
	sqe = io_uring_get_sqe(&bq->ring);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_fallocate(sqe, bd->fd, FALLOC_FL_KEEP_SIZE, (off_t)bd->size, 1 << 20);
	io_uring_sqe_set_data64(sqe, PVBE_BLK_TEST_TAG);
	test_res = 1;
	bq->unsubmitted++;
	if (submit(bq))
		return -EIO;
	for (i = 0; i < 1000 && test_res == 1; i++) {
		reap(bq);
		if (test_res == 1)
			usleep(1000);
	}
	return test_res;
}
#endif
