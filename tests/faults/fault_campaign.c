// SPDX-License-Identifier: GPL-2.0
/*
 * fault_campaign - kill and stall pviod's workers while their guests run
 * verified I/O, over and over, and check that nothing is lost or
 * corrupted and how long each guest takes to come back.
 *
 * Four guests, one per class, each with its own worker and a thread of
 * verified traffic through libpvio-front:
 *
 *   ge  echo     16 requests in flight, every byte echoed checked
 *   gb  blk      a 16 MiB region of a real file, writes and reads of 4 KiB
 *                blocks, each block's content known (its last completed
 *                write, or one in flight at a crash), read back at the end
 *   gn  net      net = null, null_rx = echo: frames sent and received back,
 *                every received frame checked against what was sent
 *   gm  balloon  32 MiB of guest RAM in pages that are live (a known
 *                pattern) or in the balloon; inflates, deflates, and a
 *                scan that no live page ever changed
 *
 * For each guest in turn: KILLS times, wait until the backend has taken
 * requests it has not completed (a fault that lands after the work is
 * done proves nothing, and fails the run), SIGKILL the guest's worker,
 * and time until the guest has reset its device and a request it then
 * made has completed and been verified.  Then STALLS times SIGSTOP the
 * worker for 20-200 ms with requests taken, SIGCONT it, and time until
 * the next completion (no reset may be needed).  The other three guests
 * must see no reset and no error meanwhile.  One TAP line per guest and
 * fault, with percentiles, then the final checks.
 *
 * The classes' traffic is in fault_classes.c, the guests' threads in
 * fault_guest.c, what they share in fault_campaign.h.
 *
 *   fault_campaign [-k KILLS] [-s STALLS] [-m MIN_MS] [-M MAX_MS]
 *                  (defaults 200, 100, 1000, 40000)
 *
 * PVIOD names the pviod binary (default build/pviod-san: ASan and UBSan
 * watch every takeover).
 */
#include "fault_campaign.h"

/* ---- the campaign ------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, unsigned int n, double p)
{
	if (!n)
		return 0;
	return v[(unsigned int)((n - 1) * p + 0.5)] / 1e6;
}

static int tap_n, tap_failed;

static void tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	tap_failed += !ok;
	printf("%sok %d - ", ok ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* Wait until @g has requests out and a device that runs; false after 3 s. */
static bool wait_busy(struct guest *g)
{
	uint64_t end = now_ns() + 3000000000ull;

	while (now_ns() < end) {
		if (atomic_load(&g->inflight) > 0 &&
		    !(pvio_le32_to_cpu(pvio_read_once(g->desc->device_state)) &
		      (PVIO_DEV_S_NEEDS_RESET | PVIO_DEV_S_BROKEN)))
			return true;
		usleep(50);
	}
	return false;
}

static char ctl[128], logpath[128];

