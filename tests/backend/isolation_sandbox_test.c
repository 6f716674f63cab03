// SPDX-License-Identifier: GPL-2.0
/*
 * isolation_sandbox_test - the worker sandbox, with the attacking and the
 * honest guest of isolation_fixture.h: a worker runs without privileges
 * under seccomp and can open no file, reach no other guest's socket, hold
 * no other guest's persist page, signal no one or grow its image; its
 * log lines are its guest's and rate-limited; a client is kept when its
 * worker reads no messages; idle control clients do not lock the
 * operator out; a client that breaks the protocol is disconnected; and a
 * worker dies with its supervisor.  As in isolation_test, the honest
 * guest comes through each of them untouched.
 *
 * Runs the ASan/UBSan build of pviod (PVIOD env, default build/pviod-san).
 */
#include "isolation_fixture.h"

/* ---- the sandbox -------------------------------------------------------------------- */

TEST_F(iso, worker_is_sandboxed)
{
	int wpid = guest_worker_pid(self->ctl, "g1"), n = 0;
	char req[256], json[4096], path[96], link[96], name[400];
	struct dirent *e;
	DIR *d;

	fprintf(stderr, "# worker %d: Uid %ld NoNewPrivs %ld Seccomp %ld (expected non-zero, 1, 2)\n",
	       wpid, proc_status_num(wpid, 0, "Uid"), proc_status_num(wpid, 0, "NoNewPrivs"),
	       proc_status_num(wpid, 0, "Seccomp"));
	if (geteuid() == 0)
		EXPECT_NE(0, proc_status_num(wpid, 0, "Uid"));
	EXPECT_EQ(1, proc_status_num(wpid, 0, "NoNewPrivs"));
	EXPECT_EQ(2, proc_status_num(wpid, 0, "Seccomp"));
	/* A worker taken over by its guest: no file, no other guest's socket. */
	snprintf(req, sizeof(req), "test-escape g1 %s %s", self->cfg, self->sock2);
	ASSERT_EQ(0, control(self->ctl, req, json, sizeof(json)));
	fprintf(stderr, "# test-escape: %s", json);
	EXPECT_NE(NULL, strstr(json, "\"open\":\"EPERM\""));
	EXPECT_NE(NULL, strstr(json, "\"connect\":\"EPERM\""));
	EXPECT_LE(1, log_count(self->log, "seccomp refused system call openat"));
	/* None of its fds is a listening socket (its own, g2's, control). */
	snprintf(path, sizeof(path), "/proc/%d/fd", wpid);
	d = opendir(path);
	ASSERT_NE(NULL, d);
	while ((e = readdir(d))) {
		ssize_t k;

		if (e->d_name[0] == '.')
			continue;
		snprintf(name, sizeof(name), "%s/%s", path, e->d_name);
		k = readlink(name, link, sizeof(link) - 1);
		if (k < 0)
			continue;
		link[k] = '\0';
		n++;
	}
	closedir(d);
	fprintf(stderr, "# worker holds %d fds\n", n);
	/* Its own client's fds, its eventfds, its ring, stdio: well under 64. */
	EXPECT_GT(64, n);
	HONEST_UNTOUCHED();
}

/* Lines of /proc/PID/@file that contain every one of @a and @b. */
static int proc_lines(pid_t pid, const char *file, const char *a, const char *b)
{
	char path[64], line[512];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, a) && (!b || strstr(line, b));
	if (f)
		fclose(f);
	return n;
}

/*
 * The second review's findings against the sandbox: every worker had
 * every guest's persist page mapped read-write (g1's worker could turn
 * g2's link off); fcntl(F_SETOWN/F_SETSIG/O_ASYNC) let a worker have
 * the kernel SIGKILL any process of its uid, its fellow workers
 * included, which shared a process group with the supervisor; the uid
 * drop cleared the parent-death signal; the worker could stat any path;
 * and its memory had no limit.
 */
