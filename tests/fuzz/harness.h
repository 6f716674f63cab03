/* SPDX-License-Identifier: GPL-2.0 */
/*
 * harness.h - drive pviod's real worker code from a fuzz input.
 *
 * A guest is built the way the supervisor builds one (its configuration
 * parsed by pvbe_config_load(), the classes' parse/setup/prepare), with a
 * window and guest RAM in heap memory, so that AddressSanitizer sees any
 * access past them.  A fuzz input is a little program of guest actions
 * (struct op in harness.c): write bytes anywhere in the window or RAM,
 * set a device up, post a chain, reset, reap, and run the worker's loop
 * steps (pvbe_worker_prepare, the tick, the event loop once).  Between
 * inputs the devices are stopped and the window laid out afresh.
 *
 * FUZZ_MUTATOR=1 in the environment adds a thread that flips bytes of the
 * device table and the rings while the input runs: a value pviod reads
 * twice then differs between the reads.
 */
#ifndef PVIO_FUZZ_HARNESS_H
#define PVIO_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "transport/guest.h"

#define FUZZ_RAM	(4u << 20)

/* Build the guest of @config_text (one [guest g] and its devices). */
struct pvbe_guest *fuzz_guest(const char *config_text);
/* Run one input against @g; the guest is ready for the next one after. */
void fuzz_run(struct pvbe_guest *g, const uint8_t *data, size_t size);
/* A target's own operation (OP_EXTRA), with one byte of the input. */
extern void (*fuzz_extra)(struct pvbe_guest *g, uint8_t arg);

#endif
