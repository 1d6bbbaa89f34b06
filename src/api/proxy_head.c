/* SPDX-License-Identifier: Apache-2.0 */
/* proxy_head.c - the heads the port proxy sends: the client's request
 * head for the server in the slot and the server's response head for the
 * client, each without hop-by-hop headers (RFC 9110 7.6.1: Connection and
 * the names it lists, Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding,
 * Upgrade), with framing and Connection of the proxy's own.
 *
 * Towards the server: Host becomes 127.0.0.1:{port} (what it listens as;
 * dev servers that check Host accept it), X-Forwarded-Host/-Proto/-Prefix
 * (and -For on TCP) tell it the original; the client's X-Forwarded-* and
 * Forwarded are dropped (the daemon is the edge). Credentials of the API
 * never pass: Authorization on TCP (the bearer token there; on the unix
 * socket it is the client's own and passes) and the dashboard's cookie. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/proxy_internal.h"

void proxy_hdrs_reset(struct proxy_hdrs *h, size_t max)
{
	free(h->buf);
	*h = (struct proxy_hdrs){.max = max};
}

static int hdrs_put(struct proxy_hdrs *h, const char *at, size_t n)
{
	if (h->len + n + 1 > h->max) {
		h->over = true;
		return -1;
	}
	if (h->len + n + 1 > h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 1024;
		while (cap < h->len + n + 1)
			cap *= 2;
		char *nb = realloc(h->buf, cap);
		if (!nb)
			return -1;
		h->buf = nb;
		h->cap = cap;
	}
	memcpy(h->buf + h->len, at, n);
	h->len += n;
	return 0;
}

int proxy_hdrs_add(struct proxy_hdrs *h, const char *at, size_t n)
{
	return hdrs_put(h, at, n);
}

int proxy_hdrs_end(struct proxy_hdrs *h)
{
	if (h->in_value) /* a value's trailing blanks are not part of it */
		while (h->len > h->vstart && (h->buf[h->len - 1] == ' ' ||
					      h->buf[h->len - 1] == '\t'))
			h->len--;
	if (hdrs_put(h, "", 1) < 0)
		return -1;
	if (h->in_value)
		h->n++;
	h->vstart = h->len;
	h->in_value = !h->in_value;
	return 0;
}

/* Walk the pairs: *pos starts at 0; NULL at the end. */
static const char *hdrs_next(const struct proxy_hdrs *h, size_t *pos,
			     const char **value)
{
	if (*pos >= h->len || !h->buf)
		return NULL;
	const char *name = h->buf + *pos;
	size_t nl = strnlen(name, h->len - *pos);
	if (*pos + nl + 1 >= h->len)
		return NULL; /* a name without its value */
	*value = name + nl + 1;
	*pos += nl + 1 + strnlen(*value, h->len - *pos - nl - 1) + 1;
	return name;
}

const char *proxy_hdrs_get(const struct proxy_hdrs *h, const char *name)
{
	size_t pos = 0;
	const char *n, *v;
	while ((n = hdrs_next(h, &pos, &v)))
		if (strcasecmp(n, name) == 0)
			return v;
	return NULL;
}

/* Is token (len bytes) in the comma-separated list? */
static bool list_has(const char *list, const char *token, size_t len)
{
	while (list && *list) {
		list += strspn(list, " \t,");
		size_t tl = strcspn(list, ",");
		size_t end = tl;
		while (end && (list[end - 1] == ' ' || list[end - 1] == '\t'))
			end--;
		if (end == len && strncasecmp(list, token, len) == 0)
			return true;
		list += tl;
	}
	return false;
}

/* Hop-by-hop: never passed on (the framing and Connection are ours). */
static bool hop_by_hop(const struct proxy_hdrs *h, const char *name)
{
	static const char *const hop[] = {
		"connection",	 "keep-alive",	      "te",
		"trailer",	 "transfer-encoding", "upgrade",
		"content-length"};
	for (size_t i = 0; i < sizeof hop / sizeof *hop; i++)
		if (strcasecmp(name, hop[i]) == 0)
			return true;
	if (strncasecmp(name, "proxy-", 6) == 0)
		return true;
	/* and every header the Connection header names */
	size_t pos = 0;
	const char *n, *v;
	while ((n = hdrs_next(h, &pos, &v)))
		if (strcasecmp(n, "connection") == 0 &&
		    list_has(v, name, strlen(name)))
			return true;
	return false;
}

struct out {
	char *buf;
	size_t len, cap;
	bool oom;
};

/* Append the NULL-terminated list of strings. */
static void out_add(struct out *o, ...)
{
	va_list ap;
	va_start(ap, o);
	for (const char *a; (a = va_arg(ap, const char *));) {
		size_t n = strlen(a);
		if (o->oom)
			break;
		if (o->len + n + 1 > o->cap) {
			size_t cap = (o->len + n + 1) * 2;
			char *nb = realloc(o->buf, cap);
			if (!nb) {
				o->oom = true;
				break;
			}
			o->buf = nb;
			o->cap = cap;
		}
		memcpy(o->buf + o->len, a, n + 1);
		o->len += n;
	}
	va_end(ap);
}

