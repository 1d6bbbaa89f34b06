/* profile_internal.h - shared between the profile loaders. */
#ifndef SLOTBOX_POOL_PROFILE_INTERNAL_H
#define SLOTBOX_POOL_PROFILE_INTERNAL_H

#include "pool/profile.h"

#define SB_CFG_MAX_PROFILES 256
#define SB_CFG_MAX_ENV 1024
#define SB_CFG_MAX_SECRETS 256
#define SB_CFG_MAX_STRING 65536

/* Set one scalar key from its text form. Errors name the key, never the
 * value of env_vars. Returns 0, -1 (bad value), -2 (unknown key). */
int sb_profile_set_key(struct sb_profile *p, const char *key, const char *value,
		       struct sb_err *err);
int sb_profile_add_secret(struct sb_profile *p, const char *name,
			  struct sb_err *err);
int sb_profile_set_env(struct sb_profile *p, const char *key, const char *value,
		       struct sb_err *err);
void sb_profile_clear_secrets(struct sb_profile *p);
void sb_profile_clear_env(struct sb_profile *p);
void sb_profile_free(struct sb_profile *p);
int sb_profile_copy(struct sb_profile *dst, const struct sb_profile *src,
		    const char *name);
int sb_profile_check(const struct sb_profile *p, struct sb_err *err);
bool sb_profile_name_ok(const char *name);

/* Find or append a profile (copying `base` for a new one). NULL on OOM or
 * when SB_CFG_MAX_PROFILES is reached. */
struct sb_profile *sb_config_add(struct sb_config *cfg, const char *name,
				 const struct sb_profile *base,
				 struct sb_err *err);

/* profile_env.c */
/* Apply SLOTBOX_<KEY> to p (the global layer). */
int sb_env_apply_global(struct sb_profile *p, char *const *envp,
			struct sb_err *err);
/* Names from SLOTBOX_PROFILES; calls add(name) for each. */
int sb_env_profile_names(char *const *envp, struct sb_config *cfg,
			 const struct sb_profile *base, struct sb_err *err);
/* Apply SLOTBOX_PROFILE_<NAME>_<KEY> to the matching profiles of cfg. */
int sb_env_apply_profiles(struct sb_config *cfg, char *const *envp,
			  struct sb_err *err);
/* SLOTBOX_DEFAULT_PROFILE, or NULL. */
const char *sb_env_default_profile(char *const *envp);

/* profile_yaml.c: parse into cfg (profiles copied from base, then keys). */
int sb_yaml_load(struct sb_config *cfg, const char *yaml, size_t len,
		 const char *origin, const struct sb_profile *base,
		 char **default_profile, struct sb_err *err);

#endif
