/* SPDX-License-Identifier: Apache-2.0 */
/* routes_seed.c - forks and snapshots (API.md "Snapshots and forks").
 *
 * POST /v1/slots/{id}/fork      N new leases whose workspaces start as a
 *                               copy of this one's (pool/seed_job.h)
 * POST /v1/slots/{id}/snapshot  save this workspace under a name
 * POST /v1/slots {"snapshot"}   a new lease starting from a snapshot
 * GET /v1/snapshots, DELETE /v1/snapshots/{name}
 * Everything is validated before anything starts; a job that fails
 * leaves no lease behind. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "common/log.h"
#include "pool/seed_job.h"
#include "pool/snapshots.h"

struct seed_ctx {
	struct http_request *req;
	struct pool_seed *job;
	char snapshot[SNAPSHOT_NAME_MAX + 1]; /* restore: its name */
	char source[96];		      /* fork: the source slot's id */
	bool is_fork;
};

/* A snapshot held for a restore, let go by the job once it is copied
 * (the job may outlive the request's answer). */
struct snap_hold {
	struct snapshot_store *st;
	struct snapshot_use *use;
};

static void seed_answer(const struct pool_seed_result *r, void *ud)
{
	struct seed_ctx *c = ud;
	struct http_request *req = c->req;
	bool is_fork = c->is_fork;
	char name[SNAPSHOT_NAME_MAX + 1], source[96];
	snprintf(name, sizeof name, "%s", c->snapshot);
	snprintf(source, sizeof source, "%s", c->source);
	free(c);
	if (!r->slots) {
		http_respond_error(req, r->status, r->code, "%s", r->msg);
		return;
	}
	for (int i = 0; i < r->n; i++)
		api_log_lease("slot_acquired", r->slots[i],
			      pool_slot_of(r->slots[i])->trajectory_id, req,
			      is_fork ? "forked_from" : "snapshot",
			      is_fork ? source : name);
	json_t *o;
	if (is_fork) {
		json_t *arr = json_array();
		for (int i = 0; i < r->n; i++)
			json_array_append_new(arr, json_slot(r->slots[i]));
		o = json_pack("{s:o}", "slots", arr);
	} else {
		o = json_slot(r->slots[0]);
		json_object_set_new(o, "snapshot", json_string(name));
	}
	json_object_set_new(o, "copied_bytes",
			    json_integer((json_int_t)r->bytes));
	json_object_set_new(o, "copied_entries",
			    json_integer((json_int_t)r->entries));
	json_object_set_new(o, "copy_ms", json_real(r->copy_ms));
	json_object_set_new(o, "frozen_ms", json_real(r->frozen_ms));
	json_object_set_new(o, "total_ms", json_real(r->total_ms));
	http_respond_json(req, 201, o);
}

static void seed_abort(struct http_request *req, void *ud)
{
	struct seed_ctx *c = ud;
	/* The client is gone: the slots go back rather than being leased
	 * to nobody. */
	pool_seed_cancel(c->job);
	free(c);
	http_respond_error(req, 503, "acquire_timeout", "the client went away");
}

static void release_snapshot(void *ud)
{
	struct snap_hold *h = ud;
	snapshot_release(h->st, h->use);
	free(h);
}

/* Start the job: a fork of slot `src`, or else a restore into pool p; on
 * failure answer 500 (c is freed either way on the answer path). */
static void start_job(struct seed_ctx *c, struct pool *p, struct sbx_slot *src,
		      struct pool_seed_req *sr)
{
	struct sb_err err;
	int r = src ? slot_service_fork(src, sr, seed_answer, c, &c->job, &err)
		    : pool_seed(p, sr, seed_answer, c, &c->job, &err);
	if (r < 0) {
		http_respond_error(c->req, 500, "internal", "%s", err.msg);
		free(c);
		return;
	}
	http_request_on_abort(c->req, seed_abort, c);
}

/* "trajectory_ids": a list of count strings, or absent/null. */
static int trajectory_ids(struct http_request *req, json_t *v, int count,
			  const char **ids)
{
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v) || json_array_size(v) != (size_t)count) {
		http_respond_error(req, 400, "bad_request",
				   "trajectory_ids must be a list of count "
				   "(%d) strings",
				   count);
		return -1;
	}
	for (int i = 0; i < count; i++) {
		json_t *s = json_array_get(v, (size_t)i);
		if (!json_is_string(s) ||
		    json_string_length(s) > API_MAX_TRAJECTORY_ID ||
		    strlen(json_string_value(s)) != json_string_length(s)) {
			http_respond_error(req, 400, "bad_request",
					   "trajectory_ids[%d] must be a "
					   "string of at most %d bytes",
					   i, API_MAX_TRAJECTORY_ID);
			return -1;
		}
		ids[i] = json_string_value(s);
	}
	return 1;
}

