// SPDX-License-Identifier: GPL-2.0
/*
 * sandbox.c - confine a worker before it reads what its guest wrote.
 *
 * A worker parses guest-controlled memory all day; if its guest finds a
 * bug in that code, the guest owns the worker.  What it then owns must be
 * its own guest's devices and nothing else:
 *
 *   fds        everything but the guest's own connection, window, eventfds,
 *              RAM and host resources is closed (the supervisor's sockets,
 *              other guests' TAPs and images, the control socket);
 *   user       the worker runs as `user` (default nobody) when pviod runs as
 *              root: no capabilities, no access to root's files, and not
 *              dumpable, so no process of that user can ptrace it;
 *   syscalls   a seccomp filter (libseccomp) allows what the data path
 *              needs -- I/O on fds it has, memory, time, io_uring_enter, a
 *              few ioctls by number -- and refuses the rest: no open, no
 *              socket or connect, no exec, no new io_uring (the rings are
 *              made before, with their opcodes restricted), no executable
 *              mappings.  A refused call fails with EPERM and is logged
 *              with its name.
 *
 * Devices prepare what needs more before this (ops->prepare: io_uring
 * rings, DPDK's EAL and port).  Threads made before the empty root get
 * it too (ops->confine: EAL's); the worker's own threads and a class's
 * (ops->spawn) are made after the uid drop and before the filter, which
 * is loaded on every thread at once (docs/security.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <grp.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <ucontext.h>
#include <unistd.h>

#include "core/log.h"
#include "core/pviod.h"
#include "core/sandbox.h"
#include "core/threads.h"

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

int pvbe_sandbox_close_fds(const int *keep, unsigned int n)
{
	int *k = malloc((n + 1) * sizeof(*k));
	unsigned int i, m = 0;
	int lo = 0;

	if (!k)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (keep[i] >= 0)
			k[m++] = keep[i];
	qsort(k, m, sizeof(*k), cmp_int);
	for (i = 0; i < m; i++) {
		if (k[i] > lo && syscall(SYS_close_range, (unsigned int)lo,
					 (unsigned int)k[i] - 1, 0) < 0) {
			free(k);
			return -errno;
		}
		lo = k[i] + 1;
	}
	free(k);
	if (syscall(SYS_close_range, (unsigned int)lo, ~0u, 0) < 0)
		return -errno;
	return 0;
}

/* Names for the SIGSYS handler, resolved before it can run. */
#define PVBE_NSYS	512
static const char *sys_name[PVBE_NSYS];

#if defined(__x86_64__)
/*
 * A refused system call: say which, then let it fail with EPERM as if the
 * filter had said so.  Async-signal-safe: write(2) only.
 */
