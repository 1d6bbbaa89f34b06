/* http.c - HTTP/1.1 server: connections, parsing, limits, answers.
 *
 * One llhttp parser per connection. A connection handles one request at a
 * time: when a message is complete the parser is paused and reading stops
 * until the handler's answer is written, so pipelined requests are
 * answered in order and a client cannot make the daemon buffer unbounded
 * input. Every size is bounded: request line and headers, body, queued
 * output of a streaming answer. */
#include "api/http.h"

#include <errno.h>
#include <llhttp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define HTTP_READ_BUF 65536
#define HTTP_STREAM_HIGH_WATER (1u << 20)
#define HTTP_BODY_IDLE_S 60.0
#define HTTP_MAX_PATH 8192

struct http_conn;

struct http_req {
	struct http_request pub; /* first: handlers see only this */
	struct http_conn *conn;	 /* NULL once the client is gone */
	char *method, *path, *query, *body, *ctype;
	http_abort_fn abort_fn;
	void *abort_ud;
	http_drain_fn drain_fn;
	void *drain_ud;
	bool streaming;
	bool answered;
};

struct http_conn {
	union {
		uv_stream_t stream;
		uv_pipe_t pipe;
		uv_tcp_t tcp;
	} h;
	uv_timer_t timer;
	struct http_server *srv;
	struct http_conn *prev, *next;
	llhttp_t parser;
	bool via_tcp;
	bool closing;
	bool in_handler;  /* a request is with the handler */
	bool close_after; /* close once the current answer is written */
	bool started;	  /* bytes of the current request arrived */
	bool headers_done;
	int open_handles;
	/* the request being parsed */
	char *hdr; /* url + header field/value bytes, bounded */
	size_t hdr_len;
	char *url;
	size_t url_len;
	char field[64];
	size_t field_len;
	bool field_done;
	char *value; /* current header value (kept ones only) */
	size_t value_len;
	char *auth, *ctype, *expect, *connection_hdr;
	char *body;
	size_t body_len, body_cap;
	bool too_large;
	struct http_req *cur; /* dispatched request */
	/* bytes read but not yet parsed (while paused) */
	char *pending;
	size_t pending_len;
	char rbuf[HTTP_READ_BUF];
};

struct http_server {
	uv_loop_t *loop;
	struct http_server_opts opts;
	char *token;
	http_handler_fn handler;
	void *ud;
	uv_pipe_t unix_listener;
	uv_tcp_t tcp_listener;
	bool has_unix, has_tcp;
	int tcp_port;
	struct http_conn *conns;
	size_t n_conns;
	uint64_t next_id;
	bool closing;
	int open_handles;
	void (*done)(void *);
	void *done_ud;
};

void http_server_opts_default(struct http_server_opts *o)
{
	o->max_body_bytes = 128u << 20;
	o->max_header_bytes = 64u << 10;
	o->header_timeout_s = 10;
	o->idle_timeout_s = 300;
	o->max_connections = 16384;
	o->token = NULL;
}

const char *http_status_text(int s)
{
	switch (s) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
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
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 507:
		return "Insufficient Storage";
	default:
		return "Unknown";
	}
}

/* ---- small helpers ---- */

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

