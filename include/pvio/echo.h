/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * pvio/echo.h - the echo test device class (type PVIO_DEV_ECHO): no
 * feature bits, no config area, 1 to 16 queues.  Each request's readable
 * data slots, concatenated in chain order, are copied into its writable
 * data slots; the completion's len is the number of bytes copied
 * (docs/protocol.md section 9.4).  It exists to test the transport.
 *
 * THIS IS AN ABI, like abi.h (whose rules apply); docs/protocol.md is
 * its prose version.
 */
#ifndef PVIO_ECHO_ABI_H
#define PVIO_ECHO_ABI_H

#include "abi.h"

/* Readable bytes per request; a larger one completes PVIO_S_INVAL, uncopied. */
#define PVIO_ECHO_MAX_IN	0x100000u

#endif /* PVIO_ECHO_ABI_H */
