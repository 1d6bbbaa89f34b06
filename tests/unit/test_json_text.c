/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of json_text.c: reals in the fewest digits that read back as
 * the same double, everything else exactly as jansson writes it. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/json_compact.h"
#include "common/json_text.h"

static void expect_real(double v, const char *text)
{
	char buf[40];
	int n = sb_json_real_text(v, buf, sizeof buf);
	assert_int_equal(n, (int)strlen(text));
	assert_string_equal(buf, text);
}

static void test_real_text(void **state)
{
	(void)state;
	expect_real(4.905, "4.905");
	expect_real(0.1, "0.1");
	expect_real(0.3, "0.3");
	expect_real(0.1 + 0.2, "0.30000000000000004"); /* needs all 17 */
	expect_real(1.0 / 3.0, "0.3333333333333333");  /* 16 */
	expect_real(3, "3.0");
	expect_real(-2.5, "-2.5");
	expect_real(0, "0.0");
	expect_real(1e20, "1e20");
	expect_real(1.5e-7, "1.5e-7");
	expect_real(-1e-300, "-1e-300");
	expect_real(1733333333.123, "1733333333.123");
	expect_real(5e-324, "5e-324");
}

static void expect_uint(uint64_t v, const char *text)
{
	char buf[SB_UINT_TEXT_MAX + 1];
	size_t n = sb_uint_text(v, buf);
	buf[n] = '\0';
	assert_string_equal(buf, text);
}

static void test_uint_text(void **state)
{
	(void)state;
	expect_uint(0, "0");
	expect_uint(9, "9");
	expect_uint(10, "10");
	expect_uint(200, "200");
	expect_uint(UINT64_MAX, "18446744073709551615"); /* all 20 */
}

/* Every text reads back as the very same double. */
static void test_round_trip(void **state)
{
	(void)state;
	uint64_t x = 88172645463325252u;
	for (int i = 0; i < 100000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		double v;
		memcpy(&v, &x, sizeof v);
		if (!isfinite(v))
			continue;
		char buf[40];
		assert_true(sb_json_real_text(v, buf, sizeof buf) > 0);
		assert_true(strtod(buf, NULL) == v);
	}
}

/* The printf-free path for short decimals gives what the printf loop
 * gives: the reference below is that loop (%.15g, 16, 17 until it reads
 * back, then jansson's exponent and ".0" forms). */
static void reference_text(double v, char *out, size_t len)
{
	int first = v != 0 && fabs(v) < DBL_MIN ? 1 : 15;
	for (int prec = first; prec <= 17; prec++) {
		snprintf(out, len, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			break;
	}
	char *e = strchr(out, 'e');
	if (e) {
		char *src = e + 1, *dst = e + 1;
		if (*src == '+')
			src++;
		else if (*src == '-')
			*dst++ = *src++;
		while (*src == '0' && src[1])
			src++;
		memmove(dst, src, strlen(src) + 1);
	} else if (!strchr(out, '.')) {
		strcat(out, ".0");
	}
}

static void expect_as_reference(double v)
{
	char want[48], got[40];
	reference_text(v, want, sizeof want);
	int n = sb_json_real_text(v, got, sizeof got);
	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(got, want);
}

static void test_matches_printf(void **state)
{
	(void)state;
	static const double scales[] = {1,   10,  100, 1e3, 1e4,
					1e5, 1e6, 1e7, 1e9, 1e12};
	static const double edges[] = {
		1e-4,	   0.99999e-4, 1e15,   999999999999999.0, 1e15 - 0.5,
		99999.5,   0.0001234,  -0.001, 123456789.123456,  1e14 + 0.25,
		-0.0,	   4.5e15,     0.5,    1.0 / 3.0,	  2.0 / 3.0,
		0.1 + 0.2, 1e-5,       9.5,    999999999999999.9};
	for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
		expect_as_reference(edges[i]);
	uint64_t x = 88172645463325252u;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* k / 10^d of up to 17 digits: microseconds as ms and the
		 * like, around every boundary of the fast path */
		double k = (double)(x % 100000000000000000u >> (x % 40));
		double v = k / scales[x % 10];
		expect_as_reference(i & 1 ? v : -v);
		/* a measured duration: any double */
		double d = (double)(x >> 11) / (double)(1u << 31);
		expect_as_reference(d);
		memcpy(&v, &x, sizeof v);
		if (isfinite(v))
			expect_as_reference(v);
	}
}

