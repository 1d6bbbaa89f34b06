/* SPDX-License-Identifier: Apache-2.0 */
/* routes_slots.c - running tools: POST /v1/slots/{id}/exec and the batch
 * POST /v1/exec. Both validate every argument before anything runs; a bad
 * call in a batch becomes that call's failed result, never the batch's. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/bash_cmd.h"
#include "api/executions.h"
#include "api/ndjson.h"
#include "common/base64.h"
#include "common/util.h"

#define API_MAX_BATCH 4096

/* Everything one call needs, owned until it ends. */
struct exec_ctx {
	struct sbx_slot *slot;
	char tool[16];	  /* for the metrics: bash, read_file, write_file */
	char profile[64]; /* the slot's profile, for the metrics */
	char slot_id[128];
	struct execution ex;	/* its id; registered while it runs */
	struct exec_call *call; /* a bash call, until its answer */
	/* A file tool cancelled before it ended was answered at once; its
	 * operation still ends by itself, and only then is ctx freed. */
	bool delivered;
	struct slot_cmd bc; /* bash: its command */
	/* a streamed answer (exec's "stream": true): output events, then
	 * the result */
	bool stream;
	struct ndjson_utf8 u8[2]; /* stdout's and stderr's held bytes */
	/* a call with a pty waits for its terminal (slot_pty.h) first,
	 * then starts as this spec says */
	bool pty_wait;
	double timeout_s;
	/* exactly one of these two owners is set */
	struct http_request *req;
	struct batch *batch;
	size_t index;
};

struct batch {
	struct http_request *req;
	json_t *results;
	size_t pending;
	struct exec_ctx **calls; /* running ones, by index (for a cancel) */
};

static void ctx_free(struct exec_ctx *c)
{
	executions_remove(&c->ex);
	slot_cmd_free(&c->bc);
	free(c);
}

static void deliver(struct exec_ctx *c, json_t *result);
static void answer_call(struct exec_ctx *c, json_t *result);

/* One call of a batch is settled; the last one answers the whole batch. */
static void batch_step(struct batch *b)
{
	if (--b->pending > 0)
		return;
	json_t *o = json_object();
	json_object_set_new(o, "results", b->results);
	http_respond_json(b->req, 200, o);
	free(b->calls);
	free(b);
}

/* The file tools answer with an ExecutionResult like bash does: output is
 * the file's content (read) or a short note (write); a refused path or a
 * missing file is a failed call of class "task", with the API code. */
static void file_tool_done(void *ud, json_t *res, const char *code,
			   const char *why)
{
	struct exec_ctx *c = ud;
	struct exec_result r = {.out = "", .err = "", .error = ""};
	char note[96];
	if (c->delivered) { /* cancelled, and answered then */
		json_decref(res);
		slot_service_call_end(c->slot);
		ctx_free(c);
		return;
	}
	json_t *content = res ? json_object_get(res, "content") : NULL;
	if (res && content) {
		r.out = json_string_value(content);
		r.out_len = json_string_length(content);
		r.truncated = json_is_true(json_object_get(res, "truncated"));
	} else if (res) {
		snprintf(note, sizeof note, "wrote %lld bytes",
			 (long long)json_integer_value(
				 json_object_get(res, "bytes")));
		r.out = note;
		r.out_len = strlen(note);
	} else {
		r.returncode = 1;
		r.error = why;
		r.err = why;
		r.err_len = strlen(why);
		r.error_code = code;
		r.error_class = strcmp(code, "sandbox_lost") == 0 ? EXEC_INFRA
								  : EXEC_TASK;
	}
	json_t *out = json_exec_result(&r, c->slot_id, c->ex.id);
	if (res && content)
		json_object_set(json_object_get(out, "metadata"), "encoding",
				json_object_get(res, "encoding"));
	json_decref(res);
	slot_service_call_end(c->slot);
	deliver(c, out);
}

