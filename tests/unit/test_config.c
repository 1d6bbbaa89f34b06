/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of profile loading: built-in defaults, the YAML file, the
 * SLOTBOX_* environment and its precedence, and every rejection, with the
 * line and key its message must name. Tests pass their own envp, never the
 * real environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "config/profile.h"
#include "config/profile_internal.h"
#include "config/seccomp_policy.h"

static char *no_env[] = {NULL};

#define IMAGE_NAME_MAX_TEST 129

static int load(struct sb_config *c, const char *yaml, char **env,
		struct sb_err *err)
{
	return sb_config_load_string(c, yaml, yaml ? strlen(yaml) : 0, "p.yaml",
				     env ? env : no_env, err);
}

/* Load must fail, leave the config empty, and the message must hold every
 * needle (and, for secrets, none of the forbidden strings). */
static void check_fail(const char *yaml, char **env, const char *const *needles,
		       const char *const *banned, const char *file, int line)
{
	struct sb_config c;
	struct sb_err err = {0};
	memset(&c, 0xaa, sizeof c);
	int r = load(&c, yaml, env, &err);
	if (r == 0) {
		sb_config_free(&c);
		fail_msg("%s:%d: loaded, expected an error", file, line);
	}
	assert_int_equal(r, -1);
	assert_int_equal(c.n_profiles, 0);
	assert_null(c.profiles);
	assert_null(c.default_profile);
	for (; needles && *needles; needles++)
		if (!strstr(err.msg, *needles))
			fail_msg("%s:%d: error \"%s\" lacks \"%s\"", file, line,
				 err.msg, *needles);
	for (; banned && *banned; banned++)
		if (strstr(err.msg, *banned))
			fail_msg("%s:%d: error \"%s\" leaks \"%s\"", file, line,
				 err.msg, *banned);
}

#define FAIL(yaml, env, ...)                                                   \
	check_fail((yaml), (env), (const char *const[]){__VA_ARGS__, NULL},    \
		   NULL, __FILE__, __LINE__)
#define FAIL_NO_LEAK(yaml, env, banned, ...)                                   \
	check_fail((yaml), (env), (const char *const[]){__VA_ARGS__, NULL},    \
		   (banned), __FILE__, __LINE__)

static void ok(struct sb_config *c, const char *yaml, char **env)
{
	struct sb_err err = {0};
	if (load(c, yaml, env, &err) != 0)
		fail_msg("load failed: %s", err.msg);
}

static const struct sb_profile *get(const struct sb_config *c, const char *name)
{
	const struct sb_profile *p = sb_config_find(c, name);
	if (!p)
		fail_msg("no profile \"%s\"", name);
	return p;
}

/* One profile "a" with one key, loaded: returns the error or 0. */
static int one_key(struct sb_config *c, const char *key, const char *value,
		   struct sb_err *err)
{
	char y[256];
	snprintf(y, sizeof y, "profiles:\n  a:\n    %s: %s\n", key, value);
	return load(c, y, NULL, err);
}

static void key_ok(const char *key, const char *value)
{
	struct sb_config c;
	struct sb_err err = {0};
	if (one_key(&c, key, value, &err) != 0)
		fail_msg("%s: %s refused: %s", key, value, err.msg);
	sb_config_free(&c);
}

static void key_bad(const char *key, const char *value, const char *needle)
{
	struct sb_config c;
	struct sb_err err = {0};
	char want[128];
	if (one_key(&c, key, value, &err) == 0) {
		sb_config_free(&c);
		fail_msg("%s: %s accepted", key, value);
	}
	snprintf(want, sizeof want,
		 "p.yaml:3: profile \"a\": key \"%s\": ", key);
	if (!strstr(err.msg, want) || (needle && !strstr(err.msg, needle)))
		fail_msg("%s: %s: error \"%s\" lacks \"%s\" / \"%s\"", key,
			 value, err.msg, want, needle ? needle : "");
}

/* ---- defaults ---- */

static void test_builtin_defaults(void **state)
{
	(void)state;
	struct sb_profile p;
	sb_profile_defaults(&p, "x");
	assert_string_equal(p.name, "x");
	assert_string_equal(p.image, "host");
	assert_null(p.gpu);
	assert_true(p.cpu == 1.0);
	assert_int_equal(p.memory_mb, 2048);
	assert_int_equal(p.pids_max, 1024);
	assert_int_equal(p.disk_mb, 1024);
	assert_string_equal(p.network, "none");
	assert_int_equal(p.ptys_max, 64);
	assert_int_equal(p.slots_per_sandbox, 4);
	assert_int_equal(p.min_sandboxes, 1);
	assert_int_equal(p.max_sandboxes, 8);
	assert_true(p.idle_timeout_s == 120);
	assert_true(p.max_lifetime_s == 3600);
	assert_true(p.acquire_timeout_s == 60);
	assert_true(p.execution_timeout_s == 30);
	assert_string_equal(p.workspace_dir, "/workspace");
	assert_int_equal(p.output_limit_bytes, 1 << 20);
	assert_int_equal(p.max_file_bytes, 64 << 20);
	assert_int_equal(p.n_secrets, 0);
	assert_int_equal(p.n_env_vars, 0);
	assert_int_equal(p.seccomp, SB_SECCOMP_DEFAULT);
	assert_int_equal(p.n_seccomp_deny, 0);
	assert_int_equal(p.n_seccomp_allow, 0);
	assert_int_equal(p.seccomp_fd, -1);
	sb_profile_free(&p);
}

static void test_default_profile_always_exists(void **state)
{
	(void)state;
	const char *docs[] = {NULL,
			      "",
			      "# only a comment\n",
			      "---\n",
			      "~\n",
			      "profiles:\n",
			      "profiles: {}\n",
			      "profiles:\n  other: {cpu: 2}\n"};
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		struct sb_config c;
		ok(&c, docs[i], NULL);
		assert_string_equal(c.default_profile, "default");
		const struct sb_profile *p = get(&c, "default");
		assert_true(p->cpu == 1.0);
		assert_int_equal(p->max_sandboxes, 8);
		sb_config_free(&c);
	}
	struct sb_config c;
	struct sb_err err;
	assert_int_equal(sb_config_load(&c, NULL, no_env, &err), 0);
	assert_int_equal(c.n_profiles, 1);
	assert_string_equal(c.profiles[0].name, "default");
	assert_null(sb_config_find(&c, "nope"));
	assert_null(sb_config_find(&c, NULL));
	assert_null(sb_config_find(NULL, "default"));
	sb_config_free(&c);
	sb_config_free(&c); /* twice is harmless */
}

/* ---- a valid file ---- */

static void test_full_file(void **state)
{
	(void)state;
	const char *y = "default_profile: big   # optional\n"
			"profiles:\n"
			"  default:\n"
			"    image: host\n"
			"    cpu: 1.0\n"
			"    memory: 2048\n"
			"    slots_per_sandbox: 4\n"
			"    env_vars: {FOO: bar}\n"
			"    secrets: [openai]\n"
			"  gpu-small:\n"
			"    gpu: all\n"
			"  big:\n"
			"    image: dir:/srv//rootfs/\n"
			"    gpu: ~\n"
			"    cpu: 2.5\n"
			"    memory_mb: 8192\n"
			"    pids_max: 4096\n"
			"    network: host\n"
			"    slots_per_sandbox: 16\n"
			"    min_sandboxes: 0\n"
			"    max_sandboxes: 32\n"
			"    idle_timeout: 0\n"
			"    max_lifetime_s: 7200.5\n"
			"    acquire_timeout: 5\n"
			"    execution_timeout_s: 600\n"
			"    workspace_base: /data//ws/\n"
			"    output_limit_bytes: 4096\n"
			"    max_file_bytes: 1048576\n"
			"    secrets:\n"
			"      - openai\n"
			"      - hf.token_2\n"
			"    env_vars:\n"
			"      EMPTY: \"\"\n"
			"      PIP_INDEX_URL: \"http://mirror/simple\"\n"
			"      N: 1\n"
			"  my_gpu-2:\n";
	struct sb_config c;
	ok(&c, y, NULL);
	assert_int_equal(c.n_profiles, 4);
	assert_string_equal(c.default_profile, "big");
	/* file order */
	assert_string_equal(c.profiles[0].name, "default");
	assert_string_equal(c.profiles[1].name, "gpu-small");
	assert_string_equal(c.profiles[2].name, "big");
	assert_string_equal(c.profiles[3].name, "my_gpu-2");

	const struct sb_profile *d = get(&c, "default");
	assert_int_equal(d->n_env_vars, 1);
	assert_string_equal(d->env_vars[0].key, "FOO");
	assert_string_equal(d->env_vars[0].value, "bar");
	assert_int_equal(d->n_secrets, 1);
	assert_string_equal(d->secrets[0], "openai");

	assert_string_equal(get(&c, "gpu-small")->gpu, "all");
	assert_int_equal(get(&c, "gpu-small")->n_secrets, 0);

	const struct sb_profile *b = get(&c, "big");
	assert_string_equal(b->image, "dir:/srv/rootfs");
	assert_null(b->gpu);
	assert_true(fabs(b->cpu - 2.5) < 1e-12);
	assert_int_equal(b->memory_mb, 8192);
	assert_int_equal(b->pids_max, 4096);
	assert_string_equal(b->network, "host");
	assert_int_equal(b->slots_per_sandbox, 16);
	assert_int_equal(b->min_sandboxes, 0);
	assert_int_equal(b->max_sandboxes, 32);
	assert_true(b->idle_timeout_s == 0);
	assert_true(b->max_lifetime_s == 7200.5);
	assert_true(b->acquire_timeout_s == 5);
	assert_true(b->execution_timeout_s == 600);
	assert_string_equal(b->workspace_dir, "/data/ws");
	assert_int_equal(b->output_limit_bytes, 4096);
	assert_int_equal(b->max_file_bytes, 1048576);
	assert_int_equal(b->n_secrets, 2);
	assert_string_equal(b->secrets[1], "hf.token_2");
	assert_int_equal(b->n_env_vars, 3);
	assert_string_equal(b->env_vars[0].key, "EMPTY");
	assert_string_equal(b->env_vars[0].value, "");
	assert_string_equal(b->env_vars[2].value, "1");

	/* a profile given only by name gets the defaults */
	const struct sb_profile *m = get(&c, "my_gpu-2");
	assert_string_equal(m->image, "host");
	assert_int_equal(m->slots_per_sandbox, 4);
	sb_config_free(&c);
}

