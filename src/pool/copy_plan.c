/* SPDX-License-Identifier: Apache-2.0 */
/* copy_plan.c - see copy_plan.h. */
#include "pool/copy_plan.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "sandbox/cgroup.h"

static int copy_one(const struct copy_plan *cp, const char *src,
		    const struct copy_dst *d, struct tree_copy_stats *st,
		    struct sb_err *err)
{
	_cleanup_fd_ int s = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s < 0)
		return sb_err_sys(err, "open the source workspace");
	_cleanup_fd_ int t = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t < 0)
		return sb_err_sys(err, "open the new workspace");
	struct tree_copy_opts o = {.uid = d->uid,
				   .gid = d->uid,
				   .overlay = cp->overlay,
				   .max_bytes = cp->max_bytes,
				   .max_entries = cp->max_entries};
	return tree_copy(s, t, &o, st, err);
}

static int prescan(struct copy_plan *cp)
{
	_cleanup_fd_ int s = open(cp->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s < 0)
		return sb_err_sys(&cp->err, "open the source workspace");
	bool room_first = cp->scan_room < cp->scan_max_bytes;
	uint64_t max = room_first ? cp->scan_room : cp->scan_max_bytes;
	struct sb_err e;
	if (tree_scan(s, max ? max : 1, cp->scan_max_entries, &cp->scan, &e) ==
	    0)
		return 0;
	if (e.sys_errno != EFBIG)
		return sb_err_set(&cp->err, e.sys_errno, "%s", e.msg);
	if (cp->scan_max_entries && cp->scan.entries > cp->scan_max_entries)
		return sb_err_set(&cp->err, EFBIG,
				  "the workspace has more than %llu entries "
				  "(snapshot_max_entries)",
				  (unsigned long long)cp->scan_max_entries);
	return sb_err_set(&cp->err, EFBIG,
			  "the workspace counts more than %llu bytes (%s; "
			  "every file, dir and link counts %u bytes plus its "
			  "data in whole %u-byte blocks)",
			  (unsigned long long)max,
			  room_first ? "what the snapshot store has left"
				     : "snapshot_max_bytes",
			  TREE_SCAN_ENTRY_BYTES, TREE_SCAN_ENTRY_BYTES);
}

void copy_plan_run(struct copy_plan *cp)
{
	double t0 = sb_now_mono();
	cp->rc = 0;
	cp->frozen = false;
	/* Best effort: without cgroups (or when the group will not settle)
	 * the copy goes on with a running source, as the docs say. */
	if (cp->freeze[0])
		cp->frozen = cg_freeze(cp->freeze, cp->cg_mode, true) == 0;
	if (cp->prescan)
		cp->rc = prescan(cp);
	if (cp->n > 0 && cp->rc == 0)
		cp->rc = copy_one(cp, cp->src, &cp->dst[0], &cp->st, &cp->err);
	if (cp->freeze[0])
		cg_freeze(cp->freeze, cp->cg_mode, false);
	cp->frozen_ms = cp->frozen ? (sb_now_mono() - t0) * 1000 : 0;
	struct tree_copy_stats st;
	for (int i = 1; i < cp->n && cp->rc == 0; i++)
		cp->rc = copy_one(cp, cp->dst[0].path, &cp->dst[i], &st,
				  &cp->err);
	cp->copy_ms = (sb_now_mono() - t0) * 1000;
}

static void work_cb(uv_work_t *w)
{
	copy_plan_run(w->data);
}

static void after_cb(uv_work_t *w, int status)
{
	struct copy_plan *cp = w->data;
	if (status < 0 && cp->rc == 0)
		cp->rc = sb_err_set(&cp->err, ECANCELED, "copy cancelled");
	cp->done(cp);
}

int copy_plan_start(uv_loop_t *loop, struct copy_plan *cp)
{
	cp->work.data = cp;
	int r = uv_queue_work(loop, &cp->work, work_cb, after_cb);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

bool copy_plan_source_lost(const struct copy_plan *cp)
{
	return cp->src_pid > 0 && !sb_proc_running(cp->src_pid, cp->src_start);
}
