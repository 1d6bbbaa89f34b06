/* SPDX-License-Identifier: Apache-2.0 */
/* slot_seed.c - starting a slot from a given workspace (sandbox.h: seeding).
 *
 * The daemon never writes into a running slot's workspace: a seeded slot
 * is restarted with an empty generation, init stops before the leader
 * mounts it (SEED_READY), the pool fills it through init's root, and
 * SEED_DONE lets the leader start on the filled dir. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sandbox/sandbox_internal.h"
#include "wire/proto.h"

int sandbox_seed_begin(struct sbx_slot *slot)
{
	return sandbox_restart_slot(slot, SB_RELEASE_RESET | SB_RELEASE_SEED);
}

int sandbox_seed_end(struct sbx_slot *slot)
{
	struct sandbox *sb = slot->sb;
	if (!slot->seeding || sb->state == SBX_DEAD) {
		errno = ESRCH;
		return -1;
	}
	slot->seeding = false;
	struct sb_msg m = {.type = SB_MSG_SEED_DONE,
			   .slot = (uint32_t)slot->index,
			   .gen = slot->gen};
	return sandbox_ctl_send(sb, &m);
}

void sandbox_ws_path(const struct sbx_slot *slot, unsigned gen, char *buf,
		     size_t len)
{
	const struct sandbox *sb = slot->sb;
	snprintf(buf, len, "/proc/%d/root%s/s%d/g%u/%s", (int)sb->pid,
		 sb->userns ? "" : sb->scratch, slot->index, gen,
		 sb->template_id[0] ? "wsu" : "ws");
}
