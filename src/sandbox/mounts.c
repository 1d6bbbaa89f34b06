/* mounts.c - the filesystem a sandbox and each of its slots see.
 *
 * The sandbox keeps all its writable state in one tmpfs mounted (in its own
 * mount namespace only) on its scratch directory, so that when the sandbox
 * dies every byte it wrote goes with it: nothing to clean up on the host.
 * Each slot generation (a lease's life until a reset) is a tmpfs of its own
 * inside it, capped at the profile's disk_mb. The slot's root is an overlay
 * whose lower layer is the image and whose upper layer lives in that
 * generation tmpfs, with a fresh /proc (its own pid namespace), a minimal
 * /dev, and /tmp, /dev/shm and the workspace from the same tmpfs. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "sandbox/init.h"

static int fail(char *msg, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *msg, size_t len, const char *fmt, ...)
{
	int saved = errno;
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	snprintf(msg, len, "%s: %s", buf, strerror(saved));
	errno = saved;
	return -1;
}

int mounts_setup_sandbox(const struct init_cfg *cfg, char *msg, size_t msglen)
{
	char opts[64] = "mode=0700";

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail(msg, msglen, "make / private");
	if (cfg->tmpfs_bytes)
		snprintf(opts, sizeof opts, "mode=0700,size=%llu",
			 (unsigned long long)cfg->tmpfs_bytes);
	if (mount("tmpfs", cfg->scratch, "tmpfs", MS_NOSUID | MS_NODEV, opts) <
	    0)
		return fail(msg, msglen, "mount tmpfs on %s", cfg->scratch);
	char host[64];
	snprintf(host, sizeof host, "slotbox-%.48s", cfg->id);
	if (sethostname(host, strlen(host)) < 0)
		return fail(msg, msglen, "sethostname");
	return 0;
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

struct devnode {
	const char *name;
	unsigned maj, min;
};

static const struct devnode devnodes[] = {
	{"null", 1, 3},	  {"zero", 1, 5},    {"full", 1, 7},
	{"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

/* The slot's own devpts, with max= so that one slot cannot take the
 * host's ptys (kernel.pty.max counts every instance's). */
static int setup_dev(const char *root, int ptys_max, char *msg, size_t msglen)
{
	char path[4200], opts[96];

	snprintf(path, sizeof path, "%s/dev", root);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return fail(msg, msglen, "create /dev");
	if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NOEXEC,
		  "mode=0755,size=65536") < 0)
		return fail(msg, msglen, "mount /dev");
	for (size_t i = 0; i < sizeof devnodes / sizeof devnodes[0]; i++) {
		snprintf(path, sizeof path, "%s/dev/%s", root,
			 devnodes[i].name);
		if (mknod(path, S_IFCHR | 0666,
			  makedev(devnodes[i].maj, devnodes[i].min)) < 0)
			return fail(msg, msglen, "mknod %s", path);
		chmod(path, 0666); /* the umask must not narrow it */
	}
	static const char *const links[][2] = {
		{"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
		{"pts/ptmx", "ptmx"},
	};
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
		snprintf(path, sizeof path, "%s/dev/%s", root, links[i][1]);
		if (symlink(links[i][0], path) < 0)
			return fail(msg, msglen, "symlink %s", path);
	}
	snprintf(path, sizeof path, "%s/dev/pts", root);
	snprintf(opts, sizeof opts,
		 "newinstance,ptmxmode=0666,mode=0620,max=%d", ptys_max);
	if (mkdir(path, 0755) < 0 ||
	    mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC, opts) < 0)
		return fail(msg, msglen, "mount /dev/pts");
	return 0;
}

/* /tmp and /dev/shm are directories of the slot's generation tmpfs, so
 * they are private, emptied by a reset, and count against disk_mb like
 * the workspace and the root overlay's upper layer. */
static int bind_scratch(const struct leader_cfg *lc, const char *root,
			const char *sub, const char *target, char *msg,
			size_t msglen)
{
	char from[4200], to[8400];

	snprintf(from, sizeof from, "%s/%s", lc->gen_dir, sub);
	snprintf(to, sizeof to, "%s%s", root, target);
	if ((mkdir(to, 01777) < 0 && errno != EEXIST) ||
	    mount(from, to, NULL, MS_BIND, NULL) < 0)
		return fail(msg, msglen, "mount %s", target);
	return 0;
}

/* Hide a host path (the daemon's state and socket dirs) that the image
 * layer would otherwise show read-only. */