/* Percent-decode src[0..len) into out; '+' -> ' ' when plus. */
static int pct_decode(const char *src, size_t len, char *out, size_t outlen,
		      bool plus)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = src[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -1;
			int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi * 16 + lo);
			if (c == '\0')
				return -1;
			i += 2;
		} else if (c == '+' && plus) {
			c = ' ';
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

int http_query_get(const char *query, const char *name, char *out,
		   size_t outlen)
{
	size_t nlen = strlen(name);
	const char *p = query ? query : "";
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;
		char key[256];
		if (klen < sizeof key &&
		    pct_decode(p, klen, key, sizeof key, true) == 0 &&
		    strlen(key) == nlen && memcmp(key, name, nlen) == 0) {
			if (!eq) {
				if (outlen < 1)
					return -1;
				out[0] = '\0';
				return 1;
			}
			return pct_decode(eq + 1, len - klen - 1, out, outlen,
					  true) == 0
				       ? 1
				       : -1;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return 0;
}

static bool token_ok(const char *expect, const char *auth)
{
	if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
		return false;
	const char *got = auth + 7;
	size_t a = strlen(expect), b = strlen(got);
	unsigned char diff = (unsigned char)(a != b);
	/* constant time in the token's length */
	for (size_t i = 0; i < a; i++)
		diff |= (unsigned char)(expect[i] ^ (i < b ? got[i] : 0));
	return diff == 0;
}

/* ---- connection lifecycle ---- */

static void server_maybe_done(struct http_server *srv);

static void conn_reset_request(struct http_conn *c)
{
	free(c->hdr);
	free(c->url);
	free(c->value);
	free(c->auth);
	free(c->ctype);
	free(c->expect);
	free(c->connection_hdr);
	free(c->body);
	c->hdr = c->url = c->value = c->auth = c->ctype = c->expect =
		c->connection_hdr = c->body = NULL;
	c->hdr_len = c->url_len = c->value_len = c->field_len = 0;
	c->body_len = c->body_cap = 0;
	c->field_done = false;
	c->too_large = false;
	c->started = false;
	c->headers_done = false;
}

static void conn_handle_closed(uv_handle_t *h)
{
	struct http_conn *c = h->data;
	if (--c->open_handles > 0)
		return;
	struct http_server *srv = c->srv;
	conn_reset_request(c);
	free(c->pending);
	free(c);
	srv->open_handles--;
	server_maybe_done(srv);
}

static void conn_close(struct http_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	struct http_server *srv = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	if (c->cur) {
		struct http_req *r = c->cur;
		c->cur = NULL;
		r->conn = NULL;
		/* An answered request is freed by its write callback; an
		 * unanswered one when the handler answers it. */
		if (!r->answered && r->abort_fn)
			r->abort_fn(&r->pub, r->abort_ud);
	}
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
	uv_close((uv_handle_t *)&c->h.stream, conn_handle_closed);
}

static void timer_cb(uv_timer_t *t)
{
	conn_close(t->data);
}

static void arm_timer(struct http_conn *c, double s)
{
	uv_timer_start(&c->timer, timer_cb, (uint64_t)(s * 1000.0) + 1, 0);
}

/* ---- writing ---- */

struct wreq {
	uv_write_t w;
	struct http_conn *conn;
	struct http_req *req; /* set on the last write of an answer */
	bool last;
	size_t len;
	char data[];
};

static void req_free(struct http_req *r)
{
	free(r->method);
	free(r->path);
	free(r->query);
	free(r->body);
	free(r->ctype);
	free(r);
}

static void conn_read_more(struct http_conn *c);

static void write_cb(uv_write_t *w, int status)
{
	struct wreq *wr = (struct wreq *)w;
	struct http_conn *c = wr->conn;
	struct http_req *r = wr->req;
	bool last = wr->last;
	free(wr);
	if (c && c->closing)
		c = NULL;
	if (last && r) {
		if (c && c->cur == r)
			c->cur = NULL;
		req_free(r);
		if (c) {
			c->in_handler = false;
			if (status < 0 || c->close_after) {
				conn_close(c);
				return;
			}
			arm_timer(c, c->srv->opts.idle_timeout_s);
			conn_read_more(c);
		}
		return;
	}
	if (status < 0 && c) {
		conn_close(c);
		return;
	}
	/* streaming: tell the producer when the queue has drained */
	if (c && c->cur && c->cur->streaming && c->cur->drain_fn &&
	    uv_stream_get_write_queue_size(&c->h.stream) <
		    HTTP_STREAM_HIGH_WATER / 2)
		c->cur->drain_fn(&c->cur->pub, c->cur->drain_ud);
}

/* Queue bytes (copied). last marks the end of the answer. */
static int conn_write(struct http_conn *c, struct http_req *r, const void *a,
		      size_t alen, const void *b, size_t blen, const void *t,
		      size_t tlen, bool last)
{
	struct wreq *wr = malloc(sizeof *wr + alen + blen + tlen);
	if (!wr)
		return -1;
	memcpy(wr->data, a, alen);
	if (blen)
		memcpy(wr->data + alen, b, blen);
	if (tlen)
		memcpy(wr->data + alen + blen, t, tlen);
	wr->len = alen + blen + tlen;
	wr->conn = c;
	wr->req = last ? r : NULL;
	wr->last = last;
	uv_buf_t buf = uv_buf_init(wr->data, (unsigned)wr->len);
	if (uv_write(&wr->w, &c->h.stream, &buf, 1, write_cb) < 0) {
		free(wr);
		return -1;
	}
	return 0;
}

static void raw_error(struct http_conn *c, int status, const char *code,
		      const char *msg)
{
	json_t *o = json_pack("{s:{s:s, s:s}}", "error", "code", code,
			      "message", msg);
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	char head[256];
	size_t blen = body ? strlen(body) : 0;
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, http_status_text(status), blen);
	c->close_after = true;
	c->in_handler = true;
	uv_read_stop(&c->h.stream);
	llhttp_pause(&c->parser);
	struct http_req *dummy = calloc(1, sizeof *dummy);
	if (!dummy || conn_write(c, dummy, head, (size_t)n, body, blen, NULL, 0,
				 true) < 0) {
		free(dummy);
		conn_close(c);
	} else {
		c->cur = dummy;
		dummy->answered = true;
		dummy->conn = c;
	}
	free(body);
}

static void respond_head(struct http_req *r, int status, const char *ctype,
			 size_t len, bool chunked, char *out, size_t outlen,
			 int *n)
{
	struct http_conn *c = r->conn;
	*n = snprintf(out, outlen, "HTTP/1.1 %d %s\r\n", status,
		      http_status_text(status));
	if (ctype)
		*n += snprintf(out + *n, outlen - (size_t)*n,
			       "Content-Type: %s\r\n", ctype);
	if (chunked)
		*n += snprintf(out + *n, outlen - (size_t)*n,
			       "Transfer-Encoding: chunked\r\n");
	else if (status != 204)
		*n += snprintf(out + *n, outlen - (size_t)*n,
			       "Content-Length: %zu\r\n", len);
	if (c && c->close_after)
		*n += snprintf(out + *n, outlen - (size_t)*n,
			       "Connection: close\r\n");
	*n += snprintf(out + *n, outlen - (size_t)*n, "\r\n");
}

void http_respond(struct http_request *pub, int status, const char *ctype,
		  const void *body, size_t len)
{
	struct http_req *r = (struct http_req *)pub;
	char head[512];
	int n;
	if (r->answered)
		return;
	r->answered = true;
	if (!r->conn || r->conn->closing) {
		req_free(r);
		return;
	}
	respond_head(r, status, ctype, len, false, head, sizeof head, &n);
	if (conn_write(r->conn, r, head, (size_t)n, body,
		       status == 204 ? 0 : len, NULL, 0, true) < 0) {
		struct http_conn *c = r->conn;
		c->cur = NULL;
		req_free(r);
		conn_close(c);
	}
}

void http_respond_json(struct http_request *req, int status, json_t *doc)
{
	char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!s) {
		http_respond_error(req, 500, "internal", "out of memory");
		return;
	}
	http_respond(req, status, "application/json", s, strlen(s));
	free(s);
}

