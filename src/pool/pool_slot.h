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

/* acquire.c: one of sb's slots moved from old to now: keeps the pool's
 * first_free and its count of slots soon free (pool.h). */
void pool_note_move(struct sandbox *sb, enum slot_state old,
		    enum slot_state now);

/* A state in which a slot is free or about to be (pool.h, n_soon). */
static inline bool pool_slot_soon(enum slot_state s)
{
	return s == SLOT_AVAILABLE || s == SLOT_STARTING;
}

/* A state that will not offer the slot to an acquire without a release
 * first (pool.c, soon_available). */
static inline bool pool_slot_settled(enum slot_state s)
{
	return s == SLOT_ACQUIRED || s == SLOT_EXECUTING || s == SLOT_ERROR;
}

/* Move the slot's state by ev, as slot_state_next() allows: 0, or -1
 * when the move is not allowed (the state stays). Keeps its sandbox's
 * counts of available and settled slots, by which an acquire skips a full
 * sandbox without looking at its slots (with 1,000 sandboxes those looks
 * were 40% of the daemon's CPU while slots were leased one by one). */
static inline int pool_slot_move(struct sbx_slot *slot, enum slot_event ev)
{
	struct pool_slot *ps = pool_slot_of(slot);
	int next = slot_state_next(ps->state, ev);
	if (next < 0)
		return -1;
	enum slot_state old = ps->state;
	ps->state = (enum slot_state)next;
	slot->sb->pool_available +=
		(ps->state == SLOT_AVAILABLE) - (old == SLOT_AVAILABLE);
	slot->sb->pool_settled +=
		pool_slot_settled(ps->state) - pool_slot_settled(old);
	if (ps->state != old)
		pool_note_move(slot->sb, old, ps->state);
	return 0;
}

#endif