/* The state letter of process @pid (R running, S sleeping, ...), or '?'. */
static char proc_state(int pid)
{
	char path[64], buf[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	p = f && fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	if (f)
		fclose(f);
	return p ? p[2] : '?';
}

/* SIGSTOP @pid and wait until it is stopped; 0 or -1. */
static int stop_worker(int pid)
{
	char path[64], buf[512], *p;
	int i;

	if (kill(pid, SIGSTOP))
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (i = 0; i < 20000; i++) {
		FILE *f = fopen(path, "r");

		p = f && fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		if (f)
			fclose(f);
		if (p && (p[2] == 'T' || p[2] == 't'))
			return 0;
		usleep(100);
	}
	return -1;
}

enum { AT_IO, AT_RESET, AT_SETUP, AT_TAKEOVER, AT_N };
static const char *const at_name[AT_N] = {
	[AT_IO] = "during I/O", [AT_RESET] = "during a reset", [AT_SETUP] = "before DRIVER_OK",
	[AT_TAKEOVER] = "during a takeover",
};

/* Wait until @g's thread is in @phase; false after 5 s. */
static bool wait_phase(struct guest *g, int phase)
{
	uint64_t end = now_ns() + 5000000000ull;

	while (atomic_load(&g->phase) != phase) {
		if (now_ns() > end)
			return false;
		usleep(20);
	}
	return true;
}

/* Wait until @g's thread is back at its I/O with nothing asked; false after 15 s. */
static bool settled(struct guest *g)
{
	uint64_t end = now_ns() + 15000000000ull;
	bool busy;

	do {
		pthread_mutex_lock(&g->lock);
		busy = g->resetting;
		pthread_mutex_unlock(&g->lock);
		if (!busy && atomic_load(&g->want) == WANT_NONE &&
		    atomic_load(&g->phase) == PHASE_IO)
			return true;
		usleep(1000);
	} while (now_ns() < end);
	return false;
}

/* Why tries found their moment gone, for the TAP line. */
enum { MISS_IDLE, MISS_ACKED, MISS_NONE_TAKEN, MISS_SETUP_DONE, MISS_NEW_GONE, MISS_NEW_UP,
       MISS_N };
static const char *const miss_name[MISS_N] = {
	[MISS_IDLE] = "worker not running", [MISS_ACKED] = "reset acknowledged",
	[MISS_NONE_TAKEN] = "nothing taken", [MISS_SETUP_DONE] = "set-up done",
	[MISS_NEW_GONE] = "new worker gone", [MISS_NEW_UP] = "new worker up",
};
static unsigned int miss[MISS_N];

static int missed_moment(int why)
{
	miss[why]++;
	return 0;
}

/*
 * Stop worker @wpid anywhere in its work, holding requests it has taken
 * and not completed (*@load of them): 1, stopped; 0, a miss (thawed
 * again); -1 with *@why set.
 */
static int catch_holding(struct guest *g, int wpid, unsigned int *load, const char **why)
{
	usleep((useconds_t)(rand() % 2000));
	if (g->c->whole && proc_state(wpid) != 'R')
		return missed_moment(MISS_IDLE);
	if (stop_worker(wpid)) {
		*why = "SIGSTOP did not stop the worker";
		return -1;
	}
	msleep(15);	/* what it did complete, the guest reaps (it waits 5 ms at most) */
	*load = taken_now(g);
	if (!*load) {
		kill(wpid, SIGCONT);
		return missed_moment(MISS_NONE_TAKEN);
	}
	return 1;
}

/*
 * One SIGKILL of @g's worker at moment @at, landing where it should: the
 * worker is stopped first and the state looked at; a try that finds the
 * moment gone thaws the worker and returns 0 (try again).  Returns 1 with
 * *@t0 the time of the kill and *@load what was in flight, or -1 with
 * *@why set.
 */
static int kill_at(struct guest *g, int at, uint64_t *t0, unsigned int *load, const char **why)
{
	struct pvio_dev_desc *dd = g->desc;
	int wpid = guest_worker_pid(ctl, g->c->gname), np, k, r;
	uint32_t gen;

	if (wpid <= 0) {
		*why = "no worker pid";
		return -1;
	}
	if (!wait_busy(g)) {
		*why = "the guest had no request out for 3 s";
		return -1;
	}
	if (at == AT_IO || at == AT_TAKEOVER) {
		r = catch_holding(g, wpid, load, why);
		if (r <= 0)
			return r;
	} else if (at == AT_RESET) {
		/*
		 * The guest resets with requests in flight while the worker is
		 * stopped; thawed, the worker serves it (blk: drains what it
		 * had taken) for a random moment, and is stopped again.  The
		 * worker is first caught holding requests: a reset with none
		 * in flight is not the moment, and costs the guest a set-up.
		 */
		r = catch_holding(g, wpid, load, why);
		if (r <= 0)
			return r;
		atomic_store(&g->want, WANT_RESET);
		if (!wait_phase(g, PHASE_RESETTING)) {
			kill(wpid, SIGCONT);
			*why = "the guest never reset";
			return -1;
		}
		while (pvio_read_once(dd->reset_count) == pvio_read_once(dd->reset_request))
			;
		kill(wpid, SIGCONT);
		usleep((useconds_t)(rand() % 500));
		if (stop_worker(wpid)) {
			*why = "SIGSTOP did not stop the worker";
			return -1;
		}
		/* Not yet acknowledged, with requests that were in flight at it. */
		*load = atomic_load(&g->lost_taken);
		if (!*load || pvio_le32_to_cpu(pvio_read_once(dd->reset_count)) ==
			      pvio_le32_to_cpu(pvio_read_once(dd->reset_request))) {
			kill(wpid, SIGCONT);
			return missed_moment(*load ? MISS_ACKED : MISS_NONE_TAKEN);
		}
	} else {
		atomic_store(&g->setup_go, 0);
		atomic_store(&g->want, WANT_SETUP);
		if (!wait_phase(g, PHASE_SETTING_UP)) {
			*why = "the guest never got to its set-up";
			return -1;
		}
		if (stop_worker(wpid)) {
			*why = "SIGSTOP did not stop the worker";
			return -1;
		}
		*load = 0;	/* a device being set up has nothing in flight */
		if (atomic_load(&g->phase) != PHASE_SETTING_UP) {
			kill(wpid, SIGCONT);
			return missed_moment(MISS_SETUP_DONE);
		}
	}
	*t0 = now_ns();
	atomic_store(&g->back_ns, 0);
	atomic_store(&g->fault_ns, *t0);
	if (kill(wpid, SIGKILL)) {
		*why = "kill failed";
		return -1;
	}
	if (at != AT_TAKEOVER)
		return 1;
	/* The worker that takes over: killed before it has published its generation. */
	gen = pvio_le32_to_cpu(pvio_load_acquire(&g->f.hdr->generation));
	for (k = 0; k < 50000; k++) {
		np = guest_worker_pid(ctl, g->c->gname);
		if (np > 0 && np != wpid)
			break;
		usleep(100);
	}
	if (np <= 0 || np == wpid) {
		*why = "no new worker within 5 s";
		return -1;
	}
	if (stop_worker(np))
		return missed_moment(MISS_NEW_GONE);	/* it failed? the recovery says */
	if (pvio_le32_to_cpu(pvio_load_acquire(&g->f.hdr->generation)) != gen) {
		kill(np, SIGCONT);	/* it had taken over: not this moment */
		return missed_moment(MISS_NEW_UP);
	}
	*t0 = now_ns();
	atomic_store(&g->fault_ns, *t0);
	kill(np, SIGKILL);
	return 1;
}

/*
 * @kills SIGKILLs of @g's worker, a quarter at each moment: during I/O
 * (requests it has taken and not completed -- for echo and the balloon,
 * which publish their consumer index with the completions, requests out
 * while it runs), during a reset the guest made with requests in flight
 * (for blk, while it drains them), after FEATURES_OK and before
 * DRIVER_OK, and during the takeover that follows a kill.  Each lands
 * where it should (kill_at); tries that find the moment gone do not
 * count (60 s without a kill landing fails the run).  Time to come
 * back: the kill to the first verified completion after the guest's
 * reset.  The other guests must not reset meanwhile.
 */
static void kill_phase(struct guest *gs, struct guest *g, unsigned int kills)
{
	uint64_t *lat[AT_N], r0[NCLS], e0 = atomic_load(&g->mismatches), landed;
	unsigned int k, at, n[AT_N] = { 0 }, total = 0, missed = 0, nb = 0;
	unsigned int load_min[AT_N], load_max[AT_N] = { 0 };
	const char *fail = NULL;
	char others[160] = "", moments[1024] = "", whys[256] = "";
	uint64_t t_phase = now_ns(), t_shown = t_phase;

	for (at = 0; at < AT_N; at++) {
		lat[at] = calloc(kills, sizeof(*lat[at]));
		load_min[at] = ~0u;
	}
	for (k = 0; k < NCLS; k++)
		r0[k] = atomic_load(&gs[k].resets);
	memset(miss, 0, sizeof(miss));
	landed = now_ns();
	while (total < kills && !fail) {
		uint64_t resets = atomic_load(&g->resets), t0 = 0;
		unsigned int load = 0;
		int r;

		/* A long campaign says how far it is, every 10 s. */
		if (now_ns() - t_shown >= 10000000000ull) {
			t_shown = now_ns();
			printf("# %s: %u/%u kills landed, %u tries missed their moment, %.0f s\n",
			       g->c->name, total, kills, missed, (t_shown - t_phase) / 1e9);
			fflush(stdout);
		}
		at = total % AT_N;
		r = kill_at(g, (int)at, &t0, &load, &fail);
		atomic_store(&g->setup_go, 1);	/* the guest thread's set-up goes on */
		if (r < 0)
			break;
		if (r == 0) {
			/*
			 * A loaded machine finds the moment less often: the
			 * budget is time without a kill landing, not tries.
			 */
			missed++;
			if (now_ns() - landed > 60000000000ull)
				fail = "no kill landed its moment in 60 s of trying";
			continue;
		}
		landed = now_ns();
		/* Back: a reset done and a request made after it verified. */
		while ((atomic_load(&g->resets) == resets || !atomic_load(&g->back_ns)) &&
		       now_ns() - t0 < 15000000000ull)
			usleep(200);
		atomic_store(&g->fault_ns, 0);
		if (atomic_load(&g->resets) == resets || !atomic_load(&g->back_ns)) {
			fail = "the guest did not come back within 15 s";
			break;
		}
		/* During I/O: the guest's reset confirms nothing came back. */
		if (at == AT_IO && !atomic_load(&g->lost_taken)) {
			fail = "a kill during I/O found no request taken and not completed";
			break;
		}
		load_min[at] = load < load_min[at] ? load : load_min[at];
		load_max[at] = load > load_max[at] ? load : load_max[at];
		lat[at][n[at]++] = atomic_load(&g->back_ns) - t0;
		total++;
		usleep((useconds_t)(rand() % 20000));
	}
	/* A reset this phase asked for ends in it, not in the next guest's. */
	if (!settled(g) && !fail)
		fail = "the guest did not settle within 15 s";
	for (k = 0; k < NCLS; k++) {
		uint64_t r = atomic_load(&gs[k].resets) - r0[k];

		if (&gs[k] == g || !r)
			continue;
		nb += (unsigned int)r;
		snprintf(others + strlen(others), sizeof(others) - strlen(others), " %s %lu",
			 gs[k].c->name, (unsigned long)r);
	}
	for (at = 0; at < AT_N; at++) {
		qsort(lat[at], n[at], sizeof(*lat[at]), cmp_u64);
		snprintf(moments + strlen(moments), sizeof(moments) - strlen(moments),
			 "%s%u %s (in flight %u..%u) back p50 %.0f ms p99 %.0f ms max %.0f ms",
			 at ? "; " : "", n[at], at_name[at], n[at] ? load_min[at] : 0, load_max[at],
			 pct(lat[at], n[at], 0.5), pct(lat[at], n[at], 0.99),
			 n[at] ? lat[at][n[at] - 1] / 1e6 : 0);
		free(lat[at]);
	}
	for (k = 0; k < MISS_N; k++)
		if (miss[k])
			snprintf(whys + strlen(whys), sizeof(whys) - strlen(whys), "%s%s %u",
				 *whys ? ", " : " (", miss_name[k], miss[k]);
	if (*whys)
		strcat(whys, ")");
	tap(!fail && total == kills && !nb && atomic_load(&g->mismatches) == e0,
	    "%s: %u SIGKILLs of its worker: %s; %u tries found the moment gone%s; %lu mismatches; resets of the other guests: %s%s%s%s%s",
	    g->c->name, total, moments, missed, whys,
	    (unsigned long)(atomic_load(&g->mismatches) - e0), nb ? others : "0 (expected 0)",
	    fail ? "; " : "", fail ? fail : "", atomic_load(&g->mismatches) != e0 ? "; first: " : "",
	    atomic_load(&g->mismatches) != e0 ? g->why : "");
}

/* A stall phase of one guest, run beside the other guests' (stall_main). */
struct stall_job {
	struct guest *g;
	unsigned int stalls, min_ms, max_ms;
	pthread_t th;
	char line[1024];
	bool ok;
};

/* A duration in [@lo, @hi] ms, log-uniform: as many 1-2 s stalls as 20-40 s ones. */
static unsigned int log_uniform(unsigned int *seed, unsigned int lo, unsigned int hi)
{
	double u = rand_r(seed) / (double)RAND_MAX;

	return hi <= lo ? lo : (unsigned int)(lo * pow((double)hi / lo, u));
}

/*
 * @stalls SIGSTOPs of the guest's worker, each holding requests it has
 * taken and not completed, for a log-uniform @min_ms..@max_ms; then
 * SIGCONT: the next completion must come without a reset.
 */
static void *stall_main(void *arg)
{
	struct stall_job *j = arg;
	struct guest *g = j->g;
	uint64_t *lat = calloc(j->stalls, sizeof(*lat)), e0 = atomic_load(&g->mismatches);
	uint64_t resets = atomic_load(&g->resets), held = 0;
	unsigned int i, n = 0, ms_min = ~0u, ms_max = 0, tries = 0, seed = (unsigned int)(uintptr_t)g;
	unsigned int shown = 0;
	const char *fail = NULL;
	int wpid = guest_worker_pid(ctl, g->c->gname);

	for (i = 0; i < j->stalls && !fail && tries <= 100 * j->stalls; i++) {
		unsigned int ms = log_uniform(&seed, j->min_ms, j->max_ms);
		uint64_t t0, done;

		if (i && i % 10 == 0 && i != shown) {
			shown = i;
			printf("# %s: %u/%u stalls done\n", g->c->name, i, j->stalls);
			fflush(stdout);
		}
		if (!wait_busy(g)) {
			fail = "the guest had no request out for 3 s";
			break;
		}
		usleep((useconds_t)(rand_r(&seed) % 2000));
		if (g->c->whole && proc_state(wpid) != 'R') {
			tries++;
			i--;
			continue;
		}
		if (stop_worker(wpid)) {
			fail = "SIGSTOP did not stop the worker";
			break;
		}
		msleep(15);
		if (!taken_now(g)) {
			kill(wpid, SIGCONT);
			tries++;
			i--;
			continue;
		}
		msleep((int)ms - 15 > 0 ? (int)ms - 15 : 0);
		ms_min = ms < ms_min ? ms : ms_min;
		ms_max = ms > ms_max ? ms : ms_max;
		held += ms;
		done = atomic_load(&g->done);
		atomic_store(&g->back_ns, 0);
		t0 = now_ns();
		atomic_store(&g->fault_ns, t0);
		kill(wpid, SIGCONT);
		while (atomic_load(&g->done) == done && now_ns() - t0 < 5000000000ull)
			usleep(100);
		if (atomic_load(&g->done) == done) {
			fail = "no completion within 5 s of SIGCONT";
			break;
		}
		lat[n++] = (atomic_load(&g->back_ns) ? atomic_load(&g->back_ns) : now_ns()) - t0;
		atomic_store(&g->fault_ns, 0);
		usleep((useconds_t)(rand_r(&seed) % 10000));
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	j->ok = !fail && n == j->stalls && atomic_load(&g->resets) == resets &&
		atomic_load(&g->mismatches) == e0;
	snprintf(j->line, sizeof(j->line),
		 "%s: %u SIGSTOPs of %u..%u ms (%.0f s in all) holding requests %s and not completed (%u tries found none); next completion after SIGCONT p50 %.1f ms, p99 %.1f ms, max %.1f ms; resets %lu (expected 0); %lu mismatches%s%s%s%s",
		 g->c->name, n, ms_min == ~0u ? 0 : ms_min, ms_max, held / 1e3,
		 g->c->whole ? "out" : "taken", tries, pct(lat, n, 0.5), pct(lat, n, 0.99),
		 n ? lat[n - 1] / 1e6 : 0, (unsigned long)(atomic_load(&g->resets) - resets),
		 (unsigned long)(atomic_load(&g->mismatches) - e0), fail ? "; " : "", fail ? fail : "",
		 atomic_load(&g->mismatches) != e0 ? "; first: " : "",
		 atomic_load(&g->mismatches) != e0 ? g->why : "");
	free(lat);
	return NULL;
}

/* After the campaign: every block read back, every live page scanned. */
static void final_checks(struct guest *gs)
{
	struct guest *b = &gs[1], *m = &gs[3];
	unsigned int blk, bad = 0, s;
	uint64_t e0;

	for (blk = 0; blk < BLK_BLOCKS; blk++) {
		struct pvio_cpl c;
		int w;

		b->slot_id[0] = make_id(b, 0);
		memset(b->buf, 0xa5, BLK_BS);
		if (blk_submit(b, 0, false, blk))
			break;
		pvfront_kick(&b->d->q[0]);
		for (w = 0; w < 500 && pvfront_reap(&b->d->q[0], &c, 1) != 1; w++)
			pvfront_wait(&b->d->q[0], 10);
		if (w == 500 || pvio_le32_to_cpu(c.status) != PVIO_S_OK || !blk_check(b, blk, b->buf)) {
			if (!bad++)
				snprintf(b->why, sizeof(b->why), "block %u: status %u", blk,
					 pvio_le32_to_cpu(c.status));
		}
	}
	b->slot_id[0] = 0;
	tap(bad == 0, "blk: all %u blocks read back after the campaign: %u not as last written%s%s",
	    BLK_BLOCKS, bad, bad ? "; " : "", bad ? b->why : "");
	e0 = atomic_load(&m->mismatches);
	for (s = 0; s < BAL_PAGES; s++)
		if (m->alt[s] == PAGE_GOING || m->alt[s] == PAGE_COMING)
			m->alt[s] = PAGE_UNSURE;
	bal_scan(m, true);
	tap(atomic_load(&m->mismatches) == e0,
	    "balloon: every page scanned after the campaign: %lu changed under the guest",
	    (unsigned long)(atomic_load(&m->mismatches) - e0));
}

int main(int argc, char **argv)
{
	unsigned int kills = 200, stalls = 100, stall_min = 1000, stall_max = 40000, k;
	struct stall_job jobs[NCLS];
	char dir[] = "/tmp/pvio-faults-XXXXXX", cfg[128], img[128], cmd[192];
	struct guest gs[NCLS];
	uint64_t t_start = now_ns();
	FILE *f;
	pid_t pid;
	int opt, fd;

	while ((opt = getopt(argc, argv, "k:s:m:M:")) != -1) {
		if (opt == 'k')
			kills = (unsigned int)atoi(optarg);
		else if (opt == 's')
			stalls = (unsigned int)atoi(optarg);
		else if (opt == 'm')
			stall_min = (unsigned int)atoi(optarg);
		else if (opt == 'M')
			stall_max = (unsigned int)atoi(optarg);
		else
			return 2;
	}
	if (!stall_min || stall_max < stall_min)
		return 2;
	srand((unsigned int)time(NULL));
	printf("TAP version 13\n1..%zu\n", NCLS * 2 + 2 + 1);
	printf("# %u kills and %u stalls of %u..%u ms per guest; pviod %s\n", kills, stalls,
	       stall_min, stall_max, pviod_bin());
	if (!mkdtemp(dir))
		return 1;
	snprintf(cfg, sizeof(cfg), "%s/pviod.ini", dir);
	snprintf(logpath, sizeof(logpath), "%s/pviod.log", dir);
	snprintf(ctl, sizeof(ctl), "%s/control.sock", dir);
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)BLK_BLOCKS * BLK_BS))
		return 1;
	close(fd);
	f = fopen(cfg, "w");
	if (!f)
		return 1;
	fprintf(f, "[pviod]\ncontrol = %s\nheartbeat_ms = %d\nrestart_limit = 100000\n"
		"[guest ge]\nsocket = %s/ge.sock\n[device ge e]\ntype = echo\n"
		"[guest gb]\nsocket = %s/gb.sock\n[device gb b]\ntype = blk\npath = %s\ncache = none\n"
		"[guest gn]\nsocket = %s/gn.sock\n[device gn n]\ntype = net\nnet = null\nnull_rx = echo\n"
		"[guest gm]\nsocket = %s/gm.sock\n[device gm m]\ntype = balloon\nreporting = no\n",
		ctl, HB_MS, dir, dir, img, dir, dir);
	fclose(f);
	pid = pviod_start(cfg, logpath, ctl);
	if (pid <= 0) {
		tap(false, "pviod did not start (log %s)", logpath);
		return 1;
	}
	memset(gs, 0, sizeof(gs));
	for (k = 0; k < NCLS; k++) {
		struct guest *g = &gs[k];

		g->c = &classes[k];
		pthread_mutex_init(&g->lock, NULL);
		g->rng = k * 7919 + 1;
		snprintf(g->sock, sizeof(g->sock), "%s/%s.sock", dir, g->c->gname);
		if (pvfront_connect(&g->f, g->sock, RAM_SIZE) || pvfront_wait_ready(&g->f, 5000) ||
		    !pvfront_find(&g->f, g->c->type, 0, &g->index)) {
			tap(false, "%s: no device", g->c->name);
			return 1;
		}
		g->c->init(g);
		if (!g->buf || dev_up(g)) {
			tap(false, "%s: set-up failed", g->c->name);
			return 1;
		}
		g->desc = g->d->desc;	/* one window for the whole run */
		pthread_create(&g->th, NULL, guest_main, g);
	}
	for (k = 0; k < NCLS; k++) {
		kill_phase(gs, &gs[k], kills);
	}
	/* The stalls: every guest's at once, each of its own length. */
	for (k = 0; k < NCLS; k++) {
		jobs[k] = (struct stall_job){ .g = &gs[k], .stalls = stalls, .min_ms = stall_min,
					      .max_ms = stall_max };
		pthread_create(&jobs[k].th, NULL, stall_main, &jobs[k]);
	}
	for (k = 0; k < NCLS; k++) {
		pthread_join(jobs[k].th, NULL);
		tap(jobs[k].ok, "%s", jobs[k].line);
	}
	/* No new requests; what is in flight completes (and is checked). */
	for (k = 0; k < NCLS; k++)
		atomic_store(&gs[k].draining, 1);
	for (k = 0; k < NCLS; k++) {
		uint64_t t0 = now_ns();

		while (atomic_load(&gs[k].inflight) && now_ns() - t0 < 5000000000ull)
			usleep(1000);
		atomic_store(&gs[k].stop, 1);
		pthread_join(gs[k].th, NULL);
	}
	final_checks(gs);
	for (k = 0; k < NCLS; k++)
		printf("# %s: %lu verified completions, %lu resets, %lu mismatches\n", gs[k].c->name,
		       (unsigned long)atomic_load(&gs[k].done), (unsigned long)atomic_load(&gs[k].resets),
		       (unsigned long)atomic_load(&gs[k].mismatches));
	k = kill(pid, 0) == 0;
	for (unsigned int i = 0; i < NCLS; i++) {
		pvfront_close(&gs[i].f);
		free(gs[i].cur);
		free(gs[i].alt);
		free(gs[i].cand);
		free(gs[i].busy);
	}
	tap(k && pviod_stop(&pid, logpath) == 0,
	    "pviod: supervisor alive through %u kills and %u stalls, no sanitizer report, %.0f s in all",
	    kills * (unsigned int)NCLS, stalls * (unsigned int)NCLS, (now_ns() - t_start) / 1e9);
	/* A failure shows what pviod said last about each guest. */
	if (tap_failed) {
		static const char *const guests[] = { "ge", "gb", "gn", "gm" };

		for (size_t i = 0; i < sizeof(guests) / sizeof(guests[0]); i++) {
			printf("# pviod's log (%s), the last 30 lines about guest %s:\n", logpath,
			       guests[i]);
			fflush(stdout);
			snprintf(cmd, sizeof(cmd), "grep ' %s[:/]' %s | tail -n 30 | sed 's/^/# pviod: /'",
				 guests[i], logpath);
			(void)system(cmd);
		}
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (!getenv("PVIO_KEEP"))
		(void)system(cmd);
	return 0;
}
