/* SPDX-License-Identifier: Apache-2.0 */
/* proxy.c - the port proxy's life: check the request, find the slot's
 * network namespace, connect inside it, take the client's connection over
 * from the http server, and end with the lease.
 *
 * Reaching the slot: the socket must be created in the slot's network
 * namespace (it stays there for its life, whatever thread later uses it).
 * The leader hands the daemon its namespace once per lease generation
 * (slot_netns.c) and the loop thread then does setns(slot) + socket() +
 * setns(host): three syscalls of a few microseconds, no I/O, nothing that
 * can block; the connect itself is non-blocking on the loop. A worker
 * thread (uv_queue_work) would cost a thread hop per request and queue the
 * proxy behind slow file operations in libuv's 4-thread pool. The only
 * way this can go wrong is the return to the host namespace failing,
 * which would leave the daemon's loop in a slot: that aborts the daemon
 * rather than serve from there.
 *
 * A profile with `network: host` has no namespace of its own: the proxy
 * reaches the host's 127.0.0.1:{port}, as the slot's own processes do. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.h"
#include "api/proxy_internal.h"
#include "common/log.h"

static unsigned n_proxies;

bool proxy_is_path(const char *path)
{
	if (strncmp(path, "/v1/slots/", 10) != 0)
		return false;
	const char *end = strchr(path + 10, '/');
	return end && end > path + 10 &&
	       (strncmp(end, "/ports/", 7) == 0 || strcmp(end, "/ports") == 0);
}

/* ---- teardown ---- */

static void handle_closed(uv_handle_t *h)
{
	struct proxy *p = h->data;
	if (--p->handles > 0)
		return;
	free(p->cl.buf);
	free(p->up.buf);
	free(p->target);
	free(p->prefix);
	proxy_hdrs_reset(&p->qh, 0);
	proxy_hdrs_reset(&p->rh, 0);
	n_proxies--;
	free(p);
}

void proxy_close_side(struct proxy *p, struct proxy_side *s)
{
	if (!s->open)
		return;
	s->open = false;
	s->reading = false;
	s->h.s.data = p;
	uv_close((uv_handle_t *)&s->h.s, handle_closed);
}

/* Close both connections now (a request not yet taken over must have been
 * answered); the memory goes once libuv has closed the handles. */
void proxy_close(struct proxy *p)
{
	if (p->closing)
		return;
	p->closing = true;
	if (p->joined)
		slot_service_lease_leave(p->slot, &p->lease);
	p->joined = false;
	if (p->req)
		http_request_on_abort(p->req, NULL, NULL);
	p->req = NULL;
	proxy_close_side(p, &p->cl);
	proxy_close_side(p, &p->up);
	p->timer.data = p;
	uv_close((uv_handle_t *)&p->timer, handle_closed);
}

/* Before the takeover: answer the request with an API error, then end. */
static void answer_close(struct proxy *p, int status, const char *code,
			 const char *msg)
{
	if (p->req)
		http_respond_error(p->req, status, code, "%s", msg);
	p->req = NULL;
	proxy_close(p);
}

static void timer_cb(uv_timer_t *t)
{
	struct proxy *p = t->data;
	if (p->req) {
		char msg[160];
		snprintf(msg, sizeof msg,
			 "port %d did not accept a connection within %g s",
			 p->port, PROXY_CONNECT_S);
		answer_close(p, 504, "port_timeout", msg);
	} else if (!p->cl.raw && !p->r_sent && !p->lingering) {
		proxy_fail(p, 504, "port_timeout",
			   "the server in the slot did not answer in time");
	} else {
		proxy_close(p); /* idle, or the linger is over */
	}
}

void proxy_timer(struct proxy *p, double s)
{
	if (!p->closing)
		uv_timer_start(&p->timer, timer_cb, (uint64_t)(s * 1000), 0);
}

/* Activity: the idle clock starts again (not while lingering). */
void proxy_touch(struct proxy *p)
{
	if (!p->lingering)
		proxy_timer(p, PROXY_IDLE_S);
}

static void lease_end(struct sbx_lease_user *u)
{
	struct proxy *p =
		(struct proxy *)((char *)u - offsetof(struct proxy, lease));
	p->joined = false; /* already left */
	answer_close(p, 409, "slot_not_leased",
		     "the lease ended (released, reset or expired)");
}

static void client_gone(struct http_request *req, void *ud)
{
	struct proxy *p = ud;
	(void)req;
	answer_close(p, 502, "client_gone", "the client went away");
}

