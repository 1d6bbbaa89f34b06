/* SPDX-License-Identifier: Apache-2.0 */
#include "init/calltree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h> /* struct clone_args */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"

static void call_name(char *buf, size_t len, uint64_t id)
{
	snprintf(buf, len, "c%llu", (unsigned long long)id);
}

static int open_group(int slot_fd, enum cg_mode mode, uint64_t id, bool create,
		      int *dir_fd)
{
	char name[32];

	*dir_fd = -1;
	if (mode == CG_NONE || slot_fd < 0)
		return 0;
	call_name(name, sizeof name, id);
	if (create && mkdirat(slot_fd, name, 0755) < 0 && errno != EEXIST)
		return -1;
	*dir_fd = openat(slot_fd, name, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	return *dir_fd < 0 ? -1 : 0;
}

int calltree_create(int slot_fd, enum cg_mode mode, uint64_t id, int *dir_fd)
{
	return open_group(slot_fd, mode, id, true, dir_fd);
}

int calltree_open(int slot_fd, enum cg_mode mode, uint64_t id, int *dir_fd)
{
	return open_group(slot_fd, mode, id, false, dir_fd);
}

const char *calltree_self_file(enum cg_mode mode)
{
	return mode == CG_V2 ? "cgroup.procs" : "tasks";
}

static int write_pid(int dir, const char *group, const char *file, pid_t pid)
{
	char path[256], val[16];
	int len = snprintf(val, sizeof val, "%d", (int)pid);
	if ((size_t)snprintf(path, sizeof path, "%s/%s", group, file) >=
	    sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = openat(dir, path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, val, (size_t)len);
	int err = n < 0 ? errno : EIO;
	close(fd);
	if (n == len)
		return 0;
	errno = err;
	return -1;
}

int calltree_move(int dir, const char *group, pid_t pid)
{
	return write_pid(dir, group, "cgroup.procs", pid);
}

int calltree_join(int dir, const char *group, enum cg_mode mode)
{
	return write_pid(dir, group, calltree_self_file(mode), 0);
}

pid_t calltree_clone_into(int dir_fd, unsigned long flags)
{
	struct clone_args ca = {.flags = flags | CLONE_INTO_CGROUP,
				.exit_signal = SIGCHLD,
				.cgroup = (uint64_t)dir_fd};
	pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
	if (pid < 0 && (errno == EINVAL || errno == E2BIG))
		errno = ENOSYS;
	return pid;
}

static int write_file_at(int dir, const char *file, const char *val)
{
	_cleanup_fd_ int fd = openat(dir, file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, val, strlen(val));
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

/* SIGKILL every pid listed in dir's cgroup.procs; returns how many. */
static int kill_listed(int dir)
{
	_cleanup_fd_ int fd = openat(dir, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	char buf[65536];
	int n = 0;
	if (fd < 0)
		return 0;
	ssize_t len = read(fd, buf, sizeof buf - 1);
	if (len <= 0)
		return 0;
	buf[len] = '\0';
	/* One pid per line; a group this large is killed over rounds. */
	for (char *p = buf, *end; *p; p = end) {
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		if (pid > 1 && kill((pid_t)pid, SIGKILL) == 0)
			n++;
		while (*end == '\n')
			end++;
	}
	return n;
}

static void kill_v1_freezer(int dir)
{
	/* Frozen tasks cannot fork, so the listing cannot go stale while we
	 * walk it; SIGKILL is delivered once they are thawed. */
	int frozen = write_file_at(dir, "freezer.state", "FROZEN") == 0;
	for (int round = 0; round < 8 && kill_listed(dir) > 0; round++)
		;
	if (frozen)
		write_file_at(dir, "freezer.state", "THAWED");
}

void calltree_kill_dir(int dir_fd, enum cg_mode mode)
{
	if (dir_fd < 0)
		return;
	if (mode == CG_V2) {
		if (write_file_at(dir_fd, "cgroup.kill", "1") == 0)
			return;
		/* Kernels before 5.14 have no cgroup.kill. */
		for (int round = 0; round < 8 && kill_listed(dir_fd) > 0;
		     round++)
			;
	} else if (mode == CG_V1_FREEZER) {
		kill_v1_freezer(dir_fd);
	}
}

/* The group's cgroup.procs, open for reading; -1 with errno. */
static int open_procs(int parent, const char *name)
{
	char path[64];
	snprintf(path, sizeof path, "%s/cgroup.procs", name);
	return openat(parent, path, O_RDONLY | O_CLOEXEC);
}

/* Does the group list no process? cgroup.procs leaves out the dead and
 * the dying; the group may still count them as members for a moment. */
static bool group_has_no_procs(int parent, const char *name)
{
	char c;
	_cleanup_fd_ int fd = open_procs(parent, name);
	return fd >= 0 && read(fd, &c, 1) == 0;
}

/* rmdir a call group. Its last members, killed and reaped, leave it a
 * little after their parent saw them die (the kernel unlinks a dead task
 * from its cgroup once it is off the CPU): while it lists no process, an
 * EBUSY is retried for up to 5 ms, else the empty group would stay until
 * some later event. -1/EBUSY while it has live processes. */
static int remove_group(int parent, const char *name)
{
	for (int i = 0;; i++) {
		if (unlinkat(parent, name, AT_REMOVEDIR) == 0 ||
		    errno == ENOENT)
			return 0;
		if (errno != EBUSY || i >= 50 ||
		    !group_has_no_procs(parent, name)) {
			errno = EBUSY;
			return -1;
		}
		usleep(100);
	}
}

/* Remove the slot's call groups that are empty: after a leader's end its
 * spare's group and those of calls it had left would stay, empty, for the
 * sandbox's life (one more per restart of the slot). */
static void remove_empty_calls(int slot_fd)
{
	int fd = dup(slot_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(d); /* a dup shares the offset a previous walk moved */
	const struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] == 'c' && e->d_type == DT_DIR)
			remove_group(slot_fd, e->d_name);
	closedir(d);
}

void calltree_kill_slot(int slot_fd, enum cg_mode mode)
{
	if (slot_fd < 0)
		return;
	if (mode != CG_V2) {
		calltree_kill_dir(slot_fd, mode);
		remove_empty_calls(slot_fd);
		return;
	}
	int fd = dup(slot_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
	} else {
		const struct dirent *e;
		rewinddir(
			d); /* a dup shares the offset an earlier walk moved */
		while ((e = readdir(d))) {
			if (e->d_name[0] != 'c' || e->d_type != DT_DIR)
				continue;
			_cleanup_fd_ int call =
				openat(slot_fd, e->d_name,
				       O_DIRECTORY | O_RDONLY | O_CLOEXEC);
			if (call >= 0)
				calltree_kill_dir(call, mode);
		}
		closedir(d);
	}
	/* The slot's group itself holds only its leader and file tools,
	 * which do not fork: a few rounds of SIGKILL empty it. */
	for (int round = 0; round < 8 && kill_listed(slot_fd) > 0; round++)
		;
	remove_empty_calls(slot_fd);
}

bool calltree_empty(int slot_fd, enum cg_mode mode, uint64_t id)
{
	char name[32];

	if (mode == CG_NONE || slot_fd < 0)
		return false;
	call_name(name, sizeof name, id);
	return group_has_no_procs(slot_fd, name);
}

bool calltree_holds_only(int slot_fd, enum cg_mode mode, uint64_t id, pid_t pid)
{
	char name[32], buf[32], more;

	if (mode == CG_NONE || slot_fd < 0)
		return false;
	call_name(name, sizeof name, id);
	_cleanup_fd_ int fd = open_procs(slot_fd, name);
	if (fd < 0)
		return false;
	/* one short line at most: more is another process */
	ssize_t n = read(fd, buf, sizeof buf - 1);
	if (n < 0 || (n > 0 && read(fd, &more, 1) != 0))
		return false;
	buf[n] = '\0';
	if (n == 0)
		return true;
	char *end;
	long got = strtol(buf, &end, 10);
	return got == (long)pid && end != buf && *end == '\n' && !end[1];
}

void calltree_kill(int slot_fd, enum cg_mode mode, uint64_t id, pid_t pgid)
{
	char name[32];

	if (mode == CG_NONE || slot_fd < 0) {
		if (pgid > 1)
			kill(-pgid, SIGKILL);
		return;
	}
	call_name(name, sizeof name, id);
	_cleanup_fd_ int dir =
		openat(slot_fd, name, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (dir < 0) {
		if (pgid > 1)
			kill(-pgid, SIGKILL);
		return;
	}
	calltree_kill_dir(dir, mode);
}

int calltree_remove(int slot_fd, enum cg_mode mode, uint64_t id)
{
	char name[32];

	if (mode == CG_NONE || slot_fd < 0)
		return 0;
	call_name(name, sizeof name, id);
	return remove_group(slot_fd, name);
}
