/* Unit tests of query-string decoding and status texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "api/http.h"

static void test_present_absent_empty(void **state)
{
	(void)state;
	char v[64];
	assert_int_equal(http_query_get("a=1&b=two", "b", v, sizeof v), 1);
	assert_string_equal(v, "two");
	assert_int_equal(http_query_get("a=1&b=two", "c", v, sizeof v), 0);
	assert_int_equal(http_query_get("", "a", v, sizeof v), 0);
	assert_int_equal(http_query_get(NULL, "a", v, sizeof v), 0);
	assert_int_equal(http_query_get("a=&b", "a", v, sizeof v), 1);
	assert_string_equal(v, "");
	assert_int_equal(http_query_get("a=&b", "b", v, sizeof v), 1);
	assert_string_equal(v, "");
}

static void test_decoding(void **state)
{
	(void)state;
	char v[64];
	assert_int_equal(
		http_query_get("path=a%20b%2Fc+d", "path", v, sizeof v), 1);
	assert_string_equal(v, "a b/c d");
	assert_int_equal(http_query_get("p=%C3%BC", "p", v, sizeof v), 1);
	assert_string_equal(v, "\xc3\xbc");
	assert_int_equal(http_query_get("p%61th=x", "path", v, sizeof v), 1);
	assert_string_equal(v, "x");
}

static void test_malformed(void **state)
{
	(void)state;
	char v[8];
	assert_int_equal(http_query_get("p=%zz", "p", v, sizeof v), -1);
	assert_int_equal(http_query_get("p=%4", "p", v, sizeof v), -1);
	assert_int_equal(http_query_get("p=%", "p", v, sizeof v), -1);
	assert_int_equal(http_query_get("p=a%00b", "p", v, sizeof v), -1);
	assert_int_equal(http_query_get("p=12345678", "p", v, sizeof v), -1);
	assert_int_equal(http_query_get("p=1234567", "p", v, sizeof v), 1);
}

static void test_names_and_repeats(void **state)
{
	(void)state;
	char v[16];
	assert_int_equal(http_query_get("pathx=1&path=2", "path", v, sizeof v),
			 1);
	assert_string_equal(v, "2");
	assert_int_equal(http_query_get("xpath=1", "path", v, sizeof v), 0);
	assert_int_equal(http_query_get("path=1&path=2", "path", v, sizeof v),
			 1);
	assert_string_equal(v, "1");
}

static void test_status_text(void **state)
{
	(void)state;
	assert_string_equal(http_status_text(404), "Not Found");
	assert_string_equal(http_status_text(413), "Payload Too Large");
	assert_string_equal(http_status_text(503), "Service Unavailable");
	assert_string_equal(http_status_text(599), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_present_absent_empty),
		cmocka_unit_test(test_decoding),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_names_and_repeats),
		cmocka_unit_test(test_status_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