static int start_file_tool(struct exec_ctx *c, const char *tool, json_t *args,
			   struct sb_err *err)
{
	const struct sb_profile *p = c->slot->sb->profile;
	json_t *path = json_object_get(args, "path");
	const char *key;
	json_t *val;
	bool is_read = strcmp(tool, "read_file") == 0;

	json_object_foreach(args, key, val)
	{
		if (strcmp(key, "path") &&
		    (is_read ? strcmp(key, "encoding") &&
				       strcmp(key, "max_bytes")
			     : strcmp(key, "content") &&
				       strcmp(key, "encoding"))) {
			return sb_err_api(err, 400, "bad_request",
					  "unknown %s argument \"%.64s\"", tool,
					  key);
		}
	}
	if (!json_is_string(path) ||
	    strlen(json_string_value(path)) != json_string_length(path)) {
		return sb_err_api(err, 400, "bad_request",
				  "args.path must be a string");
	}
	json_t *enc = json_object_get(args, "encoding");
	const char *e = json_is_string(enc) ? json_string_value(enc) : "text";
	if ((enc && !json_is_string(enc)) ||
	    (strcmp(e, "text") && strcmp(e, "base64"))) {
		return sb_err_api(err, 400, "bad_request",
				  "args.encoding must be text or base64");
	}
	if (is_read) {
		json_t *mb = json_object_get(args, "max_bytes");
		json_int_t max = p->max_file_bytes;
		if (mb &&
		    (!json_is_integer(mb) || json_integer_value(mb) < 0)) {
			return sb_err_api(
				err, 400, "bad_request",
				"args.max_bytes must be a non-negative "
				"integer");
		}
		if (mb && json_integer_value(mb) < max)
			max = json_integer_value(mb);
		return api_read_start(c->slot, NULL, json_string_value(path),
				      strcmp(e, "base64") == 0, false,
				      (size_t)max, file_tool_done, c, err);
	}
	json_t *content = json_object_get(args, "content");
	if (!json_is_string(content)) {
		return sb_err_api(err, 400, "bad_request",
				  "args.content must be a string");
	}
	const char *data = json_string_value(content);
	size_t len = json_string_length(content);
	char *decoded = NULL;
	if (strcmp(e, "base64") == 0) {
		decoded = malloc(len / 4 * 3 + 1);
		long n = decoded ? b64_decode(data, len, decoded) : -1;
		if (n < 0) {
			free(decoded);
			return sb_err_api(err, 400, "bad_request",
					  "args.content is not valid base64");
		}
		data = decoded;
		len = (size_t)n;
	}
	int r = api_write_start(c->slot, NULL, json_string_value(path), data,
				len, file_tool_done, c, err);
	free(decoded);
	return r;
}

/* Answer the call (its request, or its place in the batch) and forget its
 * id; ctx stays for the caller to free. */
static void answer_call(struct exec_ctx *c, json_t *result)
{
	json_t *md = json_object_get(result, "metadata");
	executions_remove(&c->ex);
	c->call = NULL;
	if (c->bc.shell) {
		const struct sb_profile *p = c->slot->sb->profile;
		json_object_set_new(md, "shell", json_string(c->bc.shell));
		json_object_set_new(
			md, "network",
			json_string(p->network ? p->network : "none"));
	}
	if (c->tool[0])
		slot_service_call_metrics(
			c->profile, c->tool,
			json_string_value(json_object_get(md, "error_class")),
			json_is_true(json_object_get(md, "truncated")),
			json_number_value(json_object_get(md, "duration_ms")) /
				1000.0);
	if (c->stream) {
		/* the rest of a split UTF-8 sequence, then the result */
		ndjson_output_flush(c->req, &c->u8[0], "stdout");
		ndjson_output_flush(c->req, &c->u8[1], "stderr");
		ndjson_line(c->req, json_pack("{s:s,s:o}", "type", "result",
					      "result", result));
		http_respond_stream_end(c->req);
	} else if (c->req) {
		http_respond_json(c->req, 200, result);
	} else {
		c->batch->calls[c->index] = NULL;
		json_array_set_new(c->batch->results, c->index, result);
		batch_step(c->batch);
	}
}

