/* SPDX-License-Identifier: Apache-2.0 */
/* stream.c - NDJSON answers read as they arrive (API 1.1: streamed exec,
 * process output with stream=true).
 *
 * A struct sbc_stream owns its connection's read side until the answer
 * ends: every byte received is parsed at once (llhttp) and each complete
 * line handed to the caller's callback, so poll() on sbc_stream_fd()
 * never misses buffered data. A stream closed before its end drops the
 * connection (the daemon then cancels a streamed call). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <llhttp.h>

#include "client/client_internal.h"
#include "common/base64.h"
#include "common/json_text.h"

/* An error answer's body kept for its message. */
#define MAX_ERROR_BODY ((size_t)64 << 10)

struct sbc_stream {
	struct sbc *c;
	llhttp_t parser;
	llhttp_settings_t settings;
	int status;
	bool headers_done, complete, got, peer_closed;
	sbc_event_fn fn;
	void *ud;
	char *buf; /* received body bytes not yet a whole line */
	size_t len, cap;
	int cb_rc;		 /* the callback's nonzero answer */
	struct sbc_error cb_err; /* a line that was not an event */
	bool bad_line, too_long, oom;
};

static struct sbc_stream *stream_of(llhttp_t *p)
{
	return p->data;
}

static int on_headers_complete(llhttp_t *p)
{
	struct sbc_stream *s = stream_of(p);
	s->status = llhttp_get_status_code(p);
	s->headers_done = true;
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	stream_of(p)->complete = true;
	return HPE_PAUSED;
}

/* Hand one line to the callback: base64 data decoded, the event parsed. */
static int dispatch_line(struct sbc_stream *s, const char *line, size_t n)
{
	while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
		n--;
	if (!n)
		return 0;
	json_error_t je;
	json_t *doc = json_loadb(line, n, 0, &je);
	const char *type = json_string_value(json_object_get(doc, "type"));
	if (!json_is_object(doc) || !type) {
		json_decref(doc);
		s->bad_line = true;
		sbc_fail(&s->cb_err, s->status, "protocol",
			 "a streamed line is not an event");
		return -1;
	}
	struct sbc_event ev = {.type = type, .doc = doc, .data = ""};
	json_t *data = json_object_get(doc, "data");
	const char *enc = json_string_value(json_object_get(doc, "encoding"));
	char *decoded = NULL;
	if (json_is_string(data)) {
		ev.data = json_string_value(data);
		ev.len = json_string_length(data);
		if (enc && strcmp(enc, "base64") == 0) {
			decoded = malloc(ev.len / 4 * 3 + 1);
			long got =
				decoded ? b64_decode(ev.data, ev.len, decoded)
					: -1;
			if (got < 0) {
				free(decoded);
				json_decref(doc);
				s->bad_line = true;
				sbc_fail(&s->cb_err, s->status, "protocol",
					 "a streamed event has bad base64");
				return -1;
			}
			decoded[got] = '\0';
			ev.data = decoded;
			ev.len = (size_t)got;
		}
	}
	int rc = s->fn ? s->fn(&ev, s->ud) : 0;
	free(decoded);
	json_decref(doc);
	if (rc) {
		s->cb_rc = rc;
		return -1;
	}
	return 0;
}

/* Append body bytes; hand over each complete line at once. */
static int on_body(llhttp_t *p, const char *at, size_t n)
{
	struct sbc_stream *s = stream_of(p);
	bool ok2xx = s->status >= 200 && s->status < 300;
	size_t limit = ok2xx ? s->c->max_response : MAX_ERROR_BODY;
	if (!ok2xx && s->len + n > limit)
		n = limit - s->len; /* an error body: its head is enough */
	size_t need = s->len + n + 1;
	if (need > limit + 1) {
		s->too_long = true;
		return -1;
	}
	if (need > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < need)
			cap *= 2;
		if (cap > limit + 1)
			cap = limit + 1;
		char *b = realloc(s->buf, cap);
		if (!b) {
			s->oom = true;
			return -1;
		}
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, at, n);
	s->len += n;
	s->buf[s->len] = '\0';
	if (!ok2xx)
		return 0;
	size_t start = 0;
	for (;;) {
		char *nl = memchr(s->buf + start, '\n', s->len - start);
		if (!nl)
			break;
		size_t end = (size_t)(nl - s->buf);
		if (dispatch_line(s, s->buf + start, end - start) < 0) {
			memmove(s->buf, nl + 1, s->len - end - 1);
			s->len -= end + 1;
			return -1;
		}
		start = end + 1;
	}
	memmove(s->buf, s->buf + start, s->len - start);
	s->len -= start;
	return 0;
}

/* Why parsing stopped, as err. */
static int parse_failure(struct sbc_stream *s, llhttp_errno_t e,
			 struct sbc_error *err)
{
	if (s->cb_rc)
		return sbc_fail(err, s->status, "stopped",
				"the event callback stopped the stream (%d)",
				s->cb_rc);
	if (s->bad_line) {
		if (err)
			*err = s->cb_err;
		return -1;
	}
	if (s->too_long)
		return sbc_fail(err, 0, "too_large",
				"a streamed line is longer than %zu bytes",
				s->c->max_response);
	if (s->oom)
		return sbc_fail(err, 0, "out_of_memory", "out of memory");
	return sbc_fail(err, 0, "protocol", "bad answer: %s",
			llhttp_errno_name(e));
}

