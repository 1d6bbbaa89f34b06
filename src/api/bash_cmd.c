/* SPDX-License-Identifier: Apache-2.0 */
/* bash_cmd.c - a bash command's request arguments (bash_cmd.h). */
#include "api/bash_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "common/util.h"

int bash_cmd_prepare(struct slot_cmd *c, struct sbx_slot *slot, json_t *args,
		     const char *where, struct sb_err *err,
		     const char **stdin_data, size_t *stdin_len,
		     bool *merge_output)
{
	json_t *cmd = json_object_get(args, "command");
	json_t *in = json_object_get(args, "stdin");
	json_t *env = json_object_get(args, "env");
	json_t *cwd = json_object_get(args, "cwd");
	const char *key;
	json_t *val;

	json_t *merge = json_object_get(args, "merge_output");

	/* Other keys are accepted and ignored: callers send their own
	 * conventions (ToolExecutor's allow_network, require_sandbox...). */
	if (merge && !json_is_null(merge) && !json_is_boolean(merge)) {
		return sb_err_set(
			err, 0, "%smerge_output must be true or false", where);
	}
	*merge_output = json_is_true(merge);
	if (!json_is_string(cmd) || json_string_length(cmd) > API_MAX_COMMAND ||
	    strlen(json_string_value(cmd)) != json_string_length(cmd)) {
		return sb_err_set(
			err, 0,
			"%scommand must be a string of at most %u bytes "
			"without NUL",
			where, API_MAX_COMMAND);
	}
	if (in && !json_is_null(in) &&
	    (!json_is_string(in) || json_string_length(in) > API_MAX_STDIN)) {
		return sb_err_set(
			err, 0, "%sstdin must be a string of at most %u bytes",
			where, API_MAX_STDIN);
	}
	if (cwd && !json_is_null(cwd) &&
	    (!json_is_string(cwd) || json_string_length(cwd) > 4000 ||
	     strlen(json_string_value(cwd)) != json_string_length(cwd))) {
		return sb_err_set(err, 0, "%scwd must be a path string", where);
	}
	if (env && !json_is_null(env) &&
	    (!json_is_object(env) || json_object_size(env) > API_MAX_ENV)) {
		return sb_err_set(
			err, 0, "%senv must be an object of at most %d strings",
			where, API_MAX_ENV);
	}
	if (slot_cmd_init(c, slot, json_string_value(cmd),
			  json_is_string(cwd) ? json_string_value(cwd) : "") <
	    0)
		goto oom;
	if (json_is_object(env)) {
		json_object_foreach(env, key, val)
		{
			if (!sb_env_name_valid(key) || !json_is_string(val) ||
			    strlen(json_string_value(val)) !=
				    json_string_length(val)) {
				return sb_err_set(
					err, 0,
					"%senv: \"%.64s\" must be a valid "
					"name with a string value",
					where, key);
			}
			if (slot_cmd_env_push(c, key, json_string_value(val)) <
			    0)
				goto oom;
		}
	}
	*stdin_data = json_is_string(in) ? json_string_value(in) : NULL;
	*stdin_len = json_is_string(in) ? json_string_length(in) : 0;
	return 0;
oom:
	return sb_err_set(err, 0, "out of memory");
}

int bash_cmd_pty(json_t *v, unsigned *rows, unsigned *cols)
{
	*rows = *cols = 0;
	if (!v || json_is_null(v) || json_is_false(v))
		return 0;
	if (json_is_true(v)) {
		*rows = 24;
		*cols = 80;
		return 0;
	}
	json_t *r = json_object_get(v, "rows"), *c = json_object_get(v, "cols");
	if (!json_is_object(v) || !json_is_integer(r) || !json_is_integer(c) ||
	    json_integer_value(r) < 1 || json_integer_value(r) > BASH_PTY_MAX ||
	    json_integer_value(c) < 1 || json_integer_value(c) > BASH_PTY_MAX)
		return -1;
	*rows = (unsigned)json_integer_value(r);
	*cols = (unsigned)json_integer_value(c);
	return 0;
}
