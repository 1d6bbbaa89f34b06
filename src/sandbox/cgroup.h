/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup.h - the daemon's side of cgroups: find the hierarchies, make the
 * groups of each sandbox and its slots with their resource limits, remove
 * them when the sandbox is gone.
 *
 * One interface over the three layouts a host can have:
 *   v2      one unified hierarchy (/sys/fs/cgroup, or a --cgroup mount)
 *           kills with cgroup.kill and limits cpu, memory and pids;
 *   hybrid  the unified hierarchy at /sys/fs/cgroup/unified kills, and the
 *           controllers it lacks come from their cgroup v1 hierarchies;
 *   v1      the v1 freezer kills, the v1 cpu, memory, pids hierarchies
 *           limit.
 * Every hierarchy in use holds the same tree:
 *   <mount>/slotbox/<instance>/<sandbox>/s<slot>
 * and the kill hierarchy also a c<call> group below each slot (calltree.h).
 * Limits sit on the sandbox and slot groups, never on a call's group, so a
 * v2 slot group may hold its leader and its calls' groups at once (it
 * enables no controller for its children). A controller that cannot be
 * used is logged and its limit skipped: the daemon still starts. */
#ifndef SLOTBOX_SANDBOX_CGROUP_H
#define SLOTBOX_SANDBOX_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "init/calltree.h"

enum cg_ctl { CG_CPU, CG_MEMORY, CG_PIDS, CG_NCTL };
#define CG_BIT(c) (1u << (c))

/* The kill hierarchy plus at most one v1 hierarchy per controller. */
#define CG_MAX_HIER (1 + CG_NCTL)

struct cg_hier {
	char path[PATH_MAX]; /* this daemon's group: <mount>/slotbox/<inst> */
	int fd;		     /* open dir of path */
	bool v2;
	unsigned ctls; /* CG_BIT()s of the controllers limited here */
	/* cgroup v1 memory alone (slots' groups beside the sandboxes'): a
	 * group made ahead, "stock.<n>", which the next slot's first call
	 * renames to its own (cg_stock.h); 0: none. Under the stock worker's
	 * mutex once it runs. */
	unsigned stock, stock_seq;
	bool stock_wanted; /* a first call took, or wanted, one */
};

struct cg_root {
	enum cg_mode mode; /* of the kill hierarchy, hier[0] */
	bool hybrid;	   /* the unified hierarchy beside v1 mounts */
	int n_hier;	   /* 0 in CG_NONE */
	struct cg_hier hier[CG_MAX_HIER];
	unsigned ctls;		    /* controllers whose limits are enforced */
	char why[CG_NCTL][256];	    /* why a controller is not used, or "" */
	struct cg_stocker *stocker; /* the stock's worker, or NULL */
	bool stock_stopped;	    /* cg_stock_stop ran: none is made */
};

/* What one slot may use; its sandbox may use n_slots times as much, or
 * sandbox_memory_mb of memory when that is set. 0 means no limit; a
 * hierarchy where no controller has a per-slot limit gets no slot groups,
 * and none at all without a sandbox-wide limit either (but the kill
 * hierarchy, which always has both). */
struct cg_limits {
	double cpu; /* cores, fractional */
	int64_t memory_mb;
	int64_t pids_max;
	int64_t sandbox_memory_mb;
	/* A slot gets its memory and cpu limits at its first call, not
	 * with the sandbox (cg_slot_limits_on): a memory cgroup is the
	 * costliest group there is (the kernel keeps in each a counter for
	 * every file system on the host), a cpu quota costs a walk of every
	 * cpu group on the host, and an idle slot runs nothing of the
	 * tenant's: it needs no limit of its own. */
	bool slot_limits_lazy;
};

/* Detect the hierarchies and create this daemon's group in each, removing
 * what a crashed predecessor with the same instance name left there.
 * mount_override (may be NULL) names a cgroup v2 mount (used alone) or a
 * v1 freezer mount (with the v1 controller mounts) instead of detection;
 * "none" disables cgroups. Never fails hard: without a kill hierarchy
 * mode becomes CG_NONE and *why says why; r->why[] says why a controller
 * is missing. Not a struct sb_err (issue 20): setup never fails, and on
 * success why holds the kill hierarchy's path, a status line, not an
 * error; r->why[] are per-controller status strings kept in cg_root. */
void cg_root_setup(struct cg_root *r, const char *mount_override,
		   const char *instance, char *why, size_t whylen);

/* Log the layout in one line (which hierarchy kills, which limits cpu,
 * memory and pids), and a warning for each controller left out. why is
 * what cg_root_setup() said. */
