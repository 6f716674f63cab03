// SPDX-License-Identifier: GPL-2.0
/*
 * http.c - the Prometheus endpoint: with `metrics = ADDR:PORT` in [pviod],
 * the supervisor answers GET /metrics on that address with the text of
 * core/metrics.c (the same as `pvioctl metrics`).
 *
 * libmicrohttpd runs inside the supervisor's own loop, not on a thread of
 * its own (the supervisor forks its workers, and stays single-threaded):
 * its epoll fd is one more fd of the loop, and the loop's tick runs it for
 * its timeouts.  A scrape is the control request `metrics`, which waits
 * for every worker's answer (at most the control socket's second): the
 * connection is suspended meanwhile and resumed by the answer, so a slow
 * worker stalls no one else.  At most 8 connections, 10 s each; anything
 * but GET /metrics gets 404 or 405.  No authentication and no TLS: bind
 * it to loopback or a management network (docs/operations.md).
 */
#include <errno.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/pviod.h"
#include "core/supervisor.h"

#define HTTP_CONNECTIONS	8
#define HTTP_TIMEOUT_S		10

/* One scrape in progress. */
struct scrape {
	struct MHD_Connection *conn;
	void *req;			/* the control request, until answered */
	struct json_object *answer;
	bool answered, suspended;
	struct scrape *next;
};

static struct MHD_Daemon *daemon_;
static int epoll_fd = -1;
static struct scrape *scrapes;		/* every connection with a scrape */

static void http_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	pvbe_warn("metrics", "%s", msg);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int code,
			     char *body, size_t len, enum MHD_ResponseMemoryMode mode,
			     const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned int code,
				  const char *msg)
{
	return reply(conn, code, (char *)msg, strlen(msg), MHD_RESPMEM_PERSISTENT,
		     "text/plain; charset=utf-8");
}

/* The supervisor's answer came: the scrape goes on. */
static void answered(struct json_object *resp, void *arg)
{
	struct scrape *s = arg;

	s->answer = resp;
	s->answered = true;
	s->req = NULL;
	if (s->suspended) {
		s->suspended = false;
		MHD_resume_connection(s->conn);
	}
}

static void unlink_scrape(struct scrape *s)
{
	struct scrape **p;

	for (p = &scrapes; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			return;
		}
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload, size_t *upload_len, void **ctx)
{
	struct scrape *s = *ctx;
	char *text;
	size_t len;

	(void)cls;
	(void)version;
	(void)upload;
	if (*upload_len)
		return MHD_NO;		/* a body we do not take: drop the connection */
	if (strcmp(url, "/metrics"))
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "pviod serves /metrics only\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET /metrics\n");
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return MHD_NO;
		s->conn = conn;
		s->next = scrapes;
		scrapes = s;
		*ctx = s;
		if (pvbe_control_request("metrics", answered, s, &s->req))
			return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
					  "too many control requests in progress\n");
		if (!s->answered) {
			s->suspended = true;
			MHD_suspend_connection(conn);
			return MHD_YES;
		}
	}
	if (!s->answered)
		return MHD_YES;
	text = pvbe_metrics_text(s->answer, &len);
	if (!text) {
		pvbe_warn("metrics", "cannot render the answer: %s", strerror(errno));
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render the metrics\n");
	}
	return reply(conn, MHD_HTTP_OK, text, len, MHD_RESPMEM_MUST_FREE,
		     "text/plain; version=0.0.4; charset=utf-8");
}

/* The connection is done with: so is its scrape (an answer still due is dropped). */
static void on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
			 enum MHD_RequestTerminationCode why)
{
	struct scrape *s = *ctx;

	(void)cls;
	(void)conn;
	(void)why;
	if (!s)
		return;
	pvbe_control_cancel(s->req);
	json_object_put(s->answer);
	unlink_scrape(s);
	free(s);
	*ctx = NULL;
}

static void on_ready(int fd, uint32_t events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	MHD_run(daemon_);
}

int pvbe_http_start(const struct pvbe_cfg *cfg)
{
	const union MHD_DaemonInfo *info;
	unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

	if (!cfg->metrics[0])
		return 0;
	if (cfg->metrics_addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	daemon_ = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
				   MHD_OPTION_EXTERNAL_LOGGER, http_log, NULL,
				   MHD_OPTION_SOCK_ADDR, &cfg->metrics_addr,
				   MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_CONNECTIONS,
				   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_TIMEOUT_S,
				   MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				   MHD_OPTION_END);
	if (!daemon_) {
		pvbe_err("metrics", "cannot serve metrics on %s (in use? allowed?)", cfg->metrics);
		return -EADDRNOTAVAIL;
	}
	info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_EPOLL_FD);
	epoll_fd = info ? info->epoll_fd : -1;
	if (epoll_fd < 0 || pvbe_loop_add(epoll_fd, EPOLLIN, on_ready, NULL)) {
		pvbe_err("metrics", "cannot watch the HTTP server's epoll fd");
		MHD_stop_daemon(daemon_);
		daemon_ = NULL;
		return -EIO;
	}
	pvbe_info("metrics", "Prometheus metrics on http://%s/metrics", cfg->metrics);
	return 0;
}

void pvbe_http_tick(void)
{
	if (daemon_)
		MHD_run(daemon_);
}

int pvbe_http_fd(void)
{
	return daemon_ ? epoll_fd : -1;
}

void pvbe_http_stop(void)
{
	struct scrape *s;

	if (!daemon_)
		return;
	/* Suspended connections must be resumed before the daemon stops. */
	for (s = scrapes; s; s = s->next) {
		pvbe_control_cancel(s->req);
		s->req = NULL;
		if (s->suspended) {
			s->suspended = false;
			MHD_resume_connection(s->conn);
		}
	}
	pvbe_loop_del(epoll_fd);
	MHD_stop_daemon(daemon_);
	daemon_ = NULL;
	epoll_fd = -1;
}
