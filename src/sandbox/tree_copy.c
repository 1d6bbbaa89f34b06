/* SPDX-License-Identifier: Apache-2.0 */
/* tree_copy.c - see tree_copy.h. */
#include "sandbox/tree_copy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"

#define COPY_BUF (256u << 10)
#define XATTR_LIST_MAX_BYTES 65536
#define XATTR_VALUE_MAX_BYTES 65536

/* A file seen with more than one link: where its first copy went. */
struct link_ent {
	dev_t dev;
	ino_t ino;
	char *path; /* relative to the destination root */
};

struct walk {
	const struct tree_copy_opts *o;
	struct tree_copy_stats *st;
	struct sb_err *err;
	int dst_root;
	char path[PATH_MAX]; /* of the entry being copied, for messages */
	size_t plen;
	struct link_ent *links; /* open addressing on (dev, ino) */
	size_t links_cap, links_n;
	char *buf;
};

static int fail_sys(struct walk *w, const char *what)
{
	return sb_err_sys(w->err, "%s %s", what, w->plen ? w->path : ".");
}

static int fail(struct walk *w, int e, const char *why)
{
	return sb_err_set(w->err, e, "%s: %s", w->plen ? w->path : ".", why);
}

static int path_push(struct walk *w, const char *name, size_t *saved)
{
	size_t n = strlen(name);
	*saved = w->plen;
	if (w->plen + n + 2 > sizeof w->path)
		return fail(w, ENAMETOOLONG, "path too long");
	if (w->plen)
		w->path[w->plen++] = '/';
	memcpy(w->path + w->plen, name, n + 1);
	w->plen += n;
	return 0;
}

static bool xattr_allowed(const struct walk *w, const char *name)
{
	static const char *const overlay[] = {"opaque", "redirect", "whiteout",
					      "whiteouts"};
	/* An overlay mounted in a user namespace (userns: true) keeps its
	 * own in user.overlay.* (userxattr), as trusted.overlay.* else. */
	const char *own = NULL;
	if (strncmp(name, "trusted.overlay.", 16) == 0)
		own = name + 16;
	else if (strncmp(name, "user.overlay.", 13) == 0)
		own = name + 13;
	else if (strncmp(name, "user.", 5) == 0)
		return true;
	for (size_t i = 0; own && w->o->overlay && i < 4; i++)
		if (strcmp(own, overlay[i]) == 0)
			return true;
	/* trusted.overlay.origin names an inode of the source's layers and
	 * is only a hint; security.* and ACLs are not the slot's to set. */
	return false;
}

static int copy_xattrs(struct walk *w, int sfd, int dfd)
{
	char list[XATTR_LIST_MAX_BYTES];
	ssize_t n = flistxattr(sfd, list, sizeof list);
	if (n < 0)
		return errno == ENOTSUP ? 0 : fail_sys(w, "list xattrs of");
	for (char *name = list; name < list + n; name += strlen(name) + 1) {
		if (!xattr_allowed(w, name))
			continue;
		ssize_t len =
			fgetxattr(sfd, name, w->buf, XATTR_VALUE_MAX_BYTES);
		if (len < 0) {
			if (errno == ENODATA)
				continue; /* removed meanwhile */
			return fail_sys(w, "read xattr of");
		}
		if (fsetxattr(dfd, name, w->buf, (size_t)len, 0) < 0)
			return fail_sys(w, "set xattr on");
	}
	return 0;
}

/* Owner, then mode (a chown clears set-id bits), xattrs, times. */
static int finish(struct walk *w, int sfd, int dfd, const struct stat *sb)
{
	struct timespec ts[2] = {sb->st_atim, sb->st_mtim};
	if (fchown(dfd, w->o->uid, w->o->gid) < 0 ||
	    fchmod(dfd, sb->st_mode & 07777) < 0)
		return fail_sys(w, "set owner and mode of");
	if (copy_xattrs(w, sfd, dfd) < 0)
		return -1;
	if (futimens(dfd, ts) < 0)
		return fail_sys(w, "set times of");
	return 0;
}

