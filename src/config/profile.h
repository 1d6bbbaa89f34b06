/* SPDX-License-Identifier: Apache-2.0 */
/* profile.h - profiles: what a pool's sandboxes look like.
 *
 * Profiles come from built-in defaults, the global SLOTBOX_<KEY> environment
 * variables, an optional YAML file, and SLOTBOX_PROFILE_<NAME>_<KEY>
 * variables, in that order of precedence (later wins). A profile named
 * "default" always exists. Bad input is rejected with the file, line and key
 * (or the variable name) in the error message; nothing is half-loaded. */
#ifndef SLOTBOX_CONFIG_PROFILE_H
#define SLOTBOX_CONFIG_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define SB_PROFILE_NAME_MAX 63
#define SB_GPU_MAX 64 /* /dev/nvidia0 .. /dev/nvidia63 */

struct sb_kv {
	char *key;
	char *value;
};

enum sb_seccomp_mode {
	SB_SECCOMP_DEFAULT, /* the built-in deny list (seccomp_policy.h) */
	SB_SECCOMP_NONE,    /* no filter at all */
};

struct sb_profile {
	char name[SB_PROFILE_NAME_MAX + 1]; /* [A-Za-z0-9_-]+ */
	char *image;			    /* "host" or "dir:/abs/path" */
	char *gpu;			    /* NULL when no GPU is wanted */
	/* Per-slot GPU choice (gpu_assign.h): each slot gets gpu_per_slot
	 * GPUs of the gpu set in turn (0 = the whole set), or slot i gets
	 * slot_gpus[i mod n] ("none", "all" or "0,1"). */
	int gpu_per_slot;
	char **slot_gpus;
	size_t n_slot_gpus;
	double cpu;	   /* CPUs, fractional; > 0 */
	int64_t memory_mb; /* per slot; 0 = no per-slot limit */
	/* the whole sandbox's memory; 0 = slots_per_sandbox * memory_mb */
	int64_t sandbox_memory_mb;
	int64_t pids_max;      /* > 0 */
	int64_t disk_mb;       /* per-slot cap on written bytes, 0 = none */
	char *network;	       /* "none", "egress" or "host" */
	int slots_per_sandbox; /* 1..1000 */
	int min_sandboxes;     /* 0..max_sandboxes */
	int max_sandboxes;     /* 1..10000 */
	/* An acquire that leaves fewer slots than this available or
	 * starting starts another sandbox ahead of demand (pool.c,
	 * pool_prestart); 0 = only for a waiting acquire. -1 until
	 * sb_profile_settle(): slots_per_sandbox / 2. */
	int prestart_slots;
	double idle_timeout_s;	    /* >= 0 */
	double max_lifetime_s;	    /* >= 0, 0 = unlimited */
	double acquire_timeout_s;   /* > 0 */
	double execution_timeout_s; /* > 0 */
	char *workspace_dir;	    /* absolute, normalised, not "/" */
	/* Absolute path of a directory or a .tar, .tar.gz, .tgz or .zip
	 * archive every workspace starts as; NULL = an empty workspace. */
	char *workspace_template;
	int64_t output_limit_bytes; /* per stream cap, > 0 */
	int64_t max_file_bytes;	    /* write/upload cap, > 0 */
	/* devpts max= of each slot generation (1..4096): one slot cannot
	 * take the host's ptys */
	int64_t ptys_max;
	/* Each sandbox in a user namespace of its own (init_userns.c): its
	 * root and its slots' uids are unprivileged uids of the daemon's
	 * range on the host. 1 yes, 0 no; -1 (not set) is the default (off;
	 * never with network: egress or gpu), settled by sb_profile_settle()
	 * once every source is read. */
	int userns;
	/* background processes (API 1.1) a slot's lease may hold at once,
	 * and the output ring each keeps */
	int64_t max_processes;
	int64_t process_output_bytes;
	/* A snapshot's bound (tree_scan.h): its cost on the host's disk, 0 =
	 * disk_mb's (16 GiB without disk_mb), and its entries. */
	int64_t snapshot_max_bytes;
	int64_t snapshot_max_entries;
	char **secrets; /* names only, never values */
	size_t n_secrets;
	struct sb_kv *env_vars;
	size_t n_env_vars;
	enum sb_seccomp_mode seccomp;
	char **seccomp_deny; /* system calls added to the default list */
	size_t n_seccomp_deny;
	char **seccomp_allow; /* ... and taken out of it */
	size_t n_seccomp_allow;
	/* network: egress: networks let through although refused by
	 * default, and networks refused besides; canonical CIDR text
	 * (common/cidr.h), parsed again where the ruleset is made. */
	char **allow_cidrs;
	size_t n_allow_cidrs;
	char **deny_cidrs;
	size_t n_deny_cidrs;
	/* Not configuration: the compiled filter, a sealed memfd the daemon
	 * makes once the profiles are loaded (and closes); -1 for none. */
	int seccomp_fd;
	/* Not configuration either: the daemon's prepared copy of the
	 * template (templates.h) and its identity (hex); NULL / "" for none. */
	char *template_dir;
	char template_id[17];
	/* Not configuration: the gpu set as device numbers (/dev/nvidiaN),
	 * "all" resolved against the host by the daemon at start. */
	int gpu_devs[SB_GPU_MAX];
	int n_gpu_devs;
	/* Not configuration: network: egress's interface group of the
	 * profile's slots (daemon/egress.h), set by the daemon at start. */
	uint32_t egress_group;
};

struct sb_config {
	struct sb_profile *profiles; /* "default" is always present */
	size_t n_profiles;
	char *default_profile; /* name of the profile used when none is asked */
	/* What was accepted but deserves a log line: keys of the seed's
	 * files that mean nothing here (app_name), ATROPOS_MODAL_* variables
	 * read as a fallback... The daemon logs them once loaded. */
	char **warnings;
	size_t n_warnings;
};

/* Built-in defaults of every key, applied before anything else. */
void sb_profile_defaults(struct sb_profile *p, const char *name);

/* Load profiles. path may be NULL (no file). envp is the environment to read
 * SLOTBOX_* variables from (pass `environ`; tests pass their own array).
 * On failure returns -1, leaves cfg empty and says why in err. */
int sb_config_load(struct sb_config *cfg, const char *path, char *const *envp,
		   struct sb_err *err);

/* Same, from a YAML document in memory (for tests and fuzzing); `origin`
 * names it in error messages. */
int sb_config_load_string(struct sb_config *cfg, const char *yaml, size_t len,
			  const char *origin, char *const *envp,
			  struct sb_err *err);

void sb_config_free(struct sb_config *cfg);

/* A registry reference as the seed writes it ("python:3.11",
 * "docker.io/library/python:3.11") as the name of the store image it
 * means: Docker Hub's registry and its "library/" dropped. False when the
 * rest is not a valid store name (store names have no '/') or does not
 * fit in size. */
bool image_store_name(const char *ref, char *out, size_t size);

/* NULL when there is no such profile. */
const struct sb_profile *sb_config_find(const struct sb_config *cfg,
					const char *name);

#endif
