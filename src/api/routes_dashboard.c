/* SPDX-License-Identifier: Apache-2.0 */
/* routes_dashboard.c - GET / : the live dashboard (dashboard.html).
 *
 * The page is static; its script polls /v1/status?sandboxes=true and
 * /metrics with the browser's cookie (http_auth.c) and draws everything
 * itself. The headers keep it to itself: its own CSP (hashes of its
 * script and style, no other origin), no framing, no referrer, no cache
 * (a page behind a token). */
#include "api/api.h"
#include "api/dashboard.h"

void api_dashboard(struct http_request *req)
{
	if (http_respond_header(req, "Content-Security-Policy", dashboard_csp) <
		    0 ||
	    http_respond_header(req, "X-Frame-Options", "DENY") < 0 ||
	    http_respond_header(req, "Referrer-Policy", "no-referrer") < 0 ||
	    http_respond_header(req, "Cache-Control", "no-store") < 0) {
		http_respond_error(req, 500, "internal", "out of memory");
		return;
	}
	http_respond(req, 200, "text/html; charset=utf-8", dashboard_html,
		     dashboard_html_len);
}