/* ---- connecting ---- */

/* See the top of the file: the loop thread visits the slot's namespace
 * for one socket() call. */
static int socket_in(int nsfd)
{
	static int host_ns = -1;
	if (host_ns < 0)
		host_ns =
			open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (host_ns < 0)
		return -1;
	if (setns(nsfd, CLONE_NEWNET) < 0)
		return -1;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int e = errno;
	if (setns(host_ns, CLONE_NEWNET) < 0) {
		sb_log(SB_LOG_ERROR, "netns_return_failed", "why",
		       strerror(errno), SB_LOG_END);
		abort();
	}
	errno = e;
	return s;
}

/* The client's request head as the server parsed it, for our parser. */
static char *client_head(struct http_request *req, size_t *len)
{
	size_t n = strlen(req->method) + strlen(req->raw_target) +
		   req->raw_headers_len + 32;
	char *h = malloc(n);
	if (!h)
		return NULL;
	int o = snprintf(h, n, "%s %s HTTP/1.%d\r\n", req->method,
			 req->raw_target, req->http_minor);
	if (o < 0 || (size_t)o >= n) {
		free(h);
		return NULL;
	}
	memcpy(h + o, req->raw_headers, req->raw_headers_len);
	h[o + req->raw_headers_len] = '\r';
	h[o + req->raw_headers_len + 1] = '\n';
	*len = (size_t)o + req->raw_headers_len + 2;
	return h;
}

static void connect_cb(uv_connect_t *cr, int status)
{
	struct proxy *p = cr->data;
	p->connecting = false;
	if (p->closing)
		return;
	if (status < 0) {
		char msg[192];
		snprintf(msg, sizeof msg,
			 "nothing listens on port %d in slot %s (%s)", p->port,
			 p->slot->id, uv_strerror(status));
		answer_close(p, 502, "port_unreachable", msg);
		return;
	}
	size_t hlen = 0, rlen = 0;
	char *head = client_head(p->req, &hlen), *rest = NULL;
	int fd = -1;
	if (!head) {
		answer_close(p, 500, "internal", "out of memory");
		return;
	}
	struct http_request *req = p->req;
	http_request_on_abort(req, NULL, NULL);
	if (http_request_takeover(req, &fd, &rest, &rlen) < 0) {
		free(head);
		answer_close(p, 502, "client_gone", "the client went away");
		return;
	}
	p->req = NULL;
	int r = p->via_tcp ? uv_tcp_init(p->loop, &p->cl.h.tcp)
			   : uv_pipe_init(p->loop, &p->cl.h.pipe, 0);
	if (r == 0) {
		p->cl.open = true;
		p->handles++;
		r = p->via_tcp ? uv_tcp_open(&p->cl.h.tcp, fd)
			       : uv_pipe_open(&p->cl.h.pipe, fd);
	}
	if (r < 0) {
		close(fd);
		free(head);
		free(rest);
		proxy_close(p);
		return;
	}
	if (p->via_tcp) {
		struct sockaddr_storage ss;
		int sl = sizeof ss;
		if (uv_tcp_getpeername(&p->cl.h.tcp, (struct sockaddr *)&ss,
				       &sl) == 0)
			uv_ip_name((struct sockaddr *)&ss, p->peer,
				   sizeof p->peer);
		(void)uv_tcp_nodelay(&p->cl.h.tcp, 1);
	}
	proxy_io_start(p, head, hlen, rest, rlen);
	free(head);
	free(rest);
}

