/* SPDX-License-Identifier: Apache-2.0 */
/* uid_range.h - each daemon on a host its own range of slot uids.
 *
 * Per-user kernel limits (inotify instances, mqueue bytes, pipe pages,
 * RLIMIT_NPROC) count by uid, so two daemons whose slots shared uids would
 * share those limits. Ranges are files UID_RANGE_DIR/<k> (range k: uids
 * SBX_UID_BASE + k * SBX_RANGE_UIDS onwards), each held with a shared
 * flock(2) by its daemon and inherited by every sandbox init it starts:
 * the range stays taken while any of them lives, and frees itself when the
 * last one dies (a crash included), with nothing to clean up. The file
 * names its owner's state dir, so that a restarted daemon gets its old
 * range back, also while its orphaned sandboxes still hold it. Allocation
 * runs under an exclusive lock on UID_RANGE_DIR/lock. */
#ifndef SLOTBOX_SANDBOX_UID_RANGE_H
#define SLOTBOX_SANDBOX_UID_RANGE_H

#include <sys/types.h>

#include "common/err.h"

#define UID_RANGE_DIR "/run/slotbox/uids"
#define UID_RANGE_MAX 200 /* ranges per host: uids stay below 2^31 */

/* Take a range for the daemon of state_dir (the caller holds that state
 * dir's lock): the one that names it if any, else a free one. *base is its
 * first uid, *lock_fd the held range file (close-on-exec; keep it open
 * for the daemon's life). 0 or -1 with err. */
int uid_range_take(const char *dir, const char *state_dir, uid_t *base,
		   int *lock_fd, struct sb_err *err);

#endif
