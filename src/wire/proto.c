/* SPDX-License-Identifier: Apache-2.0 */
#include "wire/proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int sb_msg_send(int sock, const struct sb_msg *m, const int *fds, size_t nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * SB_MSG_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = (void *)m, .iov_len = sizeof *m};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (nfds > SB_MSG_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	if (nfds) {
		memset(&ctl, 0, sizeof ctl);
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t n;
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((size_t)n != sizeof *m) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

static void close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int sb_msg_recv(int sock, struct sb_msg *m, int *fds, size_t *nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = m, .iov_len = sizeof *m};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof ctl.buf};
	size_t got = 0;
	int tmp[16];
	ssize_t n;

	*nfds = 0;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
	     c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && got < 16; i++)
			memcpy(&tmp[got++], CMSG_DATA(c) + i * sizeof(int),
			       sizeof(int));
	}
	if (n == 0 && got == 0)
		return 0;
	if ((size_t)n != sizeof *m ||
	    (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || got > SB_MSG_MAX_FDS) {
		close_all(tmp, got);
		errno = EPROTO;
		return -1;
	}
	m->text[sizeof m->text - 1] = '\0';
	memcpy(fds, tmp, got * sizeof(int));
	*nfds = got;
	return 1;
}

int sb_payload_encode(const char *cwd, char *const *argv, char *const *envp,
		      char **buf, size_t *len)
{
	struct sb_payload_hdr h = {.magic = SB_PAYLOAD_MAGIC};
	size_t total = sizeof h + strlen(cwd) + 1;

	*buf = NULL;
	*len = 0;
	for (; argv[h.argc]; h.argc++)
		total += strlen(argv[h.argc]) + 1;
	for (; envp[h.envc]; h.envc++)
		total += strlen(envp[h.envc]) + 1;
	if (total > SB_PAYLOAD_MAX || h.argc > SB_PAYLOAD_MAX_STRINGS ||
	    h.envc > SB_PAYLOAD_MAX_STRINGS) {
		errno = E2BIG;
		return -1;
	}
	char *b = malloc(total);
	if (!b) {
		errno = ENOMEM;
		return -1;
	}
	size_t pos = 0;
	memcpy(b, &h, sizeof h);
	pos += sizeof h;
#define PUT(s)                                                                 \
	do {                                                                   \
		size_t l_ = strlen(s) + 1;                                     \
		memcpy(b + pos, s, l_);                                        \
		pos += l_;                                                     \
	} while (0)
	PUT(cwd);
	for (uint32_t i = 0; i < h.argc; i++)
		PUT(argv[i]);
	for (uint32_t i = 0; i < h.envc; i++)
		PUT(envp[i]);
#undef PUT
	*buf = b;
	*len = pos;
	return 0;
}

/* Point out[0..n) at successive NUL-terminated strings of buf starting at
 * *pos; fail if any runs past the end. */
static int take_strings(char *buf, size_t len, size_t *pos, char **out,
			size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (*pos >= len)
			return -1;
		char *s = buf + *pos;
		char *nul = memchr(s, '\0', len - *pos);
		if (!nul)
			return -1;
		out[i] = s;
		*pos += (size_t)(nul - s) + 1;
	}
	return 0;
}

int sb_payload_decode(char *buf, size_t len, struct sb_payload *p)
{
	struct sb_payload_hdr h;
	char *cwd[1];
	size_t pos = sizeof h;

	memset(p, 0, sizeof *p);
	if (len < sizeof h || len > SB_PAYLOAD_MAX)
		goto proto;
	memcpy(&h, buf, sizeof h);
	if (h.magic != SB_PAYLOAD_MAGIC || h.argc == 0 ||
	    h.argc > SB_PAYLOAD_MAX_STRINGS || h.envc > SB_PAYLOAD_MAX_STRINGS)
		goto proto;
	p->argv = calloc(h.argc + 1, sizeof(char *));
	p->envp = calloc(h.envc + 1, sizeof(char *));
	if (!p->argv || !p->envp) {
		sb_payload_free(p);
		errno = ENOMEM;
		return -1;
	}
	if (take_strings(buf, len, &pos, cwd, 1) < 0 ||
	    take_strings(buf, len, &pos, p->argv, h.argc) < 0 ||
	    take_strings(buf, len, &pos, p->envp, h.envc) < 0 || pos != len) {
		sb_payload_free(p);
		goto proto;
	}
	p->cwd = cwd[0];
	return 0;
proto:
	errno = EPROTO;
	return -1;
}

void sb_payload_free(struct sb_payload *p)
{
	free(p->argv);
	free(p->envp);
	p->argv = NULL;
	p->envp = NULL;
}
