/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the extractor's path rules (src/archive/extract.c): which
 * entry paths and which symlink targets an upload may hold. Kernel-level
 * checks of the same rules are in fuzz/fuzz_archive.c and the e2e tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "archive/extract.h"

static void test_paths(void **state)
{
	(void)state;
	assert_int_equal(extract_path_ok("a"), 0);
	assert_int_equal(extract_path_ok("./a/b"), 0);
	assert_int_equal(extract_path_ok("a/..b/c.."), 0);
	assert_int_equal(extract_path_ok("/a"), -1);
	assert_int_equal(extract_path_ok("a/../b"), -1);
	assert_int_equal(extract_path_ok(".."), -1);
	assert_int_equal(extract_path_ok(""), -1);
	assert_int_equal(extract_path_ok(NULL), -1);
}

static void test_symlinks(void **state)
{
	(void)state;
	/* inside: down, or up no further than the link's own directory */
	assert_int_equal(extract_symlink_ok("link", "target"), 0);
	assert_int_equal(extract_symlink_ok("link", "."), 0);
	assert_int_equal(extract_symlink_ok("link", "./a/b"), 0);
	assert_int_equal(extract_symlink_ok("a/link", "../b"), 0);
	assert_int_equal(extract_symlink_ok("./a//b/link", "../../c"), 0);
	assert_int_equal(extract_symlink_ok("a/b/link/", "../../c"), 0);
	/* out */
	assert_int_equal(extract_symlink_ok("link", "/etc/passwd"), -1);
	assert_int_equal(extract_symlink_ok("link", ".."), -1);
	assert_int_equal(extract_symlink_ok("a/link", "../.."), -1);
	assert_int_equal(extract_symlink_ok("./a/./link", "../../x"), -1);
	/* ".." after a name: that name may itself be a link to "." */
	assert_int_equal(extract_symlink_ok("link", "self/.."), -1);
	assert_int_equal(extract_symlink_ok("a/link", "b/../c"), -1);
	assert_int_equal(extract_symlink_ok("link", ""), -1);
	assert_int_equal(extract_symlink_ok("link", NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_symlinks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
