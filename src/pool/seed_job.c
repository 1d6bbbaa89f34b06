/* SPDX-License-Identifier: Apache-2.0 */
/* seed_job.c - fork and restore jobs (seed_job.h).
 *
 * A job lives on the loop thread except for its copy (copy_plan.h). It
 * ends in exactly one answer (cb), deferred through its timer when it
 * fails, and is freed once answered, its copy returned and its timer
 * closed. Reserved slots point at their target (their pool_slot's
 * reserved); the pool
 * reports their events here, and the job lets go of a slot as soon as it
 * is lost, so it never touches a freed sandbox. */
#include "pool/seed_job.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "pool/copy_plan.h"

/* How long reserved slots may take to be copied and start, past the
 * acquire deadline. */
#define SEED_GRACE_S 300.0

struct target {
	struct pool_seed *job;
	struct sbx_slot *slot; /* reserved; NULL before, and once lost */
	struct pool_waiter *waiter;
	bool ready; /* its new generation is made (SEED_READY) */
	bool up;    /* its leader said hello */
};

struct pool_seed {
	struct pool *pool;
	pool_seed_fn cb; /* NULL once answered or cancelled */
	void *ud;
	int n, n_ready, n_up;
	char **traj;
	double ttl_s, t0;
	char src_slot[128];
	char src_dir[PATH_MAX];
	bool src_overlay;
	char template_id[17];
	void (*src_done)(void *ud);
	void *src_done_ud;
	bool failed, done, copying, closing;
	int status;
	const char *code;
	char msg[256];
	uv_timer_t timer;
	struct copy_plan cp;
	struct copy_dst *dst;
	struct sbx_slot **slots;
	struct target t[];
};

static void job_free_cb(uv_handle_t *h)
{
	struct pool_seed *j = h->data;
	for (int i = 0; j->traj && i < j->n; i++)
		free(j->traj[i]);
	free(j->traj);
	free(j->dst);
	free(j->slots);
	free(j);
}

static void source_done(struct pool_seed *j)
{
	void (*fn)(void *) = j->src_done;
	j->src_done = NULL;
	if (fn)
		fn(j->src_done_ud);
}

static void maybe_free(struct pool_seed *j)
{
	if (j->cb || j->copying || j->closing || !(j->failed || j->done))
		return;
	source_done(j);
	j->closing = true;
	uv_timer_stop(&j->timer);
	uv_close((uv_handle_t *)&j->timer, job_free_cb);
}

static void answer(struct pool_seed *j)
{
	pool_seed_fn cb = j->cb;
	if (!cb)
		return;
	j->cb = NULL;
	struct pool_seed_result r = {
		.slots = j->done ? j->slots : NULL,
		.n = j->done ? j->n : 0,
		.status = j->done ? 201 : j->status,
		.code = j->code,
		.msg = j->msg,
		.total_ms = (sb_now_mono() - j->t0) * 1000,
	};
	if (!j->copying) { /* else a worker still writes them */
		r.bytes = j->cp.st.bytes;
		r.entries = j->cp.st.entries;
		r.copy_ms = j->cp.copy_ms;
		r.frozen_ms = j->cp.frozen_ms;
	}
	cb(&r, j->ud);
}

/* Every reserved slot is reset and returns to the pool; queued
 * reservations leave the queue. Not while the copy writes into them. */
static void let_go(struct pool_seed *j)
{
	for (int i = 0; i < j->n; i++) {
		struct target *t = &j->t[i];
		if (t->waiter) {
			pool_acquire_cancel(t->waiter);
			t->waiter = NULL;
		}
		if (j->copying || !t->slot)
			continue;
		struct sbx_slot *slot = t->slot;
		t->slot = NULL;
		pool_slot_of(slot)->reserved = NULL;
		if (slot->sb->state != SBX_DEAD)
			sandbox_release_slot(slot, true);
	}
}

