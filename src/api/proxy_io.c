/* SPDX-License-Identifier: Apache-2.0 */
/* proxy_io.c - relaying between the client and the server in the slot.
 *
 * The request and the response are each parsed (llhttp) so that heads can
 * be rewritten (proxy_head.c) and the end of each message is known; bodies
 * pass as they arrive, re-framed (a chunked body stays chunked, chunk
 * boundaries may move). Memory is bounded both ways: one 64 KiB read
 * buffer per side, and a side whose peer has more than PROXY_HIGH_WATER
 * queued is not read until that drains (back-pressure reaches the sender
 * through TCP). After a 101 to a WebSocket upgrade both sides are a raw
 * byte tunnel, under the same back-pressure. One request per connection:
 * the answer says Connection: close, then the client is drained briefly
 * and the connection closed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/proxy_internal.h"
#include "common/json_text.h"

struct pwreq {
	uv_write_t w;
	struct proxy_side *to;
	char data[];
};

static struct proxy *of_parser(llhttp_t *lp)
{
	return lp->data;
}

/* ---- reading, writing, back-pressure ---- */

static void side_read(struct proxy_side *s);

/* A side failed (reset, write error): before any answer went out, the
 * client still gets one. */
static void side_lost(struct proxy_side *s)
{
	struct proxy *p = s->p;
	if (s == &p->up && !p->r_sent && !p->lingering)
		proxy_fail(p, 502, "upstream_error",
			   "the server in the slot reset the connection "
			   "before it answered");
	else
		proxy_close(p);
}

static void side_stop(struct proxy_side *s)
{
	if (s->reading)
		uv_read_stop(&s->h.s);
	s->reading = false;
}

static void write_cb(uv_write_t *w, int status)
{
	struct pwreq *wr = (struct pwreq *)w;
	struct proxy_side *to = wr->to;
	struct proxy *p = to->p;
	free(wr);
	if (p->closing || !to->open) /* ended on purpose: writes cancelled */
		return;
	if (status < 0) {
		side_lost(to); /* that side is gone */
		return;
	}
	proxy_touch(p);
	struct proxy_side *from = to->other;
	if (from->held &&
	    uv_stream_get_write_queue_size(&to->h.s) < PROXY_HIGH_WATER / 2) {
		from->held = false;
		side_read(from);
	}
}

/* Queue the bytes of bufs (copied) for side `to`; past the high water
 * mark, the side that feeds it is no longer read. */
int proxy_send(struct proxy_side *to, const uv_buf_t *bufs, unsigned n)
{
	struct proxy *p = to->p;
	size_t total = 0;
	if (p->closing || !to->open)
		return -1;
	for (unsigned i = 0; i < n; i++)
		total += bufs[i].len;
	if (!total)
		return 0;
	struct pwreq *wr = malloc(sizeof *wr + total);
	if (!wr) {
		proxy_close(p);
		return -1;
	}
	size_t off = 0;
	for (unsigned i = 0; i < n; i++) {
		memcpy(wr->data + off, bufs[i].base, bufs[i].len);
		off += bufs[i].len;
	}
	wr->to = to;
	uv_buf_t b = uv_buf_init(wr->data, (unsigned)total);
	if (uv_write(&wr->w, &to->h.s, &b, 1, write_cb) < 0) {
		free(wr);
		proxy_close(p);
		return -1;
	}
	if (uv_stream_get_write_queue_size(&to->h.s) > PROXY_HIGH_WATER) {
		to->other->held = true;
		side_stop(to->other);
	}
	return 0;
}

static int send_str(struct proxy_side *to, const char *s, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)s, (unsigned)len);
	return proxy_send(to, &b, 1);
}

/* A body piece, as one chunk when chunked. */
static int send_body(struct proxy_side *to, bool chunked, const char *at,
		     size_t n)
{
	char size[32];
	int sl = snprintf(size, sizeof size, "%zx\r\n", n);
	uv_buf_t b[3] = {uv_buf_init(size, (unsigned)sl),
			 uv_buf_init((char *)at, (unsigned)n),
			 uv_buf_init("\r\n", 2)};
	if (!n)
		return 0;
	return chunked ? proxy_send(to, b, 3) : proxy_send(to, &b[1], 1);
}

/* ---- the end ---- */

static void tunnel_shut_cb(uv_shutdown_t *sr, int status)
{
	(void)status;
	proxy_close(sr->data);
}

static void linger_cb(uv_shutdown_t *sr, int status)
{
	struct proxy *p = sr->data;
	if (p->closing)
		return;
	if (status < 0) {
		proxy_close(p);
		return;
	}
	/* our FIN is out: read (and drop) what the client still sends for a
	 * moment, so that it gets the answer rather than a reset */
	if (p->cl.eof) { /* the client has said all it will */
		proxy_close(p);
		return;
	}
	p->lingering = true;
	proxy_timer(p, PROXY_LINGER_S);
	p->cl.held = false;
	p->cl.raw = false;
	side_read(&p->cl);
}

/* The answer is complete: the server's connection goes, the client's once
 * the answer is out. */
