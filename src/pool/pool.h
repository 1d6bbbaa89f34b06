/* SPDX-License-Identifier: Apache-2.0 */
/* pool.h - one pool of warm sandboxes per profile, and the leases on their
 * slots.
 *
 * Acquire is FIFO across waiters with a deadline each; a waiter is woken
 * the moment a slot frees or a new sandbox's slot comes up (no polling).
 * The pool keeps min_sandboxes warm, grows on demand up to max_sandboxes
 * (an acquire that leaves fewer than prestart_slots slots free or starting
 * starts the next sandbox ahead) with at most POOL_MAX_STARTING sandboxes
 * starting at once, and stops
 * sandboxes idle past idle_timeout or older than max_lifetime, never one
 * that holds a lease. Capacity counts live sandboxes only. */
#ifndef SLOTBOX_POOL_POOL_H
#define SLOTBOX_POOL_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/profile.h"
#include "config/secrets.h"
#include "pool/pool_slot.h"
#include "pool/sandbox_index.h"
#include "sandbox/sandbox.h"

#define POOL_MAX_STARTING 4

struct pool_waiter;
struct journal;

/* slot is NULL on failure, with an API error code and a message. */
typedef void (*pool_acquire_fn)(struct sbx_slot *slot, const char *code,
				const char *msg, void *ud);

struct pool {
	struct pools *owner;
	const struct sb_profile *profile;
	const struct sb_secret_env *secrets; /* injected into every call */
	struct sandbox *sandboxes;	     /* live and dead-but-leased */
	struct sandbox *sandboxes_tail;	     /* where the next is linked */
	/* The linked sandboxes with a slot that is not acquired, executing
	 * or broken, in no order (pool_note_move): what an acquire that
	 * waits looks through for slots soon free, so that at 1,000 full
	 * sandboxes it does not walk them all (it was a fifth of the
	 * daemon's CPU in the last of 10,000 leases). */
	struct sandbox *open;
	/* No sandbox before this one in list order has an available slot
	 * (NULL: look from the head): where pool_find_available starts, so
	 * that a pool of full sandboxes is not walked at each acquire. Kept
	 * by pool_find_available, pool_note_move and the unlink. */
	struct sandbox *first_free;
	uint64_t link_seq; /* the last sandbox linked's pool_seq */
	int n_live;	   /* starting + running */
	int n_starting;
	/* Slots available or starting in the linked sandboxes, a starting
	 * sandbox's included (pool_note_move): what pool_prestart() weighs
	 * against the profile's prestart_slots without a scan. */
	int n_soon;
	struct pool_waiter *wait_head, *wait_tail;
	int n_waiters;
	int start_failures;   /* consecutive; drives back-off */
	char last_error[192]; /* why the last start failed, "" after one ran */
	double backoff_until;
	uint64_t created, destroyed, lost;
	bool active; /* has served an acquire or keeps min warm */
};

struct pools {
	struct sb_config *cfg;
	struct sbx_env *env;
	struct pool *items;
	size_t n;
	uv_timer_t tick;
	unsigned char *numbers; /* sandbox numbers in use */
	int max_numbers;
	struct sandbox_index index; /* every linked sandbox, by id */
	bool stopping;
	bool keep_on_stop;	 /* leave sandboxes running at stop */
	struct journal *journal; /* NULL: none */
	void (*stopped)(void *ud);
	void *stopped_ud;
};

/* journal may be NULL (nothing survives a restart). Adopts what the
 * journal records before starting anything new. */
int pools_init(struct pools *ps, struct sb_config *cfg, struct sbx_env *env,
	       struct journal *journal, struct sb_err *err);
struct pool *pools_find(struct pools *ps, const char *profile);
/* The slot slot_id names, or NULL. *stale (may be NULL) says slot_id names
 * an earlier lease of it (released or expired): only reads may use it. */
struct sbx_slot *pools_find_slot(struct pools *ps, const char *slot_id,
				 bool *stale);

/* Lease a slot. Returns 1 with *out set when one was free, 0 when queued
 * (cb fires later, *waiter set so the caller can cancel), -1/errno when
 * the lease could not be recorded (ENOSPC: pool_lease_error_code()) or
 * memory is short. A queued one may end in cb with that code too. */
int pool_acquire(struct pool *p, const char *trajectory_id, double ttl_s,
		 double timeout_s, struct sbx_slot **out, pool_acquire_fn cb,
		 void *ud, struct pool_waiter **waiter);
