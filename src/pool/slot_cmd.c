/* SPDX-License-Identifier: Apache-2.0 */
/* slot_cmd.c - a shell command's argv, cwd and environment (slot_cmd.h). */
#include "pool/slot_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "config/gpu_assign.h"
#include "pool/pool.h"

void slot_cmd_free(struct slot_cmd *c)
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

/* "k=v" in a new string (no printf: a few of these make every call). */
static char *env_join(const char *k, size_t kl, const char *v)
{
	size_t vl = strlen(v);
	char *s = malloc(kl + vl + 2);
	if (!s)
		return NULL;
	memcpy(s, k, kl);
	s[kl] = '=';
	memcpy(s + kl + 1, v, vl + 1);
	return s;
}

int slot_cmd_env_push(struct slot_cmd *c, const char *k, const char *v)
{
	size_t kl = strlen(k);
	/* A later definition of the same name replaces the earlier one, so
	 * request env beats profile env beats the defaults. */
	for (size_t i = 0; i < c->envc; i++) {
		if (strncmp(c->envp[i], k, kl) == 0 && c->envp[i][kl] == '=') {
			free(c->envp[i]);
			c->envp[i] = env_join(k, kl, v);
			if (!c->envp[i]) {
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
	c->envp[c->envc] = env_join(k, kl, v);
	if (!c->envp[c->envc])
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
static int env_push_gpu(struct slot_cmd *c)
{
	const struct sandbox *sb = c->slot->sb;
	int devs[SB_GPU_MAX];
	char vis[SB_GPU_MAX * 4], ord[SB_GPU_MAX * 4] = "";
	int n = gpu_assign_slot(sb->profile, sb->number, c->slot->index, devs);
	gpu_list_format(devs, n, vis, sizeof vis);
	for (int i = 0; i < n; i++)
		snprintf(ord + strlen(ord), sizeof ord - strlen(ord), "%s%d",
			 i ? "," : "", i);
	return slot_cmd_env_push(
		       c, "PATH",
		       "/usr/local/nvidia/bin:/usr/local/sbin:/usr/local/"
		       "bin:/usr/sbin:/usr/bin:/sbin:/bin") < 0 ||
			       slot_cmd_env_push(c, "LD_LIBRARY_PATH",
						 "/usr/local/nvidia/lib64") <
				       0 ||
			       slot_cmd_env_push(c, "NVIDIA_VISIBLE_DEVICES",
						 vis) < 0 ||
			       slot_cmd_env_push(c, "CUDA_VISIBLE_DEVICES",
						 ord) < 0
		       ? -1
		       : 0;
}

/* The environment every command of the slot starts from. */
static int env_push_slot(struct slot_cmd *c)
{
	const struct sandbox *sb = c->slot->sb;
	const struct sb_profile *p = sb->profile;
	if (slot_cmd_env_push(
		    c, "PATH",
		    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:"
		    "/bin") < 0 ||
	    slot_cmd_env_push(c, "HOME", p->workspace_dir) < 0 ||
	    slot_cmd_env_push(c, "USER", "slotbox") < 0 ||
	    /* bash looks the user up in passwd (and dlopens NSS modules:
	     * ~0.5 ms a call) when SHELL is unset */
	    slot_cmd_env_push(c, "SHELL", c->shell) < 0 ||
	    slot_cmd_env_push(c, "LANG", "C.UTF-8") < 0 ||
	    slot_cmd_env_push(c, "PWD", c->cwd) < 0 ||
	    slot_cmd_env_push(c, "SLOTBOX_SLOT_ID", c->slot->id) < 0 ||
	    (p->gpu && env_push_gpu(c) < 0))
		return -1;
	/* The image's own environment (PATH of a python image, ...) */
	for (size_t i = 0; i < sb->n_image_env; i++) {
		const char *kv = sb->image_env[i];
		const char *eq = strchr(kv, '=');
		char name[SB_ENV_NAME_MAX + 1];
		if (!eq || (size_t)(eq - kv) >= sizeof name)
			continue;
		memcpy(name, kv, (size_t)(eq - kv));
		name[eq - kv] = 0;
		if (sb_env_name_valid(name) &&
		    slot_cmd_env_push(c, name, eq + 1) < 0)
			return -1;
	}
	for (size_t i = 0; i < p->n_env_vars; i++)
		if (slot_cmd_env_push(c, p->env_vars[i].key,
				      p->env_vars[i].value) < 0)
			return -1;
	const struct pool *pool = sb->owner;
	const struct sb_secret_env *sec = pool->secrets;
	for (size_t i = 0; sec && i < sec->n; i++)
		if (slot_cmd_env_push(c, sec->keys[i], sec->values[i]) < 0)
			return -1;
	return 0;
}

int slot_cmd_init(struct slot_cmd *c, struct sbx_slot *slot,
		  const char *command, const char *cwd)
{
	const struct sb_profile *p = slot->sb->profile;
	const char *dir = cwd ? cwd : "";
	c->slot = slot;
	c->command = strdup(command);
	if (!*dir)
		c->cwd = strdup(p->workspace_dir);
	else if (dir[0] == '/')
		c->cwd = strdup(dir);
	else if (asprintf(&c->cwd, "%s/%s", p->workspace_dir, dir) < 0)
		c->cwd = NULL;
	if (!c->command || !c->cwd)
		return -1;
	/* An image without bash runs the command with its /bin/sh (the
	 * slot's leader looked once, metadata.shell says which). */
	c->shell = slot->no_bash ? "/bin/sh" : "/bin/bash";
	c->argv[0] = (char *)c->shell;
	c->argv[1] = "-c";
	c->argv[2] = c->command;
	c->argv[3] = NULL;
	return env_push_slot(c);
}
