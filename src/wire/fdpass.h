/* SPDX-License-Identifier: Apache-2.0 */
/* fdpass.h - one SOCK_SEQPACKET packet with descriptors (SCM_RIGHTS), the
 * part the daemon <-> init messages (proto.h) and the zygote's requests
 * (zygote_msg.h) share. */
#ifndef SLOTBOX_WIRE_FDPASS_H
#define SLOTBOX_WIRE_FDPASS_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The most descriptors one packet may bring; more are closed on arrival. */
#define SB_FDPASS_MAX 16

/* Send iov as one packet with nfds (at most SB_FDPASS_MAX) descriptors,
 * no SIGPIPE. The bytes sent, or -1/errno. */
ssize_t sb_send_with_fds(int sock, const struct iovec *iov, size_t niov,
			 const int *fds, size_t nfds);

/* Receive one packet into buf; its descriptors (close-on-exec) into fds,
 * up to max of them, *extra counting those closed past max. The bytes
 * received (0 with no descriptor: EOF), or -1/errno: EPROTO, every
 * descriptor closed, when the packet or its descriptors were cut short. */
ssize_t sb_recv_with_fds(int sock, void *buf, size_t len, int *fds, size_t max,
			 size_t *nfds, size_t *extra);

/* The same into niov buffers, filled in order (a fixed header, then a body
 * of up to its buffer's length). */
ssize_t sb_recv_iov_with_fds(int sock, const struct iovec *iov, size_t niov,
			     int *fds, size_t max, size_t *nfds, size_t *extra);

#endif
