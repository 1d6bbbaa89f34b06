/* SPDX-License-Identifier: Apache-2.0 */
/* routes.c - dispatch and the pool-level endpoints of API.md. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/executions.h"
#include "api/proxy.h"
#include "common/util.h"
#include "pool/gpu_metrics.h"
#include "pool/metrics.h"

json_t *api_parse_body(struct http_request *req)
{
	json_error_t jerr;
	if (req->body_len == 0)
		return json_object();
	json_t *doc = json_loadb(req->body, req->body_len,
				 JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		http_respond_error(req, 400, "bad_request",
				   "invalid JSON at line %d column %d: %s",
				   jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(doc)) {
		json_decref(doc);
		http_respond_error(req, 400, "bad_request",
				   "the body must be a JSON object");
		return NULL;
	}
	return doc;
}

static void get_health(struct api *a, struct http_request *req)
{
	json_t *o = json_object();
	json_object_set_new(o, "ok", json_true());
	json_object_set_new(o, "version", json_string(SLOTBOX_VERSION));
	json_object_set_new(o, "cgroup", json_cgroup(a->cg));
	http_respond_json(req, 200, o);
}

static void get_profiles(struct api *a, struct http_request *req)
{
	json_t *o = json_object();
	json_t *profiles = json_object();
	for (size_t i = 0; i < a->pools->n; i++) {
		const struct pool *p = &a->pools->items[i];
		json_object_set_new(
			profiles, p->profile->name,
			json_profile(p->profile, p->active || p->n_live > 0));
	}
	json_object_set_new(o, "default_profile",
			    json_string(a->cfg->default_profile));
	json_object_set_new(o, "profiles", profiles);
	http_respond_json(req, 200, o);
}

bool api_is_get(const struct http_request *req)
{
	return strcmp(req->method, "GET") == 0 ||
	       strcmp(req->method, "HEAD") == 0;
}

static void get_status(struct api *a, struct http_request *req)
{
	bool detail;
	if (api_query_bool(req, "sandboxes", false, &detail) < 0)
		return;
	json_t *o = json_object();
	json_t *pools = json_object();
	for (size_t i = 0; i < a->pools->n; i++) {
		const struct pool *p = &a->pools->items[i];
		struct pool_counts c;
		pool_counts(p, &c);
		json_t *j = json_pack(
			"{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I, "
			"s:I, "
			"s:I}",
			"sandboxes", c.sandboxes, "healthy_sandboxes",
			c.healthy, "starting_sandboxes", c.starting,
			"max_sandboxes", p->profile->max_sandboxes,
			"slots_per_sandbox", p->profile->slots_per_sandbox,
			"total_slots", c.total_slots, "available_slots",
			c.available, "leased_slots", c.leased, "waiters",
			c.waiters, "sandboxes_created", (json_int_t)p->created,
			"sandboxes_destroyed", (json_int_t)p->destroyed,
			"sandboxes_lost", (json_int_t)p->lost);
		json_object_set_new(pools, p->profile->name, j);
	}
	json_object_set_new(o, "default_profile",
			    json_string(a->cfg->default_profile));
	json_object_set_new(o, "pools", pools);
	json_t *gpus = gpu_metrics_json(a->pools);
	if (gpus) /* where NVML is present: the latest sample */
		json_object_set_new(o, "gpus", gpus);
	if (detail) /* opt-in: trainers poll the counts, not every slot */
		json_object_set_new(o, "sandboxes", json_sandboxes(a->pools));
	http_respond_json(req, 200, o);
}

static void get_metrics(struct api *a, struct http_request *req)
{
	size_t len = 0;
	char *page = metrics_render(a->pools, &len);
	if (!page) {
		http_respond_error(req, 500, "internal", "out of memory");
		return;
	}
	http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", page,
		     len);
	free(page);
}

/* ---- acquire ---- */

struct acquire_ctx {
	struct http_request *req;
	struct pool_waiter *waiter;
	const char *profile; /* the pool's, lives as long as the daemon */
	double started;
};

static void acquire_done(struct sbx_slot *slot, const char *code,
			 const char *msg, void *ud)
{
	struct acquire_ctx *ctx = ud;
	struct http_request *req = ctx->req;
	if (slot)
		metrics_observe(MH_ACQUIRE_WAIT, ctx->profile,
				sb_now_mono() - ctx->started);
	else
		metrics_acquire_failed(ctx->profile, code);
	free(ctx);
	if (!slot) {
		int status = strcmp(code, "acquire_timeout") == 0	 ? 503
			     : strcmp(code, "insufficient_storage") == 0 ? 507
									 : 500;
		http_respond_error(req, status, code, "%s", msg);
		return;
	}
	api_log_lease("slot_acquired", slot, pool_slot_of(slot)->trajectory_id,
		      req, NULL, NULL);
	http_respond_json(req, 201, json_slot(slot));
}

