/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of a slot's call pace (src/sandbox/exec_pace.c): how long a
 * call's output pipes stay out of the daemon's loop, given how long the
 * slot's calls took. No root needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>

#include "sandbox/exec_pace.h"

/* A slot with no calls yet waits the least. */
static void test_fresh_slot_waits_least(void **state)
{
	(void)state;
	struct exec_pace p = {0};
	assert_int_equal(exec_pace_watch_ms(&p), EXEC_PACE_MIN_MS);
}

/* Calls of 1.3 ms (bash -c true on a fast host): the floor, as before. */
static void test_fast_calls_keep_the_floor(void **state)
{
	(void)state;
	struct exec_pace p = {0};
	for (int i = 0; i < 50; i++)
		exec_pace_note(&p, 0.0013);
	assert_int_equal(exec_pace_watch_ms(&p), EXEC_PACE_MIN_MS);
}

/* Calls of 5.5 ms (the same on a slow VM): twice that, rounded up. */
static void test_slow_calls_wait_twice_their_length(void **state)
{
	(void)state;
	struct exec_pace p = {0};
	for (int i = 0; i < 50; i++)
		exec_pace_note(&p, 0.0055);
	assert_int_equal(exec_pace_watch_ms(&p), 11);
}

/* However long the calls, the delay stays at the cap: that is the most a
 * command with much output ever waits for its watch. */
static void test_long_calls_are_capped(void **state)
{
	(void)state;
	struct exec_pace p = {0};
	for (int i = 0; i < 10; i++)
		exec_pace_note(&p, 600.0);
	assert_int_equal(exec_pace_watch_ms(&p), EXEC_PACE_MAX_MS);
}

/* One long call (a build) among short ones moves the delay for a few
 * calls, not for good. */
static void test_one_long_call_fades(void **state)
{
	(void)state;
	struct exec_pace p = {0};
	for (int i = 0; i < 20; i++)
		exec_pace_note(&p, 0.001);
	exec_pace_note(&p, 3600.0);
	assert_int_equal(exec_pace_watch_ms(&p), EXEC_PACE_MAX_MS);
	int calls = 0;
	while (exec_pace_watch_ms(&p) > EXEC_PACE_MIN_MS && calls < 100) {
		exec_pace_note(&p, 0.001);
		calls++;
	}
	assert_true(calls > 0 && calls <= 12);
}

/* A clock that stepped back, or NaN, does not move it. */
static void test_bad_durations_are_ignored(void **state)
{
	(void)state;
	struct exec_pace p = {0};
	for (int i = 0; i < 50; i++)
		exec_pace_note(&p, 0.005);
	uint32_t before = p.avg_us;
	exec_pace_note(&p, -1.0);
	exec_pace_note(&p, NAN);
	assert_int_equal(p.avg_us, before);
	/* a zero duration counts (a call that ended at once) */
	struct exec_pace q = {0};
	exec_pace_note(&q, 0.0);
	assert_int_equal(exec_pace_watch_ms(&q), EXEC_PACE_MIN_MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_slot_waits_least),
		cmocka_unit_test(test_fast_calls_keep_the_floor),
		cmocka_unit_test(test_slow_calls_wait_twice_their_length),
		cmocka_unit_test(test_long_calls_are_capped),
		cmocka_unit_test(test_one_long_call_fades),
		cmocka_unit_test(test_bad_durations_are_ignored),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
