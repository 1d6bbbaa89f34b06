/* SPDX-License-Identifier: Apache-2.0 */
/* http_takeover.c - hand a takeover request's connection to its handler
 * (the port proxy), which then speaks on the socket itself. */
#include <fcntl.h>
#include <unistd.h>

#include "http/http_internal.h"

/* The socket is duplicated, not moved: libuv cannot hand a handle over,
 * so the server closes its own handle (and descriptor, which drops its
 * epoll registration) while the duplicate keeps the connection open. */
int http_request_takeover(struct http_request *pub, int *fd, char **rest,
			  size_t *rest_len)
{
	struct http_req *r = (struct http_req *)pub;
	struct http_conn *c = r ? r->conn : NULL;
	uv_os_fd_t ofd;
	if (!c || r->answered || !pub->takeover || c->closing || c->req != r ||
	    uv_fileno((uv_handle_t *)&c->h.s, &ofd) < 0)
		return -1;
	int nfd = fcntl(ofd, F_DUPFD_CLOEXEC, 3);
	if (nfd < 0)
		return -1;
	*fd = nfd;
	*rest = c->pending;
	*rest_len = c->pending_len;
	c->pending = NULL;
	c->pending_len = 0;
	r->status = 101;
	http_req_answered(r, false); /* detached: no abort call follows */
	c->raw_busy = false;
	http_conn_close(c);
	return 0;
}
