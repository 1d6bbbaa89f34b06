/* SPDX-License-Identifier: Apache-2.0 */
#include "init/fileops.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"

#define WALK_MAX_DEPTH 64

static int reply(int out, int err, uint64_t size)
{
	struct sb_file_reply r = {
		.magic = SB_FILE_MAGIC, .err = err, .size = size};
	return sb_write_all(out, &r, sizeof r);
}

int fileops_open(const struct fileops_dirs *dirs, const char *path, int flags,
		 unsigned mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_NO_MAGICLINKS,
	};
	const char *base_path = dirs->workspace;
	const char *rel = path;

	if (path[0] == '/') {
		base_path = dirs->root;
		how.resolve |= RESOLVE_IN_ROOT;
		while (*rel == '/')
			rel++;
	} else {
		how.resolve |= RESOLVE_BENEATH;
	}
	if (!*rel)
		rel = ".";
	_cleanup_fd_ int base =
		open(base_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (base < 0)
		return -1;
	return (int)syscall(SYS_openat2, base, rel, &how, sizeof how);
}

static int op_read(const struct sb_file_req *req,
		   const struct fileops_dirs *dirs, int out)
{
	struct stat st;
	_cleanup_fd_ int fd = fileops_open(dirs, req->path,
					   O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
	if (fd < 0)
		return reply(out, errno, 0);
	if (fstat(fd, &st) < 0)
		return reply(out, errno, 0);
	if (S_ISDIR(st.st_mode))
		return reply(out, EISDIR, 0);
	if (!S_ISREG(st.st_mode))
		return reply(out, EINVAL, 0); /* FIFOs and devices never */
	if (reply(out, 0, (uint64_t)st.st_size) < 0)
		return -1;
	/* Only what the caller keeps is read: max_bytes of a huge (or
	 * sparse) file costs max_bytes, not the file's size. */
	uint64_t left = req->read_limited ? req->read_limit : UINT64_MAX;
	while (left > 0) {
		size_t chunk = left < (1u << 20) ? (size_t)left : 1u << 20;
		ssize_t n = sendfile(out, fd, NULL, chunk);
		if (n == 0)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		left -= (uint64_t)n;
	}
	/* sendfile refused (old kernel, odd fs): copy by hand */
	char buf[65536];
	while (left > 0) {
		size_t chunk = left < sizeof buf ? (size_t)left : sizeof buf;
		ssize_t n = read(fd, buf, chunk);
		if (n == 0)
			return 0;
		if (n < 0 || sb_write_all(out, buf, (size_t)n) < 0)
			return -1;
		left -= (uint64_t)n;
	}
	return 0;
}

/* Split "a/b/c" into dir "a/b" and name "c"; refuse names that cannot be
 * a file ("", ".", ".."). */
static int split_path(const char *path, char *dir, size_t dirlen,
		      const char **name)
{
	size_t len = strlen(path);
	if (len > 1 && path[len - 1] == '/')
		return -1; /* a trailing slash names a directory */
	const char *slash = strrchr(path, '/');
	*name = slash ? slash + 1 : path;
	if (!**name || strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0)
		return -1;
	if (!slash)
		snprintf(dir, dirlen, ".");
	else if (slash == path)
		snprintf(dir, dirlen, "/");
	else
		snprintf(dir, dirlen, "%.*s", (int)(slash - path), path);
	return 0;
}

/* Open dir, creating missing components one at a time; each step is
 * resolved by openat2 from the root, so a symlink planted on the way is
 * judged like any other path. */
static int open_parent(const struct fileops_dirs *dirs, const char *dir)
{
	int fd = fileops_open(dirs, dir, O_PATH | O_DIRECTORY, 0);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	char prefix[SB_FILE_PATH_MAX];
	size_t len = strlen(dir);
	for (size_t i = 1; i <= len; i++) {
		if (i < len && dir[i] != '/')
			continue;
		snprintf(prefix, sizeof prefix, "%.*s", (int)i, dir);
		const char *slash = strrchr(prefix, '/');
		const char *comp = slash ? slash + 1 : prefix;
		if (!*comp)
			continue;
		char parent[SB_FILE_PATH_MAX];
		if (!slash)
			snprintf(parent, sizeof parent, ".");
		else if (slash == prefix)
			snprintf(parent, sizeof parent, "/");
		else
			snprintf(parent, sizeof parent, "%.*s",
				 (int)(slash - prefix), prefix);
		_cleanup_fd_ int pfd =
			fileops_open(dirs, parent, O_PATH | O_DIRECTORY, 0);
		if (pfd < 0)
			return -1;
		if (strcmp(comp, "..") != 0 && strcmp(comp, ".") != 0 &&
		    mkdirat(pfd, comp, 0755) < 0 && errno != EEXIST)
			return -1;
	}
	return fileops_open(dirs, dir, O_PATH | O_DIRECTORY, 0);
}

static int op_write(const struct sb_file_req *req,
		    const struct fileops_dirs *dirs, int in, int out)
{
	char dir[SB_FILE_PATH_MAX], tmp[64];
	const char *name;
	struct stat st;

	if (split_path(req->path, dir, sizeof dir, &name) < 0)
		return reply(out, EINVAL, 0);
	_cleanup_fd_ int dfd = open_parent(dirs, dir);
	if (dfd < 0)
		return reply(out, errno, 0);
	if (fstat(in, &st) < 0)
		return reply(out, errno, 0);
	/* Write aside, then rename: a reader never sees half a file, and a
	 * symlink at the target is replaced, never followed. */
	snprintf(tmp, sizeof tmp, ".slotbox-write-%d", (int)getpid());
	_cleanup_fd_ int fd = openat(
		dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		0644);
	if (fd < 0)
		return reply(out, errno, 0);
	off_t off = 0;
	while (off < st.st_size) {
		ssize_t n = sendfile(fd, in, &off, (size_t)(st.st_size - off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			unlinkat(dfd, tmp, 0);
			return reply(out, e, 0);
		}
	}
	if (renameat(dfd, tmp, dfd, name) < 0) {
		int e = errno;
		unlinkat(dfd, tmp, 0);
		return reply(out, e, 0);
	}
	return reply(out, 0, (uint64_t)st.st_size);
}

/* ---- directory walks (list, archive) ---- */

struct walk {
	int out;
	uint64_t max_entries;
	uint64_t emitted;
	int recursive;
	int long_fmt;	    /* list: "D SIZE SEC NSEC NAME" records */
	struct archive *ar; /* archive mode when set */
};

/* One listing record: the name, or with long_fmt its type, size and
 * mtime first (the name last: it may hold spaces, never a NUL). */
static int emit_entry(const struct walk *w, const char *rel,
		      const struct stat *st)
{
	if (!w->long_fmt)
		return sb_write_all(w->out, rel, strlen(rel) + 1);
	char head[96];
	int n = snprintf(head, sizeof head, "%c %llu %lld %ld ",
			 S_ISDIR(st->st_mode) ? 'd' : 'f',
			 (unsigned long long)st->st_size,
			 (long long)st->st_mtim.tv_sec,
			 (long)st->st_mtim.tv_nsec);
	if (n < 0 || (size_t)n >= sizeof head)
		return -1;
	if (sb_write_all(w->out, head, (size_t)n) < 0)
		return -1;
	return sb_write_all(w->out, rel, strlen(rel) + 1);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of dir's entries, sorted so listings are stable. */
static char **read_names(int dfd, size_t *n)
{
	_cleanup_fd_ int fd =
		openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char **names = NULL;
	size_t cap = 0;
	*n = 0;
	if (fd < 0)
		return NULL;
	DIR *d = fdopendir(fd);
	if (!d)
		return NULL;
	steal_fd(&fd);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(names, cap * sizeof *nn);
			if (!nn)
				break;
			names = nn;
		}
		names[(*n)++] = strdup(e->d_name);
		if (!names[*n - 1])
			(*n)--;
	}
	closedir(d);
	if (names)
		qsort(names, *n, sizeof *names, cmp_names);
	return names;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int archive_add(struct walk *w, int dfd, const char *name,
		       const char *rel, const struct stat *st)
{
	struct archive_entry *e = archive_entry_new();
	int rc = 0;
	if (!e)
		return -1;
	archive_entry_set_pathname(e, rel);
	archive_entry_copy_stat(e, st);
	if (S_ISLNK(st->st_mode)) {
		char target[4096];
		ssize_t n = readlinkat(dfd, name, target, sizeof target - 1);
		if (n < 0) {
			archive_entry_free(e);
			return 0;
		}
		target[n] = '\0';
		archive_entry_set_symlink(e, target);
	}
	if (archive_write_header(w->ar, e) != ARCHIVE_OK)
		rc = -1;
	if (rc == 0 && S_ISREG(st->st_mode)) {
		_cleanup_fd_ int fd =
			openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		char buf[65536];
		ssize_t n;
		while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0)
			if (archive_write_data(w->ar, buf, (size_t)n) < 0) {
				rc = -1;
				break;
			}
	}
	archive_entry_free(e);
	return rc;
}

static int walk_dir(struct walk *w, int dfd, const char *prefix, int depth)
{
	size_t n;
	char **names = read_names(dfd, &n);
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		char rel[SB_FILE_PATH_MAX];
		struct stat st;
		snprintf(rel, sizeof rel, "%s%s%s", prefix, *prefix ? "/" : "",
			 names[i]);
		if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		bool is_dir = S_ISDIR(st.st_mode);
		if (w->ar) {
			if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode) ||
			    S_ISLNK(st.st_mode))
				rc = archive_add(w, dfd, names[i], rel, &st);
		} else if (!w->recursive || !is_dir) {
			/* Emit one entry past the limit so the daemon can
			 * tell "exactly max" from "truncated", then stop. */
			if (emit_entry(w, rel, &st) < 0) {
				rc = -1;
				break;
			}
			if (++w->emitted > w->max_entries) {
				rc = 1;
				break;
			}
		}
		if (rc == 0 && is_dir && (w->recursive || w->ar) &&
		    depth < WALK_MAX_DEPTH) {
			_cleanup_fd_ int sub =
				openat(dfd, names[i],
				       O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					       O_CLOEXEC);
			if (sub >= 0)
				rc = walk_dir(w, sub, rel, depth + 1);
		}
	}
	free_names(names, n);
	return rc;
}

