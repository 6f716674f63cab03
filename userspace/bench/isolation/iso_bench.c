// SPDX-License-Identifier: GPL-2.0
/*
 * iso_bench - does one guest's attack cost its neighbour anything, and do
 * two guests get twice the work of one?  Native, through libpvio-front,
 * against a real pviod with three guests:
 *
 *   h1, h2   honest: echo, 1 queue of 256; a generator keeps 32 requests of
 *            64 KiB in flight and verifies one in 64: bulk work, done in
 *            pviod (the copy), which is what is to be shared and scaled
 *   a        the attacker: echo (2 queues of 128) and blk on a 4 GiB
 *            sparse image
 *
 * Each generator is a process of its own, as a guest's vCPUs would be.
 * The attacker runs under SCHED_IDLE: its own CPU is the attacking VM's,
 * which the host's scheduler governs, not pviod; what is measured is
 * what pviod spends on the attack and whether that reaches the neighbour.
 * The honest generators run at normal priority, as does every pviod
 * process.  Nothing is pinned.  In solo and two guests the attacker's
 * process is connected and idle.
 *
 * In every scenario one SCHED_IDLE spinner per CPU keeps the CPUs from
 * halting: on this nested VM a halted vCPU wakes slowly, so a run whose
 * CPUs go idle more often (an attacker that sleeps between its requests)
 * would be slower for that alone.  The spinners run only when nothing
 * else wants a CPU.
 *
 *   solo            h1 alone (the attacker connected and idle)
 *   ATTACK          h1 while the attacker runs ATTACK (see attacks[])
 *   two guests      h1 and h2 at once: their sum against solo
 *   2q_1thread      m1: one guest, echo with 2 queues (a generator each),
 *                   its worker on one thread
 *   2q_2threads     m2: the same with `threads = 2`, a queue per thread
 *
 * Every scenario runs SECONDS per round, ROUNDS rounds in rotating order;
 * per scenario the median and the min-max of the honest guest's requests
 * per second and the longest time its heartbeat did not move.  Prints
 *   RATIO neighbour_under_attack/solo ATTACK: x.xx
 *   RATIO scale_2guests/1guest: x.xx
 *   RATIO scale_1guest_2threads/1thread: x.xx
 *
 * Usage: iso_bench PVIOD DIR [SECONDS [ROUNDS]]
 * ISO_ONLY=NAME runs only the scenarios whose name starts with NAME (to
 * profile one); its RATIO lines then mean nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "pvio_front.h"

#define QD		32
#define REQ		(64u << 10)
#define RAM_H		(16u << 20)
#define RAM_A		(160u << 20)
#define MAX_ROUNDS	9

static char dir[256], sock_h1[300], sock_h2[300], sock_a[300], ctl[300];
static char sock_m1[300], sock_m2[300];
static int seconds = 5, rounds = 3;

static uint64_t now_ms(void)
{
	return bench_ns() / 1000000;
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- the honest generator ----------------------------------------------------- */

struct result {
	double ops;		/* requests per second */
	double hb_stall_ms;	/* longest time the heartbeat did not move */
	unsigned long errors;
};

static void fill_desc(struct pvio_desc *d, uint64_t addr, uint32_t len, uint16_t id,
		      uint16_t flags)
{
	d->addr = pvio_cpu_to_le64(addr);
	d->len = pvio_cpu_to_le32(len);
	d->id = pvio_cpu_to_le16(id);
	d->flags = pvio_cpu_to_le16(flags);
}

/* One queue's generator: its buffers in guest RAM. */
struct gen {
	struct pvfront *f;
	struct pvfront_queue *q;
	unsigned char *in[QD], *out[QD];
	uint64_t gin[QD], gout[QD];
};

static void post(struct gen *g, unsigned int i)
{
	struct pvio_desc ds[2];

	fill_desc(&ds[0], g->gin[i], REQ, (uint16_t)i, PVIO_DESC_F_NEXT);
	fill_desc(&ds[1], g->gout[i], REQ, (uint16_t)i, PVIO_DESC_F_WRITE);
	pvfront_submit(g->q, ds, 2);
}

