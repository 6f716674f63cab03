// SPDX-License-Identifier: GPL-2.0
/* memtable.c - guest RAM mapping and guest-physical address translation. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "transport/memtable.h"

#define GiB (1ull << 30)
#define MiB (1ull << 20)

static void add_region(struct pvbe_memtable *mt, uint64_t gpa, uint64_t size,
		       uint64_t off)
{
	mt->r[mt->nregions].gpa = gpa;
	mt->r[mt->nregions].size = size;
	mt->r[mt->nregions].file_off = off;
	mt->nregions++;
}

int pvbe_memtable_layout(struct pvbe_memtable *mt, const char *machine,
			 uint64_t ram_size)
{
	uint64_t low_max, low_split;

	memset(mt, 0, sizeof(*mt));
	mt->fd = -1;
	if (!ram_size || ram_size % (2 * MiB))
		return -EINVAL;
	if (!machine || !strcmp(machine, "pc")) {
		low_max = 0xe0000000ull;	/* below this, all RAM is low */
		low_split = 3 * GiB;
	} else if (!strcmp(machine, "q35")) {
		low_max = 0xb0000000ull;
		low_split = 2 * GiB;
	} else {
		return -EINVAL;
	}
	if (ram_size < low_max) {
		add_region(mt, 0, ram_size, 0);
	} else {
		add_region(mt, 0, low_split, 0);
		add_region(mt, 4 * GiB, ram_size - low_split, low_split);
	}
	return 0;
}

/* One number: decimal, or hexadecimal with 0x; never octal. */
static const char *parse_u64(const char *p, unsigned long long *v)
{
	char *end;

	if (*p < '0' || *p > '9')
		return NULL;
	errno = 0;
	*v = strtoull(p, &end, (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) ? 16 : 10);
	return errno || end == p ? NULL : end;
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int pvbe_memtable_parse(struct pvbe_memtable *mt, const char *spec)
{
	const char *p = spec;
	int i;

	memset(mt, 0, sizeof(*mt));
	mt->fd = -1;
	while (*p) {
		unsigned long long gpa, size, off;

		if (mt->nregions == PVBE_MAX_REGIONS)
			return -EINVAL;
		p = parse_u64(p, &gpa);
		if (!p || *p++ != ':')
			return -EINVAL;
		p = parse_u64(p, &size);
		if (!p || *p++ != ':')
			return -EINVAL;
		p = parse_u64(p, &off);
		if (!p || !size || gpa + size < gpa || off + size < off ||
		    (gpa | size | off) & 4095)
			return -EINVAL;		/* empty, wrapping or not page-aligned */
		/* Neither guest ranges nor file ranges may overlap. */
		for (i = 0; i < mt->nregions; i++)
			if (overlap(gpa, size, mt->r[i].gpa, mt->r[i].size) ||
			    overlap(off, size, mt->r[i].file_off, mt->r[i].size))
				return -EINVAL;
		add_region(mt, gpa, size, off);
		if (*p == ',')
			p++;
		else if (*p)
			return -EINVAL;
	}
	return mt->nregions ? 0 : -EINVAL;
}

#ifdef __SANITIZE_THREAD__
/*
 * Guest RAM is ordered by the guest, through rings and interrupts in
 * another process, which TSan cannot see: two worker threads that write
 * the same guest buffer one after the other (a guest that reuses it on
 * another queue) are not a race of ours.  The backend's own memory is
 * still checked.
 */
void AnnotateBenignRaceSized(const char *file, int line, const volatile void *mem,
			     long size, const char *desc);
#define guest_ram_shared(p, n) \
	AnnotateBenignRaceSized(__FILE__, __LINE__, (p), (long)(n), "guest RAM")
#else
#define guest_ram_shared(p, n) do { } while (0)
#endif

int pvbe_memtable_map(struct pvbe_memtable *mt, int fd, const char *tag)
{
	struct stat st;
	uint64_t need = 0;
	int i;

	if (fstat(fd, &st) < 0) {
		pvbe_err(tag, "guest RAM: fstat: %s", strerror(errno));
		close(fd);
		return -errno;
	}
	for (i = 0; i < mt->nregions; i++)
		if (mt->r[i].file_off + mt->r[i].size > need)
			need = mt->r[i].file_off + mt->r[i].size;
	if ((uint64_t)st.st_size < need) {
		pvbe_err(tag, "guest RAM file is %lld bytes, layout needs %" PRIu64,
			 (long long)st.st_size, need);
		close(fd);
		return -EINVAL;
	}
	mt->base = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mt->base == MAP_FAILED) {
		int err = -errno;

		pvbe_err(tag, "guest RAM: mmap %" PRIu64 " bytes: %s", need,
			 strerror(errno));
		mt->base = NULL;
		close(fd);
		return err;
	}
	guest_ram_shared(mt->base, need);
	mt->fd = fd;
	mt->file_size = need;
	return 0;
}

void pvbe_memtable_unmap(struct pvbe_memtable *mt)
{
	if (mt->base)
		munmap(mt->base, mt->file_size);
	if (mt->fd >= 0)
		close(mt->fd);
	mt->base = NULL;
	mt->fd = -1;
}

int64_t pvbe_gpa_file_off(const struct pvbe_memtable *mt, uint64_t gpa,
			  uint64_t len)
{
	int i;

	if (!len)
		return -1;
	for (i = 0; i < mt->nregions; i++) {
		const struct pvbe_region *r = &mt->r[i];

		/* gpa - r->gpa cannot underflow once gpa >= r->gpa. */
		if (gpa >= r->gpa && gpa - r->gpa < r->size &&
		    len <= r->size - (gpa - r->gpa))
			return (int64_t)(r->file_off + (gpa - r->gpa));
	}
	return -1;
}

void *pvbe_gpa(const struct pvbe_memtable *mt, uint64_t gpa, uint64_t len)
{
	int64_t off = pvbe_gpa_file_off(mt, gpa, len);

	if (off < 0 || !mt->base)
		return NULL;
	return (char *)mt->base + off;
}