static void test_quoted_and_flow_values(void **state)
{
	(void)state;
	struct sb_config c;
	ok(&c,
	   "profiles: {a: {cpu: \"0.5\", memory: '512', secrets: [], "
	   "env_vars: {}}}\n",
	   NULL);
	assert_true(get(&c, "a")->cpu == 0.5);
	assert_int_equal(get(&c, "a")->memory_mb, 512);
	sb_config_free(&c);
	/* explicit null clears lists inherited from SLOTBOX_* */
	char *env[] = {"SLOTBOX_SECRETS=x", "SLOTBOX_ENV_VARS=K=v", NULL};
	ok(&c, "profiles:\n  a:\n    secrets:\n    env_vars: ~\n", env);
	assert_int_equal(get(&c, "a")->n_secrets, 0);
	assert_int_equal(get(&c, "a")->n_env_vars, 0);
	assert_int_equal(get(&c, "default")->n_secrets, 1);
	assert_int_equal(get(&c, "default")->n_env_vars, 1);
	sb_config_free(&c);
}

/* ---- rejections in the file ---- */

static void test_unknown_keys(void **state)
{
	(void)state;
	FAIL("profiles:\n  default:\n    cpux: 1\n", NULL,
	     "p.yaml:3: profile \"default\": key \"cpux\": unknown key");
	/* (app_name, the seed's, is passed over: test_seed_file) */
	FAIL("profiles:\n  default:\n    cpu: 1\n\n    app_names: x\n", NULL,
	     "p.yaml:5: profile \"default\": key \"app_names\": unknown key");
	FAIL("colour: red\n", NULL,
	     "p.yaml:1: key \"colour\": unknown top-level key");
	FAIL("profiles: {}\nprofile:\n  a: {}\n", NULL,
	     "p.yaml:2: key \"profile\": unknown top-level key");
	/* the YAML merge key is just an unknown key here */
	FAIL("profiles:\n  a:\n    <<: {cpu: 1}\n", NULL,
	     "p.yaml:3: profile \"a\": key \"<<\": unknown key");
	/* a global-only key is not a profile key */
	FAIL("profiles:\n  a:\n    default_profile: a\n", NULL,
	     "p.yaml:3: profile \"a\": key \"default_profile\": unknown key");
}

static void test_wrong_types(void **state)
{
	(void)state;
	FAIL("profiles:\n  a:\n    cpu: {x: 1}\n", NULL,
	     "p.yaml:3: profile \"a\": key \"cpu\": expected a single value, "
	     "got a mapping");
	FAIL("profiles:\n  a:\n    image:\n      - host\n", NULL,
	     "p.yaml:4: profile \"a\": key \"image\": expected a single "
	     "value, got a list");
	FAIL("profiles:\n  a:\n    secrets: openai\n", NULL,
	     "p.yaml:3: profile \"a\": key \"secrets\": expected a list",
	     "got a scalar");
	FAIL("profiles:\n  a:\n    secrets: [[x]]\n", NULL,
	     "p.yaml:3: profile \"a\": key \"secrets\": expected a secret "
	     "name, got a list");
	FAIL("profiles:\n  a:\n    secrets: [a, ~]\n", NULL,
	     "key \"secrets\": expected a secret name, got null");
	FAIL("profiles:\n  a:\n    env_vars: [A=1]\n", NULL,
	     "p.yaml:3: profile \"a\": key \"env_vars\": expected a mapping",
	     "got a list");
	FAIL("profiles:\n  a:\n    env_vars:\n      A: {b: 1}\n", NULL,
	     "p.yaml:4: profile \"a\": key \"env_vars\": variable \"A\": "
	     "expected a string value, got a mapping");
	FAIL("profiles:\n  a:\n    env_vars:\n      A:\n", NULL,
	     "p.yaml:4: profile \"a\": key \"env_vars\": variable \"A\" has "
	     "no value");
	FAIL("profiles:\n  a: 5\n", NULL,
	     "p.yaml:2: profile \"a\": expected a mapping of keys, got a "
	     "scalar");
	FAIL("profiles:\n  a: [cpu]\n", NULL,
	     "p.yaml:2: profile \"a\": expected a mapping of keys, got a list");
	FAIL("profiles: [a, b]\n", NULL,
	     "p.yaml:1: key \"profiles\": expected a mapping");
	FAIL("profiles:\n  ? [a]\n  : {}\n", NULL,
	     "p.yaml:2: key \"profiles\": profile names must be strings");
	FAIL("profiles:\n  a:\n    ? {k: v}\n    : 1\n", NULL,
	     "p.yaml:3: profile \"a\": keys must be strings");
	FAIL("default_profile: [a]\n", NULL,
	     "p.yaml:1: key \"default_profile\": expected a profile name, got "
	     "a list");
	FAIL("profiles:\n  a:\n    cpu:\n", NULL,
	     "p.yaml:3: profile \"a\": key \"cpu\": a value is required, got "
	     "null");
}

static void test_duplicates(void **state)
{
	(void)state;
	FAIL("profiles:\n  default:\n    cpu: 1\n    cpu: 2\n", NULL,
	     "p.yaml:4: profile \"default\": key \"cpu\": duplicate key "
	     "(first on line 3)");
	FAIL("profiles:\n  a:\n    memory: 1024\n    memory_mb: 1024\n", NULL,
	     "p.yaml:4: profile \"a\": key \"memory_mb\": duplicate key "
	     "(\"memory\" on line 3");
	FAIL("profiles:\n  a:\n    idle_timeout_s: 1\n    idle_timeout: 1\n",
	     NULL, "p.yaml:4: profile \"a\": key \"idle_timeout\": duplicate");
	FAIL("profiles:\n  a: {}\n  b: {}\n  a: {}\n", NULL,
	     "p.yaml:4: profile \"a\": duplicate profile name");
	FAIL("profiles: {}\nprofiles: {}\n", NULL,
	     "p.yaml:2: key \"profiles\": duplicate key");
	FAIL("default_profile: a\ndefault_profile: a\n", NULL,
	     "p.yaml:2: key \"default_profile\": duplicate key");
	FAIL("profiles:\n  a:\n    env_vars:\n      A: 1\n      A: 2\n", NULL,
	     "p.yaml:5: profile \"a\": key \"env_vars\": duplicate variable "
	     "\"A\"");
	FAIL("profiles:\n  a:\n    secrets: [x, y, x]\n", NULL,
	     "p.yaml:3: profile \"a\": key \"secrets\": secret #3 repeats "
	     "secret #1");
}

static void test_profile_names(void **state)
{
	(void)state;
	char long_name[80];
	char y[256];
	FAIL("profiles:\n  'bad name': {}\n", NULL,
	     "p.yaml:2: invalid profile name \"bad name\"");
	FAIL("profiles:\n  a.b: {}\n", NULL, "p.yaml:2: invalid profile name");
	FAIL("profiles:\n  '': {}\n", NULL, "p.yaml:2: invalid profile name");
	FAIL("profiles:\n  ~: {}\n", NULL, "p.yaml:2: invalid profile name");
	FAIL("profiles:\n  caf\xc3\xa9: {}\n", NULL,
	     "p.yaml:2: invalid profile name");
	memset(long_name, 'n', 64);
	long_name[64] = '\0';
	snprintf(y, sizeof y, "profiles:\n  %s: {}\n", long_name);
	FAIL(y, NULL, "p.yaml:2: invalid profile name");
	long_name[63] = '\0'; /* 63 is the limit */
	snprintf(y, sizeof y, "profiles:\n  %s: {}\n", long_name);
	struct sb_config c;
	ok(&c, y, NULL);
	assert_non_null(get(&c, long_name));
	sb_config_free(&c);
	FAIL("default_profile: 'a b'\n", NULL,
	     "p.yaml:1: key \"default_profile\": invalid profile name");
	FAIL("default_profile: nope\nprofiles:\n  a: {}\n", NULL,
	     "p.yaml:1: default_profile \"nope\" is not a defined profile");
}

static void test_anchors_aliases_tags(void **state)
{
	(void)state;
	FAIL("profiles:\n  a: &base {cpu: 1}\n  b: *base\n", NULL,
	     "p.yaml:2: YAML anchors (&name) are not supported");
	FAIL("profiles: &v {}\n", NULL, "p.yaml:1: YAML anchors");
	FAIL("profiles:\n  a:\n    cpu: *nowhere\n", NULL, "p.yaml:3:");
	FAIL("profiles:\n  a:\n    cpu: !!float 1\n", NULL,
	     "p.yaml:3: YAML tags (!tag) are not supported");
	FAIL("profiles: !custom {}\n", NULL, "p.yaml:1: YAML tags");
}

static void test_document_shape(void **state)
{
	(void)state;
	FAIL("- a\n- b\n", NULL,
	     "p.yaml:1: the document must be a mapping (with \"profiles\"), "
	     "got a list");
	FAIL("just text\n", NULL, "p.yaml:1: the document must be a mapping",
	     "got a scalar");
	FAIL("profiles: {}\n---\nprofiles: {}\n", NULL,
	     "p.yaml:2: only one YAML document is allowed");
}

