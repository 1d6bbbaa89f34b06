/* SPDX-License-Identifier: Apache-2.0 */
/* http.c - the HTTP/1.1 server: options, listeners (unix socket, TCP
 * with a bearer token), accepting, and closing everything. Connections
 * live in http_conn.c, answers in http_respond.c. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "http/http_internal.h"

void http_server_opts_default(struct http_server_opts *opts)
{
	opts->max_body_bytes = (size_t)64 << 20;
	opts->max_header_bytes = (size_t)64 << 10;
	opts->header_timeout_s = 10;
	opts->idle_timeout_s = 300;
	opts->max_connections = 16384;
	opts->token = NULL;
	opts->login_path = NULL;
	opts->public_path = NULL;
}

/* ---- accepting and closing ---- */

static void retry_deferred(struct http_server *srv)
{
	if (srv->udefer &&
	    http_conn_accept(srv, (uv_stream_t *)&srv->ulisten, false))
		srv->udefer = false;
	if (srv->tdefer &&
	    http_conn_accept(srv, (uv_stream_t *)&srv->tlisten, true))
		srv->tdefer = false;
}

/* Close up to n of the connections waiting their turn; how many. */
static unsigned close_queued(struct http_server *srv, unsigned n)
{
	unsigned done = 0;
	while (srv->close_head && done < n) {
		struct http_conn *c = srv->close_head;
		srv->close_head = c->close_next;
		if (!srv->close_head)
			srv->close_tail = NULL;
		done++;
		http_conn_close_handles(c);
	}
	return done;
}

/* The loop took a turn since the burst: serve what waited, and close the
 * next closes' worth of connections let go of. */
static void resume_cb(uv_idle_t *h)
{
	struct http_server *srv = h->data;
	srv->burst = 0;
	srv->closes = close_queued(srv, HTTP_CLOSE_BURST);
	if (!srv->close_head)
		uv_idle_stop(h);
	if (!srv->closing)
		retry_deferred(srv);
}

void http_server_let_go(struct http_server *srv, struct http_conn *c)
{
	/* While the idle handle is active the loop's turns do not block. */
	if (!srv->closing &&
	    (srv->close_head || srv->closes >= HTTP_CLOSE_BURST) &&
	    uv_idle_start(&srv->resume, resume_cb) == 0) {
		c->close_next = NULL;
		if (srv->close_tail)
			srv->close_tail->close_next = c;
		else
			srv->close_head = c;
		srv->close_tail = c;
		return;
	}
	srv->closes++;
	http_conn_close_handles(c);
}

static void on_connection(uv_stream_t *l, int status)
{
	struct http_server *srv = l->data;
	if (status < 0 || srv->closing)
		return; /* libuv keeps listening (EMFILE is handled there) */
	bool tcp = l == (uv_stream_t *)&srv->tlisten;
	/* Not accepting leaves the connection in the listener, which libuv
	 * stops polling until uv_accept: the idle handle resumes next turn
	 * (and, while active, keeps that turn from blocking). */
	bool later = srv->burst >= HTTP_ACCEPT_BURST &&
		     uv_idle_start(&srv->resume, resume_cb) == 0;
	if (!later) {
		srv->burst++;
		if (http_conn_accept(srv, l, tcp))
			return;
	}
	if (tcp)
		srv->tdefer = true;
	else
		srv->udefer = true;
}

static void server_free(struct http_server *srv)
{
	if (srv->token)
		explicit_bzero(srv->token, srv->token_len);
	free(srv->token);
	free(srv->login_path);
	free(srv->public_path);
	free(srv);
}

static void server_maybe_done(struct http_server *srv)
{
	if (!srv->closing || srv->handles > 0)
		return;
	void (*done)(void *) = srv->done;
	void *ud = srv->done_ud;
	server_free(srv);
	if (done)
		done(ud);
}

void http_server_handle_gone(struct http_server *srv)
{
	srv->handles--;
	if (srv->closing) {
		server_maybe_done(srv);
		return;
	}
	/* memory was freed: take a connection left waiting for it */
	retry_deferred(srv);
}

static void handle_closed(uv_handle_t *h)
{
	http_server_handle_gone(h->data);
}

/* ---- server ---- */

