/* SPDX-License-Identifier: Apache-2.0 */
/* processes.h - background processes of a slot's lease (API 1.1).
 *
 * A process is a bash command started with a handle and left running: an
 * exec.h call without a deadline whose output goes to a bounded ring
 * (proc_ring.h) instead of an answer, whose stdin stays open (a pipe, or
 * the terminal of a pty) and that the caller signals, resizes or kills.
 * It runs like any call: in the slot's cgroup and namespaces, as the
 * slot's uid, confined. It ends with its lease: a release, reset or TTL
 * expiry restarts the slot (sandbox.c does not recycle a slot with
 * processes), which kills it, and the lease's records are forgotten.
 *
 * A slot holds at most the profile's max_processes records (16 by
 * default); a new one evicts the oldest that has ended, and is refused
 * while all of them run. Each keeps the profile's process_output_bytes of
 * output (1 MiB by default). */
#ifndef SLOTBOX_API_PROCESSES_H
#define SLOTBOX_API_PROCESSES_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "api/bash_cmd.h"
#include "api/proc_ring.h"
#include "common/err.h"

struct sbx_slot;
struct exec_call;
struct pools;
struct proc;

#define PROC_ID_LEN 16
#define PROC_STDIN_QUEUE_MAX (1u << 20) /* stdin bytes waiting at most */

/* Told of a process's new output or of its end (running false). */
struct proc_watch {
	struct proc_watch *next;
	void (*fn)(struct proc_watch *w, struct proc *p);
};

struct proc {
	struct proc *next;
	struct sbx_slot *slot; /* valid while it runs */
	char slot_id[128];     /* the lease it belongs to */
	char id[PROC_ID_LEN + 1];
	struct slot_cmd cmd;
	int pid; /* in the slot's pid namespace; 0 until known */
	bool running;
	bool has_exit; /* exit_code is known */
	int exit_code; /* the exit status, or -signal */
	bool deleted;  /* DELETE'd: hidden, goes once ended */
	bool pty;
	bool merge;		     /* stdout and stderr share one pipe */
	double started_at, ended_at; /* wall clock */
	struct exec_call *call;	     /* while it runs */
	struct proc_ring ring;
	uv_pipe_t in; /* stdin: a pipe's write end or the pty's master */
	bool in_open; /* in is initialised and not closing */
	bool eof_wanted;
	unsigned in_writes;	  /* stdin writes in flight */
	struct proc_watch *watch; /* who waits for output or the end */
	unsigned refs;		  /* the call, in, each watch: free at 0 */
	unsigned rows, cols;	  /* of its pty; 0 without */
	void (*started)(struct proc *p, int err, const char *why);
	void *started_ud;
	bool listed; /* in the daemon's list of processes */
};

/* Forget the ended processes whose lease is over (or that were deleted).
 * The routes call it before each use. */
void proc_sweep(struct pools *ps);

/* The process `id` of the slot's current lease, or NULL. */
struct proc *proc_find(struct sbx_slot *slot, const char *id);

/* Call fn for each process of the slot's current lease, oldest first. */
void proc_each(struct sbx_slot *slot, void (*fn)(struct proc *p, void *ud),
	       void *ud);

/* Whether a new process may start in the slot's lease (evicting the
 * oldest ended one if need be). */
bool proc_room(struct sbx_slot *slot);

/* Start a process: cmd's contents are taken (cmd is zeroed). Returns the
 * record, or NULL with err (nothing started, no callback). Then started
 * follows exactly once, later: err 0 once its pid is known, or why it
 * could not start (the record is gone after the callback). rows/cols 0:
 * no pty. */
struct proc *proc_start(struct sbx_slot *slot, struct slot_cmd *cmd,
			unsigned rows, unsigned cols, bool merge,
			void (*started)(struct proc *p, int err,
					const char *why),
			void *ud, struct sb_err *err);
/* (merge: stdout and stderr on one pipe, as exec's merge_output.) */

/* Queue bytes for its stdin (then close it when eof). 0, or -1 with
 * errno: EPIPE (closed or ended), EAGAIN (too much waiting). */
int proc_stdin(struct proc *p, const char *data, size_t len, bool eof);

/* Signal it: INT, QUIT, TSTP and WINCH go to the terminal's foreground
 * process group with a pty, else every signal to the process's group.
 * 0 or -1 with errno (ESRCH: it has ended). */
int proc_signal(struct proc *p, int sig);

/* A pty's new size. 0 or -1 with errno (ENOTTY: no pty). */
int proc_resize(struct proc *p, unsigned rows, unsigned cols);

/* Kill its tree and forget it. */
void proc_delete(struct proc *p);

/* A watcher holds the record until it is removed. */
void proc_watch_add(struct proc *p, struct proc_watch *w);
void proc_watch_remove(struct proc *p, struct proc_watch *w);

/* Whether ended records of earlier leases could still be around: for
 * tests of the sweep (count of records the daemon holds). */
size_t proc_count(void);

#endif
