/* SPDX-License-Identifier: Apache-2.0 */
#include "wire/proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wire/fdpass.h"

int sb_msg_send_body(int sock, const struct sb_msg *m, const void *body,
		     size_t body_len, const int *fds, size_t nfds)
{
	struct iovec iov[2] = {{.iov_base = (void *)m, .iov_len = sizeof *m},
			       {.iov_base = (void *)body, .iov_len = body_len}};
	if (nfds > SB_MSG_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	ssize_t n = sb_send_with_fds(sock, iov, body_len ? 2 : 1, fds, nfds);
	if (n < 0)
		return -1;
	if ((size_t)n != sizeof *m + body_len) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

int sb_msg_send(int sock, const struct sb_msg *m, const int *fds, size_t nfds)
{
	return sb_msg_send_body(sock, m, NULL, 0, fds, nfds);
}

int sb_msg_recv_body(int sock, struct sb_msg *m, void *body, size_t body_cap,
		     size_t *body_len, int *fds, size_t *nfds)
{
	int got[SB_MSG_MAX_FDS];
	size_t n_got, extra;
	/* one byte more than the body may have: a longer packet shows as
	 * that byte filled, not as a silent cut */
	char over;
	struct iovec iov[3] = {{.iov_base = m, .iov_len = sizeof *m},
			       {.iov_base = body, .iov_len = body_cap},
			       {.iov_base = &over, .iov_len = 1}};
	*nfds = 0;
	*body_len = 0;
	ssize_t n = sb_recv_iov_with_fds(sock, iov, 3, got, SB_MSG_MAX_FDS,
					 &n_got, &extra);
	if (n < 0)
		return -1;
	if (n == 0 && n_got == 0 && extra == 0)
		return 0;
	if ((size_t)n < sizeof *m || (size_t)n > sizeof *m + body_cap ||
	    extra) {
		for (size_t i = 0; i < n_got; i++)
			close(got[i]);
		errno = EPROTO;
		return -1;
	}
	m->text[sizeof m->text - 1] = '\0';
	memcpy(fds, got, n_got * sizeof(int));
	*nfds = n_got;
	*body_len = (size_t)n - sizeof *m;
	return 1;
}

int sb_msg_recv(int sock, struct sb_msg *m, int *fds, size_t *nfds)
{
	size_t body_len;
	return sb_msg_recv_body(sock, m, NULL, 0, &body_len, fds, nfds);
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

int sb_payload_fd_len(int fd, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	if (st.st_size <= 0 || (uint64_t)st.st_size > SB_PAYLOAD_MAX) {
		errno = EPROTO;
		return -1;
	}
	*len = (size_t)st.st_size;
	return 0;
}

void sb_payload_free(struct sb_payload *p)
{
	free(p->argv);
	free(p->envp);
	p->argv = NULL;
	p->envp = NULL;
}
