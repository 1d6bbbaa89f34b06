/* SPDX-License-Identifier: Apache-2.0 */
/* test_journal_spares.c - removed journal records and store entries are
 * kept as spares and reused: same inode, never read as a record, a spare
 * taken but not written reads as no record, and their number is bounded. */
#include <dirent.h>
#include <fcntl.h>
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
#include "store/journal.h"
#include "store/spares.h"

static char root[] = "/tmp/sbx-spares-XXXXXX";

/* A fresh state dir for one test: <root>/<name>. */
static void state_dir(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", root, name);
	assert_int_equal(mkdir(out, 0700), 0);
}

static ino_t ino_of(const char *state, const char *name)
{
	char path[512];
	struct stat st;
	snprintf(path, sizeof path, "%s/journal/%s", state, name);
	if (stat(path, &st) < 0)
		return 0;
	return st.st_ino;
}

/* Entries of <state>/journal whose name starts with ".spare-". */
static int count_spares(const char *state)
{
	char path[512];
	snprintf(path, sizeof path, "%s/journal", state);
	DIR *d = opendir(path);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += strncmp(e->d_name, ".spare-", 7) == 0;
	closedir(d);
	return n;
}

static void put_v(struct journal *j, const char *name, int v)
{
	struct sb_err err;
	json_t *doc = json_pack("{s:i}", "v", v);
	assert_int_equal(journal_put(j, name, doc, &err), 0);
	json_decref(doc);
}

struct seen {
	int records, empty, sum;
	char names[16][64];
};

static int seen_cb(const char *name, json_t *doc, void *ud)
{
	struct seen *s = ud;
	if (s->records < 16)
		snprintf(s->names[s->records], sizeof s->names[0], "%s", name);
	s->records++;
	s->empty += json_object_size(doc) == 0;
	s->sum += (int)json_integer_value(json_object_get(doc, "v"));
	return 0;
}

static void put_after_remove_reuses_the_inode(void **state)
{
	(void)state;
	char dir[256];
	state_dir(dir, sizeof dir, "reuse");
	struct journal j;
	struct sb_err err;
	assert_int_equal(journal_open(&j, dir, &err), 0);
	put_v(&j, "sb-one", 7);
	ino_t first = ino_of(dir, "sb-one");
	assert_true(first != 0);
	assert_int_equal(journal_remove(&j, "sb-one", &err), 0);
	assert_int_equal(ino_of(dir, "sb-one"), 0);
	assert_int_equal(count_spares(dir), 1);
	put_v(&j, "sb-two", 42);
	assert_int_equal(ino_of(dir, "sb-two"), first);
	assert_int_equal(count_spares(dir), 0);
	struct seen s = {0};
	assert_int_equal(journal_each(&j, "", seen_cb, &s), 0);
	assert_int_equal(s.records, 1);
	assert_string_equal(s.names[0], "sb-two");
	assert_int_equal(s.sum, 42);
	journal_close(&j);
}

/* A spare left by a long record is cut to the new record's length. */
static void a_longer_spare_is_cut(void **state)
{
	(void)state;
	char dir[256], path[512], big[1500];
	state_dir(dir, sizeof dir, "cut");
	struct journal j;
	struct sb_err err;
	assert_int_equal(journal_open(&j, dir, &err), 0);
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	json_t *doc = json_pack("{s:s}", "pad", big);
	assert_int_equal(journal_put(&j, "lease-a", doc, &err), 0);
	json_decref(doc);
	assert_int_equal(journal_remove(&j, "lease-a", &err), 0);
	put_v(&j, "lease-b", 3);
	struct stat st;
	snprintf(path, sizeof path, "%s/journal/lease-b", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 512);
	struct seen s = {0};
	journal_each(&j, "lease-", seen_cb, &s);
	assert_int_equal(s.records, 1);
	assert_int_equal(s.sum, 3);
	journal_close(&j);
}

static void spares_are_never_records(void **state)
{
	(void)state;
	char dir[256], path[512];
	state_dir(dir, sizeof dir, "never");
	struct journal j;
	struct sb_err err;
	assert_int_equal(journal_open(&j, dir, &err), 0);
	put_v(&j, "sb-a", 1);
	put_v(&j, "lease-a", 1);
	put_v(&j, "sb-b", 100);
	assert_int_equal(journal_remove(&j, "sb-a", &err), 0);
	assert_int_equal(journal_remove(&j, "lease-a", &err), 0);
	assert_int_equal(count_spares(dir), 2);
	/* even one that holds a record's text (not what removal leaves) */
	snprintf(path, sizeof path, "%s/journal/.spare-9", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"v\": 1000}", f);
	fclose(f);
	struct seen s = {0};
	assert_int_equal(journal_each(&j, "", seen_cb, &s), 0);
	assert_int_equal(s.records, 1);
	assert_string_equal(s.names[0], "sb-b");
	assert_int_equal(s.sum, 100);
	journal_close(&j);
	/* a restart keeps the blank ones as spares, not records, and drops
	 * the other: taken and cut short, it could read as a record */
	assert_int_equal(journal_open(&j, dir, &err), 0);
	memset(&s, 0, sizeof s);
	journal_each(&j, "", seen_cb, &s);
	assert_int_equal(s.records, 1);
	assert_int_equal(count_spares(dir), 2);
	assert_int_equal(access(path, F_OK), -1);
	journal_close(&j);
}