static void finish_cb(uv_timer_t *h)
{
	struct pool_seed *j = h->data;
	if (!j->failed && !j->done) { /* the deadline */
		j->failed = true;
		j->status = 503;
		j->code = "acquire_timeout";
		snprintf(j->msg, sizeof j->msg,
			 "the new slots did not start in time");
		let_go(j);
	}
	answer(j);
	maybe_free(j);
}

static void job_fail(struct pool_seed *j, int status, const char *code,
		     const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void job_fail(struct pool_seed *j, int status, const char *code,
		     const char *fmt, ...)
{
	if (j->failed || j->done)
		return;
	j->failed = true;
	j->status = status;
	j->code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->msg, sizeof j->msg, fmt, ap);
	va_end(ap);
	sb_log(SB_LOG_WARN, "seed_failed", "profile", j->pool->profile->name,
	       "why", j->msg, SB_LOG_END);
	let_go(j);
	/* Answer from the loop, never from inside the caller's call. */
	uv_timer_start(&j->timer, finish_cb, 0, 0);
}

static void lease_all(struct pool_seed *j)
{
	int e = 0;
	for (int i = 0; i < j->n; i++) {
		struct sbx_slot *slot = j->t[i].slot;
		pool_slot_of(slot)->reserved = NULL;
		j->t[i].slot = NULL;
		if (e ||
		    pool_lease(slot, SLOT_EV_SEEDED,
			       j->traj ? j->traj[i] : NULL, j->ttl_s) < 0) {
			/* not recorded: all or none are granted */
			if (!e)
				e = errno ? errno : EIO;
			pool_release(slot, true);
			continue;
		}
		j->slots[i] = slot;
	}
	if (e) {
		for (int i = 0; i < j->n; i++) {
			if (j->slots[i])
				pool_release(j->slots[i], true);
			j->slots[i] = NULL;
		}
		const char *code = pool_lease_error_code(e);
		job_fail(j, pool_error_status(code), code,
			 "cannot record the leases: %s", strerror(e));
		return;
	}
	j->done = true;
	uv_timer_stop(&j->timer);
	char n[16], ms[32], bytes[24];
	snprintf(n, sizeof n, "%d", j->n);
	snprintf(ms, sizeof ms, "%.1f", (sb_now_mono() - j->t0) * 1000);
	snprintf(bytes, sizeof bytes, "%llu",
		 (unsigned long long)j->cp.st.bytes);
	sb_log(SB_LOG_INFO, "seeded", "profile", j->pool->profile->name, "from",
	       j->src_slot[0] ? j->src_slot : "snapshot", "slots", n, "bytes",
	       bytes, "ms", ms, SB_LOG_END);
	answer(j);
	maybe_free(j);
}

/* A failed copy whose source or a destination sandbox died meanwhile
 * (killed while its tree was read or written): a lost sandbox. */
static bool copy_lost(const struct pool_seed *j)
{
	if (copy_plan_source_lost(&j->cp))
		return true;
	for (int i = 0; i < j->n; i++)
		if (j->t[i].slot && sandbox_gone(j->t[i].slot->sb))
			return true;
	return false;
}

static void copy_done(struct copy_plan *cp)
{
	struct pool_seed *j = cp->ud;
	j->copying = false;
	source_done(j);
	if (j->failed) { /* failed meanwhile: the slots can go now */
		let_go(j);
		maybe_free(j);
		return;
	}
	if (cp->rc < 0 && copy_lost(j)) {
		job_fail(j, 502, "sandbox_lost", "copying the workspace: %s",
			 copy_plan_source_lost(cp)
				 ? "the source's sandbox is gone"
				 : "a new slot's sandbox is gone");
		return;
	}
	if (cp->rc < 0) {
		int e = cp->err.sys_errno;
		job_fail(j,
			 e == ENOSPC  ? 507
			 : e == EFBIG ? 413
				      : 500,
			 e == ENOSPC  ? "insufficient_storage"
			 : e == EFBIG ? "payload_too_large"
				      : "internal",
			 "copying the workspace: %s", cp->err.msg);
		return;
	}
	for (int i = 0; i < j->n; i++) {
		if (sandbox_seed_end(j->t[i].slot) < 0) {
			job_fail(j, 502, "sandbox_lost", "%s",
				 "a new slot's sandbox is gone");
			return;
		}
	}
}

