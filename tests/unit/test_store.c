/* SPDX-License-Identifier: Apache-2.0 */
/* test_store.c - the on-disk stores' shared directory rules (store.h):
 * opening creates a private dir, temporary names are recognised and swept,
 * a file is replaced whole, an entry is published once (or kept when a
 * twin won), and removal never follows a symlink out of the store. Needs
 * no root. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "store/store.h"

static char root[] = "/tmp/sbx-store-XXXXXX";

static void touch(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			0600);
	assert_true(fd >= 0);
	assert_int_equal(sb_write_all(fd, text, strlen(text)), 0);
	close(fd);
}

static void expect_text(int dirfd, const char *name, const char *want)
{
	char buf[256] = {0};
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	assert_int_equal(n, (ssize_t)strlen(want));
	assert_string_equal(buf, want);
}

static bool exists(int dirfd, const char *name)
{
	struct stat st;
	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int count_entries(int dirfd)
{
	DIR *d = sb_opendir_at(dirfd);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static void open_creates_a_private_dir(void **state)
{
	(void)state;
	struct store_dir d;
	struct sb_err err;
	assert_int_equal(store_dir_open(&d, root, "a", &err), 0);
	struct stat st;
	assert_int_equal(fstat(d.fd, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	char want[PATH_MAX];
	snprintf(want, sizeof want, "%s/a", root);
	assert_string_equal(d.path, want);
	store_dir_close(&d);
	assert_int_equal(d.fd, -1);
	/* again: it is there already */
	assert_int_equal(store_dir_open(&d, root, "a", &err), 0);
	store_dir_close(&d);
	/* a parent that does not exist is an error with the path */
	assert_int_equal(store_dir_open(&d, "/nonexistent-sbx", "a", &err), -1);
	assert_int_equal(err.sys_errno, ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent-sbx/a"));
}

static void temporary_names(void **state)
{
	(void)state;
	assert_true(store_name_temporary(".tmp-0123456789abcdef", NULL));
	assert_true(store_name_temporary(".trash-0123456789abcdef", NULL));
	assert_true(store_name_temporary(".sb-1.tmp", NULL));
	assert_false(store_name_temporary("sb-1.tmp", NULL));
	assert_false(store_name_temporary("tmp-1", NULL));
	assert_false(store_name_temporary(".tmp", NULL));
	assert_false(store_name_temporary("snapshot", NULL));
	assert_false(store_name_temporary(".hidden", NULL));

	char a[STORE_TMP_NAME_MAX], b[STORE_TMP_NAME_MAX];
	struct sb_err err;
	assert_int_equal(store_trash_name(a, &err), 0);
	assert_int_equal(store_trash_name(b, &err), 0);
	assert_int_equal(strlen(a), strlen(".trash-") + 16);
	assert_true(store_name_temporary(a, NULL));
	assert_string_not_equal(a, b);
}

static void sweep_removes_what_is_picked_only(void **state)
{
	(void)state;
	struct store_dir d;
	struct sb_err err;
	assert_int_equal(store_dir_open(&d, root, "sweep", &err), 0);
	char tmp[STORE_TMP_NAME_MAX];
	assert_int_equal(store_mkdtemp(d.fd, tmp, &err), 0);
	assert_int_equal(strncmp(tmp, ".tmp-", 5), 0);
	/* a half-built tree, with a nested dir and a file */
	char sub[64];
	snprintf(sub, sizeof sub, "%s/x", tmp);
	assert_int_equal(mkdirat(d.fd, sub, 0700), 0);
	snprintf(sub, sizeof sub, "%s/x/f", tmp);
	touch(d.fd, sub, "half");
	touch(d.fd, ".rec.tmp", "torn");
	touch(d.fd, "rec", "whole");
	assert_int_equal(mkdirat(d.fd, "keep", 0700), 0);
	assert_int_equal(store_sweep(d.fd, store_name_temporary, NULL), 2);
	assert_false(exists(d.fd, tmp));
	assert_false(exists(d.fd, ".rec.tmp"));
	assert_true(exists(d.fd, "rec"));
	assert_true(exists(d.fd, "keep"));
	assert_int_equal(count_entries(d.fd), 2);
	store_dir_close(&d);
}

static bool starts_with_k(const char *name, void *ud)
{
	(*(int *)ud)++;
	return name[0] == 'k';
}

static void sweep_by_predicate(void **state)
{
	(void)state;
	struct store_dir d;
	struct sb_err err;
	assert_int_equal(store_dir_open(&d, root, "pred", &err), 0);
	touch(d.fd, "k1", "x");
	touch(d.fd, "other", "x");
	assert_int_equal(mkdirat(d.fd, "k2", 0700), 0);
	touch(d.fd, "k2/inner", "x");
	int offered = 0;
	assert_int_equal(store_sweep(d.fd, starts_with_k, &offered), 2);
	assert_int_equal(offered, 3); /* never "." or ".." */
	assert_int_equal(count_entries(d.fd), 1);
	assert_true(exists(d.fd, "other"));
	store_dir_close(&d);
}

