/* profile_env.c - SLOTBOX_* environment variables, as the seed's
 * ATROPOS_MODAL_* ones: SLOTBOX_<KEY> for every profile,
 * SLOTBOX_PROFILE_<NAME>_<KEY> for one, SLOTBOX_PROFILES=a,b to add. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool/profile_internal.h"

static const char *const env_keys[] = {
	"IMAGE",
	"GPU",
	"CPU",
	"MEMORY",
	"MEMORY_MB",
	"PIDS_MAX",
	"NETWORK",
	"SLOTS_PER_SANDBOX",
	"MIN_SANDBOXES",
	"MAX_SANDBOXES",
	"IDLE_TIMEOUT",
	"IDLE_TIMEOUT_S",
	"MAX_LIFETIME",
	"MAX_LIFETIME_S",
	"ACQUIRE_TIMEOUT",
	"ACQUIRE_TIMEOUT_S",
	"EXECUTION_TIMEOUT",
	"EXECUTION_TIMEOUT_S",
	"WORKSPACE_DIR",
	"WORKSPACE_BASE",
	"OUTPUT_LIMIT_BYTES",
	"MAX_FILE_BYTES",
	"SECRETS",
	"ENV_VARS",
};

static bool is_key(const char *k)
{
	for (size_t i = 0; i < sizeof env_keys / sizeof env_keys[0]; i++)
		if (!strcmp(env_keys[i], k))
			return true;
	return false;
}

static void lower(const char *in, char *out, size_t len)
{
	size_t i = 0;
	for (; in[i] && i + 1 < len; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Apply KEY=value (KEY upper-case, as in env_keys) to p. */
static int apply(struct sb_profile *p, const char *var, const char *key,
		 const char *value, struct sb_err *err)
{
	char k[64];
	if (!strcmp(key, "SECRETS")) {
		char *copy = strdup(value);
		if (!copy)
			return sb_err_set(err, ENOMEM, "out of memory");
		sb_profile_clear_secrets(p);
		int r = 0;
		for (char *save, *tok = strtok_r(copy, ",", &save); tok && !r;
		     tok = strtok_r(NULL, ",", &save))
			if (*trim(tok))
				r = sb_profile_add_secret(p, trim(tok), err);
		free(copy);
		return r < 0 ? sb_err_prefix(err, "%s", var) : 0;
	}
	if (!strcmp(key, "ENV_VARS")) {
		char *copy = strdup(value);
		if (!copy)
			return sb_err_set(err, ENOMEM, "out of memory");
		sb_profile_clear_env(p);
		int r = 0;
		for (char *save, *tok = strtok_r(copy, ";", &save); tok && !r;
		     tok = strtok_r(NULL, ";", &save)) {
			char *eq = strchr(tok, '=');
			if (!eq)
				continue; /* as the seed: pairs without '=' */
			*eq = '\0';
			r = sb_profile_set_env(p, trim(tok), trim(eq + 1), err);
		}
		free(copy);
		return r < 0 ? sb_err_prefix(err, "%s", var) : 0;
	}
	lower(key, k, sizeof k);
	if (sb_profile_set_key(p, k, value, err) < 0)
		return sb_err_prefix(err, "%s", var);
	return 0;
}

int sb_env_apply_global(struct sb_profile *p, char *const *envp,
			struct sb_err *err)
{
	for (char *const *e = envp; *e; e++) {
		if (strncmp(*e, "SLOTBOX_", 8) ||
		    !strncmp(*e, "SLOTBOX_PROFILE", 15))
			continue;
		const char *eq = strchr(*e, '=');
		char key[64];
		if (!eq || (size_t)(eq - *e - 8) >= sizeof key)
			continue;
		snprintf(key, sizeof key, "%.*s", (int)(eq - *e - 8), *e + 8);
		if (!is_key(key))
			continue; /* the daemon's own settings */
		char var[80];
		snprintf(var, sizeof var, "SLOTBOX_%s", key);
		if (apply(p, var, key, eq + 1, err) < 0)
			return -1;
	}
	return 0;
}

int sb_env_profile_names(char *const *envp, struct sb_config *cfg,
			 const struct sb_profile *base, struct sb_err *err)
{
	for (char *const *e = envp; *e; e++) {
		if (strncmp(*e, "SLOTBOX_PROFILES=", 17))
			continue;
		char *copy = strdup(*e + 17);
		if (!copy)
			return sb_err_set(err, ENOMEM, "out of memory");
		int r = 0;
		for (char *save, *tok = strtok_r(copy, ",", &save); tok && !r;
		     tok = strtok_r(NULL, ",", &save)) {
			char *name = trim(tok);
			if (*name && !sb_config_add(cfg, name, base, err))
				r = sb_err_prefix(err, "SLOTBOX_PROFILES");
		}
		free(copy);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* NAME in a variable: upper case, '-' as '_'. */
static void env_name(const char *profile, char *out, size_t len)
{
	size_t i = 0;
	for (; profile[i] && i + 1 < len; i++)
		out[i] = profile[i] == '-'
				 ? '_'
				 : (char)toupper((unsigned char)profile[i]);
	out[i] = '\0';
}

int sb_env_apply_profiles(struct sb_config *cfg, char *const *envp,
			  struct sb_err *err)
{
	for (char *const *e = envp; *e; e++) {
		if (strncmp(*e, "SLOTBOX_PROFILE_", 16))
			continue;
		const char *rest = *e + 16;
		const char *eq = strchr(rest, '=');
		char var[128];
		if (!eq)
			continue;
		snprintf(var, sizeof var, "SLOTBOX_PROFILE_%.*s",
			 (int)(eq - rest) > 100 ? 100 : (int)(eq - rest), rest);
		/* Longest matching profile name first, so "a_b" wins over
		 * "a" for SLOTBOX_PROFILE_A_B_CPU. */
		struct sb_profile *best = NULL;
		size_t best_len = 0;
		for (size_t i = 0; i < cfg->n_profiles; i++) {
			char n[SB_PROFILE_NAME_MAX + 1];
			env_name(cfg->profiles[i].name, n, sizeof n);
			size_t l = strlen(n);
			if (l > best_len && !strncmp(rest, n, l) &&
			    rest[l] == '_' && rest + l + 1 < eq) {
				best = &cfg->profiles[i];
				best_len = l;
			}
		}
		if (!best)
			return sb_err_set(err, EINVAL,
					  "%s: names no known profile", var);
		char key[64];
		const char *k = rest + best_len + 1;
		if ((size_t)(eq - k) >= sizeof key)
			return sb_err_set(err, EINVAL, "%s: unknown key", var);
		snprintf(key, sizeof key, "%.*s", (int)(eq - k), k);
		if (!is_key(key))
			return sb_err_set(err, EINVAL, "%s: unknown key %s",
					  var, key);
		if (apply(best, var, key, eq + 1, err) < 0)
			return -1;
	}
	return 0;
}

const char *sb_env_default_profile(char *const *envp)
{
	for (char *const *e = envp; *e; e++)
		if (!strncmp(*e, "SLOTBOX_DEFAULT_PROFILE=", 24) && (*e)[24])
			return *e + 24;
	return NULL;
}