static int count_entry(struct walk *w)
{
	if (w->o->max_entries && w->st->entries >= w->o->max_entries)
		return fail(w, EFBIG, "more entries than allowed");
	w->st->entries++;
	return 0;
}

static int add_bytes(struct walk *w, uint64_t n)
{
	if (w->o->max_bytes && w->st->bytes + n > w->o->max_bytes)
		return fail(w, EFBIG, "more data than allowed");
	w->st->bytes += n;
	return 0;
}

/* Copy [off, end) of sfd to dfd; copy_file_range where the kernel can,
 * plain reads and writes where it cannot (another filesystem). */
static int copy_range(struct walk *w, int sfd, int dfd, off_t off, off_t end)
{
	bool plain = false;
	while (off < end) {
		size_t want = (size_t)(end - off) < COPY_BUF
				      ? (size_t)(end - off)
				      : COPY_BUF;
		ssize_t n;
		if (!plain) {
			off_t in = off, out = off;
			n = copy_file_range(sfd, &in, dfd, &out, want, 0);
			if (n < 0 && (errno == EXDEV || errno == EINVAL ||
				      errno == EOPNOTSUPP || errno == ENOSYS)) {
				plain = true;
				continue;
			}
		} else {
			n = pread(sfd, w->buf, want, off);
			if (n > 0 && pwrite(dfd, w->buf, (size_t)n, off) != n)
				return fail_sys(w, "write");
		}
		if (n < 0)
			return fail_sys(w, "copy");
		if (n == 0)
			break; /* shrank meanwhile */
		if (add_bytes(w, (uint64_t)n) < 0)
			return -1;
		off += n;
	}
	return 0;
}

/* File data, holes kept: a sparse file costs what it holds. The size is
 * set only when the file ends in a hole: a truncate to the size a file
 * already has is not free on every filesystem (ext4 journals it). */
static int copy_data(struct walk *w, int sfd, int dfd, off_t size)
{
	off_t off = 0, end = 0;
	while (off < size) {
		off_t data = lseek(sfd, off, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break;	/* only a hole is left */
		if (data < 0) { /* no SEEK_DATA here: copy it all */
			data = 0;
			off = size;
		} else {
			off = lseek(sfd, data, SEEK_HOLE);
			if (off < 0 || off > size)
				off = size;
		}
		if (copy_range(w, sfd, dfd, data, off) < 0)
			return -1;
		end = off;
	}
	if (end < size && ftruncate(dfd, size) < 0)
		return fail_sys(w, "size");
	return 0;
}

static size_t link_slot(const struct walk *w, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)ino * 0x9E3779B97F4A7C15ull) ^ (uint64_t)dev;
	size_t i = (size_t)(h % w->links_cap);
	while (w->links[i].path &&
	       !(w->links[i].dev == dev && w->links[i].ino == ino))
		i = (i + 1) % w->links_cap;
	return i;
}