static void test_syntax_errors(void **state)
{
	(void)state;
	FAIL("profiles:\n  a:\n    cpu: 1\n    env_vars: {A: 1\n", NULL,
	     "p.yaml:5: YAML syntax error:");
	FAIL("profiles:\n  a:\n    cpu: 1\n   bad: 2\n", NULL,
	     "p.yaml:4: YAML syntax error:");
	FAIL("profiles:\n\ta: {}\n", NULL, "p.yaml:2: YAML syntax error:");
	FAIL("profiles:\n  a:\n    image: \"unterminated\n", NULL,
	     "YAML syntax error:");
	/* bad UTF-8 is a reader error: located by byte offset */
	FAIL("profiles:\n  a:\n    image: \xff\xfe\xfd\n", NULL,
	     "p.yaml:3: YAML syntax error:");
	/* "\0" would silently cut the string in C */
	FAIL("profiles:\n  a:\n    image: \"ho\\0st\"\n", NULL,
	     "p.yaml:3: profile \"a\": key \"image\": a string contains a NUL "
	     "byte");
}

/* ---- bounds ---- */

static char *grow(char *buf, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static char *grow(char *buf, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	buf = realloc(buf, *len + (size_t)n + 1);
	assert_non_null(buf);
	va_start(ap, fmt);
	vsnprintf(buf + *len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	*len += (size_t)n;
	return buf;
}

static void test_bounds(void **state)
{
	(void)state;
	struct sb_config c;
	size_t len = 0;
	char *y = grow(NULL, &len, "profiles:\n");
	for (int i = 0; i < SB_CFG_MAX_PROFILES - 1; i++)
		y = grow(y, &len, "  p%d:\n", i);
	ok(&c, y, NULL); /* 255 + default */
	assert_int_equal(c.n_profiles, SB_CFG_MAX_PROFILES);
	sb_config_free(&c);
	char *env[] = {"SLOTBOX_PROFILES=one-more", NULL};
	FAIL(y, env, "more than 256 profiles");
	y = grow(y, &len, "  default:\n"); /* 256 with default among them */
	ok(&c, y, NULL);
	assert_int_equal(c.n_profiles, SB_CFG_MAX_PROFILES);
	sb_config_free(&c);
	y = grow(y, &len, "  last:\n");
	FAIL(y, NULL, "p.yaml:258: more than 256 profiles");
	free(y);

	len = 0;
	y = grow(NULL, &len, "profiles:\n  a:\n    env_vars:\n");
	for (int i = 0; i < SB_CFG_MAX_ENV_VARS; i++)
		y = grow(y, &len, "      V%d: x\n", i);
	ok(&c, y, NULL);
	assert_int_equal(get(&c, "a")->n_env_vars, SB_CFG_MAX_ENV_VARS);
	sb_config_free(&c);
	y = grow(y, &len, "      TOO_MANY: x\n");
	FAIL(y, NULL, "profile \"a\": key \"env_vars\": more than 1024");
	free(y);

	len = 0;
	y = grow(NULL, &len, "profiles:\n  a:\n    secrets:\n");
	for (int i = 0; i < SB_CFG_MAX_SECRETS; i++)
		y = grow(y, &len, "      - s%d\n", i);
	ok(&c, y, NULL);
	assert_int_equal(get(&c, "a")->n_secrets, SB_CFG_MAX_SECRETS);
	sb_config_free(&c);
	y = grow(y, &len, "      - one_more\n");
	FAIL(y, NULL, "profile \"a\": key \"secrets\": more than 256");
	free(y);

	/* strings: 64 KiB and no more */
	char *big = malloc(SB_CFG_MAX_STRING + 2);
	assert_non_null(big);
	memset(big, 'v', SB_CFG_MAX_STRING + 1);
	big[SB_CFG_MAX_STRING + 1] = '\0';
	len = 0;
	y = grow(NULL, &len, "profiles:\n  a:\n    env_vars:\n      K: %s\n",
		 big);
	FAIL(y, NULL,
	     "p.yaml:4: profile \"a\": key \"env_vars\": a string "
	     "longer than 65536 bytes");
	free(y);
	big[SB_CFG_MAX_STRING] = '\0';
	len = 0;
	y = grow(NULL, &len, "profiles:\n  a:\n    env_vars:\n      K: %s\n",
		 big);
	ok(&c, y, NULL);
	assert_int_equal(strlen(get(&c, "a")->env_vars[0].value),
			 SB_CFG_MAX_STRING);
	sb_config_free(&c);
	free(y);
	free(big);
}

/* memory_mb: 0 is "no per-slot limit" (no per-slot memory cgroup);
 * sandbox_memory_mb caps the whole sandbox instead. */
static void test_memory_scopes(void **state)
{
	(void)state;
	struct sb_config c;
	ok(&c,
	   "profiles:\n  a:\n    memory_mb: 0\n"
	   "    sandbox_memory_mb: 20480\n  b:\n",
	   NULL);
	assert_int_equal(get(&c, "a")->memory_mb, 0);
	assert_int_equal(get(&c, "a")->sandbox_memory_mb, 20480);
	assert_int_equal(get(&c, "b")->memory_mb, 2048);
	assert_int_equal(get(&c, "b")->sandbox_memory_mb, 0);
	sb_config_free(&c);
	FAIL("profiles:\n  a:\n    memory_mb: 8\n", NULL,
	     "key \"memory_mb\": expected an integer in [16, 16777216]");
	FAIL("profiles:\n  a:\n    sandbox_memory_mb: -1\n", NULL,
	     "key \"sandbox_memory_mb\": expected an integer in [16, "
	     "16777216]");
}

/* One limit on variable names everywhere (SB_ENV_NAME_MAX, common/util.h):
 * what a profile takes is what a request's env and an image's Env take. */
static void test_env_name_limit(void **state)
{
	(void)state;
	char name[SB_ENV_NAME_MAX + 2];
	memset(name, 'N', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	assert_false(sb_env_name_valid(name)); /* SB_ENV_NAME_MAX + 1 */
	name[SB_ENV_NAME_MAX] = '\0';
	assert_true(sb_env_name_valid(name));
	assert_true(sb_env_name_valid("_x9"));
	assert_false(sb_env_name_valid(""));
	assert_false(sb_env_name_valid("9x"));
	assert_false(sb_env_name_valid("A-B"));
	assert_false(sb_env_name_valid("A=B"));

	struct sb_config c;
	size_t len = 0;
	char *y = grow(NULL, &len,
		       "profiles:\n  a:\n    env_vars:\n"
		       "      %s: x\n",
		       name);
	ok(&c, y, NULL);
	assert_int_equal(strlen(get(&c, "a")->env_vars[0].key),
			 SB_ENV_NAME_MAX);
	sb_config_free(&c);
	free(y);
	name[SB_ENV_NAME_MAX] = 'N';
	len = 0;
	y = grow(NULL, &len, "profiles:\n  a:\n    env_vars:\n      %s: x\n",
		 name);
	FAIL(y, NULL, "invalid name (1-255 of A-Z");
	free(y);
}

/* ---- values ---- */

static void test_bad_numbers(void **state)
{
	(void)state;
	const char *bad_any[] = {
		"-1", "nan",   "NaN",  "inf",  "-inf", "1e999",
		"2x", "1.5.2", "' 5'", "'5 '", "\"\"", "99999999999999999999",
		"0x", "abc"};
	const char *keys_all[] = {"cpu",
				  "memory",
				  "memory_mb",
				  "pids_max",
				  "disk_mb",
				  "slots_per_sandbox",
				  "min_sandboxes",
				  "max_sandboxes",
				  "idle_timeout",
				  "max_lifetime_s",
				  "acquire_timeout_s",
				  "execution_timeout",
				  "output_limit_bytes",
				  "max_file_bytes"};
	for (size_t k = 0; k < sizeof keys_all / sizeof keys_all[0]; k++)
		for (size_t i = 0; i < sizeof bad_any / sizeof bad_any[0]; i++)
			key_bad(keys_all[k], bad_any[i], "got ");
	/* integers take no fraction, exponent or hex */
	key_bad("memory", "2048.0", "expected an integer in [16, 16777216]");
	key_bad("max_sandboxes", "1e2", "expected an integer");
	key_bad("pids_max", "0x100", "expected an integer");
	key_bad("memory", "9223372036854775808", "expected an integer");
	/* the message quotes the value */
	key_bad("cpu", "abc", "expected a number in (0, 1024], got \"abc\"");
	/* ranges, both edges */
	key_ok("cpu", "1024");
	key_ok("cpu", "0.01");
	key_bad("cpu", "0", NULL);
	key_bad("cpu", "1024.001", NULL);
	key_bad("cpu", "1e-999", NULL); /* underflow */
	key_ok("memory", "16");
	key_ok("memory", "16777216");
	key_bad("memory", "15", NULL);
	key_bad("memory", "16777217", NULL);
	key_ok("pids_max", "8");
	key_bad("pids_max", "7", NULL);
	key_bad("pids_max", "4194305", NULL);
	key_ok("ptys_max", "1");
	key_ok("ptys_max", "4096");
	key_bad("ptys_max", "0", NULL);
	key_bad("ptys_max", "4097", NULL);
	key_bad("ptys_max", "many", "expected an integer");
	key_ok("disk_mb", "0");
	key_ok("disk_mb", "16777216");
	key_bad("disk_mb", "16777217", NULL);
	key_ok("slots_per_sandbox", "1000");
	key_bad("slots_per_sandbox", "0", NULL);
	key_bad("slots_per_sandbox", "1001", NULL);
	key_ok("max_sandboxes", "10000");
	key_bad("max_sandboxes", "0", NULL);
	key_bad("max_sandboxes", "10001", NULL);
	key_ok("idle_timeout", "0");
	key_ok("max_lifetime", "0");
	key_ok("acquire_timeout", "2592000");
	key_bad("acquire_timeout", "0", "expected a number in (0, 2592000]");
	key_bad("execution_timeout_s", "0", NULL);
	key_bad("idle_timeout_s", "2592000.5", "in [0, 2592000]");
	key_ok("output_limit_bytes", "1024");
	key_ok("output_limit_bytes", "1073741824");
	key_bad("output_limit_bytes", "1023", NULL);
	key_bad("output_limit_bytes", "1073741825", NULL);
	key_ok("max_file_bytes", "1");
	key_ok("max_file_bytes", "4294967296");
	key_bad("max_file_bytes", "0", NULL);
	key_bad("max_file_bytes", "4294967297", NULL);
}

static void test_min_max(void **state)
{
	(void)state;
	FAIL("profiles:\n  a:\n    min_sandboxes: 5\n    max_sandboxes: 2\n",
	     NULL,
	     "profile \"a\": min_sandboxes (5) is greater than max_sandboxes "
	     "(2)");
	/* against the default max (8) too, and across sources */
	FAIL("profiles:\n  a:\n    min_sandboxes: 9\n", NULL,
	     "profile \"a\": min_sandboxes (9)");
	char *env[] = {"SLOTBOX_PROFILE_A_MAX_SANDBOXES=3", NULL};
	FAIL("profiles:\n  a:\n    min_sandboxes: 4\n", env,
	     "min_sandboxes (4) is greater than max_sandboxes (3)");
	struct sb_config c;
	ok(&c, "profiles:\n  a:\n    min_sandboxes: 3\n    max_sandboxes: 3\n",
	   NULL);
	sb_config_free(&c);
	/* min above the default max is fine once max is raised later */
	char *env2[] = {"SLOTBOX_MIN_SANDBOXES=10", "SLOTBOX_MAX_SANDBOXES=20",
			NULL};
	ok(&c, NULL, env2);
	assert_int_equal(get(&c, "default")->min_sandboxes, 10);
	sb_config_free(&c);
}

/* prestart_slots: half a sandbox unless set, from either source */
static void test_prestart_slots(void **state)
{
	(void)state;
	struct sb_config c;
	ok(&c,
	   "profiles:\n  a:\n    slots_per_sandbox: 10\n"
	   "  b:\n    slots_per_sandbox: 1\n"
	   "  z:\n    slots_per_sandbox: 10\n    prestart_slots: 0\n",
	   NULL);
	assert_int_equal(get(&c, "default")->prestart_slots, 2);
	assert_int_equal(get(&c, "a")->prestart_slots, 5);
	assert_int_equal(get(&c, "b")->prestart_slots, 0);
	assert_int_equal(get(&c, "z")->prestart_slots, 0);
	sb_config_free(&c);
	char *env[] = {"SLOTBOX_PROFILE_A_PRESTART_SLOTS=40", NULL};
	ok(&c, "profiles:\n  a:\n    prestart_slots: 3\n", env);
	assert_int_equal(get(&c, "a")->prestart_slots, 40);
	sb_config_free(&c);
	FAIL("profiles:\n  a:\n    prestart_slots: -1\n", NULL,
	     "prestart_slots");
	FAIL("profiles:\n  a:\n    prestart_slots: lots\n", NULL,
	     "prestart_slots");
	FAIL("profiles:\n  a:\n    prestart_slots: 100001\n", NULL,
	     "prestart_slots");
}

static void workspace_is(const char *value, const char *want)
{
	struct sb_config c;
	struct sb_err err = {0};
	if (one_key(&c, "workspace_dir", value, &err) != 0)
		fail_msg("%s refused: %s", value, err.msg);
	assert_string_equal(get(&c, "a")->workspace_dir, want);
	sb_config_free(&c);
}

static void test_workspace_dir(void **state)
{
	(void)state;
	workspace_is("/w", "/w");
	workspace_is("/data/ws/", "/data/ws");
	workspace_is("//data///ws//", "/data/ws");
	workspace_is("/data/./ws/.", "/data/ws");
	workspace_is("/a..b/c.", "/a..b/c.");
	key_bad("workspace_dir", "rel/dir", "must be an absolute path");
	key_bad("workspace_dir", "''", "must be an absolute path");
	key_bad("workspace_dir", "/", "must not be /");
	key_bad("workspace_dir", "///", "must not be /");
	key_bad("workspace_dir", "/./", "must not be /");
	key_bad("workspace_dir", "/a/../b", "must not contain \"..\"");
	key_bad("workspace_dir", "/..", "must not contain \"..\"");
	key_bad("workspace_dir", "/a/..", "must not contain \"..\"");
	key_bad("workspace_dir", "\"/a\\tb\"", "control characters");
	key_bad("workspace_dir", "/a,b", "must not contain ','");
	key_bad("workspace_base", "/", "must not be /");
	struct sb_config c;
	ok(&c, "profiles:\n  a:\n    workspace_base: /data/\n", NULL);
	assert_string_equal(get(&c, "a")->workspace_dir, "/data");
	sb_config_free(&c);
}

static void template_is(const char *value, const char *want)
{
	struct sb_config c;
	struct sb_err err = {0};
	if (one_key(&c, "workspace_template", value, &err) != 0)
		fail_msg("%s refused: %s", value, err.msg);
	if (want)
		assert_string_equal(get(&c, "a")->workspace_template, want);
	else
		assert_null(get(&c, "a")->workspace_template);
	sb_config_free(&c);
}

static void test_workspace_template(void **state)
{
	(void)state;
	template_is("/srv/repo", "/srv/repo");
	template_is("/srv//repo/", "/srv/repo");
	template_is("/srv/repo.tar.gz", "/srv/repo.tar.gz");
	template_is("~", NULL);
	template_is("''", NULL);
	template_is("none", NULL);
	key_bad("workspace_template", "repo", "must be an absolute path");
	key_bad("workspace_template", "/", "must not be /");
	key_bad("workspace_template", "/a/../b", "must not contain \"..\"");
	key_bad("workspace_template", "\"/a\\nb\"", "control characters");
	struct sb_config c;
	struct sb_profile p;
	sb_profile_defaults(&p, "x");
	assert_null(p.workspace_template);
	assert_null(p.template_dir);
	sb_profile_free(&p);
	/* the environment's form, and copies of the template */
	char *env[] = {"SLOTBOX_WORKSPACE_TEMPLATE=/srv/t.zip",
		       "SLOTBOX_PROFILES=b", NULL};
	ok(&c, NULL, env);
	assert_string_equal(get(&c, "b")->workspace_template, "/srv/t.zip");
	assert_string_equal(get(&c, "default")->workspace_template,
			    "/srv/t.zip");
	sb_config_free(&c);
}

static void test_network(void **state)
{
	(void)state;
	key_ok("network", "none");
	key_ok("network", "host");
	key_ok("network", "egress");
	key_bad("network", "bridge",
		"network mode \"bridge\" is not supported (use none, egress "
		"or host)");
	key_bad("network", "Host",
		"is not supported (use none, egress or "
		"host)");
	char *env[] = {"SLOTBOX_NETWORK=slirp", NULL};
	FAIL(NULL, env,
	     "environment variable SLOTBOX_NETWORK: key \"network\": network "
	     "mode \"slirp\" is not supported (use none, egress or host)");
	/* egress's networks: parsed, stored canonical, bad ones refused */
	key_ok("allow_cidrs", "[10.1.0.0/16, \"fd00::/8\"]");
	key_ok("deny_cidrs", "[198.18.0.0/24]");
	key_bad("allow_cidrs", "[10.1.0.1/16]", "is not a network in CIDR");
	key_bad("deny_cidrs", "[300.1.0.0/16]", "is not a network in CIDR");
	key_bad("deny_cidrs", "[10.0.0.0/8, 10.0.0.0/8]", "is listed twice");
}

/* gpu_per_slot and slot_gpus: forms, env forms ("0;1,2;none"), and the
 * checks that span keys. */
static void test_gpu_per_slot_keys(void **state)
{
	(void)state;
	struct sb_config c;
	ok(&c,
	   "profiles:\n  a:\n    gpu: all\n    slot_gpus: [\"0\", \"1,2\", "
	   "none, "
	   "all]\n  b:\n    gpu: \"0,1\"\n    gpu_per_slot: 2\n",
	   NULL);
	const struct sb_profile *a = get(&c, "a"), *b = get(&c, "b");
	assert_int_equal(a->n_slot_gpus, 4);
	assert_string_equal(a->slot_gpus[1], "1,2");
	assert_string_equal(a->slot_gpus[2], "none");
	assert_int_equal(a->gpu_per_slot, 0);
	assert_int_equal(b->gpu_per_slot, 2);
	assert_int_equal(b->n_slot_gpus, 0);
	sb_config_free(&c);
	char *env[] = {"SLOTBOX_PROFILE_A_SLOT_GPUS=0; 1,2 ;none",
		       "SLOTBOX_PROFILE_B_GPU_PER_SLOT=1", NULL};
	ok(&c, "profiles:\n  a:\n    gpu: all\n  b:\n    gpu: '3'\n", env);
	a = get(&c, "a");
	assert_int_equal(a->n_slot_gpus, 3);
	assert_string_equal(a->slot_gpus[0], "0");
	assert_string_equal(a->slot_gpus[1], "1,2");
	assert_string_equal(a->slot_gpus[2], "none");
	assert_int_equal(get(&c, "b")->gpu_per_slot, 1);
	sb_config_free(&c);
	key_bad("slot_gpus", "[\"0,\"]", "item #1 \"0,\" is not none, all");
	key_bad("slot_gpus", "[\"64\"]", "GPU numbers 0-63");
	key_bad("slot_gpus", "[\" 1\"]", "item #1");
	key_bad("slot_gpus", "[\"1,1\"]", "item #1");
	key_bad("slot_gpus", "[\"-1\"]", "item #1");
	key_bad("gpu_per_slot", "65", NULL);
	key_bad("gpu_per_slot", "x", NULL);
	FAIL("profiles:\n  a:\n    gpu_per_slot: 1\n", NULL,
	     "profile \"a\": gpu_per_slot needs gpu: all or a list");
	FAIL("profiles:\n  a:\n    gpu: H100\n    slot_gpus: [none]\n", NULL,
	     "profile \"a\": slot_gpus needs gpu: all or a list");
	FAIL("profiles:\n  a:\n    gpu: all\n    gpu_per_slot: 1\n    "
	     "slot_gpus: [\"0\"]\n",
	     NULL, "gpu_per_slot and slot_gpus exclude each other");
	FAIL("profiles:\n  a:\n    gpu: \"0,2\"\n    slot_gpus: [\"2\", "
	     "\"0,1\"]\n",
	     NULL,
	     "slot_gpus item #2 names GPU 1, which is not in gpu \"0,2\"");
	FAIL("profiles:\n  a:\n    gpu: \"5\"\n    gpu_per_slot: 2\n", NULL,
	     "gpu_per_slot 2 is more than the 1 GPU(s)");
	/* a copy (profile from a template) keeps the list */
	char *env2[] = {"SLOTBOX_GPU=all", "SLOTBOX_SLOT_GPUS=none;0", NULL};
	ok(&c, "profiles:\n  x: {}\n", env2);
	assert_int_equal(get(&c, "x")->n_slot_gpus, 2);
	assert_string_equal(get(&c, "x")->slot_gpus[1], "0");
	sb_config_free(&c);
}

static void test_gpu_and_image(void **state)
{
	(void)state;
	const char *nulls[] = {"~", "null", "''", "none", "\"null\""};
	for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++) {
		struct sb_config c;
		struct sb_err err;
		assert_int_equal(one_key(&c, "gpu", nulls[i], &err), 0);
		assert_null(get(&c, "a")->gpu);
		sb_config_free(&c);
	}
	key_ok("gpu", "H100");
	key_ok("gpu", "'0,1'");
	key_bad("gpu", "'a b'", "invalid GPU request");
	/* gpu from the environment: empty means none */
	char *env[] = {"SLOTBOX_GPU=all", "SLOTBOX_PROFILE_B_GPU=", NULL};
	struct sb_config c;
	ok(&c, "profiles:\n  a: {}\n  b: {}\n", env);
	assert_string_equal(get(&c, "a")->gpu, "all");
	assert_null(get(&c, "b")->gpu);
	sb_config_free(&c);

	key_ok("image", "host");
	key_ok("image", "dir:/srv/root");
	key_ok("image", "ubuntu:22.04"); /* a store image */
	key_ok("image", "python:3.11-slim");
	key_bad("image", "ubuntu/22.04",
		"image \"ubuntu/22.04\" is not valid (use host, "
		"dir:/absolute/path or an image name");
	key_bad("image", "-x", "is not valid");
	key_bad("image", "dir:relative", "must be an absolute path");
	key_bad("image", "dir:/srv/../etc", "must not contain \"..\"");
	key_bad("image", "''", "is not valid");
}

/* ---- the seed's files and variables (issue 18) ---- */

static bool has_warning(const struct sb_config *c, const char *needle)
{
	for (size_t i = 0; i < c->n_warnings; i++)
		if (strstr(c->warnings[i], needle))
			return true;
	return false;
}

/* The seed's load_profiles() YAML, as its users write it. */
static void test_seed_file(void **state)
{
	(void)state;
	struct sb_config c;
	ok(&c,
	   "profiles:\n"
	   "  default:\n"
	   "    app_name: my-training\n"
	   "    image: python:3.11\n"
	   "    gpu: null\n"
	   "    cpu: 1.0\n"
	   "    memory: 2048\n"
	   "    slots_per_sandbox: 10\n"
	   "    min_sandboxes: 1\n"
	   "    max_sandboxes: 5\n"
	   "    idle_timeout: 120\n"
	   "    max_lifetime: 3600\n"
	   "    acquire_timeout_s: 60.0\n"
	   "    execution_timeout_s: 30.0\n"
	   "    secrets: []\n"
	   "    env_vars: {PYTHONUNBUFFERED: '1'}\n"
	   "    workspace_base: /data\n"
	   "  pytorch-gpu:\n"
	   "    image: docker.io/library/python:3.11-slim\n"
	   "    gpu: T4\n"
	   "    memory: 16384\n"
	   "    app_name: ~\n",
	   NULL);
	const struct sb_profile *d = get(&c, "default");
	assert_string_equal(d->image, "python:3.11");
	assert_null(d->gpu);
	assert_int_equal(d->memory_mb, 2048);
	assert_int_equal(d->slots_per_sandbox, 10);
	assert_int_equal(d->max_sandboxes, 5);
	assert_true(d->acquire_timeout_s == 60.0);
	assert_string_equal(d->workspace_dir, "/data");
	assert_int_equal(d->n_env_vars, 1);
	const struct sb_profile *g = get(&c, "pytorch-gpu");
	assert_string_equal(g->image, "python:3.11-slim");
	assert_string_equal(g->gpu, "T4");
	assert_int_equal(c.n_warnings, 2);
	assert_true(has_warning(&c, "p.yaml:3: profile \"default\": key "
				    "\"app_name\" ignored"));
	assert_true(has_warning(&c, "p.yaml:22: profile \"pytorch-gpu\": key "
				    "\"app_name\" ignored"));
	sb_config_free(&c);
	assert_null(c.warnings);

	char name[IMAGE_NAME_MAX_TEST];
	assert_true(
		image_store_name("library/ubuntu:22.04", name, sizeof name));
	assert_string_equal(name, "ubuntu:22.04");
	assert_true(image_store_name("index.docker.io/library/python:3.11",
				     name, sizeof name));
	assert_string_equal(name, "python:3.11");
	assert_false(image_store_name("ghcr.io/org/img:1", name, sizeof name));
	assert_false(image_store_name("python:3.11", name, 5));
	key_bad("app_name", "[a]", "expected a single value");
	key_bad("image", "docker.io/pytorch/pytorch:2.1",
		"slotbox image import NAME FILE.tar");
}

/* ATROPOS_MODAL_*: a fallback to SLOTBOX_*, each one used or passed over
 * said in a warning; never an error for a variable that matches nothing. */
static void test_atropos_env(void **state)
{
	(void)state;
	struct sb_config c;
	char *env[] = {"ATROPOS_MODAL_MEMORY=512",
		       "SLOTBOX_CPU=2",
		       "ATROPOS_MODAL_CPU=3",
		       "ATROPOS_MODAL_ACQUIRE_TIMEOUT=12.5",
		       "ATROPOS_MODAL_ENV_VARS=K=v;L=w",
		       "ATROPOS_MODAL_SECRETS=s1,s2",
		       "ATROPOS_MODAL_PROFILES=a,b",
		       "ATROPOS_MODAL_PROFILE_A_MAX_SANDBOXES=3",
		       "SLOTBOX_PROFILE_B_MAX_SANDBOXES=4",
		       "ATROPOS_MODAL_PROFILE_B_MAX_SANDBOXES=9",
		       "ATROPOS_MODAL_PROFILE_NOPE_IMAGE=x",
		       "ATROPOS_MODAL_PROFILE_A_COLOUR=red",
		       "ATROPOS_MODAL_PROFILES_FILE=/nonexistent.yaml",
		       NULL};
	ok(&c, NULL, env);
	const struct sb_profile *a = get(&c, "a"), *b = get(&c, "b");
	const struct sb_profile *d = get(&c, "default");
	assert_int_equal(d->memory_mb, 512);
	assert_true(d->cpu == 2.0);
	assert_true(d->acquire_timeout_s == 12.5);
	assert_int_equal(d->n_env_vars, 2);
	assert_int_equal(d->n_secrets, 2);
	assert_int_equal(a->max_sandboxes, 3);
	assert_int_equal(b->max_sandboxes, 4);
	assert_int_equal(b->memory_mb, 512);
	assert_true(has_warning(&c, "ATROPOS_MODAL_MEMORY used as "
				    "SLOTBOX_MEMORY"));
	assert_true(has_warning(&c, "ATROPOS_MODAL_CPU ignored: SLOTBOX_CPU "
				    "is set"));
	assert_true(has_warning(&c, "ATROPOS_MODAL_PROFILES used as "
				    "SLOTBOX_PROFILES"));
	assert_true(has_warning(&c, "ATROPOS_MODAL_PROFILE_A_MAX_SANDBOXES "
				    "used for profile \"a\""));
	assert_true(has_warning(&c, "ATROPOS_MODAL_PROFILE_B_MAX_SANDBOXES "
				    "ignored"));
	assert_true(has_warning(&c, "ATROPOS_MODAL_PROFILE_NOPE_IMAGE: matches "
				    "no profile"));
	assert_true(has_warning(&c, "ATROPOS_MODAL_PROFILE_A_COLOUR: unknown "
				    "key"));
	sb_config_free(&c);

	/* SLOTBOX_PROFILES wins over ATROPOS_MODAL_PROFILES */
	char *env2[] = {"ATROPOS_MODAL_PROFILES=x", "SLOTBOX_PROFILES=y", NULL};
	ok(&c, NULL, env2);
	assert_null(sb_config_find(&c, "x"));
	get(&c, "y");
	assert_true(has_warning(&c, "ATROPOS_MODAL_PROFILES ignored"));
	sb_config_free(&c);

	/* a bad value is refused like its SLOTBOX_ twin, naming the variable */
	char *bad[] = {"ATROPOS_MODAL_MEMORY=lots", NULL};
	FAIL(NULL, bad,
	     "environment variable ATROPOS_MODAL_MEMORY: key \"memory\"");
	/* without any, no warning at all */
	ok(&c, NULL, NULL);
	assert_int_equal(c.n_warnings, 0);
	sb_config_free(&c);
}

/* ---- seccomp ---- */

static void test_seccomp_keys(void **state)
{
	(void)state;
	struct sb_config c;
	ok(&c,
	   "profiles:\n"
	   "  a:\n"
	   "    seccomp: none\n"
	   "  b:\n"
	   "    seccomp: default\n"
	   "    seccomp_deny: [ptrace, mount]\n"
	   "    seccomp_allow:\n"
	   "      - keyctl\n"
	   "      - clone3\n"
	   "  c:\n"
	   "    seccomp_deny: ~\n"
	   "    seccomp_allow: []\n",
	   NULL);
	assert_int_equal(get(&c, "a")->seccomp, SB_SECCOMP_NONE);
	const struct sb_profile *b = get(&c, "b");
	assert_int_equal(b->seccomp, SB_SECCOMP_DEFAULT);
	assert_int_equal(b->n_seccomp_deny, 2);
	assert_string_equal(b->seccomp_deny[0], "ptrace");
	assert_string_equal(b->seccomp_deny[1], "mount");
	assert_int_equal(b->n_seccomp_allow, 2);
	assert_string_equal(b->seccomp_allow[1], "clone3");
	assert_int_equal(b->seccomp_fd, -1);
	assert_int_equal(get(&c, "c")->n_seccomp_deny, 0);
	assert_int_equal(get(&c, "default")->seccomp, SB_SECCOMP_DEFAULT);
	sb_config_free(&c);

	/* the environment: a base for every profile, then per profile; a
	 * name of another architecture's call is known (a no-op here) */
	char *env[] = {"SLOTBOX_SECCOMP_DENY= ptrace , umount2,",
		       "SLOTBOX_PROFILE_B_SECCOMP=none",
		       "SLOTBOX_PROFILE_B_SECCOMP_ALLOW=keyctl",
		       "SLOTBOX_PROFILE_A_SECCOMP_DENY=", NULL};
	ok(&c, "profiles:\n  a: {}\n  b: {}\n", env);
	const struct sb_profile *d = get(&c, "default");
	assert_int_equal(d->n_seccomp_deny, 2);
	assert_string_equal(d->seccomp_deny[0], "ptrace");
	assert_string_equal(d->seccomp_deny[1], "umount2");
	assert_int_equal(get(&c, "a")->n_seccomp_deny, 0);
	b = get(&c, "b");
	assert_int_equal(b->seccomp, SB_SECCOMP_NONE);
	assert_int_equal(b->n_seccomp_deny, 2); /* copied from the base */
	assert_int_equal(b->n_seccomp_allow, 1);
	sb_config_free(&c);
}

static void test_seccomp_rejections(void **state)
{
	(void)state;
	key_bad("seccomp", "strict",
		"seccomp mode \"strict\" is not supported (use default or "
		"none)");
	key_bad("seccomp", "Default", "is not supported");
	key_bad("seccomp", "[none]", "expected a single value");
	key_bad("seccomp_deny", "[not_a_call]",
		"unknown system call \"not_a_call\"");
	key_bad("seccomp_deny", "[Mount]", "unknown system call \"Mount\"");
	key_bad("seccomp_deny", "['mount; reboot']", "unknown system call");
	key_bad("seccomp_deny", "mount",
		"expected a list of system call names");
	key_bad("seccomp_deny", "[mount, ~]",
		"expected a system call name, got null");
	key_bad("seccomp_deny", "[mount, umount2, mount]",
		"\"mount\" is listed twice");
	key_bad("seccomp_deny", "[execve]", "\"execve\" cannot be denied");
	key_bad("seccomp_allow", "[read]",
		"\"read\" is not on the default deny list (nothing to allow)");
	key_bad("seccomp_allow", "[nope]", "unknown system call \"nope\"");
	/* the message names the profile and the key, on the line */
	FAIL("profiles:\n  gpu:\n    cpu: 1\n    seccomp_deny:\n      - "
	     "bpf\n      - frobnicate\n",
	     NULL,
	     "p.yaml:6: profile \"gpu\": key \"seccomp_deny\": unknown system "
	     "call \"frobnicate\"");
	FAIL("profiles:\n  a:\n    seccomp_deny: [keyctl]\n    seccomp_allow: "
	     "[keyctl]\n",
	     NULL,
	     "profile \"a\": system call \"keyctl\" is in both seccomp_deny "
	     "and seccomp_allow");
	char *e1[] = {"SLOTBOX_PROFILE_DEFAULT_SECCOMP_ALLOW=mount,bogus",
		      NULL};
	FAIL(NULL, e1,
	     "environment variable SLOTBOX_PROFILE_DEFAULT_SECCOMP_ALLOW: key "
	     "\"seccomp_allow\": unknown system call \"bogus\"");
	char *e2[] = {"SLOTBOX_SECCOMP=off", NULL};
	FAIL(NULL, e2,
	     "environment variable SLOTBOX_SECCOMP: key \"seccomp\": seccomp "
	     "mode \"off\" is not supported");
	/* the file's allow meets the environment's deny: still a conflict */
	char *e3[] = {"SLOTBOX_SECCOMP_DENY=keyctl", NULL};
	FAIL("profiles:\n  a:\n    seccomp_allow: [keyctl]\n", e3,
	     "profile \"a\": system call \"keyctl\" is in both");
}

struct rules_seen {
	char names[64][32];
	int err[64];
	int n_cond[64];
	int n;
};

static int note_rule(const struct sb_seccomp_rule *r, void *ud)
{
	struct rules_seen *s = ud;
	assert_true(s->n < 64);
	snprintf(s->names[s->n], sizeof s->names[0], "%s", r->name);
	s->err[s->n] = r->err;
	s->n_cond[s->n] = r->n_cond;
	s->n++;
	return 0;
}

static int find_rule(const struct rules_seen *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->names[i], name) == 0)
			return i;
	return -1;
}