static void test_dumps(void **state)
{
	(void)state;
	json_t *doc = json_pack(
		"{s:f, s:s, s:s, s:i, s:[f, f], s:{s:f}, s:b, s:n, s:s}", "a",
		4.905, "looks_like_a_real", "4.9050000000000002", "quoted",
		"say \"1.10000000000000009\" here", "n", 42, "list", 0.1, 2.0,
		"nested", "x", 1e-7, "t", 1, "z", "\"", "e");
	assert_non_null(doc);
	char *s = sb_json_dumps(doc, JSON_COMPACT);
	assert_non_null(s);
	assert_string_equal(
		s,
		"{\"a\":4.905,\"looks_like_a_real\":\"4.9050000000000002\","
		"\"quoted\":\"say \\\"1.10000000000000009\\\" here\",\"n\":42,"
		"\"list\":[0.1,2.0],\"nested\":{\"x\":1e-7},\"t\":true,"
		"\"z\":null,\"\\\"\":\"e\"}");
	free(s);
	/* indentation and the other flags pass through */
	s = sb_json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	char *plain = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS |
					      JSON_REAL_PRECISION(15));
	assert_non_null(s);
	assert_non_null(plain);
	assert_string_equal(s, plain); /* all its reals fit in 15 digits */
	free(s);
	free(plain);
	json_decref(doc);
}

/* A small xorshift generator, so that a failure can be run again. */
static uint64_t next_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* A string of code points jansson treats each its own way: controls and
 * NUL, '"', '\\', '/', DEL, and 2, 3 and 4 byte sequences. */
