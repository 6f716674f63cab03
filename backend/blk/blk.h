/* SPDX-License-Identifier: GPL-2.0 */
/*
 * blk.h - the block device class: a raw image file or a host block device
 * served through one io_uring per queue, straight from and into guest RAM.
 *
 *   blk/blk.c    configuration keys, opening the backing store (supervisor),
 *                the config area, start/stop, resize
 *   blk/io.c   the data path: validate, submit, complete, drain
 *
 * Ownership: struct pvbe_blk_dev is built by the supervisor (parse, setup)
 * and inherited by the guest's worker through fork().  The backing fd
 * belongs to the supervisor and survives a worker crash; the worker never
 * closes it.  Everything in struct pvbe_blk_queue (the ring, its eventfd,
 * the in-flight slots) is made by the worker that uses it, before it is
 * sandboxed (ops->prepare), and dies with that worker; only the worker's
 * single thread touches it.
 */
#ifndef PVBE_BLK_H
#define PVBE_BLK_H

#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "transport/guest.h"
#include "core/log.h"
#include "pvio/blk.h"

#define PVBE_BLK_MAX_SEGMENTS	63	/* + the header slot = PVIO_MAX_CHAIN */
#define PVBE_BLK_MAX_SEG_SIZE	(1u << 20)
#define PVBE_BLK_MAX_SECTORS	2048u	/* 1 MiB per READ/WRITE */
#define PVBE_BLK_MAX_DZ_SECTORS	(1u << 21)	/* 1 GiB per DISCARD/WRITE_ZEROES */
#define PVBE_BLK_SERIAL_MAX	PVIO_BLK_ID_BYTES

/* What an in-flight slot is waiting for. */
enum pvbe_blk_phase {
	PVBE_BLK_PH_MAIN,		/* the request's own operation */
	PVBE_BLK_PH_SYNC,		/* the fdatasync that makes it durable */
};

/* One request between its submission to io_uring and its completion. */
struct pvbe_blk_io {
	uint16_t id;			/* the guest's request id */
	uint8_t op;			/* PVIO_BLK_OP_* */
	uint8_t phase;			/* enum pvbe_blk_phase */
	bool busy;
	bool retried;			/* write-zeroes: the other fallocate mode */
	bool sync_after;		/* fdatasync once the main op is done */
	bool dsync;			/* RWF_DSYNC on the write */
	int fmode;			/* fallocate mode (DISCARD, WRITE_ZEROES) */
	int zres;			/* its result (0 or -errno), zero thread */
	uint64_t off;			/* bytes, in the backing store */
	uint64_t len;			/* bytes */
	uint64_t done;			/* READ/WRITE: bytes transferred */
	unsigned int iov_first;		/* first iovec not yet fully done */
	unsigned int niov;
	struct iovec iov[PVBE_BLK_MAX_SEGMENTS];	/* translated guest RAM */
};

/* The worker-side state of one queue. */
struct pvbe_blk_queue {
	struct pvbe_blk_dev *bd;
	struct pvbe_queue *q;
	bool ring_ok;			/* ring and efd exist in this worker */
	bool draining;			/* stopped: completions are dropped */
	struct io_uring ring;
	int efd;			/* completion eventfd, in the epoll loop */
	unsigned int depth;		/* slots == cq_size */
	unsigned int inflight;		/* slots busy (prepared or in the kernel) */
	unsigned int unsubmitted;	/* SQEs prepared, not yet submitted */
	struct pvbe_blk_io *io;		/* [depth] */
	uint16_t *free;			/* stack of free slot indices */
	unsigned int nfree;
	/* fallocate()s the zero thread finished, under its mutex */
	uint16_t *zdone;		/* [depth], slot numbers */
	unsigned int nzdone;
};

/*
 * The device's zero thread: discards and write-zeroes as fallocate(2),
 * which the seccomp filter limits to modes that allocate nothing past
 * the image's end (core/sandbox.c), rather than io_uring's fallocate,
 * which nothing filters.  Made by ops->spawn; jobs are in-flight slots.
 */
struct pvbe_blk_zjob {
	struct pvbe_blk_queue *bq;
	uint16_t slot;
};

struct pvbe_blk_zero {
	bool spawned;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pvbe_blk_zjob *job;	/* FIFO of [cap]: every slot of every queue */
	unsigned int cap, head, n;
};

struct pvbe_blk_dev {
	struct pvbe_dev *dev;
	char path[224];
	bool readonly;
	bool direct;			/* cache = none asked for */
	bool discard;
	char serial[PVBE_BLK_SERIAL_MAX];	/* NUL-padded, maybe not terminated */
	/* Set by setup (supervisor). */
	int fd;
	bool is_bdev;
	bool o_direct;			/* fd really has O_DIRECT */
	uint32_t dio_mem_align;		/* O_DIRECT: segment address alignment */
	uint32_t dio_len_align;		/* O_DIRECT: segment length alignment */
	uint32_t lbs, pbs;		/* logical / physical block size */
	uint32_t discard_gran;		/* bytes */
	/* Worker: the size validation uses (never read back from the window). */
	uint64_t size;			/* bytes, a multiple of lbs */
	uint64_t features;		/* accepted by the guest at DRIVER_OK */
	struct pvbe_ratelimit log_rl;	/* data-path warnings */
	unsigned int nq;
	struct pvbe_blk_queue *bq;		/* [nq] */
	struct pvbe_blk_zero zero;		/* worker */
};

/* blk/blk.c */
bool pvbe_blk_ratelimit(struct pvbe_blk_dev *bd);
int pvbe_blk_backing_size(struct pvbe_blk_dev *bd, uint64_t *bytes);

/* blk/io.c */
int pvbe_blk_queue_open(struct pvbe_blk_queue *bq);
int64_t pvbe_blk_request(struct pvbe_queue *q, const struct pvbe_req *req);
unsigned int pvbe_blk_held(struct pvbe_queue *q);
int pvbe_blk_run_end(struct pvbe_queue *q, uint64_t *work);
unsigned int pvbe_blk_queue_stop(struct pvbe_blk_queue *bq);
#ifdef PVBE_TEST_HOOKS
int pvbe_blk_test_uring_fallocate(struct pvbe_dev *dev);
#endif

/* blk/zero.c */
int pvbe_blk_spawn(struct pvbe_dev *dev);
bool pvbe_blk_zero_submit(struct pvbe_blk_queue *bq, unsigned int s);
unsigned int pvbe_blk_zero_take(struct pvbe_blk_queue *bq, uint16_t *done, int *res,
				unsigned int max);

/* Did the guest accept feature @bit? */
static inline bool pvbe_blk_has(const struct pvbe_blk_dev *bd, int bit)
{
	return bd->features & (1ull << bit);
}

#endif
