/* SPDX-License-Identifier: GPL-2.0 */
/*
 * control.h - what the control socket's two halves share: the supervisor's
 * (control.c: the socket, requests, forwarding) and the worker's
 * (control_worker.c: the answers about its devices).
 */
#ifndef PVBE_CONTROL_H
#define PVBE_CONTROL_H

#include <json-c/json.h>

#define PVBE_CTL_MAX_WORDS	8

#define J_U64(o, k, v)	json_object_object_add(o, k, json_object_new_uint64(v))
#define J_STR(o, k, v)	json_object_object_add(o, k, json_object_new_string(v))
#define J_BOOL(o, k, v)	json_object_object_add(o, k, json_object_new_boolean(v))

/* Split @line into at most @max words in place: their count, or -1. */
int pvbe_ctl_split(char *line, char **w, int max);
/* {"error": MESSAGE} */
struct json_object *pvbe_ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
