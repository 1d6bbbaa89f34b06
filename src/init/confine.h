/* SPDX-License-Identifier: Apache-2.0 */
/* confine.h - what a slot's processes keep of root: nothing.
 *
 * The leader stays root (it moves calls between cgroups and changes uid),
 * but every process it starts runs as the slot's uid with no capability
 * in any set, no supplementary groups and no_new_privs, under securebits
 * that keep root's special cases off for good, with an empty bounding set
 * (no file capability can give one back) and, unless the profile says
 * seccomp: none, the profile's seccomp filter (sandbox/seccomp_bpf.h). */
#ifndef SLOTBOX_INIT_CONFINE_H
#define SLOTBOX_INIT_CONFINE_H

#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

struct sock_fprog;

/* slotbox-init, once: read the BPF program the daemon compiled from fd
 * (a sealed memfd), close fd, and point *prog at it. 0 or -1 with err. */
int confine_load_filter(int fd, const struct sock_fprog **prog,
			struct sb_err *err);

/* The leader, before it starts anything: show a command line without host
 * paths (it is the slot's PID 1), empty the bounding set and lock the
 * securebits. The leader's own capabilities stay. 0 or -1 with err. */
int confine_leader(struct sb_err *err);

/* Show args[0..len) (NUL-separated strings) as this process's command
 * line (/proc/<pid>/cmdline, ps). Best effort. */
void confine_set_cmdline(const char *args, size_t len);

/* A child of the leader, before it runs anything: become uid (groups
 * cleared), drop every capability, set no_new_privs, install filter
 * (NULL: none). Raw system calls only (glibc's setuid wrappers
 * would signal threads the process does not have). 0 or -1
 * with errno. */
int confine_child(uid_t uid, const struct sock_fprog *filter);

/* The same with raw system calls, for a child that shares the leader's
 * memory (spare_vm.h): 0 or -errno. Where raw_syscall.h has them. */
long confine_child_raw(uid_t uid, const struct sock_fprog *filter);

#endif