void http_respond_error(struct http_request *req, int status, const char *code,
			const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_t *o = json_pack("{s:{s:s, s:s%}}", "error", "code", code,
			      "message", msg, strlen(msg));
	if (!o) /* message not UTF-8: say so without it */
		o = json_pack("{s:{s:s, s:s}}", "error", "code", code,
			      "message", "(unprintable message)");
	http_respond_json(req, status, o);
}

void http_respond_stream_begin(struct http_request *pub, int status,
			       const char *ctype, http_drain_fn drain, void *ud)
{
	struct http_req *r = (struct http_req *)pub;
	char head[512];
	int n;
	r->streaming = true;
	r->drain_fn = drain;
	r->drain_ud = ud;
	if (!r->conn || r->conn->closing)
		return;
	respond_head(r, status, ctype, 0, true, head, sizeof head, &n);
	if (conn_write(r->conn, r, head, (size_t)n, NULL, 0, NULL, 0, false) <
	    0)
		conn_close(r->conn);
}

int http_respond_stream_write(struct http_request *pub, const void *data,
			      size_t len)
{
	struct http_req *r = (struct http_req *)pub;
	char size[32];
	if (!r->conn || r->conn->closing)
		return -1;
	if (!len)
		return 0;
	int n = snprintf(size, sizeof size, "%zx\r\n", len);
	if (conn_write(r->conn, r, size, (size_t)n, data, len, "\r\n", 2,
		       false) < 0) {
		conn_close(r->conn);
		return -1;
	}
	return uv_stream_get_write_queue_size(&r->conn->h.stream) >
			       HTTP_STREAM_HIGH_WATER
		       ? 1
		       : 0;
}

