/* SPDX-License-Identifier: Apache-2.0 */
/* daemon.h - slotboxd's process: options, start-up and clean shutdown. */
#ifndef SLOTBOX_DAEMON_DAEMON_H
#define SLOTBOX_DAEMON_DAEMON_H

#include <limits.h>
#include <stdbool.h>

#include "common/log.h"

struct daemon_opts {
	const char *socket_path;
	const char *state_dir;
	const char *config_path; /* NULL: built-in default + environment */
	/* ATROPOS_MODAL_PROFILES_FILE was read: config_path is it, or NULL
	 * when that file does not exist */
	bool config_from_atropos;
	const char *listen; /* "tcp://HOST:PORT" or NULL */
	const char *token_file;
	const char *init_path;	  /* NULL: next to slotboxd */
	const char *cgroup_mount; /* NULL: detect; "none": no cgroups */
	const char *secrets_dir;  /* NULL: SB_SECRETS_DEFAULT_DIR */
	int orphan_timeout_s;	  /* how long sandboxes outlive us; 0: not */
	bool keep_sandboxes;	  /* SIGTERM leaves them for the next start */
	double header_timeout_s;  /* a request line and headers arrive within */
	bool public_health;	  /* GET /v1/health on TCP needs no token */
	/* Cap on what all snapshots cost on disk (snapshots.h); 0: none. */
	long long snapshot_store_max_bytes;
	/* network: egress: the slots' /16 (daemon/egress.h); NULL: default */
	const char *egress_net;
	/* how slots enter their roots: "auto" (NULL), "chroot", "pivot_root"
	 * (config/seccomp_policy.h: sb_slot_root) */
	const char *slot_root;
	enum sb_log_format log_format;
	enum sb_log_level log_level;
};

/* Run until SIGTERM/SIGINT. Returns the process exit code. */
int daemon_run(const struct daemon_opts *opts);

#endif