static int stop_at_third(const struct sb_seccomp_rule *r, void *ud)
{
	(void)r;
	return ++*(int *)ud == 3 ? -7 : 0;
}

static void test_seccomp_policy(void **state)
{
	(void)state;
	struct sb_config c;
	struct rules_seen all = {0}, mine = {0};
	ok(&c,
	   "profiles:\n"
	   "  none: {seccomp: none, seccomp_deny: [ptrace]}\n"
	   "  mine:\n"
	   "    seccomp_allow: [keyctl, perf_event_open]\n"
	   "    seccomp_deny: [clone, clone3, ptrace, mount]\n",
	   NULL);
	assert_int_equal(
		sb_seccomp_foreach(get(&c, "default"), note_rule, &all), 0);
	/* the default list: what the issue asks for, with its errnos */
	const char *must[] = {"mount",
			      "umount2",
			      "pivot_root",
			      "move_mount",
			      "open_tree",
			      "fsopen",
			      "fsconfig",
			      "fsmount",
			      "fspick",
			      "kexec_load",
			      "kexec_file_load",
			      "bpf",
			      "perf_event_open",
			      "keyctl",
			      "add_key",
			      "request_key",
			      "init_module",
			      "finit_module",
			      "delete_module",
			      "reboot",
			      "swapon",
			      "swapoff",
			      "setns",
			      "open_by_handle_at",
			      "name_to_handle_at",
			      "acct",
			      "quotactl",
			      "syslog",
			      "userfaultfd",
			      "lookup_dcookie",
			      "iopl",
			      "ioperm",
			      "settimeofday",
			      "clock_settime",
			      "adjtimex",
			      "unshare",
			      "clone",
			      "clone3"};
	for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) {
		int at = find_rule(&all, must[i]);
		if (at < 0) {
			fail_msg("%s is not on the default list", must[i]);
			continue;
		}
		assert_true(sb_seccomp_syscall_known(must[i]));
		assert_non_null(sb_seccomp_default_rule(must[i]));
		assert_int_equal(all.err[at], strcmp(must[i], "clone3") == 0
						      ? ENOSYS
						      : EPERM);
	}
	/* host-wide I/O pools (issue 19): ENOSYS, so programs fall back */
	const char *aio[] = {"io_setup", "io_submit", "io_uring_setup",
			     "io_uring_enter", "io_uring_register"};
	for (size_t i = 0; i < sizeof aio / sizeof aio[0]; i++) {
		int at = find_rule(&all, aio[i]);
		if (at < 0) {
			fail_msg("%s is not on the default list", aio[i]);
			continue;
		}
		assert_int_equal(all.err[at], ENOSYS);
		assert_int_equal(all.n_cond[at], 0);
	}
	assert_int_equal(all.n_cond[find_rule(&all, "clone")], 1);
	assert_int_equal(all.n_cond[find_rule(&all, "unshare")], 1);
	assert_int_equal(all.n_cond[find_rule(&all, "mount")], 0);
	assert_int_equal(find_rule(&all, "execve"), -1);
	assert_null(sb_seccomp_default_rule("read"));
	assert_false(sb_seccomp_syscall_known("frobnicate"));

	/* none: no rules, whatever the lists say */
	struct rules_seen none = {0};
	assert_int_equal(sb_seccomp_foreach(get(&c, "none"), note_rule, &none),
			 0);
	assert_int_equal(none.n, 0);

	/* allow takes out, deny adds; a denied clone is denied whatever
	 * its flags; clone3 keeps ENOSYS; extra names come last */
	assert_int_equal(sb_seccomp_foreach(get(&c, "mine"), note_rule, &mine),
			 0);
	assert_int_equal(mine.n, all.n - 2 + 1);
	assert_int_equal(find_rule(&mine, "keyctl"), -1);
	assert_int_equal(find_rule(&mine, "perf_event_open"), -1);
	assert_int_equal(mine.n_cond[find_rule(&mine, "clone")], 0);
	assert_int_equal(mine.n_cond[find_rule(&mine, "unshare")], 1);
	assert_int_equal(mine.err[find_rule(&mine, "clone3")], ENOSYS);
	assert_int_equal(find_rule(&mine, "ptrace"), mine.n - 1);
	assert_int_equal(mine.err[mine.n - 1], EPERM);

	/* a callback's error stops the walk */
	int calls = 0;
	assert_int_equal(
		sb_seccomp_foreach(get(&c, "default"), stop_at_third, &calls),
		-7);
	assert_int_equal(calls, 3);
	sb_config_free(&c);
}

