/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * pvio/ring.h - single-producer/single-consumer ring of fixed-size slots in
 * shared memory, with event-index notification suppression.
 *
 * One header for the guest kernel, the host backend and userspace tools.
 *
 * Shared layout (struct pvio_ring_shared, then the slots):
 *
 *   0         4           8                  128       132          136
 *   +---------+-----------+------ pad -------+---------+------------+---- pad --+
 *   | prod    | cons_event|                  | cons    | prod_event |           |
 *   +---------+-----------+------------------+---------+------------+-----------+
 *   |<------ written by the producer ------->|<----- written by the consumer -->|
 *   256: slot 0, slot 1, ... slot N-1   (N a power of two, esize bytes each)
 *
 * Indices are free-running 32-bit counters: slot = index & (N - 1), the
 * number of filled slots is prod - cons (mod 2^32), never more than N.
 * Each side keeps its own index and a cached copy of the peer's in private
 * memory (struct pvio_ring) and reads the shared peer index only when the
 * cached one does not allow the operation at hand.
 *
 * Concurrency contract: exactly one producer and one consumer per ring; each
 * may run on any CPU or in any process, but calls on one struct pvio_ring
 * must be serialised by its owner.
 *
 * Trust: the peer may be hostile.  Every shared index is read once into
 * private memory and checked (prod - cons <= N) before it is used; a
 * violation returns -EPROTO and leaves the private state unchanged.  Slots
 * copied out by pvio_ring_dequeue() are private copies: validate them there.
 *
 * Barrier pairs (the label names both ends):
 *   [R1] consumer releases cons after reading slots  <->  [A1] producer acquires cons
 *   [R2] producer releases prod after writing slots  <->  [A2] consumer acquires prod
 *   [M1] producer: store prod, full fence, load prod_event  <->
 *   [M2] consumer: store prod_event, full fence, load prod
 *   [M3] consumer: store cons, full fence, load cons_event  <->
 *   [M4] producer: store cons_event, full fence, load cons
 * M1/M2 (and M3/M4) form the store-buffering pattern: with a full fence on
 * both sides at least one side observes the other's store, so either the
 * producer sees the event index and notifies, or the consumer sees the new
 * entries and does not sleep.  That closes the lost-wakeup window.
 */
#ifndef PVIO_RING_H
#define PVIO_RING_H

#include "compat.h"

#ifdef __KERNEL__
#include <linux/errno.h>
#else
#include <errno.h>
#include <stdbool.h>
#endif

/* Distance between the producer's and the consumer's fields: two 64-byte
 * lines, so the adjacent-line prefetcher does not couple them either.
 */
#define PVIO_RING_LINE		128
#define PVIO_RING_HDR_SIZE	(2 * PVIO_RING_LINE)
#define PVIO_RING_MAX_SLOTS	65536u

struct pvio_ring_shared {
	/* Written by the producer only. */
	__le32 prod;		/* next index the producer will fill */
	__le32 cons_event;	/* notify the producer when cons passes this */
	__u8 pad0[PVIO_RING_LINE - 8];
	/* Written by the consumer only. */
	__le32 cons;		/* next index the consumer will read */
	__le32 prod_event;	/* notify the consumer when prod passes this */
	__u8 pad1[PVIO_RING_LINE - 8];
	/* N slots of esize bytes follow. */
};

pvio_static_assert(sizeof(struct pvio_ring_shared) == PVIO_RING_HDR_SIZE,
		   "ring header is ABI");
pvio_static_assert(offsetof(struct pvio_ring_shared, prod) == 0, "ABI");
pvio_static_assert(offsetof(struct pvio_ring_shared, cons_event) == 4, "ABI");
pvio_static_assert(offsetof(struct pvio_ring_shared, cons) == 128, "ABI");
pvio_static_assert(offsetof(struct pvio_ring_shared, prod_event) == 132,
		   "ABI");

/* One side's private view of a ring. */
struct pvio_ring {
	struct pvio_ring_shared *sh;
	unsigned char *slots;
	__u32 mask;		/* N - 1 */
	__u32 esize;		/* bytes per slot */
	__u32 idx;		/* our index: prod (producer) or cons (consumer) */
	__u32 peer;		/* cached peer index */
	__u32 signalled;	/* our index at the last notification check */
};

