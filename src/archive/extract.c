/* SPDX-License-Identifier: Apache-2.0 */
/* extract.c - safe, whiteout-aware archive extraction (see extract.h):
 * image layers (slotbox-image, as root), uploads into a slot
 * (fileops_unpack.c, as the slot's uid) and workspace templates
 * (daemon/templates.c, as root), with a policy each. */
#include "archive/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

int extract_path_ok(const char *path)
{
	if (!path || !*path || path[0] == '/')
		return -1;
	/* every component: not ".." ("." is harmless, but a path of
	 * nothing else names the root itself: see check_entry) */
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -1;
		p += n;
		while (*p == '/')
			p++;
	}
	return 0;
}

int extract_symlink_ok(const char *path, const char *target)
{
	if (!target || !*target || target[0] == '/' || !path)
		return -1;
	/* depth of path's directory: its components but the last */
	long depth = 0;
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");
		bool last = !p[n] || !p[n + strspn(p + n, "/")];
		if (!last && n && !(n == 1 && p[0] == '.'))
			depth++;
		p += n;
		while (*p == '/')
			p++;
	}
	/* leading ".." only: after a name, ".." could climb from wherever
	 * that name (itself a link) leads */
	bool named = false;
	for (const char *t = target; *t;) {
		size_t n = strcspn(t, "/");
		if (n == 2 && t[0] == '.' && t[1] == '.') {
			if (named || --depth < 0)
				return -1;
		} else if (n && !(n == 1 && t[0] == '.')) {
			named = true;
		}
		t += n;
		while (*t == '/')
			t++;
	}
	return 0;
}

/* Open (creating as needed, as the layer's own entries would) the parent
 * directory of rel under root, one component at a time and never through
 * a symlink, so that a whiteout cannot be planted outside the tree. */
static int open_parent(int root, const char *rel, const char **base)
{
	char comp[256];
	int cur = fcntl(root, F_DUPFD_CLOEXEC, 0);
	const char *p = rel;
	*base = rel;
	while (cur >= 0) {
		size_t n = strcspn(p, "/");
		if (!p[n]) {
			*base = p;
			return cur;
		}
		if (n >= sizeof comp) {
			close(cur);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n + 1;
		while (*p == '/')
			p++;
		if (!n || strcmp(comp, ".") == 0)
			continue;
		if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST) {
			close(cur);
			return -1;
		}
		struct open_how how = {
			.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
				   RESOLVE_NO_MAGICLINKS};
		int next =
			(int)syscall(SYS_openat2, cur, comp, &how, sizeof how);
		close(cur);
		cur = next;
	}
	return -1;
}

/* An opaque dir carries the mark in both of overlayfs' namespaces: the
 * host's overlays (userns: false) read trusted.overlay.opaque, those a
 * sandbox mounts in its own user namespace (userns: true, mounted with
 * userxattr) user.overlay.opaque. A file system without user xattrs (a
 * tmpfs before Linux 6.6) gets the trusted mark only: the importer tells
 * (import.c, "userxattr" of the image's ref). */
int extract_mark_opaque(int dir)
{
	if (fsetxattr(dir, "trusted.overlay.opaque", "y", 1, 0) < 0)
		return -1;
	if (fsetxattr(dir, "user.overlay.opaque", "y", 1, 0) < 0 &&
	    errno != ENOTSUP)
		return -1;
	return 0;
}

static int whiteout(int root, const char *rel, struct sb_err *err)
{
	const char *base;
	_cleanup_fd_ int dir = open_parent(root, rel, &base);
	if (dir < 0)
		return sb_err_sys(err, "whiteout %s", rel);
	if (strcmp(base, WH_OPAQUE) == 0)
		return extract_mark_opaque(dir) < 0
			       ? sb_err_sys(err, "opaque %s", rel)
			       : 0;
	const char *name = base + strlen(WH_PREFIX);
	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return sb_err_set(err, EINVAL, "bad whiteout %s", rel);
	/* A lower layer's file of that name is hidden by a 0:0 char node;
	 * replace whatever this layer put there first. */
	unlinkat(dir, name, 0);
	if (mknodat(dir, name, S_IFCHR, makedev(0, 0)) < 0)
		return sb_err_sys(err, "whiteout %s", rel);
	return 0;
}

