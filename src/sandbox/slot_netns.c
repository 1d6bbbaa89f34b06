/* SPDX-License-Identifier: Apache-2.0 */
/* slot_netns.c - the daemon's handle on a lease generation's network
 * namespace, and the things that must end with the lease.
 *
 * The port proxy makes its sockets in the slot's own network namespace.
 * The daemon does not know the leader's pid (init forks it in a pid
 * namespace of its own) and a recycled leader keeps its pid while it
 * enters new namespaces, so /proc/PID/ns/net would be racy; instead the
 * leader is asked over its channel (SB_MSG_NETNS) and answers with an nsfs
 * descriptor, in message order: an answer can never name another lease's
 * namespace. It is asked once per lease generation and the descriptor is
 * cached until sandbox_lease_end (release, reset, expiry, a new leader),
 * which also ends every user riding on the lease. */
#include <errno.h>
#include <unistd.h>

#include "sandbox/sandbox.h"
#include "wire/proto.h"

void sandbox_lease_join(struct sbx_slot *slot, struct sbx_lease_user *u)
{
	u->prev = NULL;
	u->next = slot->users;
	if (slot->users)
		slot->users->prev = u;
	slot->users = u;
	u->waiting = false;
}

void sandbox_lease_leave(struct sbx_slot *slot, struct sbx_lease_user *u)
{
	if (u->prev)
		u->prev->next = u->next;
	else if (slot->users == u)
		slot->users = u->next;
	if (u->next)
		u->next->prev = u->prev;
	u->prev = u->next = NULL;
	u->waiting = false;
}

int sandbox_slot_netns(struct sbx_slot *slot, struct sbx_lease_user *u)
{
	if (slot->netns_fd >= 0)
		return slot->netns_fd;
	if (!slot->netns_ask) {
		static uint64_t next_id;
		struct sb_msg m = {.type = SB_MSG_NETNS,
				   .slot = (uint32_t)slot->index,
				   .id = ++next_id};
		if (sandbox_slot_send(slot, &m, NULL, 0) < 0)
			return -1;
		slot->netns_ask = m.id;
	}
	u->waiting = true;
	errno = EINPROGRESS;
	return -1;
}

void sandbox_netns_reply(struct sbx_slot *slot, const struct sb_msg *m,
			 int *fds, size_t nfds)
{
	if (!slot->netns_ask || m->id != slot->netns_ask)
		return; /* asked by an earlier lease: its fd is closed */
	slot->netns_ask = 0;
	int err = m->sys_errno ? m->sys_errno : EPROTO;
	if (nfds >= 1 && fds[0] >= 0) {
		slot->netns_fd = fds[0];
		fds[0] = -1;
		err = 0;
	}
	/* Each waiter once; one may leave (and free) itself, so restart
	 * from the head after every call. */
	for (;;) {
		struct sbx_lease_user *u = slot->users;
		while (u && !u->waiting)
			u = u->next;
		if (!u)
			break;
		u->waiting = false;
		u->netns_ready(u, slot->netns_fd,
			       slot->netns_fd >= 0 ? 0 : err);
	}
}

void sandbox_lease_end(struct sbx_slot *slot)
{
	slot->netns_ask = 0;
	while (slot->users) {
		struct sbx_lease_user *u = slot->users;
		sandbox_lease_leave(slot, u);
		u->lease_end(u);
	}
	if (slot->netns_fd >= 0)
		close(slot->netns_fd);
	slot->netns_fd = -1;
}
