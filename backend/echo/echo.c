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
#include "pvio/echo.h"

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

static int64_t echo_request(struct pvbe_queue *q, const struct pvbe_req *req)
{
	unsigned int ri = 0, wi = 0;
	uint32_t roff = 0, woff = 0, copied = 0;

	if (req->in_bytes > PVIO_ECHO_MAX_IN) {
		pvbe_queue_complete(q, req->id, PVIO_S_INVAL, 0);
		return 0;
	}
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
	q->st.bytes += copied + req->in_bytes;
	pvbe_queue_complete(q, req->id, PVIO_S_OK, copied);
	return copied;
}

const struct pvbe_dev_ops pvbe_echo_ops = {
	.type = PVIO_DEV_ECHO,
	.name = "echo",
	.sq_esize = sizeof(struct pvio_desc),
	.cq_esize = sizeof(struct pvio_cpl),
	.config_len = 0,
	.parse = echo_parse,
	.init = echo_init,
	.request = echo_request,
	.can_poll = true,
};
