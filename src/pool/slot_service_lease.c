/* SPDX-License-Identifier: Apache-2.0 */
/* slot_service_lease.c - lease checks, renew and release
 * (slot_service.h). */
#include <errno.h>

#include "common/util.h"
#include "pool/pool.h"
#include "pool/slot_service.h"

enum slot_lease_check slot_service_check(struct sbx_slot *slot, bool stale)
{
	struct pool_slot *ps = pool_slot_of(slot);
	if (stale)
		return SLOT_LEASE_ENDED;
	if (!ps->leased)
		return SLOT_LEASE_NONE;
	if (ps->state == SLOT_ERROR)
		return SLOT_LEASE_LOST;
	ps->last_used = sb_now_mono(); /* a sign of life (TTL) */
	return SLOT_LEASE_LIVE;
}

int slot_service_renew(struct sbx_slot *slot, double ttl_s)
{
	struct pool_slot *ps = pool_slot_of(slot);
	struct pool *p = slot->sb->owner;
	double was = ps->ttl_s;
	ps->ttl_s = ttl_s;
	if (pool_journal_lease(p->owner, slot) < 0) {
		/* what a restart would restore stays what holds */
		int e = errno;
		ps->ttl_s = was;
		errno = e;
		return -1;
	}
	return 0;
}

int slot_service_release(struct sbx_slot *slot, bool reset,
			 slot_release_fn recorded, void *ud)
{
	struct pool *p = slot->sb->owner;
	if (pool_journal_unlease(p->owner, slot) < 0)
		return -1; /* the lease holds: a restart would bring it back */
	if (recorded)
		recorded(slot, ud);
	pool_end_lease(slot, reset); /* may free slot */
	return 0;
}