void http_respond_stream_end(struct http_request *pub)
{
	struct http_req *r = (struct http_req *)pub;
	if (r->answered)
		return;
	r->answered = true;
	r->drain_fn = NULL;
	if (!r->conn || r->conn->closing) {
		req_free(r);
		return;
	}
	if (conn_write(r->conn, r, "0\r\n\r\n", 5, NULL, 0, NULL, 0, true) <
	    0) {
		struct http_conn *c = r->conn;
		c->cur = NULL;
		req_free(r);
		conn_close(c);
	}
}

void http_request_on_abort(struct http_request *pub, http_abort_fn fn, void *ud)
{
	struct http_req *r = (struct http_req *)pub;
	r->abort_fn = fn;
	r->abort_ud = ud;
}

/* ---- parsing ---- */

static struct http_conn *conn_of(llhttp_t *p)
{
	return p->data;
}

/* Count bytes against the header budget. */
static int header_budget(struct http_conn *c, size_t n)
{
	c->hdr_len += n;
	if (c->hdr_len > c->srv->opts.max_header_bytes) {
		raw_error(c, 431, "bad_request",
			  "request line and headers are too large");
		return -1;
	}
	return 0;
}

static int append(char **buf, size_t *len, const char *at, size_t n)
{
	char *nb = realloc(*buf, *len + n + 1);
	if (!nb)
		return -1;
	memcpy(nb + *len, at, n);
	*len += n;
	nb[*len] = '\0';
	*buf = nb;
	return 0;
}

static int on_message_begin(llhttp_t *p)
{
	struct http_conn *c = conn_of(p);
	conn_reset_request(c);
	c->started = true;
	arm_timer(c, c->srv->opts.header_timeout_s);
	return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	if (header_budget(c, n) < 0 || append(&c->url, &c->url_len, at, n) < 0)
		return HPE_USER;
	return 0;
}

static char **kept_header(struct http_conn *c)
{
	if (!strcasecmp(c->field, "authorization"))
		return &c->auth;
	if (!strcasecmp(c->field, "content-type"))
		return &c->ctype;
	if (!strcasecmp(c->field, "expect"))
		return &c->expect;
	if (!strcasecmp(c->field, "connection"))
		return &c->connection_hdr;
	return NULL;
}

