/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of output capping (src/sandbox/exec_outbuf.c), the buffer
 * behind each stream of a call's result: the boundaries of the cap, a
 * UTF-8 sequence cut by it, the streams' independence and the daemon-wide
 * budget. Output is fed the way exec.c's pipe reader does (ask for room,
 * read at most that, or read into scratch and drop). No root needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/membudget.h"
#include "common/util.h"
#include "sandbox/exec_outbuf.h"

#define CHUNK 65536 /* exec.c's read size */

/* Feed len bytes as reads of at most `chunk` bytes each. */
static void feed(struct exec_outbuf *o, const char *data, size_t len,
		 size_t chunk)
{
	while (len) {
		size_t first = exec_outbuf_first(o);
		if (first) { /* before a buffer: scratch, then put */
			size_t n = len < first ? len : first;
			n = n < chunk ? n : chunk;
			const char *kept = exec_outbuf_put(o, data, n);
			if (kept)
				assert_memory_equal(kept, data, n);
			data += n;
			len -= n;
			continue;
		}
		size_t room;
		char *at = exec_outbuf_room(o, chunk, &room);
		size_t n;
		if (at) {
			assert_true(room >= 1 && room <= chunk);
			assert_true(o->len + room <= o->cap);
			n = len < room ? len : room;
			memcpy(at, data, n);
		} else {
			assert_int_equal(room, 0);
			n = len < chunk ? len : chunk;
		}
		exec_outbuf_took(o, at != NULL, n);
		assert_true(o->cap <= o->limit);
		data += n;
		len -= n;
	}
}

static char *pattern(size_t n)
{
	char *p = malloc(n ? n : 1);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + i % 23);
	return p;
}

static void expect_kept(const struct exec_outbuf *o, const char *data, size_t n)
{
	assert_int_equal(o->len, n);
	assert_non_null(o->buf);
	assert_memory_equal(o->buf, data, n);
	assert_int_equal(o->buf[n], '\0');
}

static void test_exactly_at_cap(void **state)
{
	(void)state;
	size_t limits[] = {1, 100, 4096, 16384, 16385, 100000};
	for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
		size_t lim = limits[i];
		char *d = pattern(lim);
		struct exec_outbuf o = {.limit = lim};
		feed(&o, d, lim, CHUNK);
		expect_kept(&o, d, lim);
		assert_false(o.truncated);
		/* no more output: still not truncated */
		exec_outbuf_took(&o, false, 0);
		assert_false(o.truncated);
		exec_outbuf_free(&o);
		assert_null(o.buf);
		free(d);
	}
}

static void test_one_past_cap(void **state)
{
	(void)state;
	size_t limits[] = {1, 100, 16384, 100000};
	for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
		size_t lim = limits[i];
		char *d = pattern(lim + 1);
		/* in one read */
		struct exec_outbuf o = {.limit = lim};
		feed(&o, d, lim + 1, CHUNK);
		expect_kept(&o, d, lim);
		assert_true(o.truncated);
		exec_outbuf_free(&o);
		/* the last byte alone, in a later read */
		struct exec_outbuf o2 = {.limit = lim};
		feed(&o2, d, lim, CHUNK);
		assert_false(o2.truncated);
		feed(&o2, d + lim, 1, CHUNK);
		expect_kept(&o2, d, lim);
		assert_true(o2.truncated);
		exec_outbuf_free(&o2);
		free(d);
	}
}

static void test_byte_at_a_time_and_large(void **state)
{
	(void)state;
	/* a byte per read still fills exactly to the cap */
	char *d = pattern(20000);
	struct exec_outbuf o = {.limit = 20000};
	feed(&o, d, 20000, 1);
	expect_kept(&o, d, 20000);
	assert_false(o.truncated);
	exec_outbuf_free(&o);
	free(d);
	/* 4 MiB through a 1 MiB cap, in pipe-sized reads */
	size_t big = 4u << 20, lim = 1u << 20;
	d = pattern(big);
	struct exec_outbuf b = {.limit = lim};
	feed(&b, d, big, CHUNK);
	expect_kept(&b, d, lim);
	assert_true(b.truncated);
	assert_int_equal(b.cap, lim); /* grew to the cap, not past it */
	exec_outbuf_free(&b);
	free(d);
}

static void test_zero_limit_and_no_output(void **state)
{
	(void)state;
	struct exec_outbuf o = {.limit = 0};
	feed(&o, "", 0, CHUNK);
	assert_false(o.truncated);
	assert_null(o.buf);
	assert_int_equal(o.len, 0);
	feed(&o, "x", 1, CHUNK);
	assert_true(o.truncated);
	assert_null(o.buf);
	assert_int_equal(o.len, 0);
	exec_outbuf_free(&o);
}

