/* SPDX-License-Identifier: Apache-2.0 */
/* test_secrets.c - named secret files: parsing, refusals, and that no
 * error message ever carries a secret's value. */
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
#include "config/secrets.h"

static char dir[] = "/tmp/sbx-secrets-XXXXXX";

static void put(const char *name, const char *content, mode_t mode)
{
	char path[256];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	unlink(path);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static const char *value_of(const struct sb_secret_env *s, const char *k)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->keys[i], k) == 0)
			return s->values[i];
	return NULL;
}

static void loads_pairs_comments_and_overrides(void **state)
{
	(void)state;
	put("db", "# the database\nDB_USER=alice\r\n\nDB_PASS=p=ss word\n",
	    0600);
	put("api", "API_KEY=k1\nDB_USER=bob", 0400);
	char *names[] = {"db", "api"};
	struct sb_secret_env s;
	struct sb_err err;
	assert_int_equal(sb_secrets_load(dir, names, 2, &s, &err), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(value_of(&s, "DB_USER"), "bob");
	assert_string_equal(value_of(&s, "DB_PASS"), "p=ss word");
	assert_string_equal(value_of(&s, "API_KEY"), "k1");
	sb_secrets_free(&s);
	assert_int_equal(s.n, 0);
}

static void no_names_needs_no_directory(void **state)
{
	(void)state;
	struct sb_secret_env s;
	struct sb_err err;
	assert_int_equal(sb_secrets_load("/nonexistent", NULL, 0, &s, &err), 0);
	assert_int_equal(s.n, 0);
}

static void expect_refusal(const char *name, const char *needle)
{
	char *names[] = {(char *)name};
	struct sb_secret_env s;
	struct sb_err err = {0};
	assert_int_equal(sb_secrets_load(dir, names, 1, &s, &err), -1);
	assert_non_null(strstr(err.msg, needle));
	assert_null(strstr(err.msg, "TOPSECRET"));
	assert_int_equal(s.n, 0);
}

static void refuses_bad_files_without_leaking(void **state)
{
	(void)state;
	put("badline", "GOOD=1\nTOPSECRET without equals\n", 0600);
	expect_refusal("badline", "line 2");
	put("badkey", "1ABC=TOPSECRET\n", 0600);
	expect_refusal("badkey", "line 1");
	put("writable", "K=TOPSECRET\n", 0622);
	expect_refusal("writable", "writable");
	/* readable by others is refused too, and so is any group bit */
	put("readable", "K=TOPSECRET\n", 0644);
	expect_refusal("readable", "group or other");
	put("groupx", "K=TOPSECRET\n", 0610);
	expect_refusal("groupx", "mode 0610");
	expect_refusal("missing", "missing");
	expect_refusal("../etc", "bad name");
	char target[256], link[256];
	snprintf(target, sizeof target, "%s/db", dir);
	snprintf(link, sizeof link, "%s/link", dir);
	assert_int_equal(symlink(target, link), 0);
	expect_refusal("link", "link");
}

static void refuses_huge_files(void **state)
{
	(void)state;
	char *big = malloc(SB_SECRET_FILE_MAX + 2);
	assert_non_null(big);
	memset(big, 'A', SB_SECRET_FILE_MAX + 1);
	memcpy(big, "K=", 2);
	big[SB_SECRET_FILE_MAX + 1] = '\0';
	put("big", big, 0600);
	free(big);
	expect_refusal("big", "larger than");
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(loads_pairs_comments_and_overrides),
		cmocka_unit_test(no_names_needs_no_directory),
		cmocka_unit_test(refuses_bad_files_without_leaking),
		cmocka_unit_test(refuses_huge_files),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (sb_rm_rf(dir) < 0)
		rc = 1;
	return rc;
}