static int finish_value(struct http_conn *c)
{
	if (!c->field_done)
		return 0;
	char **dst = kept_header(c);
	if (dst) {
		free(*dst);
		*dst = c->value ? c->value : strdup("");
		c->value = NULL;
	}
	free(c->value);
	c->value = NULL;
	c->value_len = 0;
	c->field_len = 0;
	c->field[0] = '\0';
	c->field_done = false;
	return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	if (header_budget(c, n) < 0)
		return HPE_USER;
	finish_value(c);
	size_t room = sizeof c->field - 1 - c->field_len;
	size_t take = n < room ? n : room;
	memcpy(c->field + c->field_len, at, take);
	c->field_len += take;
	c->field[c->field_len] = '\0';
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	if (header_budget(c, n) < 0)
		return HPE_USER;
	c->field_done = true;
	if (kept_header(c) && append(&c->value, &c->value_len, at, n) < 0)
		return HPE_USER;
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct http_conn *c = conn_of(p);
	struct http_server *srv = c->srv;
	finish_value(c);
	c->headers_done = true;
	arm_timer(c, HTTP_BODY_IDLE_S);
	if (c->via_tcp && !token_ok(srv->token, c->auth)) {
		raw_error(c, 401, "unauthorized",
			  "a valid bearer token is required");
		return HPE_USER;
	}
	if ((p->flags & F_CONTENT_LENGTH) &&
	    p->content_length > srv->opts.max_body_bytes) {
		raw_error(c, 413, "payload_too_large",
			  "the request body is larger than the limit");
		return HPE_USER;
	}
	if (c->expect && !strcasecmp(c->expect, "100-continue"))
		conn_write(c, NULL, "HTTP/1.1 100 Continue\r\n\r\n", 25, NULL,
			   0, NULL, 0, false);
	if ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0) {
		c->body = malloc((size_t)p->content_length + 1);
		if (!c->body)
			return HPE_USER;
		c->body_cap = (size_t)p->content_length;
	}
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	if (c->body_len + n > c->srv->opts.max_body_bytes) {
		raw_error(c, 413, "payload_too_large",
			  "the request body is larger than the limit");
		return HPE_USER;
	}
	arm_timer(c, HTTP_BODY_IDLE_S);
	if (c->body_len + n > c->body_cap) {
		size_t ncap = c->body_cap ? c->body_cap * 2 : 65536;
		while (ncap < c->body_len + n)
			ncap *= 2;
		char *nb = realloc(c->body, ncap + 1);
		if (!nb)
			return HPE_USER;
		c->body = nb;
		c->body_cap = ncap;
	}
	memcpy(c->body + c->body_len, at, n);
	c->body_len += n;
	return 0;
}

static struct http_req *build_request(struct http_conn *c)
{
	struct http_req *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	const char *url = c->url ? c->url : "";
	const char *q = strchr(url, '?');
	size_t plen = q ? (size_t)(q - url) : strlen(url);
	r->method = strdup(llhttp_method_name(c->parser.method));
	r->path = malloc(plen + 1);
	r->query = strdup(q ? q + 1 : "");
	r->body = c->body ? c->body : strdup("");
	c->body = NULL;
	r->ctype = c->ctype;
	c->ctype = NULL;
	if (!r->method || !r->path || !r->query || !r->body) {
		req_free(r);
		return NULL;
	}
	if (c->body_len)
		r->body[c->body_len] = '\0';
	r->pub.method = r->method;
	r->pub.path = r->path;
	r->pub.query = r->query;
	r->pub.body = r->body;
	r->pub.body_len = c->body_len;
	r->pub.content_type = r->ctype;
	r->pub.id = ++c->srv->next_id;
	r->pub.via_tcp = c->via_tcp;
	r->conn = c;
	return r;
}

