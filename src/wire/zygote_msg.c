/* SPDX-License-Identifier: Apache-2.0 */
#include "wire/zygote_msg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wire/fdpass.h"

int sb_zygote_send_req(int sock, uint64_t clone_flags, char *const *argv,
		       const int fds[SB_ZYGOTE_FD_COUNT])
{
	struct sb_zygote_req h = {.magic = SB_ZYGOTE_MAGIC,
				  .clone_flags = clone_flags};
	size_t len = 0;
	for (; argv[h.argc]; h.argc++) {
		len += strlen(argv[h.argc]) + 1;
		if (h.argc >= SB_ZYGOTE_ARGC_MAX || len > SB_ZYGOTE_ARGS_MAX) {
			errno = E2BIG;
			return -1;
		}
	}
	if (h.argc == 0) {
		errno = EINVAL;
		return -1;
	}
	h.len = (uint32_t)len;
	/* one packet, one buffer: argc may pass IOV_MAX */
	char *pkt = malloc(sizeof h + len);
	if (!pkt)
		return -1;
	memcpy(pkt, &h, sizeof h);
	for (uint32_t i = 0, off = sizeof h; i < h.argc; i++) {
		size_t k = strlen(argv[i]) + 1;
		memcpy(pkt + off, argv[i], k);
		off += (uint32_t)k;
	}
	int sent[SB_ZYGOTE_FD_COUNT];
	size_t nfds = 0;
	for (int i = 0; i < SB_ZYGOTE_FD_COUNT; i++) {
		if (fds[i] >= 0) {
			((struct sb_zygote_req *)(void *)pkt)->fd_slots |= 1u
									   << i;
			sent[nfds++] = fds[i];
		}
	}
	struct iovec iov = {.iov_base = pkt, .iov_len = sizeof h + len};
	ssize_t n = sb_send_with_fds(sock, &iov, 1, sent, nfds);
	int e = errno;
	free(pkt);
	errno = e;
	if (n < 0)
		return -1;
	if ((size_t)n != sizeof h + len) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

int sb_zygote_recv_req(int sock, char *buf, size_t len, char **argv,
		       int fds[SB_ZYGOTE_FD_COUNT])
{
	int got[SB_ZYGOTE_FD_COUNT];
	size_t nfds, extra;
	struct sb_zygote_req h;
	for (int i = 0; i < SB_ZYGOTE_FD_COUNT; i++)
		fds[i] = -1;
	if (len < sizeof h + SB_ZYGOTE_ARGS_MAX) {
		errno = EINVAL;
		return -1;
	}
	ssize_t n = sb_recv_with_fds(sock, buf, len, got, SB_ZYGOTE_FD_COUNT,
				     &nfds, &extra);
	if (n < 0)
		return -1;
	if (n == 0 && nfds == 0 && extra == 0)
		return 0;
	memcpy(&h, buf, (size_t)n < sizeof h ? (size_t)n : sizeof h);
	bool ok = (size_t)n >= sizeof h && h.magic == SB_ZYGOTE_MAGIC &&
		  h.argc > 0 && h.argc <= SB_ZYGOTE_ARGC_MAX &&
		  h.len <= SB_ZYGOTE_ARGS_MAX &&
		  (size_t)n == sizeof h + h.len &&
		  h.fd_slots < (1u << SB_ZYGOTE_FD_COUNT) && extra == 0 &&
		  (size_t)__builtin_popcount(h.fd_slots) == nfds;
	/* argc strings, each NUL-terminated, filling the body exactly */
	char *p = buf + sizeof h, *end = p + (ok ? h.len : 0);
	uint32_t k = 0;
	while (ok && p < end && k < h.argc) {
		char *nul = memchr(p, '\0', (size_t)(end - p));
		if (!nul)
			break;
		argv[k++] = p;
		p = nul + 1;
	}
	if (!ok || k != h.argc || p != end) {
		for (size_t i = 0; i < nfds; i++)
			close(got[i]);
		errno = EPROTO;
		return -1;
	}
	argv[k] = NULL;
	memcpy(buf, &h, sizeof h);
	size_t next = 0;
	for (int i = 0; i < SB_ZYGOTE_FD_COUNT; i++)
		if (h.fd_slots & (1u << i))
			fds[i] = got[next++];
	return 1;
}

int sb_zygote_send_reply(int sock, int sys_errno, int pid, int pidfd)
{
	struct sb_zygote_reply r = {
		.magic = SB_ZYGOTE_MAGIC, .sys_errno = sys_errno, .pid = pid};
	struct iovec iov = {.iov_base = &r, .iov_len = sizeof r};
	ssize_t n = sb_send_with_fds(sock, &iov, 1, &pidfd, sys_errno ? 0 : 1);
	if (n < 0)
		return -1;
	if ((size_t)n != sizeof r) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

int sb_zygote_recv_reply(int sock, int *pid, int *pidfd, int *sys_errno)
{
	struct sb_zygote_reply r;
	int fd = -1;
	size_t nfds, extra;
	*pid = -1;
	*pidfd = -1;
	*sys_errno = 0;
	ssize_t n = sb_recv_with_fds(sock, &r, sizeof r, &fd, 1, &nfds, &extra);
	if (n < 0)
		return -1;
	if (n == 0 && nfds == 0 && extra == 0)
		return 0;
	bool ok = (size_t)n == sizeof r && extra == 0 &&
		  r.magic == SB_ZYGOTE_MAGIC &&
		  (r.sys_errno > 0
			   ? nfds == 0
			   : (r.sys_errno == 0 && nfds == 1 && r.pid > 0));
	if (!ok) {
		if (nfds)
			close(fd);
		errno = EPROTO;
		return -1;
	}
	*sys_errno = r.sys_errno;
	if (r.sys_errno)
		return 1;
	*pid = r.pid;
	*pidfd = fd;
	return 1;
}
