/* SPDX-License-Identifier: Apache-2.0 */
/* snapshots.h - saved workspaces, by name, in <state>/snapshots.
 *
 * A snapshot is what a slot's workspace holds beyond its profile's
 * template (the overlay's upper layer; the whole workspace without a
 * template), copied while the slot is frozen, with a small meta.json: the
 * profile, the template id it is layered on, its size and time. It lives
 * in <name>/tree, files owned by an unprivileged uid (65534) with their
 * modes; a restore copies it into a slot as that slot's own. Names are
 * [A-Za-z0-9_.-]{1,64} without a leading dot. Snapshots outlive the daemon:
 * a directory exists under its final name only once complete (made as
 * .tmp-*, renamed), and deleting renames it away (.trash-*) at once and
 * removes it once no restore reads it; leftovers go at the next start. */
#ifndef SLOTBOX_POOL_SNAPSHOTS_H
#define SLOTBOX_POOL_SNAPSHOTS_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/err.h"
#include "store/store.h"

#define SNAPSHOT_NAME_MAX 64
#define SNAPSHOT_MAX_COUNT 10000
#define SNAPSHOT_MAX_BYTES (INT64_C(16) << 30) /* with disk_mb: 0 */
#define SNAPSHOT_OWNER 65534u
/* Defaults: a profile's snapshot_max_entries, the store-wide cap. */
#define SNAPSHOT_DEFAULT_MAX_ENTRIES 200000
#define SNAPSHOT_DEFAULT_STORE_BYTES (INT64_C(64) << 30)

struct snapshot_use;

struct snapshot_store {
	struct store_dir dir; /* <state>/snapshots (store.h) */
	uv_loop_t *loop;
	struct snapshot_use *uses; /* restores reading a snapshot now */
	/* What the snapshots cost on disk (their metas' "charged": each
	 * entry 4 KiB plus its data in whole blocks, tree_scan.h), and the
	 * store-wide cap on it (0: none) that a new snapshot must fit. */
	uint64_t used;
	uint64_t max_bytes;
};

/* What a restore needs to know of a snapshot. */
struct snapshot_info {
	char name[SNAPSHOT_NAME_MAX + 1];
	char profile[64];
	char template_id[17];
	char tree[PATH_MAX]; /* valid while the use is held */
	struct snapshot_use *use;
};

bool snapshot_name_valid(const char *name);

/* Create (0700) and open <state_dir>/snapshots, removing what an
 * interrupted create or delete left. */
int snapshots_open(struct snapshot_store *s, uv_loop_t *loop,
		   const char *state_dir, struct sb_err *err);
void snapshots_close(struct snapshot_store *s);

/* {"snapshots": [{"name", "profile", "template", "created_at", "bytes",
 * "entries", "source_slot"}...]} sorted by name. */
json_t *snapshots_list(struct snapshot_store *s);

/* Start reading snapshot `name` for a restore: fills info and holds the
 * snapshot's tree until snapshot_release() (a delete meanwhile waits for
 * it). -1 with err (sys_errno ENOENT when there is no such snapshot). */
int snapshot_acquire(struct snapshot_store *s, const char *name,
		     struct snapshot_info *info, struct sb_err *err);
void snapshot_release(struct snapshot_store *s, struct snapshot_use *use);

/* Delete: the name is free when this returns. -1 with ENOENT if none. */
int snapshot_delete(struct snapshot_store *s, const char *name,
		    struct sb_err *err);

/* For a create: a new .tmp-* dir with an empty tree/ in it; its name goes
 * into tmp (NAME_MAX + 1 bytes). Then snapshot_commit() writes meta and
 * gives it its name (-1 with EEXIST when the name is taken), or
 * snapshot_abandon() removes it (on a worker: it may be large). */
int snapshot_stage(struct snapshot_store *s, char *tmp, char *tree,
		   size_t treelen, struct sb_err *err);
int snapshot_commit(struct snapshot_store *s, const char *tmp, const char *name,
		    json_t *meta, struct sb_err *err);
void snapshot_abandon(struct snapshot_store *s, const char *tmp);

/* How many bytes a snapshot may still take: max_bytes - used (or
 * UINT64_MAX without a cap). */
uint64_t snapshots_room(const struct snapshot_store *s);

/* Does a snapshot of this name exist (complete)? How many are there? */
bool snapshot_exists(struct snapshot_store *s, const char *name);
int snapshots_count(struct snapshot_store *s);

#endif
