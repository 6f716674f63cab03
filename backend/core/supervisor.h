/* SPDX-License-Identifier: GPL-2.0 */
/* supervisor.h - what the control socket asks of the supervisor. */
#ifndef PVBE_SUPERVISOR_H
#define PVBE_SUPERVISOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "transport/guest.h"

struct pvbe_guest *pvbe_guest_find(const char *name);
/*
 * Add every guest of @cfg (taken), read from @source (guest add FILE) or
 * from the configuration (NULL); >=0 added, or -errno with @err set.
 */
int pvbe_guests_add(struct pvbe_cfg *cfg, const char *source, char *err, size_t len);
/* Replace pviod in place (handover.h): 0 begun, or -errno with @err set. */
int pvbe_upgrade(char *err, size_t len);
/* Stop the guest's worker and free it; add @replacement afterwards. */
void pvbe_guest_remove(struct pvbe_guest *g, struct pvbe_guest_cfg *replacement);
/* Re-read the configuration file: 0, or -errno with @err set. */
int pvbe_reload(char *err, size_t len);

/* control.c, called by the supervisor */
void pvbe_control_tick(uint64_t now_ms);
/*
 * A control request of pviod's own (the metrics endpoint, core/http.c):
 * @done gets the JSON answer, its to put, once complete -- maybe before
 * this returns (*@hp NULL then), else later from the loop; after
 * pvbe_control_cancel(*@hp) it never does.  -EBUSY: too many requests
 * in progress, @done is not called.
 */
struct json_object;
typedef void (*pvbe_control_done_fn)(struct json_object *resp, void *arg);
int pvbe_control_request(const char *line, pvbe_control_done_fn done, void *arg,
			 void **hp);
void pvbe_control_cancel(void *handle);
void pvbe_control_guest_removed(struct pvbe_guest *g);

#endif
