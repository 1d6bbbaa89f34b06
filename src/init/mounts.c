/* SPDX-License-Identifier: Apache-2.0 */
/* mounts.c - the filesystem a sandbox and each of its slots see.
 *
 * The sandbox keeps all its writable state in one tmpfs mounted (in its own
 * mount namespace only) on its scratch directory, so that when the sandbox
 * dies every byte it wrote goes with it: nothing to clean up on the host.
 * Each slot generation (a lease's life until a reset) is a tmpfs of its own
 * inside it, capped at the profile's disk_mb. The slot's root is an overlay
 * whose lower layer is the image and whose upper layer lives in that
 * generation tmpfs, with a fresh /proc (its own pid namespace), a minimal
 * /dev (dev_tree.c), and /tmp, /dev/shm and the workspace from the same
 * tmpfs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "init/init.h"

int mounts_setup_sandbox(const struct init_cfg *cfg, struct sb_err *err)
{
	char opts[128] = "mode=0700";
	size_t o = strlen(opts);

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return sb_err_sys(err, "make / private");
	if (cfg->tmpfs_bytes)
		o += (size_t)snprintf(opts + o, sizeof opts - o, ",size=%llu",
				      (unsigned long long)cfg->tmpfs_bytes);
	/* the sandbox's root owns it (init_userns.c) */
	if (cfg->userns)
		snprintf(opts + o, sizeof opts - o, ",uid=%u,gid=%u",
			 (unsigned)cfg->userns_root,
			 (unsigned)cfg->userns_root);
	if (mount("tmpfs", cfg->scratch, "tmpfs", MS_NOSUID | MS_NODEV, opts) <
	    0)
		return sb_err_sys(err, "mount tmpfs on %s", cfg->scratch);
	char host[64];
	snprintf(host, sizeof host, "slotbox-%.48s", cfg->id);
	if (sethostname(host, strlen(host)) < 0)
		return sb_err_sys(err, "sethostname");
	if (dev_tree_share(cfg, err) < 0)
		return -1;
	return slot_ns_share_sys(cfg, err);
}

int mounts_mkdir_p(char *path, mode_t mode)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int r = mkdir(path, mode);
		*p = '/';
		if (r < 0 && errno != EEXIST)
			return -1;
	}
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* /tmp and /dev/shm are directories of the slot's generation tmpfs, so
 * they are private, emptied by a reset, and count against disk_mb like
 * the workspace and the root overlay's upper layer. */
static int bind_scratch(const struct leader_cfg *lc, const char *root,
			const char *sub, const char *target, struct sb_err *err)
{
	char from[4200], to[8400];

	snprintf(from, sizeof from, "%s/%s", lc->gen_dir, sub);
	snprintf(to, sizeof to, "%s%s", root, target);
	if ((mkdir(to, 01777) < 0 && errno != EEXIST) ||
	    mount(from, to, NULL, MS_BIND, NULL) < 0)
		return sb_err_sys(err, "mount %s", target);
	return 0;
}

/* A released leader's namespace can take a moment to let go of the same
 * upper dir (reset=false: the next leader mounts it again); retry briefly
 * on EBUSY. */
static int mount_overlay_as(const char *target, unsigned long flags,
			    const char *opts)
{
	for (int i = 0; i < 50; i++) {
		if (mount("overlay", target, "overlay", flags, opts) == 0)
			return 0;
		if (errno != EBUSY)
			break;
		usleep(2000);
	}
	return -1;
}

/* In a user namespace (userns: true) the overlay keeps whiteouts, opaque
 * dirs and redirects in user.overlay.* xattrs, trusted.* being the host
 * root's: without them it renames no lower dir (EXDEV) and the kernel
 * logs a warning per mount. An upper layer without user xattrs (tmpfs
 * before Linux 6.6) refuses the option: then it goes without. */
static int mount_overlay(const struct leader_cfg *lc, const char *target,
			 unsigned long flags, const char *opts)
{
	if (lc->init->userns) {
		char with[12900];
		int n = snprintf(with, sizeof with, "%s,userxattr", opts);
		if (n > 0 && (size_t)n < sizeof with &&
		    mount_overlay_as(target, flags, with) == 0)
			return 0;
	}
	return mount_overlay_as(target, flags, opts);
}

/* Split an absolute path into its components (in buf); their count, or
 * -1 when there are too many. */
