// SPDX-License-Identifier: GPL-2.0
/*
 * blk/zero.c - the device's zero thread: discards and write-zeroes as
 * fallocate(2) (PUNCH_HOLE | KEEP_SIZE, or ZERO_RANGE), off the worker's
 * loop.  io_uring could do them, but it would take any mode, and a
 * KEEP_SIZE allocation past the image's end escapes RLIMIT_FSIZE; the
 * thread's fallocate goes through the seccomp filter, which allows those
 * two modes only (blk/io.c, core/sandbox.c).
 *
 * The queues' owners hand it in-flight slots whose range the queue has
 * checked (pvbe_blk_zero_submit), it runs them in order, and posts each
 * result to the queue's list and completion eventfd; the owner takes
 * them (pvbe_blk_zero_take) as it reaps the ring.  It touches nothing of
 * the guest's.  Worker only.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk/blk.h"
#include "core/log.h"

#define PVBE_BLK_ZERO_STACK	(256u << 10)

static void *zero_main(void *arg)
{
	struct pvbe_blk_dev *bd = arg;
	struct pvbe_blk_zero *z = &bd->zero;
	uint64_t one = 1;

	pthread_mutex_lock(&z->mu);
	for (;;) {
		struct pvbe_blk_zjob j;
		struct pvbe_blk_io *io;
		int res;

		while (!z->n)
			pthread_cond_wait(&z->cv, &z->mu);
		j = z->job[z->head];
		z->head = (z->head + 1) % z->cap;
		z->n--;
		io = &j.bq->io[j.slot];
		pthread_mutex_unlock(&z->mu);
		res = fallocate(bd->fd, io->fmode, (off_t)io->off, (off_t)io->len) ? -errno : 0;
		pthread_mutex_lock(&z->mu);
		io->zres = res;
		j.bq->zdone[j.bq->nzdone] = j.slot;
		/* Pairs with the look in pvbe_blk_zero_take(), made without the lock. */
		__atomic_store_n(&j.bq->nzdone, j.bq->nzdone + 1, __ATOMIC_RELEASE);
		/* The queue's owner reaps it as it reaps the ring (reap()). */
		if (write(j.bq->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			pvbe_warn(bd->dev->tag, "zero thread: wake queue %u: %s",
				  j.bq->q->index, strerror(errno));
	}
	return NULL;
}

/*
 * ops->spawn, in the sandbox before the filter (core/threads.c): the
 * zero thread, which lives as long as the worker.  It touches nothing of
 * the guest's: the jobs are ranges of the image the queue checked.
 */
int pvbe_blk_spawn(struct pvbe_dev *dev)
{
	struct pvbe_blk_dev *bd = dev->priv;
	struct pvbe_blk_zero *z = &bd->zero;
	pthread_attr_t attr;
	sigset_t all, old;
	unsigned int i;
	int ret;

	if (z->spawned)
		return 0;
	for (z->cap = 0, i = 0; i < bd->nq; i++)
		z->cap += bd->bq[i].depth;
	z->job = calloc(z->cap ? z->cap : 1, sizeof(*z->job));
	if (!z->job)
		return -ENOMEM;
	z->head = z->n = 0;
	pthread_mutex_init(&z->mu, NULL);
	pthread_cond_init(&z->cv, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, PVBE_BLK_ZERO_STACK);
	/* No signal but the filter's (a refused call is logged, not fatal). */
	sigfillset(&all);
	sigdelset(&all, SIGSYS);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(&z->thread, &attr, zero_main, bd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (ret) {
		pvbe_err(dev->tag, "zero thread: %s", strerror(ret));
		return -ret;
	}
	pthread_setname_np(z->thread, "pvblk-zero");
	z->spawned = true;
	return 0;
}

/* Hand slot @s's fallocate to the zero thread; false: there is none. */
bool pvbe_blk_zero_submit(struct pvbe_blk_queue *bq, unsigned int s)
{
	struct pvbe_blk_zero *z = &bq->bd->zero;

	if (!z->spawned)
		return false;
	pthread_mutex_lock(&z->mu);
	/* Every busy slot holds at most one job: the FIFO has room. */
	z->job[(z->head + z->n) % z->cap] = (struct pvbe_blk_zjob){ .bq = bq, .slot = (uint16_t)s };
	z->n++;
	pthread_cond_signal(&z->cv);
	pthread_mutex_unlock(&z->mu);
	return true;
}

/*
 * The queue's owner: up to @max of the fallocate()s the thread finished
 * for @bq, their slots in @done and results in @res.  Called on every
 * queue run, so no lock unless the thread has finished one.
 */
unsigned int pvbe_blk_zero_take(struct pvbe_blk_queue *bq, uint16_t *done, int *res,
				unsigned int max)
{
	struct pvbe_blk_zero *z = &bq->bd->zero;
	unsigned int i, n;

	if (!z->spawned || !__atomic_load_n(&bq->nzdone, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&z->mu);
	n = bq->nzdone < max ? bq->nzdone : max;
	for (i = 0; i < n; i++) {
		done[i] = bq->zdone[bq->nzdone - n + i];
		res[i] = bq->io[done[i]].zres;
	}
	__atomic_store_n(&bq->nzdone, bq->nzdone - n, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&z->mu);
	return n;
}