/* ---- environment ---- */

static void test_env_precedence(void **state)
{
	(void)state;
	struct sb_config c;
	const char *y = "profiles:\n"
			"  default:\n"
			"    cpu: 1.5\n"
			"    secrets: [from-file]\n"
			"  other:\n"
			"    slots_per_sandbox: 2\n";
	/* built-in < SLOTBOX_<KEY> < file */
	char *env1[] = {"SLOTBOX_CPU=3", "SLOTBOX_SLOTS_PER_SANDBOX=7",
			"SLOTBOX_SECRETS=global-a, global-b", NULL};
	ok(&c, y, env1);
	assert_true(get(&c, "default")->cpu == 1.5);		    /* file */
	assert_true(get(&c, "other")->cpu == 3);		    /* global */
	assert_int_equal(get(&c, "default")->slots_per_sandbox, 7); /* global */
	assert_int_equal(get(&c, "other")->slots_per_sandbox, 2);   /* file */
	assert_int_equal(get(&c, "default")->n_secrets, 1); /* replaced */
	assert_string_equal(get(&c, "default")->secrets[0], "from-file");
	assert_int_equal(get(&c, "other")->n_secrets, 2);
	assert_string_equal(get(&c, "other")->secrets[1], "global-b");
	assert_int_equal(get(&c, "default")->memory_mb, 2048); /* built-in */
	sb_config_free(&c);

	/* file < SLOTBOX_PROFILE_<NAME>_<KEY>, whatever the env order */
	char *env2[] = {"SLOTBOX_PROFILE_DEFAULT_CPU=4", "SLOTBOX_CPU=3",
			"SLOTBOX_PROFILE_OTHER_SLOTS_PER_SANDBOX=9",
			"SLOTBOX_PROFILE_OTHER_SECRETS=", NULL};
	ok(&c, y, env2);
	assert_true(get(&c, "default")->cpu == 4);
	assert_true(get(&c, "other")->cpu == 3);
	assert_int_equal(get(&c, "other")->slots_per_sandbox, 9);
	assert_int_equal(get(&c, "other")->n_secrets, 0);
	sb_config_free(&c);

	/* without a file: SLOTBOX_PROFILE_ beats SLOTBOX_ */
	char *env3[] = {"SLOTBOX_PROFILE_DEFAULT_MEMORY=512",
			"SLOTBOX_MEMORY=4096", NULL};
	ok(&c, NULL, env3);
	assert_int_equal(get(&c, "default")->memory_mb, 512);
	sb_config_free(&c);

	/* default_profile: the file beats SLOTBOX_DEFAULT_PROFILE, which is
	 * used when the file says nothing */
	char *env4[] = {"SLOTBOX_DEFAULT_PROFILE=other", NULL};
	ok(&c, y, env4);
	assert_string_equal(c.default_profile, "other");
	sb_config_free(&c);
	ok(&c, "default_profile: default\nprofiles: {other: {}}\n", env4);
	assert_string_equal(c.default_profile, "default");
	sb_config_free(&c);
	char *env5[] = {"SLOTBOX_DEFAULT_PROFILE=ghost", NULL};
	FAIL(y, env5,
	     "environment variable SLOTBOX_DEFAULT_PROFILE: default_profile "
	     "\"ghost\" is not a defined profile");
	char *env6[] = {"SLOTBOX_DEFAULT_PROFILE=", NULL};
	ok(&c, y, env6);
	assert_string_equal(c.default_profile, "default");
	sb_config_free(&c);
}

