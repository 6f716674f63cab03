/* SPDX-License-Identifier: GPL-2.0 */
/*
 * core/hostmem.h - the supervisor's half of the host-wide memory policy:
 * every memory_policy_ms it asks the workers for their devices (the
 * control request "metrics"), reads the host's MemAvailable and memory
 * pressure, runs balloon/hostpolicy.h over every balloon whose policy is
 * "host", and sends each changed target to its worker ("balloon GUEST
 * DEVICE host-target SIZE").  The last round is the control request
 * "memory-policy" (pvioctl balloon policy).
 */
#ifndef PVBE_HOSTMEM_H
#define PVBE_HOSTMEM_H

#include <stdint.h>

struct json_object;

/* From the supervisor's tick. */
void pvbe_hostmem_tick(uint64_t now_ms);
/* The last round, for the control socket (a new reference). */
struct json_object *pvbe_hostmem_status(void);

#endif
