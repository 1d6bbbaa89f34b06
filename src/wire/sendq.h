/* SPDX-License-Identifier: Apache-2.0 */
/* sendq.h - messages waiting for room on a non-blocking channel.
 *
 * The daemon's ends of the channels to a sandbox's init and to its slot
 * leaders are non-blocking: a burst of calls into one sandbox fills the
 * socket's buffer faster than the leader reads it. A message that does not
 * fit waits here, in order, and goes out when the socket is writable again;
 * back-pressure is never a lost sandbox. */
#ifndef SLOTBOX_WIRE_SENDQ_H
#define SLOTBOX_WIRE_SENDQ_H

#include <stddef.h>

#include "wire/proto.h"

/* Messages one channel may hold back at most; beyond, a send fails with
 * EAGAIN (each holds its own copies of the message's descriptors). */
#define SB_SENDQ_MAX 8192u

struct sb_sendq_item;

struct sb_sendq {
	struct sb_sendq_item *head, *tail;
	size_t n;
};

/* Send m with fds (borrowed: the caller still closes its own) on sock, or
 * queue it behind earlier messages when sock is full. 0: sent; 1: queued,
 * watch sock for writable and call sb_sendq_flush(); -1/errno: EAGAIN when
 * the queue is at its bound, EMFILE/ENOMEM when the copy cannot be made,
 * else sendmsg's error (the peer is gone). */
int sb_sendq_send(struct sb_sendq *q, int sock, const struct sb_msg *m,
		  const int *fds, size_t nfds);

/* The same with body[0..body_len) after m in its packet (copied when
 * queued). */
int sb_sendq_send_body(struct sb_sendq *q, int sock, const struct sb_msg *m,
		       const void *body, size_t body_len, const int *fds,
		       size_t nfds);

/* Send what is queued while sock has room. 0: all sent; 1: some left;
 * -1/errno: the peer is gone (the queue is kept; clear it). */
int sb_sendq_flush(struct sb_sendq *q, int sock);

/* Drop every queued message and close its descriptors. */
void sb_sendq_clear(struct sb_sendq *q);

#endif
