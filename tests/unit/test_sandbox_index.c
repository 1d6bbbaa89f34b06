/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the sandboxes-by-id table (src/pool/sandbox_index.c):
 * random puts, gets and deletes checked against a plain list, in a table
 * small enough that ids collide and deletions must shift runs back; and
 * the lookup by a prefix's length, as pools_find_slot makes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool/sandbox_index.h"

#define N 40

static struct sandbox sbs[N];

static void test_against_a_list(void **state)
{
	(void)state;
	struct sandbox_index ix;
	bool in[N] = {false};
	unsigned seed = 22;

	assert_int_equal(sandbox_index_init(&ix, N), 0);
	for (int i = 0; i < N; i++)
		snprintf(sbs[i].id, sizeof sbs[i].id, "default-%08x",
			 (unsigned)rand_r(&seed));
	for (int round = 0; round < 20000; round++) {
		int k = rand_r(&seed) % N;
		if (rand_r(&seed) % 2) {
			assert_int_equal(sandbox_index_put(&ix, &sbs[k]), 0);
			in[k] = true;
		} else {
			sandbox_index_del(&ix, &sbs[k]);
			in[k] = false;
		}
		size_t n = 0;
		for (int j = 0; j < N; j++) {
			struct sandbox *got = sandbox_index_get(
				&ix, sbs[j].id, strlen(sbs[j].id));
			assert_ptr_equal(got, in[j] ? &sbs[j] : NULL);
			n += in[j];
		}
		assert_int_equal(ix.n, n);
	}
	sandbox_index_free(&ix);
}

static void test_lookup_by_a_slot_id_prefix(void **state)
{
	(void)state;
	struct sandbox_index ix;
	static struct sandbox a, b;
	const char *slot = "default-1a2b3c4d_slot_3.7";

	assert_int_equal(sandbox_index_init(&ix, 4), 0);
	snprintf(a.id, sizeof a.id, "default-1a2b3c4d");
	snprintf(b.id, sizeof b.id, "default-1a2b3c4");
	assert_int_equal(sandbox_index_put(&ix, &a), 0);
	assert_int_equal(sandbox_index_put(&ix, &b), 0);
	assert_ptr_equal(sandbox_index_get(&ix, slot, 16), &a);
	assert_ptr_equal(sandbox_index_get(&ix, slot, 15), &b);
	assert_null(sandbox_index_get(&ix, slot, 14));
	assert_null(sandbox_index_get(&ix, "", 0));
	sandbox_index_free(&ix);
	assert_null(sandbox_index_get(&ix, slot, 16));
}

static void test_it_never_fills_past_half(void **state)
{
	(void)state;
	struct sandbox_index ix;
	static struct sandbox many[64];

	assert_int_equal(sandbox_index_init(&ix, 4), 0); /* 16 entries */
	int put = 0;
	for (int i = 0; i < 64; i++) {
		snprintf(many[i].id, sizeof many[i].id, "p-%d", i);
		if (sandbox_index_put(&ix, &many[i]) == 0)
			put++;
	}
	assert_int_equal(put, 8);
	for (int i = 0; i < 8; i++)
		assert_ptr_equal(
			sandbox_index_get(&ix, many[i].id, strlen(many[i].id)),
			&many[i]);
	sandbox_index_free(&ix);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_a_list),
		cmocka_unit_test(test_lookup_by_a_slot_id_prefix),
		cmocka_unit_test(test_it_never_fills_past_half),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