static void write_atomic_replaces_whole(void **state)
{
	(void)state;
	struct store_dir d;
	struct sb_err err;
	assert_int_equal(store_dir_open(&d, root, "files", &err), 0);
	assert_int_equal(store_write_atomic(d.fd, "f.json", "first", 5, &err),
			 0);
	expect_text(d.fd, "f.json", "first");
	assert_int_equal(store_write_atomic(d.fd, "f.json", "2nd", 3, &err), 0);
	expect_text(d.fd, "f.json", "2nd"); /* no tail of the longer one */
	struct stat st;
	assert_int_equal(fstatat(d.fd, "f.json", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(count_entries(d.fd), 1); /* no temporary left */
	/* a name with a slash is refused, nothing written */
	assert_int_equal(store_write_atomic(d.fd, "a/b", "x", 1, &err), -1);
	assert_int_equal(err.sys_errno, EINVAL);
	/* a failed write leaves the old file and no temporary: a dir where
	 * the temporary would go makes the open fail */
	assert_int_equal(mkdirat(d.fd, ".g.tmp", 0700), 0);
	touch(d.fd, "g", "old");
	assert_int_equal(store_write_atomic(d.fd, "g", "new", 3, &err), -1);
	assert_non_null(strstr(err.msg, "write g"));
	expect_text(d.fd, "g", "old");
	store_dir_close(&d);
}

static void publish_modes(void **state)
{
	(void)state;
	struct store_dir d;
	struct sb_err err;
	assert_int_equal(store_dir_open(&d, root, "pub", &err), 0);
	char t1[STORE_TMP_NAME_MAX], t2[STORE_TMP_NAME_MAX];
	assert_int_equal(store_mkdtemp(d.fd, t1, &err), 0);
	touch(d.fd, ".tmp-marker", "x");
	char f[64];
	snprintf(f, sizeof f, "%s/one", t1);
	touch(d.fd, f, "1");
	assert_int_equal(
		store_publish(d.fd, t1, d.fd, "name", STORE_NOREPLACE, &err),
		0);
	assert_false(exists(d.fd, t1));
	expect_text(d.fd, "name/one", "1");

	/* NOREPLACE: EEXIST, the tmp stays, the published one is untouched */
	assert_int_equal(store_mkdtemp(d.fd, t2, &err), 0);
	assert_int_equal(
		store_publish(d.fd, t2, d.fd, "name", STORE_NOREPLACE, &err),
		-1);
	assert_int_equal(err.sys_errno, EEXIST);
	assert_true(exists(d.fd, t2));
	expect_text(d.fd, "name/one", "1");

	/* KEEP: a twin already there is as good (1), the tmp is the
	 * caller's to remove */
	snprintf(f, sizeof f, "%s/two", t2);
	touch(d.fd, f, "2");
	assert_int_equal(
		store_publish(d.fd, t2, d.fd, "name", STORE_KEEP, &err), 1);
	assert_true(exists(d.fd, t2));
	expect_text(d.fd, "name/one", "1");
	assert_int_equal(store_remove(d.fd, t2), 0);
	assert_false(exists(d.fd, t2));

	/* REPLACE: a file goes over a file */
	touch(d.fd, "r", "old");
	touch(d.fd, ".r.new", "new");
	assert_int_equal(
		store_publish(d.fd, ".r.new", d.fd, "r", STORE_REPLACE, &err),
		0);
	expect_text(d.fd, "r", "new");

	/* across directories, by absolute path */
	char from[PATH_MAX], to[PATH_MAX];
	snprintf(from, sizeof from, "%s/pub/r", root);
	snprintf(to, sizeof to, "%s/moved", root);
	assert_int_equal(
		store_publish(AT_FDCWD, from, AT_FDCWD, to, STORE_KEEP, &err),
		0);
	assert_false(exists(d.fd, "r"));
	store_dir_close(&d);
}

static void remove_does_not_follow_symlinks(void **state)
{
	(void)state;
	struct store_dir d, out;
	struct sb_err err;
	assert_int_equal(store_dir_open(&d, root, "rm", &err), 0);
	assert_int_equal(store_dir_open(&out, root, "outside", &err), 0);
	touch(out.fd, "precious", "keep me");
	assert_int_equal(mkdirat(d.fd, "t", 0700), 0);
	char link[PATH_MAX + 8];
	snprintf(link, sizeof link, "%s", out.path);
	assert_int_equal(symlinkat(link, d.fd, "t/up"), 0);
	assert_int_equal(mkdirat(d.fd, "t/deep", 0700), 0);
	assert_int_equal(mkdirat(d.fd, "t/deep/er", 0700), 0);
	touch(d.fd, "t/deep/er/f", "x");
	assert_int_equal(store_remove(d.fd, "t"), 0);
	assert_false(exists(d.fd, "t"));
	expect_text(out.fd, "precious", "keep me");
	/* a symlink itself is removed, not its target */
	assert_int_equal(symlinkat(link, d.fd, "l"), 0);
	assert_int_equal(store_remove(d.fd, "l"), 0);
	assert_false(exists(d.fd, "l"));
	expect_text(out.fd, "precious", "keep me");
	/* missing is fine */
	assert_int_equal(store_remove(d.fd, "missing"), 0);
	store_dir_close(&out);
	store_dir_close(&d);
}

int main(void)
{
	if (!mkdtemp(root))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(open_creates_a_private_dir),
		cmocka_unit_test(temporary_names),
		cmocka_unit_test(sweep_removes_what_is_picked_only),
		cmocka_unit_test(sweep_by_predicate),
		cmocka_unit_test(write_atomic_replaces_whole),
		cmocka_unit_test(publish_modes),
		cmocka_unit_test(remove_does_not_follow_symlinks),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (sb_rm_rf(root) < 0)
		rc = 1;
	return rc;
}
