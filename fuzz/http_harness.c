/* SPDX-License-Identifier: Apache-2.0 */
/* http_harness.c - see http_harness.h. */
#include "http_harness.h"

#include <errno.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"
#include "http/http_internal.h"

/* A connection the server has not closed after this long is a hang: every
 * exchange half-closes, and no limit of the server is longer than that
 * without a client that keeps sending (the linger is 2 s). */
#define HANG_S 10.0

static uv_loop_t loop;
static struct http_server *srv;
static char sock_path[4200];
static int tcp_port;

uv_loop_t *harness_loop(void)
{
	return &loop;
}

void harness_init(http_handler_fn handler, void *ud,
		  const struct http_server_opts *opts)
{
	struct http_server_opts o;
	struct sb_err err;
	http_server_opts_default(&o);
	if (opts) {
		o = *opts;
	} else {
		o.max_body_bytes = 4096;
		o.max_header_bytes = 2048;
	}
	o.token = HARNESS_TOKEN;
	FUZZ_SETUP(uv_loop_init(&loop) == 0);
	FUZZ_SETUP(http_server_new(&loop, &o, handler, ud, &srv, &err) == 0);
	snprintf(sock_path, sizeof sock_path, "%s/http.sock",
		 fuzz_scratch("http"));
	FUZZ_SETUP(http_server_listen_unix(srv, sock_path, 0600, &err) == 0);
	FUZZ_SETUP(http_server_listen_tcp(srv, "127.0.0.1", 0, &err) == 0);
	tcp_port = http_server_tcp_port(srv);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int client_connect(bool tcp)
{
	int fd;
	if (tcp) {
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons((uint16_t)tcp_port),
					.sin_addr.s_addr =
						htonl(INADDR_LOOPBACK)};
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    0);
		FUZZ_SETUP(fd >= 0);
		FUZZ_SETUP(connect(fd, (struct sockaddr *)&a, sizeof a) == 0 ||
			   errno == EINPROGRESS);
		return fd;
	}
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	FUZZ_SETUP(fd >= 0);
	FUZZ_SETUP(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
	return fd;
}

/* Wait for the client socket or the loop, as long as the loop's next timer
 * allows (capped, so the deadline is checked). */
static void wait_some(int fd, short events)
{
	struct pollfd p[2] = {{.fd = fd, .events = events},
			      {.fd = uv_backend_fd(&loop), .events = POLLIN}};
	int t = uv_backend_timeout(&loop);
	if (t < 0 || t > 50)
		t = 50;
	if (poll(p, fd >= 0 ? 2 : 1, t) < 0)
		FUZZ_SETUP(errno == EINTR);
}

static int parse_answers(const char *buf, size_t len, bool whole,
			 void (*cb)(const struct harness_answer *a, void *ud),
			 void *ud);

void harness_exchange(const void *data, size_t len, bool tcp, int want,
		      bool (*busy)(void), char **out, size_t *outlen)
{
	int fd = client_connect(tcp);
	size_t sent = 0, got = 0, cap = 4096;
	bool wr_closed = false, eof = false;
	char *buf = malloc(cap);
	double deadline = now_s() + HANG_S;
	FUZZ_SETUP(buf != NULL);
	while (!eof) {
		FUZZ_CHECK(now_s() < deadline,
			   "the server kept the connection open for %.0f s "
			   "after the client half-closed",
			   HANG_S);
		uv_run(&loop, UV_RUN_NOWAIT);
		if (!wr_closed && sent < len) {
			ssize_t n = send(fd, (const char *)data + sent,
					 len - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (errno != EAGAIN && errno != EINTR &&
				 errno != ENOTCONN)
				wr_closed = true; /* the server closed */
		}
		if (!wr_closed && sent == len && want == 0 &&
		    (shutdown(fd, SHUT_WR) == 0 || errno != ENOTCONN))
			wr_closed = true;
		for (;;) {
			if (cap - got < 2048) {
				char *nb = realloc(buf, cap * 2);
				FUZZ_SETUP(nb != NULL);
				buf = nb;
				cap *= 2;
			}
			ssize_t n = recv(fd, buf + got, cap - got - 1, 0);
			if (n > 0) {
				got += (size_t)n;
				int k = want ? parse_answers(buf, got, false,
							     NULL, NULL)
					     : 0;
				if (k < 0 || (want && k >= want))
					eof = true; /* all there, or garbage */
				continue;
			}
			if (n == 0 || (errno != EAGAIN && errno != EINTR))
				eof = true; /* closed (or reset) */
			break;
		}
		if (!eof)
			wait_some(fd,
				  (short)(POLLIN | (wr_closed ? 0 : POLLOUT)));
	}
	close(fd);
	/* The server sees our close; its connection (and the handler's
	 * work, when busy says so) must end too. */
	while (srv->n_conns > 0 || (busy && busy())) {
		FUZZ_CHECK(now_s() < deadline,
			   "the server did not let go of a closed connection");
		uv_run(&loop, UV_RUN_NOWAIT);
		if (srv->n_conns > 0 || (busy && busy()))
			wait_some(-1, 0);
	}
	buf[got] = '\0';
	if (getenv("FUZZ_DEBUG")) /* what the server answered, for people */
		fprintf(stderr, "--- %zu bytes answered:\n%s\n---\n", got, buf);
	*out = buf;
	*outlen = got;
}

/* ---- reading the answers ---- */

struct answers {
	void (*cb)(const struct harness_answer *a, void *ud);
	void *ud;
	char *body;
	size_t body_len;
	int n;
};

static int on_body(llhttp_t *p, const char *at, size_t n)
{
	struct answers *s = p->data;
	char *nb = realloc(s->body, s->body_len + n + 1);
	FUZZ_SETUP(nb != NULL);
	memcpy(nb + s->body_len, at, n);
	s->body = nb;
	s->body_len += n;
	s->body[s->body_len] = '\0';
	return 0;
}

static int on_complete(llhttp_t *p)
{
	struct answers *s = p->data;
	struct harness_answer a = {.status = p->status_code,
				   .body = s->body ? s->body : "",
				   .body_len = s->body_len};
	s->n++;
	if (s->cb)
		s->cb(&a, s->ud);
	free(s->body);
	s->body = NULL;
	s->body_len = 0;
	return 0;
}

/* The complete answers in buf (whole: buf is all there will be, so a
 * body delimited by the close ends with it), or -1 if malformed. */
static int parse_answers(const char *buf, size_t len, bool whole,
			 void (*cb)(const struct harness_answer *a, void *ud),
			 void *ud)
{
	static llhttp_settings_t settings;
	llhttp_t p;
	struct answers s = {.cb = cb, .ud = ud};
	llhttp_settings_init(&settings);
	settings.on_body = on_body;
	settings.on_message_complete = on_complete;
	llhttp_init(&p, HTTP_RESPONSE, &settings);
	p.data = &s;
	llhttp_errno_t e = llhttp_execute(&p, buf, len);
	if (e == HPE_OK && whole)
		e = llhttp_finish(&p);
	free(s.body);
	return e == HPE_OK ? s.n : -1;
}

int harness_answers(const char *buf, size_t len,
		    void (*cb)(const struct harness_answer *a, void *ud),
		    void *ud)
{
	return parse_answers(buf, len, true, cb, ud);
}