/* Keep QD echo requests in flight on one queue for @secs; verify one in 64. */
static struct result drive(struct gen *g, int secs)
{
	struct result r = { 0 };
	uint64_t t0, end, done = 0, hb, hb_at, t;
	struct pvio_cpl c[QD];
	unsigned int i;
	int n, k;

	for (i = 0; i < QD; i++)
		post(g, i);
	pvfront_kick(g->q);
	t0 = now_ms();
	end = t0 + (uint64_t)secs * 1000;
	hb = pvfront_heartbeat(g->f);
	hb_at = t0;
	while ((t = now_ms()) < end) {
		if (pvfront_heartbeat(g->f) != hb) {
			hb = pvfront_heartbeat(g->f);
			hb_at = t;
		} else if (t - hb_at > r.hb_stall_ms) {
			r.hb_stall_ms = (double)(t - hb_at);
		}
		n = pvfront_reap(g->q, c, QD);
		if (n <= 0) {
			pvfront_wait(g->q, 100);
			continue;
		}
		for (k = 0; k < n; k++) {
			i = pvio_le16_to_cpu(c[k].id) % QD;
			if (c[k].status || pvio_le32_to_cpu(c[k].len) != REQ ||
			    ((done + (unsigned int)k) % 64 == 0 && memcmp(g->in[i], g->out[i], REQ)))
				r.errors++;
			post(g, i);
		}
		done += (uint64_t)n;
		pvfront_kick(g->q);
	}
	r.ops = (double)done * 1000.0 / (double)(now_ms() - t0);
	return r;
}

/*
 * A guest on @sock with an echo device of @nq queues: one generator per
 * queue, each a process of its own (a vCPU each), for @secs.  The sum.
 */
static struct result honest(const char *sock, int secs, unsigned int nq)
{
	struct result r = { 0 }, rq;
	static struct gen g[2];
	struct pvfront f;
	struct pvfront_dev *d;
	int p[2][2];
	pid_t child[2];
	unsigned int i, k;

	if (nq > 2 || pvfront_connect(&f, sock, RAM_H) || pvfront_wait_ready(&f, 5000) ||
	    pvfront_dev_setup(&f, 0, 0, nq, &d)) {
		r.errors = 1;
		return r;
	}
	for (k = 0; k < nq; k++) {
		g[k].f = &f;
		g[k].q = &d->q[k];
		for (i = 0; i < QD; i++) {
			g[k].in[i] = pvfront_alloc(&f, REQ, 64, &g[k].gin[i]);
			g[k].out[i] = pvfront_alloc(&f, REQ, 64, &g[k].gout[i]);
			if (!g[k].in[i] || !g[k].out[i]) {
				r.errors = 1;
				return r;
			}
			memset(g[k].in[i], (int)(i + k), REQ);
		}
	}
	/* Queues 1..: a child each, sharing the connection's mappings. */
	for (k = 1; k < nq; k++) {
		if (pipe(p[k]))
			return (struct result){ .errors = 1 };
		child[k] = fork();
		if (child[k] == 0) {
			close(p[k][0]);
			rq = drive(&g[k], secs);
			if (write(p[k][1], &rq, sizeof(rq)) != sizeof(rq))
				_exit(1);
			_exit(0);
		}
		close(p[k][1]);
	}
	r = drive(&g[0], secs);
	for (k = 1; k < nq; k++) {
		if (read(p[k][0], &rq, sizeof(rq)) != sizeof(rq))
			rq.errors = 1;
		close(p[k][0]);
		waitpid(child[k], NULL, 0);
		r.ops += rq.ops;
		r.errors += rq.errors;
		if (rq.hb_stall_ms > r.hb_stall_ms)
			r.hb_stall_ms = rq.hb_stall_ms;
	}
	pvfront_close(&f);
	return r;
}