static void deliver(struct exec_ctx *c, json_t *result)
{
	answer_call(c, result);
	ctx_free(c);
}

static void exec_done(const struct exec_result *r, void *ud)
{
	struct exec_ctx *c = ud;
	slot_service_call_end(c->slot);
	deliver(c, json_exec_result(r, c->slot_id, c->ex.id));
}

/* executions.h's cancel: a bash call's tree is killed and it answers when
 * the leader reports the end; a file tool is answered now (its operation
 * is bounded and ends by itself; ctx goes when it has). */
static void ctx_cancel(struct execution *e)
{
	struct exec_ctx *c =
		(struct exec_ctx *)((char *)e - offsetof(struct exec_ctx, ex));
	if (c->call) {
		slot_service_cancel(c->call);
		return;
	}
	struct exec_result r = {.returncode = -1,
				.error_class = EXEC_CANCELLED,
				.error = "cancelled",
				.out = "",
				.err = ""};
	c->delivered = true;
	answer_call(c, json_exec_result(&r, c->slot_id, c->ex.id));
}

/* The body's optional execution_id into c->ex.id (else the daemon's),
 * then c is registered under it. */
static int name_call(struct exec_ctx *c, json_t *item, struct sb_err *err)
{
	json_t *id = json_object_get(item, "execution_id");
	if (id && !json_is_null(id)) {
		if (!json_is_string(id) ||
		    !execution_id_valid(json_string_value(id),
					json_string_length(id))) {
			return sb_err_api(
				err, 400, "bad_request",
				"execution_id must be 1-%d characters "
				"of A-Za-z0-9_.-",
				EXECUTION_ID_MAX);
		}
		snprintf(c->ex.id, sizeof c->ex.id, "%s",
			 json_string_value(id));
	}
	c->ex.slot = c->slot;
	c->ex.slot_id = c->slot_id;
	c->ex.started_at = sb_now_wall();
	c->ex.cancel = ctx_cancel;
	if (executions_add(&c->ex) < 0) {
		return sb_err_api(err, 409, "execution_id_in_use",
				  "a running call already has execution id "
				  "\"%s\"",
				  c->ex.id);
	}
	return 0;
}

/* A streamed call's output chunk, as an event. A client that reads too
 * slowly stops the reading of the command's pipes until it drained
 * (stream_drain); one that is gone gets its call cancelled by the
 * abort callback, and what is left is read and dropped. */
static int stream_output(void *ud, int stream, const char *data, size_t len)
{
	struct exec_ctx *c = ud;
	int r = ndjson_output(c->req, &c->u8[stream == 2],
			      stream == 2 ? "stderr" : "stdout", data, len);
	return r > 0;
}

static void stream_drain(struct http_request *req, void *ud)
{
	struct exec_ctx *c = ud;
	(void)req;
	if (c->call)
		slot_service_resume_output(c->call);
}

/* The terminal of a call with a pty came (or could not be had): start
 * the call on it, or answer the failure. A call cancelled meanwhile was
 * answered then; ctx goes now. */
static void pty_ready(void *ud, int master, int slave, int err)
{
	struct exec_ctx *c = ud;
	struct sb_err e;
	const struct sb_profile *p = c->slot->sb->profile;
	c->pty_wait = false;
	if (c->delivered) {
		if (!err) {
			close(master);
			close(slave);
		}
		slot_service_call_end(c->slot);
		ctx_free(c);
		return;
	}
	if (err) {
		snprintf(e.msg, sizeof e.msg,
			 "could not open a terminal in the slot: %s",
			 strerror(err));
	} else {
		struct exec_spec spec = {
			.argv = c->bc.argv,
			.cwd = c->bc.cwd,
			.envp = c->bc.envp,
			.timeout_s = c->timeout_s,
			.output_limit = (size_t)p->output_limit_bytes,
			.on_output = c->stream ? stream_output : NULL,
			.output_ud = c,
			.tty = true,
			.tty_fd = slave,
			.out_fd = master,
		};
		/* counted as a call when its terminal was asked */
		if (slot_service_exec(c->slot, &spec, false, exec_done, c,
				      &c->call, &e) == 0)
			return;
	}
	slot_service_call_end(c->slot);
	deliver(c,
		json_exec_error(c->slot_id, EXEC_INFRA, "sandbox_lost", e.msg));
}

