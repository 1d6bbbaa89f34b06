/* SPDX-License-Identifier: Apache-2.0 */
/* dev_tree.c - a slot's /dev: a few device nodes, the /proc/self/fd
 * links, its own devpts, and the mount point of /dev/shm.
 *
 * Where every slot of a sandbox sees the same nodes (no user namespace,
 * no GPU: a GPU slot sees only its own devices), init makes that tree once,
 * in a small tmpfs of its own made read-only, and each slot generation
 * binds it: a slot generation then costs no file system of its own for
 * /dev, and no mknod. A file system is a kernel object with a shrinker, and
 * each memory cgroup on the host holds a counter for every shrinker, so
 * one per slot generation adds to the cost of every memory cgroup
 * (docs/bench.md, "What a slot costs the kernel"). Read-only on the
 * superblock: no slot can add a node or a link that another slot would
 * see; device nodes stay writable (a node's write goes to its driver).
 * Otherwise (user namespace, GPU) each generation makes its own tmpfs as
 * before. devpts is each slot's own either way: its ptys must not be
 * another slot's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "init/init.h"

#define DEV_TMPFS_OPTS "mode=0755,size=65536"

struct devnode {
	const char *name;
	unsigned maj, min;
};

static const struct devnode devnodes[] = {
	{"null", 1, 3},	  {"zero", 1, 5},    {"full", 1, 7},
	{"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

/* A device node: made, or with bind (a user namespace: no mknod there)
 * bound from the one init staged. */
static int make_devnode(const char *path, const struct devnode *d, bool bind)
{
	if (bind) {
		char src[64];
		snprintf(src, sizeof src, "/dev/%s", d->name);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			      0666);
		if (fd < 0)
			return -1;
		close(fd);
		return mount(src, path, NULL, MS_BIND, NULL);
	}
	if (mknod(path, S_IFCHR | 0666, makedev(d->maj, d->min)) < 0)
		return -1;
	return chmod(path, 0666); /* the umask must not narrow it */
}

int dev_tree_nodes(const char *dir, bool bind, char *failed, size_t len)
{
	for (size_t i = 0; i < sizeof devnodes / sizeof devnodes[0]; i++) {
		snprintf(failed, len, "%s/%s", dir, devnodes[i].name);
		if (make_devnode(failed, &devnodes[i], bind) < 0)
			return -1;
	}
	return 0;
}

/* A tmpfs on dir with the nodes, the links and the mount points of
 * /dev/pts and /dev/shm. */
static int make_tree(const char *dir, bool userns, struct sb_err *err)
{
	char path[4200];

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return sb_err_sys(err, "create %s", dir);
	if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NOEXEC,
		  DEV_TMPFS_OPTS) < 0)
		return sb_err_sys(err, "mount /dev");
	if (dev_tree_nodes(dir, userns, path, sizeof path) < 0)
		return sb_err_sys(err, "mknod %s", path);
	static const char *const links[][2] = {
		{"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
		{"pts/ptmx", "ptmx"},
	};
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, links[i][1]);
		if (symlink(links[i][0], path) < 0)
			return sb_err_sys(err, "symlink %s", path);
	}
	static const char *const points[] = {"pts", "shm"};
	for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, points[i]);
		if (mkdir(path, i ? 01777 : 0755) < 0)
			return sb_err_sys(err, "create %s", path);
	}
	return 0;
}

static bool shared(const struct init_cfg *cfg)
{
	return !cfg->userns && !cfg->gpu;
}

static void shared_dir(const struct init_cfg *cfg, char *buf, size_t len)
{
	snprintf(buf, len, "%s/dev-shared", cfg->scratch);
}

int dev_tree_share(const struct init_cfg *cfg, struct sb_err *err)
{
	char dir[4200];

	if (!shared(cfg))
		return 0;
	shared_dir(cfg, dir, sizeof dir);
	if (make_tree(dir, false, err) < 0)
		return -1;
	if (mount(NULL, dir, NULL,
		  MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
		  DEV_TMPFS_OPTS) < 0)
		return sb_err_sys(err, "make the shared /dev read-only");
	return 0;
}

int dev_tree_mount(const struct init_cfg *cfg, const char *root,
		   struct sb_err *err)
{
	char path[4200], opts[96];

	snprintf(path, sizeof path, "%s/dev", root);
	if (!shared(cfg)) {
		if (make_tree(path, cfg->userns, err) < 0)
			return -1;
	} else {
		char dir[4200];
		shared_dir(cfg, dir, sizeof dir);
		/* a bind keeps the source's mount flags: nosuid, noexec */
		if ((mkdir(path, 0755) < 0 && errno != EEXIST) ||
		    mount(dir, path, NULL, MS_BIND, NULL) < 0)
			return sb_err_sys(err, "bind /dev");
	}
	/* The slot's own devpts, with max= so that one slot cannot take
	 * the host's ptys (kernel.pty.max counts every instance's). */
	snprintf(path, sizeof path, "%s/dev/pts", root);
	snprintf(opts, sizeof opts,
		 "newinstance,ptmxmode=0666,mode=0620,max=%d", cfg->ptys_max);
	if (mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC, opts) < 0)
		return sb_err_sys(err, "mount /dev/pts");
	return 0;
}
