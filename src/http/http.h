/* SPDX-License-Identifier: Apache-2.0 */
/* http.h - a small HTTP/1.1 server on libuv + llhttp.
 *
 * It owns sockets, parsing, limits, keep-alive, pipelining and the bearer
 * token check for TCP listeners; it knows nothing of slotbox's routes. Each
 * complete request is handed to one handler callback. The handler answers
 * exactly once, at once or later (the event loop never waits for it): the
 * server processes a connection's pipelined requests one at a time, in
 * order, so answers never overtake each other.
 *
 * Ownership: a struct http_request belongs to the server. It stays valid
 * until the handler has answered it, even if the client went away meanwhile
 * (the answer is then dropped and the request freed).
 *
 * Every request has a request id: the client's X-Request-Id when it is
 * 1-64 of [A-Za-z0-9._-], else one made here (a random per-server prefix
 * and the request counter). Every answer carries it back in X-Request-Id,
 * errors found by the parser too, and each finished request is logged as
 * one `request` line (method, path, status, duration_ms, request_id; debug
 * level, warn for 5xx). Query strings, headers and bodies are never
 * logged: they may hold tokens and secrets.
 *
 * Authentication (TCP listeners): `Authorization: Bearer <token>`, or, for
 * GET and HEAD only, the cookie that GET <login_path>?token=<token> sets
 * (a browser cannot send a header when it navigates). The cookie holds an
 * HMAC of the token, never the token; it is HttpOnly and SameSite=Strict,
 * and refusing it on every other method keeps cross-site forms from
 * changing anything. */
#ifndef SLOTBOX_HTTP_HTTP_H
#define SLOTBOX_HTTP_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/err.h"

struct http_server;

struct http_request {
	const char *method; /* "GET", "POST", ... */
	const char *path;   /* percent-decoded path, without the query */
	const char *query;  /* raw query string after '?', "" when none */
	const char *body; /* NUL-terminated after body_len bytes; "" if none */
	size_t body_len;
	const char *content_type; /* NULL when absent */
	uint64_t id;		  /* unique per server, for logs */
	const char *request_id;	  /* X-Request-Id, see above */
	bool via_tcp;		  /* arrived on a TCP listener */
	void *user;		  /* free for the handler's use */
	/* A takeover request (opts.takeover claimed its path): handed over
	 * as soon as its headers are in, body unread (body_len 0); see
	 * http_request_takeover. */
	bool takeover;
	int http_minor;		 /* HTTP/1.<minor> */
	const char *raw_target;	 /* the request target as sent */
	const char *raw_headers; /* every header, "Name: value\r\n" lines */
	size_t raw_headers_len;
};

typedef void (*http_handler_fn)(struct http_request *req, void *ud);
typedef void (*http_abort_fn)(struct http_request *req, void *ud);

struct http_server_opts {
	size_t max_body_bytes;	 /* larger bodies get 413 without being read */
	size_t max_header_bytes; /* request line + headers; 431 past it */
	double header_timeout_s; /* a request's headers must arrive within */
	double idle_timeout_s;	 /* keep-alive connection idle limit */
	size_t max_connections;	 /* accepted at once; more are closed at once */
	const char *token;	 /* bearer token required on TCP; copied */
	/* GET/HEAD of this path with ?token=T answers 303 to it with the
	 * auth cookie (T valid) or a 401 page; NULL: no cookie login. */
	const char *login_path;
	/* GET/HEAD of exactly this path (any query) are answered on TCP
	 * without the token: for probes that cannot send one (kubelet's
	 * httpGet, load balancers). NULL: every path needs it. Copied. */
	const char *public_path;
	/* Paths (percent-decoded, no query) this returns true for are
	 * takeover requests (the port proxy): auth and header limits apply
	 * as to any request, then the handler gets it before its body is
	 * read. NULL: none. */
	bool (*takeover)(const char *path);
};

#define HTTP_REQUEST_ID_MAX 64
#define HTTP_COOKIE_NAME "slotbox_token"