TEST_F(iso, worker_holds_nothing_of_other_guests_and_signals_no_one)
{
	int wpid = guest_worker_pid(self->ctl, "g1"), entries = 0;
	char req[256], json[4096], uj[256], path[64];
	struct dirent *e;
	DIR *d;

	ASSERT_LT(0, wpid);
	/* Shared memory: its own guest's persist page (a memfd), no other. */
	fprintf(stderr, "# persist pages mapped in g1's worker: expected 1, got %d\n",
		proc_lines(wpid, "maps", "/memfd:pviod-persist", "rw-s"));
	EXPECT_EQ(1, proc_lines(wpid, "maps", "/memfd:pviod-persist", "rw-s"));
	/* A session and process group of its own. */
	fprintf(stderr, "# worker %d: process group %ld, session %ld (expected both %d)\n", wpid,
		stat_field(wpid, 5), stat_field(wpid, 6), wpid);
	EXPECT_EQ(wpid, stat_field(wpid, 5));
	EXPECT_EQ(wpid, stat_field(wpid, 6));
	/* Private memory is limited. */
	EXPECT_EQ(0, proc_lines(wpid, "limits", "Max data size", "unlimited"));
	/* What it tries once its guest owns it. */
	snprintf(req, sizeof(req), "test-escape g1 %s %s", self->img, self->sock2);
	ASSERT_EQ(0, control(self->ctl, req, json, sizeof(json)));
	fprintf(stderr, "# test-escape: %s", json);
	EXPECT_NE(NULL, strstr(json, "\"fcntl_setown\":\"EPERM\""));
	EXPECT_NE(NULL, strstr(json, "\"fcntl_setsig\":\"EPERM\""));
	EXPECT_NE(NULL, strstr(json, "\"fcntl_async\":\"EPERM\""));
	EXPECT_NE(NULL, strstr(json, "\"pdeathsig\":9"));
	/* Its own image: no bigger, no blocks past the end (finding 5). */
	EXPECT_NE(NULL, strstr(json, "\"grow_write\":\"EFBIG\""));
	EXPECT_NE(NULL, strstr(json, "\"grow_truncate\":\"EPERM\""));
	EXPECT_NE(NULL, strstr(json, "\"grow_fallocate\":\"EPERM\""));
	EXPECT_NE(NULL, strstr(json, "\"grow_fallocate_keep\":\"EPERM\""));
	/* ZERO_RANGE, blk's write-zeroes: allowed, and past the end held by RLIMIT_FSIZE. */
	EXPECT_NE(NULL, strstr(json, "\"grow_fallocate_zero\":\"EFBIG\""));
	EXPECT_NE(NULL, strstr(json, "\"grow_fallocate_keep_zero\":\"EPERM\""));
	/*
	 * Nor through its io_uring: the rings take no fallocate, whose
	 * KEEP_SIZE allocations past the end RLIMIT_FSIZE does not bound.
	 */
	ASSERT_EQ(0, control(self->ctl, "test-uring-fallocate g1 disk0", uj, sizeof(uj)));
	fprintf(stderr, "# test-uring-fallocate (expected EACCES): %s", uj);
	EXPECT_NE(NULL, strstr(uj, "\"uring_fallocate_keep\":\"EACCES\""));
	if (geteuid() == 0) {
		/* An empty root: no path outside to stat, nothing in it. */
		EXPECT_NE(NULL, strstr(json, "\"stat\":\"ENOENT\""));
		snprintf(path, sizeof(path), "/proc/%d/root", wpid);
		d = opendir(path);
		ASSERT_NE(NULL, d);
		while ((e = readdir(d)))
			entries += e->d_name[0] != '.';
		closedir(d);
		fprintf(stderr, "# entries in the worker's root: expected 0, got %d\n", entries);
		EXPECT_EQ(0, entries);
	}
	HONEST_UNTOUCHED();
}

/* Bytes @c in file @path. */
static long count_byte(const char *path, int c)
{
	long n = 0;
	FILE *f = fopen(path, "r");
	int ch;

	while (f && (ch = fgetc(f)) != EOF)
		n += ch == c;
	if (f)
		fclose(f);
	return f ? n : -1;
}

/*
 * The second review's finding 10: workers wrote straight to pviod's
 * stderr (and had its stdin): a worker its guest owned could log lines
 * as another guest or as the supervisor, with terminal escapes, as many
 * as it liked.  Now its stderr is a pipe the supervisor reads: lines
 * are the guest's whatever tag they claim, control characters are
 * masked, and at most 2000 lines per 10 s get through.
 */