/* ---- attacks ------------------------------------------------------------------------ */

struct attacker {
	struct pvfront f;
	struct pvfront_dev *echo, *blk;
};

static int attacker_up(struct attacker *a)
{
	memset(a, 0, sizeof(*a));
	if (pvfront_connect(&a->f, sock_a, RAM_A) || pvfront_wait_ready(&a->f, 5000) ||
	    pvfront_dev_setup(&a->f, 0, 0, 2, &a->echo))
		return -1;
	return 0;
}

static void echo_reset(struct attacker *a)
{
	if (!pvfront_dev_reset(a->echo, 3000))
		pvfront_dev_setup(&a->f, 0, 0, 2, &a->echo);
}

/* A doorbell as fast as the attacker can ring it. */
static void atk_kick_flood(struct attacker *a, uint64_t end)
{
	uint64_t one = 1;
	unsigned int i = 0;

	while ((i++ & 1023) || now_ms() < end)
		if (write(a->echo->q[0].kick_fd, &one, sizeof(one)) < 0)
			break;
}

/* Echo chains of 62 x 64 MiB (3968 MiB) over one buffer, one after another. */
static void atk_echo_4gib(struct attacker *a, uint64_t end)
{
	struct pvio_desc d[63];
	struct pvio_cpl c;
	uint64_t g;
	int i;

	if (!pvfront_alloc(&a->f, 64u << 20, 4096, &g))
		return;
	for (i = 0; i < 63; i++)
		fill_desc(&d[i], g, 64u << 20, 1, i < 62 ? PVIO_DESC_F_NEXT : PVIO_DESC_F_WRITE);
	while (now_ms() < end) {
		pvfront_submit(&a->echo->q[0], d, 63);
		pvfront_kick(&a->echo->q[0]);
		while (!pvfront_reap(&a->echo->q[0], &c, 1) && now_ms() < end)
			pvfront_wait(&a->echo->q[0], 50);
	}
}

/* An impossible producer index, a reset, again. */
static void atk_ring_jump(struct attacker *a, uint64_t end)
{
	while (now_ms() < end) {
		struct pvfront_queue *q = &a->echo->q[0];

		pvio_store_release(&q->sq_sh->prod,
				   pvio_cpu_to_le32(pvio_le32_to_cpu(q->sq_sh->cons) + 5000));
		pvfront_kick(q);
		pvfront_kick_config(&a->f);
		msleep(1);
		echo_reset(a);
	}
}

/* Every guest-written control field, toggled in a tight loop. */
static void atk_state_toggle(struct attacker *a, uint64_t end)
{
	struct pvio_dev_desc *dd = a->echo->desc;
	struct pvio_queue_desc *qd = (void *)((char *)a->f.win + pvio_le32_to_cpu(dd->queue_off));
	uint32_t rr = pvio_le32_to_cpu(dd->reset_request);
	unsigned long i = 0;

	while ((i & 1023) || now_ms() < end) {
		pvio_write_once(dd->driver_status, pvio_cpu_to_le32(i & 1 ? 0x0f : 0));
		pvio_write_once(dd->num_queues, pvio_cpu_to_le16(1 + (i & 1)));
		pvio_write_once(qd[i % 2].enabled, pvio_cpu_to_le32(1));
		pvio_store_release(&dd->reset_request, pvio_cpu_to_le32(++rr));
		if (!(i++ & 255))
			pvfront_kick_config(&a->f);
	}
}

