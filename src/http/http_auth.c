/* SPDX-License-Identifier: Apache-2.0 */
/* http_auth.c - who may use the server: the bearer token on TCP
 * listeners, and the cookie a browser gets by opening the login path
 * with ?token=T (it cannot send an Authorization header when it
 * navigates).
 *
 * The cookie is accepted for GET and HEAD only: with SameSite=Strict a
 * browser does not send it cross-site at all, and refusing it on every
 * other method means that even a same-site page cannot make a browser
 * lease, release or run anything. */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"

/* What a browser shows for a missing or wrong token: no script, no
 * resource, nothing echoed from the request. */
const char http_unauth_page[] =
	"<!doctype html>\n<html><head><meta charset=\"utf-8\">"
	"<title>slotbox: unauthorized</title></head><body>"
	"<h1>401 Unauthorized</h1><p>Open this page as "
	"<code>/?token=TOKEN</code> with the daemon's token (the file "
	"given to <code>--token-file</code>).</p></body></html>\n";

/* Compare without an early exit: the time depends on the length of what
 * the client sent, never on the secret's bytes. */
static bool token_equal(const char *want, size_t wlen, const char *got,
			size_t glen)
{
	volatile unsigned char diff = (unsigned char)(glen != wlen);
	for (size_t i = 0; i < glen; i++)
		diff |= (unsigned char)(got[i] ^ want[i % wlen]);
	return diff == 0;
}

static bool bearer_ok(const struct http_server *srv, const char *v)
{
	if (!srv->token || !v || strncasecmp(v, "Bearer", 6) != 0 ||
	    (v[6] != ' ' && v[6] != '\t'))
		return false;
	v += 6;
	while (*v == ' ' || *v == '\t')
		v++;
	return token_equal(srv->token, srv->token_len, v, strlen(v));
}

/* The cookie's value is an HMAC of the token, not the token: a
 * browser's cookie store never holds the bearer token, and the value
 * stays the same across restarts with the same token file. */
int http_auth_setup(struct http_server *srv, struct sb_err *err)
{
	static const char label[] = "slotbox dashboard cookie v1";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	srv->cookie[0] = '\0';
	if (!srv->token)
		return 0;
	if (srv->token_len > HTTP_TOKEN_MAX)
		return sb_err_set(err, EINVAL,
				  "http server: the token is longer than %u "
				  "bytes",
				  HTTP_TOKEN_MAX);
	if (!HMAC(EVP_sha256(), srv->token, (int)srv->token_len,
		  (const unsigned char *)label, sizeof label - 1, mac, &n) ||
	    n * 2 + 1 > sizeof srv->cookie)
		return sb_err_set(err, EIO,
				  "http server: cannot derive the cookie");
	for (unsigned int i = 0; i < n; i++)
		snprintf(srv->cookie + 2 * i, 3, "%02x", mac[i]);
	return 0;
}

/* Does a Cookie header ("a=1; b=2") carry our cookie? */
static bool cookie_ok(const struct http_server *srv, const char *h)
{
	static const char name[] = HTTP_COOKIE_NAME "=";
	size_t clen = strlen(srv->cookie);
	bool ok = false;

	if (!srv->token || !h || clen == 0)
		return false;
	while (*h) {
		while (*h == ' ' || *h == '\t' || *h == ';')
			h++;
		size_t len = strcspn(h, ";");
		if (len >= sizeof name - 1 &&
		    memcmp(h, name, sizeof name - 1) == 0) {
			const char *v = h + sizeof name - 1;
			size_t vlen = len - (sizeof name - 1);
			while (vlen &&
			       (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
				vlen--;
			/* several cookies of that name (other paths): any */
			ok |= token_equal(srv->cookie, clen, v, vlen);
		}
		h += len;
	}
	return ok;
}

static bool is_read(int method)
{
	return method == HTTP_GET || method == HTTP_HEAD;
}

/* Is the raw request target exactly path (with or without a query)?
 * Raw, not decoded or normalized: "/v1/%68ealth" or "/v1/health/.."
 * never count as the public path, so it cannot open another one. */
static bool on_path(const struct http_conn *c, const char *path)
{
	if (!path || !c->url)
		return false;
	size_t plen = strcspn(c->url, "?");
	return plen == strlen(path) && memcmp(c->url, path, plen) == 0;
}

static bool on_login_path(const struct http_conn *c)
{
	return on_path(c, c->srv->login_path);
}

enum http_auth http_auth_check(const struct http_conn *c, int method)
{
	const struct http_server *srv = c->srv;
	const char *q = c->url ? strchr(c->url, '?') : NULL;

	if (is_read(method) && srv->token && q && on_login_path(c)) {
		char tok[HTTP_TOKEN_MAX + 1];
		int has = http_query_get(q + 1, "token", tok, sizeof tok);
		bool ok = has > 0 && token_equal(srv->token, srv->token_len,
						 tok, strlen(tok));
		explicit_bzero(tok, sizeof tok);
		if (has != 0) /* present (or malformed): a login attempt */
			return ok ? HTTP_AUTH_LOGIN : HTTP_AUTH_DENY_PAGE;
	}
	if (!c->via_tcp || bearer_ok(srv, c->hval[HTTP_H_AUTH]))
		return HTTP_AUTH_OK;
	/* A kubelet's httpGet probe cannot read the token from a Secret;
	 * the answer (version, cgroup mode) leases and runs nothing. */
	if (is_read(method) && on_path(c, srv->public_path))
		return HTTP_AUTH_OK;
	if (is_read(method) && cookie_ok(srv, c->hval[HTTP_H_COOKIE]))
		return HTTP_AUTH_OK;
	return is_read(method) && on_login_path(c) ? HTTP_AUTH_DENY_PAGE
						   : HTTP_AUTH_DENY;
}

/* 303 to the login path without the token (so it leaves the address
 * bar and the history), with the cookie. */
void http_auth_login(struct http_req *r)
{
	static const char body[] = "logged in; see the dashboard\n";
	const struct http_server *srv = r->conn->srv;
	char cookie[160];

	snprintf(cookie, sizeof cookie,
		 HTTP_COOKIE_NAME "=%s; HttpOnly; SameSite=Strict; Path=/",
		 srv->cookie);
	if (http_respond_header(&r->pub, "Location", srv->login_path) < 0 ||
	    http_respond_header(&r->pub, "Set-Cookie", cookie) < 0 ||
	    http_respond_header(&r->pub, "Cache-Control", "no-store") < 0) {
		http_respond_error(&r->pub, 500, "internal", "out of memory");
		return;
	}
	http_respond(&r->pub, 303, "text/plain; charset=utf-8", body,
		     sizeof body - 1);
}
