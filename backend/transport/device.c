// SPDX-License-Identifier: GPL-2.0
/* device.c - the table of device classes pviod serves. */
#include <stddef.h>

#include "transport/guest.h"

extern const struct pvbe_dev_ops pvbe_echo_ops;
extern const struct pvbe_dev_ops pvbe_net_ops;
extern const struct pvbe_dev_ops pvbe_blk_ops;
extern const struct pvbe_dev_ops pvbe_balloon_ops;

static const struct pvbe_dev_ops *const pvbe_classes[] = {
	&pvbe_echo_ops,
	&pvbe_net_ops,
	&pvbe_blk_ops,
	&pvbe_balloon_ops,
};

const struct pvbe_dev_ops *pvbe_dev_ops_find(int type)
{
	size_t i;

	for (i = 0; i < sizeof(pvbe_classes) / sizeof(pvbe_classes[0]); i++)
		if (pvbe_classes[i]->type == type)
			return pvbe_classes[i];
	return NULL;
}
