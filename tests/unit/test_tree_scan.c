/* SPDX-License-Identifier: Apache-2.0 */
/* test_tree_scan.c - what a snapshot of a tree counts, and that the scan
 * stops at its bounds. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "sandbox/tree_scan.h"

static char dir[] = "/tmp/sbx-scan-XXXXXX";

static int open_dir(void)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void empty_dirs_count_a_block_each(void **state)
{
	(void)state;
	char path[256];
	for (int i = 0; i < 100; i++) {
		snprintf(path, sizeof path, "%s/d%d", dir, i);
		assert_int_equal(mkdir(path, 0755), 0);
	}
	snprintf(path, sizeof path, "%s/d0/link", dir);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	int fd = open_dir();
	struct tree_scan_stats st;
	struct sb_err err;
	assert_int_equal(tree_scan(fd, 0, 0, &st, &err), 0);
	assert_int_equal(st.entries, 101);
	assert_true(st.charged >= 101u * TREE_SCAN_ENTRY_BYTES);
	/* over either bound: EFBIG, stopped just past it */
	assert_int_equal(tree_scan(fd, 0, 50, &st, &err), -1);
	assert_int_equal(err.sys_errno, EFBIG);
	assert_int_equal(st.entries, 51);
	assert_int_equal(
		tree_scan(fd, 10u * TREE_SCAN_ENTRY_BYTES, 0, &st, &err), -1);
	assert_int_equal(err.sys_errno, EFBIG);
	/* a dir's own blocks count too (none on tmpfs, one here on ext4) */
	assert_true(st.entries <= 11);
	assert_true(st.charged > 10u * TREE_SCAN_ENTRY_BYTES);
	assert_true(st.charged <=
		    10u * TREE_SCAN_ENTRY_BYTES + 4u * TREE_SCAN_ENTRY_BYTES);
	close(fd);
}

static void data_counts_in_whole_blocks_and_holes_do_not(void **state)
{
	(void)state;
	char path[256];
	snprintf(path, sizeof path, "%s/data", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof path, "%s/data/one", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("x", f);
	fclose(f);
	snprintf(path, sizeof path, "%s/data/sparse", dir);
	int s = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(s >= 0);
	assert_int_equal(ftruncate(s, (off_t)1 << 34), 0); /* 16 GiB hole */
	close(s);
	snprintf(path, sizeof path, "%s/data", dir);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	struct tree_scan_stats st;
	struct sb_err err;
	assert_int_equal(tree_scan(fd, 0, 0, &st, &err), 0);
	assert_int_equal(st.entries, 2);
	/* "one": its entry and one block; "sparse": its entry only */
	assert_true(st.charged >= 3u * TREE_SCAN_ENTRY_BYTES);
	assert_true(st.charged < 8u * TREE_SCAN_ENTRY_BYTES);
	close(fd);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_dirs_count_a_block_each),
		cmocka_unit_test(data_counts_in_whole_blocks_and_holes_do_not),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (sb_rm_rf(dir) < 0)
		rc = 1;
	return rc;
}