/* Bytes of shared memory a ring of @nslots slots of @esize bytes needs. */
static inline unsigned long pvio_ring_bytes(__u32 nslots, __u32 esize)
{
	return PVIO_RING_HDR_SIZE + (unsigned long)nslots * esize;
}

static inline bool pvio_ring_size_valid(__u32 nslots, __u32 esize)
{
	return nslots >= 2 && nslots <= PVIO_RING_MAX_SLOTS &&
	       (nslots & (nslots - 1)) == 0 && esize >= 4 && esize <= 256 &&
	       (esize & 3) == 0;
}

/*
 * The event test shared by both directions: true when the peer asked to be
 * told about index @event and our index moved from @old to @new_idx past it,
 * i.e. old <= event < new_idx in free-running arithmetic.
 */
static inline bool pvio_ring_need_event(__u32 event, __u32 new_idx, __u32 old)
{
	return (__u32)(new_idx - event - 1) < (__u32)(new_idx - old);
}

/*
 * Initialise the shared header of an unused ring.  Only the side that owns
 * the layout (the backend) does this, before either side attaches.  @start
 * is the initial value of every index; tests use it to start near 2^32.
 */
static inline void pvio_ring_shared_init(struct pvio_ring_shared *sh,
					 __u32 start)
{
	memset(sh, 0, sizeof(*sh));
	sh->prod = pvio_cpu_to_le32(start);
	sh->cons = pvio_cpu_to_le32(start);
	sh->cons_event = pvio_cpu_to_le32(start);
	sh->prod_event = pvio_cpu_to_le32(start);
}

static inline int pvio_ring_attach(struct pvio_ring *r, void *mem,
				   __u32 nslots, __u32 esize, bool producer)
{
	struct pvio_ring_shared *sh = (struct pvio_ring_shared *)mem;
	__u32 prod, cons;

	if (!pvio_ring_size_valid(nslots, esize))
		return -EINVAL;
	prod = pvio_le32_to_cpu(pvio_load_acquire(&sh->prod));
	cons = pvio_le32_to_cpu(pvio_load_acquire(&sh->cons));
	if ((__u32)(prod - cons) > nslots)
		return -EPROTO;
	r->sh = sh;
	r->slots = (unsigned char *)mem + PVIO_RING_HDR_SIZE;
	r->mask = nslots - 1;
	r->esize = esize;
	r->idx = producer ? prod : cons;
	r->peer = producer ? cons : prod;
	r->signalled = r->idx;
	return 0;
}

static inline __u32 pvio_ring_nslots(const struct pvio_ring *r)
{
	return r->mask + 1;
}

static inline void *pvio_ring_slot(const struct pvio_ring *r, __u32 idx)
{
	return r->slots + (unsigned long)(idx & r->mask) * r->esize;
}

/* Copy @n slots between a ring starting at index @idx and a flat array. */
static inline void pvio_ring_copy_in(struct pvio_ring *r, __u32 idx,
				     const void *src, __u32 n)
{
	const unsigned char *s = (const unsigned char *)src;
	__u32 i;

	for (i = 0; i < n; i++)
		memcpy(pvio_ring_slot(r, idx + i), s + (unsigned long)i * r->esize,
		       r->esize);
}

static inline void pvio_ring_copy_out(struct pvio_ring *r, __u32 idx,
				      void *dst, __u32 n)
{
	unsigned char *d = (unsigned char *)dst;
	__u32 i;

	for (i = 0; i < n; i++)
		memcpy(d + (unsigned long)i * r->esize, pvio_ring_slot(r, idx + i),
		       r->esize);
}

/* ---- producer ---------------------------------------------------------- */

/*
 * Free slots, re-reading the consumer's index only when the cached value
 * leaves fewer than @want.  Returns the count or -EPROTO.
 */
