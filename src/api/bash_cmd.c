/* SPDX-License-Identifier: Apache-2.0 */
/* bash_cmd.c - a bash command's argv, cwd and environment (bash_cmd.h). */
#include "api/bash_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "common/util.h"
#include "config/gpu_assign.h"

void bash_cmd_free(struct bash_cmd *c)
{
	for (size_t i = 0; i < c->envc; i++)
		free(c->envp[i]);
	free(c->envp);
	free(c->cwd);
	free(c->command);
	c->envp = NULL;
	c->envc = 0;
	c->cwd = c->command = NULL;
}

int bash_cmd_env_push(struct bash_cmd *c, const char *k, const char *v)
{
	size_t kl = strlen(k);
	/* A later definition of the same name replaces the earlier one, so
	 * request env beats profile env beats the defaults. */
	for (size_t i = 0; i < c->envc; i++) {
		if (strncmp(c->envp[i], k, kl) == 0 && c->envp[i][kl] == '=') {
			free(c->envp[i]);
			c->envp[i] = NULL;
			if (asprintf(&c->envp[i], "%s=%s", k, v) < 0) {
				c->envp[i] = strdup("");
				return -1;
			}
			return 0;
		}
	}
	char **n = realloc(c->envp, (c->envc + 2) * sizeof *n);
	if (!n)
		return -1;
	c->envp = n;
	if (asprintf(&c->envp[c->envc], "%s=%s", k, v) < 0)
		return -1;
	c->envc++;
	c->envp[c->envc] = NULL;
	return 0;
}

/* A GPU profile's slot: the driver's files where NVIDIA's CUDA images
 * expect them, and its GPUs named as the NVIDIA container runtime names
 * them: NVIDIA_VISIBLE_DEVICES the host's device numbers, and
 * CUDA_VISIBLE_DEVICES the slot's own ordinals (the slot has only its
 * GPUs' device nodes, so CUDA numbers them from 0). The isolation is the
 * nodes; these only say the same. */
static int env_push_gpu(struct bash_cmd *c)
{
	const struct sandbox *sb = c->slot->sb;
	int devs[SB_GPU_MAX];
	char vis[SB_GPU_MAX * 4], ord[SB_GPU_MAX * 4] = "";
	int n = gpu_assign_slot(sb->profile, sb->number, c->slot->index, devs);
	gpu_list_format(devs, n, vis, sizeof vis);
	for (int i = 0; i < n; i++)
		snprintf(ord + strlen(ord), sizeof ord - strlen(ord), "%s%d",
			 i ? "," : "", i);
	return bash_cmd_env_push(
		       c, "PATH",
		       "/usr/local/nvidia/bin:/usr/local/sbin:/usr/local/"
		       "bin:/usr/sbin:/usr/bin:/sbin:/bin") < 0 ||
			       bash_cmd_env_push(c, "LD_LIBRARY_PATH",
						 "/usr/local/nvidia/lib64") <
				       0 ||
			       bash_cmd_env_push(c, "NVIDIA_VISIBLE_DEVICES",
						 vis) < 0 ||
			       bash_cmd_env_push(c, "CUDA_VISIBLE_DEVICES",
						 ord) < 0
		       ? -1
		       : 0;
}

