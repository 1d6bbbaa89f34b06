/* SPDX-License-Identifier: Apache-2.0 */
/* spare.h - a slot's next call process, made ready before the call comes.
 *
 * Starting a command on the call's path used to cost a cgroup mkdir, a
 * vfork, the move of the child into its call group and the compilation of
 * the seccomp filter. The move was the worst: a cgroup.procs write takes a
 * global rwsem whose writer waits for an RCU grace period unless another
 * move happened a few ms before, so calls spaced like an agent's (tens of
 * ms and more apart) paid 7-19 ms each here. A spare does all of it while
 * the slot waits: cloned from the leader and born in a call group (clone3
 * with CLONE_INTO_CGROUP on cgroup v2: no move at all; in v1 a move of its
 * own thread through "tasks", which takes no global lock, calltree.h),
 * it drops to the slot's uid, sheds every capability, installs the filter
 * and blocks. Where it can, it shares the leader's memory
 * (spare_vm.h: no copy of the leader's page tables to make, none to tear
 * down at the exec); else it is a fork. The leader hands it a call (the
 * payload, which the leader decodes for a spare sharing its memory, and
 * stdio over a socket pair); it dups its descriptors, makes its process
 * group (and session, with a terminal), changes directory and execs. The
 * leader starts the next spare when a call ends (not while it runs: it
 * would compete with the command), in the ended call's group when that
 * is empty and was never killed, else in a new one.
 *
 * The spare is a process of the slot's uid, so the slot's own processes
 * can see and kill it like any process of theirs; the leader then starts
 * another. It holds nothing they do not already have.
 *
 * Its successor. The filter's install (JIT, the per-syscall cache, and
 * their free at the exit) and the uid and capability changes cost each
 * spare some 100-200 us of CPU (bench/filter_inherit.c, bench/batch_ab.py),
 * and only inheritance avoids them. So once a call has ended, the next
 * spare (sharing the leader's memory) is asked to clone the one after it
 * at once (spare_make_next): with the old clone (the default filter
 * refuses clone3), CLONE_VM, and CLONE_PARENT so that the leader reaps
 * it; born in its maker's call group, as its uid, with its empty
 * capabilities and its filter. When the maker's call ends and leaves that
 * group to the successor alone (never killed), the successor is the next
 * spare, and it clones its own. Else the leader drops it and makes the
 * next spare itself, as it does when the successor was never born (its
 * maker was killed first; a profile's filter refuses clone). The leader
 * never waits on a maker: the successor's pid reaches it through the
 * region the leader made for it (CLONE_PARENT_SETTID), known for good
 * once the maker is reaped.
 *
 * A next lease's spare (make_ns set) first makes that lease's namespaces
 * and sends them to the leader, then waits as root, out of the current
 * tenant's reach (signals, prlimit, renice), until spare_promote() when
 * the lease has ended; only then does it confine itself. */
#ifndef SLOTBOX_INIT_SPARE_H
#define SLOTBOX_INIT_SPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "init/calltree.h"

struct sb_msg;
struct sock_fprog;

struct spare_cfg {
	int cg_fd; /* the slot's call-group parent, -1 without cgroups */
	enum cg_mode cg_mode;
	uid_t uid;
	const struct sock_fprog *filter; /* NULL: no seccomp */
	/* NULL, or run as root first: makes namespaces, fds[2] to send */
	int (*make_ns)(const void *arg, int fds[2]);
	const void *make_ns_arg;
};

struct spare_vm;

struct spare {
	pid_t pid;	/* 0: none (for a successor: not known yet) */
	int sock;	/* the leader's end, -1 when none */
	uint64_t group; /* its call group "c<group>" */
	/* set when it shares the leader's memory (spare_vm.h); NULL when
	 * forked */
	struct spare_vm *vm;
	pid_t maker;	/* a successor: the spare that clones it */
	bool made_next; /* it was asked for its successor (once only) */
};

/* No spare: what a struct spare holds when there is none. */
#define SPARE_NONE ((struct spare){.pid = 0, .sock = -1})

/* Start a spare in a new call group `group` (created here): one that
 * shares the leader's memory (spare_vm.h) where it can, else a fork, as
 * is a next lease's spare (make_ns). The leader goes on at once; the
 * spare gets ready by itself. 0 or -1 with errno. */
int spare_start(struct spare *s, const struct spare_cfg *cfg, uint64_t group);

/* The same in the existing group `group`, which an ended call left empty
 * (a mkdir and an rmdir less per call). */
int spare_start_in(struct spare *s, const struct spare_cfg *cfg,
		   uint64_t group);

/* A next lease's spare: receive the namespaces it made (waiting up to a
 * second), the caller's to enter and close. 0 or -1. */
int spare_take_ns(const struct spare *s, int fds[2]);

/* ... and let it confine itself and wait for calls. 0 or -1 with errno. */
int spare_promote(const struct spare *s);

/* Have the spare s clone the spare after it (a successor) before it
 * takes a call: in s's call group, confined as s is, with nothing to
 * install (spare_vm.c, make_successor). next is its socket, group and
 * region; its pid is spare_successor_pid(next) once s cloned it, which
 * s may never do (it was killed; a profile's filter refuses clone). The
 * leader never waits for it: it takes the successor for the next spare
 * only once s's call has ended and was reaped. Only for a spare that
 * shares the leader's memory, once. 0, or -1 with errno (next untouched). */
int spare_make_next(struct spare *s, struct spare *next);

/* A successor's pid, 0 while not known. */
pid_t spare_successor_pid(const struct spare *next);

/* A call as the daemon sent it: its payload (proto.h) in a memfd, or
 * inline (the EXEC's packet: the leader's buffer until its next message),
 * and its stdin, stdout and stderr. */
struct spare_call {
	int payload_fd; /* -1: inline */
	const char *inline_payload;
	size_t inline_len;
	int stdio[3];
};

/* The call an EXEC message carries: its payload in a memfd (fds[0]) or
 * after the message (SB_EXEC_INLINE), then stdin, stdout and stderr;
 * false when it is neither. The leader reads the daemon's EXECs, and a
 * forked spare the leader's, with it. */
bool spare_call_of(const struct sb_msg *m, const char *body, size_t body_len,
		   const int *fds, size_t nfds, struct spare_call *call);

/* Give the spare its call. 0, or -1 with errno (EPIPE: the spare is
 * gone). */
int spare_hand(const struct spare *s, const struct spare_call *call);

/* Once the call's process was reaped: the errno it reported before it
 * could exec, or 0 when it exec'd. Closes sock. */
int spare_spawn_errno(int sock);

/* The leader reaped pid: whatever it kept for it, if it was a spare
 * sharing its memory, is freed. */
void spare_reaped(pid_t pid);

#endif
