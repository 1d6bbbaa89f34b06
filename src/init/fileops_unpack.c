/* SPDX-License-Identifier: Apache-2.0 */
/* fileops_unpack.c - an uploaded archive extracted into a slot.
 *
 * Runs like every file tool: in a child of the slot's leader, as the
 * slot's uid, in the slot's own mount view. The target directory is
 * resolved (and created) with fileops_open's confinement; the archive is
 * unpacked by the image extractor (src/archive/extract.c) under its
 * workspace policy into a hidden directory inside the target - the same
 * filesystem - and only once every entry passed is it moved into place.
 * A refused or failed upload removes that directory and any directory
 * it created for the target: nothing of it is left. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/extract.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "init/fileops.h"

#define MERGE_MAX_DEPTH 256
#define UNPACK_MAX_ENTRIES_DEFAULT 100000

/* Header, then the message (error) or the entry count (success). */
static int answer(int out, int err, uint64_t bytes, const char *text)
{
	struct sb_file_reply r = {
		.magic = SB_FILE_MAGIC, .err = err, .size = bytes};
	if (sb_write_all(out, &r, sizeof r) < 0)
		return -1;
	return text ? sb_write_all(out, text, strlen(text)) : 0;
}

/* Remove name in dfd and everything below it; directories are made
 * writable first (an archive may have made them read-only, and they are
 * ours). Best effort: what cannot go stays. */