/* One recv's worth: 0, or -1 with err. */
static int stream_recv(struct sbc_stream *s, struct sbc_error *err)
{
	struct sbc *c = s->c;
	char buf[65536];
	for (;;) {
		ssize_t n =
			sbc_recv_some(c, buf, sizeof buf, &s->peer_closed, err);
		if (n < 0)
			return -1;
		if (n == 0) {
			(void)llhttp_finish(&s->parser);
			if (s->complete)
				return 0;
			s->peer_closed = true;
			return sbc_fail(err, 0, "io",
					"slotboxd closed the connection "
					"before the answer ended");
		}
		s->got = true;
		llhttp_errno_t e = llhttp_execute(&s->parser, buf, (size_t)n);
		if (e == HPE_OK || e == HPE_PAUSED)
			return 0;
		return parse_failure(s, e, err);
	}
}

static void stream_reset(struct sbc_stream *s)
{
	llhttp_settings_init(&s->settings);
	s->settings.on_headers_complete = on_headers_complete;
	s->settings.on_body = on_body;
	s->settings.on_message_complete = on_message_complete;
	llhttp_init(&s->parser, HTTP_RESPONSE, &s->settings);
	s->parser.data = s;
	s->status = 0;
	s->headers_done = s->complete = s->got = s->peer_closed = false;
	s->len = 0;
}

/* Send and read until the answer's head is in; a reused connection that
 * the daemon had closed while idle is tried once more on a fresh one. */
static int stream_start(struct sbc_stream *s, const char *method,
			const char *path, const char *body,
			struct sbc_error *err)
{
	struct sbc *c = s->c;
	for (int attempt = 0;; attempt++) {
		stream_reset(s);
		bool reused = c->fd >= 0 && c->used;
		if (c->fd < 0 && sbc_connect(c, err) < 0)
			return -1;
		c->used = true;
		int rc = sbc_send_request(c, method, path, body,
					  body ? strlen(body) : 0,
					  "application/json");
		if (rc < 0) {
			s->peer_closed = errno == EPIPE || errno == ECONNRESET;
			sbc_fail(err, 0, "io", "sending to slotboxd: %s",
				 strerror(errno));
		}
		while (rc == 0 && !s->headers_done && !s->complete)
			rc = stream_recv(s, err);
		if (rc == 0)
			return 0;
		sbc_drop_connection(c);
		if (sbc_cancelled(c))
			return sbc_fail(err, 0, "interrupted", "interrupted");
		if (!reused || s->got || attempt > 0 || !s->peer_closed)
			return -1;
	}
}

/* A non-2xx answer: read it whole, fail with its API error. */
static int stream_error_answer(struct sbc_stream *s, struct sbc_error *err)
{
	while (!s->complete)
		if (stream_recv(s, err) < 0)
			return -1;
	struct sbc_response resp = {
		.status = s->status, .body = s->buf, .len = s->len};
	return sbc_fail_from_answer(&resp, err);
}

int sbc_stream_open(struct sbc *c, const char *method, const char *path,
		    json_t *body, sbc_event_fn fn, void *ud,
		    struct sbc_stream **out, struct sbc_error *err)
{
	*out = NULL;
	if (c->streaming)
		return sbc_fail(err, 0, "bad_argument",
				"an open stream holds this connection");
	struct sbc_stream *s = calloc(1, sizeof *s);
	char *text = body ? sb_json_dumps(body, JSON_COMPACT) : NULL;
	if (!s || (body && !text)) {
		free(s);
		free(text);
		return sbc_fail(err, 0, "out_of_memory", "out of memory");
	}
	s->c = c;
	s->fn = fn;
	s->ud = ud;
	int rc = stream_start(s, method, path, text, err);
	free(text);
	c->streaming = rc == 0;
	if (rc == 0 && (s->status < 200 || s->status >= 300)) {
		c->streaming = false; /* read whole below */
		rc = stream_error_answer(s, err);
	}
	if (rc < 0) {
		sbc_stream_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

int sbc_stream_fd(const struct sbc_stream *s)
{
	return s->c->fd;
}

bool sbc_stream_ended(const struct sbc_stream *s)
{
	return s->complete;
}

int sbc_stream_read(struct sbc_stream *s, struct sbc_error *err)
{
	if (s->complete)
		return 1;
	if (s->c->fd < 0)
		return sbc_fail(err, 0, "io",
				"the stream's connection is "
				"closed");
	if (stream_recv(s, err) < 0) {
		sbc_drop_connection(s->c);
		return -1;
	}
	if (!s->complete)
		return 0;
	if (s->len) /* a last line without its newline */
		(void)dispatch_line(s, s->buf, s->len);
	s->len = 0;
	s->c->streaming = false;
	s->c->keep_alive = llhttp_should_keep_alive(&s->parser);
	if (!s->c->keep_alive)
		sbc_drop_connection(s->c);
	return 1;
}

int sbc_stream_run(struct sbc_stream *s, struct sbc_error *err)
{
	int rc;
	while ((rc = sbc_stream_read(s, err)) == 0)
		;
	return rc < 0 ? -1 : 0;
}

void sbc_stream_close(struct sbc_stream *s)
{
	if (!s)
		return;
	if (!s->complete) { /* it still holds the connection */
		sbc_drop_connection(s->c);
		s->c->streaming = false;
	}
	free(s->buf);
	free(s);
}
