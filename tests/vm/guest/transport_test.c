// SPDX-License-Identifier: GPL-2.0
/*
 * transport_test - runs inside the guest: the pvio bus and the echo device
 * through pvio.ko.  Round trips with data verification on every queue,
 * concurrently; the sysfs view of the device.
 *
 * Usage: transport_test            the kselftest suite
 *        transport_test quick N    N round trips, exit 0 when all verify
 *        transport_test until-gen G wait (60 s) for a pvio device whose
 *                                  transport generation differs from G,
 *                                  then run round trips until they work
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#define ECHO_DEV	"/dev/pvio-echo0"
#define MAX_LEN		65536

static int read_attr(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* Find the first pvio device of @type; fills its sysfs path. */
static int find_dev(const char *type, char *path, size_t len)
{
	DIR *d = opendir("/sys/bus/pvio/devices");
	struct dirent *de;
	char p[300], t[64];

	if (!d)
		return -ENOENT;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/sys/bus/pvio/devices/%s/type", de->d_name);
		if (read_attr(p, t, sizeof(t)) == 0 && !strcmp(t, type)) {
			snprintf(path, len, "/sys/bus/pvio/devices/%s", de->d_name);
			closedir(d);
			return 0;
		}
	}
	closedir(d);
	return -ENOENT;
}

/* One round trip of @len random bytes; 0 when the echo matches. */
static int round_trip(int fd, size_t len, unsigned int *seed)
{
	static __thread unsigned char in[MAX_LEN], out[MAX_LEN];
	size_t i;
	ssize_t n;

	for (i = 0; i < len; i++)
		in[i] = (unsigned char)rand_r(seed);
	n = write(fd, in, len);
	if (n != (ssize_t)len) {
		printf("# write %zu bytes: expected %zu, got %zd (%s)\n", len, len, n,
		       n < 0 ? strerror(errno) : "short");
		return -1;
	}
	memset(out, 0, len);
	n = read(fd, out, len);
	if (n != (ssize_t)len || memcmp(in, out, len)) {
		printf("# echo of %zu bytes: expected identical data, got %zd bytes%s\n",
		       len, n, n == (ssize_t)len ? " that differ" : "");
		return -1;
	}
	return 0;
}

static int rounds(int n, unsigned int seed)
{
	int fd = open(ECHO_DEV, O_RDWR), i, bad = 0;

	if (fd < 0) {
		printf("# open %s: %s\n", ECHO_DEV, strerror(errno));
		return -1;
	}
	for (i = 0; i < n && !bad; i++)
		bad = round_trip(fd, 1 + rand_r(&seed) % MAX_LEN, &seed);
	close(fd);
	return bad ? -1 : 0;
}

TEST(bus_has_echo_device_live)
{
	char dev[300], p[400], v[64];

	ASSERT_EQ(0, find_dev("echo", dev, sizeof(dev)));
	snprintf(p, sizeof(p), "%s/state", dev);
	ASSERT_EQ(0, read_attr(p, v, sizeof(v)));
	if (strcmp(v, "live"))
		printf("# %s: expected 'live', got '%s'\n", p, v);
	EXPECT_STREQ("live", v);
	snprintf(p, sizeof(p), "%s/modalias", dev);
	ASSERT_EQ(0, read_attr(p, v, sizeof(v)));
	EXPECT_STREQ("pvio:t007F", v);
	snprintf(p, sizeof(p), "%s/driver", dev);
	EXPECT_EQ(0, access(p, F_OK));		/* bound to pvio_echo */
}

TEST(features_negotiated_to_what_both_support)
{
	char dev[300], p[400], v[64];

	ASSERT_EQ(0, find_dev("echo", dev, sizeof(dev)));
	snprintf(p, sizeof(p), "%s/features", dev);
	ASSERT_EQ(0, read_attr(p, v, sizeof(v)));
	/* The echo backend offers nothing and the driver asks for nothing. */
	EXPECT_STREQ("0x0", v);
	snprintf(p, sizeof(p), "%s/generation", dev);
	ASSERT_EQ(0, read_attr(p, v, sizeof(v)));
	EXPECT_GT(atoi(v), 0);
}

TEST(echo_round_trips_verify_every_byte)
{
	unsigned int seed = 12345;
	int fd = open(ECHO_DEV, O_RDWR), i;
	static const size_t sizes[] = { 1, 7, 4095, 4096, 4097, 12288, 65535, 65536 };

	ASSERT_GE(fd, 0);
	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, round_trip(fd, sizes[i], &seed));
	for (i = 0; i < 300; i++)
		ASSERT_EQ(0, round_trip(fd, 1 + rand_r(&seed) % MAX_LEN, &seed));
	close(fd);
}

TEST(oversized_write_is_refused)
{
	static char big[MAX_LEN + 1];
	int fd = open(ECHO_DEV, O_RDWR);

	ASSERT_GE(fd, 0);
	EXPECT_EQ(-1, write(fd, big, sizeof(big)));
	EXPECT_EQ(EINVAL, errno);
	close(fd);
}

static void *worker(void *arg)
{
	return (void *)(long)rounds(200, (unsigned int)(long)arg);
}

TEST(two_queues_in_parallel)
{
	pthread_t t[2];
	void *r[2];
	int i;

	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, worker, (void *)(long)(i + 7)));
	for (i = 0; i < 2; i++) {
		pthread_join(t[i], &r[i]);
		EXPECT_EQ(0, (long)r[i]);
	}
}

static int until_gen(int old)
{
	char dev[300], p[400], v[64];
	int i;

	for (i = 0; i < 600; i++) {
		if (find_dev("echo", dev, sizeof(dev)) == 0) {
			snprintf(p, sizeof(p), "%s/generation", dev);
			if (read_attr(p, v, sizeof(v)) == 0 && atoi(v) != old &&
			    access(ECHO_DEV, F_OK) == 0 && rounds(20, i) == 0) {
				printf("# generation %d -> %s, echo works again after %d.%d s\n",
				       old, v, i / 10, i % 10);
				return 0;
			}
		}
		usleep(100000);
	}
	printf("# expected a new generation and working echo within 60 s, got neither\n");
	return 1;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "quick"))
		return rounds(atoi(argv[2]), 99) ? 1 : 0;
	if (argc == 3 && !strcmp(argv[1], "until-gen"))
		return until_gen(atoi(argv[2]));
	return test_harness_run(argc, argv);
}