static void finish(struct proxy *p)
{
	proxy_close_side(p, &p->up);
	p->sreq.data = p;
	if (p->shutting || uv_shutdown(&p->sreq, &p->cl.h.s, linger_cb) < 0)
		proxy_close(p);
	p->shutting = true;
}

void proxy_fail(struct proxy *p, int status, const char *code, const char *msg)
{
	if (p->r_sent || p->closing) {
		proxy_close(p);
		return;
	}
	json_t *o = json_pack("{s:{s:s, s:s}}", "error", "code", code,
			      "message", msg);
	char *body = o ? sb_json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	char head[256];
	size_t bl = body ? strlen(body) : 0;
	int hl = snprintf(head, sizeof head,
			  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
			  "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			  status, http_status_text(status), bl);
	uv_buf_t b[2] = {uv_buf_init(head, (unsigned)hl),
			 uv_buf_init(body ? body : "", (unsigned)bl)};
	p->r_sent = p->r_done = true;
	int rc = proxy_send(&p->cl, b, p->head ? 1 : 2);
	free(body);
	if (rc == 0)
		finish(p);
}

/* ---- the request: client -> server ---- */

static int q_field(llhttp_t *lp, const char *at, size_t n)
{
	return proxy_hdrs_add(&of_parser(lp)->qh, at, n);
}

static int q_end(llhttp_t *lp)
{
	return proxy_hdrs_end(&of_parser(lp)->qh);
}

static int q_headers_complete(llhttp_t *lp)
{
	struct proxy *p = of_parser(lp);
	const char *up = proxy_hdrs_get(&p->qh, "upgrade");
	p->q_chunked = (lp->flags & F_CHUNKED) != 0;
	p->ws = strcmp(p->method, "GET") == 0 && (lp->flags & F_UPGRADE) &&
		(lp->flags & F_CONNECTION_UPGRADE) && up &&
		strcasecmp(up, "websocket") == 0;
	size_t len;
	char *head = proxy_head_request(p, &len);
	int rc = head ? send_str(&p->up, head, len) : -1;
	free(head);
	return rc < 0 ? -1 : 0;
}

static int q_body(llhttp_t *lp, const char *at, size_t n)
{
	struct proxy *p = of_parser(lp);
	return send_body(&p->up, p->q_chunked, at, n) < 0 ? -1 : 0;
}

static int q_complete(llhttp_t *lp)
{
	struct proxy *p = of_parser(lp);
	if (p->q_chunked && send_str(&p->up, "0\r\n\r\n", 5) < 0)
		return -1;
	p->q_done = true;
	return HPE_PAUSED; /* one request per connection */
}

static const llhttp_settings_t q_settings = {
	.on_header_field = q_field,
	.on_header_field_complete = q_end,
	.on_header_value = q_field,
	.on_header_value_complete = q_end,
	.on_headers_complete = q_headers_complete,
	.on_body = q_body,
	.on_message_complete = q_complete,
};

static void feed_request(struct proxy *p, const char *data, size_t len)
{
	llhttp_errno_t e = llhttp_execute(&p->qp, data, len);
	if (p->closing || e == HPE_OK)
		return;
	if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
		const char *pos = llhttp_get_error_pos(&p->qp);
		size_t used = pos && pos >= data && pos <= data + len
				      ? (size_t)(pos - data)
				      : len;
		if (p->ws) { /* bytes after the handshake are the tunnel's */
			p->cl.raw = true;
			send_str(&p->up, data + used, len - used);
		}
		return;
	}
	proxy_fail(p, 400, "bad_request", "the request body is malformed");
}

/* ---- the response: server -> client ---- */

static int r_status(llhttp_t *lp, const char *at, size_t n)
{
	struct proxy *p = of_parser(lp);
	size_t room = sizeof p->reason - 1 - p->reason_len;
	memcpy(p->reason + p->reason_len, at, n < room ? n : room);
	p->reason_len += n < room ? n : room;
	return 0;
}

static int r_field(llhttp_t *lp, const char *at, size_t n)
{
	return proxy_hdrs_add(&of_parser(lp)->rh, at, n);
}

static int r_end(llhttp_t *lp)
{
	return proxy_hdrs_end(&of_parser(lp)->rh);
}

static int r_headers_complete(llhttp_t *lp)
{
	struct proxy *p = of_parser(lp);
	int status = lp->status_code;
	bool interim = status >= 100 && status < 200 && status != 101;
	if (status == 101 && !p->ws)
		return -1; /* a switch nobody asked for */
	/* chunked again only where a body follows (not HEAD, 204, 304) and
	 * the client speaks HTTP/1.1 */
	p->r_chunked = !interim && status != 101 && status != 204 &&
		       status != 304 && (lp->flags & F_CHUNKED) &&
		       p->http_minor >= 1 && !p->head;
	size_t len;
	char *head = proxy_head_response(p, status, &len);
	int rc = head ? send_str(&p->cl, head, len) : -1;
	free(head);
	if (rc < 0)
		return -1;
	if (interim) { /* 100 Continue and the like: the answer follows */
		p->r_interim = true;
		proxy_hdrs_reset(&p->rh, PROXY_HDRS_MAX);
		p->reason_len = 0;
		return 0;
	}
	p->r_sent = true;
	return p->head ? 1 : 0; /* 1: no body follows */
}