/* A call with a pty: TERM set, and its terminal asked of the slot. */
static int start_pty_call(struct exec_ctx *c, unsigned rows, unsigned cols,
			  double timeout, struct sb_err *err)
{
	bool has_term = false;
	for (size_t i = 0; i < c->bc.envc; i++)
		has_term |= strncmp(c->bc.envp[i], "TERM=", 5) == 0;
	if (!has_term &&
	    slot_cmd_env_push(&c->bc, "TERM", "xterm-256color") < 0) {
		return sb_err_api(err, 500, "internal", "out of memory");
	}
	c->timeout_s = timeout;
	if (slot_service_pty_open(c->slot, rows, cols, true, pty_ready, c,
				  err) < 0) {
		err->status = 502;
		err->code = "sandbox_lost";
		return -1;
	}
	c->pty_wait = true;
	return 0;
}

/* Validate and start one call. On a failure before anything ran, returns
 * -1 with err's status / code / msg set (the caller reports it its way). */
static int start_call(struct exec_ctx *c, json_t *item, double dflt_timeout,
		      struct sb_err *err)
{
	json_t *tool = json_object_get(item, "tool");
	json_t *args = json_object_get(item, "args");
	json_t *to = json_object_get(item, "timeout_s");
	const struct sb_profile *p = c->slot->sb->profile;
	double timeout =
		dflt_timeout > 0 ? dflt_timeout : p->execution_timeout_s;
	const char *stdin_data = NULL;
	size_t stdin_len = 0;
	bool merge = false;

	if (api_seconds(to, &timeout) < 0)
		return sb_err_api(err, 400, "bad_request",
				  "timeout_s must be a number of seconds in "
				  "(0, %g]",
				  API_MAX_TIMEOUT_S);
	if (!json_is_string(tool))
		return sb_err_api(err, 400, "bad_request",
				  "tool must be a string");
	if (args && !json_is_null(args) && !json_is_object(args))
		return sb_err_api(err, 400, "bad_request",
				  "args must be an object");
	json_t *empty = NULL;
	if (!args || json_is_null(args))
		args = empty = json_object();
	int r;
	const char *name = json_string_value(tool);
	snprintf(c->tool, sizeof c->tool, "%s", name);
	snprintf(c->profile, sizeof c->profile, "%s",
		 c->slot->sb->profile->name);
	c->ex.tool = c->tool;
	/* Named (and so cancellable) before it starts; ctx_free forgets
	 * the name again if it does not. */
	if (name_call(c, item, err) < 0) {
		json_decref(empty);
		return -1;
	}
	/* A tool that cannot start is the request's fault (400) here, even
	 * where the file start classified it otherwise. */
	if (strcmp(name, "bash") == 0) {
		r = bash_cmd_prepare(&c->bc, c->slot, args, "args.", err,
				     &stdin_data, &stdin_len, &merge);
		if (r < 0) {
			err->status = 400;
			err->code = "bad_request";
		}
	} else if (!strcmp(name, "read_file") || !strcmp(name, "write_file")) {
		r = start_file_tool(c, name, args, err);
		json_decref(empty);
		if (r < 0) {
			err->status = 400;
			err->code = "bad_request";
			return -1;
		}
		return 0; /* a call of the slot once started */
	} else {
		r = sb_err_api(err, 400, "bad_request",
			       "unknown tool \"%.64s\" (bash, read_file, "
			       "write_file)",
			       name);
	}
	unsigned rows = 0, cols = 0;
	json_t *pty = json_object_get(item, "pty");
	if (r == 0 && bash_cmd_pty(pty ? pty : json_object_get(args, "pty"),
				   &rows, &cols) < 0) {
		r = sb_err_api(err, 400, "bad_request",
			       "pty must be {\"rows\": 1-%u, \"cols\": 1-%u}",
			       BASH_PTY_MAX, BASH_PTY_MAX);
	} else if (r == 0 && rows && stdin_data) {
		r = sb_err_api(err, 400, "bad_request",
			       "args.stdin cannot go with a pty");
	}
	json_decref(empty);
	if (r < 0)
		return -1;
	if (rows && !c->slot->processes) {
		return sb_err_api(err, 409, "sandbox_too_old",
				  "slot %s runs in a sandbox of an older "
				  "slotboxd (adopted), which has no terminals",
				  c->slot->id);
	}
	if (rows)
		return start_pty_call(c, rows, cols, timeout, err);
	struct exec_spec spec = {
		.argv = c->bc.argv,
		.cwd = c->bc.cwd,
		.envp = c->bc.envp,
		.stdin_data = stdin_data,
		.stdin_len = stdin_len,
		.timeout_s = timeout,
		.output_limit = (size_t)p->output_limit_bytes,
		.merge_output = merge,
		.on_output = c->stream ? stream_output : NULL,
		.output_ud = c,
	};
	if (slot_service_exec(c->slot, &spec, true, exec_done, c, &c->call,
			      err) < 0) {
		api_start_error(err->sys_errno, &err->status, &err->code);
		return -1;
	}
	return 0;
}