static void test_env_profiles_list(void **state)
{
	(void)state;
	struct sb_config c;
	char *env[] = {"SLOTBOX_PROFILES= gpu-small ,,cpu_big, gpu-small,file",
		       "SLOTBOX_MEMORY=4096", "SLOTBOX_DEFAULT_PROFILE=cpu_big",
		       NULL};
	ok(&c, "profiles:\n  file:\n    memory: 1024\n", env);
	assert_int_equal(c.n_profiles,
			 4); /* file, gpu-small, cpu_big, default */
	assert_string_equal(c.profiles[0].name, "file");
	assert_string_equal(c.profiles[1].name, "gpu-small");
	assert_string_equal(c.profiles[2].name, "cpu_big");
	assert_string_equal(c.profiles[3].name, "default");
	assert_int_equal(get(&c, "file")->memory_mb, 1024);
	assert_int_equal(get(&c, "gpu-small")->memory_mb, 4096);
	assert_int_equal(get(&c, "default")->memory_mb, 4096);
	assert_string_equal(c.default_profile, "cpu_big");
	sb_config_free(&c);

	char *bad[] = {"SLOTBOX_PROFILES=ok,not ok", NULL};
	FAIL(NULL, bad,
	     "environment variable SLOTBOX_PROFILES: invalid profile name "
	     "\"not ok\"");
	char *empty[] = {"SLOTBOX_PROFILES=", NULL};
	ok(&c, NULL, empty);
	assert_int_equal(c.n_profiles, 1);
	sb_config_free(&c);
}

