/* SPDX-License-Identifier: Apache-2.0 */
/* executions.h - the calls running now, by execution id (API.md 1.1).
 *
 * Every exec call (one, or one of a batch) is registered here while it
 * runs, under the id its client chose or one the daemon made, so that
 * DELETE /v1/executions/{id} can cancel it and GET /v1/slots/{id} can list
 * a slot's running calls. An id is unique among running calls; it is
 * forgotten as soon as the call's answer is made. */
#ifndef SLOTBOX_API_EXECUTIONS_H
#define SLOTBOX_API_EXECUTIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"

#define EXECUTION_ID_MAX 64

struct sbx_slot;
struct api;

/* One running call; embedded in its owner, which outlives registration. */
struct execution {
	struct execution *next;		 /* hash chain */
	struct execution *older, *newer; /* every running call, in order */
	char id[EXECUTION_ID_MAX + 1];
	const char *tool;	     /* static string: bash, read_file, ... */
	double started_at;	     /* wall clock */
	const struct sbx_slot *slot; /* with slot_id: the lease it runs in */
	const char *slot_id;
	bool registered;
	/* Kill the call now; its answer follows with error_class
	 * "cancelled". Called at most once per call by this module. */
	void (*cancel)(struct execution *e);
	bool cancelling;
};

/* A client's execution id: 1-64 characters of [A-Za-z0-9_.-]. */
bool execution_id_valid(const char *s, size_t len);

/* Register e under e->id; -1 when a running call already has that id. */
int executions_add(struct execution *e);
/* Forget e (no-op when it is not registered). */
void executions_remove(struct execution *e);
/* Cancel e once (later cancels are no-ops); by says who asked (a log
 * line's field: "request", "disconnect"). */
void executions_cancel(struct execution *e, const char *by);

/* {"execution_id", "tool", "started_at"} of each running call of slot's
 * current lease, oldest first. */
json_t *executions_json(const struct sbx_slot *slot);

/* /v1/executions/{id}: DELETE cancels (202), GET describes the running
 * call; 404 when no running call has that id (a finished call's id is
 * forgotten). rest is what follows "/v1/executions/". */
void api_executions(struct api *a, struct http_request *req, const char *rest);

#endif
