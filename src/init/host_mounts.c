/* SPDX-License-Identifier: Apache-2.0 */
/* host_mounts.c - the host's mounts that no slot needs, detached once per
 * sandbox from init's mount namespace.
 *
 * init's namespace starts as a copy of the daemon's: every mount of the
 * host (/proc, /sys with its dozen cgroup and debug mounts, /dev, /run's,
 * whatever the admin mounted). Each leader is cloned into a copy of init's,
 * which the kernel makes mount by mount, and then detaches what is off its
 * slot's way (root_chroot.c), one umount2 per topmost mount, each of which
 * waits for an expedited RCU grace period (IPIs to every CPU). What no
 * slot needs goes here, once, right after the first leader is cloned
 * (init_main.c): every later leader's copy is the small one, and the
 * first slot, which a cold acquire waits for, does not wait for this.
 *
 * What stays, checked against canonical paths: the mounts on the way to
 * the image's layers, the workspace template and the ctl socket (an
 * overlay lower layer or an idmapped template is the mount at its path,
 * not what is mounted below it); the sandbox's scratch tmpfs, what is
 * mounted below it and on the way to it; /proc (the leaders read
 * /proc/self before they have their own). A sandbox with GPUs keeps all
 * (its slots bind the host's device nodes and driver files), and one in a
 * user namespace has pivoted into a root of its own already
 * (init_userns.c). A path that cannot be resolved keeps all too. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "init/init.h"

/* image layers (at most 64, upper_dirs.c) + template + ctl socket */
#define KEEP_MAX 72

struct keep_set {
	char ways[KEEP_MAX][PATH_MAX]; /* their mounts and those above */
	int n_ways;
	char trees[2][PATH_MAX]; /* and also every mount below */
	int n_trees;
};

static bool keep_point(const char *point, const void *ud)
{
	const struct keep_set *k = ud;
	for (int i = 0; i < k->n_ways; i++)
		if (mount_above_or_at(point, k->ways[i]))
			return true;
	for (int i = 0; i < k->n_trees; i++)
		if (mount_on_the_way(point, k->trees[i]))
			return true;
	return false;
}

/* path (of len bytes) made canonical into out; false when it cannot be
 * (the caller then detaches nothing). */
static bool canonical(const char *path, size_t len, char out[PATH_MAX])
{
	char p[PATH_MAX];
	if (len == 0 || len >= sizeof p || path[0] != '/')
		return false;
	memcpy(p, path, len);
	p[len] = '\0';
	return realpath(p, out) != NULL;
}

/* The ctl socket does not exist yet: its directory. */
static bool canonical_dir_of(const char *path, char out[PATH_MAX])
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return false;
	return canonical(path, slash == path ? 1 : (size_t)(slash - path), out);
}

static bool add_ways(struct keep_set *k, const struct init_cfg *cfg)
{
	for (const char *p = cfg->image_root; *p;) {
		size_t n = strcspn(p, ":");
		if (k->n_ways >= KEEP_MAX - 2 ||
		    !canonical(p, n, k->ways[k->n_ways++]))
			return false;
		p += n + (p[n] == ':');
	}
	if (cfg->template_dir &&
	    !canonical(cfg->template_dir, strlen(cfg->template_dir),
		       k->ways[k->n_ways++]))
		return false;
	if (cfg->ctl_socket &&
	    !canonical_dir_of(cfg->ctl_socket, k->ways[k->n_ways++]))
		return false;
	return true;
}

int init_detach_host_mounts(const struct init_cfg *cfg, struct sb_err *err)
{
	static struct keep_set k;

	if (cfg->gpu || cfg->userns)
		return 0;
	k.n_ways = k.n_trees = 0;
	if (!add_ways(&k, cfg) ||
	    !canonical(cfg->scratch, strlen(cfg->scratch), k.trees[0]))
		return 0;
	snprintf(k.trees[1], sizeof k.trees[1], "/proc");
	k.n_trees = 2;
	return root_detach_unless(keep_point, &k, err);
}
