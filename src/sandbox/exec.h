/* SPDX-License-Identifier: Apache-2.0 */
/* exec.h - one command in a slot, seen from the daemon.
 *
 * The daemon creates the call's pipes and hands their write ends to the
 * slot's leader, so output flows from the command straight into the
 * daemon, capped per stream: past the cap the bytes are read and dropped
 * (the command runs to completion, `truncated` is set), so a command that
 * prints gigabytes cannot grow the daemon's memory. A timer kills the
 * call's whole process tree at the deadline. */
#ifndef SLOTBOX_SANDBOX_EXEC_H
#define SLOTBOX_SANDBOX_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct sbx_slot;
struct sb_msg;
struct exec_call;

enum exec_error_class {
	EXEC_OK,	/* "none" */
	EXEC_TASK,	/* the command ran and failed */
	EXEC_TIMEOUT,	/* killed at the deadline */
	EXEC_INFRA,	/* the sandbox or the pool failed */
	EXEC_CANCELLED, /* the caller cancelled it (exec_cancel) */
};

/* A streamed call's output, chunk by chunk as the daemon reads it from the
 * command's pipe (stream 1: stdout, 2: stderr; merged output is all 1).
 * The bytes past the cap are not handed on. Return 1 to stop reading the
 * call's pipes (back-pressure: the command blocks on a full pipe) until
 * exec_resume_output(), 0 to go on. */
typedef int (*exec_output_fn)(void *ud, int stream, const char *data,
			      size_t len);

struct exec_spec {
	char *const *argv; /* argv[0] absolute */
	const char *cwd;
	char *const *envp;
	const char *stdin_data; /* NULL: /dev/null */
	size_t stdin_len;
	double timeout_s;
	size_t output_limit; /* bytes per stream */
	/* stdout and stderr share one pipe (the result's out, in write
	 * order; err stays empty) */
	bool merge_output;
	/* NULL, or each chunk as it is read (see exec_output_fn); the
	 * result still holds the output up to the cap, as without. */
	exec_output_fn on_output;
	void *output_ud;
	/* A background process: no deadline (timeout_s is ignored), not
	 * one of the slot's calls (n_bg, not n_calls: the lease's TTL runs
	 * on), and the output is only handed to on_output, never kept. */
	bool background;
	/* Called once the leader said the command's pid (in the slot's pid
	 * namespace); NULL: not asked. Never after the done callback. */
	void (*on_started)(void *ud, int pid);
	/* own_stdin: stdin_fd is the command's stdin instead of stdin_data
	 * (taken by the call: a pipe the caller keeps writing to). */
	bool own_stdin;
	int stdin_fd;
	/* tty: tty_fd, a terminal's slave, is the command's stdin, stdout
	 * and stderr, and the output is read from out_fd, its master (both
	 * taken by the call; stdin_data is not used). */
	bool tty;
	int tty_fd;
	int out_fd;
};

struct exec_result {
	int returncode; /* exit code, or -signal */
	bool timed_out;
	bool truncated;
	bool oom_killed; /* the OOM killer killed a process of the slot */
	bool has_usage;	 /* the three below are known */
	double cpu_user_ms, cpu_sys_ms;
	uint64_t peak_memory_bytes; /* largest resident set of the tree */
	const char *out;
	size_t out_len;
	const char *err;
	size_t err_len;
	double duration_ms;
	enum exec_error_class error_class;
	const char *error;	/* human text, "" when none */
	const char *error_code; /* API code for infra errors, or NULL */
};

typedef void (*exec_done_fn)(const struct exec_result *res, void *ud);

/* Start spec in slot. cb is called exactly once, later (never from inside
 * exec_start), unless exec_start fails (returns -1, cb never called).
 * *out (may be NULL) is the call, valid until cb runs (for exec_cancel). */
int exec_start(struct sbx_slot *slot, const struct exec_spec *spec,
	       exec_done_fn cb, void *ud, struct exec_call **out,
	       struct sb_err *err);

/* Kill the call's whole process tree now; its cb follows (later, never
 * from inside this call) with error_class EXEC_CANCELLED. A second cancel,
 * or one after a timeout began, changes nothing. */
void exec_cancel(struct exec_call *call);

/* Send signal sig to the call's process group (the command leads one). */
void exec_signal(struct exec_call *call, int sig);

/* The leader reported EXEC_STARTED. */
void exec_on_started(struct sbx_slot *slot, const struct sb_msg *m);

/* Read the call's pipes again after on_output returned 1. */
void exec_resume_output(struct exec_call *call);

/* The leader reported EXEC_DONE. */
void exec_on_done(struct sbx_slot *slot, const struct sb_msg *m);

/* Every call in flight on the slot fails (infra) with code and why. */
void exec_fail_all(struct sbx_slot *slot, const char *code, const char *why);

const char *exec_error_class_name(enum exec_error_class c);

/* A memfd holding len bytes of data, sealed so the sandbox can read but
 * never change it, positioned at 0. Returns the fd or -1. */
int sb_sealed_memfd(const char *name, const void *data, size_t len,
		    struct sb_err *err);

#endif