static inline int pvio_ring_prod_space(struct pvio_ring *r, __u32 want)
{
	__u32 size = r->mask + 1;
	__u32 used = r->idx - r->peer;
	__u32 cons;

	if (pvio_likely(size - used >= want))
		return (int)(size - used);
	/* [A1] pairs with [R1]: the consumer is done with the slots it freed. */
	cons = pvio_le32_to_cpu(pvio_load_acquire(&r->sh->cons));
	used = r->idx - cons;
	if (pvio_unlikely(used > size))
		return -EPROTO;
	r->peer = cons;
	return (int)(size - used);
}

/* Pointer to the @i-th free slot, for building entries in place. */
static inline void *pvio_ring_prod_slot(struct pvio_ring *r, __u32 i)
{
	return pvio_ring_slot(r, r->idx + i);
}

/*
 * Publish @n slots filled in place.  The caller checked pvio_ring_prod_space()
 * first.  The consumer must see the slot contents before the new index.
 */
static inline void pvio_ring_prod_commit(struct pvio_ring *r, __u32 n)
{
	r->idx += n;
	/* [R2] pairs with [A2]: slot stores are visible before prod. */
	pvio_store_release(&r->sh->prod, pvio_cpu_to_le32(r->idx));
}

/*
 * Enqueue up to @n slots from @src.  Returns how many were enqueued (0 when
 * the ring is full) or -EPROTO when the consumer's index is impossible.
 */
static inline int pvio_ring_enqueue(struct pvio_ring *r, const void *src,
				    __u32 n)
{
	int space = pvio_ring_prod_space(r, n);

	if (pvio_unlikely(space <= 0))
		return space;
	if ((__u32)space < n)
		n = (__u32)space;
	pvio_ring_copy_in(r, r->idx, src, n);
	pvio_ring_prod_commit(r, n);
	return (int)n;
}

/* Enqueue all @n slots or none. */
static inline int pvio_ring_enqueue_bulk(struct pvio_ring *r, const void *src,
					 __u32 n)
{
	int space = pvio_ring_prod_space(r, n);

	if (pvio_unlikely(space < 0))
		return space;
	if ((__u32)space < n)
		return 0;
	pvio_ring_copy_in(r, r->idx, src, n);
	pvio_ring_prod_commit(r, n);
	return (int)n;
}

/*
 * After publishing one or more batches: does the consumer want to be
 * notified?  Covers everything published since the previous call.
 */
static inline bool pvio_ring_prod_need_notify(struct pvio_ring *r)
{
	__u32 old = r->signalled;
	__u32 event;

	r->signalled = r->idx;
	/* [M1] pairs with [M2]: prod is globally visible before we read
	 * prod_event, so a consumer that armed after our read sees prod.
	 */
	pvio_mb();
	event = pvio_le32_to_cpu(pvio_read_once(r->sh->prod_event));
	return pvio_ring_need_event(event, r->idx, old);
}

/*
 * Producer found the ring full and wants to sleep until the consumer frees
 * a slot.  Arms cons_event, then re-checks.  Returns >0 when space appeared
 * meanwhile (do not sleep), 0 when it is safe to sleep, -EPROTO on a bad
 * consumer index.
 */
static inline int pvio_ring_prod_arm(struct pvio_ring *r)
{
	pvio_write_once(r->sh->cons_event, pvio_cpu_to_le32(r->idx - r->mask - 1));
	/* [M4] pairs with [M3]: cons_event is visible before cons is re-read. */
	pvio_mb();
	return pvio_ring_prod_space(r, r->mask + 1);
}

/* ---- consumer ---------------------------------------------------------- */

/*
 * Filled slots, re-reading the producer's index only when the cached value
 * shows fewer than @want.  Returns the count or -EPROTO.
 */
static inline int pvio_ring_cons_avail(struct pvio_ring *r, __u32 want)
{
	__u32 avail = r->peer - r->idx;
	__u32 prod;

	if (pvio_likely(avail >= want))
		return (int)avail;
	/* [A2] pairs with [R2]: slot contents are visible once prod is. */
	prod = pvio_le32_to_cpu(pvio_load_acquire(&r->sh->prod));
	avail = prod - r->idx;
	if (pvio_unlikely(avail > r->mask + 1))
		return -EPROTO;
	r->peer = prod;
	return (int)avail;
}

