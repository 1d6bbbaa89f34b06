/* SPDX-License-Identifier: Apache-2.0 */
#include "pool/slot_state.h"

int slot_state_next(enum slot_state s, enum slot_event ev)
{
	switch (ev) {
	case SLOT_EV_READY:
		return (s == SLOT_STARTING || s == SLOT_RELEASING)
			       ? SLOT_AVAILABLE
			       : -1;
	case SLOT_EV_ACQUIRE:
		return s == SLOT_AVAILABLE ? SLOT_ACQUIRED : -1;
	case SLOT_EV_EXEC_BEGIN:
		return (s == SLOT_ACQUIRED || s == SLOT_EXECUTING)
			       ? SLOT_EXECUTING
			       : -1;
	case SLOT_EV_EXEC_END:
		return s == SLOT_EXECUTING ? SLOT_ACQUIRED : -1;
	case SLOT_EV_RELEASE:
		return (s == SLOT_ACQUIRED || s == SLOT_EXECUTING ||
			s == SLOT_ERROR)
			       ? SLOT_RELEASING
			       : -1;
	case SLOT_EV_LOST:
		return SLOT_ERROR;
	case SLOT_EV_RESERVE:
		return s == SLOT_AVAILABLE ? SLOT_RELEASING : -1;
	case SLOT_EV_SEEDED:
		return s == SLOT_RELEASING ? SLOT_ACQUIRED : -1;
	case SLOT_EV_RESTORE:
		return s == SLOT_STARTING ? SLOT_ACQUIRED : -1;
	case SLOT_EV_RESTART:
		return slot_state_leased(s) ? -1 : SLOT_RELEASING;
	}
	return -1;
}

const char *slot_state_name(enum slot_state s)
{
	switch (s) {
	case SLOT_STARTING:
		return "starting";
	case SLOT_AVAILABLE:
		return "available";
	case SLOT_ACQUIRED:
		return "acquired";
	case SLOT_EXECUTING:
		return "executing";
	case SLOT_RELEASING:
		return "releasing";
	case SLOT_ERROR:
		return "error";
	}
	return "error";
}

bool slot_state_leased(enum slot_state s)
{
	return s == SLOT_ACQUIRED || s == SLOT_EXECUTING;
}
