/* SPDX-License-Identifier: GPL-2.0 */
/*
 * memtable.h - a guest's RAM as the backend sees it: guest-physical ranges
 * mapped from the shared RAM file, and the bounds-checked translation every
 * guest address goes through.
 */
#ifndef PVBE_MEMTABLE_H
#define PVBE_MEMTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PVBE_MAX_REGIONS	4

struct pvbe_region {
	uint64_t gpa;		/* guest-physical start */
	uint64_t size;
	uint64_t file_off;	/* offset in the RAM file */
};

struct pvbe_memtable {
	int fd;			/* RAM file; kept for hole punching */
	uint64_t file_size;
	void *base;		/* the whole file, mapped shared */
	int nregions;
	struct pvbe_region r[PVBE_MAX_REGIONS];
};

/*
 * Layout rule of QEMU's x86 "pc" machine (i440fx): RAM below 3.5 GiB sits at
 * guest-physical 0; from 3.5 GiB on, the first 3 GiB stay low and the rest
 * moves to 4 GiB.  For "q35" the low part is 2 GiB once RAM reaches 2.75 GiB.
 * File offsets follow guest order.  Returns 0 or -EINVAL.
 */
int pvbe_memtable_layout(struct pvbe_memtable *mt, const char *machine,
			 uint64_t ram_size);
/* Parse an explicit "gpa:size:offset[,gpa:size:offset...]" layout. */
int pvbe_memtable_parse(struct pvbe_memtable *mt, const char *spec);
/* Map @fd (already open) according to the layout.  Takes ownership of fd. */
int pvbe_memtable_map(struct pvbe_memtable *mt, int fd, const char *tag);
void pvbe_memtable_unmap(struct pvbe_memtable *mt);

/*
 * Host pointer for [gpa, gpa + len) or NULL when any byte of it lies outside
 * guest RAM or the range crosses a region boundary.  len 0 is refused.
 */
void *pvbe_gpa(const struct pvbe_memtable *mt, uint64_t gpa, uint64_t len);
/* File offset for the same, or -1. */
int64_t pvbe_gpa_file_off(const struct pvbe_memtable *mt, uint64_t gpa,
			  uint64_t len);

#endif