static int on_message_complete(llhttp_t *p)
{
	struct http_conn *c = conn_of(p);
	uv_timer_stop(&c->timer);
	bool keep = llhttp_should_keep_alive(p);
	if (c->connection_hdr && !strcasecmp(c->connection_hdr, "close"))
		keep = false;
	c->close_after = !keep;
	const char *url = c->url ? c->url : "";
	const char *q = strchr(url, '?');
	size_t plen = q ? (size_t)(q - url) : strlen(url);
	struct http_req *r = build_request(c);
	if (!r) {
		raw_error(c, 500, "internal", "out of memory");
		return HPE_USER;
	}
	if (plen == 0 || url[0] != '/' || plen > HTTP_MAX_PATH ||
	    pct_decode(url, plen, r->path, plen + 1, false) < 0) {
		req_free(r);
		raw_error(c, 400, "bad_request", "bad request path");
		return HPE_USER;
	}
	c->cur = r;
	c->in_handler = true;
	conn_reset_request(c);
	/* One request at a time: stop here until it is answered. */
	return HPE_PAUSED;
}

static const llhttp_settings_t parser_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* Feed data to the parser; dispatch a completed request. */
static void conn_feed(struct http_conn *c, const char *data, size_t len)
{
	llhttp_errno_t e = llhttp_execute(&c->parser, data, len);
	if (c->closing)
		return;
	if (e == HPE_OK)
		return;
	if (e == HPE_PAUSED) {
		const char *stop = llhttp_get_error_pos(&c->parser);
		size_t used = stop ? (size_t)(stop - data) : len;
		if (used < len) {
			char *rest = malloc(len - used);
			if (!rest) {
				conn_close(c);
				return;
			}
			memcpy(rest, data + used, len - used);
			free(c->pending);
			c->pending = rest;
			c->pending_len = len - used;
		}
		uv_read_stop(&c->h.stream);
		if (c->cur && !c->cur->answered) {
			struct http_req *r = c->cur;
			c->srv->handler(&r->pub, c->srv->ud);
		}
		return;
	}
	if (e == HPE_USER) {
		if (!c->in_handler)
			conn_close(c);
		return; /* an error answer is on its way */
	}
	if (!c->in_handler)
		raw_error(c, 400, "bad_request", llhttp_errno_name(e));
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct http_conn *c = h->data;
	(void)hint;
	*buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct http_conn *c = s->data;
	if (n < 0) {
		conn_close(c);
		return;
	}
	if (n == 0)
		return;
	if (!c->started)
		arm_timer(c, c->srv->opts.header_timeout_s);
	conn_feed(c, buf->base, (size_t)n);
}

/* After an answer: parse what was pipelined, then read again. */
static void conn_read_more(struct http_conn *c)
{
	llhttp_resume(&c->parser);
	if (c->pending) {
		char *data = c->pending;
		size_t len = c->pending_len;
		c->pending = NULL;
		c->pending_len = 0;
		conn_feed(c, data, len);
		free(data);
		if (c->closing || c->in_handler)
			return;
	}
	uv_read_start(&c->h.stream, alloc_cb, read_cb);
}

/* ---- listeners ---- */

static void on_connection(uv_stream_t *listener, int status)
{
	struct http_server *srv = listener->data;
	if (status < 0 || srv->closing)
		return;
	struct http_conn *c = calloc(1, sizeof *c);
	if (!c)
		return;
	c->srv = srv;
	c->via_tcp = listener == (uv_stream_t *)&srv->tcp_listener;
	if (c->via_tcp)
		uv_tcp_init(srv->loop, &c->h.tcp);
	else
		uv_pipe_init(srv->loop, &c->h.pipe, 0);
	uv_timer_init(srv->loop, &c->timer);
	c->h.stream.data = c->timer.data = c;
	c->open_handles = 2;
	srv->open_handles++;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;
	if (uv_accept(listener, &c->h.stream) < 0 ||
	    srv->n_conns > srv->opts.max_connections) {
		conn_close(c);
		return;
	}
	llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
	c->parser.data = c;
	arm_timer(c, srv->opts.idle_timeout_s);
	uv_read_start(&c->h.stream, alloc_cb, read_cb);
}

