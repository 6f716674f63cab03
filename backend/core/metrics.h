/* SPDX-License-Identifier: GPL-2.0 */
/*
 * metrics.h - pviod's counters as Prometheus text (exposition format
 * 0.0.4), from the answer to the control request `metrics`.  Shared by
 * pviod's HTTP endpoint (core/http.c) and `pvioctl metrics`; it needs
 * json-c and nothing else of pviod.
 */
#ifndef PVBE_METRICS_H
#define PVBE_METRICS_H

#include <stddef.h>

struct json_object;

/*
 * The text for @m (an object with "guests", as the supervisor answers
 * `metrics`), malloc'ed and NUL-terminated; its length in *@len.  NULL
 * (errno set) when out of memory or when @m has no "guests" array.
 */
char *pvbe_metrics_text(struct json_object *m, size_t *len);

#endif