/* Discards of 1 GiB, 32 at a time, with a reset while they are in flight. */
static void atk_discard(struct attacker *a, uint64_t end)
{
	struct pvio_blk_req h;
	struct pvio_blk_range r;
	struct pvio_desc d[2];
	struct pvio_cpl c[64];
	unsigned int i, round = 0;

	if (pvfront_dev_setup(&a->f, 1, 1ull << PVIO_BLK_F_DISCARD | 1ull << PVIO_BLK_F_FLUSH,
			      1, &a->blk))
		return;
	while (now_ms() < end) {
		for (i = 0; i < 32; i++) {
			memset(&h, 0, sizeof(h));
			h.op = PVIO_BLK_OP_DISCARD;
			h.sector = pvio_cpu_to_le64((uint64_t)(i % 3) << 21);
			memset(&r, 0, sizeof(r));
			r.nr_sectors = pvio_cpu_to_le64(1u << 21);
			memcpy(&d[0], &h, sizeof(h));
			d[0].id = pvio_cpu_to_le16((uint16_t)i);
			d[0].flags = pvio_cpu_to_le16(PVIO_DESC_F_HDR | PVIO_DESC_F_NEXT);
			memcpy(&d[1], &r, sizeof(r));
			d[1].id = pvio_cpu_to_le16((uint16_t)i);
			d[1].flags = pvio_cpu_to_le16(PVIO_DESC_F_HDR);
			if (pvfront_submit(&a->blk->q[0], d, 2))
				break;
		}
		pvfront_kick(&a->blk->q[0]);
		if (++round % 4 == 0) {
			if (pvfront_dev_reset(a->blk, 10000) ||
			    pvfront_dev_setup(&a->f, 1, 1ull << PVIO_BLK_F_DISCARD |
					      1ull << PVIO_BLK_F_FLUSH, 1, &a->blk))
				return;
			continue;
		}
		for (i = 0; i < 32 && now_ms() < end;) {
			int n = pvfront_reap(&a->blk->q[0], c, 64);

			if (n > 0)
				i += (unsigned int)n;
			else
				pvfront_wait(&a->blk->q[0], 50);
		}
	}
}

/* Connect, take the handshake, leave; again. */
static void atk_reconnect(struct attacker *a, uint64_t end)
{
	pvfront_close(&a->f);
	while (now_ms() < end) {
		struct pvfront f;

		if (!pvfront_connect(&f, sock_a, RAM_A))
			pvfront_close(&f);
	}
}

static const struct {
	const char *name;
	void (*fn)(struct attacker *a, uint64_t end);
} attacks[] = {
	{ "kick_flood", atk_kick_flood },
	{ "echo_4gib", atk_echo_4gib },
	{ "ring_jump_reset", atk_ring_jump },
	{ "state_toggle", atk_state_toggle },
	{ "discard_1gib", atk_discard },
	{ "reconnect", atk_reconnect },
};
#define NATTACKS ((int)(sizeof(attacks) / sizeof(attacks[0])))

/* ---- processes ------------------------------------------------------------------------ */

/* Run honest() on @sock in a child; its result comes back through a pipe. */
static pid_t spawn_honest(const char *sock, unsigned int nq, int *rfd)
{
	int p[2];
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		struct result r;

		close(p[0]);
		r = honest(sock, seconds, nq);
		if (write(p[1], &r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	*rfd = p[0];
	return pid;
}

static struct result collect(pid_t pid, int rfd)
{
	struct result r = { .errors = 1 };

	if (read(rfd, &r, sizeof(r)) != sizeof(r))
		r.errors = 1;
	close(rfd);
	waitpid(pid, NULL, 0);
	return r;
}

/* The attacker, SCHED_IDLE, for a little longer than the honest run. */
static pid_t spawn_attacker(int k)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct sched_param sp = { 0 };
		struct attacker a;

		if (sched_setscheduler(0, SCHED_IDLE, &sp) || attacker_up(&a))
			_exit(1);
		if (k >= 0) {
			attacks[k].fn(&a, now_ms() + (uint64_t)seconds * 1000 + 500);
		} else {
			msleep(seconds * 1000 + 500);	/* connected, idle */
		}
		pvfront_close(&a.f);
		_exit(0);
	}
	return pid;
}

/* The attacker's devices back to normal between scenarios. */
static void settle(void)
{
	msleep(500);
}