int http_server_new(uv_loop_t *loop, const struct http_server_opts *opts,
		    http_handler_fn handler, void *ud, struct http_server **out,
		    struct sb_err *err)
{
	struct http_server *srv = calloc(1, sizeof *srv);
	if (!srv)
		return sb_err_set(err, ENOMEM, "out of memory");
	srv->loop = loop;
	srv->opts = *opts;
	srv->handler = handler;
	srv->ud = ud;
	if (opts->token) {
		srv->token = strdup(opts->token);
		if (!srv->token) {
			free(srv);
			return sb_err_set(err, ENOMEM, "out of memory");
		}
	}
	srv->opts.token = NULL;
	*out = srv;
	return 0;
}

int http_server_listen_unix(struct http_server *srv, const char *path, int mode,
			    struct sb_err *err)
{
	struct stat st;
	if (strlen(path) >= 108)
		return sb_err_set(err, ENAMETOOLONG,
				  "socket path %s is too long", path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return sb_err_set(err, EEXIST,
					  "%s exists and is not a socket",
					  path);
		unlink(path);
	}
	uv_pipe_init(srv->loop, &srv->unix_listener, 0);
	srv->unix_listener.data = srv;
	srv->has_unix = true;
	srv->open_handles++;
	int r = uv_pipe_bind(&srv->unix_listener, path);
	if (r == 0)
		r = chmod(path, (mode_t)mode) < 0 ? -errno : 0;
	if (r == 0)
		r = uv_listen((uv_stream_t *)&srv->unix_listener, 1024,
			      on_connection);
	if (r < 0)
		return sb_err_set(err, -r, "listen on %s: %s", path,
				  uv_strerror(r));
	return 0;
}

int http_server_listen_tcp(struct http_server *srv, const char *host, int port,
			   struct sb_err *err)
{
	struct sockaddr_storage ss;
	if (!srv->token)
		return sb_err_set(err, EINVAL,
				  "TCP listening needs a bearer token");
	if (!strcmp(host, "localhost"))
		host = "127.0.0.1";
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
		return sb_err_set(err, EINVAL, "bad listen address %s", host);
	uv_tcp_init(srv->loop, &srv->tcp_listener);
	srv->tcp_listener.data = srv;
	srv->has_tcp = true;
	srv->open_handles++;
	int r = uv_tcp_bind(&srv->tcp_listener, (struct sockaddr *)&ss, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&srv->tcp_listener, 1024,
			      on_connection);
	if (r < 0)
		return sb_err_set(err, -r, "listen on %s:%d: %s", host, port,
				  uv_strerror(r));
	struct sockaddr_storage name;
	int len = sizeof name;
	if (uv_tcp_getsockname(&srv->tcp_listener, (struct sockaddr *)&name,
			       &len) == 0)
		srv->tcp_port = ntohs(((struct sockaddr_in *)&name)->sin_port);
	return 0;
}

int http_server_tcp_port(const struct http_server *srv)
{
	return srv->tcp_port;
}

static void server_maybe_done(struct http_server *srv)
{
	if (!srv->closing || srv->open_handles > 0)
		return;
	void (*done)(void *) = srv->done;
	void *ud = srv->done_ud;
	free(srv->token);
	free(srv);
	if (done)
		done(ud);
}

static void listener_closed(uv_handle_t *h)
{
	struct http_server *srv = h->data;
	srv->open_handles--;
	server_maybe_done(srv);
}

void http_server_close(struct http_server *srv, void (*done)(void *), void *ud)
{
	srv->closing = true;
	srv->done = done;
	srv->done_ud = ud;
	srv->open_handles++; /* hold until everything below is queued */
	if (srv->has_unix)
		uv_close((uv_handle_t *)&srv->unix_listener, listener_closed);
	if (srv->has_tcp)
		uv_close((uv_handle_t *)&srv->tcp_listener, listener_closed);
	while (srv->conns)
		conn_close(srv->conns);
	srv->open_handles--;
	server_maybe_done(srv);
}