static void sigsys_handler(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	char msg[128], num[12];
	int nr = si->si_syscall, i = 0;
	const char *name = nr >= 0 && nr < PVBE_NSYS && sys_name[nr] ? sys_name[nr] : "?";
	unsigned int v = (unsigned int)nr;

	(void)sig;
	do {
		num[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && i < 11);
	strcpy(msg, "pviod worker: seccomp refused system call ");
	strcat(msg, name);
	strcat(msg, " (");
	while (i)
		strncat(msg, &num[--i], 1);
	strcat(msg, "): EPERM\n");
	if (write(2, msg, strlen(msg)) < 0)
		(void)0;
	uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
}
#endif

static int allow(scmp_filter_ctx ctx, int nr)
{
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
}

/* The data path's system calls.  Anything else fails. */
static int build_filter(scmp_filter_ctx ctx)
{
	static const int plain[] = {
		/* I/O on fds the worker has */
		SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
		SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev),
		SCMP_SYS(close), SCMP_SYS(lseek), SCMP_SYS(fstat), SCMP_SYS(newfstatat),
		SCMP_SYS(fdatasync), SCMP_SYS(fsync), SCMP_SYS(recvmsg), SCMP_SYS(sendmsg),
		SCMP_SYS(recvfrom), SCMP_SYS(sendto),
		SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl),
		SCMP_SYS(io_uring_enter), SCMP_SYS(timerfd_settime), SCMP_SYS(timerfd_gettime),
		/* memory (executable mappings: below) */
		SCMP_SYS(munmap), SCMP_SYS(madvise), SCMP_SYS(mremap), SCMP_SYS(brk),
		/* time, identity, signals, threads of the C library */
		SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres), SCMP_SYS(clock_nanosleep),
		SCMP_SYS(nanosleep), SCMP_SYS(gettimeofday), SCMP_SYS(getpid), SCMP_SYS(gettid),
		SCMP_SYS(getppid), SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid),
		SCMP_SYS(getegid), SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(rt_sigreturn),
		SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigaction), SCMP_SYS(sigaltstack),
		SCMP_SYS(restart_syscall), SCMP_SYS(futex), SCMP_SYS(sched_yield),
		SCMP_SYS(sched_getaffinity), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
		SCMP_SYS(getrandom), SCMP_SYS(uname), SCMP_SYS(getrusage),
	};
	static const unsigned long ioctls[] = {
		TUNSETQUEUE, TUNSETOFFLOAD,		/* net: its own TAP queues */
		BLKGETSIZE64,				/* blk: capacity on resize */
	};
	static const int prctls[] = { PR_SET_NAME, PR_GET_NAME, PR_GET_SECCOMP,
				      PR_GET_PDEATHSIG };
	/*
	 * fcntl by command.  Not F_SETOWN, F_SETSIG or O_ASYNC: with those
	 * an fd would deliver a signal of the worker's choice to a process
	 * of its choice -- same uid, so the kernel lets it -- which is kill()
	 * by another name.  Nor leases, notifications, locks or dup.
	 */
	static const int fcntls[] = { F_GETFD, F_SETFD, F_GETFL, F_ADD_SEALS, F_GET_SEALS };
	pid_t self = getpid();
	size_t i;
	int ret = 0;

	for (i = 0; !ret && i < sizeof(plain) / sizeof(plain[0]); i++)
		ret = allow(ctx, plain[i]);
	for (i = 0; !ret && i < sizeof(ioctls) / sizeof(ioctls[0]); i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_EQ, ioctls[i]));
	for (i = 0; !ret && i < sizeof(fcntls) / sizeof(fcntls[0]); i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
				       SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)fcntls[i]));
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 2,
				       SCMP_A1(SCMP_CMP_EQ, F_SETFL),
				       SCMP_A2(SCMP_CMP_MASKED_EQ, O_ASYNC, 0));
	for (i = 0; !ret && i < sizeof(prctls) / sizeof(prctls[0]); i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				       SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)prctls[i]));
	/*
	 * fallocate: punching holes (the balloon, blk's discards) and
	 * ZERO_RANGE without KEEP_SIZE (blk's write-zeroes): past the end
	 * of a file that grows it, which RLIMIT_FSIZE bounds.  Nothing that
	 * allocates past the end while keeping the size (KEEP_SIZE is not
	 * bound by RLIMIT_FSIZE); io_uring has no fallocate (blk/io.c).
	 */
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fallocate), 1,
				       SCMP_A1(SCMP_CMP_EQ, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE));
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fallocate), 1,
				       SCMP_A1(SCMP_CMP_EQ, FALLOC_FL_ZERO_RANGE));
	/* Memory, never executable: no code the guest could have written runs. */
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				       SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				       SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* Signals to ourselves only (abort(), sanitizer reports). */
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
				       SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self));
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				       SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self));
	/* Reading a limit is fine, setting one is not. */
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
				       SCMP_A2(SCMP_CMP_EQ, 0));
	return ret;
}

static int load_filter(const char *tag)
{
	uint32_t dflt = SCMP_ACT_ERRNO(EPERM);
	scmp_filter_ctx ctx;
	int nr, ret;

#if defined(__x86_64__)
	struct sigaction sa;

	for (nr = 0; nr < PVBE_NSYS; nr++)
		sys_name[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigsys_handler;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGSYS, &sa, NULL) == 0)
		dflt = SCMP_ACT_TRAP;
#else
	(void)nr;
#endif
	ctx = seccomp_init(dflt);
	if (!ctx)
		return -ENOMEM;
	/* Every thread of the worker at once (threads.c started them). */
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (!ret)
		ret = build_filter(ctx);
	if (!ret)
		ret = seccomp_load(ctx);
	seccomp_release(ctx);
	if (ret)
		pvbe_err(tag, "seccomp filter: %s", strerror(-ret));
	return ret;
}

/*
 * The worker's file system: an empty, read-only tmpfs in a mount
 * namespace of its own.  The filter already refuses open(); this leaves
 * no path to stat() or to resolve either (newfstatat is allowed: fstat()
 * is made of it).  Root only; as another user the view stays.  It is
 * the calling thread's: a thread made before (DPDK's EAL) calls it too.
 */
