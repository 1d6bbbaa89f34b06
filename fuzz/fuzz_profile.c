/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_profile.c - profiles: the YAML file and the SLOTBOX_* environment.
 *
 * Input: the YAML document, then optionally a NUL and environment entries
 * ("SLOTBOX_CPU=2"), NUL-separated. Both go through sb_config_load_string
 * as the daemon's start does. Checks: a load either fails with a message
 * and leaves nothing, or yields profiles that keep every bound profile.h
 * promises (the daemon sizes cgroups, uids and buffers by them). */
#include <math.h>
#include <string.h>

#include "config/profile.h"
#include "fuzz.h"

#define MAX_ENV 64

static void check_profile(const struct sb_profile *p)
{
	size_t n = strlen(p->name);
	FUZZ_CHECK(n >= 1 && n <= SB_PROFILE_NAME_MAX &&
			   strspn(p->name, "abcdefghijklmnopqrstuvwxyz"
					   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					   "0123456789_-") == n,
		   "profile name %s", p->name);
	FUZZ_CHECK(isfinite(p->cpu) && p->cpu > 0, "cpu %g", p->cpu);
	FUZZ_CHECK(p->memory_mb > 0 && p->pids_max > 0 && p->disk_mb >= 0,
		   "memory %lld pids %lld disk %lld", (long long)p->memory_mb,
		   (long long)p->pids_max, (long long)p->disk_mb);
	FUZZ_CHECK(p->slots_per_sandbox >= 1 && p->slots_per_sandbox <= 1000,
		   "slots %d", p->slots_per_sandbox);
	FUZZ_CHECK(p->max_sandboxes >= 1 && p->max_sandboxes <= 10000 &&
			   p->min_sandboxes >= 0 &&
			   p->min_sandboxes <= p->max_sandboxes,
		   "min %d max %d", p->min_sandboxes, p->max_sandboxes);
	FUZZ_CHECK(isfinite(p->idle_timeout_s) && p->idle_timeout_s >= 0 &&
			   isfinite(p->max_lifetime_s) &&
			   p->max_lifetime_s >= 0,
		   "idle %g lifetime %g", p->idle_timeout_s, p->max_lifetime_s);
	FUZZ_CHECK(isfinite(p->acquire_timeout_s) && p->acquire_timeout_s > 0 &&
			   isfinite(p->execution_timeout_s) &&
			   p->execution_timeout_s > 0,
		   "acquire %g execution %g", p->acquire_timeout_s,
		   p->execution_timeout_s);
	FUZZ_CHECK(p->workspace_dir && p->workspace_dir[0] == '/' &&
			   strcmp(p->workspace_dir, "/") != 0,
		   "workspace_dir %s", p->workspace_dir);
	FUZZ_CHECK(p->image && p->network, "image or network unset");
	FUZZ_CHECK(p->output_limit_bytes > 0 && p->max_file_bytes > 0,
		   "output limit %lld max file %lld",
		   (long long)p->output_limit_bytes,
		   (long long)p->max_file_bytes);
	FUZZ_CHECK(!p->workspace_template || p->workspace_template[0] == '/',
		   "workspace_template %s", p->workspace_template);
	for (size_t i = 0; i < p->n_env_vars; i++) {
		const char *k = p->env_vars[i].key;
		FUZZ_CHECK(k && *k && strchr(k, '=') == NULL &&
				   p->env_vars[i].value,
			   "env var %zu", i);
	}
	for (size_t i = 0; i < p->n_secrets; i++)
		FUZZ_CHECK(p->secrets[i] && *p->secrets[i], "secret %zu", i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	char *envp[MAX_ENV + 1];
	size_t n_env = 0;
	FUZZ_SETUP(copy != NULL);
	memcpy(copy, data, size);
	copy[size] = '\0';
	size_t ylen = strnlen(copy, size);
	for (char *e = copy + ylen; e < copy + size && n_env < MAX_ENV;) {
		e++; /* past the NUL */
		if (*e)
			envp[n_env++] = e;
		e += strlen(e);
	}
	envp[n_env] = NULL;

	struct sb_config cfg;
	struct sb_err err = {0};
	if (sb_config_load_string(&cfg, copy, ylen, "fuzz.yaml", envp, &err) <
	    0) {
		FUZZ_CHECK(err.msg[0] != '\0', "a failure without a message");
		FUZZ_CHECK(cfg.n_profiles == 0 && !cfg.profiles,
			   "a failed load left %zu profiles", cfg.n_profiles);
	} else {
		FUZZ_CHECK(sb_config_find(&cfg, "default"),
			   "no default profile");
		FUZZ_CHECK(cfg.default_profile &&
				   sb_config_find(&cfg, cfg.default_profile),
			   "default_profile %s does not exist",
			   cfg.default_profile);
		for (size_t i = 0; i < cfg.n_profiles; i++)
			check_profile(&cfg.profiles[i]);
		for (size_t i = 0; i < cfg.n_profiles; i++)
			for (size_t j = i + 1; j < cfg.n_profiles; j++)
				FUZZ_CHECK(strcmp(cfg.profiles[i].name,
						  cfg.profiles[j].name) != 0,
					   "profile %s twice",
					   cfg.profiles[i].name);
	}
	sb_config_free(&cfg);
	free(copy);
	return 0;
}
