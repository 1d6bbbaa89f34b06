/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup.c - find the hierarchies, keep this daemon's tree in each. */
#include "sandbox/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "sandbox/cg_stock.h"

#define CG_TEARDOWN_TRIES 50
#define CG_TEARDOWN_WAIT_US 20000

static const char *const ctl_names[CG_NCTL] = {"cpu", "memory", "pids"};

const char *cg_ctl_name(enum cg_ctl c)
{
	return ctl_names[c];
}

const char *cg_mode_name(enum cg_mode mode)
{
	switch (mode) {
	case CG_V2:
		return "v2";
	case CG_V1_FREEZER:
		return "v1";
	default:
		return "none";
	}
}

const char *cg_version(const struct cg_root *r)
{
	if (r->mode == CG_NONE)
		return "none";
	if (r->mode == CG_V1_FREEZER)
		return "v1";
	return r->hybrid || r->n_hier > 1 ? "hybrid" : "v2";
}

const struct cg_hier *cg_hier_of(const struct cg_root *r, enum cg_ctl c)
{
	for (int i = 0; i < r->n_hier; i++)
		if (r->hier[i].ctls & CG_BIT(c))
			return &r->hier[i];
	return NULL;
}

/* Is word one of the items of list, separated by any of seps? */
static bool has_word(const char *list, const char *word, const char *seps)
{
	size_t wlen = strlen(word);
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, seps);
		if (n == wlen && strncmp(p, word, n) == 0)
			return true;
		p += n;
		if (*p)
			p++;
	}
	return false;
}

void cg_root_log(const struct cg_root *r, const char *why)
{
	char where[CG_NCTL][PATH_MAX + 8];

	if (r->mode == CG_NONE) {
		sb_log(SB_LOG_WARN, "cgroups", "version", "none", "why", why,
		       "effect",
		       "timeouts kill the call's process group only; no cpu, "
		       "memory or pids limits",
		       SB_LOG_END);
		return;
	}
	for (int c = 0; c < CG_NCTL; c++) {
		const struct cg_hier *h = cg_hier_of(r, (enum cg_ctl)c);
		if (h) {
			snprintf(where[c], sizeof where[c], "%s:%s",
				 h->v2 ? "v2" : "v1", h->path);
			continue;
		}
		snprintf(where[c], sizeof where[c], "none");
		sb_log(SB_LOG_WARN, "cgroup_controller_unavailable",
		       "controller", ctl_names[c], "why", r->why[c], "effect",
		       "its profile limit is not enforced", SB_LOG_END);
	}
	char kill[PATH_MAX + 8];
	snprintf(kill, sizeof kill, "%s:%s", cg_mode_name(r->mode),
		 r->hier[0].path);
	sb_log(SB_LOG_INFO, "cgroups", "version", cg_version(r), "kill", kill,
	       "cpu", where[CG_CPU], "memory", where[CG_MEMORY], "pids",
	       where[CG_PIDS], SB_LOG_END);
}

static enum cg_mode fs_mode(const char *mnt)
{
	struct statfs sf;
	if (statfs(mnt, &sf) < 0)
		return CG_NONE;
	if (sf.f_type == CGROUP2_SUPER_MAGIC)
		return CG_V2;
	/* A v1 mount: the caller checks it carries the freezer. */
	if (sf.f_type == CGROUP_SUPER_MAGIC)
		return CG_V1_FREEZER;
	return CG_NONE;
}

/* The mount point of a cgroup v1 hierarchy that carries controller ctl
 * (at `at` when not NULL) into mnt (may be NULL). 0, or -1 if none. */
static int v1_find(const char *ctl, const char *at, char *mnt, size_t len)
{
	_cleanup_file_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], point[PATH_MAX], fstype[32], opts[1024];

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		/* "id parent dev root point opts [tags] - type source sopts" */
		const char *sep = strstr(line, " - ");
		if (!sep ||
		    sscanf(sep + 3, "%31s %*s %1023s", fstype, opts) != 2 ||
		    strcmp(fstype, "cgroup") != 0 || !has_word(opts, ctl, ","))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 ||
		    strchr(point, '\\') || (at && strcmp(point, at) != 0))
			continue; /* escaped names are not worth decoding */
		if (mnt)
			snprintf(mnt, len, "%s", point);
		return 0;
	}
	return -1;
}