int http_server_new(uv_loop_t *loop, const struct http_server_opts *opts,
		    http_handler_fn handler, void *ud, struct http_server **out,
		    struct sb_err *err)
{
	if (!loop || !opts || !handler || !out)
		return sb_err_set(err, EINVAL, "http server: bad arguments");
	if (opts->token && !*opts->token)
		return sb_err_set(err, EINVAL, "http server: empty token");
	if (opts->login_path &&
	    (opts->login_path[0] != '/' || strpbrk(opts->login_path, "?\r\n")))
		return sb_err_set(err, EINVAL, "http server: bad login path");
	if (opts->public_path && (opts->public_path[0] != '/' ||
				  strpbrk(opts->public_path, "?\r\n")))
		return sb_err_set(err, EINVAL, "http server: bad public path");
	struct http_server *srv = calloc(1, sizeof *srv);
	if (!srv)
		return sb_err_set(err, ENOMEM, "http server: out of memory");
	srv->loop = loop;
	srv->opts = *opts;
	srv->opts.token = NULL; /* only our copies are kept */
	srv->opts.login_path = NULL;
	srv->opts.public_path = NULL;
	srv->handler = handler;
	srv->ud = ud;
	if ((opts->token && !(srv->token = strdup(opts->token))) ||
	    (opts->login_path &&
	     !(srv->login_path = strdup(opts->login_path))) ||
	    (opts->public_path &&
	     !(srv->public_path = strdup(opts->public_path)))) {
		server_free(srv);
		return sb_err_set(err, ENOMEM, "http server: out of memory");
	}
	srv->token_len = srv->token ? strlen(srv->token) : 0;
	if (http_auth_setup(srv, err) < 0) {
		server_free(srv);
		return -1;
	}
	/* Without randomness the ids are still unique within this run. */
	if (sb_random_hex(srv->rid_prefix, 4) < 0)
		snprintf(srv->rid_prefix, sizeof srv->rid_prefix, "%08x",
			 (unsigned)getpid());
	int r = uv_idle_init(loop, &srv->resume);
	if (r < 0) {
		server_free(srv);
		return sb_err_set(err, -r, "http server: %s", uv_strerror(r));
	}
	srv->resume.data = srv;
	r = uv_timer_init(loop, &srv->sentinel);
	if (r < 0) {
		/* the server is freed once the loop has let go of resume */
		srv->closing = true;
		srv->handles = 1;
		uv_close((uv_handle_t *)&srv->resume, handle_closed);
		return sb_err_set(err, -r, "http server: %s", uv_strerror(r));
	}
	srv->sentinel.data = srv;
	srv->handles = 2;
	*out = srv;
	return 0;
}

/* Replace a socket file left by a dead server; refuse to take the path
 * of a live one or of anything that is not a socket. */
static int unix_clear_stale(const char *path, struct sb_err *err)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return sb_err_sys(err, "stat %s", path);
	}
	if (!S_ISSOCK(st.st_mode))
		return sb_err_set(err, EEXIST, "%s exists and is not a socket",
				  path);
	_cleanup_fd_ int fd =
		socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return sb_err_sys(err, "socket");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ||
	    errno == EAGAIN || errno == EINPROGRESS)
		return sb_err_set(err, EADDRINUSE,
				  "another server listens on %s", path);
	/* only a refused connection proves nobody listens there */
	if (errno != ECONNREFUSED && errno != ENOENT)
		return sb_err_sys(err, "cannot tell whether %s is in use",
				  path);
	if (unlink(path) < 0 && errno != ENOENT)
		return sb_err_sys(err, "unlink %s", path);
	return 0;
}