static struct exec_ctx *ctx_new(struct sbx_slot *slot)
{
	struct exec_ctx *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->slot = slot;
	snprintf(c->slot_id, sizeof c->slot_id, "%s", slot->id);
	if (sb_random_hex(c->ex.id, 16) < 0)
		snprintf(c->ex.id, sizeof c->ex.id, "0");
	return c;
}

/* The client of a call went away before its answer: kill the call. */
static void exec_abort(struct http_request *req, void *ud)
{
	struct exec_ctx *c = ud;
	(void)req;
	executions_cancel(&c->ex, "disconnect");
}

void api_exec_one(struct api *a, struct http_request *req,
		  struct sbx_slot *slot)
{
	(void)a;
	json_t *doc = api_parse_body(req);
	if (!doc)
		return;
	struct exec_ctx *c = ctx_new(slot);
	if (!c) {
		json_decref(doc);
		http_respond_error(req, 500, "internal", "out of memory");
		return;
	}
	c->req = req;
	struct sb_err err;
	json_t *stream = json_object_get(doc, "stream");
	json_t *tool = json_object_get(doc, "tool");
	if (stream && !json_is_null(stream) && !json_is_boolean(stream)) {
		ctx_free(c);
		http_respond_error(req, 400, "bad_request",
				   "stream must be true or false");
		goto out;
	}
	c->stream = json_is_true(stream);
	if (c->stream && (!json_is_string(tool) ||
			  strcmp(json_string_value(tool), "bash"))) {
		ctx_free(c);
		http_respond_error(req, 400, "bad_request",
				   "stream is for the bash tool only");
		goto out;
	}
	if (start_call(c, doc, 0, &err) < 0) {
		ctx_free(c);
		http_respond_error(req, err.status, err.code, "%s", err.msg);
		goto out;
	}
	(void)http_respond_header(req, "X-Execution-Id", c->ex.id);
	http_request_on_abort(req, exec_abort, c);
	if (c->stream)
		http_respond_stream_begin(req, 200, NDJSON_CTYPE, stream_drain,
					  c);
out:
	json_decref(doc);
}

/* A batch's client went away: every call of it still running is
 * cancelled. The extra pending count keeps b alive while cancels answer
 * calls (a file tool's at once). */
static void batch_abort(struct http_request *req, void *ud)
{
	struct batch *b = ud;
	(void)req;
	b->pending++;
	for (size_t i = 0; i < json_array_size(b->results); i++)
		if (b->calls[i])
			executions_cancel(&b->calls[i]->ex, "disconnect");
	batch_step(b);
}