static int links_grow(struct walk *w)
{
	struct walk old = *w;
	w->links_cap = old.links_cap ? old.links_cap * 2 : 64;
	w->links = calloc(w->links_cap, sizeof *w->links);
	if (!w->links) {
		w->links = old.links;
		w->links_cap = old.links_cap;
		return fail(w, ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < old.links_cap; i++)
		if (old.links[i].path)
			w->links[link_slot(w, old.links[i].dev,
					   old.links[i].ino)] = old.links[i];
	free(old.links);
	return 0;
}

/* 1 when name was made as a hard link to an earlier copy, 0 when the
 * file is to be copied (and is now remembered), -1 on error. */
static int link_or_remember(struct walk *w, const struct stat *sb, int dst,
			    const char *name)
{
	if (sb->st_nlink < 2)
		return 0;
	if (w->links_cap) {
		struct link_ent *e =
			&w->links[link_slot(w, sb->st_dev, sb->st_ino)];
		if (e->path) {
			if (linkat(w->dst_root, e->path, dst, name, 0) < 0)
				return fail_sys(w, "link");
			return 1;
		}
	}
	if ((w->links_n + 1) * 2 > w->links_cap && links_grow(w) < 0)
		return -1;
	struct link_ent *e = &w->links[link_slot(w, sb->st_dev, sb->st_ino)];
	if (!(e->path = strdup(w->path)))
		return fail(w, ENOMEM, "out of memory");
	e->dev = sb->st_dev;
	e->ino = sb->st_ino;
	w->links_n++;
	return 0;
}

static int copy_file(struct walk *w, int src, int dst, const char *name)
{
	_cleanup_fd_ int sfd = openat(src, name,
				      O_RDONLY | O_NOFOLLOW | O_NOCTTY |
					      O_NONBLOCK | O_CLOEXEC);
	struct stat sb;
	if (sfd < 0 || fstat(sfd, &sb) < 0)
		return fail_sys(w, "open");
	if (!S_ISREG(sb.st_mode))
		return fail(w, EAGAIN, "changed while being copied");
	int r = link_or_remember(w, &sb, dst, name);
	if (r != 0)
		return r < 0 ? -1 : 0;
	_cleanup_fd_ int dfd = openat(
		dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		0600);
	if (dfd < 0)
		return fail_sys(w, "create");
	if (copy_data(w, sfd, dfd, sb.st_size) < 0)
		return -1;
	return finish(w, sfd, dfd, &sb);
}

static int copy_symlink(struct walk *w, int src, int dst, const char *name,
			const struct stat *sb)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(src, name, target, sizeof target - 1);
	if (n < 0)
		return fail_sys(w, "read link");
	target[n] = '\0';
	struct timespec ts[2] = {sb->st_atim, sb->st_mtim};
	if (symlinkat(target, dst, name) < 0 ||
	    fchownat(dst, name, w->o->uid, w->o->gid, AT_SYMLINK_NOFOLLOW) <
		    0 ||
	    utimensat(dst, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return fail_sys(w, "make link");
	return 0;
}

/* FIFOs anywhere; whiteouts (char 0:0) in an overlay layer only. */
static int copy_node(struct walk *w, int dst, const char *name,
		     const struct stat *sb)
{
	bool whiteout = S_ISCHR(sb->st_mode) && sb->st_rdev == makedev(0, 0);
	if (!S_ISFIFO(sb->st_mode) && !(whiteout && w->o->overlay)) {
		w->st->skipped++;
		return 0;
	}
	struct timespec ts[2] = {sb->st_atim, sb->st_mtim};
	if (mknodat(dst, name, sb->st_mode & (S_IFMT | 0777), sb->st_rdev) <
		    0 ||
	    fchownat(dst, name, w->o->uid, w->o->gid, AT_SYMLINK_NOFOLLOW) <
		    0 ||
	    fchmodat(dst, name, sb->st_mode & 07777, 0) < 0 ||
	    utimensat(dst, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return fail_sys(w, "make node");
	return 0;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The names in a directory, read before any is copied so that only two
 * descriptors per level stay open however wide the tree is. */
static int list_dir(struct walk *w, int dir, char ***out, size_t *count)
{
	DIR *d = sb_opendir_at(dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	if (!d)
		return fail_sys(w, "read dir");
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (w->o->max_entries &&
		    w->st->entries + n >= w->o->max_entries) {
			closedir(d);
			free_names(names, n);
			return fail(w, EFBIG, "more entries than allowed");
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nn = realloc(names, cap * sizeof *nn);
			if (!nn)
				goto oom;
			names = nn;
		}
		if (!(names[n] = strdup(e->d_name)))
			goto oom;
		n++;
	}
	closedir(d);
	*out = names;
	*count = n;
	return 0;
oom:
	closedir(d);
	free_names(names, n);
	return fail(w, ENOMEM, "out of memory");
}

static int copy_dir(struct walk *w, int src, int dst, int depth);

static int copy_subdir(struct walk *w, int src, int dst, const char *name,
		       int depth)
{
	if (depth >= TREE_COPY_MAX_DEPTH)
		return fail(w, ELOOP, "directories nested too deep");
	if (mkdirat(dst, name, 0700) < 0)
		return fail_sys(w, "create dir");
	_cleanup_fd_ int s = openat(
		src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_fd_ int d = openat(
		dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;
	if (s < 0 || d < 0 || fstat(s, &sb) < 0)
		return fail_sys(w, "open dir");
	if (copy_dir(w, s, d, depth + 1) < 0)
		return -1;
	return finish(w, s, d, &sb);
}

static int copy_entry(struct walk *w, int src, int dst, const char *name,
		      int depth)
{
	struct stat sb;
	if (fstatat(src, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : fail_sys(w, "stat");
	if (count_entry(w) < 0)
		return -1;
	switch (sb.st_mode & S_IFMT) {
	case S_IFDIR:
		return copy_subdir(w, src, dst, name, depth);
	case S_IFREG:
		return copy_file(w, src, dst, name);
	case S_IFLNK:
		return copy_symlink(w, src, dst, name, &sb);
	default:
		return copy_node(w, dst, name, &sb);
	}
}

static int copy_dir(struct walk *w, int src, int dst, int depth)
{
	char **names = NULL;
	size_t n = 0;
	if (list_dir(w, src, &names, &n) < 0)
		return -1;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		size_t saved;
		r = path_push(w, names[i], &saved);
		if (r == 0)
			r = copy_entry(w, src, dst, names[i], depth);
		w->plen = saved;
		w->path[saved] = '\0';
	}
	free_names(names, n);
	return r;
}

static int tree_copy_as(int src_dir, int dst_dir,
			const struct tree_copy_opts *o,
			struct tree_copy_stats *st, struct sb_err *err);

/* A tmpfs of a sandbox in its own user namespace (userns: true) takes
 * new files only from a creator whose fsuid and fsgid that namespace maps
 * (EOVERFLOW otherwise), which root's are not: the copy creates as the
 * new owner, keeping root's capabilities (SECBIT_NO_SETUID_FIXUP). Both
 * are per thread, and put back after. -1 when the bits are locked. */
static int creator_enter(const struct tree_copy_opts *o, int *bits)
{
	*bits = -1;
	if (o->uid == 0 && o->gid == 0)
		return 0;
	int b = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	if (b < 0 ||
	    prctl(PR_SET_SECUREBITS, (unsigned long)b | SECBIT_NO_SETUID_FIXUP,
		  0, 0, 0) < 0)
		return -1;
	*bits = b;
	setfsgid(o->gid);
	setfsuid(o->uid);
	return 0;
}

static void creator_leave(int bits)
{
	if (bits < 0)
		return;
	setfsuid(0);
	setfsgid(0);
	prctl(PR_SET_SECUREBITS, (unsigned long)bits, 0, 0, 0);
}

int tree_copy(int src_dir, int dst_dir, const struct tree_copy_opts *o,
	      struct tree_copy_stats *st, struct sb_err *err)
{
	int bits;
	if (creator_enter(o, &bits) < 0)
		return sb_err_sys(err, "take the new owner's fsuid");
	int r = tree_copy_as(src_dir, dst_dir, o, st, err);
	creator_leave(bits);
	return r;
}

static int tree_copy_as(int src_dir, int dst_dir,
			const struct tree_copy_opts *o,
			struct tree_copy_stats *st, struct sb_err *err)
{
	struct tree_copy_stats local = {0};
	struct walk w = {.o = o,
			 .st = st ? st : &local,
			 .err = err,
			 .dst_root = dst_dir};
	memset(w.st, 0, sizeof *w.st);
	if (!(w.buf = malloc(COPY_BUF)))
		return sb_err_set(err, ENOMEM, "out of memory");
	struct stat sb;
	int r = fstat(src_dir, &sb) < 0 ? fail_sys(&w, "stat")
					: copy_dir(&w, src_dir, dst_dir, 0);
	if (r == 0)
		r = finish(&w, src_dir, dst_dir, &sb);
	for (size_t i = 0; i < w.links_cap; i++)
		free(w.links[i].path);
	free(w.links);
	free(w.buf);
	return r;
}