/* The source as it is now: a lease that still holds, or the dir. */
static int plan_source(struct pool_seed *j, struct copy_plan *cp)
{
	if (!j->src_slot[0]) {
		snprintf(cp->src, sizeof cp->src, "%s", j->src_dir);
		cp->overlay = j->src_overlay;
		return 0;
	}
	bool stale;
	struct sbx_slot *s =
		pools_find_slot(j->pool->owner, j->src_slot, &stale);
	if (!s || stale || !pool_slot_of(s)->leased) {
		job_fail(j, 409, "slot_not_leased",
			 "the lease %s ended before its workspace was copied",
			 j->src_slot);
		return -1;
	}
	if (pool_slot_of(s)->state == SLOT_ERROR || s->sb->state == SBX_DEAD) {
		job_fail(j, 502, "sandbox_lost", "%s", "the source is lost");
		return -1;
	}
	sandbox_ws_path(s, s->gen, cp->src, sizeof cp->src);
	cp->src_pid = s->sb->pid;
	cp->src_start = s->sb->start_time;
	cg_slot_path(&s->sb->env->cg, s->sb->id, s->index, cp->freeze,
		     sizeof cp->freeze);
	cp->cg_mode = s->sb->env->cg.mode;
	cp->overlay = s->sb->template_id[0] != '\0';
	return 0;
}

static void start_copy(struct pool_seed *j)
{
	struct copy_plan *cp = &j->cp;
	memset(cp, 0, sizeof *cp);
	if (plan_source(j, cp) < 0)
		return;
	for (int i = 0; i < j->n; i++) {
		const struct sbx_slot *slot = j->t[i].slot;
		/* Layers must match: an upper layer means nothing on
		 * another template. */
		if (strcmp(slot->sb->template_id, j->template_id) != 0) {
			job_fail(j, 409, "template_mismatch", "%s",
				 "the profile's template changed");
			return;
		}
		sandbox_ws_path(slot, slot->gen, j->dst[i].path,
				sizeof j->dst[i].path);
		j->dst[i].uid = slot->uid;
	}
	cp->n = j->n;
	cp->dst = j->dst;
	cp->max_entries = SEED_MAX_ENTRIES;
	cp->done = copy_done;
	cp->ud = j;
	j->copying = true;
	if (copy_plan_start(j->pool->owner->env->loop, cp) < 0) {
		j->copying = false;
		job_fail(j, 500, "internal", "%s", "cannot queue the copy");
	}
}

static void target_reserved(struct target *t, struct sbx_slot *slot)
{
	struct pool_seed *j = t->job;
	t->slot = slot;
	t->waiter = NULL;
	if (sandbox_seed_begin(slot) < 0)
		job_fail(j, 502, "sandbox_lost", "%s",
			 "a new slot's sandbox is gone");
}

static void reserve_cb(struct sbx_slot *slot, const char *code, const char *msg,
		       void *ud)
{
	struct target *t = ud;
	t->waiter = NULL;
	if (slot) {
		target_reserved(t, slot);
		return;
	}
	bool timeout = strcmp(code, "acquire_timeout") == 0;
	job_fail(t->job, timeout ? 503 : 500, code, "%s", msg);
}

void pool_seed_slot_ready(struct sbx_slot *slot, int err, const char *why)
{
	struct target *t = pool_slot_of(slot)->reserved;
	if (!t || t->ready)
		return;
	struct pool_seed *j = t->job;
	if (err) {
		job_fail(j, 500, "internal", "a new slot: %s", why);
		return;
	}
	t->ready = true;
	if (++j->n_ready == j->n && !j->failed)
		start_copy(j);
}

