/* SPDX-License-Identifier: Apache-2.0 */
/* init_userns.c - a sandbox in a user namespace of its own (userns: true).
 *
 * init starts as root of the host, does what needs the host's
 * capabilities, then moves into a new user namespace in which its root is
 * an unprivileged uid of the daemon's range (R, the last of the sandbox's
 * 1000) and the slots' uids map to themselves: from then on no process of
 * the sandbox is root on the host, and a slot that became root inside
 * would hold only what R holds. What needs the host comes first, as root:
 * - the sandbox's cgroups are delegated to R (its slots' groups and their
 *   process lists; the limits stay the host's: R cannot raise them); on
 *   cgroup v2 init moves itself into a leaf "init" of the sandbox's group,
 *   so that moving a leader into its slot's group stays below it;
 * - a new root for init, the sandbox's scratch tmpfs (owned by R), holding
 *   all init and the leaders reach of the host: the image's layers
 *   (bind mounts: the state dir and its parents may be closed to R), a
 *   procfs and a sysfs (an unprivileged mount of either needs one fully
 *   visible), device nodes to bind into slots (R may not mknod), and per
 *   slot the idmapped workspace template (idmapping needs the host's
 *   CAP_SYS_ADMIN); the rest of the host's tree is detached.
 * A helper child, still the host's root, writes the maps once init has
 * unshared and exits; init then takes root inside (R on the host). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "init/init.h"

static int fail(struct sb_err *err, const char *what)
{
	return sb_err_sys(err, "userns: %s", what);
}

/* Hand dir (and the files that place and kill processes in it) to uid;
 * the limit files stay root's. */
static int delegate(int parent, const char *name, uid_t uid)
{
	static const char *const files[] = {
		"cgroup.procs", "tasks",	 "cgroup.threads",
		"cgroup.kill",	"cgroup.freeze", "freezer.state",
	};
	_cleanup_fd_ int fd =
		openat(parent, name, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fchown(fd, uid, uid) < 0)
		return -1;
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		if (fchownat(fd, files[i], uid, uid, 0) < 0 && errno != ENOENT)
			return -1;
	return 0;
}

static int delegate_cgroups(const struct init_cfg *cfg, struct sb_err *err)
{
	char name[16];
	if (cfg->cg_fd >= 0 && cfg->cg_mode == CG_V2) {
		/* v2 moves a process only below a common ancestor whose
		 * cgroup.procs the mover may write: ours and the slots'
		 * meet at the sandbox's group. */
		if ((mkdirat(cfg->cg_fd, "init", 0755) < 0 &&
		     errno != EEXIST) ||
		    calltree_join(cfg->cg_fd, "init", cfg->cg_mode) < 0)
			return fail(err, "join the sandbox's cgroup");
		if (fchownat(cfg->cg_fd, "cgroup.procs", cfg->userns_root,
			     cfg->userns_root, 0) < 0)
			return fail(err, "delegate the sandbox's cgroup");
	}
	for (int i = 0; i < cfg->n_slots; i++) {
		snprintf(name, sizeof name, "s%d", i);
		if (cfg->cg_fd >= 0 &&
		    delegate(cfg->cg_fd, name, cfg->userns_root) < 0)
			return fail(err, "delegate a slot's cgroup");
		/* A v1 hierarchy without per-slot limits has no slot
		 * groups: the leaders join the sandbox's (cgroup.c). */
		for (int k = 0; k < cfg->n_cg_more; k++)
			if (delegate(cfg->cg_more[k], name, cfg->userns_root) <
				    0 &&
			    (errno != ENOENT || delegate(cfg->cg_more[k], ".",
							 cfg->userns_root) < 0))
				return fail(err,
					    "delegate a slot's v1 cgroups");
	}
	return 0;
}

static int make_dir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* Bind src (recursively with rec) onto a new dir at dst. */
static int bind_dir(const char *src, const char *dst, bool rec)
{
	if (make_dir(dst, 0755) < 0)
		return -1;
	return mount(src, dst, NULL, MS_BIND | (rec ? MS_REC : 0), NULL);
}

/* The device nodes a slot's /dev binds (dev_tree.c): made here, on a
 * tmpfs of the host's (devices work on it), since R may not mknod. */
static int stage_dev(const char *scratch)
{
	char path[4200], failed[4300];
	snprintf(path, sizeof path, "%s/dev", scratch);
	if (make_dir(path, 0755) < 0 ||
	    mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NOEXEC,
		  "mode=0755,size=16k") < 0)
		return -1;
	return dev_tree_nodes(path, false, failed, sizeof failed);
}

/* The image's layers as /img/<k> of the new root; image_root becomes
 * their list. */
static int stage_image(struct init_cfg *cfg, struct sb_err *err)
{
	static char layers[4200];
	char path[4200];
	size_t o = 0;
	int k = 0;
	snprintf(path, sizeof path, "%s/img", cfg->scratch);
	if (make_dir(path, 0755) < 0)
		return fail(err, "stage the image");
	for (const char *p = cfg->image_root; *p; k++) {
		size_t n = strcspn(p, ":");
		char src[4200];
		snprintf(src, sizeof src, "%.*s", (int)n, p);
		snprintf(path, sizeof path, "%s/img/%d", cfg->scratch, k);
		if (bind_dir(src, path, false) < 0)
			return fail(err, "bind an image layer");
		int w = snprintf(layers + o, sizeof layers - o, "%s/img/%d",
				 o ? ":" : "", k);
		if (w < 0 || (size_t)w >= sizeof layers - o) {
			errno = ENAMETOOLONG;
			return fail(err, "stage the image");
		}
		o += (size_t)w;
		p += n + (p[n] == ':');
	}
	cfg->image_root = layers;
	return 0;
}

