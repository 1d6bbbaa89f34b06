/* SPDX-License-Identifier: Apache-2.0 */
/* seed_job.h - lease slots that start from a given workspace: fork (a copy of
 * a leased slot's workspace) and acquire from a snapshot.
 *
 * A job reserves `count` slots of the pool in the acquire queue (FIFO,
 * the same deadline rules), restarts each with an empty generation
 * (sandbox_seed_begin), copies the source into them once every one is
 * ready (copy_plan.h: the source frozen for one copy), starts their
 * leaders and, once all said hello, leases them all at once (journaled
 * like any lease). On any failure every reserved slot is reset and goes
 * back to the pool, and nothing is leased: all or nothing. */
#ifndef SLOTBOX_POOL_SEED_JOB_H
#define SLOTBOX_POOL_SEED_JOB_H

#include <jansson.h>

#include "pool/pool.h"

#define SEED_MAX_COUNT 128
#define SEED_MAX_ENTRIES 10000000

struct pool_seed;

struct pool_seed_req {
	int count;			   /* 1..SEED_MAX_COUNT */
	const char *const *trajectory_ids; /* count of them, or NULL */
	double ttl_s;			   /* of each new lease; 0 none */
	double timeout_s;		   /* to get the slots */
	/* The source: a leased slot (its lease id), or a directory. */
	const char *src_slot;
	const char *src_dir;
	bool src_overlay;	 /* src_dir holds an overlay upper layer */
	const char *template_id; /* what the source is layered on ("") */
	/* Called once the source is no longer read (copied, or the job
	 * failed), whatever happens; may be NULL. */
	void (*src_done)(void *ud);
	void *src_done_ud;
};

/* slots (n of them) on success, else NULL with an HTTP status, an API
 * error code and a message. Stats of the copy for the answer and logs. */
struct pool_seed_result {
	struct sbx_slot *const *slots;
	int n;
	int status;
	const char *code;
	const char *msg;
	uint64_t bytes, entries;
	double copy_ms, frozen_ms, total_ms;
};
typedef void (*pool_seed_fn)(const struct pool_seed_result *r, void *ud);

/* Start a job; cb fires once, later. -1 with err when it cannot start
 * (out of memory); req->src_done is called either way. */
int pool_seed(struct pool *p, const struct pool_seed_req *req, pool_seed_fn cb,
	      void *ud, struct pool_seed **out, struct sb_err *err);

/* The client went away: cb never fires; the slots go back to the pool. */
void pool_seed_cancel(struct pool_seed *j);

/* Save a leased slot's workspace as snapshot `name` (snapshots.h): the
 * slot is frozen while its files are copied. cb gets 201 with the
 * snapshot's meta (reference stolen), or an HTTP status, API code and
 * message. Returns -1 with err (status, code, msg) when it cannot start
 * (bad or taken name, too many snapshots); cb is not called then. */
struct snapshot_store;
typedef void (*pool_snapshot_fn)(int status, const char *code, const char *msg,
				 json_t *meta, void *ud);
int pool_snapshot(struct snapshot_store *st, struct sbx_slot *slot,
		  const char *name, pool_snapshot_fn cb, void *ud,
		  struct sb_err *err);

/* Events of reserved slots (slot->reserved set), from pool.c. */
void pool_seed_slot_ready(struct sbx_slot *slot, int err, const char *why);
void pool_seed_slot_up(struct sbx_slot *slot);
void pool_seed_slot_lost(struct sbx_slot *slot, const char *why);

#endif
