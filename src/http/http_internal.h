/* SPDX-License-Identifier: Apache-2.0 */
/* http_internal.h - state shared by http.c (server, listeners),
 * http_conn.c (connections, parsing) and http_respond.c (answers, writes,
 * query strings). Not an API: only src/http/http*.c and the fuzz harness
 * (fuzz/http_harness.c) include it. */
#ifndef SLOTBOX_HTTP_HTTP_INTERNAL_H
#define SLOTBOX_HTTP_HTTP_INTERNAL_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http/http.h"

#define HTTP_READ_BUF (64u << 10)    /* one shared read buffer per server */
#define HTTP_PENDING_MAX (64u << 10) /* read ahead while a request is busy */
#define HTTP_HIGH_WATER (1u << 20)   /* stream back-pressure threshold */
#define HTTP_QUEUE_MAX (64u << 20)   /* hard cap on queued stream output */
#define HTTP_MAX_PATH 8192
#define HTTP_BODY_IDLE_S 60.0 /* a body upload may stall this long */
#define HTTP_LINGER_S 2.0     /* after a closing answer, drain input */
#define HTTP_LINGER_MAX (4u << 20)
#define HTTP_FIELD_MAX 32  /* longer header names are never kept */
#define HTTP_XHDR_MAX 3072 /* extra response headers of one answer */
#define HTTP_HEAD_MAX (HTTP_XHDR_MAX + 1024) /* a whole response head */
#define HTTP_TOKEN_MAX 4096		     /* longer tokens cannot match */
/* Connections accepted before the loop takes a turn: a burst of thousands
 * (a full listen backlog) would otherwise keep every other client waiting
 * while they are all set up (100+ ms for 4096 under ASan). */
#define HTTP_ACCEPT_BURST 64
/* Connections let go of in one loop turn: uv_close closes the socket at
 * once, and the kernel's teardown of thousands of them (clients leaving
 * together) held every other client for one long turn (90 ms for 10,000
 * under ASan); the rest wait for the next turns (http.c). */
#define HTTP_CLOSE_BURST 64

/* The request headers we keep; everything else is parsed and dropped
 * (llhttp itself interprets Content-Length, Transfer-Encoding and
 * Connection). */
enum http_hdr {
	HTTP_H_CTYPE,
	HTTP_H_AUTH,
	HTTP_H_EXPECT,
	HTTP_H_COOKIE,
	HTTP_H_REQID,
	HTTP_H_COUNT
};

/* What http_auth_check decided about a request's credentials. */
enum http_auth {
	HTTP_AUTH_OK,	     /* serve it */
	HTTP_AUTH_LOGIN,     /* a valid ?token= on the login path: 303 */
	HTTP_AUTH_DENY,	     /* 401 with the API's JSON error */
	HTTP_AUTH_DENY_PAGE, /* 401 with a page a browser can show */
};

/* What the connection's single timer is measuring. */
enum http_tstate {
	HTTP_T_NONE,
	HTTP_T_HEADER,	/* headers of a request must complete */
	HTTP_T_BODY,	/* the body must keep flowing */
	HTTP_T_IDLE,	/* keep-alive, waiting for the next request */
	HTTP_T_STALL,	/* our output is queued and the client reads none */
	HTTP_T_LINGER,	/* draining input before the final close */
	HTTP_T_FLUSHED, /* 0 ms: an answer without bytes in flight ended */
};

struct http_conn;

struct http_req {
	struct http_request pub; /* first: the handler's view */
	struct http_conn *conn;	 /* NULL once detached (answered or gone) */
	char *body;		 /* owned; NULL when empty */
	http_abort_fn abort_fn;
	void *abort_ud;
	http_drain_fn drain_fn;
	void *drain_ud;
	unsigned holds; /* our callbacks running on it; free waits */
	bool answered;
	bool aborted;
	bool streaming;
	bool chunked;
	bool nobody; /* HEAD, 204, 304: no body bytes on the wire */
	bool drain_wanted;
	bool head;
	bool http10;
	bool login;	 /* answered by http_auth_login, not the handler */
	int status;	 /* of the answer, for the request log */
	uint64_t t0;	 /* uv_hrtime() when its headers were complete */
	char *raw;	 /* takeover: raw target, NUL, raw headers, NUL */
	char *xhdr;	 /* extra response headers, "Name: value\r\n"... */
	size_t xhdr_len; /* bounded by HTTP_XHDR_MAX */
	char rid[HTTP_REQUEST_ID_MAX + 1];
	char strs[]; /* path, query, content type */
};