/* Each slot's workspace template, idmapped to its uid, at /tpl<i>. */
static int stage_templates(const struct init_cfg *cfg, struct sb_err *err)
{
	char proc[4200], path[4200];
	if (!cfg->template_dir)
		return 0;
	snprintf(proc, sizeof proc, "%s/proc", cfg->scratch);
	for (int i = 0; i < cfg->n_slots; i++) {
		snprintf(path, sizeof path, "%s/tpl%d", cfg->scratch, i);
		if (make_dir(path, 0755) < 0)
			return fail(err, "stage the template");
		if (idmap_mount_template(cfg->template_dir,
					 cfg->uid_base + (uid_t)i, proc, path,
					 err) < 0)
			return -1;
	}
	return 0;
}

/* The new root: the scratch tmpfs with what the sandbox needs of the
 * host; the host's tree is detached. */
static int stage_root(struct init_cfg *cfg, struct sb_err *err)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/proc", cfg->scratch);
	/* a procfs of our own pid namespace (init is 1 there) */
	if (make_dir(path, 0555) < 0 ||
	    mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		return fail(err, "mount /proc");
	snprintf(path, sizeof path, "%s/sys", cfg->scratch);
	if (bind_dir("/sys", path, true) < 0)
		return fail(err, "bind /sys");
	if (stage_dev(cfg->scratch) < 0)
		return fail(err, "stage /dev");
	for (int i = 0; i < cfg->n_slots; i++) {
		snprintf(path, sizeof path, "%s/s%d", cfg->scratch, i);
		if (chown(path, cfg->userns_root, cfg->userns_root) < 0)
			return fail(err, "chown a slot dir");
	}
	if (stage_image(cfg, err) < 0 || stage_templates(cfg, err) < 0)
		return -1;
	if (chdir(cfg->scratch) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return fail(err, "pivot into the scratch dir");
	cfg->scratch = "";
	return 0;
}

static int write_map(const char *file, const char *map)
{
	_cleanup_fd_ int fd = open(file, O_WRONLY | O_CLOEXEC);
	size_t n = strlen(map);
	if (fd < 0 || write(fd, map, n) != (ssize_t)n)
		return -1;
	return 0;
}

/* The helper: once init has unshared (EOF on gate), write its maps from
 * the host's user namespace. Exits 0 or with the errno. */
__attribute__((noreturn)) static void map_writer(int gate, const char *map)
{
	char c;
	while (read(gate, &c, 1) < 0 && errno == EINTR)
		;
	/* init is PID 1 of the procfs staged at /proc */
	if (write_map("/proc/1/uid_map", map) < 0 ||
	    write_map("/proc/1/gid_map", map) < 0)
		_exit(errno & 0x7f);
	_exit(0);
}

static int read_overflow_uid(void)
{
	char buf[32] = "";
	_cleanup_fd_ int fd =
		open("/proc/sys/kernel/overflowuid", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	char *end = buf;
	long v = n > 0 ? strtol(buf, &end, 10) : -1;
	return end != buf && v >= 0 && v <= INT_MAX ? (int)v : 65534;
}

int init_userns_enter(struct init_cfg *cfg, struct sb_err *err)
{
	char map[128];
	uid_t r = cfg->userns_root;
	/* 0 is R; the slots' uids are themselves (the daemon's file tools,
	 * snapshots and seeds see the owners a slot sees) */
	snprintf(map, sizeof map, "0 %u 1\n%u %u %d\n", (unsigned)r,
		 (unsigned)cfg->uid_base, (unsigned)cfg->uid_base,
		 cfg->n_slots);
	cfg->host_root_uid = (uid_t)read_overflow_uid();
	if (delegate_cgroups(cfg, err) < 0 || stage_root(cfg, err) < 0)
		return -1;
	int gate[2];
	if (pipe2(gate, O_CLOEXEC) < 0)
		return fail(err, "pipe");
	pid_t pid = fork();
	if (pid < 0) {
		close(gate[0]);
		close(gate[1]);
		return fail(err, "fork the map writer");
	}
	if (pid == 0) {
		close(gate[1]);
		map_writer(gate[0], map);
	}
	close(gate[0]);
	int r_unshare = unshare(CLONE_NEWUSER | CLONE_NEWNS);
	int saved = errno;
	close(gate[1]); /* go (also when unshare failed: it then fails) */
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (r_unshare < 0) {
		errno = saved;
		return fail(err, "unshare");
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		errno = WIFEXITED(st) ? WEXITSTATUS(st) : ECHILD;
		return fail(err, "write the uid and gid maps");
	}
	if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 ||
	    setresuid(0, 0, 0) < 0)
		return fail(err, "become root of the namespace");
	return 0;
}
