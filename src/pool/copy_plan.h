/* SPDX-License-Identifier: Apache-2.0 */
/* copy_plan.h - copy one workspace to several places off the event loop.
 *
 * Forks, snapshots and restores copy trees whose size the client decides;
 * the copy runs on libuv's thread pool so the loop keeps serving. The
 * source is copied once (frozen meanwhile when a group is named, so the
 * copy is one moment's state and the freeze lasts one copy), the other
 * destinations are copied from the first. */
#ifndef SLOTBOX_POOL_COPY_PLAN_H
#define SLOTBOX_POOL_COPY_PLAN_H

#include <limits.h>
#include <stdbool.h>
#include <uv.h>

#include "common/err.h"
#include "init/calltree.h"
#include "sandbox/tree_copy.h"
#include "sandbox/tree_scan.h"

struct copy_dst {
	char path[PATH_MAX]; /* an existing, empty directory */
	uid_t uid;	     /* owner of what is copied there */
};

struct copy_plan {
	/* in: set by the caller before copy_plan_start() */
	char src[PATH_MAX];
	char freeze[PATH_MAX]; /* cgroup dir to freeze while src is read */
	enum cg_mode cg_mode;
	bool overlay; /* src is an overlay upper layer (tree_copy.h) */
	/* The process whose root src goes through (a sandbox's init, by
	 * pid and start time; 0: src is a plain dir): a copy that failed
	 * because it died is a lost sandbox, not an internal error. */
	pid_t src_pid;
	uint64_t src_start;
	uint64_t max_bytes, max_entries;
	/* With prescan, src is scanned (tree_scan.h) before anything is
	 * copied, against scan_max_entries and the smaller of
	 * scan_max_bytes (the profile's) and scan_room (the store's): too
	 * large fails with EFBIG and nothing written. */
	bool prescan;
	uint64_t scan_max_bytes, scan_room, scan_max_entries;
	int n;
	struct copy_dst *dst;		    /* n entries, the caller's */
	void (*done)(struct copy_plan *cp); /* on the loop thread */
	void *ud;
	/* out */
	int rc; /* 0 or -1 with err */
	struct sb_err err;
	struct tree_copy_stats st;   /* of the first copy */
	struct tree_scan_stats scan; /* with prescan */
	double copy_ms, frozen_ms;
	bool frozen; /* the source was frozen for its copy */
	/* private */
	uv_work_t work;
};

/* Queue the copy; done(cp) follows on the loop thread. 0 or -1/errno
 * (done never called then). */
int copy_plan_start(uv_loop_t *loop, struct copy_plan *cp);

/* The same, synchronously on the calling thread. */
void copy_plan_run(struct copy_plan *cp);

/* After a failed copy: did the source's sandbox die (src_pid)? */
bool copy_plan_source_lost(const struct copy_plan *cp);

#endif
