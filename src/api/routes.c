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
#include "config/seccomp_policy.h"
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
		json_t *one =
			json_profile(p->profile, p->active || p->n_live > 0);
		json_object_set_new(
			one, "slot_root",
			json_string(sb_slot_root(
				p->profile, a->pools->env
						    ? a->pools->env->slot_root
						    : NULL)));
		json_object_set_new(profiles, p->profile->name, one);
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
};

static void acquire_done(struct sbx_slot *slot, const char *code,
			 const char *msg, void *ud)
{
	struct acquire_ctx *ctx = ud;
	struct http_request *req = ctx->req;
	free(ctx);
	if (!slot) {
		http_respond_error(req, pool_error_status(code), code, "%s",
				   msg);
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
	struct sbx_slot *slot;
	int r = pool_acquire(p, traj, ttl, timeout, &slot, acquire_done, ctx,
			     &ctx->waiter);
	if (r == 1) {
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
		http_respond_error(req, pool_error_status(code), code,
				   "cannot grant the lease: %s", strerror(e));
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
			http_respond_error(req, pool_error_status(code), code,
					   "cannot record the new ttl: %s",
					   strerror(e));
		} else {
			http_respond_json(req, 200, json_slot(slot));
		}
	}
	json_decref(doc);
}

/* ---- the route table ---- */

/* What a matched path gives its handler. */
struct route_args {
	const char *rest;      /* what {rest} or {/rest} matched */
	struct sbx_slot *slot; /* what {slot} named */
	bool stale;	       /* it named an earlier lease of the slot */
	char id[128];	       /* the {slot} id as the path has it */
};

typedef void (*route_fn)(struct api *a, struct http_request *req,
			 const struct route_args *m);

/* One endpoint. method: "GET" (HEAD too), "POST", "PUT", "DELETE", or NULL
 * for any (the handler tells methods apart itself). path: literal text,
 * "{slot}" for a slot id (one segment), and at the end "{rest}" (anything)
 * or "{/rest}" (nothing, or "/" and anything). A path that matches some
 * routes but none with its method is answered 405; one that matches none,
 * 404. Routes of a slot look the slot up first (404 when it does not
 * exist); leased ones then need a live lease (api_check_leased). A NULL fn
 * claims the paths of a slot that no endpoint serves. */
struct route {
	const char *method;
	const char *path;
	route_fn fn;
	bool leased;
};

static void r_dashboard(struct api *a, struct http_request *req,
			const struct route_args *m)
{
	(void)a;
	(void)m;
	api_dashboard(req);
}

static void r_health(struct api *a, struct http_request *req,
		     const struct route_args *m)
{
	(void)m;
	get_health(a, req);
}

static void r_metrics(struct api *a, struct http_request *req,
		      const struct route_args *m)
{
	(void)m;
	get_metrics(a, req);
}

static void r_profiles(struct api *a, struct http_request *req,
		       const struct route_args *m)
{
	(void)m;
	get_profiles(a, req);
}

static void r_status(struct api *a, struct http_request *req,
		     const struct route_args *m)
{
	(void)m;
	get_status(a, req);
}

static void r_acquire(struct api *a, struct http_request *req,
		      const struct route_args *m)
{
	(void)m;
	post_slots(a, req);
}

static void r_exec_batch(struct api *a, struct http_request *req,
			 const struct route_args *m)
{
	(void)m;
	api_exec_batch(a, req);
}

static void r_executions(struct api *a, struct http_request *req,
			 const struct route_args *m)
{
	api_executions(a, req, m->rest);
}

static void r_images(struct api *a, struct http_request *req,
		     const struct route_args *m)
{
	api_images(a, req, m->rest);
}

static void r_snapshots(struct api *a, struct http_request *req,
			const struct route_args *m)
{
	api_snapshots(a, req, m->rest);
}

static void r_slot_get(struct api *a, struct http_request *req,
		       const struct route_args *m)
{
	(void)a;
	json_t *o = json_slot(m->slot);
	json_object_set_new(o, "executions", executions_json(m->slot));
	http_respond_json(req, 200, o);
}