/* Resolve and validate one batch item's slot; NULL with err's code and msg
 * set (a batch answers codes only: status stays 0). */
static struct sbx_slot *batch_slot(struct api *a, json_t *item,
				   struct sb_err *err)
{
	json_t *id = json_object_get(item, "slot_id");
	if (!json_is_string(id)) {
		sb_err_api(err, 0, "bad_request", "slot_id must be a string");
		return NULL;
	}
	bool stale;
	struct sbx_slot *slot =
		pools_find_slot(a->pools, json_string_value(id), &stale);
	if (!slot) {
		sb_err_api(err, 0, "not_found", "no slot \"%.100s\"",
			   json_string_value(id));
		return NULL;
	}
	switch (slot_service_check(slot, stale)) {
	case SLOT_LEASE_LIVE:
		return slot;
	case SLOT_LEASE_ENDED:
	case SLOT_LEASE_NONE:
		sb_err_api(err, 0, "slot_not_leased", "slot %s is not leased",
			   slot->id);
		return NULL;
	case SLOT_LEASE_LOST:
		break;
	}
	sb_err_api(err, 0, "sandbox_lost", "slot %s: %s", slot->id,
		   pool_slot_of(slot)->error);
	return NULL;
}

void api_exec_batch(struct api *a, struct http_request *req)
{
	json_t *doc = api_parse_body(req);
	if (!doc)
		return;
	json_t *reqs = json_object_get(doc, "requests");
	double timeout = 0;
	json_t *to = json_object_get(doc, "timeout_s");
	if (!json_is_array(reqs) || json_array_size(reqs) > API_MAX_BATCH) {
		http_respond_error(req, 400, "bad_request",
				   "requests must be an array of at most %d "
				   "calls",
				   API_MAX_BATCH);
		goto out;
	}
	if (api_seconds(to, &timeout) < 0) {
		http_respond_error(req, 400, "bad_request",
				   "timeout_s must be a number of seconds in "
				   "(0, %g]",
				   API_MAX_TIMEOUT_S);
		goto out;
	}
	struct batch *b = calloc(1, sizeof *b);
	size_t n = json_array_size(reqs);
	if (!b || !(b->results = json_array()) ||
	    !(b->calls = calloc(n ? n : 1, sizeof(struct exec_ctx *)))) {
		if (b)
			json_decref(b->results);
		free(b);
		http_respond_error(req, 500, "internal", "out of memory");
		goto out;
	}
	b->req = req;
	for (size_t i = 0; i < n; i++)
		json_array_append_new(b->results, json_null());
	/* pending starts at n + 1 so no answer leaves before the loop ends */
	b->pending = n + 1;
	for (size_t i = 0; i < n; i++) {
		json_t *item = json_array_get(reqs, i);
		struct sb_err err;
		struct sbx_slot *slot = NULL;
		if (!json_is_object(item))
			sb_err_api(&err, 400, "bad_request",
				   "each request must be an object");
		else
			slot = batch_slot(a, item, &err);
		json_t *id = json_is_object(item)
				     ? json_object_get(item, "slot_id")
				     : NULL;
		const char *sid =
			json_is_string(id) ? json_string_value(id) : "";
		struct exec_ctx *c = slot ? ctx_new(slot) : NULL;
		if (c) {
			c->batch = b;
			c->index = i;
			if (start_call(c, item, timeout, &err) == 0) {
				b->calls[i] = c;
				continue;
			}
			ctx_free(c);
		} else if (slot) {
			sb_err_api(&err, 500, "internal", "out of memory");
		}
		enum exec_error_class cls =
			strcmp(err.code, "bad_request") == 0 ||
					strcmp(err.code,
					       "execution_id_in_use") == 0
				? EXEC_TASK
				: EXEC_INFRA;
		json_array_set_new(
			b->results, i,
			json_exec_error(sid, cls, err.code, err.msg));
		b->pending--; /* never the last: pending started at n + 1 */
	}
	http_request_on_abort(req, batch_abort, b);
	batch_step(b);
out:
	json_decref(doc);
}
