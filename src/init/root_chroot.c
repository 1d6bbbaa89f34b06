/* SPDX-License-Identifier: Apache-2.0 */
/* root_chroot.c - a slot's root entered with chroot instead of pivot_root.
 *
 * pivot_root walks every thread on the host (chroot_fs_refs, under the
 * tasklist lock) to move the roots of processes that stood on the old one.
 * With 10,000 slots that is 20,000 threads and some 10 ms per slot
 * generation, while it blocks every fork and exit on the machine. chroot
 * changes the caller's root only.
 *
 * Why it holds: a chroot is left only by calling chroot again (or fchdir
 * to a directory opened outside, and slot processes are given none). That
 * needs CAP_SYS_CHROOT, and a slot's processes have an empty bounding set
 * and no_new_privs, so they can never hold a capability in the host's
 * user namespace; the kernel refuses a new user namespace (where they
 * would hold all of them) to any process whose root is not its mount
 * namespace's (current_chrooted(), kernel/user_namespace.c). A profile
 * whose filter lets user namespaces through would lose that, and the
 * feature it asks for: the daemon gives its slots pivot_root instead
 * (sb_seccomp_denies_new_userns).
 *
 * What pivot_root's detach also did is done here: the slot's mount
 * namespace starts as a copy of the sandbox's, and a copy keeps every
 * mount it holds alive (another slot's generation tmpfs, a host mount the
 * admin unmounts later). Every mount that is neither on the way to the
 * slot's root nor under it is detached before the chroot. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "init/init.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *o = s;
	for (char *p = s; *p; o++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' &&
		    p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
			*o = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 +
				    (p[3] - '0'));
			p += 4;
		} else {
			*o = *p++;
		}
	}
	*o = '\0';
}

/* Is path equal to root, above it, or below it? (Both canonical.) */
static bool on_the_way(const char *path, const char *root)
{
	size_t n = strlen(path), r = strlen(root);
	if (strcmp(path, "/") == 0)
		return true;
	if (n <= r)
		return strncmp(root, path, n) == 0 &&
		       (root[n] == '/' || root[n] == '\0');
	return strncmp(path, root, r) == 0 && path[r] == '/';
}

struct mnt {
	int id, parent;
	char *point;
};

static void free_mounts(struct mnt *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].point);
	free(v);
}

/* The mounts of this namespace (/proc/self/mountinfo); *n of them, NULL
 * with errno on failure. */
static struct mnt *read_mounts(size_t *n)
{
	_cleanup_file_ FILE *f = fopen("/proc/self/mountinfo", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0, len = 0;
	struct mnt *v = NULL;

	if (!f)
		return NULL;
	while (getline(&line, &cap, f) > 0) {
		int id, parent, off = 0;
		if (sscanf(line, "%d %d %*s %*s %n", &id, &parent, &off) < 2 ||
		    !off)
			continue;
		char *point = line + off;
		point[strcspn(point, " ")] = '\0';
		unescape(point);
		struct mnt *nv = realloc(v, (len + 1) * sizeof *v);
		if (!nv) {
			free_mounts(v, len);
			errno = ENOMEM;
			return NULL;
		}
		v = nv;
		v[len] = (struct mnt){
			.id = id, .parent = parent, .point = strdup(point)};
		if (!v[len++].point) {
			free_mounts(v, len);
			errno = ENOMEM;
			return NULL;
		}
	}
	*n = len;
	return v;
}

static int by_id(const void *a, const void *b)
{
	int x = ((const struct mnt *)a)->id, y = ((const struct mnt *)b)->id;
	return (x > y) - (x < y);
}

/* Is mount id (in v, sorted by id) on the way to root? The namespace's
 * root mount has a parent outside the list: yes. */
static bool kept(const struct mnt *v, size_t n, int id, const char *root)
{
	struct mnt key = {.id = id};
	const struct mnt *m = bsearch(&key, v, n, sizeof *v, by_id);
	return !m || on_the_way(m->point, root);
}

/* Detach every mount whose mount point is off the way to root (and not
 * under it): each topmost one of those, which takes what is mounted below
 * it along; mounts stacked on one mount point go one by one. */
static int detach_outside(const char *root, struct sb_err *err)
{
	size_t n = 0;
	struct mnt *v = read_mounts(&n);
	int r = 0;

	if (!v)
		return sb_err_sys(err, "read mountinfo");
	/* a host may have thousands of mounts: look parents up by id */
	qsort(v, n, sizeof *v, by_id);
	for (size_t i = n; i-- > 0 && r == 0;) {
		if (on_the_way(v[i].point, root) ||
		    !kept(v, n, v[i].parent, root))
			continue;
		/* at most every mount listed can sit on one point */
		for (size_t k = 0; k < n; k++) {
			if (umount2(v[i].point, MNT_DETACH | UMOUNT_NOFOLLOW) ==
			    0)
				continue;
			/* EINVAL: no longer a mount point (gone with the
			 * one below, or the last of a stack); ENOENT: its
			 * directory went with an earlier mount */
			if (errno != EINVAL && errno != ENOENT)
				r = sb_err_sys(err, "detach %s", v[i].point);
			break;
		}
	}
	free_mounts(v, n);
	return r;
}

int root_chroot_path(const char *path, struct sb_err *err)
{
	if (chdir(path) < 0)
		return sb_err_sys(err, "chdir %s", path);
	if (chroot(".") < 0)
		return sb_err_sys(err, "chroot %s", path);
	if (chdir("/") < 0)
		return sb_err_sys(err, "chdir /");
	return 0;
}

int root_chroot_here(struct sb_err *err)
{
	char root[4200];

	/* the mount points in mountinfo are canonical: so is getcwd */
	if (!getcwd(root, sizeof root))
		return sb_err_sys(err, "getcwd");
	if (detach_outside(root, err) < 0)
		return -1;
	if (chroot(".") < 0)
		return sb_err_sys(err, "chroot %s", root);
	if (chdir("/") < 0)
		return sb_err_sys(err, "chdir /");
	return 0;
}
