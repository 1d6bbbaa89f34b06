/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the slot state machine: every allowed and refused move. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pool/slot_state.h"

static void test_lease_cycle(void **state)
{
	(void)state;
	int s = SLOT_STARTING;
	s = slot_state_next(s, SLOT_EV_READY);
	assert_int_equal(s, SLOT_AVAILABLE);
	s = slot_state_next(s, SLOT_EV_ACQUIRE);
	assert_int_equal(s, SLOT_ACQUIRED);
	s = slot_state_next(s, SLOT_EV_EXEC_BEGIN);
	assert_int_equal(s, SLOT_EXECUTING);
	/* a second concurrent call keeps it executing */
	assert_int_equal(slot_state_next(s, SLOT_EV_EXEC_BEGIN),
			 SLOT_EXECUTING);
	s = slot_state_next(s, SLOT_EV_EXEC_END);
	assert_int_equal(s, SLOT_ACQUIRED);
	s = slot_state_next(s, SLOT_EV_RELEASE);
	assert_int_equal(s, SLOT_RELEASING);
	s = slot_state_next(s, SLOT_EV_READY);
	assert_int_equal(s, SLOT_AVAILABLE);
}

static void test_refused_moves(void **state)
{
	(void)state;
	/* cannot lease what is not available */
	assert_int_equal(slot_state_next(SLOT_STARTING, SLOT_EV_ACQUIRE), -1);
	assert_int_equal(slot_state_next(SLOT_ACQUIRED, SLOT_EV_ACQUIRE), -1);
	assert_int_equal(slot_state_next(SLOT_RELEASING, SLOT_EV_ACQUIRE), -1);
	assert_int_equal(slot_state_next(SLOT_ERROR, SLOT_EV_ACQUIRE), -1);
	/* no calls on a slot that is not leased */
	assert_int_equal(slot_state_next(SLOT_AVAILABLE, SLOT_EV_EXEC_BEGIN),
			 -1);
	assert_int_equal(slot_state_next(SLOT_RELEASING, SLOT_EV_EXEC_BEGIN),
			 -1);
	assert_int_equal(slot_state_next(SLOT_ERROR, SLOT_EV_EXEC_BEGIN), -1);
	/* release only what is leased (or broken while leased) */
	assert_int_equal(slot_state_next(SLOT_AVAILABLE, SLOT_EV_RELEASE), -1);
	assert_int_equal(slot_state_next(SLOT_STARTING, SLOT_EV_RELEASE), -1);
	assert_int_equal(slot_state_next(SLOT_RELEASING, SLOT_EV_RELEASE), -1);
	/* ready only after starting or releasing */
	assert_int_equal(slot_state_next(SLOT_ACQUIRED, SLOT_EV_READY), -1);
	assert_int_equal(slot_state_next(SLOT_ERROR, SLOT_EV_READY), -1);
	assert_int_equal(slot_state_next(SLOT_ACQUIRED, SLOT_EV_EXEC_END), -1);
}

static void test_lost_from_anywhere(void **state)
{
	(void)state;
	for (int s = SLOT_STARTING; s <= SLOT_ERROR; s++)
		assert_int_equal(slot_state_next(s, SLOT_EV_LOST), SLOT_ERROR);
	/* a lost slot that was leased can still be released */
	assert_int_equal(slot_state_next(SLOT_ERROR, SLOT_EV_RELEASE),
			 SLOT_RELEASING);
}

/* A seed job's slot: reserved off the free list, restarted with the
 * seed, then leased without ever being offered to anyone else. */
static void test_seed_cycle(void **state)
{
	(void)state;
	int s = slot_state_next(SLOT_AVAILABLE, SLOT_EV_RESERVE);
	assert_int_equal(s, SLOT_RELEASING);
	s = slot_state_next(s, SLOT_EV_SEEDED);
	assert_int_equal(s, SLOT_ACQUIRED);
	for (int t = SLOT_STARTING; t <= SLOT_ERROR; t++) {
		if (t != SLOT_AVAILABLE)
			assert_int_equal(slot_state_next(t, SLOT_EV_RESERVE),
					 -1);
		if (t != SLOT_RELEASING)
			assert_int_equal(slot_state_next(t, SLOT_EV_SEEDED),
					 -1);
	}
}

/* After a restart: an adopted slot (starting) gets its journaled lease
 * back; an unleased one is started afresh, a leased one never is. */
static void test_restart_moves(void **state)
{
	(void)state;
	assert_int_equal(slot_state_next(SLOT_STARTING, SLOT_EV_RESTORE),
			 SLOT_ACQUIRED);
	for (int t = SLOT_AVAILABLE; t <= SLOT_ERROR; t++)
		assert_int_equal(slot_state_next(t, SLOT_EV_RESTORE), -1);
	assert_int_equal(slot_state_next(SLOT_STARTING, SLOT_EV_RESTART),
			 SLOT_RELEASING);
	assert_int_equal(slot_state_next(SLOT_AVAILABLE, SLOT_EV_RESTART),
			 SLOT_RELEASING);
	assert_int_equal(slot_state_next(SLOT_RELEASING, SLOT_EV_RESTART),
			 SLOT_RELEASING);
	assert_int_equal(slot_state_next(SLOT_ERROR, SLOT_EV_RESTART),
			 SLOT_RELEASING);
	assert_int_equal(slot_state_next(SLOT_ACQUIRED, SLOT_EV_RESTART), -1);
	assert_int_equal(slot_state_next(SLOT_EXECUTING, SLOT_EV_RESTART), -1);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(slot_state_name(SLOT_AVAILABLE), "available");
	assert_string_equal(slot_state_name(SLOT_ACQUIRED), "acquired");
	assert_string_equal(slot_state_name(SLOT_EXECUTING), "executing");
	assert_string_equal(slot_state_name(SLOT_RELEASING), "releasing");
	assert_string_equal(slot_state_name(SLOT_ERROR), "error");
	assert_true(slot_state_leased(SLOT_ACQUIRED));
	assert_true(slot_state_leased(SLOT_EXECUTING));
	assert_false(slot_state_leased(SLOT_AVAILABLE));
	assert_false(slot_state_leased(SLOT_RELEASING));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lease_cycle),
		cmocka_unit_test(test_refused_moves),
		cmocka_unit_test(test_lost_from_anywhere),
		cmocka_unit_test(test_seed_cycle),
		cmocka_unit_test(test_restart_moves),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
