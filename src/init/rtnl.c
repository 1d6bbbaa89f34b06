/* SPDX-License-Identifier: Apache-2.0 */
/* rtnl.c - rtnetlink requests in a fixed buffer, one ack each (rtnl.h). */
#include "init/rtnl.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void rtnl_start(struct rtnl_msg *m, uint16_t type, uint16_t flags)
{
	struct nlmsghdr h = {.nlmsg_len = NLMSG_HDRLEN,
			     .nlmsg_type = type,
			     .nlmsg_flags = flags};
	memcpy(m->buf, &h, sizeof h);
	m->overflow = false;
}

/* len bytes, padded to 4, zeroed, at the message's end; NULL if full. */
void *rtnl_extra(struct rtnl_msg *m, size_t len)
{
	size_t at = rtnl_hdr(m)->nlmsg_len;
	size_t padded = NLMSG_ALIGN(len);
	if (m->overflow || padded > sizeof m->buf - at) {
		m->overflow = true;
		return NULL;
	}
	memset(m->buf + at, 0, padded);
	rtnl_hdr(m)->nlmsg_len = (uint32_t)(at + padded);
	return m->buf + at;
}

void rtnl_put(struct rtnl_msg *m, uint16_t type, const void *data, size_t len)
{
	if (len > UINT16_MAX - NLA_HDRLEN) {
		m->overflow = true;
		return;
	}
	char *a = rtnl_extra(m, NLA_HDRLEN + len);
	if (!a)
		return;
	/* memcpy, not stores through a struct nlattr *: the buffer is
	 * bytes, and the compiler's object-size checks see it so */
	struct nlattr h = {.nla_len = (uint16_t)(NLA_HDRLEN + len),
			   .nla_type = type};
	memcpy(a, &h, sizeof h);
	if (len)
		memcpy(a + NLA_HDRLEN, data, len);
}

void rtnl_put_u32(struct rtnl_msg *m, uint16_t type, uint32_t v)
{
	rtnl_put(m, type, &v, sizeof v);
}

void rtnl_put_strz(struct rtnl_msg *m, uint16_t type, const char *s)
{
	rtnl_put(m, type, s, strlen(s) + 1);
}

size_t rtnl_nest_start(struct rtnl_msg *m, uint16_t type)
{
	size_t at = rtnl_hdr(m)->nlmsg_len;
	char *a = rtnl_extra(m, NLA_HDRLEN);
	if (!a)
		return 0;
	struct nlattr h = {.nla_len = NLA_HDRLEN,
			   .nla_type = (uint16_t)(type | NLA_F_NESTED)};
	memcpy(a, &h, sizeof h);
	return at;
}

void rtnl_nest_end(struct rtnl_msg *m, size_t nest)
{
	if (m->overflow || nest < NLMSG_HDRLEN)
		return;
	size_t len = rtnl_hdr(m)->nlmsg_len - nest;
	if (len > UINT16_MAX) {
		m->overflow = true;
		return;
	}
	uint16_t len16 = (uint16_t)len;
	memcpy(m->buf + nest + offsetof(struct nlattr, nla_len), &len16,
	       sizeof len16);
}

int rtnl_open(void)
{
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (s < 0)
		return -1;
	/* Acks without a copy of the request: a reply always fits. */
	int one = 1;
	(void)setsockopt(s, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	if (bind(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int saved = errno;
		close(s);
		errno = saved;
		return -1;
	}
	return s;
}

int rtnl_ack_of(const void *buf, size_t n, uint32_t seq)
{
	const char *p = buf;
	while (n >= NLMSG_HDRLEN) {
		const struct nlmsghdr *h = (const struct nlmsghdr *)p;
		if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > n) {
			errno = EPROTO;
			return -1;
		}
		if (h->nlmsg_seq == seq && h->nlmsg_type == NLMSG_ERROR) {
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(int))) {
				errno = EPROTO;
				return -1;
			}
			int e;
			memcpy(&e, p + NLMSG_HDRLEN, sizeof e);
			if (e == 0)
				return 0;
			errno = e < 0 ? -e : EPROTO;
			return -1;
		}
		size_t step = NLMSG_ALIGN(h->nlmsg_len);
		if (step >= n)
			break;
		p += step;
		n -= step;
	}
	return 1;
}

int rtnl_talk(int sock, struct rtnl_msg *m)
{
	static uint32_t seq;
	/* Big enough for an error ack that quotes the request back, where
	 * the kernel ignored NETLINK_CAP_ACK (rtnl_open). */
	union {
		struct nlmsghdr align;
		char buf[RTNL_BUF + 256];
	} reply;

	if (m->overflow) {
		errno = EMSGSIZE;
		return -1;
	}
	rtnl_hdr(m)->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	rtnl_hdr(m)->nlmsg_seq = ++seq;
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	if (sendto(sock, m->buf, rtnl_hdr(m)->nlmsg_len, 0,
		   (struct sockaddr *)&kernel, sizeof kernel) < 0)
		return -1;
	for (;;) {
		ssize_t n = recv(sock, reply.buf, sizeof reply.buf, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		int r = rtnl_ack_of(reply.buf, (size_t)n,
				    rtnl_hdr(m)->nlmsg_seq);
		if (r <= 0)
			return r;
		/* a stale reply (an earlier request's): read on */
	}
}
