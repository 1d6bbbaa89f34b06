/* SPDX-License-Identifier: Apache-2.0 */
/* slot_service_seed.c - forks and snapshots of a leased slot
 * (slot_service.h). */
#include <string.h>

#include "pool/pool.h"
#include "pool/slot_service.h"

bool slot_service_template_current(const struct sbx_slot *slot)
{
	return strcmp(slot->sb->template_id, slot->sb->profile->template_id) ==
	       0;
}

int slot_service_fork(struct sbx_slot *slot, struct pool_seed_req *sr,
		      pool_seed_fn cb, void *ud, struct pool_seed **job,
		      struct sb_err *err)
{
	sr->src_slot = slot->id;
	sr->template_id = slot->sb->template_id;
	return pool_seed(slot->sb->owner, sr, cb, ud, job, err);
}

int slot_service_snapshot(struct snapshot_store *st, struct sbx_slot *slot,
			  const char *name, pool_snapshot_fn cb, void *ud,
			  struct sb_err *err)
{
	return pool_snapshot(st, slot, name, cb, ud, err);
}