void pool_seed_slot_up(struct sbx_slot *slot)
{
	struct target *t = pool_slot_of(slot)->reserved;
	if (!t || t->up || !t->ready || t->job->copying)
		return;
	t->up = true;
	if (++t->job->n_up == t->job->n && !t->job->failed)
		lease_all(t->job);
}

void pool_seed_slot_lost(struct sbx_slot *slot, const char *why)
{
	struct target *t = pool_slot_of(slot)->reserved;
	if (!t)
		return;
	pool_slot_of(slot)->reserved = NULL;
	t->slot = NULL;
	job_fail(t->job, 502, "sandbox_lost", "a new slot was lost: %s", why);
}

static struct pool_seed *job_new(struct pool *p, const struct pool_seed_req *r)
{
	struct pool_seed *j =
		calloc(1, sizeof *j + (size_t)r->count * sizeof j->t[0]);
	if (!j)
		return NULL;
	j->n = r->count;
	j->dst = calloc((size_t)r->count, sizeof *j->dst);
	j->slots = calloc((size_t)r->count, sizeof(struct sbx_slot *));
	if (r->trajectory_ids)
		j->traj = calloc((size_t)r->count, sizeof *j->traj);
	bool ok = j->dst && j->slots && (!r->trajectory_ids || j->traj);
	for (int i = 0; ok && j->traj && i < r->count; i++)
		ok = (j->traj[i] = strdup(r->trajectory_ids[i])) != NULL;
	if (!ok) {
		for (int i = 0; j->traj && i < r->count; i++)
			free(j->traj[i]);
		free(j->traj);
		free(j->dst);
		free(j->slots);
		free(j);
		return NULL;
	}
	j->pool = p;
	j->ttl_s = r->ttl_s;
	j->t0 = sb_now_mono();
	j->src_done = r->src_done;
	j->src_done_ud = r->src_done_ud;
	j->src_overlay = r->src_overlay;
	snprintf(j->src_slot, sizeof j->src_slot, "%s",
		 r->src_slot ? r->src_slot : "");
	snprintf(j->src_dir, sizeof j->src_dir, "%s",
		 r->src_dir ? r->src_dir : "");
	snprintf(j->template_id, sizeof j->template_id, "%s",
		 r->template_id ? r->template_id : "");
	for (int i = 0; i < j->n; i++)
		j->t[i].job = j;
	return j;
}

int pool_seed(struct pool *p, const struct pool_seed_req *req, pool_seed_fn cb,
	      void *ud, struct pool_seed **out, struct sb_err *err)
{
	*out = NULL;
	struct pool_seed *j = job_new(p, req);
	if (!j) {
		if (req->src_done)
			req->src_done(req->src_done_ud);
		return sb_err_set(err, ENOMEM, "out of memory");
	}
	j->cb = cb;
	j->ud = ud;
	uv_timer_init(p->owner->env->loop, &j->timer);
	j->timer.data = j;
	uv_timer_start(&j->timer, finish_cb,
		       (uint64_t)((req->timeout_s + SEED_GRACE_S) * 1000), 0);
	*out = j;
	for (int i = 0; i < j->n && !j->failed; i++) {
		struct sbx_slot *slot;
		int r = pool_reserve(p, req->timeout_s, &slot, reserve_cb,
				     &j->t[i], &j->t[i].waiter);
		if (r == 1)
			target_reserved(&j->t[i], slot);
		else if (r < 0)
			job_fail(j, 500, "internal", "%s", "out of memory");
	}
	return 0;
}

void pool_seed_cancel(struct pool_seed *j)
{
	j->cb = NULL;
	job_fail(j, 500, "internal", "%s", "the client went away");
	maybe_free(j);
}