static char *out_done(struct out *o, size_t *len)
{
	if (o->oom) {
		free(o->buf);
		return NULL;
	}
	*len = o->len;
	return o->buf;
}

/* Cookie without the dashboard's login cookie (an HMAC of the token). */
static void add_cookie(struct out *o, const char *v)
{
	static const char ours[] = HTTP_COOKIE_NAME "=";
	size_t vl = strlen(v), kl = 0;
	char *kept = malloc(2 * vl + 1); /* "a;b" becomes "a; b" */
	if (!kept) {
		o->oom = true;
		return;
	}
	while (*v) {
		v += strspn(v, " \t;");
		size_t n = strcspn(v, ";");
		size_t end = n;
		while (end && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (end && strncmp(v, ours, sizeof ours - 1) != 0) {
			if (kl) {
				memcpy(kept + kl, "; ", 2);
				kl += 2;
			}
			memcpy(kept + kl, v, end);
			kl += end;
		}
		v += n;
	}
	kept[kl] = '\0';
	if (kl)
		out_add(o, "Cookie: ", kept, "\r\n", (char *)NULL);
	free(kept);
}

char *proxy_head_request(struct proxy *p, size_t *len)
{
	struct out o = {0};
	char port[16];
	const struct proxy_hdrs *h = &p->qh;
	snprintf(port, sizeof port, "%d", p->port);
	out_add(&o, p->method, " ", p->target, " HTTP/1.1\r\n", (char *)NULL);
	size_t pos = 0;
	const char *n, *v;
	while ((n = hdrs_next(h, &pos, &v))) {
		if (hop_by_hop(h, n) || strcasecmp(n, "host") == 0 ||
		    strncasecmp(n, "x-forwarded-", 12) == 0 ||
		    strcasecmp(n, "forwarded") == 0 ||
		    (p->via_tcp && strcasecmp(n, "authorization") == 0))
			continue;
		if (strcasecmp(n, "cookie") == 0)
			add_cookie(&o, v);
		else
			out_add(&o, n, ": ", v, "\r\n", (char *)NULL);
	}
	out_add(&o, "Host: 127.0.0.1:", port, "\r\n", (char *)NULL);
	const char *host = proxy_hdrs_get(h, "host");
	if (host && *host)
		out_add(&o, "X-Forwarded-Host: ", host, "\r\n", (char *)NULL);
	out_add(&o, "X-Forwarded-Proto: http", "\r\n", (char *)NULL);
	out_add(&o, "X-Forwarded-Prefix: ", p->prefix, "\r\n", (char *)NULL);
	if (p->peer[0])
		out_add(&o, "X-Forwarded-For: ", p->peer, "\r\n", (char *)NULL);
	if (p->q_chunked)
		out_add(&o, "Transfer-Encoding: chunked", "\r\n", (char *)NULL);
	else if (p->qp.flags & F_CONTENT_LENGTH) {
		char cl[32];
		snprintf(cl, sizeof cl, "%llu",
			 (unsigned long long)p->qp.content_length);
		out_add(&o, "Content-Length: ", cl, "\r\n", (char *)NULL);
	}
	if (p->ws)
		out_add(&o, "Connection: Upgrade\r\nUpgrade: ",
			proxy_hdrs_get(h, "upgrade"), "\r\n", (char *)NULL);
	else
		out_add(&o, "Connection: close", "\r\n", (char *)NULL);
	out_add(&o, "\r\n", (char *)NULL);
	return out_done(&o, len);
}

char *proxy_head_response(struct proxy *p, int status, size_t *len)
{
	struct out o = {0};
	char st[16], reason[sizeof p->reason];
	const struct proxy_hdrs *h = &p->rh;
	snprintf(st, sizeof st, "%d", status);
	memcpy(reason, p->reason, p->reason_len);
	reason[p->reason_len] = '\0';
	if (!reason[0] || strpbrk(reason, "\r\n"))
		snprintf(reason, sizeof reason, "%s", http_status_text(status));
	out_add(&o, "HTTP/1.1 ", st, " ", reason, "\r\n", (char *)NULL);
	size_t pos = 0;
	const char *n, *v;
	while ((n = hdrs_next(h, &pos, &v)))
		if (!hop_by_hop(h, n))
			out_add(&o, n, ": ", v, "\r\n", (char *)NULL);
	bool interim = status >= 100 && status < 200;
	const char *up = proxy_hdrs_get(h, "upgrade");
	if (status == 101)
		out_add(&o, "Connection: Upgrade\r\nUpgrade: ",
			up ? up : "websocket", "\r\n", (char *)NULL);
	else if (!interim) { /* an interim answer has no framing */
		if (p->r_chunked)
			out_add(&o, "Transfer-Encoding: chunked", "\r\n",
				(char *)NULL);
		else if ((p->rp.flags & F_CONTENT_LENGTH) &&
			 !(p->rp.flags & F_CHUNKED)) {
			char cl[32];
			snprintf(cl, sizeof cl, "%llu",
				 (unsigned long long)p->rp.content_length);
			out_add(&o, "Content-Length: ", cl, "\r\n",
				(char *)NULL);
		}
		out_add(&o, "Connection: close", "\r\n", (char *)NULL);
	}
	out_add(&o, "\r\n", (char *)NULL);
	return out_done(&o, len);
}