/* SCHED_IDLE, busy until killed: keeps a CPU from halting. */
static pid_t spawn_spinner(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct sched_param sp = { 0 };

		if (sched_setscheduler(0, SCHED_IDLE, &sp))
			_exit(1);
		for (;;)
			bench_relax();
	}
	return pid;
}

/*
 * Scenario @s: -1 solo, 0..NATTACKS-1 an attack, NATTACKS two guests,
 * NATTACKS + 1 and + 2 one guest with two queues on a worker of one and
 * of two threads.
 */
static struct result run(int s)
{
	struct result r, r2;
	pid_t h, h2 = 0, a, spin[64];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN), i;
	int fd, fd2;

	for (i = 0; i < ncpu && i < 64; i++)
		spin[i] = spawn_spinner();
	a = spawn_attacker(s >= 0 && s < NATTACKS ? s : -1);
	msleep(300);
	if (s == NATTACKS + 1)
		h = spawn_honest(sock_m1, 2, &fd);
	else if (s == NATTACKS + 2)
		h = spawn_honest(sock_m2, 2, &fd);
	else
		h = spawn_honest(sock_h1, 1, &fd);
	if (s == NATTACKS)
		h2 = spawn_honest(sock_h2, 1, &fd2);
	r = collect(h, fd);
	if (h2) {
		r2 = collect(h2, fd2);
		r.ops += r2.ops;
		r.errors += r2.errors;
		if (r2.hb_stall_ms > r.hb_stall_ms)
			r.hb_stall_ms = r2.hb_stall_ms;
	}
	waitpid(a, NULL, 0);
	for (i = 0; i < ncpu && i < 64; i++) {
		kill(spin[i], SIGKILL);
		waitpid(spin[i], NULL, 0);
	}
	settle();
	return r;
}

static int start_pviod(const char *bin, pid_t *pid)
{
	char cfg[300], log[300], img[300];
	FILE *f;
	int fd, i;

	snprintf(cfg, sizeof(cfg), "%s/pviod.ini", dir);
	snprintf(log, sizeof(log), "%s/pviod.log", dir);
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 4ll << 30))
		return -1;
	close(fd);
	f = fopen(cfg, "w");
	if (!f)
		return -1;
	fprintf(f, "[pviod]\ncontrol = %s\n\n"
		"[guest h1]\nsocket = %s\n[guest h2]\nsocket = %s\n[guest a]\nsocket = %s\n"
		"[guest m1]\nsocket = %s\n[guest m2]\nsocket = %s\nthreads = 2\n\n"
		"[device h1 e]\ntype = echo\nqueue_size = 256\n"
		"[device h2 e]\ntype = echo\nqueue_size = 256\n"
		"[device a e]\ntype = echo\nqueues = 2\nqueue_size = 128\n"
		"[device a d]\ntype = blk\npath = %s\ncache = writeback\nqueue_size = 64\n"
		"[device m1 e]\ntype = echo\nqueues = 2\nqueue_size = 256\n"
		"[device m2 e]\ntype = echo\nqueues = 2\nqueue_size = 256\n",
		ctl, sock_h1, sock_h2, sock_a, sock_m1, sock_m2, img);
	fclose(f);
	*pid = fork();
	if (*pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 2);
		execl(bin, "pviod", "-c", cfg, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 500 && access(ctl, F_OK); i++)
		msleep(10);
	return access(ctl, F_OK) ? -1 : 0;
}

/* Scenario index in main(): 0 solo, 1..NATTACKS the attacks, then these. */
#define SC_TWO		(NATTACKS + 1)
#define SC_MQ1		(NATTACKS + 2)
#define SC_MQ2		(NATTACKS + 3)
#define NSC		(NATTACKS + 4)

static const char *scenario(int s)
{
	if (s == 0)
		return "solo";
	if (s == SC_TWO)
		return "two_guests (sum)";
	if (s == SC_MQ1)
		return "2q_1thread (sum)";
	if (s == SC_MQ2)
		return "2q_2threads (sum)";
	return attacks[s - 1].name;
}

