/* SPDX-License-Identifier: Apache-2.0 */
/* calltree.h - track and kill the whole process tree of one call.
 *
 * Each call runs in a cgroup of its own below its slot's cgroup, so that a
 * timeout kills everything the call started, including processes that called
 * setsid() or double-forked. cgroup v2 kills with cgroup.kill; cgroup v1
 * freezes the freezer group, SIGKILLs every member and thaws. Without any
 * usable cgroup the call's process group is killed instead (weaker: a
 * process that calls setsid() escapes; the daemon logs this at start). */
#ifndef SLOTBOX_INIT_CALLTREE_H
#define SLOTBOX_INIT_CALLTREE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum cg_mode {
	CG_NONE = 0,
	CG_V1_FREEZER = 1,
	CG_V2 = 2,
};

/* Create the call's group "c<id>" below slot_fd and open it (a directory
 * fd, for CLONE_INTO_CGROUP or cgroup.procs). *dir_fd is -1 (and 0
 * returned) in CG_NONE mode. */
int calltree_create(int slot_fd, enum cg_mode mode, uint64_t id, int *dir_fd);

/* Open the existing group "c<id>" (one that an ended call left empty) as
 * calltree_create would have made it: 0, or -1 with errno. */
int calltree_open(int slot_fd, enum cg_mode mode, uint64_t id, int *dir_fd);

/* Whether group "c<id>" lists no process (its call's tree has ended). */
bool calltree_empty(int slot_fd, enum cg_mode mode, uint64_t id);

/* The same, where pid (alive or not) may be there too: a group an ended
 * call left to its successor spare (spare.h). */
bool calltree_holds_only(int slot_fd, enum cg_mode mode, uint64_t id,
			 pid_t pid);

/* The file below a group through which a single-threaded process moves
 * itself into it (calltree_join): cgroup.procs in cgroup v2, "tasks" in
 * v1. A v1 write of 0 (the writer's own thread) to "tasks" is the one
 * migration the kernel makes without taking its global
 * cgroup_threadgroup_rwsem for writing (cgroup_procs_write_start): that
 * write lock waits for an RCU grace period when no migration came within
 * the last one (5 ms here, 40 us through "tasks", bench/first_call.py)
 * and holds off every fork, exec and exit on the host meanwhile. For a
 * process of one thread the move is the same. */
const char *calltree_self_file(enum cg_mode mode);

/* Move the calling process (single-threaded) into group, a path below
 * dir ("." for dir itself), through calltree_self_file(mode); or pid of
 * the caller's pid namespace, the whole process, through the group's
 * cgroup.procs. 0 or -1 with errno. */
int calltree_join(int dir, const char *group, enum cg_mode mode);
int calltree_move(int dir, const char *group, pid_t pid);

/* Fork semantics (0 in the child), the child born in dir_fd's group and
 * in the new namespaces of flags: clone3 with CLONE_INTO_CGROUP (cgroup
 * v2, Linux 5.7), so no cgroup.procs write and no global lock. -1 with
 * errno; ENOSYS where the kernel cannot do it so (an older kernel, a
 * group it refuses), and the caller forks its own way and joins. The
 * caller is single-threaded, so that the raw child may go on like a
 * fork()'s. */
pid_t calltree_clone_into(int dir_fd, unsigned long flags);

/* Kill the call's tree. pgid is the call's process group (CG_NONE). */
void calltree_kill(int slot_fd, enum cg_mode mode, uint64_t id, pid_t pgid);

/* Remove the call's group; -1/EBUSY while processes remain in it. */
int calltree_remove(int slot_fd, enum cg_mode mode, uint64_t id);

/* Kill everything in a cgroup directory and its children (teardown). */
void calltree_kill_dir(int dir_fd, enum cg_mode mode);

/* Kill everything in a slot's group and its call groups (slot release),
 * then remove the call groups that are empty (all, once the slot's leader
 * and its pid namespace are gone),
 * without cgroup.kill on the slot's group itself: on Linux 6.18 here, once
 * a group was cgroup.kill'ed, a child its members clone3 with
 * CLONE_INTO_CGROUP into a new group below it is SIGKILLed at birth (the
 * kernel compares the kill counts of the parent's group and of the new
 * one). The slot's leader forks every call that way (spare.h). */
void calltree_kill_slot(int slot_fd, enum cg_mode mode);

#endif