static void test_env_profile_names(void **state)
{
	(void)state;
	struct sb_config c;
	/* '-' reads as '_', longest name first, and the split must leave
	 * a real key */
	char *env[] = {"SLOTBOX_PROFILES=gpu-small,a,a_min,gpu",
		       "SLOTBOX_PROFILE_GPU_SMALL_CPU=2",
		       "SLOTBOX_PROFILE_GPU_CPU=3",
		       "SLOTBOX_PROFILE_A_MIN_SANDBOXES=0",
		       "SLOTBOX_PROFILE_A_MIN_MAX_SANDBOXES=3",
		       "SLOTBOX_PROFILE_A_MIN_MIN_SANDBOXES=2",
		       NULL};
	ok(&c, NULL, env);
	assert_true(get(&c, "gpu-small")->cpu == 2);
	assert_true(get(&c, "gpu")->cpu == 3);
	assert_int_equal(get(&c, "a")->min_sandboxes, 0);
	assert_int_equal(get(&c, "a_min")->max_sandboxes, 3);
	assert_int_equal(get(&c, "a_min")->min_sandboxes, 2);
	assert_int_equal(get(&c, "a")->max_sandboxes, 8);
	sb_config_free(&c);

	/* a profile from the file, with mixed case and '-' */
	char *env2[] = {"SLOTBOX_PROFILE_MY_GPU_2_IDLE_TIMEOUT_S=5", NULL};
	ok(&c, "profiles:\n  My-gpu_2: {}\n", env2);
	assert_true(get(&c, "My-gpu_2")->idle_timeout_s == 5);
	sb_config_free(&c);

	/* two names that read the same in a variable */
	char *env3[] = {"SLOTBOX_PROFILES=a-b,a_b", "SLOTBOX_PROFILE_A_B_CPU=2",
			NULL};
	FAIL(NULL, env3,
	     "environment variable SLOTBOX_PROFILE_A_B_CPU: matches both "
	     "profile");
}

static void test_env_rejections(void **state)
{
	(void)state;
	char *e1[] = {"SLOTBOX_PROFILE_NOPE_CPU=1", NULL};
	FAIL(NULL, e1,
	     "environment variable SLOTBOX_PROFILE_NOPE_CPU: matches no "
	     "profile");
	char *e2[] = {"SLOTBOX_PROFILE_DEFAULT_CPUX=1", NULL};
	FAIL(NULL, e2,
	     "environment variable SLOTBOX_PROFILE_DEFAULT_CPUX: unknown key "
	     "CPUX for profile \"default\"");
	char *e3[] = {"SLOTBOX_PROFILE_DEFAULT_DEFAULT_PROFILE=x", NULL};
	FAIL(NULL, e3, "SLOTBOX_PROFILE_DEFAULT_DEFAULT_PROFILE: unknown key");
	char *e4[] = {"SLOTBOX_PROFILE_DEFAULT_cpu=1", NULL};
	FAIL(NULL, e4, "SLOTBOX_PROFILE_DEFAULT_cpu: unknown key");
	char *e5[] = {"SLOTBOX_PROFILE_=1", NULL};
	FAIL(NULL, e5, "SLOTBOX_PROFILE_: matches no profile");
	char *e6[] = {"SLOTBOX_CPU=-2", NULL};
	FAIL(NULL, e6,
	     "environment variable SLOTBOX_CPU: key \"cpu\": expected a number "
	     "in (0, 1024], got \"-2\"");
	char *e7[] = {"SLOTBOX_MAX_SANDBOXES=1e3", NULL};
	FAIL(NULL, e7, "SLOTBOX_MAX_SANDBOXES: key \"max_sandboxes\"");
	char *e8[] = {"SLOTBOX_MEMORY=1024", "SLOTBOX_MEMORY_MB=1024", NULL};
	FAIL(NULL, e8,
	     "environment variable SLOTBOX_MEMORY_MB: sets the same key as "
	     "SLOTBOX_MEMORY");
	char *e9[] = {"SLOTBOX_PROFILE_DEFAULT_IDLE_TIMEOUT=1",
		      "SLOTBOX_PROFILE_DEFAULT_IDLE_TIMEOUT_S=2", NULL};
	FAIL(NULL, e9,
	     "SLOTBOX_PROFILE_DEFAULT_IDLE_TIMEOUT_S: sets the same "
	     "key");
	char *e10[] = {"SLOTBOX_WORKSPACE_BASE=relative", NULL};
	FAIL(NULL, e10,
	     "environment variable SLOTBOX_WORKSPACE_BASE: key "
	     "\"workspace_base\"");
	char *e11[] = {"SLOTBOX_ENV_VARS=A=1;oops;B=2", NULL};
	FAIL(NULL, e11,
	     "environment variable SLOTBOX_ENV_VARS: key \"env_vars\": item "
	     "#2 has no '='");
	char *e12[] = {"SLOTBOX_SECRETS=a,b c", NULL};
	FAIL(NULL, e12,
	     "environment variable SLOTBOX_SECRETS: key \"secrets\": secret "
	     "#2 is not a valid name");
}