int main(int argc, char **argv)
{
	static struct result res[NSC][MAX_ROUNDS];
	double v[MAX_ROUNDS], med[NSC], lo, hi, stall;
	const char *only = getenv("ISO_ONLY");
	int s, k, rd, nsc = NSC;
	unsigned long errors = 0;
	pid_t pviod;

	if (argc < 3) {
		fprintf(stderr, "usage: iso_bench PVIOD DIR [SECONDS [ROUNDS]]\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[2]);
	if (argc > 3)
		seconds = atoi(argv[3]);
	if (argc > 4)
		rounds = atoi(argv[4]);
	if (rounds < 1 || rounds > MAX_ROUNDS || seconds < 1)
		return 2;
	snprintf(sock_h1, sizeof(sock_h1), "%s/h1.sock", dir);
	snprintf(sock_h2, sizeof(sock_h2), "%s/h2.sock", dir);
	snprintf(sock_a, sizeof(sock_a), "%s/a.sock", dir);
	snprintf(sock_m1, sizeof(sock_m1), "%s/m1.sock", dir);
	snprintf(sock_m2, sizeof(sock_m2), "%s/m2.sock", dir);
	snprintf(ctl, sizeof(ctl), "%s/control.sock", dir);
	signal(SIGPIPE, SIG_IGN);
	if (start_pviod(argv[1], &pviod)) {
		fprintf(stderr, "iso_bench: pviod did not start (see %s/pviod.log)\n", dir);
		return 1;
	}
	printf("# iso_bench: %d s per scenario, %d round(s), rotating order; echo QD %d x %u B\n",
	       seconds, rounds, QD, REQ);
	/* Every scenario once per round, the order rotating. */
	for (rd = 0; rd < rounds; rd++)
		for (k = 0; k < nsc; k++) {
			s = (k + rd) % nsc;
			/* ISO_ONLY=NAME: that scenario alone (to profile it). */
			if (only && strncmp(scenario(s), only, strlen(only)))
				continue;
			res[s][rd] = run(s - 1);
			errors += res[s][rd].errors;
			fprintf(stderr, "# round %d %-18s %10.0f req/s, heartbeat stall %4.0f ms\n",
				rd + 1, scenario(s), res[s][rd].ops, res[s][rd].hb_stall_ms);
		}
	kill(pviod, SIGTERM);
	waitpid(pviod, NULL, 0);

	printf("%-18s %12s %23s %16s\n", "scenario", "median/s", "min-max", "hb stall max ms");
	for (s = 0; s < nsc; s++) {
		lo = 1e18;
		hi = 0;
		stall = 0;
		for (rd = 0; rd < rounds; rd++) {
			v[rd] = res[s][rd].ops;
			lo = v[rd] < lo ? v[rd] : lo;
			hi = v[rd] > hi ? v[rd] : hi;
			stall = res[s][rd].hb_stall_ms > stall ? res[s][rd].hb_stall_ms : stall;
		}
		med[s] = bench_median(v, rounds);
		printf("%-18s %12.0f %11.0f-%-11.0f %16.0f\n", scenario(s), med[s], lo, hi, stall);
	}
	for (s = 1; s <= NATTACKS; s++)
		printf("RATIO neighbour_under_attack/solo %s: %.2f\n", attacks[s - 1].name,
		       med[0] > 0 ? med[s] / med[0] : 0);
	printf("RATIO scale_2guests/1guest: %.2f\n", med[0] > 0 ? med[SC_TWO] / med[0] : 0);
	printf("RATIO scale_1guest_2threads/1thread: %.2f\n",
	       med[SC_MQ1] > 0 ? med[SC_MQ2] / med[SC_MQ1] : 0);
	printf("# honest requests that failed or came back wrong: %lu\n", errors);
	return errors ? 1 : 0;
}