/* Every component "" or ".": the path names the extraction root. */
static bool names_root(const char *path)
{
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");
		if (n > 1 || (n == 1 && p[0] != '.'))
			return false;
		p += n;
		while (*p == '/')
			p++;
	}
	return true;
}

struct extract_policy extract_policy_layer(bool oci_whiteouts,
					   uint64_t max_bytes)
{
	return (struct extract_policy){.oci_whiteouts = oci_whiteouts,
				       .keep_owners = true,
				       .max_bytes = max_bytes};
}

struct extract_policy extract_policy_upload(bool zip, uint64_t max_bytes,
					    uint64_t max_entries)
{
	return (struct extract_policy){.zip = zip,
				       .ordinary_only = true,
				       .symlinks_inside = true,
				       .drop_setid = true,
				       .max_bytes = max_bytes,
				       .max_entries = max_entries};
}

struct extract_policy extract_policy_template(bool zip, uint64_t max_bytes,
					      uint64_t max_entries)
{
	return (struct extract_policy){.zip = zip,
				       .ordinary_only = true,
				       .max_bytes = max_bytes,
				       .max_entries = max_entries};
}

/* The policy's own checks beyond check_entry's. */
static int check_policy_entry(struct archive_entry *e, const char *path,
			      const char *hard, mode_t type,
			      const struct extract_policy *pol,
			      struct sb_err *err)
{
	if (pol->ordinary_only && !hard && type != AE_IFREG &&
	    type != AE_IFDIR && type != AE_IFLNK)
		return sb_err_set(err, EPERM,
				  "%.200s: devices, FIFOs and sockets are "
				  "refused",
				  path);
	if (pol->symlinks_inside && !hard && type == AE_IFLNK &&
	    extract_symlink_ok(path, archive_entry_symlink(e)) < 0)
		return sb_err_set(err, EPERM,
				  "%.200s: symlink out of the archive's "
				  "directory refused",
				  path);
	if (pol->drop_setid)
		archive_entry_set_perm(e, archive_entry_perm(e) & 01777);
	if (!pol->keep_owners) {
		/* the extracting user's, whatever the archive says */
		archive_entry_set_uid(e, 0);
		archive_entry_set_gid(e, 0);
		archive_entry_set_uname(e, NULL);
		archive_entry_set_gname(e, NULL);
	}
	return 0;
}

static int check_entry(struct archive_entry *e,
		       const struct extract_policy *pol, struct sb_err *err)
{
	const char *path = archive_entry_pathname(e);
	const char *hard = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	if (extract_path_ok(path) < 0)
		return sb_err_set(err, EPERM,
				  "unsafe path in archive (not a relative path "
				  "inside the tree): %.200s",
				  path ? path : "(none)");
	if (hard && extract_path_ok(hard) < 0)
		return sb_err_set(err, EPERM,
				  "hard link out of the archive: %.200s -> "
				  "%.200s",
				  path, hard);
	if (type == AE_IFCHR || type == AE_IFBLK)
		return sb_err_set(err, EPERM,
				  "device node in archive refused (no "
				  "devices): %.200s",
				  path);
	/* "./" as a directory only sets the root's mode; as anything else,
	 * first in the archive, it replaced the root itself
	 * (ARCHIVE_EXTRACT_UNLINK removes the still empty directory), and
	 * the layer was stored as a file (fuzz/corpus/archive/crash-*). */
	if (type != AE_IFDIR && names_root(path))
		return sb_err_set(err, EPERM,
				  "entry in place of the archive's root "
				  "refused: %.200s",
				  path);
	return check_policy_entry(e, path, hard, type, pol, err);
}

