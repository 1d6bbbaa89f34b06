/* SPDX-License-Identifier: Apache-2.0 */
#include "wire/sendq.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sb_sendq_item {
	struct sb_sendq_item *next;
	struct sb_msg m;
	int fds[SB_MSG_MAX_FDS];
	size_t nfds;
	size_t body_len;
	char body[]; /* what follows m in its packet */
};

static void item_free(struct sb_sendq_item *it)
{
	for (size_t i = 0; i < it->nfds; i++)
		if (it->fds[i] >= 0)
			close(it->fds[i]);
	/* an exec's payload may hold a profile's secrets */
	explicit_bzero(it->body, it->body_len);
	free(it);
}

/* A copy of m, its body and its descriptors, which the caller closes
 * after us. */
static struct sb_sendq_item *item_new(const struct sb_msg *m, const void *body,
				      size_t body_len, const int *fds,
				      size_t nfds)
{
	struct sb_sendq_item *it = calloc(1, sizeof *it + body_len);
	if (!it) {
		errno = ENOMEM;
		return NULL;
	}
	it->m = *m;
	if (body_len)
		memcpy(it->body, body, body_len);
	it->body_len = body_len;
	for (size_t i = 0; i < nfds; i++) {
		it->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
		if (it->fds[i] < 0) {
			int e = errno;
			item_free(it);
			errno = e;
			return NULL;
		}
		it->nfds = i + 1;
	}
	return it;
}

static bool would_block(int e)
{
	/* ENOBUFS: a unix socket's buffer memory is short for a moment. */
	return e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS;
}

int sb_sendq_send(struct sb_sendq *q, int sock, const struct sb_msg *m,
		  const int *fds, size_t nfds)
{
	return sb_sendq_send_body(q, sock, m, NULL, 0, fds, nfds);
}

int sb_sendq_send_body(struct sb_sendq *q, int sock, const struct sb_msg *m,
		       const void *body, size_t body_len, const int *fds,
		       size_t nfds)
{
	if (nfds > SB_MSG_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	if (!q->head) {
		if (sb_msg_send_body(sock, m, body, body_len, fds, nfds) == 0)
			return 0;
		if (!would_block(errno))
			return -1;
	}
	if (q->n >= SB_SENDQ_MAX) {
		errno = EAGAIN;
		return -1;
	}
	struct sb_sendq_item *it = item_new(m, body, body_len, fds, nfds);
	if (!it)
		return -1;
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->n++;
	return 1;
}

int sb_sendq_flush(struct sb_sendq *q, int sock)
{
	while (q->head) {
		struct sb_sendq_item *it = q->head;
		if (sb_msg_send_body(sock, &it->m, it->body, it->body_len,
				     it->fds, it->nfds) < 0)
			return would_block(errno) ? 1 : -1;
		q->head = it->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
		item_free(it);
	}
	return 0;
}

void sb_sendq_clear(struct sb_sendq *q)
{
	while (q->head) {
		struct sb_sendq_item *it = q->head;
		q->head = it->next;
		item_free(it);
	}
	q->tail = NULL;
	q->n = 0;
}