int bash_cmd_prepare(struct bash_cmd *c, struct sbx_slot *slot, json_t *args,
		     const char *where, char *msg, size_t msglen,
		     const char **stdin_data, size_t *stdin_len,
		     bool *merge_output)
{
	const struct sb_profile *p = slot->sb->profile;
	json_t *cmd = json_object_get(args, "command");
	c->slot = slot;
	json_t *in = json_object_get(args, "stdin");
	json_t *env = json_object_get(args, "env");
	json_t *cwd = json_object_get(args, "cwd");
	const char *key;
	json_t *val;

	json_t *merge = json_object_get(args, "merge_output");

	/* Other keys are accepted and ignored: callers send their own
	 * conventions (ToolExecutor's allow_network, require_sandbox...). */
	if (merge && !json_is_null(merge) && !json_is_boolean(merge)) {
		snprintf(msg, msglen, "%smerge_output must be true or false",
			 where);
		return -1;
	}
	*merge_output = json_is_true(merge);
	if (!json_is_string(cmd) || json_string_length(cmd) > API_MAX_COMMAND ||
	    strlen(json_string_value(cmd)) != json_string_length(cmd)) {
		snprintf(msg, msglen,
			 "%scommand must be a string of at most %u bytes "
			 "without NUL",
			 where, API_MAX_COMMAND);
		return -1;
	}
	if (in && !json_is_null(in) &&
	    (!json_is_string(in) || json_string_length(in) > API_MAX_STDIN)) {
		snprintf(msg, msglen,
			 "%sstdin must be a string of at most %u bytes", where,
			 API_MAX_STDIN);
		return -1;
	}
	if (cwd && !json_is_null(cwd) &&
	    (!json_is_string(cwd) || json_string_length(cwd) > 4000 ||
	     strlen(json_string_value(cwd)) != json_string_length(cwd))) {
		snprintf(msg, msglen, "%scwd must be a path string", where);
		return -1;
	}
	if (env && !json_is_null(env) &&
	    (!json_is_object(env) || json_object_size(env) > API_MAX_ENV)) {
		snprintf(msg, msglen,
			 "%senv must be an object of at most %d strings", where,
			 API_MAX_ENV);
		return -1;
	}
	c->command = strdup(json_string_value(cmd));
	const char *dir = json_is_string(cwd) ? json_string_value(cwd) : "";
	if (!*dir)
		c->cwd = strdup(p->workspace_dir);
	else if (dir[0] == '/')
		c->cwd = strdup(dir);
	else if (asprintf(&c->cwd, "%s/%s", p->workspace_dir, dir) < 0)
		c->cwd = NULL;
	if (!c->command || !c->cwd)
		goto oom;
	/* An image without bash runs the command with its /bin/sh (the
	 * slot's leader looked once, metadata.shell says which). */
	c->shell = c->slot->no_bash ? "/bin/sh" : "/bin/bash";
	c->argv[0] = (char *)c->shell;
	c->argv[1] = "-c";
	c->argv[2] = c->command;
	c->argv[3] = NULL;
	if (bash_cmd_env_push(
		    c, "PATH",
		    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:"
		    "/bin") < 0 ||
	    bash_cmd_env_push(c, "HOME", p->workspace_dir) < 0 ||
	    bash_cmd_env_push(c, "USER", "slotbox") < 0 ||
	    /* bash looks the user up in passwd (and dlopens NSS modules:
	     * ~0.5 ms a call) when SHELL is unset */
	    bash_cmd_env_push(c, "SHELL", c->shell) < 0 ||
	    bash_cmd_env_push(c, "LANG", "C.UTF-8") < 0 ||
	    bash_cmd_env_push(c, "PWD", c->cwd) < 0 ||
	    bash_cmd_env_push(c, "SLOTBOX_SLOT_ID", c->slot->id) < 0 ||
	    (p->gpu && env_push_gpu(c) < 0))
		goto oom;
	/* The image's own environment (PATH of a python image, ...) */
	for (size_t i = 0; i < c->slot->sb->n_image_env; i++) {
		const char *kv = c->slot->sb->image_env[i];
		const char *eq = strchr(kv, '=');
		char name[SB_ENV_NAME_MAX + 1];
		if (!eq || (size_t)(eq - kv) >= sizeof name)
			continue;
		memcpy(name, kv, (size_t)(eq - kv));
		name[eq - kv] = 0;
		if (sb_env_name_valid(name) &&
		    bash_cmd_env_push(c, name, eq + 1) < 0)
			goto oom;
	}
	for (size_t i = 0; i < p->n_env_vars; i++)
		if (bash_cmd_env_push(c, p->env_vars[i].key,
				      p->env_vars[i].value) < 0)
			goto oom;
	const struct pool *pool = c->slot->sb->owner;
	const struct sb_secret_env *sec = pool->secrets;
	for (size_t i = 0; sec && i < sec->n; i++)
		if (bash_cmd_env_push(c, sec->keys[i], sec->values[i]) < 0)
			goto oom;
	if (json_is_object(env)) {
		json_object_foreach(env, key, val)
		{
			if (!sb_env_name_valid(key) || !json_is_string(val) ||
			    strlen(json_string_value(val)) !=
				    json_string_length(val)) {
				snprintf(msg, msglen,
					 "%senv: \"%.64s\" must be a valid "
					 "name with a string value",
					 where, key);
				return -1;
			}
			if (bash_cmd_env_push(c, key, json_string_value(val)) <
			    0)
				goto oom;
		}
	}
	if (!c->envp && bash_cmd_env_push(c, "PATH", "/usr/bin:/bin") < 0)
		goto oom;
	*stdin_data = json_is_string(in) ? json_string_value(in) : NULL;
	*stdin_len = json_is_string(in) ? json_string_length(in) : 0;
	return 0;
oom:
	snprintf(msg, msglen, "out of memory");
	return -1;
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
