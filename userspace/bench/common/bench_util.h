/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bench_util.h - small helpers the native benchmarks share: a monotonic
 * clock, pinning, latency samples with percentiles, medians, and running a
 * peer program with its output captured.  Header-only, static functions.
 */
#ifndef PVIO_BENCH_UTIL_H
#define PVIO_BENCH_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t bench_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void bench_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static inline void bench_relax(void)
{
	__builtin_ia32_pause();
}

/* Latency samples in nanoseconds; keeps the first @cap, counts the rest. */
struct bench_lat {
	uint32_t *v;
	size_t n, cap;
	double sum;		/* of every sample, kept or not */
	uint64_t count;
};

static inline int bench_lat_init(struct bench_lat *l, size_t cap)
{
	memset(l, 0, sizeof(*l));
	l->v = malloc(cap * sizeof(*l->v));
	l->cap = cap;
	return l->v ? 0 : -ENOMEM;
}

static inline void bench_lat_free(struct bench_lat *l)
{
	free(l->v);
	l->v = NULL;
}

static inline void bench_lat_add(struct bench_lat *l, uint64_t ns)
{
	if (ns > UINT32_MAX)
		ns = UINT32_MAX;
	if (l->n < l->cap)
		l->v[l->n++] = (uint32_t)ns;
	l->sum += (double)ns;
	l->count++;
}

static int bench_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int bench_cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sorts the kept samples; then bench_lat_pct() may be called. */
static inline void bench_lat_sort(struct bench_lat *l)
{
	qsort(l->v, l->n, sizeof(*l->v), bench_cmp_u32);
}

/* Percentile @p (0..100) in microseconds of sorted samples. */
static inline double bench_lat_pct(const struct bench_lat *l, double p)
{
	size_t i;

	if (!l->n)
		return 0;
	i = (size_t)(p / 100.0 * (double)(l->n - 1) + 0.5);
	return l->v[i] / 1000.0;
}

static inline double bench_lat_mean(const struct bench_lat *l)
{
	return l->count ? l->sum / (double)l->count / 1000.0 : 0;
}

/* Median of @n values (reorders them). */
static inline double bench_median(double *v, int n)
{
	if (n <= 0)
		return 0;
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Run @argv (argv[0] looked up in PATH), its stdout into @out (NUL-
 * terminated, at most @len - 1 bytes kept), stderr to ours.  Returns its
 * exit status, or -1.
 */
static inline int bench_run(char *const argv[], char *out, size_t len)
{
	char path[] = "/tmp/pvio-bench-out-XXXXXX";
	int fd = mkstemp(path), status;
	ssize_t n;
	pid_t pid;

	if (fd < 0)
		return -1;
	unlink(path);
	pid = fork();
	if (pid < 0) {
		close(fd);
		return -1;
	}
	if (pid == 0) {
		dup2(fd, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	n = pread(fd, out, len - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The number after the first @key at or after @from in @s; NAN if none. */
static inline double bench_num_after(const char *s, const char *from,
				     const char *key)
{
	const char *p = from ? strstr(s, from) : s;

	if (!p)
		return __builtin_nan("");
	p = strstr(p, key);
	if (!p)
		return __builtin_nan("");
	p += strlen(key);
	while (*p && (*p == ' ' || *p == ':' || *p == '"' || *p == '='))
		p++;
	return strtod(p, NULL);
}

#endif
