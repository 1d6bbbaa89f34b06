/* SPDX-License-Identifier: Apache-2.0 */
/* idmap.c - the workspace template as the slot's own files.
 *
 * A profile's template is one private tree owned by root, shared by every
 * slot as the lower layer of its workspace overlay. Its files must look
 * owned by the slot's uid (git refuses a repository of "dubious
 * ownership"; tools chmod their own files), without a copy or a chown per
 * slot: an idmapped mount of the tree, in which uid and gid 0 read as the
 * slot's uid, gives that at O(1). The mapping comes from a user namespace
 * made for the purpose by a child that lives only until it is opened. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "init/init.h"

static int write_map(const char *proc, pid_t pid, const char *file, uid_t id)
{
	char path[4200], line[64];
	snprintf(path, sizeof path, "%s/%d/%s", proc, (int)pid, file);
	int n = snprintf(line, sizeof line, "0 %u 1\n", (unsigned)id);
	_cleanup_fd_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, line, (size_t)n) != n)
		return -1;
	return 0;
}

/* A user namespace mapping 0 to uid (users and groups). proc is a procfs
 * of our own pid namespace, where the child's pid means the child. */
static int userns_for(const char *proc, uid_t uid)
{
	int gate[2];
	if (pipe2(gate, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL,
				   NULL, NULL, NULL);
	if (pid == 0) {
		char c;
		close(gate[1]);
		/* Wait until the parent has what it needs (EOF). */
		while (read(gate[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(gate[0]);
	int fd = -1;
	if (pid > 0) {
		char path[4200];
		snprintf(path, sizeof path, "%s/%d/ns/user", proc, (int)pid);
		/* As root in the parent namespace we may map any id, and
		 * need not deny setgroups first. */
		if (write_map(proc, pid, "uid_map", uid) == 0 &&
		    write_map(proc, pid, "gid_map", uid) == 0)
			fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	int saved = errno;
	close(gate[1]);
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	errno = saved;
	return fd;
}

int idmap_mount_template(const char *tree, uid_t uid, const char *proc,
			 const char *target, char *msg, size_t msglen)
{
	_cleanup_fd_ int ns = userns_for(proc, uid);
	if (ns < 0) {
		snprintf(msg, msglen, "user namespace for the template: %s",
			 strerror(errno));
		return -1;
	}
	_cleanup_fd_ int mnt =
		open_tree(AT_FDCWD, tree, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (mnt < 0) {
		snprintf(msg, msglen, "open template %s: %s", tree,
			 strerror(errno));
		return -1;
	}
	/* Read-only: the tree is shared by every slot of the profile, and
	 * overlayfs must never see its lower layer change. */
	struct mount_attr attr = {
		.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY |
			    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
		.userns_fd = (uint64_t)ns,
	};
	if (mount_setattr(mnt, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
		snprintf(msg, msglen, "idmap the template: %s",
			 strerror(errno));
		return -1;
	}
	if (move_mount(mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) <
	    0) {
		snprintf(msg, msglen, "attach the template: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}