struct release_log {
	struct http_request *req;
	bool reset;
};

/* The release is recorded: log it while the slot still exists. */
static void release_log(struct sbx_slot *slot, void *ud)
{
	const struct release_log *l = ud;
	api_log_lease("slot_released", slot, pool_slot_of(slot)->trajectory_id,
		      l->req, "reset", l->reset ? "true" : "false");
}

/* DELETE /v1/slots/{id}[?reset=false]: end the lease. */
static void r_release(struct api *a, struct http_request *req,
		      const struct route_args *m)
{
	(void)a;
	struct sbx_slot *slot = m->slot;
	bool reset;
	if (api_query_bool(req, "reset", true, &reset) < 0)
		return;
	if (m->stale || !pool_slot_of(slot)->leased) {
		http_respond_error(req, 409, "slot_not_leased",
				   "slot %s is not leased", m->id);
		return;
	}
	if (slot_service_release(slot, reset, release_log,
				 &(struct release_log){req, reset}) < 0) {
		int e = errno;
		const char *code = pool_lease_error_code(e);
		http_respond_error(req, pool_error_status(code), code,
				   "cannot record the release: %s",
				   strerror(e));
		return;
	}
	http_respond(req, 204, NULL, NULL, 0);
}

static void r_exec(struct api *a, struct http_request *req,
		   const struct route_args *m)
{
	api_exec_one(a, req, m->slot);
}

static void r_file_get(struct api *a, struct http_request *req,
		       const struct route_args *m)
{
	(void)a;
	api_file_get(req, m->slot);
}

static void r_file_put(struct api *a, struct http_request *req,
		       const struct route_args *m)
{
	(void)a;
	api_file_put(req, m->slot);
}

static void r_list(struct api *a, struct http_request *req,
		   const struct route_args *m)
{
	(void)a;
	api_file_list(req, m->slot);
}

static void r_archive_get(struct api *a, struct http_request *req,
			  const struct route_args *m)
{
	(void)a;
	api_file_archive(req, m->slot);
}

static void r_archive_put(struct api *a, struct http_request *req,
			  const struct route_args *m)
{
	(void)a;
	api_file_upload(req, m->slot);
}

static void r_ports(struct api *a, struct http_request *req,
		    const struct route_args *m)
{
	(void)a;
	proxy_start(req, m->slot, m->stale, m->rest);
}

static void r_processes(struct api *a, struct http_request *req,
			const struct route_args *m)
{
	api_processes(a, req, m->slot, m->stale, m->rest);
}

static void r_renew(struct api *a, struct http_request *req,
		    const struct route_args *m)
{
	(void)a;
	renew_slot(req, m->slot, m->stale);
}

static void r_fork(struct api *a, struct http_request *req,
		   const struct route_args *m)
{
	api_fork(a, req, m->slot, m->stale);
}

static void r_snapshot(struct api *a, struct http_request *req,
		       const struct route_args *m)
{
	api_snapshot_create(a, req, m->slot, m->stale);
}

#define SLOT "/v1/slots/{slot}"

static const struct route routes[] = {
	{"GET", "/", r_dashboard, false},
	{"GET", "/v1/health", r_health, false},
	{"GET", "/metrics", r_metrics, false},
	{"GET", "/v1/profiles", r_profiles, false},
	{"GET", "/v1/status", r_status, false},
	{"POST", "/v1/slots", r_acquire, false},
	{"POST", "/v1/exec", r_exec_batch, false},
	{NULL, "/v1/executions/{rest}", r_executions, false},
	{NULL, "/v1/images{/rest}", r_images, false},
	{NULL, "/v1/snapshots{/rest}", r_snapshots, false},
	{"GET", SLOT, r_slot_get, false},
	{"DELETE", SLOT, r_release, false},
	{"GET", SLOT "/", r_slot_get, false}, /* a trailing slash, as ever */
	{"DELETE", SLOT "/", r_release, false},
	{"POST", SLOT "/exec", r_exec, true},
	{"GET", SLOT "/file", r_file_get, true},
	{"PUT", SLOT "/file", r_file_put, true},
	{"GET", SLOT "/list", r_list, true},
	{"GET", SLOT "/archive", r_archive_get, true},
	{"PUT", SLOT "/archive", r_archive_put, true},
	{NULL, SLOT "/ports{/rest}", r_ports, false},
	{NULL, SLOT "/processes{/rest}", r_processes, false},
	{"POST", SLOT "/renew", r_renew, false},
	{"POST", SLOT "/fork", r_fork, false},
	{"POST", SLOT "/snapshot", r_snapshot, false},
	{NULL, SLOT "{rest}", NULL, false},
};