/* The hierarchy that kills: the --cgroup mount, else the unified
 * hierarchy (pure or hybrid), else the v1 freezer. */
static int find_kill(struct cg_root *r, const char *override, char *mnt,
		     size_t len, struct sb_err *err)
{
	if (override) {
		char real[PATH_MAX];
		if (!realpath(override, real)) {
			return sb_err_sys(err, "%s", override);
		}
		r->mode = fs_mode(real);
		if (r->mode == CG_V1_FREEZER &&
		    v1_find("freezer", real, NULL, 0) < 0)
			r->mode = CG_NONE;
		if (r->mode == CG_NONE) {
			return sb_err_set(
				err, 0,
				"%s is neither a cgroup v2 mount nor a "
				"cgroup v1 freezer mount",
				override);
		}
		snprintf(mnt, len, "%s", real);
		return 0;
	}
	if (fs_mode("/sys/fs/cgroup") == CG_V2) {
		r->mode = CG_V2;
		snprintf(mnt, len, "/sys/fs/cgroup");
		return 0;
	}
	if (fs_mode("/sys/fs/cgroup/unified") == CG_V2) {
		r->mode = CG_V2;
		r->hybrid = true;
		snprintf(mnt, len, "/sys/fs/cgroup/unified");
		return 0;
	}
	if (v1_find("freezer", NULL, mnt, len) == 0) {
		r->mode = CG_V1_FREEZER;
		return 0;
	}
	return sb_err_set(err, 0, "no cgroup v2 or v1 freezer hierarchy found");
}

/* rmdir the children of dir (depth first), then dir itself from parent,
 * killing what is left in each group first. */
