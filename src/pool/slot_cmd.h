/* SPDX-License-Identifier: Apache-2.0 */
/* slot_cmd.h - a shell command as a slot runs it: argv, working directory
 * and environment. The defaults (PATH, HOME, USER, SHELL, LANG, PWD,
 * SLOTBOX_SLOT_ID, a GPU slot's driver paths and devices), then the
 * image's, the profile's and the pool's secrets, each later one replacing
 * an earlier name; the caller adds its own last. Shared by exec's bash
 * tool and background processes. */
#ifndef SLOTBOX_POOL_SLOT_CMD_H
#define SLOTBOX_POOL_SLOT_CMD_H

#include <stdbool.h>
#include <stddef.h>

struct sbx_slot;

struct slot_cmd {
	struct sbx_slot *slot;
	const char *shell; /* the shell it runs in */
	char *argv[4];
	char **envp;
	size_t envc;
	char *cwd;
	char *command;
};

/* Fill c (zeroed by the caller; slot_cmd_free either way) to run command
 * with `sh -c` in cwd ("" or NULL: the workspace; relative: under it).
 * 0, or -1 when memory is short. */
int slot_cmd_init(struct slot_cmd *c, struct sbx_slot *slot,
		  const char *command, const char *cwd);

/* Add or replace NAME=value in c's environment. 0 or -1 (no memory). */
int slot_cmd_env_push(struct slot_cmd *c, const char *k, const char *v);

void slot_cmd_free(struct slot_cmd *c);

#endif
