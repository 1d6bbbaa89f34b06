/* SPDX-License-Identifier: Apache-2.0 */
/* test_journal.c - journal records: atomic replace, iteration by prefix,
 * removal, and what happens to torn or foreign files. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "store/journal.h"

static char dir[] = "/tmp/sbx-journal-XXXXXX";

static int count_cb(const char *name, json_t *doc, void *ud)
{
	(void)name;
	int *n = ud;
	*n += (int)json_integer_value(json_object_get(doc, "v"));
	return 0;
}

static void put_replace_iterate_remove(void **state)
{
	(void)state;
	struct journal j;
	struct sb_err err;
	assert_int_equal(journal_open(&j, dir, &err), 0);
	json_t *a = json_pack("{s:i}", "v", 1);
	json_t *b = json_pack("{s:i}", "v", 10);
	assert_int_equal(journal_put(&j, "sb-one", a, &err), 0);
	assert_int_equal(journal_put(&j, "sb-one", b, &err), 0); /* replace */
	assert_int_equal(journal_put(&j, "lease-x", a, &err), 0);
	int n = 0;
	assert_int_equal(journal_each(&j, "sb-", count_cb, &n), 0);
	assert_int_equal(n, 10);
	n = 0;
	assert_int_equal(journal_each(&j, "", count_cb, &n), 0);
	assert_int_equal(n, 11);
	assert_int_equal(journal_remove(&j, "sb-one", &err), 0);
	assert_int_equal(journal_remove(&j, "sb-one", &err), 0); /* gone */
	n = 0;
	journal_each(&j, "sb-", count_cb, &n);
	assert_int_equal(n, 0);
	assert_int_equal(journal_put(&j, "../escape", a, &err), -1);
	assert_int_equal(journal_put(&j, ".hidden", a, &err), -1);
	json_decref(a);
	json_decref(b);
	journal_close(&j);
}

static void bad_records_are_dropped_and_temps_swept(void **state)
{
	(void)state;
	char path[256];
	snprintf(path, sizeof path, "%s/journal/sb-torn", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"v\": 1", f); /* torn: no closing brace */
	fclose(f);
	snprintf(path, sizeof path, "%s/journal/.sb-x.tmp", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	struct journal j;
	struct sb_err err;
	assert_int_equal(journal_open(&j, dir, &err), 0);
	assert_int_equal(access(path, F_OK), -1); /* temp swept */
	int n = 0;
	assert_int_equal(journal_each(&j, "sb-", count_cb, &n), 0);
	assert_int_equal(n, 0);
	snprintf(path, sizeof path, "%s/journal/sb-torn", dir);
	assert_int_equal(access(path, F_OK), -1); /* dropped */
	journal_close(&j);
}

static int stop_cb(const char *name, json_t *doc, void *ud)
{
	(void)name;
	(void)doc;
	(*(int *)ud)++;
	return -7;
}

static void callback_stops_iteration(void **state)
{
	(void)state;
	struct journal j;
	struct sb_err err;
	assert_int_equal(journal_open(&j, dir, &err), 0);
	json_t *a = json_pack("{s:i}", "v", 1);
	journal_put(&j, "lease-1", a, &err);
	journal_put(&j, "lease-2", a, &err);
	int calls = 0;
	assert_int_equal(journal_each(&j, "lease-", stop_cb, &calls), -7);
	assert_int_equal(calls, 1);
	json_decref(a);
	journal_close(&j);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(put_replace_iterate_remove),
		cmocka_unit_test(bad_records_are_dropped_and_temps_swept),
		cmocka_unit_test(callback_stops_iteration),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (sb_rm_rf(dir) < 0)
		rc = 1;
	return rc;
}
