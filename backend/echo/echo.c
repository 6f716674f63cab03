// SPDX-License-Identifier: GPL-2.0
/*
 * echo/echo.c - the echo test device: a request's readable segments,
 * concatenated, are copied into its writable segments.  Exercises the whole
 * transport (chains, translation, completions, notifications) with data a
 * test can verify, without any host I/O.
 */
#include <errno.h>
#include <string.h>

#include "transport/guest.h"
#include "core/log.h"

/* Runs at configuration time, so --check-config catches typos too. */
static int echo_parse(struct pvbe_dev *dev)
{
	if (dev->cfg->nparams) {
		/* No class keys: anything else is a typo worth reporting. */
		pvbe_err(dev->tag, "echo devices take no key '%s' (line %d)",
			 dev->cfg->params[0].key, dev->cfg->params[0].line);
		return -EINVAL;
	}
	return 0;
}

static int echo_init(struct pvbe_dev *dev)
{
	dev->host_features = 0;
	return 0;
}

static void echo_process(struct pvbe_queue *q, const struct pvbe_req *req,
			 struct pvio_cpl *cpl)
{
	unsigned int ri = 0, wi = 0;
	uint32_t roff = 0, woff = 0, copied = 0;

	(void)q;
	for (;;) {
		uint32_t rlen, wlen, n;

		while (ri < req->nslots && (!req->buf[ri] ||
		       (pvio_le16_to_cpu(req->d[ri].flags) & PVIO_DESC_F_WRITE)))
			ri++;
		while (wi < req->nslots && (!req->buf[wi] ||
		       !(pvio_le16_to_cpu(req->d[wi].flags) & PVIO_DESC_F_WRITE)))
			wi++;
		if (ri == req->nslots || wi == req->nslots)
			break;
		rlen = pvio_le32_to_cpu(req->d[ri].len) - roff;
		wlen = pvio_le32_to_cpu(req->d[wi].len) - woff;
		n = rlen < wlen ? rlen : wlen;
		memmove((char *)req->buf[wi] + woff, (char *)req->buf[ri] + roff, n);
		copied += n;
		roff += n;
		woff += n;
		if (roff == pvio_le32_to_cpu(req->d[ri].len)) {
			ri++;
			roff = 0;
		}
		if (woff == pvio_le32_to_cpu(req->d[wi].len)) {
			wi++;
			woff = 0;
		}
	}
	cpl->len = pvio_cpu_to_le32(copied);
	cpl->status = pvio_cpu_to_le32(PVIO_S_OK);
}

const struct pvbe_dev_ops pvbe_echo_ops = {
	.type = PVIO_DEV_ECHO,
	.name = "echo",
	.sq_esize = sizeof(struct pvio_desc),
	.cq_esize = sizeof(struct pvio_cpl),
	.config_len = 0,
	.parse = echo_parse,
	.init = echo_init,
	.process = echo_process,
	.can_poll = true,
};