void cg_root_log(const struct cg_root *r, const char *why);

/* "v2", "v1" (freezer, kill hierarchy only), "none". */
const char *cg_mode_name(enum cg_mode mode);

/* The layout: "v2", "hybrid", "v1" or "none". */
const char *cg_version(const struct cg_root *r);

const char *cg_ctl_name(enum cg_ctl c);

/* The hierarchy that limits controller c, or NULL. */
const struct cg_hier *cg_hier_of(const struct cg_root *r, enum cg_ctl c);

/* Create the groups of a sandbox and of its n_slots slots in every
 * hierarchy that needs them (struct cg_limits) and set their limits.
 * fds[i] becomes the sandbox's group in r->hier[i] (an O_DIRECTORY fd; -1
 * where it has none, and from r->n_hier on). Bit i of *flat says that in
 * r->hier[i], a cgroup v1 memory hierarchy, the sandbox has no group: its
 * slots' groups, made at their first calls, are "<sandbox_id>.s<N>" in
 * this daemon's group, which fds[i] is then. On failure nothing is left
 * behind. */
int cg_sandbox_create(const struct cg_root *r, const char *sandbox_id,
		      int n_slots, const struct cg_limits *lim,
		      int fds[CG_MAX_HIER], unsigned *flat, struct sb_err *err);

/* The per-slot memory and cpu limits of a sandbox made with
 * slot_limits_lazy, at the slot's first call: in each cgroup v1 hierarchy
 * of those controllers the slot's own group, made and limited, which its
 * leader must then join (bit 1); in cgroup v2 the controllers for all the
 * sandbox's slot groups at once, which their processes are already in,
 * each limited (bit 2; 2 alone: every slot of the sandbox is done). 0 when
 * the profile sets neither per-slot limit or no hierarchy enforces them;
 * -1 on error. Idempotent. */
int cg_slot_limits_on(struct cg_root *r, const char *sandbox_id, int slot,
		      int n_slots, const struct cg_limits *lim,
		      struct sb_err *err);

/* Kill whatever is left in a sandbox's groups and remove them with their
 * children, in every hierarchy; -1/EBUSY while tasks are still exiting.
 * n_slots is -1 when unknown (its slots' groups beside the sandboxes' are
 * then found by listing). */
int cg_sandbox_remove(const struct cg_root *r, const char *sandbox_id,
		      int n_slots);

/* How many processes the OOM killer has killed in a slot's group so far
 * (the group lim names: cg_slot_limits_on). -1 when memory is not limited
 * per slot or the kernel does not count them (cgroup v1 before Linux
 * 4.13). *fd_cache (-1 at first) keeps the counter file open for the next
 * read, which is read twice a call; the caller closes it. */
int cg_slot_oom_kills(const struct cg_root *r, const char *sandbox_id, int slot,
		      const struct cg_limits *lim, int *fd_cache,
		      uint64_t *count);

/* Remove every sandbox group, in every hierarchy, whose name keep() does
 * not claim (a crashed predecessor's leftovers); keep may be NULL. */
int cg_sweep(const struct cg_root *r, bool (*keep)(const char *id, void *ud),
	     void *ud);

/* Remove this daemon's groups in every hierarchy at shutdown, waiting up
 * to a second for exiting tasks; -1 if some group stayed. */
int cg_root_teardown(struct cg_root *r);

/* cg_freeze.c: the dir of a slot's group in the kill hierarchy ("" when
 * cgroups are off), and freeze or thaw a group dir given by path (any
 * thread). Freezing waits up to a second for every task to stop: -1 with
 * ETIMEDOUT then (the group is left freezing; thaw it), ENOTSUP without
 * cgroups. */
void cg_slot_path(const struct cg_root *r, const char *sandbox_id, int slot,
		  char *buf, size_t len);
int cg_freeze(const char *group, enum cg_mode mode, bool freeze);

/* Lower level, for tests: write the limits of the controllers in ctls
 * into the group dir (cgroup v2 or v1 file names), and read an oom_kill
 * counter from a group dir. */
int cg_write_limits(int dir, bool v2, unsigned ctls,
		    const struct cg_limits *lim, struct sb_err *err);
int cg_read_oom_kills(int dir, bool v2, uint64_t *count);
/* The same from an open counter file, and that file's name. */
int cg_read_oom_kills_fd(int fd, uint64_t *count);
const char *cg_oom_file(bool v2);

/* Write val to dir/file (0 or -1/errno); read dir/file into buf as a
 * string (its length or -1/errno). */
int cg_file_write(int dir, const char *file, const char *val);
ssize_t cg_file_read(int dir, const char *file, char *buf, size_t len);

#endif
