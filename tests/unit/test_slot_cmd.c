/* SPDX-License-Identifier: Apache-2.0 */
/* test_slot_cmd.c - a slot command's argv, working directory and
 * environment (pool/slot_cmd.h): the defaults, and which of the image's,
 * the profile's, the secrets' and the caller's definitions wins. No
 * sandbox runs: the slot, its sandbox and pool are plain structs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pool/pool.h"
#include "pool/slot_cmd.h"

static struct sb_profile profile;
static struct sandbox sb;
static struct sbx_slot slot;
static struct pool pool;
static struct sb_secret_env secrets;

static void world(void)
{
	memset(&profile, 0, sizeof profile);
	memset(&sb, 0, sizeof sb);
	memset(&slot, 0, sizeof slot);
	memset(&pool, 0, sizeof pool);
	memset(&secrets, 0, sizeof secrets);
	profile.workspace_dir = "/workspace";
	sb.profile = &profile;
	sb.owner = &pool;
	slot.sb = &sb;
	snprintf(slot.id, sizeof slot.id, "sbx-1_slot_0.3");
}

/* The value of NAME in c's environment, NULL if unset; fails the test
 * when the name is there twice. */
static const char *env_get(const struct slot_cmd *c, const char *name)
{
	size_t n = strlen(name);
	const char *found = NULL;
	for (size_t i = 0; i < c->envc; i++) {
		if (strncmp(c->envp[i], name, n) == 0 && c->envp[i][n] == '=') {
			assert_null(found);
			found = c->envp[i] + n + 1;
		}
	}
	assert_null(c->envp[c->envc]);
	return found;
}

static void test_defaults(void **state)
{
	(void)state;
	world();
	struct slot_cmd c = {0};
	assert_int_equal(slot_cmd_init(&c, &slot, "echo hi", ""), 0);
	assert_string_equal(c.argv[0], "/bin/bash");
	assert_string_equal(c.argv[1], "-c");
	assert_string_equal(c.argv[2], "echo hi");
	assert_null(c.argv[3]);
	assert_string_equal(c.cwd, "/workspace");
	assert_string_equal(env_get(&c, "PATH"),
			    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/"
			    "bin:/sbin:/bin");
	assert_string_equal(env_get(&c, "HOME"), "/workspace");
	assert_string_equal(env_get(&c, "USER"), "slotbox");
	assert_string_equal(env_get(&c, "SHELL"), "/bin/bash");
	assert_string_equal(env_get(&c, "LANG"), "C.UTF-8");
	assert_string_equal(env_get(&c, "PWD"), "/workspace");
	assert_string_equal(env_get(&c, "SLOTBOX_SLOT_ID"), "sbx-1_slot_0.3");
	assert_null(env_get(&c, "CUDA_VISIBLE_DEVICES"));
	slot_cmd_free(&c);
	assert_null(c.envp);
}

static void test_cwd_and_shell(void **state)
{
	(void)state;
	world();
	struct slot_cmd c = {0};
	assert_int_equal(slot_cmd_init(&c, &slot, "true", "src/x"), 0);
	assert_string_equal(c.cwd, "/workspace/src/x");
	assert_string_equal(env_get(&c, "PWD"), "/workspace/src/x");
	slot_cmd_free(&c);
	/* an image without bash: its /bin/sh, named in SHELL too */
	slot.no_bash = true;
	assert_int_equal(slot_cmd_init(&c, &slot, "true", "/tmp"), 0);
	assert_string_equal(c.cwd, "/tmp");
	assert_string_equal(c.argv[0], "/bin/sh");
	assert_string_equal(env_get(&c, "SHELL"), "/bin/sh");
	slot_cmd_free(&c);
}

/* Later sources replace earlier ones: defaults < image < profile <
 * secrets < the caller's own. */
static void test_precedence(void **state)
{
	(void)state;
	world();
	char *image_env[] = {"PATH=/image/bin", "A=image", "B=image",
			     "C=image",		"1BAD=x",  "NOEQUALS"};
	sb.image_env = image_env;
	sb.n_image_env = sizeof image_env / sizeof *image_env;
	struct sb_kv vars[] = {{"B", "profile"}, {"C", "profile"}};
	profile.env_vars = vars;
	profile.n_env_vars = 2;
	char *keys[] = {"C", "TOKEN"}, *values[] = {"secret", "s3"};
	secrets = (struct sb_secret_env){keys, values, 2};
	pool.secrets = &secrets;

	struct slot_cmd c = {0};
	assert_int_equal(slot_cmd_init(&c, &slot, "env", NULL), 0);
	assert_string_equal(env_get(&c, "PATH"), "/image/bin");
	assert_string_equal(env_get(&c, "A"), "image");
	assert_string_equal(env_get(&c, "B"), "profile");
	assert_string_equal(env_get(&c, "C"), "secret");
	assert_string_equal(env_get(&c, "TOKEN"), "s3");
	/* an image entry that is no valid name, or no K=V, is skipped */
	assert_null(env_get(&c, "1BAD"));
	assert_null(env_get(&c, "NOEQUALS"));
	assert_int_equal(slot_cmd_env_push(&c, "C", "caller"), 0);
	assert_int_equal(slot_cmd_env_push(&c, "NEW", "caller"), 0);
	assert_string_equal(env_get(&c, "C"), "caller");
	assert_string_equal(env_get(&c, "NEW"), "caller");
	slot_cmd_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_cwd_and_shell),
		cmocka_unit_test(test_precedence),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