static int remove_tree(int parent, const char *name, enum cg_mode mode,
		       int depth)
{
	int fd = openat(parent, name, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	calltree_kill_dir(fd, mode);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.' || depth > 8)
			continue;
		if (remove_tree(dirfd(d), e->d_name, mode, depth + 1) < 0)
			rc = -1;
	}
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

static enum cg_mode hier_mode(const struct cg_hier *h)
{
	/* In a v1 hierarchy without the freezer, the freezer kill falls
	 * back to signalling every listed process. */
	return h->v2 ? CG_V2 : CG_V1_FREEZER;
}

/* The sandbox a group below this daemon's belongs to: its name, or for a
 * slot's memory group beside the sandboxes' (flat_memory) the part before
 * ".s<N>". */
static void group_owner(const char *name, char *id, size_t len)
{
	const char *dot = strrchr(name, '.');
	size_t n = strlen(name);
	if (dot && dot[1] == 's' && dot[2] &&
	    strspn(dot + 2, "0123456789") == strlen(dot + 2))
		n = (size_t)(dot - name);
	snprintf(id, len, "%.*s", (int)n, name);
}

/* Remove every group below this daemon's group in h but those kept
 * (prefix: only those whose name starts with it). */
static int remove_children(const struct cg_hier *h,
			   bool (*keep)(const char *id, void *ud), void *ud,
			   const char *prefix)
{
	int fd = openat(h->fd, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	int rc = 0;
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		char id[256];
		if (e->d_type != DT_DIR || e->d_name[0] == '.' ||
		    (prefix && strncmp(e->d_name, prefix, strlen(prefix))))
			continue;
		group_owner(e->d_name, id, sizeof id);
		if (keep && keep(id, ud))
			continue;
		if (remove_tree(h->fd, e->d_name, hier_mode(h), 0) < 0)
			rc = -1;
	}
	closedir(d);
	return rc;
}

/* Create and open <mnt>/slotbox/<inst>; the index of the new hierarchy
 * or -1. What a predecessor left there goes in cg_sweep(), once the
 * sandboxes worth adopting are known. */
static int hier_add(struct cg_root *r, const char *mnt, bool v2,
		    const char *inst, struct sb_err *err)
{
	struct cg_hier *h = &r->hier[r->n_hier];

	snprintf(h->path, sizeof h->path, "%s/slotbox/%s", mnt, inst);
	h->v2 = v2;
	h->ctls = 0;
	h->stock = h->stock_seq = 0;
	h->stock_wanted = false;
	if (sb_mkdir_p(h->path, 0755) < 0) {
		return sb_err_sys(err, "create %s", h->path);
	}
	h->fd = open(h->path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (h->fd < 0) {
		return sb_err_sys(err, "open %s", h->path);
	}
	return r->n_hier++;
}

/* Enable controller name for the children of dir, unless it already is. */
static int v2_enable_in(const char *dir, const char *name)
{
	char buf[512], cmd[32];
	_cleanup_fd_ int fd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (cg_file_read(fd, "cgroup.subtree_control", buf, sizeof buf) >= 0 &&
	    has_word(buf, name, " \n"))
		return 0;
	snprintf(cmd, sizeof cmd, "+%s", name);
	return cg_file_write(fd, "cgroup.subtree_control", cmd);
}

/* Limit controller c in the v2 kill hierarchy: it must be offered at the
 * mount and enabled in cgroup.subtree_control down to this daemon's group
 * (each sandbox group enables it for its slots). Those groups hold no
 * process, as v2 wants of a group that enables controllers. */
static int use_v2(struct cg_root *r, const char *mnt, const char *inst,
		  enum cg_ctl c)
{
	char dir[PATH_MAX], buf[512];
	/* r->why[c] is cg_root's status string, not a struct sb_err */
	char *why = r->why[c];
	size_t whylen = sizeof r->why[c];
	_cleanup_fd_ int fd = open(mnt, O_DIRECTORY | O_RDONLY | O_CLOEXEC);

	if (fd < 0 ||
	    cg_file_read(fd, "cgroup.controllers", buf, sizeof buf) < 0) {
		snprintf(why, whylen, "read %s/cgroup.controllers: %s", mnt,
			 strerror(errno));
		return -1;
	}
	if (!has_word(buf, ctl_names[c], " \n")) {
		char v1[PATH_MAX];
		if (v1_find(ctl_names[c], NULL, v1, sizeof v1) == 0)
			snprintf(why, whylen,
				 "not in %s/cgroup.controllers: it is bound to "
				 "the cgroup v1 hierarchy at %s (a controller "
				 "serves one hierarchy only)",
				 mnt, v1);
		else
			snprintf(why, whylen, "not in %s/cgroup.controllers",
				 mnt);
		return -1;
	}
	for (int level = 0; level < 3; level++) {
		snprintf(dir, sizeof dir, "%s%s%s%s", mnt,
			 level > 0 ? "/slotbox" : "", level > 1 ? "/" : "",
			 level > 1 ? inst : "");
		if (v2_enable_in(dir, ctl_names[c]) < 0) {
			snprintf(why, whylen,
				 "enable it in %s/cgroup.subtree_control: %s",
				 dir, strerror(errno));
			return -1;
		}
	}
	r->hier[0].ctls |= CG_BIT(c);
	return 0;
}

/* Limit controller c in its cgroup v1 hierarchy, shared with the kill
 * hierarchy or another controller when they are mounted together. */
static int use_v1(struct cg_root *r, const char *inst, enum cg_ctl c)
{
	char mnt[PATH_MAX], path[PATH_MAX];
	int i;

	if (v1_find(ctl_names[c], NULL, mnt, sizeof mnt) < 0) {
		snprintf(r->why[c], sizeof r->why[c],
			 "no cgroup v1 %s hierarchy is mounted%s", ctl_names[c],
			 r->hybrid ? " and the unified one does not offer it"
				   : "");
		return -1;
	}
	snprintf(path, sizeof path, "%s/slotbox/%s", mnt, inst);
	for (i = 0; i < r->n_hier; i++)
		if (!r->hier[i].v2 && strcmp(r->hier[i].path, path) == 0)
			break;
	struct sb_err err = {0};
	if (i == r->n_hier && hier_add(r, mnt, false, inst, &err) < 0) {
		snprintf(r->why[c], sizeof r->why[c], "%s", err.msg);
		return -1;
	}
	r->hier[i].ctls |= CG_BIT(c);
	return 0;
}

/* Find the kill hierarchy and create this daemon's group in it; on
 * failure mode becomes CG_NONE and err says why. */
static void setup_kill(struct cg_root *r, const char *override,
		       const char *inst, char *mnt, size_t len,
		       struct sb_err *err)
{
	if (find_kill(r, override, mnt, len, err) < 0 ||
	    hier_add(r, mnt, r->mode == CG_V2, inst, err) < 0)
		r->mode = CG_NONE;
}

void cg_root_setup(struct cg_root *r, const char *mount_override,
		   const char *instance, char *why, size_t whylen)
{
	char mnt[PATH_MAX];

	memset(r, 0, sizeof *r);
	r->mode = CG_NONE;
	for (int i = 0; i < CG_MAX_HIER; i++)
		r->hier[i].fd = -1;
	if (mount_override && strcmp(mount_override, "none") == 0)
		snprintf(why, whylen, "cgroups disabled by configuration");
	else {
		struct sb_err err = {0};
		setup_kill(r, mount_override, instance, mnt, sizeof mnt, &err);
		if (r->mode == CG_NONE)
			snprintf(why, whylen, "%s", err.msg);
	}
	if (r->mode == CG_NONE) {
		for (int c = 0; c < CG_NCTL; c++)
			snprintf(r->why[c], sizeof r->why[c], "%s", why);
		return;
	}
	snprintf(why, whylen, "%s", r->hier[0].path);
	/* A v2 mount named with --cgroup, or /sys/fs/cgroup, is used alone:
	 * only a hybrid or v1 host has v1 controller hierarchies. */
	bool pure_v2 = r->mode == CG_V2 && !r->hybrid;
	for (int c = 0; c < CG_NCTL; c++) {
		if ((r->mode == CG_V2 && use_v2(r, mnt, instance, c) == 0) ||
		    (!pure_v2 && use_v1(r, instance, c) == 0)) {
			r->ctls |= CG_BIT(c);
			r->why[c][0] = '\0';
		}
	}
}

/* The sandbox group's limits: slots_per_sandbox times each slot's, or
 * the profile's sandbox-wide memory cap when it sets one. */
static void scale(const struct cg_limits *one, int n, struct cg_limits *all)
{
	all->cpu = one->cpu * n;
	all->memory_mb =
		one->memory_mb > INT64_MAX / n ? 0 : one->memory_mb * n;
	if (one->sandbox_memory_mb > 0)
		all->memory_mb = one->sandbox_memory_mb;
	all->pids_max = one->pids_max > INT64_MAX / n ? 0 : one->pids_max * n;
	all->sandbox_memory_mb = 0;
}

/* The controllers among ctls that lim limits (0 is no limit). */
static unsigned limited(unsigned ctls, const struct cg_limits *lim)
{
	unsigned out = 0;
	if (lim->cpu > 0)
		out |= CG_BIT(CG_CPU);
	if (lim->memory_mb > 0)
		out |= CG_BIT(CG_MEMORY);
	if (lim->pids_max > 0)
		out |= CG_BIT(CG_PIDS);
	return out & ctls;
}

/* Let dir's children use the controllers in ctls (cgroup v2). */
static int v2_enable_children(int dir, unsigned ctls, struct sb_err *err)
{
	char cmd[32];
	for (int c = 0; c < CG_NCTL; c++) {
		if (!(ctls & CG_BIT(c)))
			continue;
		snprintf(cmd, sizeof cmd, "+%s", ctl_names[c]);
		if (cg_file_write(dir, "cgroup.subtree_control", cmd) < 0)
			return sb_err_sys(err, "enable %s for the slots",
					  ctl_names[c]);
	}
	return 0;
}

static int create_slots(const struct cg_hier *h, int dir, int n_slots,
			unsigned ctls, const struct cg_limits *lim,
			struct sb_err *err)
{
	char name[16];
	for (int i = 0; i < n_slots; i++) {
		snprintf(name, sizeof name, "s%d", i);
		if (mkdirat(dir, name, 0755) < 0 && errno != EEXIST)
			return sb_err_sys(err, "create %s", name);
		_cleanup_fd_ int fd =
			openat(dir, name, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return sb_err_sys(err, "open %s", name);
		if (cg_write_limits(fd, h->v2, ctls, lim, err) < 0)
			return sb_err_prefix(err, "%s", name);
	}
	return 0;
}

/* Make (or find) the group name below this daemon's in h: its dir fd. */
static int group_make(const struct cg_hier *h, const char *name,
		      struct sb_err *err)
{
	if (mkdirat(h->fd, name, 0755) < 0 && errno != EEXIST)
		return sb_err_sys(err, "create cgroup %s/%s", h->path, name);
	int fd = openat(h->fd, name, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sb_err_sys(err, "open cgroup %s/%s", h->path, name);
	return fd;
}

/* The controllers whose per-slot limits a slot gets at its first call
 * with slot_limits_lazy (cgroup.h): a memory cgroup costs the host the
 * most of any group, and each cpu quota written makes the kernel check the
 * bandwidth of every cpu group on the host (tg_set_cfs_bandwidth), 40% of
 * the daemon's CPU at 9,000 slots here with a quota per slot made with its
 * sandbox. pids limits are cheap and stay with the sandbox. */
#define CG_LAZY (CG_BIT(CG_MEMORY) | CG_BIT(CG_CPU))

/* A cgroup v1 hierarchy of the memory controller alone, for a sandbox
 * whose slots get their memory groups at their first calls and that sets
 * no sandbox-wide cap: there the sandbox has no group, and its slots'
 * groups are "<id>.s<N>" beside the sandboxes' (flat_name). Its group
 * would cost as much as a slot's (1.1-1.3 MiB here, cgroup.h) for no limit
 * the slots' own do not set: a slot runs the tenant's commands only in its
 * own group, and its leader, before its first call, is slotbox's code.
 * The leaders wait in this daemon's group. cgroup v2 has one tree for all
 * controllers: there the slot groups need the sandbox's. */
static bool flat_hier(const struct cg_hier *h, bool kills)
{
	return !h->v2 && !kills && h->ctls == CG_BIT(CG_MEMORY);
}

static bool flat_memory(const struct cg_hier *h, bool kills,
			const struct cg_limits *lim)
{
	return flat_hier(h, kills) && lim->slot_limits_lazy &&
	       lim->sandbox_memory_mb <= 0 && lim->memory_mb > 0;
}

static void flat_name(const char *sandbox_id, int slot, char *buf, size_t len)
{
	snprintf(buf, len, "%s.s%d", sandbox_id, slot);
}

/* A slot's group below this daemon's in h: beside the sandbox's group
 * (flat_memory) or below it. */
static void slot_group_name(const struct cg_hier *h, bool kills,
			    const char *sandbox_id, int slot,
			    const struct cg_limits *lim, char *buf, size_t len)
{
	if (flat_memory(h, kills, lim))
		flat_name(sandbox_id, slot, buf, len);
	else
		snprintf(buf, len, "%s/s%d", sandbox_id, slot);
}

/* The sandbox's group in one hierarchy: the sum of its slots' limits,
 * then one limited group per slot. Groups cost the host kernel memory
 * whether or not anything limits them (a memory cgroup the most: the
 * kernel keeps per group a counter for every superblock on the host, so
 * N slots with a group each cost O(N^2)), so a hierarchy gets slot groups
 * only where a per-slot limit needs them (the kill hierarchy always: the
 * calls' groups live below them), and a sandbox group only where it or a
 * limit needs it; *fd_out is -1 without one. A slot whose group is
 * missing joins the sandbox's (init_cgroup.c). Where flat_memory holds,
 * *fd_out is this daemon's group and *flat true. */
static int create_in(const struct cg_hier *h, bool kills, const char *id,
		     int n_slots, const struct cg_limits *lim, int *fd_out,
		     bool *flat, struct sb_err *err)
{
	struct cg_limits all;

	*flat = flat_memory(h, kills, lim);
	if (*flat) {
		*fd_out = fcntl(h->fd, F_DUPFD_CLOEXEC, 3);
		return *fd_out < 0 ? sb_err_sys(err, "dup cgroup %s", h->path)
				   : 0;
	}

	scale(lim, n_slots, &all);
	unsigned per_slot = limited(h->ctls, lim);
	if (lim->slot_limits_lazy)
		per_slot &= ~CG_LAZY;
	bool slots = kills || per_slot;
	*fd_out = -1;
	if (!slots && !limited(h->ctls, &all))
		return 0;
	_cleanup_fd_ int fd = group_make(h, id, err);
	if (fd < 0)
		return -1;
	if ((h->v2 && v2_enable_children(fd, per_slot, err) < 0) ||
	    cg_write_limits(fd, h->v2, h->ctls, &all, err) < 0 ||
	    (slots && create_slots(h, fd, n_slots, per_slot, lim, err) < 0))
		return sb_err_prefix(err, "cgroup %s/%s", h->path, id);
	*fd_out = steal_fd(&fd);
	return 0;
}

int cg_sandbox_create(const struct cg_root *r, const char *sandbox_id,
		      int n_slots, const struct cg_limits *lim,
		      int fds[CG_MAX_HIER], unsigned *flat, struct sb_err *err)
{
	*flat = 0;
	for (int i = 0; i < CG_MAX_HIER; i++)
		fds[i] = -1;
	for (int i = 0; i < r->n_hier; i++) {
		bool f = false;
		int rc = create_in(&r->hier[i], i == 0, sandbox_id, n_slots,
				   lim, &fds[i], &f, err);
		*flat |= f ? 1u << i : 0;
		if (rc < 0) {
			for (int j = 0; j < i; j++) {
				if (fds[j] >= 0)
					close(fds[j]);
				fds[j] = -1;
			}
			cg_sandbox_remove(r, sandbox_id, n_slots);
			return -1;
		}
	}
	return 0;
}

/* v2: the controllers in ctls for the sandbox's slot groups, each
 * limited. */
static int v2_slot_limits_on(const struct cg_hier *h, const char *sandbox_id,
			     int n_slots, unsigned ctls,
			     const struct cg_limits *lim, struct sb_err *err)
{
	_cleanup_fd_ int fd =
		openat(h->fd, sandbox_id, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sb_err_sys(err, "open cgroup %s/%s", h->path,
				  sandbox_id);
	if (v2_enable_children(fd, ctls, err) < 0 ||
	    create_slots(h, fd, n_slots, ctls, lim, err) < 0)
		return sb_err_prefix(err, "cgroup %s/%s", h->path, sandbox_id);
	return 2;
}

/* v1: the slot's group in h, limited for the controllers in ctls; beside
 * the sandboxes' (flat_memory) the one made ahead where there is one. */
static int v1_slot_limits_on(struct cg_root *r, struct cg_hier *h, bool kills,
			     const char *sandbox_id, int slot, unsigned ctls,
			     const struct cg_limits *lim, struct sb_err *err)
{
	char name[96];

	slot_group_name(h, kills, sandbox_id, slot, lim, name, sizeof name);
	_cleanup_fd_ int fd =
		flat_memory(h, kills, lim) ? cg_stock_take(r, h, name) : -1;
	if (fd < 0)
		fd = group_make(h, name, err);
	if (fd < 0)
		return -1;
	if (cg_write_limits(fd, false, ctls, lim, err) < 0)
		return sb_err_prefix(err, "cgroup %s/%s", h->path, name);
	return 1;
}

int cg_slot_limits_on(struct cg_root *r, const char *sandbox_id, int slot,
		      int n_slots, const struct cg_limits *lim,
		      struct sb_err *err)
{
	int done = 0;

	if (!lim->slot_limits_lazy)
		return 0;
	for (int i = 0; i < r->n_hier; i++) {
		struct cg_hier *h = &r->hier[i];
		unsigned ctls = limited(h->ctls, lim) & CG_LAZY;
		int rc;
		if (!ctls)
			continue;
		rc = h->v2 ? v2_slot_limits_on(h, sandbox_id, n_slots, ctls,
					       lim, err)
			   : v1_slot_limits_on(r, h, i == 0, sandbox_id, slot,
					       ctls, lim, err);
		if (rc < 0)
			return -1;
		done |= rc;
	}
	return done;
}

/* The slots' groups of a sandbox beside the sandboxes' (flat_memory):
 * each by name when n_slots is known, else those the listing finds. */
static int remove_flat(const struct cg_hier *h, const char *sandbox_id,
		       int n_slots)
{
	char name[96];
	int rc = 0;
	if (n_slots < 0) {
		snprintf(name, sizeof name, "%s.s", sandbox_id);
		return remove_children(h, NULL, NULL, name);
	}
	for (int s = 0; s < n_slots; s++) {
		flat_name(sandbox_id, s, name, sizeof name);
		if (remove_tree(h->fd, name, hier_mode(h), 0) < 0)
			rc = -1;
	}
	return rc;
}

int cg_sandbox_remove(const struct cg_root *r, const char *sandbox_id,
		      int n_slots)
{
	int rc = 0;
	for (int i = 0; i < r->n_hier; i++) {
		const struct cg_hier *h = &r->hier[i];
		if (remove_tree(h->fd, sandbox_id, hier_mode(h), 0) < 0)
			rc = -1;
		/* a v1 memory hierarchy alone may hold them (flat_memory) */
		if (flat_hier(h, i == 0) &&
		    remove_flat(h, sandbox_id, n_slots) < 0)
			rc = -1;
	}
	return rc;
}

int cg_slot_oom_kills(const struct cg_root *r, const char *sandbox_id, int slot,
		      const struct cg_limits *lim, int *fd_cache,
		      uint64_t *count)
{
	const struct cg_hier *h = cg_hier_of(r, CG_MEMORY);

	/* without a per-slot limit the slot has no memory group */
	if (!h || lim->memory_mb <= 0) {
		errno = ENOENT;
		return -1;
	}
	if (*fd_cache < 0) {
		char group[160], path[192];
		slot_group_name(h, h == &r->hier[0], sandbox_id, slot, lim,
				group, sizeof group);
		snprintf(path, sizeof path, "%s/%s", group, cg_oom_file(h->v2));
		*fd_cache = openat(h->fd, path, O_RDONLY | O_CLOEXEC);
		if (*fd_cache < 0)
			return -1;
	}
	return cg_read_oom_kills_fd(*fd_cache, count);
}

int cg_root_teardown(struct cg_root *r)
{
	int rc = 0;
	/* no group made ahead while the tree goes, nor through a closed fd */
	cg_stock_stop(r);
	for (int i = 0; i < r->n_hier; i++) {
		struct cg_hier *h = &r->hier[i];
		/* Tasks of the last sandboxes may still be exiting. */
		for (int t = 0; t < CG_TEARDOWN_TRIES &&
				remove_children(h, NULL, NULL, NULL) < 0;
		     t++)
			usleep(CG_TEARDOWN_WAIT_US);
		close(h->fd);
		h->fd = -1;
		if (rmdir(h->path) < 0 && errno != ENOENT)
			rc = -1;
	}
	r->n_hier = 0;
	r->mode = CG_NONE;
	return rc;
}

int cg_sweep(const struct cg_root *r, bool (*keep)(const char *id, void *ud),
	     void *ud)
{
	int rc = 0;
	for (int i = 0; i < r->n_hier; i++)
		if (remove_children(&r->hier[i], keep, ud, NULL) < 0)
			rc = -1;
	return rc;
}
