/* SPDX-License-Identifier: Apache-2.0 */
/* spare_vm.h - a spare that shares the leader's memory (spare.c's fast way).
 *
 * A forked spare costs the leader a copy of its page tables and both
 * sides copy-on-write faults; its exec then tears that copy down while
 * the call waits. Here a call's process is cloned with CLONE_VM, as
 * posix_spawn's child is, onto a small stack of its own: no copy, and an
 * exec that only lets go of the leader's memory. Unlike posix_spawn's, it
 * then waits for its call while the leader goes on, so the child runs
 * only raw system calls (raw_syscall.h) and reads nothing the leader
 * changes except the call it is handed, which the leader decodes for it.
 *
 * What a slot's processes can do to it is what they could to a forked
 * spare: it is theirs by uid, so they may kill or stop it (the leader
 * makes another). They cannot reach the memory it shares with the
 * leader: its uid change made that memory non-dumpable, so ptrace,
 * /proc/<pid>/mem and process_vm_writev need CAP_SYS_PTRACE, which no
 * slot process has. Its signal handlers are its own copy (no
 * CLONE_SIGHAND), and the leader installs none (it uses a signalfd).
 *
 * Each spare's stack region holds what the leader keeps for it (the
 * decoded call) and is freed when the leader reaps its pid. */
#ifndef SLOTBOX_INIT_SPARE_VM_H
#define SLOTBOX_INIT_SPARE_VM_H

#include <stdbool.h>
#include <sys/types.h>

struct spare_call;
struct spare_cfg;
struct spare_vm;

/* Whether spares are cloned this way: this architecture has the raw
 * calls, and no clone3 failed with ENOSYS yet. */
bool spare_vm_usable(void);

/* Clone a spare sharing this process's memory: sock is its end of the
 * socket pair, dir_fd its call group (or -1), into whether the kernel may
 * place it there at birth (cgroup v2). The pid, or -1 with errno (ENOSYS:
 * fork one instead). */
pid_t spare_vm_start(const struct spare_cfg *cfg, int sock, int dir_fd,
		     bool into, struct spare_vm **vm);

/* Decode the call's payload (a copy of it is kept with the spare) and hand
 * it stdin, stdout and stderr. 0, or -1 with errno (EPIPE: it is gone;
 * EPROTO: a bad payload). */
int spare_vm_hand(struct spare_vm *vm, int sock, const struct spare_call *call);

/* Ask the waiting spare vm (sock: the leader's end) to clone the next
 * spare (make_successor in spare_vm.c): *out is its region, *out_sock the
 * leader's end of its socket pair. Its pid is spare_vm_born(*out) once the
 * maker cloned it. 0, or -1 with errno. Once per spare. */
int spare_vm_make_next(struct spare_vm *vm, int sock, struct spare_vm **out,
		       int *out_sock);

/* A spare's pid: for a successor, 0 until its maker cloned it (and for
 * good if the maker was reaped with it still 0). */
pid_t spare_vm_born(const struct spare_vm *vm);

/* pid was reaped: free its region, if it was such a spare, and the
 * regions of successors it was to make and never made. */
void spare_vm_reaped(pid_t pid);

#endif