TEST_F(iso, a_worker_cannot_forge_or_flood_the_log)
{
	int wpid = guest_worker_pid(self->ctl, "g1"), forged, as_g2, k;
	char path[64], link[128], json[4096];
	ssize_t n;

	ASSERT_LT(0, wpid);
	for (k = 0; k < 3; k++) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", wpid, k);
		n = readlink(path, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = '\0';
		fprintf(stderr, "# worker fd %d: %s (expected %s)\n", k, link,
			k < 2 ? "/dev/null" : "a pipe");
		if (k < 2) {
			EXPECT_STREQ("/dev/null", link);
		} else {
			EXPECT_EQ(0, strncmp(link, "pipe:", 5));
		}
	}
	ASSERT_EQ(0, control(self->ctl, "test-log g1 g2 5000", json, sizeof(json)));
	EXPECT_NE(NULL, strstr(json, "\"logged\":5000"));
	msleep(500);
	forged = log_count(self->log, "forged line");
	as_g2 = log_count(self->log, " g2: forged line");
	fprintf(stderr, "# 5000 forged lines as g2: expected 1..2000 in the log, got %d; as g2 expected 0, got %d; escape bytes expected 0, got %ld\n",
		forged, as_g2, count_byte(self->log, 0x1b));
	EXPECT_LT(0, forged);
	EXPECT_GE(2000, forged);
	EXPECT_EQ(0, as_g2);
	EXPECT_LT(0, log_count(self->log, "g1: (claims tag 'g2') forged line"));
	EXPECT_EQ(0, count_byte(self->log, 0x1b));
	EXPECT_EQ(0, count_byte(self->log, 0x07));
	HONEST_UNTOUCHED();
}

/*
 * The second review's finding 7: when the supervisor could not hand a
 * new client to the worker (a worker not reading its messages, its
 * socket full; or one that had just died), it dropped QEMU's connection.
 * Now the worker is replaced and the next one takes the client over.
 * Here g1's worker is stopped and its socket filled with control
 * requests; then g1's QEMU restarts.
 */
TEST_F(iso, a_client_is_kept_when_the_worker_reads_no_messages)
{
	int wpid = guest_worker_pid(self->ctl, "g1"), fds[60], i, round;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char req[] = "status g1 echo0\n";
	bool full = false;
	char buf[512];
	ssize_t n;

	ASSERT_LT(0, wpid);
	strncpy(sa.sun_path, self->ctl, sizeof(sa.sun_path) - 1);
	ASSERT_EQ(0, kill(wpid, SIGSTOP));
	/* Requests the stopped worker never reads, until its socket is full. */
	for (round = 0; round < 20 && !full; round++) {
		for (i = 0; i < 60; i++) {
			fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fds[i] >= 0 && (connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) ||
					    send(fds[i], req, sizeof(req) - 1, MSG_NOSIGNAL) < 0)) {
				close(fds[i]);
				fds[i] = -1;
			}
		}
		for (i = 0; i < 60; i++) {
			struct pollfd p = { .fd = fds[i], .events = POLLIN };

			if (fds[i] < 0)
				continue;
			if (poll(&p, 1, 1500) == 1 && (n = read(fds[i], buf, sizeof(buf) - 1)) > 0) {
				buf[n] = '\0';
				full |= strstr(buf, "no worker running") != NULL;
			}
			close(fds[i]);
		}
	}
	fprintf(stderr, "# g1's worker socket full after %d rounds of 60 requests: %s\n", round,
		full ? "yes" : "no");
	ASSERT_TRUE(full);
	/* QEMU restarts: the old client goes, a new one comes. */
	pvfront_close(&self->att);
	ASSERT_EQ(0, pvfront_connect(&self->att, self->sock1, RAM1));
	i = pvfront_wait_ready(&self->att, 8000);
	fprintf(stderr, "# the new client: expected READY, got %s; worker %d replaced by %d\n",
		i ? "no window" : "READY", wpid, guest_worker_pid(self->ctl, "g1"));
	if (guest_worker_pid(self->ctl, "g1") == wpid)
		kill(wpid, SIGCONT);
	ASSERT_EQ(0, i);
	EXPECT_NE(wpid, guest_worker_pid(self->ctl, "g1"));
	ASSERT_EQ(0, pvfront_dev_setup(&self->att, 0, 0, 2, &self->ad));
	EXPECT_EQ(0, attacker_recovers(&self->att, &self->ad));
	HONEST_UNTOUCHED();
}

