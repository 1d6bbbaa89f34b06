/* SPDX-License-Identifier: Apache-2.0 */
/* executions.c - see executions.h. A chained hash table (the ids are
 * looked up by DELETE and by every client-named call) plus a list in
 * start order (a slot's listing). The event loop is the only thread. */
#include "api/executions.h"

#include <stdint.h>
#include <string.h>

#include "api/api.h"
#include "common/log.h"
#include "sandbox/sandbox.h"

#define EXECUTIONS_BUCKETS 4096u

static struct execution *buckets[EXECUTIONS_BUCKETS];
static struct execution *oldest, *newest;

bool execution_id_valid(const char *s, size_t len)
{
	if (len == 0 || len > EXECUTION_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
		      ch == '-'))
			return false;
	}
	return true;
}

/* FNV-1a: ids are short, and chosen ones may share long prefixes. */
static struct execution **bucket_of(const char *id)
{
	uint32_t h = 2166136261u;
	for (const char *p = id; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return &buckets[h % EXECUTIONS_BUCKETS];
}

static struct execution *find(const char *id)
{
	struct execution *e = *bucket_of(id);
	while (e && strcmp(e->id, id) != 0)
		e = e->next;
	return e;
}

int executions_add(struct execution *e)
{
	if (find(e->id))
		return -1;
	struct execution **b = bucket_of(e->id);
	e->next = *b;
	*b = e;
	e->older = newest;
	e->newer = NULL;
	if (newest)
		newest->newer = e;
	else
		oldest = e;
	newest = e;
	e->registered = true;
	return 0;
}

void executions_remove(struct execution *e)
{
	if (!e->registered)
		return;
	for (struct execution **pp = bucket_of(e->id); *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	if (e->older)
		e->older->newer = e->newer;
	else
		oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		newest = e->older;
	e->next = e->older = e->newer = NULL;
	e->registered = false;
}

void executions_cancel(struct execution *e, const char *by)
{
	if (e->cancelling || !e->cancel)
		return;
	e->cancelling = true;
	sb_log(SB_LOG_INFO, "exec_cancelled", "execution_id", e->id, "tool",
	       e->tool, "slot", e->slot_id, "by", by, SB_LOG_END);
	e->cancel(e);
}

static json_t *execution_json(const struct execution *e)
{
	json_t *o = json_object();
	json_object_set_new(o, "execution_id", json_string(e->id));
	json_object_set_new(o, "tool", json_string(e->tool));
	json_object_set_new(o, "started_at", json_time_iso(e->started_at));
	return o;
}

json_t *executions_json(const struct sbx_slot *slot)
{
	json_t *a = json_array();
	for (const struct execution *e = oldest; e; e = e->newer)
		if (e->slot == slot && strcmp(e->slot_id, slot->id) == 0)
			json_array_append_new(a, execution_json(e));
	return a;
}

void api_executions(struct api *a, struct http_request *req, const char *rest)
{
	(void)a;
	bool del = strcmp(req->method, "DELETE") == 0;
	if (!del && !api_is_get(req)) {
		http_respond_error(req, 405, "method_not_allowed",
				   "%s is not allowed here", req->method);
		return;
	}
	struct execution *e =
		execution_id_valid(rest, strlen(rest)) ? find(rest) : NULL;
	if (!e) {
		http_respond_error(req, 404, "not_found",
				   "no running call has execution id \"%.64s\"",
				   rest);
		return;
	}
	json_t *o = execution_json(e);
	json_object_set_new(o, "slot_id", json_string(e->slot_id));
	if (del) {
		/* The answer goes first: a cancel may answer the call at once
		 * (a file tool), and e is not to be touched after it. */
		json_object_set_new(o, "cancelled", json_true());
		http_respond_json(req, 202, o);
		executions_cancel(e, "request");
		return;
	}
	json_object_set_new(o, "cancelling", json_boolean(e->cancelling));
	http_respond_json(req, 200, o);
}
