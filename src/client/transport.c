/* SPDX-License-Identifier: Apache-2.0 */
/* transport.c - libslotbox's one keep-alive HTTP/1.1 connection.
 *
 * Responses are parsed with llhttp (the parser the daemon uses), so
 * Content-Length, chunked and read-until-close bodies all work. A request
 * on a reused connection that the daemon closed while idle is sent again
 * once on a fresh one, but only when the daemon closed or reset it before
 * a byte of the answer came: then it never saw the request. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <llhttp.h>

#include "client/client_internal.h"

#define DEFAULT_MAX_RESPONSE ((size_t)256 << 20)

int sbc_fail(struct sbc_error *err, int status, const char *code,
	     const char *fmt, ...)
{
	if (!err)
		return -1;
	err->http_status = status;
	snprintf(err->code, sizeof err->code, "%s", code);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return -1;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

struct sbc *sbc_new(const struct sbc_options *opt, struct sbc_error *err)
{
	struct sbc_options none = {0};
	if (!opt)
		opt = &none;
	struct sbc *c = calloc(1, sizeof *c);
	if (!c) {
		sbc_fail(err, 0, "out_of_memory", "out of memory");
		return NULL;
	}
	c->fd = -1;
	c->io_timeout_s = opt->io_timeout_s;
	c->connect_timeout_s = opt->connect_timeout_s;
	c->cancel = opt->cancel;
	c->max_response = opt->max_response_bytes ? opt->max_response_bytes
						  : DEFAULT_MAX_RESPONSE;
	if (opt->socket_path && opt->url) {
		sbc_fail(err, 0, "bad_argument",
			 "give a socket path or a URL, not both");
		goto fail;
	}
	if (sbc_endpoint_parse(c, opt, err) < 0)
		goto fail;
	c->token = dup_or_null(opt->token);
	if (opt->token && !c->token) {
		sbc_fail(err, 0, "out_of_memory", "out of memory");
		goto fail;
	}
	return c;
fail:
	sbc_close(c);
	return NULL;
}

struct sbc *sbc_open(const struct sbc_options *opt, struct sbc_error *err)
{
	struct sbc *c = sbc_new(opt, err);
	if (c && sbc_connect(c, err) < 0) {
		sbc_close(c);
		return NULL;
	}
	return c;
}

void sbc_close(struct sbc *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->host);
	free(c->port);
	free(c->token);
	free(c);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool sbc_cancelled(const struct sbc *c)
{
	return c->cancel && *c->cancel;
}

/* Wait until fd is ready for events; -1 with ETIMEDOUT when the idle
 * timeout passes first. */
int sbc_wait_ready(const struct sbc *c, short events)
{
	if (c->io_timeout_s <= 0)
		return 0;
	double deadline = now_s() + c->io_timeout_s;
	for (;;) {
		double left = deadline - now_s();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		struct pollfd p = {.fd = c->fd, .events = events};
		int r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r > 0)
			return 0;
		if (r < 0 && (errno != EINTR || sbc_cancelled(c)))
			return -1;
	}
}

ssize_t sbc_recv_some(struct sbc *c, char *buf, size_t len, bool *reset,
		      struct sbc_error *err)
{
	for (;;) {
		if (sbc_wait_ready(c, POLLIN) < 0)
			return errno == EINTR
				       ? sbc_fail(err, 0, "interrupted",
						  "interrupted")
				       : sbc_fail(err, 0, "io",
						  "no answer from slotboxd: %s",
						  strerror(errno));
		ssize_t n = recv(c->fd, buf, len, 0);
		if (n < 0 && errno == EINTR && !sbc_cancelled(c))
			continue;
		if (n < 0 && errno == EINTR)
			return sbc_fail(err, 0, "interrupted", "interrupted");
		if (n < 0) {
			*reset = errno == ECONNRESET;
			return sbc_fail(err, 0, "io",
					"reading from slotboxd: %s",
					strerror(errno));
		}
		return n;
	}
}

/* Send every byte of iov[0..n): one sendmsg for head and body, so the
 * daemon wakes once for the whole request. */