static int only_keys(struct http_request *req, json_t *doc,
		     const char *const *keys, size_t n)
{
	const char *key;
	json_t *val;
	json_object_foreach(doc, key, val)
	{
		size_t i = 0;
		while (i < n && strcmp(key, keys[i]) != 0)
			i++;
		if (i == n) {
			http_respond_error(req, 400, "bad_request",
					   "unknown field \"%.64s\"", key);
			return -1;
		}
	}
	return 0;
}

/* count: 1..SEED_MAX_COUNT, and no more than the pool can ever hold
 * besides the source. Defaults to the number of trajectory_ids, or 1. */
static int fork_count(struct http_request *req, json_t *doc,
		      const struct sb_profile *p, int *count)
{
	json_t *c = json_object_get(doc, "count");
	json_t *ids = json_object_get(doc, "trajectory_ids");
	long long cap = (long long)p->max_sandboxes * p->slots_per_sandbox - 1;
	long long max = SEED_MAX_COUNT;
	if (cap < max)
		max = cap; /* 0 for a pool of one slot: no fork fits */
	long long v = json_is_array(ids) ? (long long)json_array_size(ids) : 1;
	if (c && !json_is_null(c))
		v = json_is_integer(c) ? json_integer_value(c) : 0;
	if (v < 1 || v > max) {
		http_respond_error(req, 400, "bad_request",
				   "count must be an integer from 1 to %lld "
				   "(profile %s holds %lld slots besides this "
				   "one; at most %d per fork)",
				   max, p->name, cap, SEED_MAX_COUNT);
		return -1;
	}
	*count = (int)v;
	return 0;
}

void api_fork(struct api *a, struct http_request *req, struct sbx_slot *slot,
	      bool stale)
{
	static const char *const keys[] = {"count", "trajectory_ids", "ttl_s",
					   "timeout_s"};
	json_t *doc = api_parse_body(req);
	const char *ids[SEED_MAX_COUNT];
	int count;
	if (!doc)
		return;
	const struct sb_profile *p = slot->sb->profile;
	struct pool_seed_req sr = {.timeout_s = p->acquire_timeout_s};
	if (only_keys(req, doc, keys, 4) < 0 ||
	    fork_count(req, doc, p, &count) < 0 ||
	    api_opt_seconds(req, doc, "ttl_s", &sr.ttl_s) < 0 ||
	    api_opt_seconds(req, doc, "timeout_s", &sr.timeout_s) < 0)
		goto out;
	int has_ids = trajectory_ids(
		req, json_object_get(doc, "trajectory_ids"), count, ids);
	if (has_ids < 0 || api_check_leased(req, slot, stale) < 0)
		goto out;
	if (!slot_service_template_current(slot)) {
		http_respond_error(req, 409, "template_mismatch",
				   "the profile's template changed since slot "
				   "%s started",
				   slot->id);
		goto out;
	}
	(void)a;
	struct seed_ctx *c = calloc(1, sizeof *c);
	if (!c) {
		http_respond_error(req, 500, "internal", "out of memory");
		goto out;
	}
	c->req = req;
	c->is_fork = true;
	snprintf(c->source, sizeof c->source, "%s", slot->id);
	sr.count = count;
	sr.trajectory_ids = has_ids ? ids : NULL;
	start_job(c, NULL, slot, &sr);
out:
	json_decref(doc);
}

/* Why a snapshot cannot be restored for this request (-1 with err's
 * status, code and message); 0 if it can. */
static int restore_check(struct api *a, const struct snapshot_info *info,
			 const char *profile, struct pool **pp,
			 struct sb_err *err)
{
	struct pool *p = pools_find(a->pools, info->profile);
	*pp = p;
	if (profile && strcmp(profile, info->profile) != 0)
		return sb_err_api(err, 409, "snapshot_profile_mismatch",
				  "snapshot %s is of profile %s, not %s",
				  info->name, info->profile, profile);
	if (!p)
		return sb_err_api(err, 404, "unknown_profile",
				  "snapshot %s: no profile named %s",
				  info->name, info->profile);
	if (strcmp(p->profile->template_id, info->template_id) != 0)
		return sb_err_api(err, 409, "template_mismatch",
				  "snapshot %s was taken on another workspace "
				  "template of profile %s",
				  info->name, info->profile);
	return 0;
}