/* An entry whose parent path runs through a symlink already on disk
 * would land wherever that link points: refuse it outright (libarchive's
 * unlink option would otherwise replace the link and carry on). */
static int through_symlink(int root, const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return 0;
	char dir[4096];
	size_t n = (size_t)(slash - path);
	if (n >= sizeof dir)
		return -1;
	memcpy(dir, path, n);
	dir[n] = '\0';
	struct open_how how = {.flags = O_PATH | O_CLOEXEC,
			       .resolve = RESOLVE_BENEATH |
					  RESOLVE_NO_SYMLINKS |
					  RESOLVE_NO_MAGICLINKS};
	int fd = (int)syscall(SYS_openat2, root, dir, &how, sizeof how);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno == ENOENT ? 0 : -1;
}

static bool is_whiteout(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) == 0;
}

/* A write error: the disk's own errno (ENOSPC, EDQUOT) is kept, so the
 * caller can tell "full" from "refused". */
static int write_error(struct archive *out, const char *path,
		       struct sb_err *err)
{
	int e = archive_errno(out);
	if (e != ENOSPC && e != EDQUOT && e != EFBIG)
		e = EIO;
	return sb_err_set(err, e, "%.200s: %s", path,
			  archive_error_string(out));
}

/* A hard link's target must be a file the archive already put in the
 * tree, reached without any symlink. */
static int hardlink_inside(int root, const char *target)
{
	struct open_how how = {.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
			       .resolve = RESOLVE_BENEATH |
					  RESOLVE_NO_SYMLINKS |
					  RESOLVE_NO_MAGICLINKS};
	_cleanup_fd_ int fd =
		(int)syscall(SYS_openat2, root, target, &how, sizeof how);
	struct stat st;
	return fd >= 0 && fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode) ? 0 : -1;
}

static int copy_data(struct archive *in, struct archive *out, uint64_t *total,
		     uint64_t max, struct sb_err *err)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	for (;;) {
		int r = archive_read_data_block(in, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_OK)
			return sb_err_set(err, EIO, "read: %s",
					  archive_error_string(in));
		*total += len;
		if (*total > max)
			return sb_err_set(err, EFBIG,
					  "archive unpacks to more than %llu "
					  "bytes",
					  (unsigned long long)max);
		if (archive_write_data_block(out, buf, len, off) < ARCHIVE_OK)
			return write_error(out, "write", err);
	}
}

/* dir/rel into buf; false if it does not fit. */
static bool join(char *buf, size_t size, const char *dir, const char *rel)
{
	int n = snprintf(buf, size, "%s/%s", dir, rel);
	return n >= 0 && (size_t)n < size;
}

