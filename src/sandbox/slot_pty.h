/* SPDX-License-Identifier: Apache-2.0 */
/* slot_pty.h - a terminal of a slot's own devpts, asked of its leader.
 *
 * The leader opens it in the slot's root (leader_pty.c) and sends back
 * its master and slave; the daemon hands the slave to a call (exec.h:
 * spec.tty) and keeps the master. One round trip over the slot's channel,
 * answered through a callback, never blocking the loop. */
#ifndef SLOTBOX_SANDBOX_SLOT_PTY_H
#define SLOTBOX_SANDBOX_SLOT_PTY_H

#include <stddef.h>

#include "common/err.h"

struct sbx_slot;
struct sb_msg;

/* master and slave (both -1 when err != 0) are the callee's to close. */
typedef void (*slot_pty_fn)(void *ud, int master, int slave, int err);

/* Ask for a rows x cols terminal; cb follows exactly once, later (never
 * from inside this call), unless this fails (-1). A leader that does not
 * answer within a few seconds (one of an older build) fails it with
 * ENOSYS. */
int slot_pty_open(struct sbx_slot *slot, unsigned rows, unsigned cols,
		  slot_pty_fn cb, void *ud, struct sb_err *err);

/* The leader's PTY answer; takes fds it keeps (set to -1). */
void slot_pty_on_reply(const struct sbx_slot *slot, const struct sb_msg *m,
		       int *fds, size_t nfds);

/* The slot's channel is gone: every request of it fails (EPIPE). */
void slot_pty_fail_all(const struct sbx_slot *slot);

#endif
