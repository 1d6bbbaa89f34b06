/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of query-string decoding (http_query_get) and reason phrases
 * (http_status_text). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "http/http.h"

static void test_present_absent(void **state)
{
	(void)state;
	char v[64];
	assert_int_equal(http_query_get("a=1&b=two", "a", v, sizeof v), 1);
	assert_string_equal(v, "1");
	assert_int_equal(http_query_get("a=1&b=two", "b", v, sizeof v), 1);
	assert_string_equal(v, "two");
	assert_int_equal(http_query_get("a=1&b=two", "c", v, sizeof v), 0);
	assert_int_equal(http_query_get("", "a", v, sizeof v), 0);
	assert_int_equal(http_query_get(NULL, "a", v, sizeof v), 0);
	assert_int_equal(http_query_get("&&a=1&", "a", v, sizeof v), 1);
	assert_string_equal(v, "1");
	assert_int_equal(http_query_get("&&", "a", v, sizeof v), 0);
}

static void test_empty_value(void **state)
{
	(void)state;
	char v[64];
	strcpy(v, "junk");
	assert_int_equal(http_query_get("a=&b", "a", v, sizeof v), 1);
	assert_string_equal(v, "");
	strcpy(v, "junk");
	assert_int_equal(http_query_get("a=&b", "b", v, sizeof v), 1);
	assert_string_equal(v, "");
	assert_int_equal(http_query_get("b", "b", v, sizeof v), 1);
	assert_string_equal(v, "");
	/* an empty name matches an empty key */
	assert_int_equal(http_query_get("=x", "", v, sizeof v), 1);
	assert_string_equal(v, "x");
}

static void test_decoding(void **state)
{
	(void)state;
	char v[64];
	assert_int_equal(
		http_query_get("path=a%20b%2Fc+d", "path", v, sizeof v), 1);
	assert_string_equal(v, "a b/c d");
	assert_int_equal(http_query_get("p=%C3%bc", "p", v, sizeof v), 1);
	assert_string_equal(v, "\xc3\xbc");
	assert_int_equal(http_query_get("p=%2B%25%26%3D", "p", v, sizeof v), 1);
	assert_string_equal(v, "+%&=");
	assert_int_equal(http_query_get("p=a=b", "p", v, sizeof v), 1);
	assert_string_equal(v, "a=b");
	/* keys are decoded too */
	assert_int_equal(http_query_get("p%61th=x", "path", v, sizeof v), 1);
	assert_string_equal(v, "x");
	assert_int_equal(http_query_get("a+b=y", "a b", v, sizeof v), 1);
	assert_string_equal(v, "y");
	/* any byte but NUL may be decoded */
	assert_int_equal(http_query_get("p=%01%ff", "p", v, sizeof v), 1);
	assert_string_equal(v, "\x01\xff");
}

static void test_malformed(void **state)
{
	(void)state;
	char v[64];
	assert_int_equal(http_query_get("p=%zz", "p", v, sizeof v), -1);
	assert_int_equal(http_query_get("p=%4", "p", v, sizeof v), -1);
	assert_int_equal(http_query_get("p=%", "p", v, sizeof v), -1);
	assert_int_equal(http_query_get("p=%4&q=1", "p", v, sizeof v), -1);
	assert_int_equal(http_query_get("p=%g0", "p", v, sizeof v), -1);
	assert_int_equal(http_query_get("p=a%00b", "p", v, sizeof v), -1);
	assert_int_equal(http_query_get("p=%00", "p", v, sizeof v), -1);
	/* a malformed other parameter does not matter */
	assert_int_equal(http_query_get("q=%zz&p=1", "p", v, sizeof v), 1);
	assert_string_equal(v, "1");
	/* nor does a key that cannot be decoded */
	assert_int_equal(http_query_get("%zz=1&p=2", "p", v, sizeof v), 1);
	assert_string_equal(v, "2");
}

static void test_too_long(void **state)
{
	(void)state;
	char v[8];
	assert_int_equal(http_query_get("p=12345678", "p", v, sizeof v), -1);
	assert_int_equal(http_query_get("p=1234567", "p", v, sizeof v), 1);
	assert_string_equal(v, "1234567");
	/* the limit is on decoded bytes */
	assert_int_equal(
		http_query_get("p=%41%41%41%41%41%41%41", "p", v, sizeof v), 1);
	assert_string_equal(v, "AAAAAAA");
	assert_int_equal(http_query_get("p=", "p", v, 1), 1);
	assert_string_equal(v, "");
	assert_int_equal(http_query_get("p=x", "p", v, 1), -1);
	assert_int_equal(http_query_get("p=x", "p", v, 0), -1);
}

static void test_names_and_repeats(void **state)
{
	(void)state;
	char v[16];
	assert_int_equal(http_query_get("pathx=1&path=2", "path", v, sizeof v),
			 1);
	assert_string_equal(v, "2");
	assert_int_equal(http_query_get("xpath=1", "path", v, sizeof v), 0);
	assert_int_equal(http_query_get("pat=1", "path", v, sizeof v), 0);
	assert_int_equal(http_query_get("path=1&path=2", "path", v, sizeof v),
			 1);
	assert_string_equal(v, "1");
	/* first wins even when it is malformed */
	assert_int_equal(http_query_get("path=%zz&path=2", "path", v, sizeof v),
			 -1);
	/* case matters */
	assert_int_equal(http_query_get("Path=1", "path", v, sizeof v), 0);
}

static void test_status_text(void **state)
{
	(void)state;
	assert_string_equal(http_status_text(100), "Continue");
	assert_string_equal(http_status_text(200), "OK");
	assert_string_equal(http_status_text(201), "Created");
	assert_string_equal(http_status_text(204), "No Content");
	assert_string_equal(http_status_text(400), "Bad Request");
	assert_string_equal(http_status_text(401), "Unauthorized");
	assert_string_equal(http_status_text(403), "Forbidden");
	assert_string_equal(http_status_text(404), "Not Found");
	assert_string_equal(http_status_text(405), "Method Not Allowed");
	assert_string_equal(http_status_text(409), "Conflict");
	assert_string_equal(http_status_text(413), "Payload Too Large");
	assert_string_equal(http_status_text(431),
			    "Request Header Fields Too Large");
	assert_string_equal(http_status_text(500), "Internal Server Error");
	assert_string_equal(http_status_text(502), "Bad Gateway");
	assert_string_equal(http_status_text(503), "Service Unavailable");
	assert_string_equal(http_status_text(599), "Unknown");
	assert_string_equal(http_status_text(-1), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_present_absent),
		cmocka_unit_test(test_empty_value),
		cmocka_unit_test(test_decoding),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_names_and_repeats),
		cmocka_unit_test(test_status_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
