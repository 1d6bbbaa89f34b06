/* SPDX-License-Identifier: Apache-2.0 */
/* http_log.c - request ids and the one log line per finished request.
 *
 * A client's own X-Request-Id is kept when it is short and plain (it goes
 * into logs and a response header verbatim, so nothing that could break
 * either is accepted); otherwise the id is the server's random prefix and
 * its request counter, unique per daemon start. Only the method, the
 * path (never the query: ?token= lives there), the status and the time
 * are logged. */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "http/http_internal.h"

#define HTTP_LOG_PATH_MAX 256

static const char rid_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				"abcdefghijklmnopqrstuvwxyz0123456789._-";

void http_reqid_pick(struct http_server *srv, const char *given, uint64_t n,
		     char out[HTTP_REQUEST_ID_MAX + 1])
{
	size_t len = given ? strlen(given) : 0;
	if (len >= 1 && len <= HTTP_REQUEST_ID_MAX &&
	    strspn(given, rid_chars) == len) {
		memcpy(out, given, len + 1);
		return;
	}
	snprintf(out, HTTP_REQUEST_ID_MAX + 1, "%s-%llu", srv->rid_prefix,
		 (unsigned long long)n);
}

void http_log_request(const char *method, const char *path, int status,
		      uint64_t t0, const char *rid, bool gone)
{
	/* a 5xx nobody received (the client left first, e.g. an acquire
	 * given up on) is no server trouble */
	enum sb_log_level lvl =
		status >= 500 && !gone ? SB_LOG_WARN : SB_LOG_DEBUG;
	char st[16], ms[32], p[HTTP_LOG_PATH_MAX + 4];

	if (!sb_log_enabled(lvl)) /* the common case: no formatting */
		return;
	snprintf(st, sizeof st, "%d", status);
	snprintf(ms, sizeof ms, "%.3f", (double)(uv_hrtime() - t0) / 1e6);
	path = path ? path : "-";
	if (strlen(path) > HTTP_LOG_PATH_MAX)
		snprintf(p, sizeof p, "%.*s...", HTTP_LOG_PATH_MAX, path);
	else
		snprintf(p, sizeof p, "%s", path);
	sb_log(lvl, "request", "method", method ? method : "-", "path", p,
	       "status", st, "duration_ms", ms, "request_id", rid,
	       "client_gone", gone ? "true" : NULL, SB_LOG_END);
}