static int r_body(llhttp_t *lp, const char *at, size_t n)
{
	struct proxy *p = of_parser(lp);
	return send_body(&p->cl, p->r_chunked, at, n) < 0 ? -1 : 0;
}

static int r_complete(llhttp_t *lp)
{
	struct proxy *p = of_parser(lp);
	if (p->r_interim) {
		p->r_interim = false;
		return 0;
	}
	if (p->r_chunked && send_str(&p->cl, "0\r\n\r\n", 5) < 0)
		return -1;
	p->r_done = true;
	return HPE_PAUSED;
}

static const llhttp_settings_t r_settings = {
	.on_status = r_status,
	.on_header_field = r_field,
	.on_header_field_complete = r_end,
	.on_header_value = r_field,
	.on_header_value_complete = r_end,
	.on_headers_complete = r_headers_complete,
	.on_body = r_body,
	.on_message_complete = r_complete,
};

static void feed_response(struct proxy *p, const char *data, size_t len)
{
	llhttp_errno_t e = llhttp_execute(&p->rp, data, len);
	if (p->closing || e == HPE_OK)
		return;
	if ((e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) && p->r_done) {
		if (p->rp.status_code == 101) { /* the tunnel starts */
			const char *pos = llhttp_get_error_pos(&p->rp);
			size_t used = pos && pos >= data && pos <= data + len
					      ? (size_t)(pos - data)
					      : len;
			p->up.raw = p->cl.raw = true;
			send_str(&p->cl, data + used, len - used);
			return;
		}
		finish(p);
		return;
	}
	proxy_fail(p, 502, "upstream_error",
		   "the server in the slot sent a malformed answer");
}

/* ---- read callbacks ---- */

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct proxy_side *s = h->data;
	(void)hint;
	*b = uv_buf_init(s->buf, PROXY_BUF);
}

/* EOF from one side. */
static void side_eof(struct proxy_side *s)
{
	struct proxy *p = s->p;
	s->eof = true;
	side_stop(s);
	if (p->lingering) {
		proxy_close(p);
	} else if (s->raw) {
		/* the tunnel ends: pass the close on once the rest is out */
		p->sreq.data = p;
		if (p->shutting || !s->other->open ||
		    uv_shutdown(&p->sreq, &s->other->h.s, tunnel_shut_cb) < 0)
			proxy_close(p);
		p->shutting = true;
	} else if (s == &p->cl) {
		if (!p->q_done) /* gone before its request was complete */
			proxy_close(p);
	} else if (!p->r_done) {
		(void)llhttp_finish(&p->rp); /* a close-delimited body ends */
		if (p->closing)
			return;
		if (p->r_done)
			finish(p);
		else
			proxy_fail(p, 502, "upstream_error",
				   "the server in the slot closed the "
				   "connection before its answer was complete");
	}
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct proxy_side *s = st->data;
	struct proxy *p = s->p;
	if (n == 0 || p->closing)
		return;
	if (n < 0) {
		if (n == UV_EOF)
			side_eof(s);
		else
			side_lost(s);
		return;
	}
	proxy_touch(p);
	size_t len = (size_t)n;
	if (p->lingering)
		return; /* dropped */
	if (s->raw)
		send_str(s->other, b->base, len);
	else if (s == &p->cl && !p->q_done)
		feed_request(p, b->base, len);
	else if (s == &p->up && !p->r_done)
		feed_response(p, b->base, len);
	/* else: after its message, a side has nothing more to say */
}

static void side_read(struct proxy_side *s)
{
	if (s->reading || s->held || s->eof || !s->open || s->p->closing)
		return;
	if (uv_read_start(&s->h.s, alloc_cb, read_cb) < 0) {
		proxy_close(s->p);
		return;
	}
	s->reading = true;
}

void proxy_io_start(struct proxy *p, const char *head, size_t head_len,
		    const char *rest, size_t rest_len)
{
	p->cl.buf = malloc(PROXY_BUF);
	p->up.buf = malloc(PROXY_BUF);
	if (!p->cl.buf || !p->up.buf) {
		proxy_close(p);
		return;
	}
	p->cl.h.s.data = &p->cl;
	p->up.h.s.data = &p->up;
	proxy_hdrs_reset(&p->qh, PROXY_HDRS_MAX + head_len);
	proxy_hdrs_reset(&p->rh, PROXY_HDRS_MAX);
	llhttp_init(&p->qp, HTTP_REQUEST, &q_settings);
	llhttp_init(&p->rp, HTTP_RESPONSE, &r_settings);
	p->qp.data = p->rp.data = p;
	proxy_touch(p);
	feed_request(p, head, head_len);
	if (rest_len && !p->closing) {
		if (p->cl.raw)
			send_str(&p->up, rest, rest_len);
		else if (!p->q_done)
			feed_request(p, rest, rest_len);
	}
	side_read(&p->cl);
	side_read(&p->up);
}
