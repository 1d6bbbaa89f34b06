/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_proxy.c - the port proxy's head rewriting (proxy_head.c) on heads
 * a client or, worse, a tenant's server in a slot may send.
 *
 * The first byte picks the direction (even: a request from a client, odd:
 * a response from the server in the slot; its bit 1: the client came over
 * TCP); the rest is parsed by llhttp as the proxy does, and the head built
 * from it must parse again as one HTTP/1.1 head whose headers hold no
 * hop-by-hop field but the proxy's own framing and Connection, never the
 * API's credentials towards the server, and Host 127.0.0.1:{port}. */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "api/proxy_internal.h"
#include "fuzz.h"

static struct proxy P;
static bool built;

static int on_field(llhttp_t *lp, const char *at, size_t n)
{
	struct proxy_hdrs *h = lp->type == HTTP_REQUEST ? &P.qh : &P.rh;
	return proxy_hdrs_add(h, at, n);
}

static int on_end(llhttp_t *lp)
{
	return proxy_hdrs_end(lp->type == HTTP_REQUEST ? &P.qh : &P.rh);
}

static int on_status(llhttp_t *lp, const char *at, size_t n)
{
	(void)lp;
	size_t room = sizeof P.reason - 1 - P.reason_len;
	memcpy(P.reason + P.reason_len, at, n < room ? n : room);
	P.reason_len += n < room ? n : room;
	return 0;
}

/* What the built head must (not) hold, checked as it is parsed again. */
struct seen {
	int connection, host, te;
	bool bad;
	char name[64];
	size_t nlen;
	char value[4096];
	size_t vlen;
	bool request, via_tcp, chunked;
};
static struct seen S;

static int c_field(llhttp_t *lp, const char *at, size_t n)
{
	(void)lp;
	size_t room = sizeof S.name - 1 - S.nlen;
	memcpy(S.name + S.nlen, at, n < room ? n : room);
	S.nlen += n < room ? n : room;
	return 0;
}

static int c_value(llhttp_t *lp, const char *at, size_t n)
{
	(void)lp;
	size_t room = sizeof S.value - 1 - S.vlen;
	memcpy(S.value + S.vlen, at, n < room ? n : room);
	S.vlen += n < room ? n : room;
	return 0;
}

/* A cookie pair named as the dashboard's, by http_auth.c's rules. */
static bool has_ours(const char *v)
{
	static const char ours[] = HTTP_COOKIE_NAME "=";
	while (*v) {
		v += strspn(v, " \t;");
		if (strncmp(v, ours, sizeof ours - 1) == 0)
			return true;
		v += strcspn(v, ";");
	}
	return false;
}

static int c_value_done(llhttp_t *lp)
{
	(void)lp;
	S.name[S.nlen] = S.value[S.vlen] = '\0';
	const char *n = S.name;
	if (!strcasecmp(n, "connection"))
		S.connection++;
	else if (!strcasecmp(n, "transfer-encoding"))
		S.te++;
	else if (!strcasecmp(n, "host"))
		S.host += S.request && !strcmp(S.value, "127.0.0.1:8000") ? 1
									  : 100;
	else
		S.bad |= !strcasecmp(n, "keep-alive") || !strcasecmp(n, "te") ||
			 !strcasecmp(n, "trailer") ||
			 !strncasecmp(n, "proxy-", 6) ||
			 (S.request && S.via_tcp &&
			  !strcasecmp(n, "authorization")) ||
			 (S.request && !strcasecmp(n, "cookie") &&
			  has_ours(S.value));
	S.nlen = S.vlen = 0;
	return 0;
}

static int c_done(llhttp_t *lp)
{
	(void)lp;
	return HPE_PAUSED;
}

static int built_cb(llhttp_t *lp)
{
	bool req = lp->type == HTTP_REQUEST;
	size_t len = 0;
	char *head;
	if (req) {
		P.q_chunked = (lp->flags & F_CHUNKED) != 0;
		const char *up = proxy_hdrs_get(&P.qh, "upgrade");
		P.ws = (lp->flags & F_UPGRADE) &&
		       (lp->flags & F_CONNECTION_UPGRADE) && up &&
		       !strcasecmp(up, "websocket");
		head = proxy_head_request(&P, &len);
	} else {
		int st = lp->status_code;
		P.ws = true; /* a 101 is built as for a WebSocket */
		P.r_chunked = st >= 200 && st != 204 && st != 304 &&
			      (lp->flags & F_CHUNKED);
		head = proxy_head_response(&P, st, &len);
	}
	FUZZ_SETUP(head != NULL);
	static const llhttp_settings_t check = {
		.on_header_field = c_field,
		.on_header_value = c_value,
		.on_header_value_complete = c_value_done,
		.on_headers_complete = c_done,
	};
	llhttp_t cp;
	llhttp_init(&cp, req ? HTTP_REQUEST : HTTP_RESPONSE, &check);
	S = (struct seen){.request = req,
			  .via_tcp = P.via_tcp,
			  .chunked = req ? P.q_chunked : P.r_chunked};
	llhttp_errno_t e = llhttp_execute(&cp, head, len);
	FUZZ_CHECK(e == HPE_PAUSED, "built head does not parse (%s): %.*s",
		   llhttp_errno_name(e), (int)len, head);
	int st = lp->status_code;
	bool interim = !req && st >= 100 && st < 200 && st != 101;
	FUZZ_CHECK(!S.bad, "a hop-by-hop or credential header passed: %.*s",
		   (int)len, head);
	FUZZ_CHECK(S.connection == (interim ? 0 : 1),
		   "%d Connection headers: %.*s", S.connection, (int)len, head);
	FUZZ_CHECK(S.te == (S.chunked && !interim ? 1 : 0),
		   "Transfer-Encoding x%d: %.*s", S.te, (int)len, head);
	FUZZ_CHECK(!req || S.host == 1, "Host: %.*s", (int)len, head);
	free(head);
	built = true;
	return HPE_PAUSED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool req = !(data[0] & 1);
	memset(&P, 0, sizeof P);
	P.port = 8000;
	P.via_tcp = (data[0] & 2) != 0;
	P.http_minor = 1;
	snprintf(P.method, sizeof P.method, "GET");
	P.target = "/t?q";
	P.prefix = "/v1/slots/s_slot_0.1/ports/8000";
	snprintf(P.peer, sizeof P.peer, "%s", P.via_tcp ? "10.0.0.1" : "");
	proxy_hdrs_reset(&P.qh, PROXY_HDRS_MAX);
	proxy_hdrs_reset(&P.rh, PROXY_HDRS_MAX);
	static const llhttp_settings_t in = {
		.on_status = on_status,
		.on_header_field = on_field,
		.on_header_field_complete = on_end,
		.on_header_value = on_field,
		.on_header_value_complete = on_end,
		.on_headers_complete = built_cb,
	};
	llhttp_t lp;
	llhttp_init(&lp, req ? HTTP_REQUEST : HTTP_RESPONSE, &in);
	built = false;
	(void)llhttp_execute(&lp, (const char *)data + 1, size - 1);
	proxy_hdrs_reset(&P.qh, 0);
	proxy_hdrs_reset(&P.rh, 0);
	return 0;
}
