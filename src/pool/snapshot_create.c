/* SPDX-License-Identifier: Apache-2.0 */
/* snapshot_create.c - save a slot's workspace as a snapshot (seed_job.h).
 *
 * The copy goes into a staging dir of the store on a worker thread, with
 * the slot frozen for its length; the loop thread then writes the meta and
 * gives the dir its name, refusing a name taken meanwhile. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "pool/copy_plan.h"
#include "pool/seed_job.h"
#include "pool/snapshots.h"
#include "sandbox/tree_scan.h"

struct snap_job {
	struct snapshot_store *st;
	pool_snapshot_fn cb;
	void *ud;
	char name[SNAPSHOT_NAME_MAX + 1];
	char tmp[NAME_MAX + 1];
	char profile[64];
	char template_id[17];
	char source[128];
	struct copy_dst dst;
	struct copy_plan cp;
};

static void done(struct copy_plan *cp)
{
	struct snap_job *j = cp->ud;
	struct sb_err err;
	/* Others may have filled the store meanwhile: the cap holds. */
	if (cp->rc == 0 && j->st->max_bytes &&
	    cp->scan.charged > snapshots_room(j->st))
		cp->rc = sb_err_set(&cp->err, EFBIG, "%s",
				    "the snapshot store has no room left for "
				    "it (--snapshot-store-max-bytes)");
	if (cp->rc < 0 && copy_plan_source_lost(cp)) {
		/* its sandbox died while it was copied */
		snapshot_abandon(j->st, j->tmp);
		j->cb(502, "sandbox_lost", "the slot's sandbox is gone", NULL,
		      j->ud);
		free(j);
		return;
	}
	if (cp->rc < 0) {
		int e = cp->err.sys_errno;
		snapshot_abandon(j->st, j->tmp);
		j->cb(e == EFBIG    ? 413
		      : e == ENOSPC ? 507
				    : 500,
		      e == EFBIG    ? "snapshot_too_large"
		      : e == ENOSPC ? "insufficient_storage"
				    : "internal",
		      cp->err.msg, NULL, j->ud);
		free(j);
		return;
	}
	json_t *meta = json_pack(
		"{s:s, s:s, s:s, s:f, s:I, s:I, s:I, s:f, s:b}", "profile",
		j->profile, "template", j->template_id, "source_slot",
		j->source, "created_at", sb_now_wall(), "bytes",
		(json_int_t)cp->st.bytes, "entries", (json_int_t)cp->st.entries,
		"charged", (json_int_t)cp->scan.charged, "copy_ms", cp->copy_ms,
		"frozen", cp->frozen);
	if (!meta || snapshot_commit(j->st, j->tmp, j->name, meta, &err) < 0) {
		bool taken = meta && err.sys_errno == EEXIST;
		snapshot_abandon(j->st, j->tmp);
		j->cb(taken ? 409 : 500, taken ? "snapshot_exists" : "internal",
		      meta ? err.msg : "out of memory", NULL, j->ud);
		json_decref(meta);
		free(j);
		return;
	}
	char ms[32], bytes[24];
	snprintf(ms, sizeof ms, "%.1f", cp->copy_ms);
	snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)cp->st.bytes);
	sb_log(SB_LOG_INFO, "snapshot_saved", "snapshot", j->name, "slot",
	       j->source, "bytes", bytes, "ms", ms, SB_LOG_END);
	json_object_set_new(meta, "name", json_string(j->name));
	j->cb(201, NULL, NULL, meta, j->ud);
	free(j);
}

int pool_snapshot(struct snapshot_store *st, struct sbx_slot *slot,
		  const char *name, pool_snapshot_fn cb, void *ud,
		  struct sb_err *err)
{
	const struct sandbox *sb = slot->sb;
	if (!snapshot_name_valid(name))
		return sb_err_api(err, 400, "bad_request", "%s",
				  "name must be 1-64 of A-Z a-z 0-9 _ . - "
				  "(not starting with .)");
	if (snapshot_exists(st, name))
		return sb_err_api(err, 409, "snapshot_exists",
				  "a snapshot \"%s\" exists", name);
	if (snapshots_count(st) >= SNAPSHOT_MAX_COUNT)
		return sb_err_api(err, 507, "insufficient_storage", "%s",
				  "too many snapshots");
	if (snapshots_room(st) < TREE_SCAN_ENTRY_BYTES)
		return sb_err_api(
			err, 413, "snapshot_too_large",
			"the snapshot store is full: %llu of %llu bytes "
			"used (--snapshot-store-max-bytes)",
			(unsigned long long)st->used,
			(unsigned long long)st->max_bytes);
	if (strcmp(sb->template_id, sb->profile->template_id) != 0)
		return sb_err_api(err, 409, "template_mismatch", "%s",
				  "the profile's template changed since this "
				  "slot started");
	struct snap_job *j = calloc(1, sizeof *j);
	if (!j)
		return sb_err_api(err, 500, "internal", "%s", "out of memory");
	if (snapshot_stage(st, j->tmp, j->dst.path, sizeof j->dst.path, err) <
	    0) {
		free(j);
		err->status = 500;
		err->code = "internal";
		return -1;
	}
	j->st = st;
	j->cb = cb;
	j->ud = ud;
	snprintf(j->name, sizeof j->name, "%s", name);
	snprintf(j->profile, sizeof j->profile, "%s", sb->profile->name);
	snprintf(j->template_id, sizeof j->template_id, "%s", sb->template_id);
	snprintf(j->source, sizeof j->source, "%s", slot->id);
	j->dst.uid = SNAPSHOT_OWNER;
	struct copy_plan *cp = &j->cp;
	sandbox_ws_path(slot, slot->gen, cp->src, sizeof cp->src);
	cp->src_pid = sb->pid;
	cp->src_start = sb->start_time;
	cg_slot_path(&sb->env->cg, sb->id, slot->index, cp->freeze,
		     sizeof cp->freeze);
	cp->cg_mode = sb->env->cg.mode;
	cp->overlay = sb->template_id[0] != '\0';
	cp->max_bytes = sb->profile->disk_mb > 0
				? (uint64_t)sb->profile->disk_mb << 20
				: (uint64_t)SNAPSHOT_MAX_BYTES;
	cp->max_entries = SEED_MAX_ENTRIES;
	/* Counted before anything is written: entries and their cost on
	 * the host's disk against the profile and the store (tree_scan.h). */
	cp->prescan = true;
	cp->scan_max_bytes = sb->profile->snapshot_max_bytes > 0
				     ? (uint64_t)sb->profile->snapshot_max_bytes
				     : cp->max_bytes;
	cp->scan_room = snapshots_room(st);
	cp->scan_max_entries = (uint64_t)sb->profile->snapshot_max_entries;
	cp->n = 1;
	cp->dst = &j->dst;
	cp->done = done;
	cp->ud = j;
	if (copy_plan_start(sb->env->loop, cp) < 0) {
		snapshot_abandon(st, j->tmp);
		free(j);
		return sb_err_api(err, 500, "internal", "%s",
				  "cannot queue the copy");
	}
	return 0;
}
