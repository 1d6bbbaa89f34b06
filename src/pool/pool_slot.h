/* SPDX-License-Identifier: Apache-2.0 */
/* pool_slot.h - what the pool keeps on each slot: its place in the state
 * machine (slot_state.h) and its lease.
 *
 * The sandbox module gives every slot a zeroed area of
 * env->slot_data_size bytes (sbx_slot.owner_data) that lives as long as
 * the slot and never looks inside it; pools_init sets that size to this
 * struct's. Zeroed means SLOT_STARTING, unleased. Only the pool changes
 * these fields (slot_service.h is the way in for the API); the state only
 * through slot_state_next(). */
#ifndef SLOTBOX_POOL_POOL_SLOT_H
#define SLOTBOX_POOL_POOL_SLOT_H

#include <stdbool.h>

#include "pool/slot_state.h"
#include "sandbox/sandbox.h"

struct pool_slot {
	enum slot_state state;
	bool leased; /* holds a lease, whatever the state */
	/* counts the slot's leases; the leased id's ".<n>" suffix */
	unsigned lease_seq;
	double ttl_s; /* lease expires ttl_s after the last call; 0 = never */
	char trajectory_id[256];
	double acquired_at; /* wall clock */
	double last_used;   /* monotonic */
	char error[192];    /* why the slot is in SLOT_ERROR */
	void *reserved;	    /* the pool's seed job, if any */
};

_Static_assert(SLOT_STARTING == 0, "a zeroed pool_slot is a starting slot");

/* The pool's part of a slot. */
static inline struct pool_slot *pool_slot_of(const struct sbx_slot *slot)
{
	return (struct pool_slot *)slot->owner_data;
}

/* Move the slot's state by ev, as slot_state_next() allows: 0, or -1
 * when the move is not allowed (the state stays). */
static inline int pool_slot_move(struct pool_slot *ps, enum slot_event ev)
{
	int next = slot_state_next(ps->state, ev);
	if (next < 0)
		return -1;
	ps->state = (enum slot_state)next;
	return 0;
}

#endif
