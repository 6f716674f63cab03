// SPDX-License-Identifier: GPL-2.0
/*
 * pvbal_mem - guest memory workloads for tests/vm/guest/balloon.sh (static).
 *
 *   pvbal_mem touch MIB          allocate and write MIB MiB, then exit (the
 *                                memory is freed, but the host has backed it)
 *   pvbal_mem alloc MIB          allocate, fill with a pattern and verify
 *                                MIB MiB in 16 MiB pieces (each piece passes
 *                                the overcommit heuristic); exit 0 if all of
 *                                it could be used and read back intact
 *   pvbal_mem hold MIB FILE      fill MIB MiB with a pattern, create
 *                                FILE.filled, wait until FILE exists, verify
 *                                the pattern, exit 0 if intact
 *
 * Prints what it did and, on a mismatch, where and what it found.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB	(1ul << 20)
#define PIECE	(16 * MiB)

static uint64_t pat(uint64_t i)
{
	return i * 0x9e3779b97f4a7c15ull ^ 0x5a5a5a5a5a5a5a5aull;
}

/* Map @mib MiB in pieces; NULL when a piece fails. */
static uint64_t **grab(unsigned long mib, unsigned long *npieces)
{
	unsigned long n = (mib * MiB + PIECE - 1) / PIECE, i;
	uint64_t **p = calloc(n, sizeof(*p));

	for (i = 0; p && i < n; i++) {
		p[i] = mmap(NULL, PIECE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p[i] == MAP_FAILED) {
			fprintf(stderr, "pvbal_mem: mmap piece %lu of %lu failed\n", i, n);
			return NULL;
		}
	}
	*npieces = n;
	return p;
}

static void fill(uint64_t **p, unsigned long n)
{
	unsigned long i, k;

	for (i = 0; i < n; i++)
		for (k = 0; k < PIECE / 8; k++)
			p[i][k] = pat(i * (PIECE / 8) + k);
}

static int verify(uint64_t **p, unsigned long n)
{
	unsigned long i, k, bad = 0;

	for (i = 0; i < n; i++)
		for (k = 0; k < PIECE / 8; k++)
			if (p[i][k] != pat(i * (PIECE / 8) + k) && bad++ < 5)
				fprintf(stderr, "pvbal_mem: piece %lu word %lu: expected %#llx, got %#llx\n",
					i, k, (unsigned long long)pat(i * (PIECE / 8) + k),
					(unsigned long long)p[i][k]);
	if (bad)
		fprintf(stderr, "pvbal_mem: %lu bad words in %lu MiB\n", bad, n * PIECE / MiB);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	unsigned long mib, n;
	uint64_t **p;
	char path[256];
	struct stat st;

	if (argc < 3 || (strcmp(argv[1], "hold") == 0 && argc < 4)) {
		fprintf(stderr, "usage: pvbal_mem touch|alloc MIB | hold MIB FILE\n");
		return 2;
	}
	mib = strtoul(argv[2], NULL, 10);
	p = grab(mib, &n);
	if (!p)
		return 1;
	fill(p, n);
	if (!strcmp(argv[1], "touch")) {
		printf("pvbal_mem: touched %lu MiB\n", n * PIECE / MiB);
		return 0;
	}
	if (!strcmp(argv[1], "hold")) {
		snprintf(path, sizeof(path), "%s.filled", argv[3]);
		fclose(fopen(path, "w"));
		while (stat(argv[3], &st))
			usleep(100000);
	}
	if (verify(p, n))
		return 1;
	printf("pvbal_mem: %s %lu MiB verified\n", argv[1], n * PIECE / MiB);
	return 0;
}
