/* SPDX-License-Identifier: Apache-2.0 */
/* sandbox_index.h - the daemon's sandboxes by id, for the lookup every
 * call by slot id makes (pools_find_slot): a hash table, so that finding
 * a slot among 1,000 sandboxes costs what finding it among 10 does.
 *
 * Open addressing with linear probing over a power-of-two table at least
 * twice the most sandboxes there can be (SBX_RANGE_SANDBOXES), so it never
 * fills or grows; removal shifts the entries after it back (no
 * tombstones). Holds pointers only: a sandbox is put when linked into its
 * pool and deleted before it is freed. */
#ifndef SLOTBOX_POOL_SANDBOX_INDEX_H
#define SLOTBOX_POOL_SANDBOX_INDEX_H

#include <stddef.h>

#include "sandbox/sandbox.h"

struct sandbox_index {
	struct sandbox **slots;
	size_t mask; /* table size - 1 */
	size_t n;
};

/* For up to max sandboxes; 0, or -1 (ENOMEM). */
int sandbox_index_init(struct sandbox_index *ix, size_t max);
void sandbox_index_free(struct sandbox_index *ix);
/* Put sb under sb->id (an id already there is replaced); -1 (ENOSPC)
 * when max sandboxes are in. */
int sandbox_index_put(struct sandbox_index *ix, struct sandbox *sb);
/* Take sb out, if it is in. */
void sandbox_index_del(struct sandbox_index *ix, const struct sandbox *sb);
/* The sandbox whose id is the len bytes at id, or NULL. */
struct sandbox *sandbox_index_get(const struct sandbox_index *ix,
				  const char *id, size_t len);

#endif
