/* cgroup.h - the daemon's side of cgroups: find the hierarchy, make one
 * group per sandbox, remove them when the sandbox is gone.
 *
 * One interface over cgroup v2 (unified, also the hybrid layout's
 * /sys/fs/cgroup/unified) and cgroup v1 (the freezer hierarchy, which is
 * what tree-killing needs). Resource controllers come on top of this. */
#ifndef SLOTBOX_SANDBOX_CGROUP_H
#define SLOTBOX_SANDBOX_CGROUP_H

#include <limits.h>

#include "common/err.h"
#include "sandbox/calltree.h"

struct cg_root {
	enum cg_mode mode;
	char path[PATH_MAX]; /* this daemon's group: <mount>/slotbox/<inst> */
	int fd;		     /* open dir of path, -1 in CG_NONE */
};

/* Detect the hierarchy and create this daemon's group. mount_override
 * (may be NULL) names a cgroup v2 or v1 freezer mount to use instead of
 * detection ("none" disables cgroups). Never fails hard: without a usable
 * hierarchy mode becomes CG_NONE and *why says why. */
void cg_root_setup(struct cg_root *r, const char *mount_override,
		   const char *instance, char *why, size_t whylen);

const char *cg_mode_name(enum cg_mode mode);

/* Create the group for a sandbox and return an O_DIRECTORY fd (or -1). */
int cg_sandbox_create(const struct cg_root *r, const char *sandbox_id,
		      int *fd_out, struct sb_err *err);

/* Kill whatever is left in a sandbox's group and remove it with its
 * children; -1/EBUSY while tasks are still exiting (retry later). */
int cg_sandbox_remove(const struct cg_root *r, const char *sandbox_id);

/* Remove this daemon's (empty) group at shutdown. */
void cg_root_teardown(struct cg_root *r);

#endif
