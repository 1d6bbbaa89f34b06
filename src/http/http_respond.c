/* SPDX-License-Identifier: Apache-2.0 */
/* http_respond.c - answers: status line and headers, whole bodies, JSON
 * and error bodies, chunked streams with back-pressure, the write path;
 * plus query-string decoding and reason phrases. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_text.h"
#include "common/membudget.h"
#include "http/http_internal.h"

struct http_wreq {
	uv_write_t w;
	struct http_conn *conn;
	size_t len; /* of data, charged to the memory budget */
	char data[];
};

const char *http_status_text(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 303:
		return "See Other";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 411:
		return "Length Required";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 416:
		return "Range Not Satisfiable";
	case 417:
		return "Expectation Failed";
	case 422:
		return "Unprocessable Entity";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	case 507:
		return "Insufficient Storage";
	default:
		return "Unknown";
	}
}

/* ---- query strings ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode src[0..len) into out (NUL-terminated); '+' becomes a
 * space when plus. -1 on a bad escape, a %00 or when out is too small. */
int http_pct_decode(const char *src, size_t len, char *out, size_t outlen,
		    bool plus)
{
	size_t o = 0;
	if (outlen == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char ch = src[i];
		if (ch == '%') {
			if (len - i < 3)
				return -1;
			int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
			if (hi < 0 || lo < 0 || (hi | lo) == 0)
				return -1;
			ch = (char)(hi << 4 | lo);
			i += 2;
		} else if (ch == '+' && plus) {
			ch = ' ';
		} else if (ch == '\0') {
			return -1;
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = ch;
	}
	out[o] = '\0';
	return 0;
}

int http_query_get(const char *query, const char *name, char *out,
		   size_t outlen)
{
	if (!query || !name)
		return 0;
	size_t nlen = strlen(name);
	const char *p = query;
	while (*p) {
		size_t len = strcspn(p, "&");
		const char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;
		char key[256];
		/* Keys are decoded too ("p%61th" is "path"); one that cannot
		 * be decoded is simply not the one asked for. */
		if (klen >= nlen && klen < sizeof key &&
		    http_pct_decode(p, klen, key, sizeof key, true) == 0 &&
		    strcmp(key, name) == 0) {
			/* first occurrence wins, even when malformed */
			if (!eq)
				return http_pct_decode("", 0, out, outlen,
						       true) == 0
					       ? 1
					       : -1;
			return http_pct_decode(eq + 1, len - klen - 1, out,
					       outlen, true) == 0
				       ? 1
				       : -1;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return 0;
}

/* ---- requests ---- */

void http_req_free(struct http_req *r)
{
	if (!r)
		return;
	free(r->xhdr);
	free(r->raw);
	free(r->body);
	free(r);
}

/* Drop a hold taken around one of our callbacks; the request is freed
 * here if it was answered meanwhile. */
void http_req_release(struct http_req *r)
{
	if (--r->holds == 0 && r->answered)
		http_req_free(r);
}

/* The request leaves its connection: its answer is fully queued, or it
 * can no longer be sent. */
static void req_detach(struct http_req *r)
{
	if (r->conn && r->conn->req == r)
		r->conn->req = NULL;
	r->conn = NULL;
}

/* gone: the client left before the answer could be sent. */
static void req_answered(struct http_req *r, bool gone)
{
	http_log_request(r->pub.method, r->pub.path, r->status, r->t0, r->rid,
			 gone);
	req_detach(r);
	r->answered = true;
	if (r->holds == 0)
		http_req_free(r);
}

void http_req_answered(struct http_req *r, bool gone)
{
	req_answered(r, gone);
}

/* ---- writing ---- */

static void write_cb(uv_write_t *w, int status)
{
	struct http_wreq *wr = (struct http_wreq *)w;
	struct http_conn *c = wr->conn;
	sb_membudget_give(wr->len);
	free(wr);
	c->writes--;
	if (c->closing)
		return;
	if (status < 0) {
		http_conn_close(c); /* the client is gone */
		return;
	}
	size_t queued = uv_stream_get_write_queue_size(&c->h.s);
	if (c->tstate == HTTP_T_STALL) {
		/* progress: restart the clock, or stop it when all is out */
		if (queued)
			http_conn_timer(c, HTTP_T_STALL,
					c->srv->opts.idle_timeout_s);
		else
			http_conn_timer(c, HTTP_T_NONE, 0);
	}
	if (c->answer_done) {
		if (c->writes == 0)
			http_conn_flushed(c);
		return;
	}
	struct http_req *r = c->req;
	if (r && r->drain_wanted && queued < HTTP_HIGH_WATER) {
		r->drain_wanted = false;
		if (r->drain_fn) {
			r->holds++;
			r->drain_fn(&r->pub, r->drain_ud);
			http_req_release(r);
		}
	}
}

/* Queue the concatenation of bufs (copied). final marks the last bytes
 * of an answer: once written, the connection moves on. */
int http_conn_send(struct http_conn *c, const uv_buf_t *bufs, unsigned n,
		   bool final)
{
	size_t total = 0;
	if (c->closing)
		return -1;
	for (unsigned i = 0; i < n; i++)
		total += bufs[i].len;
	if (total == 0) {
		if (final) {
			c->answer_done = true;
			if (c->writes == 0) /* nothing in flight to wait for */
				http_conn_timer(c, HTTP_T_FLUSHED, 0);
		}
		return 0;
	}
	if (total > UINT_MAX)
		return -1;
	/* Nothing in flight: what the socket takes now is written now, and
	 * only the rest is copied and queued. A final answer written whole
	 * moves on from the loop, as after a queued write. */
	size_t skip = 0;
	if (c->writes == 0) {
		int w = uv_try_write(&c->h.s, bufs, n);
		if (w > 0)
			skip = (size_t)w;
		if (skip == total) {
			if (final) {
				c->answer_done = true;
				http_conn_timer(c, HTTP_T_FLUSHED, 0);
			}
			return 0;
		}
		/* (an error: the queued write below meets it and closes) */
	}
	total -= skip;
	struct http_wreq *wr = malloc(sizeof *wr + total);
	if (!wr)
		return -1;
	size_t off = 0;
	for (unsigned i = 0; i < n; i++) {
		size_t len = bufs[i].len, from = 0;
		if (skip) {
			from = skip < len ? skip : len;
			skip -= from;
		}
		if (len > from)
			memcpy(wr->data + off, bufs[i].base + from, len - from);
		off += len - from;
	}
	wr->conn = c;
	wr->len = total;
	uv_buf_t b = uv_buf_init(wr->data, (unsigned)total);
	if (uv_write(&wr->w, &c->h.s, &b, 1, write_cb) < 0) {
		free(wr);
		return -1;
	}
	/* until written: output buffers give way to it (membudget.h) */
	sb_membudget_charge(total);
	c->writes++;
	if (final)
		c->answer_done = true;
	if (c->busy && c->tstate != HTTP_T_STALL &&
	    uv_stream_get_write_queue_size(&c->h.s) > 0)
		http_conn_timer(c, HTTP_T_STALL, c->srv->opts.idle_timeout_s);
	return 0;
}

/* ---- heads and bodies ---- */

/* A content type from the handler goes on the wire verbatim; refuse one
 * that could inject a header. */
static const char *safe_ctype(const char *ct)
{
	if (!ct)
		return NULL;
	if (strlen(ct) > 200 || strpbrk(ct, "\r\n"))
		return "application/octet-stream";
	return ct;
}

static const char *conn_header(const struct http_conn *c, bool http10)
{
	if (c->close_after)
		return "Connection: close\r\n";
	if (http10) /* HTTP/1.0 closes unless told otherwise */
		return "Connection: keep-alive\r\n";
	return "";
}

/* Append n bytes of s to the head being written in out, truncated as
 * snprintf would (out stays NUL-terminated). Every answer has a head:
 * plain copies cost a fraction of a printf's format parsing. */
static void head_add(char *out, size_t outlen, size_t *o, const char *s,
		     size_t n)
{
	if (*o + 1 >= outlen)
		return;
	if (n > outlen - 1 - *o)
		n = outlen - 1 - *o;
	memcpy(out + *o, s, n);
	*o += n;
	out[*o] = '\0';
}

static void head_add_str(char *out, size_t outlen, size_t *o, const char *s)
{
	head_add(out, outlen, o, s, strlen(s));
}

static void head_add_uint(char *out, size_t outlen, size_t *o, uint64_t v)
{
	char digits[SB_UINT_TEXT_MAX];
	head_add(out, outlen, o, digits, sb_uint_text(v, digits));
}

/* Status line and headers into out; len < 0 means chunked (or, for
 * HTTP/1.0, delimited by the close), no_len means no Content-Length.
 * xhdr: extra header lines, already checked (http_respond_header).
 * status: 200-999. Returns the head's length. */
static size_t format_head(char *out, size_t outlen, const struct http_conn *c,
			  bool http10, int status, const char *ctype,
			  long long len, bool no_len, const char *rid,
			  const char *xhdr, size_t xhdr_len)
{
	size_t o = 0;
	out[0] = '\0';
	head_add_str(out, outlen, &o, "HTTP/1.1 ");
	head_add_uint(out, outlen, &o, (uint64_t)status);
	head_add_str(out, outlen, &o, " ");
	head_add_str(out, outlen, &o, http_status_text(status));
	head_add_str(out, outlen, &o, "\r\n");
	if (ctype) {
		head_add_str(out, outlen, &o, "Content-Type: ");
		head_add_str(out, outlen, &o, ctype);
		head_add_str(out, outlen, &o, "\r\n");
	}
	if (!no_len && len >= 0) {
		head_add_str(out, outlen, &o, "Content-Length: ");
		head_add_uint(out, outlen, &o, (uint64_t)len);
		head_add_str(out, outlen, &o, "\r\n");
	} else if (!no_len && !http10) {
		head_add_str(out, outlen, &o, "Transfer-Encoding: chunked\r\n");
	}
	/* nosniff: a browser holding the dashboard cookie may GET any
	 * read endpoint; none of their bodies may be taken for a page */
	head_add_str(out, outlen, &o, "X-Request-Id: ");
	head_add_str(out, outlen, &o, rid ? rid : "-");
	head_add_str(out, outlen, &o,
		     "\r\nX-Content-Type-Options: nosniff\r\n");
	if (xhdr_len)
		head_add(out, outlen, &o, xhdr, xhdr_len);
	head_add_str(out, outlen, &o, conn_header(c, http10));
	head_add_str(out, outlen, &o, "\r\n");
	return o;
}

/* Header names are tokens; values must not end the line. */
static bool header_ok(const char *name, const char *value)
{
	static const char tchar[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789-";
	size_t nl = strlen(name);
	return nl > 0 && nl <= 64 && strspn(name, tchar) == nl &&
	       !strpbrk(value, "\r\n");
}

int http_respond_header(struct http_request *pub, const char *name,
			const char *value)
{
	struct http_req *r = (struct http_req *)pub;
	if (!r || r->answered || r->streaming || !name || !value ||
	    !header_ok(name, value))
		return -1;
	size_t add = strlen(name) + strlen(value) + 4; /* ": " CRLF */
	if (add > HTTP_XHDR_MAX - r->xhdr_len)
		return -1;
	char *nb = realloc(r->xhdr, r->xhdr_len + add + 1);
	if (!nb)
		return -1;
	r->xhdr = nb;
	snprintf(nb + r->xhdr_len, add + 1, "%s: %s\r\n", name, value);
	r->xhdr_len += add;
	return 0;
}

static int sane_status(int status)
{
	return status >= 200 && status <= 999 ? status : 500;
}

void http_respond(struct http_request *pub, int status,
		  const char *content_type, const void *body, size_t len)
{
	struct http_req *r = (struct http_req *)pub;
	if (!r || r->answered)
		return;
	if (r->streaming) { /* misuse: the head is already out */
		http_respond_stream_end(pub);
		return;
	}
	struct http_conn *c = r->conn;
	r->status = sane_status(status);
	if (c) {
		char head[HTTP_HEAD_MAX];
		if (c->raw_busy) /* its unread body follows: cannot go on */
			c->close_after = true;
		status = r->status;
		bool empty = status == 204 || status == 304;
		size_t hl =
			format_head(head, sizeof head, c, r->http10, status,
				    safe_ctype(content_type), (long long)len,
				    empty, r->rid, r->xhdr, r->xhdr_len);
		uv_buf_t bufs[2] = {uv_buf_init(head, (unsigned)hl),
				    uv_buf_init(NULL, 0)};
		unsigned n = 1;
		if (!empty && !r->head && len && body) {
			bufs[1].base = (char *)body;
			bufs[1].len = len;
			n = 2;
		}
		req_detach(r);
		if (http_conn_send(c, bufs, n, true) < 0)
			http_conn_close(c);
	}
	req_answered(r, !c);
}

/* {"error":{"code":...,"message":...}} as a compact string (malloc'd). */
static char *error_body(const char *code, const char *msg)
{
	json_t *m = json_string(msg);
	if (!m) { /* not UTF-8: keep the ASCII, mask the rest */
		char safe[1024];
		size_t i = 0;
		for (; i < sizeof safe - 1 && msg[i]; i++)
			safe[i] = (unsigned char)msg[i] < 0x80 ? msg[i] : '?';
		safe[i] = '\0';
		m = json_string(safe);
	}
	json_t *o = json_pack("{s:{s:s, s:o*}}", "error", "code",
			      code ? code : "internal", "message", m);
	char *s = o ? sb_json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

static const char oom_body[] =
	"{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";

/* Answer with a serialised JSON text (freed here), or a fixed 500 body
 * when serialising ran out of memory. */
static void respond_json_text(struct http_request *req, int status, char *s)
{
	if (!s) {
		http_respond(req, 500, "application/json", oom_body,
			     sizeof oom_body - 1);
		return;
	}
	http_respond(req, status, "application/json", s, strlen(s));
	free(s);
}

void http_respond_json(struct http_request *req, int status, json_t *doc)
{
	char *s = doc ? sb_json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	respond_json_text(req, status, s);
}

void http_respond_error(struct http_request *req, int status, const char *code,
			const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	respond_json_text(req, status, error_body(code, msg));
}

/* An error found before any handler saw the request: answer it with the
 * API's error body, then close. */
void http_conn_error(struct http_conn *c, int status, const char *code,
		     const char *msg)
{
	char head[HTTP_HEAD_MAX];
	char rid[HTTP_REQUEST_ID_MAX + 1];
	struct http_req *r = c->building;
	bool page = c->fail_page && status == 401;
	char *s = page ? NULL : error_body(code, msg);
	const char *body = page ? http_unauth_page : s ? s : oom_body;
	size_t blen = strlen(body);
	if (r)
		memcpy(rid, r->rid, sizeof rid);
	else /* too early for a request: the id is made here */
		http_reqid_pick(c->srv, c->hval[HTTP_H_REQID],
				++c->srv->next_id, rid);
	http_log_request(r ? r->pub.method : NULL, r ? r->pub.path : NULL,
			 status, c->t0, rid, false);
	c->busy = true;
	c->close_after = true;
	http_req_free(c->building);
	c->building = NULL;
	http_conn_timer(c, HTTP_T_NONE, 0);
	size_t hl = format_head(head, sizeof head, c, false, status,
				page ? "text/html; charset=utf-8"
				     : "application/json",
				(long long)blen, false, rid, NULL, 0);
	uv_buf_t bufs[2] = {uv_buf_init(head, (unsigned)hl),
			    uv_buf_init((char *)body, (unsigned)blen)};
	int rc = http_conn_send(c, bufs, 2, true);
	free(s);
	if (rc < 0)
		http_conn_close(c);
}

/* ---- streams ---- */

void http_respond_stream_begin(struct http_request *pub, int status,
			       const char *content_type, http_drain_fn drain,
			       void *ud)
{
	struct http_req *r = (struct http_req *)pub;
	if (!r || r->answered || r->streaming)
		return;
	r->streaming = true;
	r->drain_fn = drain;
	r->drain_ud = ud;
	status = sane_status(status);
	r->status = status;
	struct http_conn *c = r->conn;
	if (!c)
		return;
	if (c->raw_busy)
		c->close_after = true;
	r->nobody = r->head || status == 204 || status == 304;
	r->chunked = !r->http10 && !r->nobody;
	if (r->http10 && !r->nobody)
		c->close_after = true; /* the close ends the body */
	char head[HTTP_HEAD_MAX];
	size_t hl = format_head(head, sizeof head, c, r->http10, status,
				safe_ctype(content_type), -1,
				status == 204 || status == 304, r->rid, r->xhdr,
				r->xhdr_len);
	uv_buf_t b = uv_buf_init(head, (unsigned)hl);
	if (http_conn_send(c, &b, 1, false) < 0) {
		req_detach(r);
		http_conn_close(c);
	}
}

int http_respond_stream_write(struct http_request *pub, const void *data,
			      size_t len)
{
	struct http_req *r = (struct http_req *)pub;
	if (!r || r->answered || !r->streaming)
		return -1;
	struct http_conn *c = r->conn;
	if (!c || c->closing)
		return -1;
	size_t queued = uv_stream_get_write_queue_size(&c->h.s);
	if (len && !r->nobody) {
		/* a producer that ignores back-pressure is cut off */
		if (queued > HTTP_QUEUE_MAX) {
			req_detach(r);
			http_conn_close(c);
			return -1;
		}
		char size[32];
		int sl = snprintf(size, sizeof size, "%zx\r\n", len);
		uv_buf_t bufs[3] = {uv_buf_init(size, (unsigned)sl),
				    uv_buf_init((char *)data, 0),
				    uv_buf_init("\r\n", 2)};
		bufs[1].len = len;
		int rc = r->chunked ? http_conn_send(c, bufs, 3, false)
				    : http_conn_send(c, &bufs[1], 1, false);
		if (rc < 0) {
			req_detach(r);
			http_conn_close(c);
			return -1;
		}
		queued = uv_stream_get_write_queue_size(&c->h.s);
	}
	if (queued > HTTP_HIGH_WATER) {
		r->drain_wanted = true;
		return 1;
	}
	return 0;
}

void http_respond_stream_end(struct http_request *pub)
{
	struct http_req *r = (struct http_req *)pub;
	if (!r || r->answered)
		return;
	if (!r->streaming) { /* end without begin: still one answer */
		http_respond_error(pub, 500, "internal", "empty stream");
		return;
	}
	struct http_conn *c = r->conn;
	if (c) {
		uv_buf_t b = uv_buf_init("0\r\n\r\n", r->chunked ? 5 : 0);
		req_detach(r);
		if (http_conn_send(c, &b, 1, true) < 0)
			http_conn_close(c);
	}
	req_answered(r, !c);
}

void http_request_on_abort(struct http_request *pub, http_abort_fn fn, void *ud)
{
	struct http_req *r = (struct http_req *)pub;
	if (!r)
		return;
	r->abort_fn = fn;
	r->abort_ud = ud;
}