int pvbe_sandbox_empty_root(const char *tag)
{
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("pviod-worker", "/tmp", "tmpfs",
		  MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555") < 0 ||
	    chroot("/tmp") < 0 || chdir("/") < 0) {
		pvbe_err(tag, "empty root for the worker: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* VmData of this process now, in bytes; 0 if unknown. */
static uint64_t data_now(void)
{
	char line[128];
	uint64_t kb = 0;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmData: %" SCNu64 " kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

/*
 * Private memory (heap, anonymous mappings): what the worker has now plus
 * PVBE_WORKER_DATA_MAX.  The guest's RAM, the window and the io_uring
 * rings are shared mappings and count for nothing here; a worker its
 * guest took over cannot eat the host's memory beyond this.  No core
 * files either (the worker is not dumpable; this says it twice).
 */
static int limit_memory(struct pvbe_guest *g)
{
	uint64_t now = data_now();
	struct rlimit rl;

	if (!now) {
		pvbe_warn(g->tag, "VmData unknown: the worker's memory is not limited");
		return 0;
	}
	rl.rlim_cur = rl.rlim_max = now + PVBE_WORKER_DATA_MAX;
	if (setrlimit(RLIMIT_DATA, &rl) < 0) {
		pvbe_err(g->tag, "RLIMIT_DATA: %s", strerror(errno));
		return -errno;
	}
	rl.rlim_cur = rl.rlim_max = 0;
	setrlimit(RLIMIT_CORE, &rl);
	return 0;
}

/* The furthest the guest's worker may write into a regular file. */
static uint64_t file_extent(struct pvbe_guest *g)
{
	uint64_t max = 0, e;
	int j;

	for (j = 0; j < g->ndev; j++) {
		if (!g->dev[j].ops->file_extent)
			continue;
		e = g->dev[j].ops->file_extent(&g->dev[j]);
		max = e > max ? e : max;
	}
	return max;
}

/*
 * prlimit() on a worker of another uid needs CAP_SYS_RESOURCE, which a
 * root without it (a container) lacks: then a child of ours that has
 * become the worker's user does it (the soft limit, up to the hard one).
 */
static int prlimit_as_worker_user(pid_t pid, const struct rlimit *rl)
{
	pid_t child;
	int status;

	if (prlimit(pid, RLIMIT_FSIZE, rl, NULL) == 0)
		return 0;
	if (errno != EPERM || geteuid() != 0 || pvbe.uid == 0)
		return -errno;
	child = fork();
	if (child < 0)
		return -errno;
	if (child == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(pvbe.gid, pvbe.gid, pvbe.gid) < 0 ||
		    setresuid(pvbe.uid, pvbe.uid, pvbe.uid) < 0 ||
		    prlimit(pid, RLIMIT_FSIZE, rl, NULL) < 0)
			_exit(errno & 0xff);
		_exit(0);
	}
	if (waitpid(child, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? -WEXITSTATUS(status) : -EIO;
}

int pvbe_sandbox_file_limit(struct pvbe_guest *g, pid_t pid)
{
	struct rlimit rl = { .rlim_cur = file_extent(g), .rlim_max = RLIM_INFINITY };
	int ret;

	if (!pvbe.cfg.sandbox)
		return 0;
	ret = pid ? prlimit_as_worker_user(pid, &rl) :
		    setrlimit(RLIMIT_FSIZE, &rl) < 0 ? -errno : 0;
	if (ret)
		pvbe_err(g->tag, "RLIMIT_FSIZE of worker %d: %s", (int)(pid ? pid : getpid()),
			 strerror(-ret));
	return ret;
}

int pvbe_sandbox_lock(struct pvbe_guest *g)
{
	int j, ret;

	if (!pvbe.cfg.sandbox) {
		pvbe_info(g->tag, "sandbox = no: the worker keeps pviod's user and has no seccomp filter");
		return pvbe_threads_start();
	}
	ret = limit_memory(g);
	if (!ret)
		ret = pvbe_sandbox_file_limit(g, 0);
	if (ret)
		return ret;
	/* Past the limit a write fails with EFBIG; the signal would kill. */
	signal(SIGXFSZ, SIG_IGN);
	if (geteuid() == 0) {
		ret = pvbe_sandbox_empty_root(g->tag);
		/* Threads a class made before (EAL's) get the same view. */
		for (j = 0; !ret && j < g->ndev; j++)
			if (g->dev[j].ops->confine)
				ret = g->dev[j].ops->confine(&g->dev[j]);
		if (ret)
			return ret;
	}
	if (geteuid() == 0 && pvbe.uid != 0) {
		if (setgroups(0, NULL) < 0 || setresgid(pvbe.gid, pvbe.gid, pvbe.gid) < 0 ||
		    setresuid(pvbe.uid, pvbe.uid, pvbe.uid) < 0) {
			pvbe_err(g->tag, "drop to user %s: %s", pvbe.cfg.user, strerror(errno));
			return -errno;
		}
		if (geteuid() == 0 || getuid() == 0) {
			pvbe_err(g->tag, "still root after dropping to user %s", pvbe.cfg.user);
			return -EPERM;
		}
	}
	/*
	 * A change of credentials clears the parent-death signal: set it
	 * again, or a worker that ignores its closed supervisor socket
	 * outlives pviod with its TAP queues and images.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		pvbe_err(g->tag, "prctl: %s", strerror(errno));
		return -errno;
	}
	if (pvbe.sup_pid && getppid() != pvbe.sup_pid) {
		pvbe_err(g->tag, "the supervisor is gone");
		return -ESRCH;
	}
	/*
	 * The worker's queue threads: made here, in the empty root and as
	 * the worker's user already (a thread shares both), before the
	 * filter, which the kernel then installs on every thread at once.
	 * They wait to be told to run (pvbe_threads_go()).
	 */
	ret = pvbe_threads_start();
	if (ret)
		return ret;
	return load_filter(g->tag);
}