int http_server_listen_unix(struct http_server *srv, const char *path, int mode,
			    struct sb_err *err)
{
	struct sockaddr_un sa;
	if (!srv || !path || !*path || srv->closing)
		return sb_err_set(err, EINVAL, "listen: bad arguments");
	if (strlen(path) >= sizeof sa.sun_path)
		return sb_err_set(err, ENAMETOOLONG,
				  "socket path %s is too long (max %zu bytes)",
				  path, sizeof sa.sun_path - 1);
	if (srv->ulisten_used)
		return sb_err_set(err, EALREADY,
				  "already listening on a unix socket");
	if (unix_clear_stale(path, err) < 0)
		return -1;
	int r = uv_pipe_init(srv->loop, &srv->ulisten, 0);
	if (r < 0)
		return sb_err_set(err, -r, "listen on %s: %s", path,
				  uv_strerror(r));
	srv->ulisten_used = true;
	srv->ulisten.data = srv;
	srv->handles++;
	r = uv_pipe_bind(&srv->ulisten, path);
	if (r < 0) {
		uv_close((uv_handle_t *)&srv->ulisten, handle_closed);
		return sb_err_set(err, -r, "bind %s: %s", path, uv_strerror(r));
	}
	/* before listen(): nobody can connect while the mode is loose */
	if (chmod(path, (mode_t)mode & 07777) < 0) {
		sb_err_sys(err, "chmod %s", path);
		unlink(path);
		uv_close((uv_handle_t *)&srv->ulisten, handle_closed);
		return -1;
	}
	r = uv_listen((uv_stream_t *)&srv->ulisten, SOMAXCONN, on_connection);
	if (r < 0) {
		unlink(path);
		uv_close((uv_handle_t *)&srv->ulisten, handle_closed);
		return sb_err_set(err, -r, "listen on %s: %s", path,
				  uv_strerror(r));
	}
	return 0;
}

int http_server_listen_tcp(struct http_server *srv, const char *host, int port,
			   struct sb_err *err)
{
	struct sockaddr_storage ss;
	char h[64];
	if (!srv || !host || srv->closing)
		return sb_err_set(err, EINVAL, "listen: bad arguments");
	if (!srv->token)
		return sb_err_set(err, EINVAL,
				  "TCP listening needs a bearer token");
	if (port < 0 || port > 65535)
		return sb_err_set(err, EINVAL, "bad port %d", port);
	if (srv->tlisten_used)
		return sb_err_set(err, EALREADY, "already listening on TCP");
	size_t hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host++; /* [::1] */
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof h)
		return sb_err_set(err, EINVAL, "bad listen address");
	memcpy(h, host, hl);
	h[hl] = '\0';
	if (strcmp(h, "localhost") == 0)
		strcpy(h, "127.0.0.1");
	if (uv_ip4_addr(h, port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(h, port, (struct sockaddr_in6 *)&ss) != 0)
		return sb_err_set(err, EINVAL,
				  "bad listen address %s (an IP literal)", h);
	int r = uv_tcp_init(srv->loop, &srv->tlisten);
	if (r < 0)
		return sb_err_set(err, -r, "listen on %s: %s", h,
				  uv_strerror(r));
	srv->tlisten_used = true;
	srv->tlisten.data = srv;
	srv->handles++;
	r = uv_tcp_bind(&srv->tlisten, (struct sockaddr *)&ss, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&srv->tlisten, SOMAXCONN,
			      on_connection);
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
		struct sockaddr_storage ss;
	} name;
	memset(&name, 0, sizeof name);
	int nlen = sizeof name;
	if (r == 0)
		r = uv_tcp_getsockname(&srv->tlisten, &name.sa, &nlen);
	if (r < 0) {
		uv_close((uv_handle_t *)&srv->tlisten, handle_closed);
		return sb_err_set(err, -r, "listen on %s port %d: %s", h, port,
				  uv_strerror(r));
	}
	srv->tcp_port = ntohs(name.sa.sa_family == AF_INET6 ? name.in6.sin6_port
							    : name.in.sin_port);
	return 0;
}

int http_server_tcp_port(const struct http_server *srv)
{
	return srv ? srv->tcp_port : 0;
}

void http_server_close(struct http_server *srv, void (*done)(void *), void *ud)
{
	if (!srv || srv->closing)
		return;
	srv->closing = true;
	srv->done = done;
	srv->done_ud = ud;
	if (srv->ulisten_used && !uv_is_closing((uv_handle_t *)&srv->ulisten))
		uv_close((uv_handle_t *)&srv->ulisten, handle_closed);
	if (srv->tlisten_used && !uv_is_closing((uv_handle_t *)&srv->tlisten))
		uv_close((uv_handle_t *)&srv->tlisten, handle_closed);
	/* conn_close never frees synchronously, so walking is safe; the
	 * connections waiting their turn to close go now */
	close_queued(srv, UINT_MAX);
	for (struct http_conn *c = srv->conns; c; c = c->next)
		http_conn_close(c);
	uv_close((uv_handle_t *)&srv->resume, handle_closed);
	/* closed last: its callback is what frees the server and calls
	 * done, always from the loop, never from inside this call */
	uv_close((uv_handle_t *)&srv->sentinel, handle_closed);
}
