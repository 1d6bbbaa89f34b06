/* SPDX-License-Identifier: Apache-2.0 */
/* store.c - directories of entries that appear whole (store.h). */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"

/* Deeper trees than any store holds (a snapshot's or template's copy
 * stops at 256 levels, tree_copy.h): a bound on the recursion. */
#define REMOVE_MAX_DEPTH 1024

int store_dir_open(struct store_dir *d, const char *parent, const char *name,
		   struct sb_err *err)
{
	d->fd = -1;
	int n = snprintf(d->path, sizeof d->path, "%s/%s", parent, name);
	if (n < 0 || (size_t)n >= sizeof d->path)
		return sb_err_set(err, ENAMETOOLONG, "%s/%s: path too long",
				  parent, name);
	if (mkdir(d->path, 0700) < 0 && errno != EEXIST)
		return sb_err_sys(err, "create %s", d->path);
	d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->fd < 0)
		return sb_err_sys(err, "open %s", d->path);
	return 0;
}

void store_dir_close(struct store_dir *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

bool store_name_temporary(const char *name, void *ud)
{
	(void)ud;
	size_t n = strlen(name);
	if (name[0] != '.')
		return false;
	return !strncmp(name, ".tmp-", 5) || !strncmp(name, ".trash-", 7) ||
	       (n > 5 && !strcmp(name + n - 4, ".tmp"));
}

static int remove_dir_contents(int dir, int depth)
{
	if (depth >= REMOVE_MAX_DEPTH) {
		errno = ELOOP;
		return -1;
	}
	DIR *d = sb_opendir_at(dir);
	if (!d)
		return -1;
	int r = 0, saved = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (unlinkat(dir, e->d_name, 0) == 0 || errno == ENOENT)
			continue;
		if (errno != EISDIR) {
			r = -1;
			saved = errno;
			continue;
		}
		int sub =
			openat(dir, e->d_name,
			       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0 || remove_dir_contents(sub, depth + 1) < 0 ||
		    unlinkat(dir, e->d_name, AT_REMOVEDIR) < 0) {
			r = -1;
			saved = errno;
		}
		if (sub >= 0)
			close(sub);
	}
	closedir(d);
	errno = saved;
	return r;
}

int store_remove(int dirfd, const char *name)
{
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR)
		return -1;
	_cleanup_fd_ int d = openat(
		dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d < 0)
		return errno == ENOENT ? 0 : -1;
	/* A second pass catches names a readdir that raced with our own
	 * unlinks may have skipped. */
	for (int pass = 0; pass < 3; pass++) {
		if (remove_dir_contents(d, 0) < 0)
			return -1;
		if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
			return 0;
		if (errno != ENOTEMPTY)
			return -1;
	}
	return -1;
}

int store_sweep(int dirfd, bool (*drop)(const char *name, void *ud), void *ud)
{
	DIR *d = sb_opendir_at(dirfd);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (drop(e->d_name, ud) && store_remove(dirfd, e->d_name) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static int tmp_name(char out[STORE_TMP_NAME_MAX], const char *prefix,
		    struct sb_err *err)
{
	char hex[17];
	if (sb_random_hex(hex, 8) < 0)
		return sb_err_set(err, EIO, "no randomness");
	snprintf(out, STORE_TMP_NAME_MAX, "%s%s", prefix, hex);
	return 0;
}

int store_mkdtemp(int dirfd, char tmp[STORE_TMP_NAME_MAX], struct sb_err *err)
{
	if (tmp_name(tmp, ".tmp-", err) < 0)
		return -1;
	if (mkdirat(dirfd, tmp, 0700) < 0)
		return sb_err_sys(err, "create a temporary dir");
	return 0;
}

int store_trash_name(char trash[STORE_TMP_NAME_MAX], struct sb_err *err)
{
	return tmp_name(trash, ".trash-", err);
}

int store_write_atomic(int dirfd, const char *name, const void *buf, size_t len,
		       struct sb_err *err)
{
	char tmp[NAME_MAX + 1];
	int n = snprintf(tmp, sizeof tmp, ".%s.tmp", name);
	if (n < 0 || (size_t)n >= sizeof tmp || strchr(name, '/'))
		return sb_err_set(err, EINVAL, "bad file name %.64s", name);
	_cleanup_fd_ int fd = openat(
		dirfd, tmp,
		O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return sb_err_sys(err, "write %s", name);
	if (sb_write_all(fd, buf, len) < 0 ||
	    renameat(dirfd, tmp, dirfd, name) < 0) {
		int e = errno;
		unlinkat(dirfd, tmp, 0);
		errno = e;
		return sb_err_sys(err, "write %s", name);
	}
	return 0;
}

int store_publish(int fromfd, const char *tmp, int tofd, const char *name,
		  enum store_publish how, struct sb_err *err)
{
	unsigned flags = how == STORE_NOREPLACE ? RENAME_NOREPLACE : 0;
	if (renameat2(fromfd, tmp, tofd, name, flags) == 0)
		return 0;
	/* A directory over a non-empty one fails with ENOTEMPTY (or EEXIST)
	 * without RENAME_NOREPLACE, which not every file system has. */
	if (how == STORE_KEEP && (errno == EEXIST || errno == ENOTEMPTY))
		return 1;
	if (errno == EEXIST || (how == STORE_NOREPLACE && errno == ENOTEMPTY))
		return sb_err_set(err, EEXIST, "%s exists", name);
	return sb_err_sys(err, "rename to %s", name);
}
