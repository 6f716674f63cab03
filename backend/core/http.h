/* SPDX-License-Identifier: GPL-2.0 */
/* http.h - the supervisor's Prometheus endpoint (core/http.c). */
#ifndef PVBE_HTTP_H
#define PVBE_HTTP_H

#include "core/config.h"

/* Serve GET /metrics on cfg->metrics, if set: 0, or -errno (logged). */
int pvbe_http_start(const struct pvbe_cfg *cfg);
/* From the supervisor's tick: the server's timeouts. */
void pvbe_http_tick(void);
/* The server's epoll fd, -1 without one. */
int pvbe_http_fd(void);
void pvbe_http_stop(void);

#endif
