/* SPDX-License-Identifier: Apache-2.0 */
#include "wire/fdpass.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

union fd_ctl {
	char buf[CMSG_SPACE(sizeof(int) * SB_FDPASS_MAX)];
	struct cmsghdr align;
};

ssize_t sb_send_with_fds(int sock, const struct iovec *iov, size_t niov,
			 const int *fds, size_t nfds)
{
	union fd_ctl ctl;
	struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = niov};
	if (nfds > SB_FDPASS_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (nfds) {
		memset(&ctl, 0, sizeof ctl);
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		if (!c) {
			errno = EINVAL;
			return -1;
		}
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t n;
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
}

ssize_t sb_recv_with_fds(int sock, void *buf, size_t len, int *fds, size_t max,
			 size_t *nfds, size_t *extra)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	return sb_recv_iov_with_fds(sock, &iov, 1, fds, max, nfds, extra);
}

ssize_t sb_recv_iov_with_fds(int sock, const struct iovec *iov, size_t niov,
			     int *fds, size_t max, size_t *nfds, size_t *extra)
{
	union fd_ctl ctl;
	struct msghdr mh = {.msg_iov = (struct iovec *)iov,
			    .msg_iovlen = niov,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof ctl.buf};
	ssize_t n;
	*nfds = *extra = 0;
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
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
			if (*nfds < max) {
				fds[(*nfds)++] = fd;
			} else {
				close(fd);
				(*extra)++;
			}
		}
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		for (size_t i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		errno = EPROTO;
		return -1;
	}
	return n;
}
