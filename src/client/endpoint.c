/* SPDX-License-Identifier: Apache-2.0 */
/* endpoint.c - where libslotbox connects: a unix socket or HOST:PORT. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/client_internal.h"

static int set_unix(struct sbc *c, const char *path, struct sbc_error *err)
{
	if (strncmp(path, "unix://", 7) == 0)
		path += 7;
	if (!*path)
		return sbc_fail(err, 0, "bad_argument", "empty socket path");
	if (strlen(path) >= sizeof c->unix_path)
		return sbc_fail(err, 0, "bad_argument",
				"socket path longer than %zu bytes: %s",
				sizeof c->unix_path - 1, path);
	memcpy(c->unix_path, path, strlen(path) + 1);
	return 0;
}

int sbc_url_split(const char *url, char **host_out, char **port_out,
		  struct sbc_error *err)
{
	*host_out = *port_out = NULL;
	const char *rest = NULL;
	if (strncmp(url, "http://", 7) == 0 || strncmp(url, "tcp://", 6) == 0)
		rest = strstr(url, "://") + 3;
	if (!rest)
		return sbc_fail(err, 0, "bad_argument",
				"URL must start with http:// or tcp://: %s",
				url);
	const char *host = rest, *host_end, *colon;
	if (*rest == '[') {
		host = rest + 1;
		host_end = strchr(host, ']');
		colon = host_end ? host_end + 1 : NULL;
	} else {
		colon = strrchr(rest, ':');
		host_end = colon;
	}
	if (!host_end || !colon || *colon != ':' || host_end == host)
		return sbc_fail(err, 0, "bad_argument",
				"URL needs HOST:PORT: %s", url);
	const char *port = colon + 1;
	size_t plen = strcspn(port, "/");
	if (plen == 0 || plen > 5 || strspn(port, "0123456789") != plen ||
	    (port[plen] && strcmp(port + plen, "/") != 0))
		return sbc_fail(err, 0, "bad_argument",
				"URL needs a numeric port and no path: %s",
				url);
	*host_out = strndup(host, (size_t)(host_end - host));
	*port_out = strndup(port, plen);
	if (!*host_out || !*port_out) {
		free(*host_out);
		free(*port_out);
		*host_out = *port_out = NULL;
		return sbc_fail(err, 0, "out_of_memory", "out of memory");
	}
	return 0;
}

int sbc_endpoint_parse(struct sbc *c, const struct sbc_options *opt,
		       struct sbc_error *err)
{
	if (opt->url)
		return sbc_url_split(opt->url, &c->host, &c->port, err);
	if (opt->socket_path)
		return set_unix(c, opt->socket_path, err);
	const char *env = getenv("SLOTBOX_SOCKET");
	return set_unix(c, env && *env ? env : SBC_DEFAULT_SOCKET, err);
}

static int connect_unix(struct sbc *c, struct sbc_error *err)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	memcpy(a.sun_path, c->unix_path, sizeof a.sun_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sbc_fail(err, 0, "connect_failed", "socket: %s",
				strerror(errno));
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		int e = errno;
		close(fd);
		return sbc_fail(err, 0, "connect_failed",
				"cannot connect to slotboxd at %s: %s%s",
				c->unix_path, strerror(e),
				e == ENOENT || e == ECONNREFUSED
					? " (is slotboxd running?)"
					: "");
	}
	c->fd = fd;
	return 0;
}

/* connect(2), bounded by c->connect_timeout_s when > 0: a host that is
 * gone (no RST comes back) would otherwise hold the caller for minutes. */
static int connect_bounded(const struct sbc *c, int fd,
			   const struct sockaddr *sa, socklen_t len)
{
	if (c->connect_timeout_s <= 0)
		return connect(fd, sa, len);
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -1;
	int rc = connect(fd, sa, len);
	if (rc < 0 && errno == EINPROGRESS) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int ms = (int)(c->connect_timeout_s * 1000) + 1, r;
		do
			r = poll(&p, 1, ms);
		while (r < 0 && errno == EINTR);
		int soerr = 0;
		socklen_t sl = sizeof soerr;
		if (r == 0)
			soerr = ETIMEDOUT;
		else if (r < 0 ||
			 getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		errno = soerr;
		rc = soerr ? -1 : 0;
	}
	if (rc == 0 && fcntl(fd, F_SETFL, flags) < 0)
		rc = -1;
	return rc;
}

/* A node whose host vanishes (power, network: no RST comes back) is
 * noticed within about KEEPALIVE_S even in the middle of a long call:
 * keepalive probes after 5 s of silence, every 2 s, 3 unanswered ones end
 * the connection; data the peer has not acknowledged for as long ends it
 * too. A daemon that is merely busy still has a kernel that answers. */
#define KEEPALIVE_S 15

static int tune_tcp(int fd)
{
	/* a request goes out as its head, then its body: without NODELAY,
	 * Nagle holds the body until the daemon's delayed ACK (up to 40
	 * ms) */
	static const struct {
		int level, name, value;
	} opts[] = {
		{IPPROTO_TCP, TCP_NODELAY, 1},
		{SOL_SOCKET, SO_KEEPALIVE, 1},
		{IPPROTO_TCP, TCP_KEEPIDLE, 5},
		{IPPROTO_TCP, TCP_KEEPINTVL, 2},
		{IPPROTO_TCP, TCP_KEEPCNT, 3},
		{IPPROTO_TCP, TCP_USER_TIMEOUT, KEEPALIVE_S * 1000},
	};
	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
		if (setsockopt(fd, opts[i].level, opts[i].name, &opts[i].value,
			       sizeof opts[i].value) < 0)
			return -1;
	return 0;
}

static int connect_tcp(struct sbc *c, struct sbc_error *err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int gai = getaddrinfo(c->host, c->port, &hints, &res);
	if (gai != 0)
		return sbc_fail(err, 0, "connect_failed", "%s: %s", c->host,
				gai_strerror(gai));
	int e = 0;
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
				ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (connect_bounded(c, fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    tune_tcp(fd) == 0) {
			c->fd = fd;
			break;
		}
		e = errno;
		close(fd);
	}
	freeaddrinfo(res);
	if (c->fd < 0)
		return sbc_fail(err, 0, "connect_failed",
				"cannot connect to slotboxd at %s:%s: %s",
				c->host, c->port, strerror(e));
	return 0;
}

int sbc_connect(struct sbc *c, struct sbc_error *err)
{
	c->used = false;
	return c->host ? connect_tcp(c, err) : connect_unix(c, err);
}
