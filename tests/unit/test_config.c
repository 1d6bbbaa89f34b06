/* Unit tests of profile loading: defaults, YAML, environment, rejections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pool/profile.h"

static char *no_env[] = {NULL};

static int load(struct sb_config *c, const char *yaml, char **env,
		struct sb_err *err)
{
	return sb_config_load_string(c, yaml, yaml ? strlen(yaml) : 0, "p.yaml",
				     env ? env : no_env, err);
}

static void expect_error(const char *yaml, char **env, const char *needle)
{
	struct sb_config c;
	struct sb_err err = {0};
	int r = load(&c, yaml, env, &err);
	if (r == 0)
		sb_config_free(&c);
	assert_int_equal(r, -1);
	if (!strstr(err.msg, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_defaults(void **state)
{
	(void)state;
	struct sb_config c;
	struct sb_err err;
	assert_int_equal(load(&c, NULL, NULL, &err), 0);
	assert_int_equal(c.n_profiles, 1);
	assert_string_equal(c.default_profile, "default");
	const struct sb_profile *p = sb_config_find(&c, "default");
	assert_non_null(p);
	assert_string_equal(p->image, "host");
	assert_null(p->gpu);
	assert_string_equal(p->network, "none");
	assert_string_equal(p->workspace_dir, "/workspace");
	assert_int_equal(p->output_limit_bytes, 1 << 20);
	assert_true(p->min_sandboxes <= p->max_sandboxes);
	assert_null(sb_config_find(&c, "nope"));
	sb_config_free(&c);
}

static void test_full_file(void **state)
{
	(void)state;
	const char *y = "default_profile: big\n"
			"profiles:\n"
			"  default:\n"
			"    slots_per_sandbox: 2\n"
			"  big:\n"
			"    image: dir:/srv/rootfs\n"
			"    gpu: all\n"
			"    cpu: 2.5\n"
			"    memory: 8192\n"
			"    idle_timeout: 0\n"
			"    workspace_base: /data//ws/\n"
			"    secrets: [openai, hf-token]\n"
			"    env_vars: {FOO: bar, EMPTY: \"\"}\n"
			"  my-gpu_2:\n";
	struct sb_config c;
	struct sb_err err;
	assert_int_equal(load(&c, y, NULL, &err), 0);
	assert_int_equal(c.n_profiles, 3);
	assert_string_equal(c.default_profile, "big");
	const struct sb_profile *b = sb_config_find(&c, "big");
	assert_string_equal(b->image, "dir:/srv/rootfs");
	assert_string_equal(b->gpu, "all");
	assert_true(fabs(b->cpu - 2.5) < 1e-9);
	assert_int_equal(b->memory_mb, 8192);
	assert_true(b->idle_timeout_s == 0);
	assert_string_equal(b->workspace_dir, "/data/ws");
	assert_int_equal(b->n_secrets, 2);
	assert_string_equal(b->secrets[1], "hf-token");
	assert_int_equal(b->n_env_vars, 2);
	assert_string_equal(b->env_vars[0].key, "FOO");
	assert_string_equal(b->env_vars[0].value, "bar");
	assert_int_equal(sb_config_find(&c, "default")->slots_per_sandbox, 2);
	assert_non_null(sb_config_find(&c, "my-gpu_2"));
	sb_config_free(&c);
}

static void test_rejections(void **state)
{
	(void)state;
	expect_error(
		"profiles:\n  default:\n    cpux: 1\n", NULL,
		"p.yaml:3: profile \"default\": key \"cpux\": unknown key");
	expect_error("profiles:\n  default:\n    cpu: abc\n", NULL,
		     "p.yaml:3: profile \"default\": key \"cpu\"");
	expect_error("profiles:\n  default:\n    cpu: 1\n    cpu: 2\n", NULL,
		     "p.yaml:4: profile \"default\": key \"cpu\": duplicate");
	expect_error("profiles:\n  a: {}\n  a: {}\n", NULL, "duplicate");
	expect_error("colour: red\n", NULL,
		     "p.yaml:1: key \"colour\": unknown key");
	expect_error("profiles:\n  'bad name':\n", NULL, "must match");
	expect_error("profiles:\n  a: &x {cpu: 1}\n  b: *x\n", NULL,
		     "not allowed");
	expect_error("profiles:\n  a:\n    cpu: [1]\n", NULL, "single value");
	expect_error("- 1\n", NULL, "must be a mapping");
	expect_error("profiles:\n  a: {cpu: 1\n", NULL, "p.yaml:");
	expect_error("profiles: {}\n---\nprofiles: {}\n", NULL,
		     "one YAML document");
	expect_error(
		"profiles:\n  a:\n    min_sandboxes: 5\n    max_sandboxes: 2\n",
		NULL, "min_sandboxes");
	expect_error("profiles:\n  a:\n    network: bridge\n", NULL,
		     "network mode bridge is not supported (use none or host)");
	expect_error("profiles:\n  a:\n    workspace_dir: /\n", NULL,
		     "absolute");
	expect_error("profiles:\n  a:\n    workspace_dir: rel\n", NULL,
		     "absolute");
	expect_error("profiles:\n  a:\n    workspace_dir: /a/../b\n", NULL,
		     "absolute");
	expect_error("default_profile: nope\n", NULL, "not a profile");
	const char *nums[] = {"-1", "nan", "1e999", "2x",
			      "99999999999999999999"};
	for (size_t i = 0; i < 5; i++) {
		char y[128];
		snprintf(y, sizeof y,
			 "profiles:\n  a:\n    max_sandboxes: %s\n", nums[i]);
		expect_error(y, NULL, "max_sandboxes");
		snprintf(y, sizeof y, "profiles:\n  a:\n    cpu: %s\n",
			 nums[i]);
		expect_error(y, NULL, "cpu");
	}
}

static void test_env_precedence(void **state)
{
	(void)state;
	char *env[] = {"SLOTBOX_CPU=3",
		       "SLOTBOX_SLOTS_PER_SANDBOX=7",
		       "SLOTBOX_PROFILE_MY_GPU_MAX_SANDBOXES=9",
		       "SLOTBOX_PROFILES=extra, my-gpu",
		       "SLOTBOX_SOCKET=/ignored",
		       "SLOTBOX_ENV_VARS=A=1;B=2",
		       NULL};
	const char *y = "profiles:\n  default:\n    cpu: 1.5\n  my-gpu:\n";
	struct sb_config c;
	struct sb_err err;
	assert_int_equal(load(&c, y, env, &err), 0);
	/* file beats the global variable, which beats the built-in default */
	assert_true(fabs(sb_config_find(&c, "default")->cpu - 1.5) < 1e-9);
	assert_true(fabs(sb_config_find(&c, "extra")->cpu - 3) < 1e-9);
	assert_int_equal(sb_config_find(&c, "extra")->slots_per_sandbox, 7);
	/* the per-profile variable beats everything */
	assert_int_equal(sb_config_find(&c, "my-gpu")->max_sandboxes, 9);
	assert_int_equal(sb_config_find(&c, "extra")->n_env_vars, 2);
	sb_config_free(&c);

	char *env2[] = {"SLOTBOX_PROFILE_DEFAULT_CPU=4", NULL};
	assert_int_equal(load(&c, y, env2, &err), 0);
	assert_true(fabs(sb_config_find(&c, "default")->cpu - 4) < 1e-9);
	sb_config_free(&c);
}