static int extract_entries(struct archive *in, struct archive *out, int root,
			   const char *dest, const struct extract_policy *pol,
			   struct extract_stats *st, struct sb_err *err)
{
	struct archive_entry *e;
	char full[8192];
	bool oci = pol->oci_whiteouts;
	for (;;) {
		int r = archive_read_next_header(in, &e);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_OK)
			return sb_err_set(err, EIO, "read: %s",
					  archive_error_string(in));
		if (pol->max_entries && st->entries >= pol->max_entries)
			return sb_err_set(err, EFBIG,
					  "archive has more than %llu entries",
					  (unsigned long long)pol->max_entries);
		if (check_entry(e, pol, err) < 0)
			return -1;
		const char *path = archive_entry_pathname(e);
		if (through_symlink(root, path) < 0)
			return sb_err_set(err, EPERM,
					  "entry written through a symlink "
					  "refused: %.200s",
					  path);
		if (oci && is_whiteout(path)) {
			if (whiteout(root, path, err) < 0)
				return -1;
			continue;
		}
		/* Paths relative to dest; libarchive's secure flags guard
		 * the rest (symlinks on the way, .., absolute). A cut path
		 * would name another file (even "a/.." of "a/..b"). */
		if (!join(full, sizeof full, dest, path))
			return sb_err_set(err, ENAMETOOLONG,
					  "path too long in archive: %.200s",
					  path);
		archive_entry_copy_pathname(e, full);
		/* that freed what path pointed to: our copy from here on */
		path = full + strlen(dest) + 1;
		const char *hard = archive_entry_hardlink(e);
		if (hard && pol->ordinary_only &&
		    hardlink_inside(root, hard) < 0)
			return sb_err_set(err, EPERM,
					  "%.200s: hard link to something "
					  "that is not a file of the archive",
					  path);
		if (hard) {
			char link[8192];
			if (!join(link, sizeof link, dest, hard))
				return sb_err_set(err, ENAMETOOLONG,
						  "link too long in archive: "
						  "%.200s",
						  path);
			archive_entry_copy_hardlink(e, link);
		}
		if (archive_write_header(out, e) < ARCHIVE_OK) {
			int e2 = archive_errno(out);
			if (e2 == ENOSPC || e2 == EDQUOT)
				return write_error(out, path, err);
			return sb_err_set(err, EPERM, "%.200s: %s", path,
					  archive_error_string(out));
		}
		st->entries++;
		if (archive_entry_size(e) > 0 &&
		    copy_data(in, out, &st->bytes, pol->max_bytes, err) < 0)
			return -1;
		if (archive_write_finish_entry(out) < ARCHIVE_OK)
			return write_error(out, path, err);
	}
}

int extract_archive(int archive_fd, const char *dest_in,
		    const struct extract_policy *pol,
		    struct extract_stats *stats, struct sb_err *err)
{
	struct extract_stats own = {0};
	if (!stats)
		stats = &own;
	*stats = own;
	/* libarchive's symlink check walks the whole path it is given: hand
	 * it one without symlinks in the part we own. */
	_cleanup_free_ char *dest = realpath(dest_in, NULL);
	if (!dest)
		return sb_err_sys(err, "%s", dest_in);
	_cleanup_fd_ int root =
		open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (root < 0)
		return sb_err_sys(err, "open %s", dest);
	struct archive *in = archive_read_new();
	struct archive *out = archive_write_disk_new();
	int rc = -1;
	if (!in || !out) {
		sb_err_set(err, ENOMEM, "out of memory");
		goto done;
	}
	if (pol->zip) {
		archive_read_support_format_zip(in);
	} else {
		archive_read_support_filter_all(in);
		archive_read_support_format_tar(in);
	}
	/* Paths reach libarchive joined to dest (absolute); "..", and
	 * writing through symlinks are refused by libarchive too; modes and
	 * times are kept, owners and xattrs only where the policy says (an
	 * upload's files are its user's). */
	int flags = ARCHIVE_EXTRACT_SECURE_SYMLINKS |
		    ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_PERM |
		    ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_UNLINK;
	if (pol->keep_owners)
		flags |= ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_XATTR;
	archive_write_disk_set_options(out, flags);
#ifndef SB_EXTRACT_NUMERIC_OWNERS
	/* Names first, as tar does; numeric ids where a name is unknown. */
	if (pol->keep_owners)
		archive_write_disk_set_standard_lookup(out);
#endif
	if (archive_read_open_fd(in, archive_fd, 65536) != ARCHIVE_OK) {
		sb_err_set(err, EIO, "not an archive: %s",
			   archive_error_string(in));
		goto done;
	}
	rc = extract_entries(in, out, root, dest, pol, stats, err);
done:
	if (in)
		archive_read_free(in);
	if (out)
		archive_write_free(out);
	return rc;
}

int extract_tar(int archive_fd, const char *dest, bool oci_whiteouts,
		uint64_t max_bytes, struct sb_err *err)
{
	struct extract_policy pol =
		extract_policy_layer(oci_whiteouts, max_bytes);
	return extract_archive(archive_fd, dest, &pol, NULL, err);
}