static int components(const char *path, char *buf, size_t len, char **out,
		      int max)
{
	int n = 0;
	char *save = NULL;
	snprintf(buf, len, "%s", path);
	for (char *c = strtok_r(buf, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		if (n == max)
			return -1;
		out[n++] = c;
	}
	return n;
}

/* Append a and b to out (len bytes, *o used). 0 or -1 when full. */
static int append(char *out, size_t len, size_t *o, const char *a,
		  const char *b)
{
	int n = snprintf(out + *o, len - *o, "%s%s", a, b);
	if (n < 0 || (size_t)n >= len - *o)
		return -1;
	*o += (size_t)n;
	return 0;
}

/* to, relative to the dir from (both absolute, compared as text: the
 * parts below their common prefix are dirs the sandbox made). 0 or -1. */
static int relative_to(const char *from, const char *to, char *out, size_t len)
{
	char fb[4200], tb[4200];
	char *f[128], *t[128];
	int nf = components(from, fb, sizeof fb, f, 128);
	int nt = components(to, tb, sizeof tb, t, 128);
	if (nf < 0 || nt < 0)
		return -1;
	int k = 0;
	while (k < nf && k < nt && strcmp(f[k], t[k]) == 0)
		k++;
	size_t o = 0;
	out[0] = '\0';
	for (int i = k; i < nf; i++)
		if (append(out, len, &o, o ? "/" : "", "..") < 0)
			return -1;
	for (int i = k; i < nt; i++)
		if (append(out, len, &o, o ? "/" : "", t[i]) < 0)
			return -1;
	return o ? 0 : append(out, len, &o, ".", "");
}

/* The image's layers relative to the generation dir (the host image's "/"
 * stays "/"): the overlay's options show in the slot's mountinfo, which
 * must not name the state dir. */
static int relative_layers(const struct leader_cfg *lc, char *out, size_t len)
{
	size_t o = 0;
	out[0] = '\0';
	for (const char *p = lc->init->image_root; *p;) {
		size_t n = strcspn(p, ":");
		char layer[4200], rel[4200];
		snprintf(layer, sizeof layer, "%.*s", (int)n, p);
		if (layer[0] != '/' || strcmp(layer, "/") == 0)
			snprintf(rel, sizeof rel, "%s", layer);
		else if (relative_to(lc->gen_dir, layer, rel, sizeof rel) < 0)
			return -1;
		if (append(out, len, &o, o ? ":" : "", rel) < 0)
			return -1;
		p += n + (p[n] == ':');
	}
	return 0;
}

static int mount_root_overlay(const struct leader_cfg *lc, const char *root,
			      struct sb_err *err)
{
	char opts[8400], lower[4200];
	/* Relative to the generation dir: the options show in the slot's
	 * mountinfo, which must not name host paths. */
	if (chdir(lc->gen_dir) < 0)
		return sb_err_sys(err, "chdir %s", lc->gen_dir);
	if (relative_layers(lc, lower, sizeof lower) == 0) {
		snprintf(opts, sizeof opts,
			 "lowerdir=%s,upperdir=upper,workdir=work", lower);
		if (mount_overlay(lc, root, 0, opts) == 0)
			return 0;
	}
	/* a layout the relative form does not fit: as given */
	snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=upper,workdir=work",
		 lc->init->image_root);
	if (mount_overlay(lc, root, 0, opts) < 0)
		return sb_err_sys(err, "mount overlay root");
	return 0;
}

/* The workspace: the generation's ws dir, or with a template an overlay
 * whose lower layer is the template (idmapped to the slot's uid) and whose
 * upper layer is the generation's wsu: instantiating a template of any
 * size costs one mount, a reset drops the upper layer with the generation,
 * and a fork copies that upper layer only. root/proc must be mounted. */