static int open_dir(const struct fileops_dirs *dirs, const char *path, int out)
{
	int fd = fileops_open(dirs, path, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		reply(out, errno, 0);
	return fd;
}

static int op_list(const struct sb_file_req *req,
		   const struct fileops_dirs *dirs, int out)
{
	_cleanup_fd_ int fd = open_dir(dirs, req->path, out);
	if (fd < 0)
		return 0;
	if (reply(out, 0, 0) < 0)
		return -1;
	struct walk w = {.out = out,
			 .max_entries = req->max_entries,
			 .recursive = (int)req->recursive,
			 .long_fmt = (int)req->list_long};
	return walk_dir(&w, fd, "", 0) < 0 ? -1 : 0;
}

static int op_archive(const struct sb_file_req *req,
		      const struct fileops_dirs *dirs, int out)
{
	_cleanup_fd_ int fd = open_dir(dirs, req->path, out);
	if (fd < 0)
		return 0;
	struct archive *ar = archive_write_new();
	if (!ar)
		return reply(out, ENOMEM, 0);
	int r = ARCHIVE_OK;
	if (req->format == SB_ARCHIVE_ZIP) {
		r = archive_write_set_format_zip(ar);
	} else {
		r = archive_write_set_format_pax_restricted(ar);
		if (r == ARCHIVE_OK && req->format == SB_ARCHIVE_TAR_GZ)
			r = archive_write_add_filter_gzip(ar);
	}
	/* No padding to 10 KiB blocks: stream exactly what is produced. */
	archive_write_set_bytes_in_last_block(ar, 1);
	if (r != ARCHIVE_OK || reply(out, 0, 0) < 0 ||
	    archive_write_open_fd(ar, out) != ARCHIVE_OK) {
		archive_write_free(ar);
		return -1;
	}
	struct walk w = {.out = out, .ar = ar, .recursive = 1};
	int rc = walk_dir(&w, fd, "", 0);
	if (archive_write_close(ar) != ARCHIVE_OK)
		rc = -1;
	archive_write_free(ar);
	return rc < 0 ? -1 : 0;
}

int fileops_run(const struct sb_file_req *req, const struct fileops_dirs *dirs,
		int in_fd, int out_fd)
{
	int r;
	switch (req->op) {
	case SB_FILE_READ:
		r = op_read(req, dirs, out_fd);
		break;
	case SB_FILE_WRITE:
		r = op_write(req, dirs, in_fd, out_fd);
		break;
	case SB_FILE_LIST:
		r = op_list(req, dirs, out_fd);
		break;
	case SB_FILE_ARCHIVE:
		r = op_archive(req, dirs, out_fd);
		break;
	case SB_FILE_UNPACK:
		r = fileops_unpack(req, dirs, in_fd, out_fd);
		break;
	default:
		r = reply(out_fd, EINVAL, 0);
		break;
	}
	return r < 0 ? 1 : 0;
}