static int send_all(struct sbc *c, struct iovec *iov, int n)
{
	while (n > 0) {
		if (sbc_wait_ready(c, POLLOUT) < 0)
			return -1;
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR && !sbc_cancelled(c))
				continue;
			return -1;
		}
		size_t done = (size_t)w;
		while (n > 0 && done >= iov->iov_len) {
			done -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + done;
			iov->iov_len -= done;
		}
	}
	return 0;
}

int sbc_send_request(struct sbc *c, const char *method, const char *path,
		     const void *body, size_t len, const char *ctype)
{
	char head[4096];
	int n = snprintf(head, sizeof head,
			 "%s %s HTTP/1.1\r\nHost: slotbox\r\n"
			 "User-Agent: libslotbox/" SLOTBOX_VERSION "\r\n"
			 "Content-Length: %zu\r\n",
			 method, path, body ? len : 0);
	if (n < 0 || (size_t)n >= sizeof head) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (body && ctype)
		n += snprintf(head + n, sizeof head - (size_t)n,
			      "Content-Type: %s\r\n", ctype);
	if (c->token && (size_t)n < sizeof head)
		n += snprintf(head + n, sizeof head - (size_t)n,
			      "Authorization: Bearer %s\r\n", c->token);
	if ((size_t)n + 3 > sizeof head) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(head + n, "\r\n", 3);
	n += 2;
	struct iovec iov[2] = {{head, (size_t)n}, {(void *)body, len}};
	return send_all(c, iov, body && len ? 2 : 1);
}

/* ---- the answer ---------------------------------------------------------- */

struct reader {
	struct sbc *c;
	struct sbc_response *resp;
	int sink_fd; /* >= 0: a 2xx body goes here instead of memory */
	int sink_errno;
	bool in_content_type;
	bool too_large;
	bool complete;
	/* the daemon closed or reset the connection (not a timeout) */
	bool peer_closed;
	size_t cap;
};

static struct reader *reader_of(llhttp_t *p)
{
	return p->data;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
	static const char name[] = "content-type";
	reader_of(p)->in_content_type =
		n == sizeof name - 1 && strncasecmp(at, name, n) == 0;
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
	struct reader *r = reader_of(p);
	if (!r->in_content_type)
		return 0;
	size_t have = strlen(r->resp->content_type);
	size_t room = sizeof r->resp->content_type - 1 - have;
	memcpy(r->resp->content_type + have, at, n < room ? n : room);
	r->resp->content_type[have + (n < room ? n : room)] = '\0';
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	reader_of(p)->resp->status = llhttp_get_status_code(p);
	return 0;
}

static bool streaming(const struct reader *r)
{
	return r->sink_fd >= 0 && r->resp->status >= 200 &&
	       r->resp->status < 300;
}

static int sink_write(struct reader *r, const char *at, size_t n)
{
	while (n > 0) {
		ssize_t w = write(r->sink_fd, at, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r->sink_errno = errno;
			return -1;
		}
		at += w;
		n -= (size_t)w;
	}
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
	struct reader *r = reader_of(p);
	if (streaming(r))
		return sink_write(r, at, n) < 0 ? -1 : 0;
	struct sbc_response *resp = r->resp;
	if (n > r->c->max_response - resp->len) {
		r->too_large = true;
		return -1;
	}
	if (resp->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < resp->len + n + 1)
			cap *= 2;
		char *b = realloc(resp->body, cap);
		if (!b)
			return -1;
		resp->body = b;
		r->cap = cap;
	}
	memcpy(resp->body + resp->len, at, n);
	resp->len += n;
	resp->body[resp->len] = '\0';
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	reader_of(p)->complete = true;
	return HPE_PAUSED;
}

