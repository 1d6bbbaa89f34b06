/* SPDX-License-Identifier: Apache-2.0 */
/* slot_state.h - the life of a slot as a pure state machine.
 *
 *   STARTING --ready--> AVAILABLE --acquire--> ACQUIRED <--exec_end(last)--
 *       ^                                        |   \--exec_begin--> EXECUTING
 *       |                                     release (from ACQUIRED,
 *       +----------------- ready <-- RELEASING <---- EXECUTING or ERROR)
 *   any state --lost--> ERROR (a leased slot keeps its lease until released;
 *   an unleased one is simply gone with its sandbox).
 * Past the common path: AVAILABLE --reserve--> RELEASING (promised to a
 * seed job, which restarts it) --seeded--> ACQUIRED (the job leases it
 * once its seeded leader is up, without passing through AVAILABLE);
 * STARTING --restore--> ACQUIRED (a lease a restarted daemon finds in its
 * journal, on a slot it adopted); an unleased slot --restart--> RELEASING
 * (started afresh: an adopted slot may have been cut short in a release).
 * Kept free of I/O so that every transition is unit-tested. */
#ifndef SLOTBOX_POOL_SLOT_STATE_H
#define SLOTBOX_POOL_SLOT_STATE_H

#include <stdbool.h>

enum slot_state {
	SLOT_STARTING,
	SLOT_AVAILABLE,
	SLOT_ACQUIRED,
	SLOT_EXECUTING,
	SLOT_RELEASING,
	SLOT_ERROR,
};

enum slot_event {
	SLOT_EV_READY,	    /* leader up (first start or after release) */
	SLOT_EV_ACQUIRE,    /* leased to a trajectory */
	SLOT_EV_EXEC_BEGIN, /* a call starts */
	SLOT_EV_EXEC_END,   /* the last running call ended */
	SLOT_EV_RELEASE,    /* the lease ends */
	SLOT_EV_LOST,	    /* leader or sandbox died */
	SLOT_EV_RESERVE,    /* promised to a seed job (fork, restore) */
	SLOT_EV_SEEDED,	    /* a reserved slot is up: its job leases it */
	SLOT_EV_RESTORE,    /* an adopted slot gets its journaled lease back */
	SLOT_EV_RESTART,    /* an unleased slot is started afresh */
};

/* The state after ev, or -1 if ev is not allowed in state s. */
int slot_state_next(enum slot_state s, enum slot_event ev);

/* API name of a state ("available", ...). */
const char *slot_state_name(enum slot_state s);

/* Does the slot hold a lease (acquired, executing or error-while-leased)? */
bool slot_state_leased(enum slot_state s);

#endif
