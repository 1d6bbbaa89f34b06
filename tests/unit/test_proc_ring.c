/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of proc_ring.c (a process's output ring: offsets, wrap,
 * drops, stream runs) and of ndjson.c's UTF-8 checks (valid, and where a
 * split sequence starts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/ndjson.h"
#include "api/proc_ring.h"

static void expect_bytes(const struct proc_ring *r, uint64_t from, uint64_t to,
			 const char *want)
{
	char buf[64];
	assert_true(to - from < sizeof buf);
	proc_ring_copy(r, from, to, buf);
	assert_memory_equal(buf, want, (size_t)(to - from));
}

static void test_append_and_runs(void **state)
{
	struct proc_ring r;
	uint64_t end;
	(void)state;
	proc_ring_init(&r, 1 << 20);
	proc_ring_append(&r, 1, "out1\n", 5);
	proc_ring_append(&r, 1, "out2\n", 5);
	proc_ring_append(&r, 2, "err\n", 4);
	proc_ring_append(&r, 1, "x", 1);
	assert_int_equal(r.start, 0);
	assert_int_equal(r.end, 15);
	expect_bytes(&r, 0, 15, "out1\nout2\nerr\nx");
	assert_int_equal(proc_ring_run_at(&r, 0, &end), 1);
	assert_int_equal(end, 10); /* consecutive stdout chunks: one run */
	assert_int_equal(proc_ring_run_at(&r, 11, &end), 2);
	assert_int_equal(end, 14);
	assert_int_equal(proc_ring_run_at(&r, 14, &end), 1);
	assert_int_equal(end, 15);
	assert_int_equal(proc_ring_total(), r.cap);
	proc_ring_free(&r);
	assert_int_equal(proc_ring_total(), 0);
}

static void test_wraps_and_drops_the_oldest(void **state)
{
	struct proc_ring r;
	uint64_t end;
	(void)state;
	proc_ring_init(&r, 16 << 10); /* the first buffer: no growth */
	char *big = malloc(40000);
	assert_non_null(big);
	for (size_t i = 0; i < 40000; i++)
		big[i] = (char)('a' + i % 26);
	proc_ring_append(&r, 2, big, 10000);
	proc_ring_append(&r, 1, big + 10000, 30000);
	proc_ring_append(&r, 1, "END", 3);
	assert_int_equal(r.end, 40003);
	assert_int_equal(r.end - r.start, 16 << 10);
	expect_bytes(&r, 40000, 40003, "END");
	/* the stderr run fell out entirely; what is left is stdout */
	assert_int_equal(proc_ring_run_at(&r, r.start, &end), 1);
	assert_int_equal(end, 40003);
	char *all = malloc(16 << 10);
	assert_non_null(all);
	proc_ring_copy(&r, r.start, r.end - 3, all);
	assert_memory_equal(all, big + (r.start),
			    (size_t)(r.end - 3 - r.start));
	free(all);
	free(big);
	proc_ring_free(&r);
}

static void test_many_stream_switches_are_bounded(void **state)
{
	struct proc_ring r;
	uint64_t end;
	(void)state;
	proc_ring_init(&r, 1 << 20);
	for (int i = 0; i < 3 * (int)PROC_RING_RUNS_MAX; i++)
		proc_ring_append(&r, 1 + i % 2, "ab", 2);
	assert_true(r.n_runs <= PROC_RING_RUNS_MAX);
	assert_true(r.start > 0); /* the oldest runs went with their bytes */
	int s = proc_ring_run_at(&r, r.start, &end);
	assert_int_equal(end - r.start, 2);
	assert_int_equal(proc_ring_run_at(&r, end, &end), s == 1 ? 2 : 1);
	proc_ring_free(&r);
}

static void test_utf8(void **state)
{
	(void)state;
	const unsigned char e_acute[] = {0xc3, 0xa9};
	const unsigned char euro[] = {0xe2, 0x82, 0xac};
	assert_true(ndjson_utf8_valid((const unsigned char *)"plain", 5));
	assert_true(ndjson_utf8_valid(e_acute, 2));
	assert_true(ndjson_utf8_valid(euro, 3));
	assert_false(ndjson_utf8_valid((const unsigned char *)"\xff", 1));
	assert_false(ndjson_utf8_valid((const unsigned char *)"\xc0\xaf", 2));
	assert_false(
		ndjson_utf8_valid((const unsigned char *)"\xed\xa0\x80", 3));
	assert_false(ndjson_utf8_valid((const unsigned char *)"\xc3", 1));
	/* a split sequence at the end starts at its lead byte */
	assert_int_equal(ndjson_utf8_cut((const unsigned char *)"ab\xc3", 3),
			 2);
	assert_int_equal(ndjson_utf8_cut((const unsigned char *)"a\xe2\x82", 3),
			 1);
	assert_int_equal(
		ndjson_utf8_cut((const unsigned char *)"a\xe2\x82\xac", 4), 4);
	assert_int_equal(ndjson_utf8_cut((const unsigned char *)"ab", 2), 2);
	/* not a sequence's start: nothing held */
	assert_int_equal(ndjson_utf8_cut((const unsigned char *)"a\xff", 2), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_runs),
		cmocka_unit_test(test_wraps_and_drops_the_oldest),
		cmocka_unit_test(test_many_stream_switches_are_bounded),
		cmocka_unit_test(test_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
