/* SPDX-License-Identifier: Apache-2.0 */
/* spare_child.h - what a spare does in its own process before and at its
 * call, the same for a forked spare (spare.c) and for one that shares the
 * leader's memory (spare_vm.c): raw system calls only (raw_syscall.h). */
#ifndef SLOTBOX_INIT_SPARE_CHILD_H
#define SLOTBOX_INIT_SPARE_CHILD_H

/* Tell the leader why the call cannot start (rc: -errno; EIO when not
 * negative), which it reads once it has reaped this process, and exit. */
__attribute__((noreturn)) void spare_child_fail(int sock, long rc);

/* Close every descriptor but stdio and keep: the leader's channel to the
 * daemon and its other descriptors must not stay open in a slot's
 * process. */
void spare_child_close_all_but(int keep);

/* Run the call: fds (above 2) onto stdin, stdout and stderr, a process
 * group of its own (and a session, with a terminal), cwd, an empty signal
 * mask, and the exec; on a failure spare_child_fail. */
__attribute__((noreturn)) void spare_child_exec(int sock, const int fds[3],
						const char *cwd,
						char *const *argv,
						char *const *envp);

#endif
