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
#include <fcntl.h>
#include <limits.h>
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

bool mount_above_or_at(const char *point, const char *path)
{
	size_t n = strlen(point);
	if (strcmp(point, "/") == 0)
		return true;
	return strncmp(path, point, n) == 0 &&
	       (path[n] == '/' || path[n] == '\0');
}

bool mount_on_the_way(const char *path, const char *root)
{
	size_t n = strlen(path), r = strlen(root);
	if (n <= r)
		return mount_above_or_at(path, root);
	return strncmp(path, root, r) == 0 && path[r] == '/';
}

struct mnt {
	int id, parent;
	char *point; /* into the text read */
};

/* All of /proc/self/mountinfo in one malloc'd, NUL-terminated buffer (a
 * few reads: stdio would read it 1 KiB at a time); NULL with errno. */
static char *read_mountinfo(void)
{
	_cleanup_fd_ int fd =
		open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	size_t cap = 16384, len = 0;
	char *buf = fd < 0 ? NULL : malloc(cap);

	while (buf) {
		if (len + 1 == cap) {
			char *nb = cap < (64u << 20) ? realloc(buf, cap *= 2)
						     : NULL;
			if (!nb) {
				free(buf);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
		}
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return NULL;
		}
		if (n == 0) {
			buf[len] = '\0';
			return buf;
		}
		len += (size_t)n;
	}
	return NULL;
}

/* The mounts of this namespace; *n of them, NULL with errno on failure.
 * Their points are unescaped in text, which they point into. */
static struct mnt *parse_mounts(char *text, size_t *n)
{
	size_t cap = 64, len = 0;
	struct mnt *v = malloc(cap * sizeof *v);

	if (!v)
		return NULL;
	for (char *line = text, *next; *line; line = next) {
		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		/* "ID PARENT MAJ:MIN ROOT POINT OPTIONS ..." */
		char *end, *point = line;
		long id = strtol(line, &end, 10);
		long parent = strtol(end, &point, 10);
		if (end == line || point == end || id < 0 || id > INT_MAX ||
		    parent < 0 || parent > INT_MAX)
			continue;
		for (int f = 0; f < 2; f++) { /* MAJ:MIN, ROOT */
			point += strspn(point, " ");
			point += strcspn(point, " ");
		}
		point += strspn(point, " ");
		if (*point != '/')
			continue;
		point[strcspn(point, " ")] = '\0';
		unescape(point);
		if (len == cap) {
			struct mnt *nv = realloc(v, (cap *= 2) * sizeof *v);
			if (!nv) {
				free(v);
				errno = ENOMEM;
				return NULL;
			}
			v = nv;
		}
		v[len++] = (struct mnt){
			.id = (int)id, .parent = (int)parent, .point = point};
	}
	*n = len;
	return v;
}

static int by_id(const void *a, const void *b)
{
	int x = ((const struct mnt *)a)->id, y = ((const struct mnt *)b)->id;
	return (x > y) - (x < y);
}

/* Does mount id (in v, sorted by id) stay? The namespace's root mount
 * has a parent outside the list: yes. */
static bool kept(const struct mnt *v, size_t n, int id, root_keep_fn keep,
		 const void *ud)
{
	struct mnt key = {.id = id};
	const struct mnt *m = bsearch(&key, v, n, sizeof *v, by_id);
	return !m || keep(m->point, ud);
}

static int by_point(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* How many mounts sit on point (a stack): its run in the sorted points. */
static size_t stacked(char **points, size_t n, const char *point)
{
	size_t lo = 0, hi = n;
	while (lo < hi) { /* the first not below point */
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(points[mid], point) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t k = 0;
	while (lo + k < n && strcmp(points[lo + k], point) == 0)
		k++;
	return k;
}

int root_detach_unless(root_keep_fn keep, const void *ud, struct sb_err *err)
{
	size_t n = 0;
	int r = 0;

	_cleanup_free_ char *text = read_mountinfo();
	_cleanup_free_ struct mnt *v = text ? parse_mounts(text, &n) : NULL;
	if (!v)
		return sb_err_sys(err, "read mountinfo");
	/* a host may have thousands of mounts: look parents up by id, and
	 * stacks by point, in sorted copies */
	qsort(v, n, sizeof *v, by_id);
	_cleanup_free_ char **points = malloc((n ? n : 1) * sizeof *points);
	if (!points)
		return sb_err_sys(err, "read mountinfo");
	for (size_t i = 0; i < n; i++)
		points[i] = v[i].point;
	qsort(points, n, sizeof *points, by_point);
	/* Each topmost mount off the way takes what is mounted below it
	 * along; a stack on one point goes one mount at a time. */
	for (size_t i = 0; i < n && r == 0; i++) {
		if (keep(v[i].point, ud) || !kept(v, n, v[i].parent, keep, ud))
			continue;
		for (size_t k = stacked(points, n, v[i].point); k > 0; k--) {
			if (umount2(v[i].point, MNT_DETACH | UMOUNT_NOFOLLOW) ==
			    0)
				continue;
			/* EINVAL: no longer a mount point (it went with one
			 * listed before); ENOENT: so did its directory */
			if (errno != EINVAL && errno != ENOENT)
				r = sb_err_sys(err, "detach %s", v[i].point);
			break;
		}
	}
	return r;
}

static bool keep_root(const char *point, const void *root)
{
	return mount_on_the_way(point, root);
}

int root_detach_outside(struct sb_err *err)
{
	char root[4200];

	/* the mount points in mountinfo are canonical: so is getcwd */
	if (!getcwd(root, sizeof root))
		return sb_err_sys(err, "getcwd");
	return root_detach_unless(keep_root, root, err);
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
	if (root_detach_outside(err) < 0)
		return -1;
	return root_chroot_path(".", err);
}