/* The daemon killed between renaming a spare into place and writing the
 * record: the name holds a blank spare, which reads as cleared ({}), and
 * so does a record killed between its blanking and its rename aside. */
static void a_spare_taken_but_not_written_is_no_record(void **state)
{
	(void)state;
	char dir[256], from[512], to[512];
	state_dir(dir, sizeof dir, "crash");
	struct journal j;
	struct sb_err err;
	assert_int_equal(journal_open(&j, dir, &err), 0);
	put_v(&j, "sb-old", 5);
	assert_int_equal(journal_remove(&j, "sb-old", &err), 0);
	journal_close(&j);
	snprintf(from, sizeof from, "%s/journal/.spare-0", dir);
	snprintf(to, sizeof to, "%s/journal/sb-new", dir);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(journal_open(&j, dir, &err), 0);
	struct seen s = {0};
	assert_int_equal(journal_each(&j, "sb-", seen_cb, &s), 0);
	assert_int_equal(s.records, 1);
	assert_int_equal(s.empty, 1); /* cleared, not sb-old's record */
	assert_int_equal(s.sum, 0);
	/* putting the name now writes over it */
	put_v(&j, "sb-new", 8);
	memset(&s, 0, sizeof s);
	journal_each(&j, "sb-", seen_cb, &s);
	assert_int_equal(s.empty, 0);
	assert_int_equal(s.sum, 8);
	journal_close(&j);
}

static void spares_are_bounded(void **state)
{
	(void)state;
	char dir[256], name[32];
	state_dir(dir, sizeof dir, "bounded");
	struct journal j;
	struct sb_err err;
	assert_int_equal(journal_open(&j, dir, &err), 0);
	for (int i = 0; i < STORE_SPARES_MAX + 20; i++) {
		snprintf(name, sizeof name, "lease-%d", i);
		put_v(&j, name, 1);
	}
	for (int i = 0; i < STORE_SPARES_MAX + 20; i++) {
		snprintf(name, sizeof name, "lease-%d", i);
		assert_int_equal(journal_remove(&j, name, &err), 0);
	}
	assert_int_equal(count_spares(dir), STORE_SPARES_MAX);
	struct seen s = {0};
	journal_each(&j, "", seen_cb, &s);
	assert_int_equal(s.records, 0);
	journal_close(&j);
	/* names beyond the bound (an older daemon's, a stray) go at open */
	char path[512];
	snprintf(path, sizeof path, "%s/journal/.spare-%d", dir,
		 STORE_SPARES_MAX + 5);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(count_spares(dir), STORE_SPARES_MAX + 1);
	assert_int_equal(journal_open(&j, dir, &err), 0);
	assert_int_equal(count_spares(dir), STORE_SPARES_MAX);
	assert_int_equal(access(path, F_OK), -1);
	journal_close(&j);
}

/* Spare dirs (the sandboxes' scratch dirs): put, take, and a scan that
 * keeps only spares of the kind asked for. */
static void spare_dirs(void **state)
{
	(void)state;
	char dir[256];
	state_dir(dir, sizeof dir, "dirs");
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(mkdirat(fd, "sb-1", 0700), 0);
	struct stat before, after;
	assert_int_equal(fstatat(fd, "sb-1", &before, 0), 0);
	struct store_spares sp = {0};
	assert_int_equal(store_spares_put(&sp, fd, "sb-1"), 1);
	assert_int_equal(faccessat(fd, "sb-1", F_OK, 0), -1);
	assert_int_equal(faccessat(fd, ".spare-0", F_OK, 0), 0);
	/* a name that exists is not replaced */
	assert_int_equal(mkdirat(fd, "sb-2", 0700), 0);
	assert_int_equal(store_spares_take(&sp, fd, "sb-2"), -1);
	assert_int_equal(store_spares_take(&sp, fd, "sb-3"), 1);
	assert_int_equal(fstatat(fd, "sb-3", &after, 0), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_int_equal(store_spares_take(&sp, fd, "sb-4"), 0); /* none */
	/* a scan for dirs keeps dir spares, drops a file one */
	assert_int_equal(store_spares_put(&sp, fd, "sb-3"), 1);
	int f = openat(fd, ".spare-7", O_WRONLY | O_CREAT, 0600);
	assert_true(f >= 0);
	close(f);
	assert_int_equal(store_spares_scan(&sp, fd, S_IFDIR), 1);
	assert_int_equal(faccessat(fd, ".spare-7", F_OK, 0), -1);
	assert_true(store_name_spare(".spare-12"));
	assert_false(store_name_spare(".spare-"));
	assert_false(store_name_spare(".spare-1x"));
	assert_false(store_name_spare("spare-1"));
	close(fd);
}

int main(void)
{
	if (!mkdtemp(root))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(put_after_remove_reuses_the_inode),
		cmocka_unit_test(a_longer_spare_is_cut),
		cmocka_unit_test(spares_are_never_records),
		cmocka_unit_test(a_spare_taken_but_not_written_is_no_record),
		cmocka_unit_test(spares_are_bounded),
		cmocka_unit_test(spare_dirs),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (sb_rm_rf(root) < 0)
		rc = 1;
	return rc;
}