static void remove_tree(int dfd, const char *name, int depth)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlinkat(dfd, name, 0);
		return;
	}
	if (depth < MERGE_MAX_DEPTH * 4) {
		/* a failure shows as a directory left behind below */
		if (fchmodat(dfd, name, 0700, 0) < 0 && errno == ENOENT)
			return;
		int fd =
			openat(dfd, name,
			       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		if (!d && fd >= 0)
			close(fd);
		struct dirent *e;
		while (d && (e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				remove_tree(dirfd(d), e->d_name, depth + 1);
		if (d)
			closedir(d);
	}
	unlinkat(dfd, name, AT_REMOVEDIR);
}

/* ---- the target directory, created as needed ---- */

/* The parent of prefix whose last '/' is slash (cut there). */
static const char *parent_of(char *prefix, char *slash)
{
	if (!slash)
		return ".";
	if (slash == prefix)
		return "/";
	*slash = '\0';
	return prefix;
}

struct target {
	char path[SB_FILE_PATH_MAX];
	size_t first_created; /* length of the first prefix we made, or 0 */
};

/* Open t->path as a directory, creating missing components one at a time
 * (each resolved from the root by openat2, like every file path). */
static int open_target(const struct fileops_dirs *dirs, struct target *t)
{
	int fd = fileops_open(dirs, t->path, O_RDONLY | O_DIRECTORY, 0);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	size_t len = strlen(t->path);
	char prefix[SB_FILE_PATH_MAX];
	for (size_t i = 1; i <= len; i++) {
		if (i < len && t->path[i] != '/')
			continue;
		memcpy(prefix, t->path, i);
		prefix[i] = '\0';
		char *slash = strrchr(prefix, '/');
		const char *comp = slash ? slash + 1 : prefix;
		if (!*comp || !strcmp(comp, ".") || !strcmp(comp, ".."))
			continue;
		_cleanup_fd_ int have =
			fileops_open(dirs, prefix, O_PATH | O_DIRECTORY, 0);
		if (have >= 0)
			continue;
		if (errno != ENOENT)
			return -1;
		const char *parent = parent_of(prefix, slash);
		_cleanup_fd_ int pfd =
			fileops_open(dirs, parent, O_PATH | O_DIRECTORY, 0);
		if (pfd < 0 || mkdirat(pfd, comp, 0755) < 0)
			return -1;
		if (!t->first_created)
			t->first_created = i;
	}
	return fileops_open(dirs, t->path, O_RDONLY | O_DIRECTORY, 0);
}

/* Take back the directories open_target made, deepest first (only while
 * empty: whatever else appeared there stays). */
static void remove_created(const struct fileops_dirs *dirs,
			   const struct target *t)
{
	if (!t->first_created)
		return;
	char prefix[SB_FILE_PATH_MAX];
	snprintf(prefix, sizeof prefix, "%s", t->path);
	for (;;) {
		size_t n = strlen(prefix);
		while (n > 1 && prefix[n - 1] == '/')
			prefix[--n] = '\0';
		if (n < t->first_created)
			return;
		char *slash = strrchr(prefix, '/');
		const char *comp = slash ? slash + 1 : prefix;
		const char *parent = parent_of(prefix, slash);
		_cleanup_fd_ int pfd =
			fileops_open(dirs, parent, O_PATH | O_DIRECTORY, 0);
		if (pfd < 0 || unlinkat(pfd, comp, AT_REMOVEDIR) < 0 ||
		    !slash || slash == prefix)
			return;
	}
}

/* ---- moving the unpacked tree into place ---- */

static DIR *open_dir_at(int dfd, const char *name)
{
	int fd = openat(dfd, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d && fd >= 0)
		close(fd);
	return d;
}

static void close_dir(DIR **d)
{
	if (*d)
		closedir(*d);
}

/* Can every entry of src go into dst? A new name, a file over a file
 * (replaced, as tar does), or a directory into a directory (merged, which
 * must be writable); a file over a directory or the reverse is refused.
 * Checked for the whole tree before anything moves. */
static int merge_check(int src, int dst, int depth, char *why, size_t size)
{
	__attribute__((cleanup(close_dir))) DIR *d = open_dir_at(src, ".");
	struct dirent *e;
	if (depth > MERGE_MAX_DEPTH) {
		snprintf(why, size, "directories nested deeper than %d",
			 MERGE_MAX_DEPTH);
		errno = EEXIST;
		return -1;
	}
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		struct stat s, t;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &s, AT_SYMLINK_NOFOLLOW) < 0)
			return -1;
		if (fstatat(dst, e->d_name, &t, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			return -1;
		}
		if (S_ISDIR(s.st_mode) != S_ISDIR(t.st_mode)) {
			snprintf(why, size,
				 "%.200s: would replace a %s with a %s",
				 e->d_name,
				 S_ISDIR(t.st_mode) ? "directory" : "file",
				 S_ISDIR(s.st_mode) ? "directory" : "file");
			errno = EEXIST;
			return -1;
		}
		if (!S_ISDIR(s.st_mode))
			continue;
		_cleanup_fd_ int sub =
			openat(dst, e->d_name,
			       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		_cleanup_fd_ int ssub =
			openat(dirfd(d), e->d_name,
			       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0 || ssub < 0)
			return -1;
		if (faccessat(sub, ".", W_OK | X_OK, AT_EACCESS) < 0 ||
		    merge_check(ssub, sub, depth + 1, why, size) < 0)
			return -1;
	}
	return 0;
}

/* Move name from src to dst (replacing a file there when exists). A
 * directory moves to another parent only when writable (its ".." entry
 * changes): an archive's read-only one is opened up for the move and
 * given its mode back. */
static int move_entry(int src, int dst, const char *name, bool exists)
{
	struct stat s;
	if (fstatat(src, name, &s, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	bool ro_dir = S_ISDIR(s.st_mode) && !(s.st_mode & S_IWUSR);
	if (ro_dir && fchmodat(src, name, (s.st_mode & 07777) | S_IWUSR, 0) < 0)
		return -1;
	if (renameat2(src, name, dst, name, exists ? 0 : RENAME_NOREPLACE) < 0)
		return -1;
	return ro_dir ? fchmodat(dst, name, s.st_mode & 07777, 0) : 0;
}

static int merge_move(int src, int dst, int depth)
{
	__attribute__((cleanup(close_dir))) DIR *d = open_dir_at(src, ".");
	struct dirent *e;
	if (!d || depth > MERGE_MAX_DEPTH)
		return -1;
	while ((e = readdir(d))) {
		struct stat t;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		bool exists =
			fstatat(dst, e->d_name, &t, AT_SYMLINK_NOFOLLOW) == 0;
		if (!exists || !S_ISDIR(t.st_mode)) {
			if (move_entry(dirfd(d), dst, e->d_name, exists) < 0)
				return -1;
			continue;
		}
		_cleanup_fd_ int sub =
			openat(dst, e->d_name,
			       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		/* an archive's read-only directory is ours: empty it */
		if (fchmodat(dirfd(d), e->d_name, 0700, 0) < 0)
			return -1;
		_cleanup_fd_ int ssub =
			openat(dirfd(d), e->d_name,
			       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0 || ssub < 0 || merge_move(ssub, sub, depth + 1) < 0)
			return -1;
	}
	return 0;
}

/* The extractor's verdict as the reply's errno: the disk and the bounds
 * keep theirs, anything else is the archive's fault. */
static int archive_errno_of(const struct sb_err *err)
{
	int e = err->sys_errno;
	return e == ENOSPC || e == EDQUOT || e == EFBIG ? e : EBADMSG;
}

/* errno (EIO if none) as the reply's, and its text after prefix in why. */
static int say_errno(char *why, size_t size, const char *prefix)
{
	int e = errno ? errno : EIO;
	snprintf(why, size, "%s%s", prefix, strerror(e));
	return e;
}

static int unpack_into(const struct sb_file_req *req, int dfd, const char *tmp,
		       int in, struct extract_stats *st, char *why, size_t size)
{
	_cleanup_fd_ int tfd = openat(
		dfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tfd < 0 || fchdir(tfd) < 0)
		return say_errno(why, size, "");
	struct extract_policy pol = extract_policy_upload(
		req->format == SB_ARCHIVE_ZIP, req->max_bytes,
		req->max_entries ? req->max_entries
				 : UNPACK_MAX_ENTRIES_DEFAULT);
	struct sb_err err = {0};
	int rc = extract_archive(in, ".", &pol, st, &err);
	if (rc < 0) {
		snprintf(why, size, "%s", err.msg);
		return archive_errno_of(&err);
	}
	if (chdir("/") < 0)
		return say_errno(why, size, "");
	/* an entry "./" gave the work directory the archive root's mode:
	 * it is ours, and entries leave it */
	if (fchmod(tfd, 0700) < 0)
		return say_errno(why, size, "");
	errno = 0;
	if (merge_check(tfd, dfd, 0, why, size) < 0)
		return errno == EEXIST ? EEXIST : say_errno(why, size, "");
	if (merge_move(tfd, dfd, 0) < 0)
		return say_errno(why, size, "moving into place: ");
	return 0;
}

int fileops_unpack(const struct sb_file_req *req,
		   const struct fileops_dirs *dirs, int in, int out)
{
	struct target t = {.first_created = 0};
	char why[512] = "";
	snprintf(t.path, sizeof t.path, "%s", req->path);
	_cleanup_fd_ int dfd = open_target(dirs, &t);
	if (dfd < 0) {
		int e = errno;
		remove_created(dirs, &t);
		return answer(out, e, 0, strerror(e));
	}
	char tmp[64];
	snprintf(tmp, sizeof tmp, ".slotbox-unpack-%d", (int)getpid());
	if (mkdirat(dfd, tmp, 0700) < 0) {
		int e = errno;
		remove_created(dirs, &t);
		return answer(out, e, 0, strerror(e));
	}
	struct extract_stats st = {0};
	int e = unpack_into(req, dfd, tmp, in, &st, why, sizeof why);
	remove_tree(dfd, tmp, 0);
	if (e) {
		close(steal_fd(&dfd));
		remove_created(dirs, &t);
		return answer(out, e, 0, why);
	}
	char count[32];
	snprintf(count, sizeof count, "%llu", (unsigned long long)st.entries);
	return answer(out, 0, st.bytes, count);
}