static void test_utf8_cut_at_cap(void **state)
{
	(void)state;
	/* "h" then U+00E9 (2 bytes) then U+20AC (3 bytes) */
	const char *s = "h\xc3\xa9\xe2\x82\xac";
	/* a cap inside each sequence keeps the bytes before it, raw */
	for (size_t lim = 1; lim < 6; lim++) {
		struct exec_outbuf o = {.limit = lim};
		feed(&o, s, 6, CHUNK);
		expect_kept(&o, s, lim);
		assert_true(o.truncated);
		/* and the answer's JSON stays valid: a cut sequence becomes
		 * U+FFFD, whole ones stay */
		bool lossy = false;
		json_t *j = sb_json_string_lossy(o.buf, o.len, &lossy);
		assert_non_null(j);
		const char *t = json_string_value(j);
		bool cut = lim == 2 || lim == 4 || lim == 5;
		assert_int_equal(lossy, cut);
		if (lim == 2)
			assert_string_equal(t, "h\xef\xbf\xbd");
		if (lim == 3)
			assert_string_equal(t, "h\xc3\xa9");
		if (lim == 5)
			assert_non_null(strstr(t, "\xef\xbf\xbd"));
		char *dump = json_dumps(j, JSON_ENCODE_ANY);
		assert_non_null(dump);
		free(dump);
		json_decref(j);
		exec_outbuf_free(&o);
	}
	/* exactly at the cap: nothing replaced */
	struct exec_outbuf o = {.limit = 6};
	feed(&o, s, 6, CHUNK);
	assert_false(o.truncated);
	bool lossy = true;
	json_t *j = sb_json_string_lossy(o.buf, o.len, &lossy);
	assert_false(lossy);
	assert_string_equal(json_string_value(j), s);
	json_decref(j);
	exec_outbuf_free(&o);
}

static void test_streams_are_capped_apart(void **state)
{
	(void)state;
	/* stdout over its cap does not cut stderr, nor the reverse */
	char *d = pattern(300);
	struct exec_outbuf out = {.limit = 100}, err = {.limit = 100};
	feed(&out, d, 300, CHUNK);
	feed(&err, d, 60, CHUNK);
	feed(&out, d, 10, CHUNK);
	feed(&err, d + 60, 40, CHUNK);
	expect_kept(&out, d, 100);
	assert_true(out.truncated);
	expect_kept(&err, d, 100);
	assert_false(err.truncated);
	feed(&err, d, 1, CHUNK);
	assert_true(err.truncated);
	exec_outbuf_free(&out);
	exec_outbuf_free(&err);
	free(d);
}

static void test_budget_cuts_output(void **state)
{
	(void)state;
	/* Spend the daemon-wide budget. Without a memory cgroup limit there
	 * is none (membudget.h): then output up to the cap is always kept. */
	size_t huge = SIZE_MAX / 4;
	char *d = pattern(1000);
	sb_membudget_charge(huge);
	bool limited = !sb_membudget_take(1);
	if (!limited)
		sb_membudget_give(1);
	struct exec_outbuf o = {.limit = 1000};
	feed(&o, d, 1000, CHUNK);
	if (limited) {
		/* under the cap, but no buffer could be had: cut, and
		 * said so */
		assert_true(o.truncated);
		assert_int_equal(o.len, 0);
	} else {
		expect_kept(&o, d, 1000);
		assert_false(o.truncated);
	}
	sb_membudget_give(huge);
	/* with the budget back, output is kept again */
	struct exec_outbuf o2 = {.limit = 1000};
	feed(&o2, d, 1000, CHUNK);
	expect_kept(&o2, d, 1000);
	assert_false(o2.truncated);
	exec_outbuf_free(&o2);
	exec_outbuf_free(&o);
	free(d);
}

/* The first read's size is the first buffer's, and nothing is allocated
 * before a byte came. */
static void test_first_read(void **state)
{
	(void)state;
	struct exec_outbuf o = {.limit = 1 << 20};
	assert_int_equal(exec_outbuf_first(&o), 16384);
	assert_null(o.buf);
	const char *kept = exec_outbuf_put(&o, "abc", 3);
	assert_non_null(kept);
	assert_int_equal(exec_outbuf_first(&o), 0); /* has a buffer now */
	expect_kept(&o, "abc", 3);
	exec_outbuf_free(&o);
	struct exec_outbuf small = {.limit = 100}, none = {.limit = 0};
	assert_int_equal(exec_outbuf_first(&small), 100);
	assert_int_equal(exec_outbuf_first(&none), 0);
	exec_outbuf_free(&small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exactly_at_cap),
		cmocka_unit_test(test_one_past_cap),
		cmocka_unit_test(test_byte_at_a_time_and_large),
		cmocka_unit_test(test_zero_limit_and_no_output),
		cmocka_unit_test(test_utf8_cut_at_cap),
		cmocka_unit_test(test_streams_are_capped_apart),
		cmocka_unit_test(test_budget_cuts_output),
		cmocka_unit_test(test_first_read),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
