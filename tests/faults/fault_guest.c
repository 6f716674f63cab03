// SPDX-License-Identifier: GPL-2.0
/*
 * fault_guest - a guest's thread in the fault campaign: its class's pump
 * over and over, a reset and a new set-up after each crash of its worker
 * (what the dead worker completed counts, what it took and never did is
 * lost), and the resets and slow set-ups the main thread asks for so that
 * a kill can land during them (fault_campaign.c).
 */
#include "fault_campaign.h"

/* ---- the guests' threads ------------------------------------------------------------ */

int dev_up(struct guest *g)
{
	if (pvfront_dev_setup(&g->f, g->index, g->c->features, g->c->nq, &g->d))
		return -1;
	if (g->c->type == PVIO_DEV_NET)
		net_start(g);
	return 0;
}

/* Between FEATURES_OK and the queues: the main thread kills here. */
static void slow_setup(struct pvfront_dev *d, void *arg)
{
	struct guest *g = arg;

	int i;

	(void)d;
	atomic_store(&g->phase, PHASE_SETTING_UP);
	/*
	 * Until the main thread has stopped the worker, looked and killed
	 * (or given up): on a loaded machine it may not run for a while,
	 * and a moment that passed unseen would fail the campaign.
	 */
	for (i = 0; i < 5000 && !atomic_load(&g->setup_go); i++)
		msleep(1);
	atomic_store(&g->phase, PHASE_IO);
}

/*
 * While the thread resets and sets its device up again, its slots and
 * queues (pvfront_dev_setup() clears the whole struct pvfront_dev) are
 * not there for the main thread to look at: taken_now() says 0.
 */
static void resetting(struct guest *g, bool on)
{
	pthread_mutex_lock(&g->lock);
	g->resetting = on;
	pthread_mutex_unlock(&g->lock);
}

/* Requests out are void once the reset is acknowledged; a new epoch. */
static int reset_and_forget(struct guest *g)
{
	int ret = pvfront_dev_reset(g->d, 15000);

	g->c->lost(g);
	g->epoch++;
	return ret;
}

/*
 * What the main thread asked for: a reset with requests in flight (the
 * kill lands while the worker serves it: for blk, a drain), or a reset
 * and then a slow set-up (the kill lands before DRIVER_OK).
 */
static void voluntary(struct guest *g, int want)
{
	int ret;

	resetting(g, true);
	if (want == WANT_RESET) {
		atomic_store(&g->lost_taken, g->c->outstanding(g));
		atomic_store(&g->phase, PHASE_RESETTING);
		ret = reset_and_forget(g);
		atomic_store(&g->phase, PHASE_IO);
		if (!ret && !(pvfront_device_state(g->d) & PVIO_DEV_S_NEEDS_RESET))
			ret = dev_up(g);
	} else {
		ret = reset_and_forget(g);
		if (!ret)
			ret = pvfront_dev_setup_ex(&g->f, g->index, g->c->features, g->c->nq,
						   slow_setup, g, &g->d);
		if (!ret && g->c->type == PVIO_DEV_NET &&
		    !(pvfront_device_state(g->d) & PVIO_DEV_S_NEEDS_RESET))
			net_start(g);
	}
	atomic_fetch_add(&g->resets, 1);	/* before settled() can see it done */
	resetting(g, false);
	if (ret) {
		atomic_fetch_add(&g->errors, 1);
		mismatch(g, "%s: a %s failed (%d)", g->c->name,
			 want == WANT_RESET ? "reset" : "set-up", ret);
	}
}


void *guest_main(void *arg)
{
	struct guest *g = arg;
	uint32_t st;
	int ret;

	while (!atomic_load(&g->stop)) {
		int want = atomic_exchange(&g->want, WANT_NONE);

		if (want) {
			voluntary(g, want);
			continue;
		}
		st = pvfront_device_state(g->d);
		if (st & (PVIO_DEV_S_NEEDS_RESET | PVIO_DEV_S_BROKEN)) {
			/* A crash (or worse): reset, set up again, carry on. */
			/* What the dead worker completed counts; then what it took and never did. */
			atomic_store(&g->draining, 1);
			g->c->pump(g);
			atomic_store(&g->draining, 0);
			atomic_store(&g->lost_taken, g->c->outstanding(g));
			if (getenv("FAULT_DEBUG"))
				fprintf(stderr, "# %s reset: inflight %u, sq idx %u, cons %u, taken %u, cq prod %u, ours %u\n",
					g->c->name, atomic_load(&g->inflight), g->d->q[0].sq.idx,
					pvio_le32_to_cpu(g->d->q[0].sq_sh->cons),
					atomic_load(&g->lost_taken),
					pvio_le32_to_cpu(g->d->q[0].cq_sh->prod), g->d->q[0].cq.idx);
			resetting(g, true);
			ret = reset_and_forget(g) || dev_up(g);
			if (!ret)
				atomic_fetch_add(&g->resets, 1);
			resetting(g, false);
			if (ret) {
				atomic_fetch_add(&g->errors, 1);
				mismatch(g, "%s: no reset or set-up after a fault", g->c->name);
				msleep(100);
			}
			continue;
		}
		pthread_mutex_lock(&g->lock);
		g->c->pump(g);
		pthread_mutex_unlock(&g->lock);
	}
	return NULL;
}

/* Requests @g's backend has taken and not completed, seen between two pumps. */
unsigned int taken_now(struct guest *g)
{
	unsigned int n;

	pthread_mutex_lock(&g->lock);
	n = g->resetting ? 0 : g->c->outstanding(g);
	pthread_mutex_unlock(&g->lock);
	return n;
}