static void acquire_abort(struct http_request *req, void *ud)
{
	struct acquire_ctx *ctx = ud;
	(void)req;
	/* The client is gone: leave the queue so no slot is leased to
	 * nobody. The request is still answered (and dropped) below. */
	if (ctx->waiter) {
		pool_acquire_cancel(ctx->waiter);
		ctx->waiter = NULL;
		free(ctx);
		http_respond_error(req, 503, "acquire_timeout",
				   "the client went away");
	}
}

void api_start_error(int sys_errno, int *status, const char **code)
{
	bool passes = sys_errno == EMFILE || sys_errno == ENFILE ||
		      sys_errno == ENOMEM || sys_errno == EAGAIN ||
		      sys_errno == ENOBUFS;
	*status = passes ? 503 : 502;
	*code = passes ? "unavailable" : "sandbox_lost";
}

int api_seconds(const json_t *v, double *out)
{
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
	    json_number_value(v) <= 0 ||
	    json_number_value(v) > API_MAX_TIMEOUT_S)
		return -1;
	*out = json_number_value(v);
	return 0;
}

int api_opt_seconds(struct http_request *req, json_t *doc, const char *key,
		    double *out)
{
	if (api_seconds(json_object_get(doc, key), out) == 0)
		return 0;
	http_respond_error(req, 400, "bad_request",
			   "%s must be a number of seconds in (0, %g]", key,
			   API_MAX_TIMEOUT_S);
	return -1;
}

