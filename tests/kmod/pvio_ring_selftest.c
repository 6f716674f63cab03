// SPDX-License-Identifier: GPL-2.0
/*
 * pvio_ring_selftest - runs the shared ring's single-thread semantics in
 * kernel context, so the header is proven to compile and behave the same
 * in the kernel as in userspace.  Loading succeeds only if every check
 * passes; the guest test harness loads it and reports the result.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/slab.h>
#include "pvio/abi.h"

#define NSLOTS	16

struct elem {
	__le64 seq;
	__le64 val;
};

static int check_wrap(void *mem, u32 start)
{
	struct pvio_ring prod, cons;
	struct elem in[5], out[5];
	u64 next_in = 0, next_out = 0;
	int i, n, round;

	pvio_ring_shared_init(mem, start);
	if (pvio_ring_attach(&prod, mem, NSLOTS, sizeof(struct elem), true) ||
	    pvio_ring_attach(&cons, mem, NSLOTS, sizeof(struct elem), false))
		return -EINVAL;

	for (round = 0; round < 64; round++) {
		for (i = 0; i < 5; i++) {
			in[i].seq = cpu_to_le64(next_in + i);
			in[i].val = cpu_to_le64((next_in + i) * 2654435761u);
		}
		n = pvio_ring_enqueue(&prod, in, 5);
		if (n != 5)
			return -EIO;
		next_in += 5;
		n = pvio_ring_dequeue(&cons, out, 5);
		if (n != 5)
			return -EIO;
		for (i = 0; i < 5; i++, next_out++)
			if (le64_to_cpu(out[i].seq) != next_out ||
			    le64_to_cpu(out[i].val) != next_out * 2654435761u)
				return -EIO;
	}
	/* Crossed 2^32 when started near it. */
	if (start > 0xffffff00u && cons.idx > 0x1000)
		return -EIO;
	return 0;
}

static int check_full_and_hostile(void *mem)
{
	struct pvio_ring prod, cons;
	struct elem e = {};
	struct pvio_ring_shared *sh = mem;
	int i;

	pvio_ring_shared_init(mem, 0);
	if (pvio_ring_attach(&prod, mem, NSLOTS, sizeof(e), true) ||
	    pvio_ring_attach(&cons, mem, NSLOTS, sizeof(e), false))
		return -EINVAL;
	if (pvio_ring_dequeue(&cons, &e, 1) != 0)
		return -EIO;
	for (i = 0; i < NSLOTS; i++)
		if (pvio_ring_enqueue(&prod, &e, 1) != 1)
			return -EIO;
	if (pvio_ring_enqueue(&prod, &e, 1) != 0)
		return -EIO;
	/* A producer index more than NSLOTS ahead is refused. */
	WRITE_ONCE(sh->prod, cpu_to_le32(NSLOTS + 1));
	cons.peer = 0;
	if (pvio_ring_dequeue(&cons, &e, 1) != -EPROTO)
		return -EIO;
	return 0;
}

static int __init pvio_ring_selftest_init(void)
{
	void *mem;
	int ret;

	mem = kzalloc(pvio_ring_bytes(NSLOTS, sizeof(struct elem)), GFP_KERNEL);
	if (!mem)
		return -ENOMEM;
	ret = check_wrap(mem, 0);
	if (!ret)
		ret = check_wrap(mem, 0xfffffff0u);
	if (!ret)
		ret = check_full_and_hostile(mem);
	kfree(mem);
	if (ret)
		pr_err("FAIL (%d)\n", ret);
	else
		pr_info("all checks passed\n");
	return ret;
}

static void __exit pvio_ring_selftest_exit(void)
{
}

module_init(pvio_ring_selftest_init);
module_exit(pvio_ring_selftest_exit);
MODULE_DESCRIPTION("pvio shared ring self-test");
MODULE_LICENSE("GPL");