static void test_env_rejections(void **state)
{
	(void)state;
	char *e1[] = {"SLOTBOX_PROFILE_NOPE_CPU=1", NULL};
	expect_error(NULL, e1,
		     "SLOTBOX_PROFILE_NOPE_CPU: names no known profile");
	char *e2[] = {"SLOTBOX_PROFILE_DEFAULT_CPUX=1", NULL};
	expect_error(NULL, e2, "unknown key");
	char *e3[] = {"SLOTBOX_CPU=-2", NULL};
	expect_error(NULL, e3, "SLOTBOX_CPU");
	char *e4[] = {"SLOTBOX_NETWORK=bridge", NULL};
	expect_error(NULL, e4, "not supported");
}

static void test_secret_values_never_in_errors(void **state)
{
	(void)state;
	char *env[] = {"SLOTBOX_ENV_VARS=TOKEN=s3cr3t-value;=x", NULL};
	struct sb_config c;
	struct sb_err err = {0};
	if (load(&c, NULL, env, &err) == 0) {
		sb_config_free(&c);
		return;
	}
	assert_null(strstr(err.msg, "s3cr3t-value"));
	const char *y = "profiles:\n  a:\n    env_vars: {TOKEN: s3cr3t-value}\n"
			"    cpu: nope\n";
	assert_int_equal(load(&c, y, NULL, &err), -1);
	assert_null(strstr(err.msg, "s3cr3t-value"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_env_precedence),
		cmocka_unit_test(test_env_rejections),
		cmocka_unit_test(test_secret_values_never_in_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
