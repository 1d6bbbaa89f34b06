/* SPDX-License-Identifier: Apache-2.0 */
/* bash_cmd.h - a bash command's request arguments, checked and turned
 * into a slot_cmd (pool/slot_cmd.h builds its argv, working directory and
 * environment). Shared by exec's bash tool and background processes. */
#ifndef SLOTBOX_API_BASH_CMD_H
#define SLOTBOX_API_BASH_CMD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "pool/slot_cmd.h"

struct sbx_slot;

#define API_MAX_COMMAND (1u << 20)
#define API_MAX_STDIN (16u << 20)
#define API_MAX_ENV 256

/* Validate args ({"command", "stdin", "env", "cwd", "merge_output"}) and
 * fill c (zeroed by the caller; free it with slot_cmd_free either way):
 * slot_cmd_init's command, then the request's env.
 * On error returns -1 with err's message naming each key with the prefix
 * `where` ("args." for exec). */
int bash_cmd_prepare(struct slot_cmd *c, struct sbx_slot *slot, json_t *args,
		     const char *where, struct sb_err *err,
		     const char **stdin_data, size_t *stdin_len,
		     bool *merge_output);

#define BASH_PTY_MAX 1000u

/* A "pty" value: absent, null or false (none: rows = cols = 0), true
 * (24 x 80) or {"rows": 1-1000, "cols": 1-1000}. 0 or -1 when bad. */
int bash_cmd_pty(json_t *v, unsigned *rows, unsigned *cols);

#endif