static void netns_ready(struct sbx_lease_user *u, int nsfd, int err)
{
	struct proxy *p =
		(struct proxy *)((char *)u - offsetof(struct proxy, lease));
	char msg[192];
	if (nsfd < 0) {
		snprintf(msg, sizeof msg,
			 "cannot reach the network of slot %s: %s", p->slot->id,
			 strerror(err));
		answer_close(p, 502, "port_unreachable", msg);
		return;
	}
	int s = socket_in(nsfd);
	if (s < 0) {
		snprintf(msg, sizeof msg, "socket in slot %s: %s", p->slot->id,
			 strerror(errno));
		answer_close(p, 502, "port_unreachable", msg);
		return;
	}
	if (uv_tcp_init(p->loop, &p->up.h.tcp) < 0) {
		close(s);
		answer_close(p, 500, "internal", "cannot set up a socket");
		return;
	}
	p->up.open = true;
	p->handles++;
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_port = htons((uint16_t)p->port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	p->creq.data = p;
	if (uv_tcp_open(&p->up.h.tcp, s) < 0) {
		close(s);
		answer_close(p, 500, "internal", "cannot set up a socket");
		return;
	}
	(void)uv_tcp_nodelay(&p->up.h.tcp, 1);
	int r = uv_tcp_connect(&p->creq, &p->up.h.tcp,
			       (const struct sockaddr *)&sin, connect_cb);
	if (r < 0) {
		snprintf(msg, sizeof msg,
			 "nothing listens on port %d in slot %s (%s)", p->port,
			 p->slot->id, uv_strerror(r));
		answer_close(p, 502, "port_unreachable", msg);
		return;
	}
	p->connecting = true;
}

/* ---- the request ---- */

/* "{port}" or "{port}/..." after "ports/": 1-65535, digits only. */
static int parse_port(const char *rest)
{
	if (*rest != '/')
		return -1;
	rest++;
	size_t n = strcspn(rest, "/");
	if (n == 0 || n > 5 || strspn(rest, "0123456789") < n)
		return -1;
	int port = 0;
	for (size_t i = 0; i < n; i++)
		port = port * 10 + (rest[i] - '0');
	return port >= 1 && port <= 65535 ? port : -1;
}

/* The raw target "/v1/slots/ID/ports/PORT/rest?q": split off the
 * prefix, keep "/rest?q" (as sent: escapes stay as they were). */
static int split_target(struct proxy *p, const char *raw)
{
	const char *s = raw;
	for (int i = 0; i < 5; i++) { /* v1, slots, id, ports, port */
		if (*s != '/')
			return -1;
		s += 1 + strcspn(s + 1, "/?");
	}
	p->prefix = strndup(raw, (size_t)(s - raw));
	size_t tl = strlen(s) + 2;
	p->target = malloc(tl);
	if (!p->prefix || !p->target)
		return -1;
	snprintf(p->target, tl, "%s%s", *s == '/' ? "" : "/", s);
	return 0;
}

void proxy_start(struct http_request *req, struct sbx_slot *slot, bool stale,
		 const char *rest)
{
	static const char *const methods[] = {
		"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
	bool known = false;
	for (size_t i = 0; i < sizeof methods / sizeof *methods; i++)
		known = known || strcmp(req->method, methods[i]) == 0;
	int port = parse_port(rest);
	if (port < 0) {
		http_respond_error(req, 400, "bad_request",
				   "the port must be a number in 1-65535");
		return;
	}
	if (!known) {
		http_respond_error(req, 405, "method_not_allowed",
				   "%s is not proxied", req->method);
		return;
	}
	if (!req->takeover) { /* cannot happen: the predicate matched */
		http_respond_error(req, 400, "bad_request", "not a proxy path");
		return;
	}
	if (api_check_leased(req, slot, stale) < 0)
		return;
	if (n_proxies >= PROXY_MAX) {
		http_respond_error(req, 503, "busy",
				   "too many proxied connections (%u)",
				   PROXY_MAX);
		return;
	}
	struct proxy *p = calloc(1, sizeof *p);
	if (!p || split_target(p, req->raw_target) < 0) {
		if (p) {
			free(p->prefix);
			free(p->target);
		}
		free(p);
		http_respond_error(req, 500, "internal", "out of memory");
		return;
	}
	n_proxies++;
	p->loop = slot->sb->env->loop;
	p->req = req;
	p->slot = slot;
	p->port = port;
	p->via_tcp = req->via_tcp;
	p->http_minor = req->http_minor;
	snprintf(p->method, sizeof p->method, "%s", req->method);
	p->head = strcmp(req->method, "HEAD") == 0;
	p->cl.p = p->up.p = p;
	p->cl.other = &p->up;
	p->up.other = &p->cl;
	uv_timer_init(p->loop, &p->timer);
	p->timer.data = p;
	p->handles = 1; /* the timer; each side adds one once open */
	proxy_timer(p, PROXY_CONNECT_S);
	http_request_on_abort(req, client_gone, p);
	p->lease.netns_ready = netns_ready;
	p->lease.lease_end = lease_end;
	slot_service_lease_join(slot, &p->lease);
	p->joined = true;
	int nsfd = slot_service_netns(slot, &p->lease);
	if (nsfd >= 0) {
		netns_ready(&p->lease, nsfd, 0);
	} else if (errno != EINPROGRESS) {
		char msg[160];
		snprintf(msg, sizeof msg, "cannot reach slot %s: %s", slot->id,
			 strerror(errno));
		answer_close(p, 502, "port_unreachable", msg);
	}
}