void api_acquire_snapshot(struct api *a, struct http_request *req, json_t *doc)
{
	const char *name = NULL, *profile = NULL, *traj = NULL;
	struct snapshot_info info;
	struct sb_err err;
	if (api_opt_string(req, doc, "snapshot", SNAPSHOT_NAME_MAX, &name) <
		    0 ||
	    api_opt_string(req, doc, "profile", SB_PROFILE_NAME_MAX, &profile) <
		    0 ||
	    api_opt_string(req, doc, "trajectory_id", API_MAX_TRAJECTORY_ID,
			   &traj) < 0)
		return;
	if (!name) {
		http_respond_error(req, 400, "bad_request",
				   "snapshot must be a snapshot's name");
		return;
	}
	if (snapshot_acquire(a->snapshots, name, &info, &err) < 0) {
		bool missing = err.sys_errno == ENOENT;
		http_respond_error(req, missing ? 404 : 500,
				   missing ? "snapshot_not_found" : "internal",
				   "%s", err.msg);
		return;
	}
	struct snap_hold *h = malloc(sizeof *h);
	struct seed_ctx *c = calloc(1, sizeof *c);
	struct pool *p = NULL;
	int status = 500;
	if (!h || !c)
		sb_err_api(&err, status, "internal", "out of memory");
	else
		status = restore_check(a, &info, profile, &p, &err) < 0
				 ? err.status
				 : 0;
	struct pool_seed_req sr = {.count = 1};
	if (!status) {
		sr.timeout_s = p->profile->acquire_timeout_s;
		if (api_opt_seconds(req, doc, "timeout_s", &sr.timeout_s) < 0 ||
		    api_opt_seconds(req, doc, "ttl_s", &sr.ttl_s) < 0)
			status = -1; /* answered */
	}
	if (status) {
		snapshot_release(a->snapshots, info.use);
		free(h);
		free(c);
		if (status > 0)
			http_respond_error(req, status, err.code, "%s",
					   err.msg);
		return;
	}
	h->st = a->snapshots;
	h->use = info.use;
	c->req = req;
	snprintf(c->snapshot, sizeof c->snapshot, "%s", name);
	const char *ids[1] = {traj ? traj : ""};
	sr.trajectory_ids = ids;
	sr.src_dir = info.tree;
	sr.src_overlay = info.template_id[0] != '\0';
	sr.template_id = info.template_id;
	sr.src_done = release_snapshot;
	sr.src_done_ud = h;
	start_job(c, p, NULL, &sr);
}

static void snapshot_saved(int status, const char *code, const char *msg,
			   json_t *meta, void *ud)
{
	struct http_request *req = ud;
	if (!meta) {
		http_respond_error(req, status, code, "%s", msg);
		return;
	}
	/* {"snapshot": name, ...the meta} */
	json_object_set(meta, "snapshot", json_object_get(meta, "name"));
	sb_log(SB_LOG_INFO, "snapshot_created", "snapshot",
	       json_string_value(json_object_get(meta, "name")), "profile",
	       json_string_value(json_object_get(meta, "profile")), "slot",
	       json_string_value(json_object_get(meta, "source_slot")),
	       "request_id", req->request_id, SB_LOG_END);
	http_respond_json(req, 201, meta);
}

void api_snapshot_create(struct api *a, struct http_request *req,
			 struct sbx_slot *slot, bool stale)
{
	static const char *const keys[] = {"name"};
	json_t *doc = api_parse_body(req);
	const char *name = NULL;
	if (!doc)
		return;
	if (only_keys(req, doc, keys, 1) < 0 ||
	    api_opt_string(req, doc, "name", 256, &name) < 0)
		goto out;
	if (!name) {
		http_respond_error(req, 400, "bad_request", "name is required");
		goto out;
	}
	if (api_check_leased(req, slot, stale) < 0)
		goto out;
	struct sb_err err;
	/* The request stays valid until answered, even if the client
	 * leaves: the snapshot is saved either way. */
	if (slot_service_snapshot(a->snapshots, slot, name, snapshot_saved, req,
				  &err) < 0)
		http_respond_error(req, err.status, err.code, "%s", err.msg);
out:
	json_decref(doc);
}

void api_snapshots(struct api *a, struct http_request *req, const char *rest)
{
	bool get = api_is_get(req);
	bool del = strcmp(req->method, "DELETE") == 0;
	struct sb_err err;
	if (!*rest) {
		if (get)
			http_respond_json(req, 200,
					  snapshots_list(a->snapshots));
		else
			http_respond_error(req, 405, "method_not_allowed",
					   "%s is not allowed here",
					   req->method);
		return;
	}
	const char *name = rest + 1; /* after the '/' */
	if (!del) {
		http_respond_error(req, 405, "method_not_allowed",
				   "%s is not allowed here", req->method);
	} else if (snapshot_delete(a->snapshots, name, &err) < 0) {
		bool missing = err.sys_errno == ENOENT;
		http_respond_error(req, missing ? 404 : 500,
				   missing ? "snapshot_not_found" : "internal",
				   "%s", err.msg);
	} else {
		sb_log(SB_LOG_INFO, "snapshot_deleted", "snapshot", name,
		       SB_LOG_END);
		http_respond(req, 204, NULL, NULL, 0);
	}
}