/* Does path match pattern (struct route)? slot_id and slot_len get what
 * {slot} matched, rest what {rest} or {/rest} did. */
static bool route_match(const char *pat, const char *path, const char **slot_id,
			size_t *slot_len, const char **rest)
{
	for (;;) {
		if (strncmp(pat, "{slot}", 6) == 0) {
			*slot_id = path;
			*slot_len = strcspn(path, "/");
			path += *slot_len;
			pat += 6;
		} else if (strcmp(pat, "{rest}") == 0) {
			*rest = path;
			return true;
		} else if (strcmp(pat, "{/rest}") == 0) {
			*rest = path;
			return !*path || *path == '/';
		} else if (!*pat || *pat != *path) {
			return !*pat && !*path;
		} else {
			pat++;
			path++;
		}
	}
}

static bool route_method_ok(const struct route *r,
			    const struct http_request *req)
{
	if (!r->method)
		return true;
	if (strcmp(r->method, "GET") == 0)
		return api_is_get(req);
	return strcmp(r->method, req->method) == 0;
}

/* The slot a route names: 0, or -1 answered 404. */
static int route_slot(struct api *a, struct http_request *req,
		      const char *id_at, size_t len, struct route_args *m)
{
	if (!id_at || len == 0 || len >= sizeof m->id) {
		http_respond_error(req, 404, "not_found", "no such slot");
		return -1;
	}
	memcpy(m->id, id_at, len);
	m->id[len] = '\0';
	m->slot = pools_find_slot(a->pools, m->id, &m->stale);
	if (!m->slot) {
		http_respond_error(req, 404, "not_found", "no slot \"%s\"",
				   m->id);
		return -1;
	}
	return 0;
}

void api_handle(struct http_request *req, void *ud)
{
	struct api *a = ud;
	const struct route *found = NULL; /* path and method match */
	const struct route *path_only = NULL;
	const char *slot_id = NULL;
	size_t slot_len = 0;
	struct route_args m = {.rest = ""};

	for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
		const struct route *r = &routes[i];
		const char *id = NULL, *rest = "";
		size_t len = 0;
		if (!route_match(r->path, req->path, &id, &len, &rest))
			continue;
		if (!path_only) {
			path_only = r;
			slot_id = id;
			slot_len = len;
		}
		if (r->fn && route_method_ok(r, req)) {
			found = r;
			m.rest = rest;
			slot_id = id;
			slot_len = len;
			break;
		}
	}
	const struct route *r = found ? found : path_only;
	if (!r) {
		http_respond_error(req, 404, "not_found", "no endpoint %s",
				   req->path);
		return;
	}
	/* (a leased route without {slot} would find no slot: 404) */
	if ((slot_id || r->leased) &&
	    route_slot(a, req, slot_id, slot_len, &m) < 0)
		return;
	if (!r->fn) {
		http_respond_error(req, 404, "not_found", "no such endpoint");
	} else if (!found) {
		if (slot_id)
			http_respond_error(req, 405, "method_not_allowed",
					   "%s is not allowed here",
					   req->method);
		else
			http_respond_error(req, 405, "method_not_allowed",
					   "%s is not allowed on %s",
					   req->method, req->path);
	} else if (!r->leased || api_check_leased(req, m.slot, m.stale) == 0) {
		r->fn(a, req, &m);
	}
}
