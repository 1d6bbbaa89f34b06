/* SPDX-License-Identifier: Apache-2.0 */
/* uid_range.c - see uid_range.h. */
#include "sandbox/uid_range.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "sandbox/sandbox.h"

/* Does range file fd name owner? */
static bool names(int fd, const char *owner)
{
	char buf[PATH_MAX + 2];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return strcmp(buf, owner) == 0;
}

static int claim(int fd, const char *owner)
{
	size_t len = strlen(owner);
	char line[PATH_MAX + 2];
	snprintf(line, sizeof line, "%s\n", owner);
	if (ftruncate(fd, 0) < 0 ||
	    pwrite(fd, line, len + 1, 0) != (ssize_t)(len + 1))
		return -1;
	/* Shared from now on: the inits that inherit it keep it held. The
	 * conversion is not atomic, but every allocator holds the dir's
	 * lock meanwhile. */
	return flock(fd, LOCK_SH | LOCK_NB);
}

static int open_range(int dirfd, int k, int flags)
{
	char name[16];
	snprintf(name, sizeof name, "%d", k);
	return openat(dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW | flags,
		      0600);
}

static void found(int k, uid_t *base)
{
	*base = SBX_UID_BASE + (uid_t)k * SBX_RANGE_UIDS;
}

int uid_range_take(const char *dir, const char *state_dir, uid_t *base,
		   int *lock_fd, struct sb_err *err)
{
	char owner[PATH_MAX];
	if (!realpath(state_dir, owner))
		return sb_err_sys(err, "resolve %s", state_dir);
	/* The parents are shared (/run/slotbox holds the default socket,
	 * which its group must reach): 0755 like the daemon makes it. */
	char parent[PATH_MAX];
	snprintf(parent, sizeof parent, "%s", dir);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if (sb_mkdir_p(parent, 0755) < 0)
			return sb_err_sys(err, "create %s", parent);
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return sb_err_sys(err, "create %s", dir);
	_cleanup_fd_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return sb_err_sys(err, "open %s", dir);
	_cleanup_fd_ int mutex = openat(
		dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (mutex < 0 || flock(mutex, LOCK_EX) < 0)
		return sb_err_sys(err, "lock %s/lock", dir);
	/* Ours from before (a restart): shared with our own sandboxes if
	 * they outlived the last daemon, or free. */
	for (int k = 0; k < UID_RANGE_MAX; k++) {
		int fd = open_range(dirfd, k, 0);
		if (fd < 0)
			continue;
		if (names(fd, owner) && flock(fd, LOCK_SH | LOCK_NB) == 0) {
			found(k, base);
			*lock_fd = fd;
			return 0;
		}
		close(fd);
	}
	for (int k = 0; k < UID_RANGE_MAX; k++) {
		int fd = open_range(dirfd, k, O_CREAT);
		if (fd < 0)
			return sb_err_sys(err, "open %s/%d", dir, k);
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 &&
		    claim(fd, owner) == 0) {
			found(k, base);
			*lock_fd = fd;
			return 0;
		}
		close(fd);
	}
	return sb_err_set(err, EBUSY,
			  "all %d slot uid ranges of this host are taken by "
			  "other daemons (%s)",
			  UID_RANGE_MAX, dir);
}
