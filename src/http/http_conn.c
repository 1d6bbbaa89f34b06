/* SPDX-License-Identifier: Apache-2.0 */
/* http_conn.c - one HTTP connection: accept, parse with llhttp, enforce
 * the limits, dispatch one request at a time, time out, close.
 *
 * When a request is complete the parser pauses and the request goes to the
 * handler; the next one is parsed only after the answer is flushed, so
 * pipelined answers keep their order and a client that does not read
 * cannot make us queue answers. While a request is busy we keep reading,
 * but only into a bounded buffer (reading stops when it is full): that is
 * how a client that goes away is noticed (abort callback). Every size is
 * bounded: request line and headers, body, read-ahead, queued stream
 * output. An idle connection holds no buffer at all (the read buffer is
 * shared by the whole server). */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"

/* Anything we accept but cannot (or may not) serve: closed at once. */
struct http_reject {
	union {
		uv_stream_t s;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	struct http_server *srv;
};

static void conn_consume(struct http_conn *c, const char *data, size_t len);

/* ---- timers ---- */

static void timer_cb(uv_timer_t *t)
{
	struct http_conn *c = t->data;
	enum http_tstate st = c->tstate;
	c->tstate = HTTP_T_NONE;
	if (st == HTTP_T_FLUSHED)
		http_conn_flushed(c);
	else /* header, body, idle, stall, linger: give up on the client */
		http_conn_close(c);
}

/* Arm the one timer for st; s <= 0 disables a limit. */
void http_conn_timer(struct http_conn *c, enum http_tstate st, double s)
{
	if (c->closing)
		return;
	if (st == HTTP_T_NONE || (s <= 0 && st != HTTP_T_FLUSHED)) {
		uv_timer_stop(&c->timer);
		c->tstate = HTTP_T_NONE;
		return;
	}
	double ms = s * 1000.0;
	uint64_t t = ms > 1e12 ? (uint64_t)1e12 : (uint64_t)ms;
	if (uv_timer_start(&c->timer, timer_cb, t, 0) == 0)
		c->tstate = st;
}

/* ---- connection lifecycle ---- */

static void conn_reset_msg(struct http_conn *c)
{
	free(c->url);
	c->url = NULL;
	c->url_len = 0;
	for (int i = 0; i < HTTP_H_COUNT; i++) {
		free(c->hval[i]);
		c->hval[i] = NULL;
		c->hval_len[i] = 0;
	}
	free(c->body);
	c->body = NULL;
	c->body_len = c->body_cap = c->body_limit = 0;
	c->hdr_bytes = 0;
	c->fname_len = 0;
	c->hcur = -1;
	c->seen = 0;
	free(c->rawhdr);
	c->rawhdr = NULL;
	c->rawhdr_len = 0;
	c->tk = false;
	http_req_free(c->building);
	c->building = NULL;
}

static void conn_handle_closed(uv_handle_t *h)
{
	struct http_conn *c = h->data;
	if (++c->closed_handles < 2)
		return;
	struct http_server *srv = c->srv;
	conn_reset_msg(c);
	free(c->pending);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	free(c);
	http_server_handle_gone(srv);
}

void http_conn_close_handles(struct http_conn *c)
{
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
	uv_close((uv_handle_t *)&c->h.s, conn_handle_closed);
}

/* Close now. A request still with the handler is detached and its abort
 * callback runs; the request itself lives on until the handler answers.
 * A stream producer waiting for drain is woken so its next write sees -1.
 * The connection memory goes in the close callbacks, never here. */
void http_conn_close(struct http_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->reading = false;
	uv_timer_stop(&c->timer);
	free(c->pending);
	c->pending = NULL;
	c->pending_len = 0;
	struct http_req *r = c->req;
	c->req = NULL;
	/* A connection with a write in flight goes now: uv_close cancels
	 * the write, which must not complete on a connection already let
	 * go of. One with none may wait its turn, not reading. */
	if (c->writes == 0) {
		uv_read_stop(&c->h.s);
		http_server_let_go(c->srv, c);
	} else {
		http_conn_close_handles(c);
	}
	if (!r)
		return;
	r->conn = NULL;
	r->holds++;
	if (r->abort_fn && !r->aborted && !r->answered) {
		r->aborted = true;
		r->abort_fn(&r->pub, r->abort_ud);
	}
	if (!r->answered && r->drain_wanted && r->drain_fn) {
		r->drain_wanted = false;
		r->drain_fn(&r->pub, r->drain_ud);
	}
	http_req_release(r);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct http_conn *c = h->data;
	size_t n = HTTP_READ_BUF;
	(void)hint;
	/* While busy, read no more than fits in the read-ahead buffer. */
	if (c->busy && !c->close_after && !c->lingering)
		n = HTTP_PENDING_MAX - c->pending_len;
	*buf = uv_buf_init(c->srv->rbuf, (unsigned)n);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void conn_read_start(struct http_conn *c)
{
	if (c->reading || c->closing || c->peer_eof)
		return;
	if (c->busy && !c->close_after && c->pending_len >= HTTP_PENDING_MAX)
		return;
	if (uv_read_start(&c->h.s, alloc_cb, read_cb) < 0) {
		http_conn_close(c);
		return;
	}
	c->reading = true;
}

static void conn_read_stop(struct http_conn *c)
{
	if (!c->reading)
		return;
	uv_read_stop(&c->h.s);
	c->reading = false;
}

static void shutdown_cb(uv_shutdown_t *sr, int status)
{
	struct http_conn *c = sr->handle->data;
	free(sr);
	if (status < 0 && status != UV_ECANCELED && !c->closing)
		http_conn_close(c);
}

/* After a closing answer: send FIN, then read and drop what the client
 * still sends for a moment, so it gets our answer instead of a reset. */
static void conn_linger(struct http_conn *c)
{
	free(c->pending);
	c->pending = NULL;
	c->pending_len = 0;
	c->lingering = true;
	if (c->peer_eof) {
		http_conn_close(c);
		return;
	}
	uv_shutdown_t *sr = malloc(sizeof *sr);
	if (!sr || uv_shutdown(sr, &c->h.s, shutdown_cb) < 0) {
		free(sr);
		http_conn_close(c);
		return;
	}
	http_conn_timer(c, HTTP_T_LINGER, HTTP_LINGER_S);
	conn_read_start(c);
}

/* The answer's last byte is written: on to the next request. */
void http_conn_flushed(struct http_conn *c)
{
	if (c->closing)
		return;
	c->answer_done = false;
	c->busy = false;
	c->raw_busy = false;
	http_conn_timer(c, HTTP_T_NONE, 0);
	if (c->close_after) {
		conn_linger(c);
		return;
	}
	http_conn_timer(c, HTTP_T_IDLE, c->srv->opts.idle_timeout_s);
	if (c->pending_len) { /* pipelined requests read meanwhile */
		char *data = c->pending;
		size_t len = c->pending_len;
		c->pending = NULL;
		c->pending_len = 0;
		conn_consume(c, data, len);
		free(data);
	}
	if (c->closing)
		return;
	if (c->peer_eof && !c->busy) {
		http_conn_close(c); /* nothing more will come */
		return;
	}
	conn_read_start(c);
}

/* ---- parser callbacks ---- */

static struct http_conn *conn_of(llhttp_t *p)
{
	return p->data;
}

static int fail(struct http_conn *c, int status, const char *code,
		const char *msg)
{
	if (!c->fail_status) {
		c->fail_status = status;
		c->fail_code = code;
		c->fail_msg = msg;
	}
	return -1;
}

/* Request line and headers share one budget. */
static int budget(struct http_conn *c, size_t n)
{
	c->hdr_bytes += n;
	if (c->hdr_bytes > c->srv->opts.max_header_bytes)
		return fail(c, 431, "headers_too_large",
			    "the request line and headers are too large");
	return 0;
}

static int append(struct http_conn *c, char **buf, size_t *len, const char *at,
		  size_t n)
{
	char *nb = realloc(*buf, *len + n + 1);
	if (!nb)
		return fail(c, 500, "internal", "out of memory");
	memcpy(nb + *len, at, n);
	*len += n;
	nb[*len] = '\0';
	*buf = nb;
	return 0;
}

static int on_message_begin(llhttp_t *p)
{
	struct http_conn *c = conn_of(p);
	conn_reset_msg(c);
	c->t0 = uv_hrtime();
	/* From the first byte, the headers have header_timeout_s (a new
	 * connection's clock already runs since the accept). */
	if (c->tstate != HTTP_T_HEADER)
		http_conn_timer(c, HTTP_T_HEADER,
				c->srv->opts.header_timeout_s);
	return budget(c, 4); /* spaces and CRLF of the request line */
}

static int on_span(llhttp_t *p, const char *at, size_t n)
{
	(void)at;
	return budget(conn_of(p), n);
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	if (budget(c, n) < 0)
		return -1;
	return append(c, &c->url, &c->url_len, at, n);
}

/* Is the request a takeover request? Decided on the decoded path, as the
 * handler will see it (a bad escape is not one: it fails later). */
static int on_url_complete(llhttp_t *p)
{
	struct http_conn *c = conn_of(p);
	bool (*tk)(const char *) = c->srv->opts.takeover;
	if (!tk || !c->url)
		return 0;
	char small[256];
	size_t plen = strcspn(c->url, "?");
	char *path = plen < sizeof small     ? small
		     : plen <= HTTP_MAX_PATH ? malloc(plen + 1)
					     : NULL;
	if (path && http_pct_decode(c->url, plen, path, plen + 1, false) == 0)
		c->tk = tk(path);
	if (path != small)
		free(path);
	return 0;
}

/* A takeover request keeps its headers as sent (bounded by the header
 * budget) for the handler to pass on. */
static int raw_add(struct http_conn *c, const char *at, size_t n)
{
	return c->tk ? append(c, &c->rawhdr, &c->rawhdr_len, at, n) : 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	if (budget(c, n) < 0 || raw_add(c, at, n) < 0)
		return -1;
	size_t room = sizeof c->fname - 1 - c->fname_len;
	/* past the room the name is too long to be one we keep; its
	 * truncated prefix is longer than any kept name, so never matches */
	memcpy(c->fname + c->fname_len, at, n < room ? n : room);
	c->fname_len += n < room ? n : room;
	return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
	static const char *const kept[HTTP_H_COUNT] = {
		[HTTP_H_CTYPE] = "content-type",
		[HTTP_H_AUTH] = "authorization",
		[HTTP_H_EXPECT] = "expect",
		[HTTP_H_COOKIE] = "cookie",
		[HTTP_H_REQID] = "x-request-id",
	};
	struct http_conn *c = conn_of(p);
	if (raw_add(c, ": ", 2) < 0)
		return -1;
	c->fname[c->fname_len] = '\0';
	c->fname_len = 0;
	c->hcur = -1;
	for (int i = 0; i < HTTP_H_COUNT; i++) {
		if (strcasecmp(c->fname, kept[i]) != 0)
			continue;
		if ((c->seen & (1u << i)) && i == HTTP_H_REQID)
			break; /* proxies may add one: the first one counts */
		if (c->seen & (1u << i)) /* ambiguous: which one counts? */
			return fail(c, 400, "bad_request",
				    "a header is repeated");
		c->seen |= 1u << i;
		c->hcur = i;
	}
	return budget(c, 4); /* ": " and CRLF */
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	if (budget(c, n) < 0 || raw_add(c, at, n) < 0)
		return -1;
	if (c->hcur < 0)
		return 0;
	return append(c, &c->hval[c->hcur], &c->hval_len[c->hcur], at, n);
}

static int on_header_value_complete(llhttp_t *p)
{
	struct http_conn *c = conn_of(p);
	int i = c->hcur;
	c->hcur = -1;
	if (raw_add(c, "\r\n", 2) < 0)
		return -1;
	if (i < 0)
		return 0;
	if (!c->hval[i] && append(c, &c->hval[i], &c->hval_len[i], "", 0) < 0)
		return -1;
	while (c->hval_len[i] && (c->hval[i][c->hval_len[i] - 1] == ' ' ||
				  c->hval[i][c->hval_len[i] - 1] == '\t'))
		c->hval[i][--c->hval_len[i]] = '\0';
	return 0;
}

/* The request object, built once the headers are known (path checked and
 * decoded); the body is attached when the message is complete. */
static int build_request(struct http_conn *c, llhttp_t *p)
{
	const char *url = c->url ? c->url : "";
	const char *q = memchr(url, '?', c->url_len);
	size_t plen = q ? (size_t)(q - url) : c->url_len;
	size_t qlen = q ? c->url_len - plen - 1 : 0;
	size_t clen = c->hval[HTTP_H_CTYPE] ? c->hval_len[HTTP_H_CTYPE] : 0;
	if (plen == 0 || url[0] != '/')
		return fail(c, 400, "bad_request",
			    "the request path must be absolute");
	if (plen > HTTP_MAX_PATH)
		return fail(c, 400, "bad_request",
			    "the request path is too long");
	struct http_req *r = calloc(1, sizeof *r + plen + qlen + clen + 3);
	if (!r)
		return fail(c, 500, "internal", "out of memory");
	char *path = r->strs, *query = path + plen + 1, *ct = query + qlen + 1;
	if (http_pct_decode(url, plen, path, plen + 1, false) < 0) {
		free(r);
		return fail(c, 400, "bad_request",
			    "the request path has a bad %-escape");
	}
	memcpy(query, q ? q + 1 : "", qlen);
	query[qlen] = '\0';
	memcpy(ct, c->hval[HTTP_H_CTYPE] ? c->hval[HTTP_H_CTYPE] : "", clen);
	ct[clen] = '\0';
	r->pub.method = llhttp_method_name((llhttp_method_t)p->method);
	r->pub.path = path;
	r->pub.query = query;
	r->pub.body = "";
	r->pub.content_type = c->hval[HTTP_H_CTYPE] ? ct : NULL;
	r->pub.id = ++c->srv->next_id;
	r->pub.via_tcp = c->via_tcp;
	http_reqid_pick(c->srv, c->hval[HTTP_H_REQID], r->pub.id, r->rid);
	r->pub.request_id = r->rid;
	r->t0 = c->t0;
	r->login = c->login;
	r->head = p->method == HTTP_HEAD;
	r->http10 = p->http_minor == 0;
	r->pub.http_minor = p->http_minor;
	c->building = r;
	if (!c->tk)
		return 0;
	/* raw target, NUL, raw headers, NUL */
	r->raw = malloc(c->url_len + c->rawhdr_len + 2);
	if (!r->raw)
		return fail(c, 500, "internal", "out of memory");
	memcpy(r->raw, url, c->url_len);
	r->raw[c->url_len] = '\0';
	memcpy(r->raw + c->url_len + 1, c->rawhdr ? c->rawhdr : "",
	       c->rawhdr_len);
	r->raw[c->url_len + 1 + c->rawhdr_len] = '\0';
	r->pub.takeover = true;
	r->pub.raw_target = r->raw;
	r->pub.raw_headers = r->raw + c->url_len + 1;
	r->pub.raw_headers_len = c->rawhdr_len;
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct http_conn *c = conn_of(p);
	struct http_server *srv = c->srv;
	/* No protocol upgrades: Upgrade headers are ignored and CONNECT
	 * fails the path check. */
	p->upgrade = 0;
	if (budget(c, 2) < 0)
		return -1;
	enum http_auth auth = http_auth_check(c, p->method);
	if (auth == HTTP_AUTH_DENY || auth == HTTP_AUTH_DENY_PAGE) {
		c->fail_page = auth == HTTP_AUTH_DENY_PAGE;
		fail(c, 401, "unauthorized",
		     "a valid bearer token is required");
		(void)build_request(c, p); /* its method and path get logged */
		return -1;
	}
	c->login = auth == HTTP_AUTH_LOGIN;
	if (p->http_major != 1)
		return fail(c, 400, "bad_request", "only HTTP/1.x is served");
	if (build_request(c, p) < 0)
		return -1;
	if (c->tk) {
		/* the handler reads the body itself, if it takes over; an
		 * Expect: 100-continue is its to answer */
		free(c->url);
		c->url = NULL;
		c->url_len = 0;
		http_conn_timer(c, HTTP_T_NONE, 0);
		return HPE_PAUSED;
	}
	bool has_len = p->flags & F_CONTENT_LENGTH;
	bool chunked = p->flags & F_CHUNKED;
	if (has_len && !chunked && p->content_length > srv->opts.max_body_bytes)
		return fail(c, 413, "payload_too_large",
			    "the request body is larger than the limit");
	c->close_after = !llhttp_should_keep_alive(p);
	bool body = chunked || (has_len && p->content_length > 0);
	c->body_limit =
		chunked ? srv->opts.max_body_bytes : (size_t)p->content_length;
	free(c->url); /* now in the request */
	c->url = NULL;
	c->url_len = 0;
	const char *expect = c->hval[HTTP_H_EXPECT];
	if (body && p->http_minor >= 1 && expect &&
	    strcasecmp(expect, "100-continue") == 0) {
		static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		uv_buf_t b = uv_buf_init(cont, sizeof cont - 1);
		if (http_conn_send(c, &b, 1, false) < 0)
			return fail(c, 500, "internal", "cannot write");
	}
	http_conn_timer(c, body ? HTTP_T_BODY : HTTP_T_NONE, HTTP_BODY_IDLE_S);
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	size_t need = c->body_len + n;
	if (need > c->srv->opts.max_body_bytes || need > c->body_limit)
		return fail(c, 413, "payload_too_large",
			    "the request body is larger than the limit");
	if (need + 1 > c->body_cap) {
		/* grow with what arrives, never by what is announced */
		size_t cap = c->body_cap * 2;
		if (cap < need + 1)
			cap = need + 1;
		if (cap < 16384)
			cap = 16384;
		if (cap > c->body_limit + 1)
			cap = c->body_limit + 1;
		char *nb = realloc(c->body, cap);
		if (!nb)
			return fail(c, 500, "internal", "out of memory");
		c->body = nb;
		c->body_cap = cap;
	}
	memcpy(c->body + c->body_len, at, n);
	c->body_len = need;
	http_conn_timer(c, HTTP_T_BODY, HTTP_BODY_IDLE_S);
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct http_conn *c = conn_of(p);
	struct http_req *r = c->building;
	if (!r) /* cannot happen: headers_complete built it */
		return fail(c, 500, "internal", "lost request");
	if (c->body) {
		c->body[c->body_len] = '\0';
		r->body = c->body;
		r->pub.body = c->body;
		r->pub.body_len = c->body_len;
		c->body = NULL;
		c->body_len = c->body_cap = 0;
	}
	/* One request at a time: stop here until it is answered. */
	return HPE_PAUSED;
}

static const llhttp_settings_t parser_settings = {
	.on_message_begin = on_message_begin,
	.on_method = on_span,
	.on_version = on_span,
	.on_url = on_url,
	.on_url_complete = on_url_complete,
	.on_header_field = on_header_field,
	.on_header_field_complete = on_header_field_complete,
	.on_header_value = on_header_value,
	.on_header_value_complete = on_header_value_complete,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* ---- reading and dispatch ---- */

static void conn_dispatch(struct http_conn *c)
{
	struct http_req *r = c->building;
	if (!r)
		return;
	c->building = NULL;
	conn_reset_msg(c);
	c->req = r;
	r->conn = c;
	c->busy = true;
	c->raw_busy = r->pub.takeover;
	http_conn_timer(c, HTTP_T_NONE, 0); /* the handler takes its time */
	r->holds++;
	if (r->login) /* the server's own answer: the handler never sees it */
		http_auth_login(r);
	else
		c->srv->handler(&r->pub, c->srv->ud);
	http_req_release(r);
}

/* Parse from data; returns the bytes consumed. */
static size_t conn_parse(struct http_conn *c, const char *data, size_t len)
{
	llhttp_errno_t e = llhttp_execute(&c->parser, data, len);
	if (c->closing)
		return len;
	if (e == HPE_OK)
		return len;
	if (e == HPE_PAUSED) {
		const char *stop = llhttp_get_error_pos(&c->parser);
		size_t used = stop && stop >= data && stop <= data + len
				      ? (size_t)(stop - data)
				      : len;
		llhttp_resume(&c->parser);
		conn_dispatch(c);
		return used;
	}
	if (c->fail_status)
		http_conn_error(c, c->fail_status, c->fail_code, c->fail_msg);
	else
		http_conn_error(c, 400, "bad_request",
				llhttp_get_error_reason(&c->parser)
					? llhttp_get_error_reason(&c->parser)
					: llhttp_errno_name(e));
	return len;
}

static bool keep_pending(struct http_conn *c, const char *data, size_t len)
{
	char *nb = realloc(c->pending, c->pending_len + len);
	if (!nb)
		return false;
	memcpy(nb + c->pending_len, data, len);
	c->pending = nb;
	c->pending_len += len;
	return true;
}

static void conn_consume(struct http_conn *c, const char *data, size_t len)
{
	while (len && !c->closing && !c->busy) {
		size_t used = conn_parse(c, data, len);
		if (used == 0 && !c->busy && !c->closing) {
			http_conn_close(c); /* no progress: cannot happen */
			return;
		}
		data += used;
		len -= used;
	}
	if (c->closing || !len || c->close_after)
		return; /* after a closing answer, input is dropped */
	if (!keep_pending(c, data, len)) {
		http_conn_close(c);
		return;
	}
	if (c->pending_len >= HTTP_PENDING_MAX)
		conn_read_stop(c); /* bounded: resume after the answer */
}

/* After EOF: did the client only shut down its sending side? A unix
 * socket tells: a peer that closed altogether leaves ours hung up
 * (POLLHUP), one that called shutdown(SHUT_WR) does not. TCP cannot tell
 * a FIN from a close without writing, so there EOF means gone. */
static bool half_closed(struct http_conn *c)
{
	uv_os_fd_t fd;
	if (c->via_tcp || uv_fileno((uv_handle_t *)&c->h.s, &fd) < 0)
		return false;
	struct pollfd p = {.fd = fd, .events = 0};
	if (poll(&p, 1, 0) < 0)
		return false; /* cannot tell: as before, gone */
	return !(p.revents & (POLLHUP | POLLERR));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct http_conn *c = s->data;
	if (nread == 0 || c->closing)
		return;
	if (nread < 0) {
		c->reading = false;
		/* EOF while busy: the answer is still written (a half-closed
		 * client still reads), unless the client is gone altogether,
		 * in which case a request still with the handler is aborted
		 * (a queued acquire must not lease a slot to nobody). */
		if (nread == UV_EOF && c->busy && !c->lingering &&
		    (!c->req || half_closed(c))) {
			c->peer_eof = true;
			return;
		}
		http_conn_close(c);
		return;
	}
	size_t len = (size_t)nread;
	if (c->lingering) {
		c->discarded += len;
		if (c->discarded > HTTP_LINGER_MAX)
			http_conn_close(c);
		return;
	}
	if (c->busy) {
		if (c->close_after)
			return; /* nothing more will be parsed */
		if (!keep_pending(c, buf->base, len)) {
			http_conn_close(c);
			return;
		}
		if (c->pending_len >= HTTP_PENDING_MAX)
			conn_read_stop(c);
		return;
	}
	conn_consume(c, buf->base, len);
}

/* ---- accepting ---- */

static void reject_closed(uv_handle_t *h)
{
	struct http_reject *rj = h->data;
	struct http_server *srv = rj->srv;
	free(rj);
	http_server_handle_gone(srv);
}

/* Take one pending connection off listener l. Returns false when out of
 * memory: the connection then waits in the listener (libuv stops polling
 * it until uv_accept) and we retry whenever memory is freed. */
bool http_conn_accept(struct http_server *srv, uv_stream_t *l, bool tcp)
{
	int r;
	if (srv->n_conns >= srv->opts.max_connections) {
		struct http_reject *rj = malloc(sizeof *rj);
		if (!rj)
			return false;
		r = tcp ? uv_tcp_init(srv->loop, &rj->h.tcp)
			: uv_pipe_init(srv->loop, &rj->h.pipe, 0);
		if (r < 0) {
			free(rj);
			return false;
		}
		rj->srv = srv;
		rj->h.s.data = rj;
		srv->handles++;
		(void)uv_accept(l, &rj->h.s); /* closed either way */
		uv_close((uv_handle_t *)&rj->h.s, reject_closed);
		return true;
	}
	struct http_conn *c = calloc(1, sizeof *c);
	if (!c)
		return false;
	r = tcp ? uv_tcp_init(srv->loop, &c->h.tcp)
		: uv_pipe_init(srv->loop, &c->h.pipe, 0);
	if (r < 0) {
		free(c);
		return false;
	}
	c->srv = srv;
	c->via_tcp = tcp;
	c->hcur = -1;
	c->h.s.data = c;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;
	srv->handles++;
	if (uv_timer_init(srv->loop, &c->timer) < 0) {
		c->closing = true;
		c->closed_handles = 1; /* the timer never opened */
		(void)uv_accept(l, &c->h.s);
		uv_close((uv_handle_t *)&c->h.s, conn_handle_closed);
		return true;
	}
	c->timer.data = c;
	llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
	c->parser.data = c;
	if (uv_accept(l, &c->h.s) < 0) {
		http_conn_close(c);
		return true;
	}
	if (tcp) /* a failure only costs latency: serve anyway */
		(void)uv_tcp_nodelay(&c->h.tcp, 1);
	http_conn_timer(c, HTTP_T_HEADER, srv->opts.header_timeout_s);
	conn_read_start(c);
	return true;
}