static json_t *random_string(uint64_t *x)
{
	static const uint32_t points[] = {
		0,	1,	8,	 9,	  10,	 12,	13,
		27,	31,	' ',	 '"',	  '\\',	 '/',	'a',
		'7',	'.',	127,	 0xA9,	  0x7FF, 0x800, 0xD7FF,
		0xE000, 0xFFFD, 0x10000, 0x10FFFF};
	char buf[64];
	size_t n = 0, want = next_rand(x) % 12;
	for (size_t i = 0; i < want; i++) {
		uint32_t cp =
			points[next_rand(x) % (sizeof points / sizeof *points)];
		if (cp < 0x80) {
			buf[n++] = (char)cp;
		} else if (cp < 0x800) {
			buf[n++] = (char)(0xC0 | cp >> 6);
			buf[n++] = (char)(0x80 | (cp & 0x3F));
		} else if (cp < 0x10000) {
			buf[n++] = (char)(0xE0 | cp >> 12);
			buf[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
			buf[n++] = (char)(0x80 | (cp & 0x3F));
		} else {
			buf[n++] = (char)(0xF0 | cp >> 18);
			buf[n++] = (char)(0x80 | (cp >> 12 & 0x3F));
			buf[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
			buf[n++] = (char)(0x80 | (cp & 0x3F));
		}
	}
	return json_stringn(buf, n);
}

/* Reals of at most 15 significant digits, where %.15g is the shortest
 * form, so that jansson with JSON_REAL_PRECISION(15) is the reference. */
static json_t *random_value(uint64_t *x, int depth)
{
	static const double reals[] = {0.0,    -0.0,	0.1,	3.0,
				       -2.5,   1e20,	1.5e-7, 4.905,
				       1e-300, 123.456, 1e15,	999999.125};
	static const json_int_t ints[] = {0, -1, 42, INT64_MAX, INT64_MIN};
	uint64_t kind = next_rand(x) % (depth > 6 ? 6 : 8);
	switch (kind) {
	case 0:
		return random_string(x);
	case 1:
		return json_integer(ints[next_rand(x) % 5]);
	case 2:
		return json_real(reals[next_rand(x) % 12]);
	case 3:
		return json_boolean(next_rand(x) & 1);
	case 4:
		return json_null();
	case 5:
		return json_integer((json_int_t)(next_rand(x) >> 1));
	case 6: {
		json_t *a = json_array();
		for (uint64_t i = next_rand(x) % 5; i > 0; i--)
			json_array_append_new(a, random_value(x, depth + 1));
		return a;
	}
	default: {
		json_t *o = json_object();
		for (uint64_t i = next_rand(x) % 5; i > 0; i--) {
			json_t *key = random_string(x);
			json_object_setn_new(o, json_string_value(key),
					     json_string_length(key),
					     random_value(x, depth + 1));
			json_decref(key);
		}
		return o;
	}
	}
}

/* The compact writer gives jansson's text, byte for byte, for any tree
 * whose reals jansson prints in their shortest form too. */
static void test_compact_matches_jansson(void **state)
{
	(void)state;
	uint64_t x = 0x9E3779B97F4A7C15u;
	for (int i = 0; i < 20000; i++) {
		json_t *doc = json_array();
		json_array_append_new(doc, random_value(&x, 0));
		if (i & 1) { /* an object at the root too */
			json_t *o = json_object();
			json_object_set_new(o, "v", doc);
			doc = o;
		}
		char *got = sb_json_dumps(doc, JSON_COMPACT);
		char *want =
			json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
		assert_non_null(got);
		assert_non_null(want);
		assert_string_equal(got, want);
		free(got);
		free(want);
		json_decref(doc);
	}
}

static void test_compact_edges(void **state)
{
	(void)state;
	/* escapes as jansson writes them: uppercase hex, '/' left alone */
	json_t *doc = json_pack("{s:s%}", "k\x01/", "a\0\x1f\x7f/\"\\", 7);
	char *s = sb_json_dumps(doc, JSON_COMPACT);
	assert_string_equal(s, "{\"k\\u0001/\":\"a\\u0000\\u001F\x7f/"
			       "\\\"\\\\\"}");
	free(s);
	json_decref(doc);
	/* an invalid UTF-8 string fails the dump, as in jansson */
	doc = json_array();
	json_array_append_new(doc, json_stringn_nocheck("\xc3(", 2));
	assert_null(sb_json_compact(doc));
	assert_null(sb_json_dumps(doc, JSON_COMPACT));
	json_decref(doc);
	static const char *const bad[] = {"\xc0\xaf", "\xed\xa0\x80",
					  "\xf4\x90\x80\x80", "\xe2\x82",
					  "\x80"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		doc = json_array();
		json_array_append_new(
			doc, json_stringn_nocheck(bad[i], strlen(bad[i])));
		assert_null(sb_json_compact(doc));
		json_decref(doc);
	}
	/* a scalar at the root is refused without JSON_ENCODE_ANY */
	doc = json_integer(3);
	assert_null(sb_json_dumps(doc, JSON_COMPACT));
	json_decref(doc);
	/* empty containers, and a tree deeper than the fast path goes */
	doc = json_pack("{s:{},s:[]}", "o", "a");
	s = sb_json_dumps(doc, JSON_COMPACT);
	assert_string_equal(s, "{\"o\":{},\"a\":[]}");
	free(s);
	json_decref(doc);
	doc = json_array();
	json_t *inner = doc;
	for (int i = 0; i < 1000; i++) {
		json_t *a = json_array();
		json_array_append_new(inner, a);
		inner = a;
	}
	assert_null(sb_json_compact(doc));
	s = sb_json_dumps(doc, JSON_COMPACT);
	char *want = json_dumps(doc, JSON_COMPACT);
	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
	free(want);
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_text),
		cmocka_unit_test(test_uint_text),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_matches_printf),
		cmocka_unit_test(test_dumps),
		cmocka_unit_test(test_compact_matches_jansson),
		cmocka_unit_test(test_compact_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
