/* SPDX-License-Identifier: Apache-2.0 */
/* api.h - slotbox's HTTP routes (API.md) on top of http.h and the pools. */
#ifndef SLOTBOX_API_API_H
#define SLOTBOX_API_API_H

#include <jansson.h>

#include "http/http.h"
#include "pool/pool.h"
#include "pool/slot_service.h"
#include "sandbox/exec.h"

struct snapshot_store;

struct api {
	struct pools *pools;
	struct sb_config *cfg;
	const struct cg_root *cg;
	char image_tool[PATH_MAX];  /* slotbox-image */
	char image_store[PATH_MAX]; /* <state>/images */
	struct snapshot_store *snapshots;
};

/* The http_handler_fn: ud is the struct api. */
void api_handle(struct http_request *req, void *ud);

/* GET or HEAD: the read routes answer both (the server drops HEAD's
 * body). */
bool api_is_get(const struct http_request *req);

/* routes_dashboard.c: GET / (the dashboard page, built into the binary
 * from dashboard.html). */
void api_dashboard(struct http_request *req);

/* lease_log.c: one info line for a lease event of slot (profile,
 * sandbox, slot, trajectory_id, request_id, and k=v when k is set). */
void api_log_lease(const char *event, const struct sbx_slot *slot,
		   const char *trajectory_id, const struct http_request *req,
		   const char *k, const char *v);

/* routes_images.c: /v1/images[/NAME]; rest is what follows /v1/images. */
void api_images(struct api *a, struct http_request *req, const char *rest);

/* routes_slots.c */
void api_exec_one(struct api *a, struct http_request *req,
		  struct sbx_slot *slot);
void api_exec_batch(struct api *a, struct http_request *req);
/* routes_processes.c: /v1/slots/{id}/processes and below (rest: what
 * follows "processes"). */
void api_processes(struct api *a, struct http_request *req,
		   struct sbx_slot *slot, bool stale, const char *rest);

/* routes_seed.c: POST /v1/slots/{id}/fork, POST /v1/slots/{id}/snapshot,
 * POST /v1/slots with "snapshot" (doc is the parsed body, borrowed), and
 * /v1/snapshots[/name] (rest is the path after "/v1/snapshots"). */
void api_fork(struct api *a, struct http_request *req, struct sbx_slot *slot,
	      bool stale);
void api_snapshot_create(struct api *a, struct http_request *req,
			 struct sbx_slot *slot, bool stale);
void api_acquire_snapshot(struct api *a, struct http_request *req, json_t *doc);
void api_snapshots(struct api *a, struct http_request *req, const char *rest);

/* routes_files.c: GET/PUT file, list, archive; and the file tools. */
void api_file_get(struct http_request *req, struct sbx_slot *slot);
void api_file_put(struct http_request *req, struct sbx_slot *slot);
void api_file_list(struct http_request *req, struct sbx_slot *slot);
void api_file_archive(struct http_request *req, struct sbx_slot *slot);
void api_file_errno(int e, int *status, const char **code);
/* "tar", "tar.gz" (or "tgz"), "zip" -> enum sb_archive_format and its
 * Content-Type; -1 for anything else. */
int api_archive_format(const char *name, uint32_t *format, const char **ctype);
/* routes_upload.c: PUT archive, extracted into the slot. */
void api_file_upload(struct http_request *req, struct sbx_slot *slot);
/* Start a read (req for HTTP, or tool_done for the read_file tool). On
 * failure returns -1 with err (classify with api_start_error()) and
 * answers nothing. */
int api_read_start(struct sbx_slot *slot, struct http_request *req,
		   const char *path, bool base64, bool sha, size_t max_bytes,
		   void (*tool_done)(void *, json_t *, const char *,
				     const char *),
		   void *tool_ud, struct sb_err *err);
/* Start a write; on failure returns -1 with err, err->status/code set. */
int api_write_start(struct sbx_slot *slot, struct http_request *req,
		    const char *path, const void *data, size_t len,
		    void (*tool_done)(void *, json_t *, const char *,
				      const char *),
		    void *tool_ud, struct sb_err *err);

/* json_out.c */
json_t *json_slot(const struct sbx_slot *slot);
/* A wall-clock time as an ISO 8601 UTC string with milliseconds. */
json_t *json_time_iso(double t);
json_t *json_profile(const struct sb_profile *p, bool active);
/* Every sandbox of every pool with its slots, for GET
 * /v1/status?sandboxes=true (the dashboard's table). */
json_t *json_sandboxes(const struct pools *ps);
/* The cgroup layout for /v1/health. */
json_t *json_cgroup(const struct cg_root *r);
json_t *json_exec_result(const struct exec_result *r, const char *slot_id,
			 const char *execution_id);
/* An ExecutionResult for a call that could not run at all. */
json_t *json_exec_error(const char *slot_id, enum exec_error_class cls,
			const char *code, const char *msg);

#define API_MAX_TIMEOUT_S 86400.0
#define API_MAX_TRAJECTORY_ID 255

/* An optional seconds field: 0 with *out unchanged when v is absent or
 * null, 0 with *out set when it is a finite number in
 * (0, API_MAX_TIMEOUT_S], -1 otherwise. */
int api_seconds(const json_t *v, double *out);

/* Why a call or file operation could not be started, as an answer: 503
 * "unavailable" when the daemon is short of descriptors or memory, or a
 * slot's queue is full (it passes: retry), else 502 "sandbox_lost". */
void api_start_error(int sys_errno, int *status, const char **code);

/* api_seconds on doc[key], answering 400 when it is bad. */
int api_opt_seconds(struct http_request *req, json_t *doc, const char *key,
		    double *out);
/* An optional string field of at most max bytes without NUL into *out
 * (borrowed from doc); answers 400 and returns -1 when it is not one. */
int api_opt_string(struct http_request *req, json_t *doc, const char *key,
		   size_t max, const char **out);
/* Answer the error for a slot that cannot take calls (an ended lease 409,
 * a lost sandbox 502); 0 if it can, and the call then counts as the
 * holder's sign of life (lease TTL). */
int api_check_leased(struct http_request *req, struct sbx_slot *slot,
		     bool stale);

/* Query parameter `name` as true/1 or false/0 (dflt when absent). On a
 * bad value answers 400 and returns -1. */
int api_query_bool(struct http_request *req, const char *name, bool dflt,
		   bool *out);

/* Parse a request body as a JSON object (duplicate keys refused). On
 * failure answers 400 and returns NULL. */
json_t *api_parse_body(struct http_request *req);

#endif