static int mount_workspace(const struct leader_cfg *lc, const char *root,
			   const char *target, struct sb_err *err)
{
	char ws[4200], proc[4200], opts[12800];

	if (!lc->init->template_dir) {
		snprintf(ws, sizeof ws, "%s/ws", lc->gen_dir);
		if (mount(ws, target, NULL, MS_BIND | MS_NOSUID | MS_NODEV,
			  NULL) < 0)
			return sb_err_sys(err, "bind workspace");
		return 0;
	}
	snprintf(ws, sizeof ws, "%s/tpl", lc->gen_dir);
	snprintf(proc, sizeof proc, "%s/proc", root);
	if (lc->init->userns) {
		/* idmapped by init while it was the host's root */
		snprintf(proc, sizeof proc, "/tpl%d", lc->index);
		if (mount(proc, ws, NULL, MS_BIND, NULL) < 0)
			return sb_err_sys(err, "bind the template");
	} else if (idmap_mount_template(lc->init->template_dir, lc->uid, proc,
					ws, err) < 0) {
		return -1;
	}
	if (chdir(lc->gen_dir) < 0)
		return sb_err_sys(err, "chdir %s", lc->gen_dir);
	snprintf(opts, sizeof opts, "lowerdir=tpl,upperdir=wsu,workdir=wsw");
	if (mount_overlay(lc, target, MS_NOSUID | MS_NODEV, opts) < 0)
		return sb_err_sys(err, "mount workspace overlay");
	return 0;
}

/* pivot_root visits every thread on the host (root_chroot.c): about half
 * a microsecond each here, against about 0.4 ms for a chroot's detach of
 * what the mount namespace holds off the slot's way. Past this many
 * threads (a few hundred slots) the chroot costs less. */
#define SLOT_ROOT_CHROOT_THREADS 500

/* The host's threads: the total in /proc/loadavg ("0.1 0.2 0.3 1/234
 * 567"), the same in every pid namespace; 0 when unread. */
static long host_threads(void)
{
	char buf[128] = "";
	_cleanup_fd_ int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	const char *slash = n > 0 ? strchr(buf, '/') : NULL;
	return slash ? strtol(slash + 1, NULL, 10) : 0;
}

static bool want_chroot(const struct init_cfg *cfg)
{
	if (cfg->slot_root != SLOT_ROOT_AUTO)
		return cfg->slot_root == SLOT_ROOT_CHROOT;
	return host_threads() >= SLOT_ROOT_CHROOT_THREADS;
}

int mounts_setup_slot_root(const struct leader_cfg *lc, bool enter,
			   struct sb_err *err)
{
	const struct init_cfg *cfg = lc->init;
	char root[4200], path[8400];

	snprintf(root, sizeof root, "%s/root", lc->gen_dir);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return sb_err_sys(err, "make / private");
	for (int i = 0; i < cfg->n_masks; i++)
		if (upper_mask_path(lc, cfg->masks[i]) < 0)
			return sb_err_sys(err, "mask %s", cfg->masks[i]);
	if (upper_make_shared_dirs(lc) < 0)
		return sb_err_sys(err, "make the image's shared dirs");
	if (mount_root_overlay(lc, root, err) < 0)
		return -1;
	snprintf(path, sizeof path, "%s/proc", root);
	mkdir(path, 0555);
	if (mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		return sb_err_sys(err, "mount /proc");
	if (dev_tree_mount(cfg, root, err) < 0)
		return -1;
	if (cfg->gpu && gpu_setup_slot(lc, root, err) < 0)
		return -1;
	if (bind_scratch(lc, root, "tmp", "/tmp", err) < 0 ||
	    bind_scratch(lc, root, "shm", "/dev/shm", err) < 0)
		return -1;
	snprintf(path, sizeof path, "%s/sys", root);
	mkdir(path, 0555);
	/* sysfs is a convenience (nproc, lscpu); a host that refuses it
	 * still gets a working sandbox. */
	slot_ns_mount_sys(cfg, path);
	snprintf(path, sizeof path, "%s%s", root, cfg->workspace_dir);
	if (mounts_mkdir_p(path, 0755) < 0)
		return sb_err_sys(err, "create %s", cfg->workspace_dir);
	if (mount_workspace(lc, root, path, err) < 0)
		return -1;
	if (chdir(root) < 0)
		return sb_err_sys(err, "chdir root");
	if (want_chroot(cfg)) {
		if (enter && root_chroot_here(err) < 0)
			return -1;
		return 1;
	}
	/* pivot_root(".", ".") stacks the old root under the new one; the
	 * detach then drops it, and with it every path to the scratch tmpfs
	 * and the other slots. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return sb_err_sys(err, "pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		return sb_err_sys(err, "detach old root");
	if (chdir("/") < 0)
		return sb_err_sys(err, "chdir /");
	return 0;
}
