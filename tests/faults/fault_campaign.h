/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fault_campaign.h - what the fault campaign's files share: a guest under
 * test and its class, the classes' verified traffic (fault_classes.c),
 * the guests' threads (fault_guest.c), and the campaign that kills and
 * stops their workers (fault_campaign.c, with main()).
 */
#ifndef PVIO_FAULT_CAMPAIGN_H
#define PVIO_FAULT_CAMPAIGN_H

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pvio_front.h"
#include "test_util.h"

#define HB_MS		50
#define ECHO_MAX	(256u << 10)	/* bytes per echo request, at most */
#define DEPTH		16
#define BLK_BLOCKS	4096u		/* 16 MiB of 4 KiB blocks */
#define BLK_BS		4096u
#define BAL_PAGES	8192u		/* 32 MiB */
#define BAL_RUN		32u		/* pages per range: 128 KiB */
#define NET_RXBUF	2048u
#define NET_NRX		32u
#define RAM_SIZE	(64u << 20)

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- one guest under test -------------------------------------------------------- */

struct guest;

struct cls {
	const char *name, *gname;
	int type;
	uint64_t features;
	unsigned int nq;
	void (*init)(struct guest *g);
	void (*pump)(struct guest *g);		/* submit, reap, verify */
	void (*lost)(struct guest *g);		/* the device was reset under us */
	unsigned int (*outstanding)(struct guest *g);
	/*
	 * Serves a request whole in one go (echo, balloon): it publishes
	 * its SQ consumer index with the completions, so the guest never
	 * sees a request taken and not completed.  A kill is in flight when
	 * it lands on a running worker with requests submitted and never
	 * completed.
	 */
	bool whole;
};

struct guest {
	const struct cls *c;
	char sock[128];
	struct pvfront f;
	struct pvfront_dev *d;		/* the thread's; memset while it sets up */
	struct pvio_dev_desc *desc;	/* the same device's, for the main thread */
	unsigned int index;
	pthread_t th;
	unsigned int epoch;		/* resets we did; in the request ids */
	/* shared with the main thread */
	atomic_int stop;
	atomic_int draining;		/* no new requests: let the rest complete */
	atomic_uint_fast64_t done;	/* verified completions */
	atomic_uint_fast64_t mismatches, errors, resets;
	atomic_uint_fast64_t fault_ns;	/* the main thread's fault, 0: none */
	atomic_uint_fast64_t back_ns;	/* first verified completion after it */
	atomic_uint inflight;		/* requests submitted, not completed */
	atomic_uint lost_taken;		/* at the last reset: requests the backend
					 * had taken and never completed */
	atomic_int want;		/* the main thread asks: WANT_* */
	atomic_int phase;		/* where the thread is: PHASE_* */
	atomic_int setup_go;		/* the main thread had its look at PHASE_SETTING_UP */
	char why[256];			/* the first mismatch */
	pthread_mutex_t lock;		/* the slots: the thread's pump, the main thread's look */
	bool resetting;			/* under lock: slots and queues being rebuilt */
	/* the class's own */
	uint8_t *buf;
	uint64_t gpa;
	uint16_t slot_id[DEPTH];	/* 0: free */
	uint32_t slot_end[DEPTH];	/* SQ index just past the request */
	uint8_t slot_q[DEPTH];		/* its queue */
	uint32_t slot_len[DEPTH];
	uint32_t slot_blk[DEPTH];
	uint32_t slot_ver[DEPTH];
	bool slot_write[DEPTH];
	bool qbusy[2];			/* balloon: a request on the queue */
	atomic_uint rx_posted;		/* net: rx chains posted, not completed */
	uint32_t seq;
	uint32_t *cur, *alt;		/* blk: block versions; balloon: page states */
	uint32_t (*cand)[4];		/* blk: writes a crash left open, per block */
	uint8_t *busy;
	unsigned int rng;
};

enum { PAGE_LIVE, PAGE_OUT, PAGE_GOING, PAGE_COMING, PAGE_UNSURE };

enum { WANT_NONE, WANT_RESET, WANT_SETUP };
enum { PHASE_IO, PHASE_RESETTING, PHASE_SETTING_UP };

/* fault_classes.c: echo, blk, net (null echo), balloon, in this order. */
extern const struct cls classes[4];
#define NCLS	(sizeof(classes) / sizeof(classes[0]))

void mismatch(struct guest *g, const char *fmt, ...);
uint16_t make_id(struct guest *g, unsigned int slot);
bool blk_check(struct guest *g, uint32_t b, const uint8_t *p);
int blk_submit(struct guest *g, unsigned int s, bool write, uint32_t b);
void net_start(struct guest *g);
void bal_scan(struct guest *g, bool all);

/* fault_guest.c */
int dev_up(struct guest *g);
void *guest_main(void *arg);
unsigned int taken_now(struct guest *g);

#endif /* PVIO_FAULT_CAMPAIGN_H */