static void test_env_ignored_and_forms(void **state)
{
	(void)state;
	struct sb_config c;
	/* the daemon's own variables, and anything else, are not ours */
	char *env[] = {
		"SLOTBOX_SOCKET=/run/x.sock", "SLOTBOX_STATE_DIR=/var/lib/x",
		"SLOTBOX_LOG=debug", "SLOTBOX_INIT=/usr/libexec/slotbox-init",
		"SLOTBOX_TOKEN=hunter2", "SLOTBOX_CGROUP_ROOT=/sys/fs/cgroup",
		"SLOTBOX_cpu=nonsense", "SLOTBOX_WHATEVER=1", "SLOTBOX_=1",
		"SLOTBOX_NO_EQUALS", "NOT_SLOTBOX_CPU=x", "PATH=/usr/bin",
		/* forms of the list keys, blanks trimmed */
		"SLOTBOX_ENV_VARS= A = 1 ;B=x=y;; EMPTY= ;",
		"SLOTBOX_SECRETS= s1 ,, s2 ,",
		/* as getenv(): the first of two wins */
		"SLOTBOX_PIDS_MAX=100", "SLOTBOX_PIDS_MAX=bad", NULL};
	ok(&c, NULL, env);
	const struct sb_profile *p = get(&c, "default");
	assert_int_equal(p->n_env_vars, 3);
	assert_string_equal(p->env_vars[0].key, "A");
	assert_string_equal(p->env_vars[0].value, "1");
	assert_string_equal(p->env_vars[1].key, "B");
	assert_string_equal(p->env_vars[1].value, "x=y");
	assert_string_equal(p->env_vars[2].key, "EMPTY");
	assert_string_equal(p->env_vars[2].value, "");
	assert_int_equal(p->n_secrets, 2);
	assert_string_equal(p->secrets[0], "s1");
	assert_string_equal(p->secrets[1], "s2");
	assert_int_equal(p->pids_max, 100);
	sb_config_free(&c);

	/* every documented key name is accepted in the environment */
	char *all[] = {"SLOTBOX_IMAGE=dir:/srv/r",
		       "SLOTBOX_GPU=all",
		       "SLOTBOX_CPU=2",
		       "SLOTBOX_MEMORY_MB=1024",
		       "SLOTBOX_PIDS_MAX=64",
		       "SLOTBOX_NETWORK=host",
		       "SLOTBOX_SLOTS_PER_SANDBOX=3",
		       "SLOTBOX_MIN_SANDBOXES=0",
		       "SLOTBOX_MAX_SANDBOXES=5",
		       "SLOTBOX_IDLE_TIMEOUT_S=1",
		       "SLOTBOX_MAX_LIFETIME=2",
		       "SLOTBOX_ACQUIRE_TIMEOUT=3",
		       "SLOTBOX_EXECUTION_TIMEOUT_S=4",
		       "SLOTBOX_WORKSPACE_DIR=/ws/",
		       "SLOTBOX_OUTPUT_LIMIT_BYTES=2048",
		       "SLOTBOX_MAX_FILE_BYTES=10",
		       NULL};
	ok(&c, NULL, all);
	p = get(&c, "default");
	assert_string_equal(p->image, "dir:/srv/r");
	assert_string_equal(p->gpu, "all");
	assert_true(p->cpu == 2);
	assert_int_equal(p->memory_mb, 1024);
	assert_int_equal(p->pids_max, 64);
	assert_string_equal(p->network, "host");
	assert_int_equal(p->slots_per_sandbox, 3);
	assert_int_equal(p->min_sandboxes, 0);
	assert_int_equal(p->max_sandboxes, 5);
	assert_true(p->idle_timeout_s == 1);
	assert_true(p->max_lifetime_s == 2);
	assert_true(p->acquire_timeout_s == 3);
	assert_true(p->execution_timeout_s == 4);
	assert_string_equal(p->workspace_dir, "/ws");
	assert_int_equal(p->output_limit_bytes, 2048);
	assert_int_equal(p->max_file_bytes, 10);
	sb_config_free(&c);
}

/* ---- secrets stay out of messages ---- */

static void test_secrets_never_in_errors(void **state)
{
	(void)state;
	const char *const banned[] = {"s3cr3t", NULL};
	/* env_vars values: bad items, duplicates, bad names, too long */
	char *e1[] = {"SLOTBOX_ENV_VARS=TOKEN=s3cr3t-1;s3cr3t-2", NULL};
	FAIL_NO_LEAK(NULL, e1, banned, "SLOTBOX_ENV_VARS", "item #2");
	char *e2[] = {"SLOTBOX_ENV_VARS=TOKEN=s3cr3t-1;TOKEN=s3cr3t-2", NULL};
	FAIL_NO_LEAK(NULL, e2, banned, "duplicate variable \"TOKEN\"");
	char *e3[] = {"SLOTBOX_PROFILE_DEFAULT_ENV_VARS=1BAD=s3cr3t", NULL};
	FAIL_NO_LEAK(NULL, e3, banned,
		     "SLOTBOX_PROFILE_DEFAULT_ENV_VARS: key \"env_vars\"",
		     "invalid name");
	/* secrets: a value pasted where a name goes is not echoed */
	char *e4[] = {"SLOTBOX_SECRETS=ok,s3cr3t/value", NULL};
	FAIL_NO_LEAK(NULL, e4, banned, "secret #2 is not a valid name");
	char *e5[] = {"SLOTBOX_SECRETS=s3cr3t,s3cr3t", NULL};
	FAIL_NO_LEAK(NULL, e5, banned, "secret #2 repeats secret #1");
	FAIL_NO_LEAK("profiles:\n  a:\n    env_vars:\n      K: s3cr3t\n"
		     "      K: s3cr3t2\n",
		     NULL, banned, "p.yaml:5:", "duplicate variable \"K\"");
	FAIL_NO_LEAK("profiles:\n  a:\n    env_vars: {K: s3cr3t}\n"
		     "    secrets: [s3cr3t!]\n",
		     NULL, banned, "p.yaml:4:", "secret #1");
	/* an unrelated error after env values were set */
	FAIL_NO_LEAK("profiles:\n  a:\n    env_vars: {K: s3cr3t}\n"
		     "    cpu: nope\n",
		     NULL, banned, "p.yaml:4:", "key \"cpu\"");
	char *e6[] = {"SLOTBOX_ENV_VARS=K=s3cr3t", "SLOTBOX_CPU=x", NULL};
	FAIL_NO_LEAK(NULL, e6, banned, "SLOTBOX_CPU");
	/* a value that is too long names the variable only */
	size_t n = SB_CFG_MAX_STRING + 32;
	char *big = malloc(n);
	assert_non_null(big);
	int off = snprintf(big, n, "SLOTBOX_ENV_VARS=K=s3cr3t");
	memset(big + off, 'x', n - (size_t)off - 1);
	big[n - 1] = '\0';
	char *e7[] = {big, NULL};
	FAIL_NO_LEAK(NULL, e7, banned, "the value of \"K\" is longer than");
	free(big);
}

/* ---- files ---- */

static void test_load_file(void **state)
{
	(void)state;
	char path[] = "/tmp/test_config_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *y = "profiles:\n  a:\n    cpu: 2\n    cpux: 1\n";
	assert_int_equal(write(fd, y, strlen(y)), (ssize_t)strlen(y));
	close(fd);

	struct sb_config c;
	struct sb_err err = {0};
	char want[128];
	assert_int_equal(sb_config_load(&c, path, no_env, &err), -1);
	snprintf(want, sizeof want,
		 "%s:4: profile \"a\": key \"cpux\": unknown key", path);
	assert_string_equal(err.msg, want);
	assert_int_equal(c.n_profiles, 0);

	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("profiles:\n  a:\n    cpu: 2\n", f);
	fclose(f);
	assert_int_equal(sb_config_load(&c, path, no_env, &err), 0);
	assert_true(get(&c, "a")->cpu == 2);
	assert_non_null(get(&c, "default"));
	sb_config_free(&c);
	unlink(path);

	assert_int_equal(sb_config_load(&c, path, no_env, &err), -1);
	assert_int_equal(err.sys_errno, ENOENT);
	assert_non_null(strstr(err.msg, path));
	assert_int_equal(sb_config_load(&c, "/tmp", no_env, &err), -1);
	assert_non_null(strstr(err.msg, "/tmp is not a regular file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin_defaults),
		cmocka_unit_test(test_default_profile_always_exists),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_quoted_and_flow_values),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_profile_names),
		cmocka_unit_test(test_anchors_aliases_tags),
		cmocka_unit_test(test_document_shape),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_memory_scopes),
		cmocka_unit_test(test_env_name_limit),
		cmocka_unit_test(test_bad_numbers),
		cmocka_unit_test(test_min_max),
		cmocka_unit_test(test_prestart_slots),
		cmocka_unit_test(test_workspace_dir),
		cmocka_unit_test(test_network),
		cmocka_unit_test(test_gpu_and_image),
		cmocka_unit_test(test_gpu_per_slot_keys),
		cmocka_unit_test(test_seed_file),
		cmocka_unit_test(test_atropos_env),
		cmocka_unit_test(test_seccomp_keys),
		cmocka_unit_test(test_seccomp_rejections),
		cmocka_unit_test(test_seccomp_policy),
		cmocka_unit_test(test_env_precedence),
		cmocka_unit_test(test_env_profiles_list),
		cmocka_unit_test(test_env_profile_names),
		cmocka_unit_test(test_env_rejections),
		cmocka_unit_test(test_env_ignored_and_forms),
		cmocka_unit_test(test_secrets_never_in_errors),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_workspace_template),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