/*
 * The second review's finding 11: a control client that connected and
 * sent nothing held one of the 64 request slots for ever; 64 of them
 * locked the operator out.  Now a client has a second to send its line.
 */
TEST_F(iso, idle_control_clients_do_not_lock_out_the_operator)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char json[65536];
	int fds[80], i, ok;

	strncpy(sa.sun_path, self->ctl, sizeof(sa.sun_path) - 1);
	for (i = 0; i < 80; i++) {
		fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] >= 0 && connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(fds[i]);
			fds[i] = -1;
		}
	}
	msleep(1500);
	ok = control(self->ctl, "list", json, sizeof(json)) == 0 && strstr(json, "\"guests\"");
	fprintf(stderr, "# list after 80 idle control clients: expected an answer, got %s\n",
		ok ? "one" : "none");
	EXPECT_TRUE(ok);
	for (i = 0; i < 80; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	HONEST_UNTOUCHED();
}

/*
 * The second review's finding 11: a client that broke the protocol was
 * left by its worker, but the supervisor kept its connection open: QEMU
 * stayed connected to nobody.  Now the connection is closed, and the
 * client can come back.
 */
TEST_F(iso, a_client_that_breaks_the_protocol_is_disconnected)
{
	struct pollfd p = { .fd = self->att.sock, .events = POLLIN | POLLRDHUP };
	const char junk[16] = "not a RAM offer";
	char buf[64];
	ssize_t n = -1;
	int r;

	ASSERT_EQ((ssize_t)sizeof(junk), send(self->att.sock, junk, sizeof(junk), MSG_NOSIGNAL));
	r = poll(&p, 1, 3000);
	if (r == 1)
		n = recv(self->att.sock, buf, sizeof(buf), MSG_DONTWAIT);
	fprintf(stderr, "# after 16 bytes of junk: expected the connection closed (read 0), got %s (%zd)\n",
		r == 1 ? "an event" : "nothing in 3 s", n);
	EXPECT_EQ(0, n);
	EXPECT_LE(1, log_count(self->log, "the worker dropped it"));
	pvfront_close(&self->att);
	ASSERT_EQ(0, pvfront_connect(&self->att, self->sock1, RAM1));
	ASSERT_EQ(0, pvfront_wait_ready(&self->att, 5000));
	ASSERT_EQ(0, pvfront_dev_setup(&self->att, 0, 0, 2, &self->ad));
	EXPECT_EQ(0, attacker_recovers(&self->att, &self->ad));
	HONEST_UNTOUCHED();
}

/*
 * A worker that does not notice its supervisor's death (stopped here;
 * taken over, in life) still dies with it: the parent-death signal
 * survives the uid drop.
 */
TEST_F(iso, worker_dies_with_its_supervisor_even_when_it_does_not_listen)
{
	int wpid = guest_worker_pid(self->ctl, "g1"), status, k;
	bool gone = false;

	ASSERT_LT(0, wpid);
	self->h.stop = 1;
	pthread_join(self->h.thread, NULL);
	ASSERT_EQ(0, kill(wpid, SIGSTOP));
	msleep(100);
	ASSERT_EQ(0, kill(self->pid, SIGKILL));
	ASSERT_EQ(self->pid, waitpid(self->pid, &status, 0));
	self->pid = -1;
	for (k = 0; k < 200 && !gone; k++) {
		gone = kill(wpid, 0) < 0 && errno == ESRCH;
		if (!gone)
			msleep(10);
	}
	fprintf(stderr, "# stopped worker %d after its supervisor was killed: expected gone, got %s\n",
		wpid, gone ? "gone" : "still there");
	if (!gone)
		kill(wpid, SIGKILL);	/* ours: started by the pviod we started */
	EXPECT_TRUE(gone);
}

TEST_HARNESS_MAIN
