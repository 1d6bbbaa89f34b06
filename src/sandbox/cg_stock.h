/* SPDX-License-Identifier: Apache-2.0 */
/* cg_stock.h - the next slot's cgroup v1 memory group, made ahead in a
 * worker thread (cg_stock.c). The loop's side: take a group, ask for the
 * next, stop the worker. */
#ifndef SLOTBOX_SANDBOX_CG_STOCK_H
#define SLOTBOX_SANDBOX_CG_STOCK_H

#include "sandbox/cgroup.h"

/* Make the next slot's memory group ahead, where a first call wanted one
 * (cgroup v1 memory alone, the slots' groups beside the sandboxes'): a
 * memory group costs its mkdir 1-7 ms at thousands of slots, with tails of
 * hundreds (its shrinker counters, docs/bench.md), which neither a first
 * call nor the daemon's loop then waits for. Asks the worker, which it
 * starts the first time, and returns: called once a call has been sent. */
void cg_stock_refill(struct cg_root *r);

/* Wait until the worker has done every refill asked so far (tests). */
void cg_stock_settle(struct cg_root *r);

/* The group made ahead in h, renamed to name (a rename within one parent,
 * which cgroup v1 allows): its fd, or -1 when there is none or the rename
 * failed, and the caller makes the group itself. Marks h as wanting one. */
int cg_stock_take(struct cg_root *r, struct cg_hier *h, const char *name);

/* Stop and join the worker, if there is one, and make none after;
 * idempotent. What it made stays, for the teardown or the next daemon's
 * sweep. */
void cg_stock_stop(struct cg_root *r);

#endif
