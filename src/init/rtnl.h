/* SPDX-License-Identifier: Apache-2.0 */
/* rtnl.h - rtnetlink requests built in a fixed buffer and sent one at a
 * time, each answered by the kernel's ack (slot_veth.c).
 *
 * Why not libmnl: slotbox-init links statically (meson.build: init_static)
 * so that the thousands of processes forked from it map no shared library;
 * Debian ships libmnl as a shared object only, and slotbox needs four
 * kinds of message from it. A builder never writes past its buffer: a
 * message that does not fit marks itself, and rtnl_talk refuses it. */
#ifndef SLOTBOX_INIT_RTNL_H
#define SLOTBOX_INIT_RTNL_H

#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RTNL_BUF 4096 /* one request or one ack */

struct rtnl_msg {
	/* starts with the struct nlmsghdr (rtnl_hdr) */
	_Alignas(struct nlmsghdr) char buf[RTNL_BUF];
	bool overflow; /* something did not fit: rtnl_talk says EMSGSIZE */
};

static inline struct nlmsghdr *rtnl_hdr(struct rtnl_msg *m)
{
	return (struct nlmsghdr *)(void *)m->buf;
}

/* A new message of the given type and flags (NLM_F_REQUEST and NLM_F_ACK
 * are added when it is sent). */
void rtnl_start(struct rtnl_msg *m, uint16_t type, uint16_t flags);

/* Room for the family header (struct ifinfomsg, ...) after the message
 * header or inside a nest, zeroed; NULL (and m->overflow) if it does not
 * fit. */
void *rtnl_extra(struct rtnl_msg *m, size_t len);

/* An attribute; strz adds the string's NUL. */
void rtnl_put(struct rtnl_msg *m, uint16_t type, const void *data, size_t len);
void rtnl_put_u32(struct rtnl_msg *m, uint16_t type, uint32_t v);
void rtnl_put_strz(struct rtnl_msg *m, uint16_t type, const char *s);

/* A nested attribute: what is put until rtnl_nest_end is inside it. The
 * token is an offset into the message (0: the nest did not fit). */
size_t rtnl_nest_start(struct rtnl_msg *m, uint16_t type);
void rtnl_nest_end(struct rtnl_msg *m, size_t nest);

/* A NETLINK_ROUTE socket of the caller's network namespace; -1 with errno. */
int rtnl_open(void);

/* Send m and wait for its ack: 0, or -1 with the kernel's errno. */
int rtnl_talk(int sock, struct rtnl_msg *m);

/* The ack for seq among n bytes of replies: 0 (it succeeded), -1 with
 * errno set to the kernel's error (EPROTO for a truncated reply), or 1
 * when it is not there. */
int rtnl_ack_of(const void *buf, size_t n, uint32_t seq);

#endif