/* Fill opts with sane defaults: 64 MiB body, 64 KiB headers, 10 s header
 * timeout, 300 s idle, 16384 connections, no token, no login or public
 * path. */
void http_server_opts_default(struct http_server_opts *opts);

int http_server_new(uv_loop_t *loop, const struct http_server_opts *opts,
		    http_handler_fn handler, void *ud, struct http_server **out,
		    struct sb_err *err);

/* Listen on a unix socket at path (an existing socket file is replaced)
 * with the given mode (e.g. 0660). */
int http_server_listen_unix(struct http_server *srv, const char *path, int mode,
			    struct sb_err *err);

/* Listen on TCP host:port; port 0 picks one (see http_server_tcp_port).
 * Refused unless opts.token was set: TCP always needs the token. */
int http_server_listen_tcp(struct http_server *srv, const char *host, int port,
			   struct sb_err *err);
int http_server_tcp_port(const struct http_server *srv);

/* Stop listening, close every connection, free the server once all handles
 * are closed, then call done (may be NULL). Requests still held by the
 * handler stay valid until answered. */
void http_server_close(struct http_server *srv, void (*done)(void *), void *ud);

/* Add a response header to the answer still to come (before any
 * http_respond* call). Refused (-1) for a name or value with CR, LF or
 * NUL, or when the request's extra headers would pass 3 KiB. */
int http_respond_header(struct http_request *req, const char *name,
			const char *value);

/* Answer with a whole body (copied). Exactly one of the http_respond*
 * families per request. */
void http_respond(struct http_request *req, int status,
		  const char *content_type, const void *body, size_t len);
/* Answer with a JSON document (reference stolen), Content-Type JSON. */
void http_respond_json(struct http_request *req, int status, json_t *doc);
/* Answer {"error": {"code": code, "message": ...}} with the status. */
void http_respond_error(struct http_request *req, int status, const char *code,
			const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Streaming answer (chunked transfer encoding): begin, any number of writes,
 * end. write copies the data; when more than `high water` bytes (1 MiB) are
 * queued for this connection, http_respond_stream_write returns 1 and the
 * caller must wait for the drain callback before writing more (back-pressure
 * so a slow client never grows the daemon's memory). Returns -1 if the
 * client is gone (then just call end). A producer waiting for drain when
 * the client goes away still gets its drain call (its next write is -1). */
typedef void (*http_drain_fn)(struct http_request *req, void *ud);
void http_respond_stream_begin(struct http_request *req, int status,
			       const char *content_type, http_drain_fn drain,
			       void *ud);
int http_respond_stream_write(struct http_request *req, const void *data,
			      size_t len);
void http_respond_stream_end(struct http_request *req);

/* Called (once) if the client disconnects before the answer was sent. On
 * a unix socket a client that only shuts down its sending side
 * (shutdown(SHUT_WR)) is not gone and gets its answer; on TCP, where that
 * cannot be told from a close, it counts as gone. Set it from the handler
 * call itself; the fn may answer the request. */
void http_request_on_abort(struct http_request *req, http_abort_fn fn,
			   void *ud);

/* Look up query parameter `name` in a raw query string and percent-decode
 * it (and '+' as space) into out (NUL-terminated). Returns 1 if present,
 * 0 if absent, -1 if malformed or longer than outlen - 1. The decoded value
 * may contain any byte except NUL (a %00 is malformed). */
int http_query_get(const char *query, const char *name, char *out,
		   size_t outlen);

/* Take a takeover request's connection away from the server: *fd gets a
 * descriptor of the client's socket (blocking mode as it was: libuv's
 * non-blocking), *rest the bytes already read after the headers (malloc'd,
 * may be NULL with *rest_len 0). The request counts as answered (logged
 * with status 101) and the server forgets the connection. 0, or -1 if the
 * client is gone or the request is not a takeover request (answer it
 * normally then). A takeover request answered normally instead closes its
 * connection after the answer: its unread body cannot be told from a next
 * request. */
int http_request_takeover(struct http_request *req, int *fd, char **rest,
			  size_t *rest_len);

/* Human reason phrase of a status ("Not Found"). */
const char *http_status_text(int status);

#endif