int api_opt_string(struct http_request *req, json_t *doc, const char *key,
		   size_t max, const char **out)
{
	json_t *v = json_object_get(doc, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		http_respond_error(req, 400, "bad_request",
				   "%s must be a string of at most %zu bytes",
				   key, max);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

static void post_slots(struct api *a, struct http_request *req)
{
	json_t *doc = api_parse_body(req);
	const char *profile = a->cfg->default_profile;
	const char *traj = NULL;
	const char *key;
	json_t *val;

	if (!doc)
		return;
	json_object_foreach(doc, key, val)
	{
		if (strcmp(key, "profile") && strcmp(key, "trajectory_id") &&
		    strcmp(key, "timeout_s") && strcmp(key, "ttl_s") &&
		    strcmp(key, "snapshot")) {
			http_respond_error(req, 400, "bad_request",
					   "unknown field \"%.64s\"", key);
			goto out;
		}
	}
	if (api_opt_string(req, doc, "profile", SB_PROFILE_NAME_MAX, &profile) <
		    0 ||
	    api_opt_string(req, doc, "trajectory_id", API_MAX_TRAJECTORY_ID,
			   &traj) < 0)
		goto out;
	if (json_object_get(doc, "snapshot")) {
		api_acquire_snapshot(a, req, doc);
		goto out;
	}
	struct pool *p = pools_find(a->pools, profile);
	if (!p) {
		http_respond_error(req, 404, "unknown_profile",
				   "no profile named \"%s\"", profile);
		goto out;
	}
	double timeout = p->profile->acquire_timeout_s;
	double ttl = 0;
	if (api_opt_seconds(req, doc, "timeout_s", &timeout) < 0 ||
	    api_opt_seconds(req, doc, "ttl_s", &ttl) < 0)
		goto out;
	struct acquire_ctx *ctx = calloc(1, sizeof *ctx);
	if (!ctx) {
		http_respond_error(req, 500, "internal", "out of memory");
		goto out;
	}
	ctx->req = req;
	ctx->profile = p->profile->name;
	ctx->started = sb_now_mono();
	struct sbx_slot *slot;
	int r = pool_acquire(p, traj, ttl, timeout, &slot, acquire_done, ctx,
			     &ctx->waiter);
	if (r == 1) {
		metrics_observe(MH_ACQUIRE_WAIT, ctx->profile,
				sb_now_mono() - ctx->started);
		free(ctx);
		api_log_lease("slot_acquired", slot,
			      pool_slot_of(slot)->trajectory_id, req, NULL,
			      NULL);
		http_respond_json(req, 201, json_slot(slot));
	} else if (r == 0) {
		http_request_on_abort(req, acquire_abort, ctx);
	} else {
		int e = errno;
		free(ctx);
		const char *code = pool_lease_error_code(e);
		http_respond_error(req, strcmp(code, "internal") ? 507 : 500,
				   code, "cannot grant the lease: %s",
				   strerror(e));
	}
out:
	json_decref(doc);
}

/* ---- one slot ---- */

int api_query_bool(struct http_request *req, const char *name, bool dflt,
		   bool *out)
{
	char v[16];
	int r = http_query_get(req->query, name, v, sizeof v);
	*out = dflt;
	if (r == 0)
		return 0;
	if (r > 0 && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)) {
		*out = true;
		return 0;
	}
	if (r > 0 && (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)) {
		*out = false;
		return 0;
	}
	http_respond_error(req, 400, "bad_request", "%s must be true or false",
			   name);
	return -1;
}

int api_check_leased(struct http_request *req, struct sbx_slot *slot,
		     bool stale)
{
	switch (slot_service_check(slot, stale)) {
	case SLOT_LEASE_LIVE:
		return 0;
	case SLOT_LEASE_ENDED:
		http_respond_error(
			req, 409, "slot_not_leased",
			"that lease of slot %.*s has ended (released "
			"or expired)",
			(int)slot->base_len, slot->id);
		return -1;
	case SLOT_LEASE_NONE:
		http_respond_error(req, 409, "slot_not_leased",
				   "slot %s is not leased (state %s)", slot->id,
				   slot_state_name(pool_slot_of(slot)->state));
		return -1;
	case SLOT_LEASE_LOST:
		break;
	}
	http_respond_error(req, 502, "sandbox_lost", "slot %s: %s", slot->id,
			   pool_slot_of(slot)->error);
	return -1;
}

/* POST /v1/slots/{id}/renew [{"ttl_s": N}]: a sign of life without a
 * call, optionally with a new TTL (0 turns expiry off). */
static void renew_slot(struct http_request *req, struct sbx_slot *slot,
		       bool stale)
{
	json_t *doc = req->body_len ? api_parse_body(req) : json_object();
	if (!doc)
		return;
	json_t *ttl = json_object_get(doc, "ttl_s");
	double v = 0;
	if (json_object_size(doc) > (ttl ? 1u : 0u)) {
		http_respond_error(req, 400, "bad_request",
				   "renew takes only ttl_s");
	} else if (ttl &&
		   !(json_is_number(ttl) && json_number_value(ttl) == 0) &&
		   api_seconds(ttl, &v) < 0) {
		http_respond_error(req, 400, "bad_request",
				   "ttl_s must be 0 or seconds in (0, %g]",
				   API_MAX_TIMEOUT_S);
	} else if (api_check_leased(req, slot, stale) == 0) {
		if (ttl && slot_service_renew(slot, v) < 0) {
			int e = errno;
			const char *code = pool_lease_error_code(e);
			http_respond_error(
				req, strcmp(code, "internal") ? 507 : 500, code,
				"cannot record the new ttl: %s", strerror(e));
		} else {
			http_respond_json(req, 200, json_slot(slot));
		}
	}
	json_decref(doc);
}

static void slot_route(struct api *a, struct http_request *req,
		       const char *rest)
{
	char id[128];
	const char *slash = strchr(rest, '/');
	size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
	const char *sub = slash ? slash + 1 : "";

	if (len == 0 || len >= sizeof id) {
		http_respond_error(req, 404, "not_found", "no such slot");
		return;
	}
	memcpy(id, rest, len);
	id[len] = '\0';
	bool stale;
	struct sbx_slot *slot = pools_find_slot(a->pools, id, &stale);
	if (!slot) {
		http_respond_error(req, 404, "not_found", "no slot \"%s\"", id);
		return;
	}
	bool get = api_is_get(req);
	bool post = strcmp(req->method, "POST") == 0;
	if (!*sub && get) {
		json_t *o = json_slot(slot);
		json_object_set_new(o, "executions", executions_json(slot));
		http_respond_json(req, 200, o);
	} else if (!*sub && strcmp(req->method, "DELETE") == 0) {
		bool reset;
		if (api_query_bool(req, "reset", true, &reset) < 0)
			return;
		if (stale || !pool_slot_of(slot)->leased) {
			http_respond_error(req, 409, "slot_not_leased",
					   "slot %s is not leased", id);
			return;
		}
		api_log_lease("slot_released", slot,
			      pool_slot_of(slot)->trajectory_id, req, "reset",
			      reset ? "true" : "false");
		slot_service_release(slot, reset);
		http_respond(req, 204, NULL, NULL, 0);
	} else if (strcmp(sub, "exec") == 0 && post) {
		if (api_check_leased(req, slot, stale) == 0)
			api_exec_one(a, req, slot);
	} else if (strcmp(sub, "file") == 0 && get) {
		if (api_check_leased(req, slot, stale) == 0)
			api_file_get(req, slot);
	} else if (strcmp(sub, "file") == 0 &&
		   strcmp(req->method, "PUT") == 0) {
		if (api_check_leased(req, slot, stale) == 0)
			api_file_put(req, slot);
	} else if (strcmp(sub, "list") == 0 && get) {
		if (api_check_leased(req, slot, stale) == 0)
			api_file_list(req, slot);
	} else if (strcmp(sub, "archive") == 0 && get) {
		if (api_check_leased(req, slot, stale) == 0)
			api_file_archive(req, slot);
	} else if (strcmp(sub, "archive") == 0 &&
		   strcmp(req->method, "PUT") == 0) {
		if (api_check_leased(req, slot, stale) == 0)
			api_file_upload(req, slot);
	} else if (strncmp(sub, "ports", 5) == 0 &&
		   (sub[5] == '/' || !sub[5])) {
		proxy_start(req, slot, stale, sub + 5);
	} else if (strncmp(sub, "processes", 9) == 0 &&
		   (sub[9] == '\0' || sub[9] == '/')) {
		api_processes(a, req, slot, stale, sub + 9);
	} else if (strcmp(sub, "renew") == 0 && post) {
		renew_slot(req, slot, stale);
	} else if (strcmp(sub, "fork") == 0 && post) {
		api_fork(a, req, slot, stale);
	} else if (strcmp(sub, "snapshot") == 0 && post) {
		api_snapshot_create(a, req, slot, stale);
	} else if (!*sub || !strcmp(sub, "exec") || !strcmp(sub, "file") ||
		   !strcmp(sub, "renew") || !strcmp(sub, "list") ||
		   !strcmp(sub, "archive") || !strcmp(sub, "fork") ||
		   !strcmp(sub, "snapshot")) {
		http_respond_error(req, 405, "method_not_allowed",
				   "%s is not allowed here", req->method);
	} else {
		http_respond_error(req, 404, "not_found", "no such endpoint");
	}
}

void api_handle(struct http_request *req, void *ud)
{
	struct api *a = ud;
	const char *path = req->path;
	bool get = api_is_get(req);
	bool post = strcmp(req->method, "POST") == 0;

	if (strcmp(path, "/") == 0 && get)
		api_dashboard(req);
	else if (strcmp(path, "/v1/health") == 0 && get)
		get_health(a, req);
	else if (strcmp(path, "/metrics") == 0 && get)
		get_metrics(a, req);
	else if (strcmp(path, "/v1/profiles") == 0 && get)
		get_profiles(a, req);
	else if (strcmp(path, "/v1/status") == 0 && get)
		get_status(a, req);
	else if (strcmp(path, "/v1/slots") == 0 && post)
		post_slots(a, req);
	else if (strcmp(path, "/v1/exec") == 0 && post)
		api_exec_batch(a, req);
	else if (strncmp(path, "/v1/slots/", 10) == 0)
		slot_route(a, req, path + 10);
	else if (strncmp(path, "/v1/executions/", 15) == 0)
		api_executions(a, req, path + 15);
	else if (strcmp(path, "/v1/images") == 0 ||
		 strncmp(path, "/v1/images/", 11) == 0)
		api_images(a, req, path + 10);
	else if (strcmp(path, "/v1/snapshots") == 0 ||
		 strncmp(path, "/v1/snapshots/", 14) == 0)
		api_snapshots(a, req, path + 13);
	else if (strcmp(path, "/") == 0 || strcmp(path, "/metrics") == 0 ||
		 strcmp(path, "/v1/health") == 0 ||
		 strcmp(path, "/v1/profiles") == 0 ||
		 strcmp(path, "/v1/status") == 0 ||
		 strcmp(path, "/v1/slots") == 0 ||
		 strcmp(path, "/v1/exec") == 0)
		http_respond_error(req, 405, "method_not_allowed",
				   "%s is not allowed on %s", req->method,
				   path);
	else
		http_respond_error(req, 404, "not_found", "no endpoint %s",
				   path);
}
