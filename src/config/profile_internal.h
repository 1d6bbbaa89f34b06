/* SPDX-License-Identifier: Apache-2.0 */
/* profile_internal.h - shared by profile.c, profile_yaml.c, profile_env.c.
 *
 * Every source of a value (the YAML file, SLOTBOX_<KEY>, SLOTBOX_PROFILE_*)
 * goes through the same key table and setters, so a key means the same
 * thing and is checked the same way wherever it is written. */
#ifndef SLOTBOX_CONFIG_PROFILE_INTERNAL_H
#define SLOTBOX_CONFIG_PROFILE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "config/profile.h"

/* Bounds on untrusted input, so a hostile file cannot eat the daemon. */
#define SB_CFG_MAX_PROFILES 256
#define SB_CFG_MAX_ENV_VARS 1024  /* per profile */
#define SB_CFG_MAX_CIDRS 256	  /* per list: allow_cidrs, deny_cidrs */
#define SB_CFG_MAX_SECRETS 256	  /* per profile */
#define SB_CFG_MAX_SLOT_GPUS 1000 /* one per slot at most */
#define SB_CFG_MAX_STRING 65536	  /* bytes in any one string */
#define SB_CFG_MAX_FILE (16 << 20)
#define SB_CFG_SECRET_NAME_MAX 128
#define SB_CFG_SYSCALL_NAME_MAX 64
#define SB_CFG_MAX_WARNINGS 64

/* Room for a value quoted by sb_cfg_quote() (it truncates). */
#define SB_CFG_QUOTE_MAX 80

/* What a key sets. Aliases (memory / memory_mb...) share a field, so that
 * writing both in one place is caught as a duplicate. */
enum sb_field {
	SB_F_IMAGE,
	SB_F_GPU,
	SB_F_CPU,
	SB_F_MEMORY,
	SB_F_PIDS_MAX,
	SB_F_SANDBOX_MEMORY,
	SB_F_DISK,
	SB_F_NETWORK,
	SB_F_PTYS_MAX,
	SB_F_SLOTS,
	SB_F_MIN,
	SB_F_MAX,
	SB_F_PRESTART,
	SB_F_IDLE,
	SB_F_LIFETIME,
	SB_F_ACQUIRE,
	SB_F_EXECUTION,
	SB_F_WORKSPACE,
	SB_F_OUTPUT_LIMIT,
	SB_F_MAX_FILE,
	SB_F_SNAPSHOT_BYTES,
	SB_F_SNAPSHOT_ENTRIES,
	SB_F_SECRETS,
	SB_F_ENV_VARS,
	SB_F_SECCOMP,
	SB_F_SECCOMP_DENY,
	SB_F_SECCOMP_ALLOW,
	SB_F_TEMPLATE,
	SB_F_GPU_PER_SLOT,
	SB_F_SLOT_GPUS,
	SB_F_MAX_PROCESSES,
	SB_F_PROCESS_OUTPUT,
	SB_F_ALLOW_CIDRS,
	SB_F_DENY_CIDRS,
	SB_F_USERNS,
	SB_F_COUNT
};

enum sb_key_kind {
	SB_KEY_SCALAR, /* one value */
	SB_KEY_LIST,   /* YAML sequence; "a,b" in the environment */
	SB_KEY_MAP,    /* YAML mapping; "K=V;K2=V2" in the environment */
};

struct sb_key {
	const char *name; /* as written in YAML; the env name is upper case */
	enum sb_field field;
	enum sb_key_kind kind;
};

/* Look a key up by its YAML name (exact, lower case) or by its env name
 * (exact, upper case). NULL when there is no such key. */
const struct sb_key *sb_profile_key(const char *name, size_t len);
const struct sb_key *sb_profile_env_key(const char *name, size_t len);

/* Set one key from its text form: a scalar, or for lists (secrets,
 * seccomp_deny, seccomp_allow) "a,b" and for env_vars "K=V;K2=V2" (the
 * environment's forms; either replaces the whole list). value NULL means
 * YAML null: allowed for gpu (no GPU), lists and env_vars (empty), refused
 * elsewhere. Errors start with `key "KEY": ` and never quote an env_vars
 * value or a secret. */
int sb_profile_set_key(struct sb_profile *p, const char *key, const char *value,
		       struct sb_err *err);

/* List and map setters, for the YAML loader. Adding refuses invalid or
 * duplicate names and anything over the bounds above; for the seccomp
 * lists also names libseccomp does not know, seccomp_allow names that are
 * not on the default list and denying execve. f is a list key's field. */
void sb_profile_clear_list(struct sb_profile *p, enum sb_field f);
int sb_profile_add_to_list(struct sb_profile *p, enum sb_field f,
			   const char *name, struct sb_err *err);
void sb_profile_clear_env_vars(struct sb_profile *p);
int sb_profile_add_env_var(struct sb_profile *p, const char *key,
			   const char *value, struct sb_err *err);

/* Deep copy of src named `name`; on failure dst is left empty. */
int sb_profile_copy(struct sb_profile *dst, const struct sb_profile *src,
		    const char *name, struct sb_err *err);
/* Free what a profile owns and zero it (the struct itself is the
 * caller's). Safe on a zeroed profile. */
void sb_profile_free(struct sb_profile *p);
/* Checks that span keys (min <= max, no system call both denied and
 * allowed), once every source is applied. */
int sb_profile_check(const struct sb_profile *p, struct sb_err *err);
/* Settle what depends on other keys (userns). */
void sb_profile_settle(struct sb_profile *p);

/* [A-Za-z0-9_-]{1,63} */
bool sb_profile_name_valid(const char *name, size_t len);

/* s as "..." for a message: control bytes escaped, cut to fit size. */
void sb_cfg_quote(char *buf, size_t size, const char *s);

/* Mutable lookup, and append a copy of tmpl named `name` (refused past
 * SB_CFG_MAX_PROFILES). The returned pointer is valid until the next add. */
struct sb_profile *sb_config_find_mut(struct sb_config *cfg, const char *name,
				      size_t len);
struct sb_profile *sb_config_add(struct sb_config *cfg,
				 const struct sb_profile *tmpl,
				 const char *name, struct sb_err *err);

/* Add a warning to cfg->warnings (at most SB_CFG_MAX_WARNINGS kept). */
void sb_config_warn(struct sb_config *cfg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Built-in defaults plus every global SLOTBOX_<KEY> (else its
 * ATROPOS_MODAL_<KEY>) into tmpl, the base of every profile
 * (profile_env.c); cfg gets the warnings. */
int sb_env_apply_global(struct sb_config *cfg, struct sb_profile *tmpl,
			char *const *envp, struct sb_err *err);

/* After the file: add the SLOTBOX_PROFILES and "default" profiles, apply
 * SLOTBOX_PROFILE_<NAME>_<KEY>, settle default_profile and check every
 * profile (profile_env.c). file_default is the file's default_profile (or
 * NULL) and file_default_where says where it was written ("f.yaml:3"). */
int sb_env_finish(struct sb_config *cfg, const struct sb_profile *tmpl,
		  const char *file_default, const char *file_default_where,
		  char *const *envp, struct sb_err *err);

#endif
