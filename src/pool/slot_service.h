/* SPDX-License-Identifier: Apache-2.0 */
/* slot_service.h - everything the API does to a slot, one layer below it.
 *
 * The api folder parses a request, calls one of these and renders the
 * answer; it never starts anything in a sandbox, changes a slot's state,
 * writes the journal or counts metrics itself. This layer owns the lease
 * checks, the command environment (slot_cmd.h), starting and ending
 * calls (the slot's state moves through slot_state_next), file
 * operations, renew and release, and the journal and metrics they imply.
 * Fork and snapshot jobs are seed_job.h's and snapshots.h's, behind the same
 * lease check. Answers go back through the callbacks the caller passes:
 * nothing here includes the API. */
#ifndef SLOTBOX_POOL_SLOT_SERVICE_H
#define SLOTBOX_POOL_SLOT_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "pool/seed_job.h"
#include "pool/slot_cmd.h"
#include "sandbox/exec.h"
#include "sandbox/files.h"
#include "sandbox/slot_pty.h"

/* Why a slot cannot take a call. */
enum slot_lease_check {
	SLOT_LEASE_LIVE,  /* leased and usable */
	SLOT_LEASE_ENDED, /* the id names an earlier lease (stale) */
	SLOT_LEASE_NONE,  /* not leased */
	SLOT_LEASE_LOST,  /* leased, but its sandbox or leader died */
};

/* May a call use slot (stale: the id named an earlier lease)? A live
 * lease gets a sign of life (its TTL restarts). */
enum slot_lease_check slot_service_check(struct sbx_slot *slot, bool stale);

/* Set a leased slot's TTL (0: no expiry) and record it; on failure the
 * old TTL holds and -1/errno says why (pool_lease_error_code()). */
int slot_service_renew(struct sbx_slot *slot, double ttl_s);

/* Called by slot_service_release() once the end of the lease is recorded,
 * before it ends (the slot may be freed then: a tombstone's last lease). */
typedef void (*slot_release_fn)(struct sbx_slot *slot, void *ud);

/* End the slot's lease (it must hold one, lost or not): its processes
 * die and it returns to the pool, its workspace reset or not. The end is
 * recorded first, so that a restart never undoes a release answered as
 * done: 0, or -1/errno with the lease untouched (pool_lease_error_code(),
 * pool_error_status()). recorded (may be NULL) runs in between. */
int slot_service_release(struct sbx_slot *slot, bool reset,
			 slot_release_fn recorded, void *ud);

/* Start a command on a leased slot; done fires later unless this fails
 * (-1, err). A call (as_call) keeps the slot executing until
 * slot_service_call_end(); a background process, or the command of a pty
 * call already counted by slot_service_pty_open(), does not count. */
int slot_service_exec(struct sbx_slot *slot, const struct exec_spec *spec,
		      bool as_call, exec_done_fn done, void *ud,
		      struct exec_call **call, struct sb_err *err);

/* Ask the slot for a terminal (slot_pty.h); as_call counts a call from
 * now on, as slot_service_exec does. */
int slot_service_pty_open(struct sbx_slot *slot, unsigned rows, unsigned cols,
			  bool as_call, slot_pty_fn cb, void *ud,
			  struct sb_err *err);

/* A file operation (files.h) on a leased slot; as_call as above (the
 * read_file and write_file tools of exec count, the file endpoints do
 * not). */
int slot_service_file(struct sbx_slot *slot, const struct sb_file_req *req,
		      const void *in_data, size_t in_len, double timeout_s,
		      bool as_call, const struct file_op_cbs *cbs, void *ud,
		      struct file_op **op, struct sb_err *err);

/* A call counted by one of the above ended (its answer is out, or it
 * never started after all). */
void slot_service_call_end(struct sbx_slot *slot);

/* Kill a running command's tree (its done follows), or let a streamed
 * one's output flow again after its reader caught up. */
void slot_service_cancel(struct exec_call *call);
/* Send sig to a running command's process group (a background process). */
void slot_service_signal(struct exec_call *call, int sig);
void slot_service_resume_output(struct exec_call *call);

/* Does the slot's sandbox still start from its profile's template (a
 * fork copies the workspace's difference from it)? */
bool slot_service_template_current(const struct sbx_slot *slot);

/* Fork a leased slot: sr (count, trajectory ids, ttl, timeout) gets the
 * source and template filled in and runs as a seed job of the slot's
 * pool (seed_job.h). */
int slot_service_fork(struct sbx_slot *slot, struct pool_seed_req *sr,
		      pool_seed_fn cb, void *ud, struct pool_seed **job,
		      struct sb_err *err);

/* Save a leased slot's workspace as a snapshot (seed_job.h pool_snapshot). */
int slot_service_snapshot(struct snapshot_store *st, struct sbx_slot *slot,
			  const char *name, pool_snapshot_fn cb, void *ud,
			  struct sb_err *err);

/* A user of the lease's network namespace (a port proxy's connection):
 * join, leave, and the namespace (sandbox.h sandbox_slot_netns). */
void slot_service_lease_join(struct sbx_slot *slot, struct sbx_lease_user *u);
void slot_service_lease_leave(struct sbx_slot *slot, struct sbx_lease_user *u);
int slot_service_netns(struct sbx_slot *slot, struct sbx_lease_user *u);

/* Count one finished exec call of profile in the metrics: its tool, its
 * error class (NULL: none), whether its output was cut, how long it ran. */
void slot_service_call_metrics(const char *profile, const char *tool,
			       const char *error_class, bool truncated,
			       double seconds);

#endif
