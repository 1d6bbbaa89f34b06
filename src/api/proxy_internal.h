/* SPDX-License-Identifier: Apache-2.0 */
/* proxy_internal.h - what proxy.c (setup, connect, teardown),
 * proxy_head.c (headers) and proxy_io.c (relaying) share. */
#ifndef SLOTBOX_API_PROXY_INTERNAL_H
#define SLOTBOX_API_PROXY_INTERNAL_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "api/proxy.h"

#define PROXY_BUF (64u << 10)	      /* one read buffer per side */
#define PROXY_HIGH_WATER (256u << 10) /* queued for a side: stop the other */
#define PROXY_HDRS_MAX (64u << 10)    /* an upstream response head */
#define PROXY_CONNECT_S 5.0	      /* namespace and connect */
#define PROXY_IDLE_S 300.0	      /* no byte either way: give up */
#define PROXY_LINGER_S 2.0	      /* after the answer, drain the client */
#define PROXY_MAX 1024		      /* proxied connections at once */

/* Headers as "name\0value\0" pairs, in arrival order. */
struct proxy_hdrs {
	char *buf;
	size_t len, cap, max;
	size_t n;
	size_t vstart; /* where the value being read starts */
	bool in_value;
	bool over; /* past max: the head is refused */
};

struct proxy;

struct proxy_side {
	union {
		uv_stream_t s;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	struct proxy *p;
	struct proxy_side *other;
	char *buf;
	bool open;    /* handle initialised: needs uv_close */
	bool reading; /* uv_read_start in effect */
	bool held;    /* not read while the other side's queue is full */
	bool eof;
	bool raw; /* tunnel: bytes pass as they are */
};

struct proxy {
	uv_loop_t *loop;
	struct http_request *req; /* until taken over or answered */
	struct sbx_slot *slot;
	struct sbx_lease_user lease;
	bool joined;
	struct proxy_side cl, up; /* the client, the server in the slot */
	uv_timer_t timer;
	uv_connect_t creq;
	uv_shutdown_t sreq;
	int handles; /* open handles; freed when the last one closed */
	bool closing;
	bool connecting;
	bool lingering;
	bool shutting; /* sreq in use */
	int port;
	bool via_tcp;
	int http_minor;
	char method[16];
	char *target; /* upstream request target, as sent */
	char *prefix; /* "/v1/slots/{id}/ports/{port}", as sent */
	char peer[64];
	/* request: client -> server */
	llhttp_t qp;
	struct proxy_hdrs qh;
	bool q_chunked, q_done, ws, head;
	/* response: server -> client */
	llhttp_t rp;
	struct proxy_hdrs rh;
	char reason[64];
	size_t reason_len;
	bool r_sent, r_chunked, r_done, r_interim;
};

/* proxy.c */
void proxy_close(struct proxy *p);
void proxy_close_side(struct proxy *p, struct proxy_side *s);
void proxy_touch(struct proxy *p);
void proxy_timer(struct proxy *p, double s);
/* proxy_head.c */
void proxy_hdrs_reset(struct proxy_hdrs *h, size_t max);
int proxy_hdrs_add(struct proxy_hdrs *h, const char *at, size_t n);
int proxy_hdrs_end(struct proxy_hdrs *h); /* a name or value is complete */
const char *proxy_hdrs_get(const struct proxy_hdrs *h, const char *name);
/* The head sent to the server / to the client (malloc'd, NULL on OOM). */
char *proxy_head_request(struct proxy *p, size_t *len);
char *proxy_head_response(struct proxy *p, int status, size_t *len);
/* proxy_io.c */
void proxy_io_start(struct proxy *p, const char *head, size_t head_len,
		    const char *rest, size_t rest_len);
int proxy_send(struct proxy_side *to, const uv_buf_t *bufs, unsigned n);
/* Answer the client with a JSON error of our own (after the takeover). */
void proxy_fail(struct proxy *p, int status, const char *code, const char *msg);

#endif