/* Pointer to the @i-th filled slot.  The peer can still write it: copy it. */
static inline const void *pvio_ring_cons_slot(struct pvio_ring *r, __u32 i)
{
	return pvio_ring_slot(r, r->idx + i);
}

/*
 * Move past @n consumed slots without telling the producer yet: a consumer
 * working through a burst publishes once (pvio_ring_cons_publish) instead
 * of writing the line the producer reads once per entry.  Until then the
 * producer cannot reuse those slots; nothing else changes.
 */
static inline void pvio_ring_cons_advance(struct pvio_ring *r, __u32 n)
{
	r->idx += n;
}

/* Hand every slot consumed so far back to the producer. */
static inline void pvio_ring_cons_publish(struct pvio_ring *r)
{
	/* [R1] pairs with [A1]: our slot reads are complete before cons moves. */
	pvio_store_release(&r->sh->cons, pvio_cpu_to_le32(r->idx));
}

/* Hand @n consumed slots back to the producer. */
static inline void pvio_ring_cons_release(struct pvio_ring *r, __u32 n)
{
	pvio_ring_cons_advance(r, n);
	pvio_ring_cons_publish(r);
}

/*
 * Dequeue up to @n slots into @dst (private memory).  Returns the count
 * (0 when empty) or -EPROTO when the producer's index is impossible.
 */
static inline int pvio_ring_dequeue(struct pvio_ring *r, void *dst, __u32 n)
{
	int avail = pvio_ring_cons_avail(r, n);

	if (pvio_unlikely(avail <= 0))
		return avail;
	if ((__u32)avail < n)
		n = (__u32)avail;
	pvio_ring_copy_out(r, r->idx, dst, n);
	pvio_ring_cons_release(r, n);
	return (int)n;
}

/* Does the producer want to hear that slots were freed since last time? */
static inline bool pvio_ring_cons_need_notify(struct pvio_ring *r)
{
	__u32 old = r->signalled;
	__u32 event;

	r->signalled = r->idx;
	/* [M3] pairs with [M4]: cons is visible before cons_event is read. */
	pvio_mb();
	event = pvio_le32_to_cpu(pvio_read_once(r->sh->cons_event));
	return pvio_ring_need_event(event, r->idx, old);
}

/*
 * Consumer wants to sleep until @n (>= 1) more entries are there.  Arms
 * prod_event at our index + @n - 1, then re-checks.  With @n > 1, a
 * consumer that can wait for a batch (a transmitter reaping its
 * completions) takes one notification per batch instead of one per
 * publication.  Returns the count available, which is >= @n when the batch
 * arrived meanwhile (do not sleep) and < @n when it is safe to sleep, or
 * -EPROTO on a bad producer index.
 */
static inline int pvio_ring_cons_arm_after(struct pvio_ring *r, __u32 n)
{
	pvio_write_once(r->sh->prod_event, pvio_cpu_to_le32(r->idx + n - 1));
	/* [M2] pairs with [M1]: prod_event is visible before prod is re-read. */
	pvio_mb();
	return pvio_ring_cons_avail(r, n);
}

/*
 * Consumer found the ring empty and wants to sleep until the producer
 * publishes.  Arms prod_event at our index, then re-checks.  Returns >0 when
 * entries arrived meanwhile (do not sleep), 0 when it is safe to sleep,
 * -EPROTO on a bad producer index.
 */
static inline int pvio_ring_cons_arm(struct pvio_ring *r)
{
	return pvio_ring_cons_arm_after(r, 1);
}

/*
 * Consumer going to poll: move prod_event half the index space away so the
 * producer stops notifying.  A stale event may still cause one spurious
 * notification after 2^31 entries; notifications are hints, never required
 * for correctness of the data, only for progress of a sleeping side.
 */
static inline void pvio_ring_cons_disarm(struct pvio_ring *r)
{
	pvio_write_once(r->sh->prod_event,
			pvio_cpu_to_le32(r->idx + 0x80000000u));
}

static inline void pvio_ring_prod_disarm(struct pvio_ring *r)
{
	pvio_write_once(r->sh->cons_event,
			pvio_cpu_to_le32(r->idx + 0x80000000u));
}

#endif /* PVIO_RING_H */