/* Like pool_acquire, in the same queue, but the slot is reserved for
 * `ud` (its pool_slot's reserved = ud, state releasing) instead of leased: a
 * seed job (seed_job.h) restarts it with a given workspace and leases it
 * itself. */
int pool_reserve(struct pool *p, double timeout_s, struct sbx_slot **out,
		 pool_acquire_fn cb, void *ud, struct pool_waiter **waiter);
/* Forget a queued waiter (client went away); cb never fires. */
void pool_acquire_cancel(struct pool_waiter *w);

/* End a lease. The slot must be leased (pool_slot_of(slot)->leased). The
 * lease ends even when its end cannot be recorded (logged; a restart
 * restores it). */
void pool_release(struct sbx_slot *slot, bool reset);
/* End a lease only once its end is recorded: 0, or -1/errno with the
 * lease untouched (EMFILE, ENOMEM: pool_lease_error_code()), so that a
 * release answered as done is never undone by a restart. */
int pool_release_recorded(struct sbx_slot *slot, bool reset);
/* The two halves of pool_release_recorded(), for a caller that acts in
 * between (the end is recorded, the slot not yet freed): record the end
 * of the lease (0 or -1/errno), then end it. */
int pool_journal_unlease(struct pools *ps, const struct sbx_slot *slot);
void pool_end_lease(struct sbx_slot *slot, bool reset);

/* Mark the slot busy/idle around a call. */
void pool_slot_exec_begin(struct sbx_slot *slot);
void pool_slot_exec_end(struct sbx_slot *slot);

/* Counters for /v1/status. */
struct pool_counts {
	int sandboxes, healthy, starting, total_slots, available, leased,
		waiters;
};
void pool_counts(const struct pool *p, struct pool_counts *c);

/* Kill every sandbox; stopped(ud) once all are gone. With ps->keep_on_stop
 * the sandboxes are left running for the next daemon instead (their calls
 * fail, their leases stay in the journal) and stopped(ud) comes at once. */
void pools_shutdown(struct pools *ps, void (*stopped)(void *), void *ud);

/* pool_journal.c: record sandboxes and leases (no-ops without a journal),
 * and take over what a previous daemon recorded (called by pools_init). */
int pool_journal_sandbox(struct pools *ps, const struct sandbox *sb);
void pool_journal_forget_sandbox(struct pools *ps, const struct sandbox *sb);
int pool_journal_lease(struct pools *ps, const struct sbx_slot *slot);
void pools_adopt(struct pools *ps);

extern const struct sandbox_ops pool_sandbox_ops;

/* acquire.c internals shared with pool.c */
void pool_offer(struct pool *p, struct sbx_slot *slot);
void pool_fail_waiters(struct pool *p, const char *code, const char *msg);
void pool_scale(struct pool *p);
/* Link sb into its pool (last: acquire order) and the pools' index by id;
 * pool_unlink_sandbox undoes both. */
void pool_link_sandbox(struct pool *p, struct sandbox *sb);
/* acquire.c: sb's place on the pool's open list after its counts
 * changed; off the list (unlinking it). */
void pool_open_update(struct pool *p, struct sandbox *sb);
void pool_open_remove(struct pool *p, struct sandbox *sb);
/* After an acquire: what pool_scale does, and start sandboxes ahead of
 * demand while fewer than the profile's prestart_slots are available or
 * starting (n_soon), within max_sandboxes and POOL_MAX_STARTING. */
void pool_prestart(struct pool *p);
struct sbx_slot *pool_find_available(struct pool *p);
/* Lease slot to trajectory_id, its state moving by ev (SLOT_EV_ACQUIRE;
 * SLOT_EV_SEEDED for a seed job's slot, SLOT_EV_RESTORE for a journaled
 * lease after a restart) once the journal holds it. 0, or -1/errno
 * (EINVAL: ev is not allowed in the slot's state; nothing changed). */
int pool_lease(struct sbx_slot *slot, enum slot_event ev,
	       const char *trajectory_id, double ttl_s);
/* The API error code for pool_lease()'s errno: "insufficient_storage"
 * (the state dir is full), "unavailable" (out of fds or memory: retry) or
 * "internal"; pool_error_status() gives the HTTP status of such a code
 * (507, 503, else 500; 503 for "acquire_timeout" too). */
const char *pool_lease_error_code(int e);
int pool_error_status(const char *code);
void pool_reserve_slot(struct sbx_slot *slot, void *by);
/* Take sb out of the pool and free it, with its journal records and its
 * number (a dead sandbox whose last lease ended, a tombstone). */
void pool_unlink_sandbox(struct pool *p, struct sandbox *sb);

#endif