/* Read until the answer is complete. *got says whether any byte came. */
static int read_response(struct sbc *c, struct reader *r, bool *got,
			 struct sbc_error *err)
{
	llhttp_settings_t s;
	llhttp_settings_init(&s);
	s.on_header_field = on_header_field;
	s.on_header_value = on_header_value;
	s.on_headers_complete = on_headers_complete;
	s.on_body = on_body;
	s.on_message_complete = on_message_complete;
	llhttp_t p;
	llhttp_init(&p, HTTP_RESPONSE, &s);
	p.data = r;
	char buf[65536];
	while (!r->complete) {
		ssize_t n =
			sbc_recv_some(c, buf, sizeof buf, &r->peer_closed, err);
		if (n < 0)
			return -1;
		if (n == 0) {
			(void)llhttp_finish(&p); /* may complete it */
			if (r->complete)
				break;
			r->peer_closed = true;
			return sbc_fail(err, 0, "io",
					"slotboxd closed the connection "
					"before answering");
		}
		*got = true;
		llhttp_errno_t e = llhttp_execute(&p, buf, (size_t)n);
		if (e == HPE_PAUSED)
			break;
		if (e == HPE_OK)
			continue;
		if (r->too_large)
			return sbc_fail(err, 0, "too_large",
					"answer larger than %zu bytes",
					c->max_response);
		if (r->sink_errno)
			return sbc_fail(err, 0, "io", "writing output: %s",
					strerror(r->sink_errno));
		return sbc_fail(err, 0, "protocol", "bad answer: %s",
				llhttp_get_error_reason(&p));
	}
	c->keep_alive = llhttp_should_keep_alive(&p);
	return 0;
}

void sbc_drop_connection(struct sbc *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int exchange(struct sbc *c, const char *method, const char *path,
		    const void *body, size_t len, const char *ctype,
		    struct reader *r, struct sbc_error *err)
{
	if (c->streaming)
		return sbc_fail(err, 0, "bad_argument",
				"an open stream holds this connection: use "
				"another struct sbc meanwhile");
	for (int attempt = 0;; attempt++) {
		bool reused = c->fd >= 0 && c->used;
		if (c->fd < 0 && sbc_connect(c, err) < 0)
			return -1;
		c->used = true;
		bool got = false;
		int rc = sbc_send_request(c, method, path, body, len, ctype);
		if (rc < 0) {
			r->peer_closed = errno == EPIPE || errno == ECONNRESET;
			sbc_fail(err, 0, "io", "sending to slotboxd: %s",
				 strerror(errno));
		} else
			rc = read_response(c, r, &got, err);
		if (rc == 0) {
			if (!c->keep_alive)
				sbc_drop_connection(c);
			return 0;
		}
		sbc_drop_connection(c);
		if (sbc_cancelled(c))
			return sbc_fail(err, 0, "interrupted", "interrupted");
		/* Only a reused connection that the daemon closed is worth a
		 * second try: it had timed out while idle and never saw the
		 * request. A timeout proves nothing of the kind (the request
		 * may be running: sending it again could run it twice). */
		if (!reused || got || attempt > 0 || r->resp->len ||
		    !r->peer_closed)
			return -1;
		r->peer_closed = false;
		c->used = false;
	}
}

void sbc_response_free(struct sbc_response *r)
{
	if (!r)
		return;
	free(r->body);
	memset(r, 0, sizeof *r);
}

int sbc_request(struct sbc *c, const char *method, const char *path,
		const void *body, size_t len, const char *content_type,
		struct sbc_response *resp, struct sbc_error *err)
{
	memset(resp, 0, sizeof *resp);
	struct reader r = {.c = c, .resp = resp, .sink_fd = -1};
	if (exchange(c, method, path, body, len, content_type, &r, err) < 0) {
		sbc_response_free(resp);
		return -1;
	}
	if (!resp->body) {
		resp->body = calloc(1, 1);
		if (!resp->body)
			return sbc_fail(err, 0, "out_of_memory",
					"out of memory");
	}
	return 0;
}

int sbc_request_to_fd(struct sbc *c, const char *method, const char *path,
		      int fd, struct sbc_error *err)
{
	struct sbc_response resp = {0};
	struct reader r = {.c = c, .resp = &resp, .sink_fd = fd};
	int rc = exchange(c, method, path, NULL, 0, NULL, &r, err);
	if (rc == 0 && (resp.status < 200 || resp.status >= 300))
		rc = sbc_fail_from_answer(&resp, err);
	sbc_response_free(&resp);
	return rc;
}