struct http_conn {
	union {
		uv_stream_t s;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	uv_timer_t timer;
	llhttp_t parser;
	struct http_server *srv;
	struct http_conn *prev, *next;
	struct http_req *req;	   /* with the handler, not yet answered */
	struct http_req *building; /* headers parsed, body arriving */
	/* the request being parsed; all NULL on an idle connection */
	char *url;
	size_t url_len;
	char *hval[HTTP_H_COUNT];
	size_t hval_len[HTTP_H_COUNT];
	char *body;
	size_t body_len, body_cap, body_limit;
	size_t hdr_bytes;
	char fname[HTTP_FIELD_MAX];
	size_t fname_len;
	int hcur;      /* kept header being read, -1 if none */
	unsigned seen; /* kept headers met, bit per enum http_hdr */
	/* error found by a parser callback, answered after llhttp returns */
	int fail_status;
	const char *fail_code, *fail_msg;
	bool fail_page; /* answer it with the 401 page, not JSON */
	bool login;	/* this request logs in (HTTP_AUTH_LOGIN) */
	uint64_t t0;	/* uv_hrtime() at the request's first byte */
	/* bytes read while busy, parsed after the answer */
	char *pending;
	size_t pending_len;
	size_t discarded; /* while lingering */
	char *rawhdr;	  /* takeover: the headers as sent, NUL-terminated */
	size_t rawhdr_len;
	bool tk;	 /* the request being parsed is a takeover request */
	bool raw_busy;	 /* a takeover request is with the handler */
	unsigned writes; /* uv_write requests in flight */
	int closed_handles;
	enum http_tstate tstate;
	bool via_tcp;
	bool reading;
	bool busy;	  /* a request is dispatched, its answer unflushed */
	bool answer_done; /* the answer is fully queued */
	bool close_after; /* close once the answer is flushed */
	bool peer_eof;
	bool lingering;
	bool closing; /* uv_close called, or queued for it (close_next) */
	struct http_conn *close_next; /* the server's queue of closes */
};

struct http_server {
	uv_loop_t *loop;
	struct http_server_opts opts;
	char *token;
	size_t token_len;
	char *login_path;   /* owned copy of opts.login_path, or NULL */
	char *public_path;  /* owned copy of opts.public_path, or NULL */
	char cookie[65];    /* hex HMAC of the token: the cookie's value */
	char rid_prefix[9]; /* random, so ids differ across restarts */
	http_handler_fn handler;
	void *ud;
	uv_pipe_t ulisten;
	uv_tcp_t tlisten;
	uv_timer_t sentinel; /* closed last, so done runs from a callback */
	uv_idle_t resume;    /* takes deferred connections on the next turn */
	bool ulisten_used, tlisten_used;
	/* a connection awaits uv_accept: no memory, or the burst is used */
	bool udefer, tdefer;
	unsigned burst;	 /* accepted since the last pause (resume_cb) */
	unsigned closes; /* connections closed since then */
	struct http_conn *close_head, *close_tail; /* to close, in turns */
	int tcp_port;
	struct http_conn *conns;
	size_t n_conns; /* allocated, closing ones included */
	size_t handles; /* listeners, connections, rejects, resume, sentinel */
	uint64_t next_id;
	bool closing;
	void (*done)(void *);
	void *done_ud;
	char rbuf[HTTP_READ_BUF];
};

/* http_auth.c */
int http_auth_setup(struct http_server *srv, struct sb_err *err);
enum http_auth http_auth_check(const struct http_conn *c, int method);
void http_auth_login(struct http_req *r);
extern const char http_unauth_page[];
/* http_log.c */
void http_reqid_pick(struct http_server *srv, const char *given, uint64_t n,
		     char out[HTTP_REQUEST_ID_MAX + 1]);
void http_log_request(const char *method, const char *path, int status,
		      uint64_t t0, const char *rid, bool gone);
/* http.c */
void http_server_handle_gone(struct http_server *srv);
/* Let go of a closing connection: now, or in a later loop turn when this
 * turn has closed HTTP_CLOSE_BURST already. */
void http_server_let_go(struct http_server *srv, struct http_conn *c);
/* http_conn.c */
bool http_conn_accept(struct http_server *srv, uv_stream_t *l, bool tcp);
void http_conn_close(struct http_conn *c);
/* uv_close of its handles, which frees it in their callbacks */
void http_conn_close_handles(struct http_conn *c);
void http_conn_timer(struct http_conn *c, enum http_tstate st, double s);
void http_conn_flushed(struct http_conn *c);
/* http_respond.c */
int http_conn_send(struct http_conn *c, const uv_buf_t *bufs, unsigned n,
		   bool final);
void http_conn_error(struct http_conn *c, int status, const char *code,
		     const char *msg);
void http_req_free(struct http_req *r);
void http_req_release(struct http_req *r);
void http_req_answered(struct http_req *r, bool gone);
int http_pct_decode(const char *src, size_t len, char *out, size_t outlen,
		    bool plus);

#endif
