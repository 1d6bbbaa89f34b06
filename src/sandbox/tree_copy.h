/* SPDX-License-Identifier: Apache-2.0 */
/* tree_copy.h - copy a directory tree that its owner may still be changing.
 *
 * Forks and snapshots copy a slot's own workspace files (the upper layer
 * of its workspace overlay) into another slot or the snapshot store;
 * templates copy an operator's directory into the daemon's state dir. The
 * source is untrusted: every lookup is relative to an open directory and
 * never follows a symlink, so a tree changed under the walk (a dir swapped
 * for a link) can make the copy fail or differ, never reach outside the
 * source or the destination. Modes, times, symlinks, hard links, FIFOs,
 * sparse files and the allowed extended attributes are kept; the owner of
 * everything made is the caller's (a slot's files become another slot's).
 * Safe to run on a worker thread: no globals, no signals. */
#ifndef SLOTBOX_SANDBOX_TREE_COPY_H
#define SLOTBOX_SANDBOX_TREE_COPY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define TREE_COPY_MAX_DEPTH 256

struct tree_copy_opts {
	uid_t uid; /* owner of everything created */
	gid_t gid;
	/* An overlay upper layer: copy whiteouts (char 0:0) and the overlay
	 * xattrs that shape the merged view (opaque, redirect). Elsewhere
	 * device nodes are skipped. */
	bool overlay;
	uint64_t max_bytes;   /* of file data; 0 = no bound */
	uint64_t max_entries; /* 0 = no bound */
};

struct tree_copy_stats {
	uint64_t entries; /* everything made, the root excluded */
	uint64_t bytes;	  /* file data copied (holes excluded) */
	uint64_t skipped; /* sockets and devices left out */
};

/* Copy what src_dir holds into dst_dir (an empty directory) and give
 * dst_dir src_dir's mode, times and xattrs. 0, or -1 with err (its
 * sys_errno: ENOSPC when the destination is full, EFBIG past max_bytes or
 * max_entries, ELOOP past TREE_COPY_MAX_DEPTH). On failure dst_dir holds a
 * partial copy that the caller discards. st may be NULL. */
int tree_copy(int src_dir, int dst_dir, const struct tree_copy_opts *o,
	      struct tree_copy_stats *st, struct sb_err *err);

#endif
