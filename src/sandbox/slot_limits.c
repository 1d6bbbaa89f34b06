/* SPDX-License-Identifier: Apache-2.0 */
/* slot_limits.c - a slot's memory and cpu limits, made at its first call.
 *
 * A memory cgroup costs the host kernel memory that grows with every file
 * system mounted on the host (a shrinker counter per superblock: 1 KiB for
 * every 64 the host has had at once), and a slot mounts several: with a
 * group per slot made with the sandbox, N idle slots cost O(N^2) (1.2 MiB
 * a group here, docs/bench.md). A cpu quota costs a walk of every cpu
 * group on the host when it is written (cgroup.c, CG_LAZY). An idle slot
 * runs nothing of the tenant's: the slot's own limits are made when its
 * first call (a command, or a file tool, which the leader does) comes,
 * before that call is sent (cgroup.h, cg_slot_limits_on). In cgroup v1
 * the sandbox has no memory group of its own unless the profile caps it
 * (cgroup.c, flat_memory). The slot's leader then joins the new groups,
 * and moves any spare it has there, before it takes the call: the message
 * goes first on the same channel. A leader that started before the groups
 * were made and had no channel then is told when its channel comes up; one
 * that started after joined them when it started (init_cgroup.c). In
 * cgroup v1, where the slots' memory groups sit beside the sandboxes', the
 * next one is made ahead once a call has gone out, in a thread of its
 * own (cg_stock.c): at thousands of slots a memory group's mkdir takes
 * milliseconds, with tails of hundreds. In a
 * user namespace the groups are made with the sandbox, as before: its root
 * places the leaders in groups chowned to it then. */
#include "common/err.h"
#include "sandbox/cg_stock.h"
#include "sandbox/cgroup.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_internal.h"
#include "wire/proto.h"

void sandbox_cg_limits(const struct sandbox *sb, struct cg_limits *lim)
{
	const struct sb_profile *p = sb->profile;
	*lim = (struct cg_limits){.cpu = p->cpu,
				  .memory_mb = p->memory_mb,
				  .pids_max = p->pids_max,
				  .sandbox_memory_mb = p->sandbox_memory_mb,
				  .slot_limits_lazy = !sb->userns};
}

static void send_cg_join(struct sbx_slot *slot)
{
	struct sb_msg m = {.type = SB_MSG_CG_JOIN,
			   .slot = (uint32_t)slot->index};
	/* none without a channel: the leader that attaches one is told */
	sandbox_slot_send(slot, &m, NULL, 0);
}

int sandbox_slot_limits_on(struct sbx_slot *slot, struct sb_err *err)
{
	struct sandbox *sb = slot->sb;
	struct cg_limits lim;

	if (slot->limits_on)
		return 0;
	sandbox_cg_limits(sb, &lim);
	int r = cg_slot_limits_on(&sb->env->cg, sb->id, slot->index,
				  sb->n_slots, &lim, err);
	if (r < 0)
		return -1;
	if (r == 2) {
		for (int i = 0; i < sb->n_slots; i++)
			sb->slots[i].limits_on = true;
		return 0;
	}
	slot->limits_on = true;
	slot->limits_join = (r & 1) != 0;
	if (slot->limits_join)
		send_cg_join(slot);
	return 0;
}

int sandbox_slot_oom_kills(struct sbx_slot *slot, uint64_t *count)
{
	struct cg_limits lim;

	sandbox_cg_limits(slot->sb, &lim);
	return cg_slot_oom_kills(&slot->sb->env->cg, slot->sb->id, slot->index,
				 &lim, &slot->oom_fd, count);
}

void sandbox_slot_limits_ahead(struct sbx_slot *slot)
{
	cg_stock_refill(&slot->sb->env->cg);
}

void sandbox_slot_limits_attached(struct sbx_slot *slot)
{
	if (slot->limits_join)
		send_cg_join(slot);
}
