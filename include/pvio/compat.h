/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * pvio/compat.h - the few primitives the ring and ABI headers need, mapped
 * once for the kernel and once for userspace (C11 + GNU builtins).
 *
 * Everything here lives in the pvio_ namespace so that it never clashes with
 * the kernel's own macros or with a userspace program that defines its own
 * smp_* helpers (DPDK does).
 *
 * Nothing in include/pvio/ includes anything outside it other than the kernel's
 * or the C library's own headers.
 */
#ifndef PVIO_COMPAT_H
#define PVIO_COMPAT_H

#ifdef __KERNEL__

#include <linux/types.h>
#include <linux/build_bug.h>
#include <linux/compiler.h>
#include <linux/string.h>
#include <asm/barrier.h>
#include <asm/byteorder.h>

#define pvio_static_assert(e, msg)	static_assert(e, msg)

/* Read a shared index; pairs with pvio_store_release() on the other side. */
#define pvio_load_acquire(p)		smp_load_acquire(p)
/* Publish a shared index after the slots it covers. */
#define pvio_store_release(p, v)	smp_store_release(p, v)
/* A plain, untorn access to a field the peer may change at any moment. */
#define pvio_read_once(x)		READ_ONCE(x)
#define pvio_write_once(x, v)		WRITE_ONCE(x, v)
/* Store-load ordering: the event-index handshake needs a full barrier. */
#define pvio_mb()			smp_mb()
#define pvio_likely(x)			likely(x)
#define pvio_unlikely(x)		unlikely(x)

#define pvio_cpu_to_le16(x)		cpu_to_le16(x)
#define pvio_cpu_to_le32(x)		cpu_to_le32(x)
#define pvio_cpu_to_le64(x)		cpu_to_le64(x)
#define pvio_le16_to_cpu(x)		le16_to_cpu(x)
#define pvio_le32_to_cpu(x)		le32_to_cpu(x)
#define pvio_le64_to_cpu(x)		le64_to_cpu(x)

#else /* userspace */

#include <stddef.h>
#include <string.h>
#include <assert.h>		/* static_assert */
#include <linux/types.h>	/* __le16/__le32/__le64, from linux-libc-dev */

#define pvio_static_assert(e, msg)	static_assert(e, msg)

#define pvio_load_acquire(p)		__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define pvio_store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define pvio_read_once(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define pvio_write_once(x, v)		__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define pvio_mb()			__atomic_thread_fence(__ATOMIC_SEQ_CST)
#define pvio_likely(x)			__builtin_expect(!!(x), 1)
#define pvio_unlikely(x)		__builtin_expect(!!(x), 0)

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define pvio_cpu_to_le16(x)		((__le16)(__u16)(x))
#define pvio_cpu_to_le32(x)		((__le32)(__u32)(x))
#define pvio_cpu_to_le64(x)		((__le64)(__u64)(x))
#define pvio_le16_to_cpu(x)		((__u16)(x))
#define pvio_le32_to_cpu(x)		((__u32)(x))
#define pvio_le64_to_cpu(x)		((__u64)(x))
#else
#define pvio_cpu_to_le16(x)		((__le16)__builtin_bswap16(x))
#define pvio_cpu_to_le32(x)		((__le32)__builtin_bswap32(x))
#define pvio_cpu_to_le64(x)		((__le64)__builtin_bswap64(x))
#define pvio_le16_to_cpu(x)		__builtin_bswap16((__u16)(x))
#define pvio_le32_to_cpu(x)		__builtin_bswap32((__u32)(x))
#define pvio_le64_to_cpu(x)		__builtin_bswap64((__u64)(x))
#endif

#endif /* __KERNEL__ */

#endif /* PVIO_COMPAT_H */
