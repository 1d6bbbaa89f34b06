/* SPDX-License-Identifier: Apache-2.0 */
/* tree_scan.h - what a copy of a tree would cost, before it is made.
 *
 * A snapshot lands on the host's disk, where every entry costs an inode
 * and a block even when it holds no data (30,000 empty dirs are 40 KiB in
 * a slot's tmpfs and over 100 MB on ext4). The scan walks the source the
 * way tree_copy() does (relative to open dirs, never following a symlink)
 * and charges each entry TREE_SCAN_ENTRY_BYTES plus its allocated data
 * rounded up to whole blocks, stopping as soon as a bound is passed, so
 * that a copy that would be too large is refused before anything is
 * written. Safe on a worker thread. */
#ifndef SLOTBOX_SANDBOX_TREE_SCAN_H
#define SLOTBOX_SANDBOX_TREE_SCAN_H

#include <stdint.h>

#include "common/err.h"

#define TREE_SCAN_ENTRY_BYTES 4096u

struct tree_scan_stats {
	uint64_t entries; /* below the root */
	uint64_t charged; /* bytes, as described above */
};

/* Scan what dir holds. 0, or -1 with err: sys_errno EFBIG once more than
 * max_entries entries or max_bytes charged bytes are seen (0: no bound;
 * st then holds the counts so far, past the bound), ELOOP past
 * TREE_COPY_MAX_DEPTH, or the failing call's errno. */
int tree_scan(int dir, uint64_t max_bytes, uint64_t max_entries,
	      struct tree_scan_stats *st, struct sb_err *err);

#endif