static int mask_path(const char *root, const char *host_path)
{
	char path[4200];
	struct stat st;

	snprintf(path, sizeof path, "%s%s", root, host_path);
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	return mount("tmpfs", path, "tmpfs",
		     MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		     "mode=0755,size=4096");
}

/* A released leader's namespace can take a moment to let go of the same
 * upper dir (reset=false: the next leader mounts it again); retry briefly
 * on EBUSY. */
static int mount_overlay(const char *target, unsigned long flags,
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

static int mount_root_overlay(const struct leader_cfg *lc, const char *root,
			      char *msg, size_t msglen)
{
	char opts[8400];
	snprintf(opts, sizeof opts,
		 "lowerdir=%s,upperdir=%s/upper,workdir=%s/work",
		 lc->init->image_root, lc->gen_dir, lc->gen_dir);
	if (mount_overlay(root, 0, opts) < 0)
		return fail(msg, msglen, "mount overlay root");
	return 0;
}

/* The workspace: the generation's ws dir, or with a template an overlay
 * whose lower layer is the template (idmapped to the slot's uid) and whose
 * upper layer is the generation's wsu: instantiating a template of any
 * size costs one mount, a reset drops the upper layer with the generation,
 * and a fork copies that upper layer only. root/proc must be mounted. */
static int mount_workspace(const struct leader_cfg *lc, const char *root,
			   const char *target, char *msg, size_t msglen)
{
	char ws[4200], proc[4200], opts[12800];

	if (!lc->init->template_dir) {
		snprintf(ws, sizeof ws, "%s/ws", lc->gen_dir);
		if (mount(ws, target, NULL, MS_BIND | MS_NOSUID | MS_NODEV,
			  NULL) < 0)
			return fail(msg, msglen, "bind workspace");
		return 0;
	}
	snprintf(ws, sizeof ws, "%s/tpl", lc->gen_dir);
	snprintf(proc, sizeof proc, "%s/proc", root);
	if (idmap_mount_template(lc->init->template_dir, lc->uid, proc, ws, msg,
				 msglen) < 0)
		return -1;
	snprintf(opts, sizeof opts,
		 "lowerdir=%s/tpl,upperdir=%s/wsu,workdir=%s/wsw", lc->gen_dir,
		 lc->gen_dir, lc->gen_dir);
	if (mount_overlay(target, MS_NOSUID | MS_NODEV, opts) < 0)
		return fail(msg, msglen, "mount workspace overlay");
	return 0;
}

int mounts_setup_slot_root(const struct leader_cfg *lc, char *msg,
			   size_t msglen)
{
	const struct init_cfg *cfg = lc->init;
	char root[4200], path[8400];

	snprintf(root, sizeof root, "%s/root", lc->gen_dir);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail(msg, msglen, "make / private");
	if (mount_root_overlay(lc, root, msg, msglen) < 0)
		return -1;
	snprintf(path, sizeof path, "%s/proc", root);
	mkdir(path, 0555);
	if (mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		return fail(msg, msglen, "mount /proc");
	if (setup_dev(root, cfg->ptys_max, msg, msglen) < 0)
		return -1;
	if (cfg->gpu && gpu_setup_slot(lc, root, msg, msglen) < 0)
		return -1;
	if (bind_scratch(lc, root, "tmp", "/tmp", msg, msglen) < 0 ||
	    bind_scratch(lc, root, "shm", "/dev/shm", msg, msglen) < 0)
		return -1;
	snprintf(path, sizeof path, "%s/sys", root);
	mkdir(path, 0555);
	/* sysfs is a convenience (nproc, lscpu); a host that refuses it
	 * still gets a working sandbox. */
	mount("sysfs", path, "sysfs",
	      MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	for (int i = 0; i < cfg->n_masks; i++)
		if (mask_path(root, cfg->masks[i]) < 0)
			return fail(msg, msglen, "mask %s", cfg->masks[i]);
	snprintf(path, sizeof path, "%s%s", root, cfg->workspace_dir);
	if (mounts_mkdir_p(path, 0755) < 0)
		return fail(msg, msglen, "create %s", cfg->workspace_dir);
	if (mount_workspace(lc, root, path, msg, msglen) < 0)
		return -1;
	if (chdir(root) < 0)
		return fail(msg, msglen, "chdir root");
	/* pivot_root(".", ".") stacks the old root under the new one; the
	 * detach then drops it, and with it every path to the scratch tmpfs
	 * and the other slots. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return fail(msg, msglen, "pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		return fail(msg, msglen, "detach old root");
	if (chdir("/") < 0)
		return fail(msg, msglen, "chdir /");
	return 0;
}
