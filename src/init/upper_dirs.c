/* SPDX-License-Identifier: Apache-2.0 */
/* upper_dirs.c - what a slot generation's upper layer holds before the
 * root overlay is mounted on it (mounts.c): a whiteout per masked host
 * path, and in a sandbox with a user namespace of its own (userns: true)
 * the image's world-writable directories, made ahead. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "init/init.h"

/* The image's world-writable dirs of a Debian-like root (/tmp and
 * /dev/shm are the generation's own: mounts.c). */
static const char *const shared_dirs[] = {
	"/var/tmp",  "/var/crash", "/var/lock",
	"/run/lock", "/var/mail",  "/var/spool/mail",
};

/* The most lower layers lower_stat follows (an image has at most 64). */
#define LOWER_MAX 128

static bool is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

/* Marked opaque, in either of overlayfs' namespaces (extract.c). */
static bool is_opaque(const char *path)
{
	char v[2];
	return (lgetxattr(path, "user.overlay.opaque", v, sizeof v) == 1 &&
		v[0] == 'y') ||
	       (lgetxattr(path, "trusted.overlay.opaque", v, sizeof v) == 1 &&
		v[0] == 'y');
}

/* lstat host_path as the overlay's lookup finds it in the image's lower
 * layers (a colon-separated list, top first; "/" for the host image):
 * component by component, the first layer that has it decides; there a
 * whiteout (0:0 char node) hides it, and a non-directory, an opaque
 * directory or a whiteout lower down hide the layers below from what
 * follows. */
static int lower_stat(const char *layers, const char *host_path,
		      struct stat *st)
{
	const char *at[LOWER_MAX];
	int len[LOWER_MAX], n = 0;
	bool live[LOWER_MAX];
	for (const char *p = layers; *p && n < LOWER_MAX; n++) {
		size_t l = strcspn(p, ":");
		at[n] = p;
		len[n] = l == 1 && p[0] == '/' ? 0 : (int)l;
		live[n] = true;
		p += l + (p[l] == ':');
	}
	char path[8400];
	struct stat s;
	bool found = false;
	for (const char *c = host_path + strspn(host_path, "/"); *c;) {
		c += strcspn(c, "/");
		int plen = (int)(c - host_path);
		c += strspn(c, "/");
		if (found && !S_ISDIR(st->st_mode))
			break; /* a component under a non-directory */
		found = false;
		for (int k = 0; k < n; k++) {
			if (!live[k])
				continue;
			snprintf(path, sizeof path, "%.*s%.*s", len[k], at[k],
				 plen, host_path);
			if (lstat(path, &s) < 0) {
				live[k] = false; /* nothing below it there */
				continue;
			}
			bool dir = S_ISDIR(s.st_mode);
			if (!found) {
				if (is_whiteout(&s))
					break; /* hidden */
				*st = s;
				found = true;
			}
			/* the stack ends at a non-directory (whiteouts are)
			 * or an opaque directory */
			if (!dir || is_opaque(path)) {
				live[k] = dir;
				for (int j = k + 1; j < n; j++)
					live[j] = false;
				break;
			}
		}
		if (!found)
			break;
		if (!*c)
			return 0;
	}
	errno = ENOENT;
	return -1;
}

/* mkdir upper (the upper dir's path, whose host path starts at base)
 * with its lower twin's mode and owner. 0 also when it exists. */
static int mkdir_like(const char *layers, const char *upper, size_t base)
{
	struct stat st;
	if (mkdir(upper, 0755) < 0)
		return errno == EEXIST ? 0 : -1;
	if (lower_stat(layers, upper + base, &st) < 0)
		return 0;
	/* EINVAL: an owner the sandbox's user namespace does not map (the
	 * host's root): the sandbox's root keeps it */
	if (chmod(upper, st.st_mode & 07777) < 0 ||
	    (chown(upper, st.st_uid, st.st_gid) < 0 && errno != EINVAL))
		return -1;
	return 0;
}

/* The upper layer's twins of host_path's parents (and with self, of
 * host_path) into upper (its path: on return, host_path's twin). */
static int make_dirs(const struct leader_cfg *lc, const char *host_path,
		     bool self, char *upper, size_t len)
{
	const char *layers = lc->init->image_root;
	int n = snprintf(upper, len, "%s/upper", lc->gen_dir);
	if (n < 0 || (size_t)n >= len)
		return -1;
	size_t base = (size_t)n;
	n = snprintf(upper + base, len - base, "%s", host_path);
	if (n < 0 || (size_t)n >= len - base) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = upper + base + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int r = mkdir_like(layers, upper, base);
		*p = '/';
		if (r < 0)
			return -1;
	}
	return self ? mkdir_like(layers, upper, base) : 0;
}

int upper_mask_path(const struct leader_cfg *lc, const char *host_path)
{
	char upper[8400];
	struct stat st;

	if (host_path[0] != '/' || !host_path[1] ||
	    lower_stat(lc->init->image_root, host_path, &st) < 0)
		return 0;
	if (make_dirs(lc, host_path, false, upper, sizeof upper) < 0)
		return -1;
	if (mknod(upper, S_IFCHR, makedev(0, 0)) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* path a world-writable directory of the image, it and its parents
 * directories, not links, none hidden (lower_stat). */
static bool lower_shared_dir(const char *layers, const char *path)
{
	char buf[256];
	struct stat st;
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1;; p++) {
		if (*p && *p != '/')
			continue;
		char c = *p;
		*p = '\0';
		bool dir = lower_stat(layers, buf, &st) == 0 &&
			   S_ISDIR(st.st_mode);
		*p = c;
		if (!dir)
			return false;
		if (!c)
			return (st.st_mode & S_IWOTH) != 0;
	}
}

/* With userns: a slot's first file in a world-writable dir of the image
 * (/var/tmp) copies that dir up, and overlayfs gives the copy its lower
 * twin's owner, the host's root, whom the sandbox's user namespace does
 * not map: it refuses (EOVERFLOW, "Value too large for defined data
 * type"). Made ahead here, with the twin's mode and the sandbox's root as
 * owner, that dir is no copy-up's business. Never over a link
 * (Debian's /var/lock -> /run/lock): only where the image has a real
 * directory. */
int upper_make_shared_dirs(const struct leader_cfg *lc)
{
	char upper[8400];
	if (!lc->init->userns)
		return 0;
	for (size_t i = 0; i < sizeof shared_dirs / sizeof shared_dirs[0]; i++)
		if (lower_shared_dir(lc->init->image_root, shared_dirs[i]) &&
		    make_dirs(lc, shared_dirs[i], true, upper, sizeof upper) <
			    0)
			return -1;
	return 0;
}
