/* SPDX-License-Identifier: Apache-2.0 */
/* calls.c - libslotbox's typed calls over the JSON API (docs/API.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "common/json_text.h"

int sbc_fail_from_answer(const struct sbc_response *resp, struct sbc_error *err)
{
	json_t *doc =
		json_loadb(resp->body ? resp->body : "", resp->len, 0, NULL);
	const char *code = NULL, *msg = NULL;
	json_t *e = json_object_get(doc, "error");
	if (json_is_object(e)) {
		code = json_string_value(json_object_get(e, "code"));
		msg = json_string_value(json_object_get(e, "message"));
	}
	sbc_fail(err, resp->status, code ? code : "http_error", "%s",
		 msg ? msg : "the daemon answered without an error body");
	if (!msg && err)
		snprintf(err->message, sizeof err->message,
			 "slotboxd answered HTTP %d", resp->status);
	json_decref(doc);
	return -1;
}

int sbc_request_json(struct sbc *c, const char *method, const char *path,
		     json_t *body, json_t **out, struct sbc_error *err)
{
	if (out)
		*out = NULL;
	char *text = NULL;
	if (body) {
		text = sb_json_dumps(body, JSON_COMPACT);
		if (!text)
			return sbc_fail(err, 0, "out_of_memory",
					"out of memory");
	}
	struct sbc_response resp;
	int rc = sbc_request(c, method, path, text, text ? strlen(text) : 0,
			     "application/json", &resp, err);
	free(text);
	if (rc < 0)
		return -1;
	if (resp.status < 200 || resp.status >= 300) {
		sbc_fail_from_answer(&resp, err);
		sbc_response_free(&resp);
		return -1;
	}
	if (out && resp.len) {
		json_error_t je;
		*out = json_loadb(resp.body, resp.len, 0, &je);
		if (!*out)
			rc = sbc_fail(err, resp.status, "protocol",
				      "answer is not JSON: %s", je.text);
	}
	sbc_response_free(&resp);
	return rc;
}

char *sbc_path_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;
	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

char *sbc_slot_path(const char *slot_id, const char *suffix,
		    struct sbc_error *err)
{
	char *id = sbc_path_escape(slot_id), *p = NULL;
	if (!id || asprintf(&p, "/v1/slots/%s%s", id, suffix) < 0)
		p = NULL;
	free(id);
	if (!p)
		sbc_fail(err, 0, "out_of_memory", "out of memory");
	return p;
}

bool sbc_slot_id_ok(const char *slot_id, struct sbc_error *err)
{
	if (slot_id && *slot_id)
		return true;
	sbc_fail(err, 0, "bad_argument", "a slot id is required");
	return false;
}

int sbc_status(struct sbc *c, json_t **out, struct sbc_error *err)
{
	return sbc_request_json(c, "GET", "/v1/status", NULL, out, err);
}

int sbc_profiles(struct sbc *c, json_t **out, struct sbc_error *err)
{
	return sbc_request_json(c, "GET", "/v1/profiles", NULL, out, err);
}

static char *dup_field(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? strdup(s) : NULL;
}

void sbc_slot_free(struct sbc_slot *s)
{
	if (!s)
		return;
	free(s->slot_id);
	free(s->sandbox_id);
	free(s->profile);
	free(s->workspace_dir);
	free(s->trajectory_id);
	free(s->state);
	free(s->endpoint);
	json_decref(s->raw);
	memset(s, 0, sizeof *s);
}

int sbc_post_acquire(struct sbc *c, json_t *req, const char *trajectory_id,
		     double timeout_s, double ttl_s, struct sbc_slot *out,
		     struct sbc_error *err)
{
	memset(out, 0, sizeof *out);
	if (!req)
		return sbc_fail(err, 0, "out_of_memory", "out of memory");
	if (trajectory_id)
		json_object_set_new(req, "trajectory_id",
				    json_string(trajectory_id));
	if (timeout_s > 0)
		json_object_set_new(req, "timeout_s", json_real(timeout_s));
	if (ttl_s > 0)
		json_object_set_new(req, "ttl_s", json_real(ttl_s));
	int rc = sbc_request_json(c, "POST", "/v1/slots", req, &out->raw, err);
	json_decref(req);
	if (rc < 0)
		return -1;
	return sbc_slot_fill(out, err);
}

int sbc_acquire(struct sbc *c, const char *profile, const char *trajectory_id,
		double timeout_s, double ttl_s, struct sbc_slot *out,
		struct sbc_error *err)
{
	json_t *req = json_object();
	if (req && profile)
		json_object_set_new(req, "profile", json_string(profile));
	return sbc_post_acquire(c, req, trajectory_id, timeout_s, ttl_s, out,
				err);
}

int sbc_slot_fill(struct sbc_slot *out, struct sbc_error *err)
{
	out->slot_id = dup_field(out->raw, "slot_id");
	out->sandbox_id = dup_field(out->raw, "sandbox_id");
	out->profile = dup_field(out->raw, "profile");
	out->workspace_dir = dup_field(out->raw, "workspace_dir");
	out->trajectory_id = dup_field(out->raw, "trajectory_id");
	out->state = dup_field(out->raw, "state");
	if (!out->slot_id) {
		sbc_slot_free(out);
		return sbc_fail(err, 201, "protocol",
				"a slot came without a slot_id");
	}
	return 0;
}

int sbc_release(struct sbc *c, const char *slot_id, bool reset,
		struct sbc_error *err)
{
	if (!sbc_slot_id_ok(slot_id, err))
		return -1;
	char *path = sbc_slot_path(slot_id,
				   reset ? "?reset=true" : "?reset=false", err);
	if (!path)
		return -1;
	int rc = sbc_request_json(c, "DELETE", path, NULL, NULL, err);
	free(path);
	return rc;
}

int sbc_renew(struct sbc *c, const char *slot_id, double ttl_s,
	      struct sbc_error *err)
{
	if (!sbc_slot_id_ok(slot_id, err))
		return -1;
	char *path = sbc_slot_path(slot_id, "/renew", err);
	json_t *body =
		ttl_s >= 0 ? json_pack("{s:f}", "ttl_s", ttl_s) : json_object();
	int rc = -1;
	if (!body)
		sbc_fail(err, 0, "out_of_memory", "out of memory");
	else if (path)
		rc = sbc_request_json(c, "POST", path, body, NULL, err);
	json_decref(body);
	free(path);
	return rc;
}

void sbc_exec_result_free(struct sbc_exec_result *r)
{
	if (!r)
		return;
	free(r->out);
	free(r->err);
	free(r->error);
	free(r->execution_id);
	json_decref(r->raw);
	memset(r, 0, sizeof *r);
}

/* A copy of a JSON string with its length (output may hold NUL bytes). */
static char *dup_string(json_t *s, size_t *len)
{
	const char *v = json_string_value(s);
	size_t n = v ? json_string_length(s) : 0;
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	if (n)
		memcpy(out, v, n);
	out[n] = '\0';
	if (len)
		*len = n;
	return out;
}

int sbc_exec_result_fill(struct sbc_exec_result *r, struct sbc_error *err)
{
	json_t *md = json_object_get(r->raw, "metadata");
	if (!json_is_object(r->raw) || !json_is_object(md))
		return sbc_fail(err, 200, "protocol",
				"exec answered without an ExecutionResult");
	r->success = json_is_true(json_object_get(r->raw, "success"));
	r->returncode =
		(int)json_integer_value(json_object_get(md, "returncode"));
	r->timed_out = json_is_true(json_object_get(md, "timed_out"));
	r->truncated = json_is_true(json_object_get(md, "truncated"));
	r->duration_ms = json_number_value(json_object_get(md, "duration_ms"));
	const char *cls = json_string_value(json_object_get(md, "error_class"));
	snprintf(r->error_class, sizeof r->error_class, "%s",
		 cls ? cls : "none");
	r->out = dup_string(json_object_get(md, "stdout"), &r->out_len);
	r->err = dup_string(json_object_get(md, "stderr"), &r->err_len);
	r->error = dup_string(json_object_get(r->raw, "error"), NULL);
	r->execution_id =
		dup_string(json_object_get(r->raw, "execution_id"), NULL);
	if (!r->out || !r->err || !r->error || !r->execution_id)
		return sbc_fail(err, 0, "out_of_memory", "out of memory");
	return 0;
}

json_t *sbc_bash_args(const struct sbc_bash *req, struct sbc_error *err)
{
	json_t *args = json_object();
	json_t *env = json_object();
	if (!args || !env)
		goto oom;
	json_object_set_new(args, "command", json_string(req->command));
	if (req->stdin_data)
		json_object_set_new(args, "stdin",
				    json_string(req->stdin_data));
	if (req->cwd)
		json_object_set_new(args, "cwd", json_string(req->cwd));
	if (req->merge_output)
		json_object_set_new(args, "merge_output", json_true());
	if (req->pty_rows > 0 && req->pty_cols > 0)
		json_object_set_new(args, "pty",
				    sbc_pty_json(req->pty_rows, req->pty_cols));
	for (const char *const *e = req->env; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq || eq == *e) {
			sbc_fail(err, 0, "bad_argument",
				 "environment entries are KEY=VALUE: %s", *e);
			goto fail;
		}
		json_object_setn_new(env, *e, (size_t)(eq - *e),
				     json_string(eq + 1));
	}
	json_object_set_new(args, "env", env);
	return args;
oom:
	sbc_fail(err, 0, "out_of_memory", "out of memory");
fail:
	json_decref(args);
	json_decref(env);
	return NULL;
}

int sbc_bash(struct sbc *c, const char *slot_id, const struct sbc_bash *req,
	     struct sbc_exec_result *out, struct sbc_error *err)
{
	memset(out, 0, sizeof *out);
	if (!sbc_slot_id_ok(slot_id, err))
		return -1;
	if (!req || !req->command)
		return sbc_fail(err, 0, "bad_argument", "a command is needed");
	json_t *args = sbc_bash_args(req, err);
	if (!args)
		return -1;
	json_t *body = json_pack("{s:s, s:o}", "tool", "bash", "args", args);
	if (body && req->timeout_s > 0)
		json_object_set_new(body, "timeout_s",
				    json_real(req->timeout_s));
	if (body && req->execution_id)
		json_object_set_new(body, "execution_id",
				    json_string(req->execution_id));
	char *path = sbc_slot_path(slot_id, "/exec", err);
	int rc = -1;
	if (!body)
		sbc_fail(err, 0, "out_of_memory", "out of memory");
	else if (path)
		rc = sbc_request_json(c, "POST", path, body, &out->raw, err);
	free(path);
	json_decref(body);
	if (rc == 0)
		rc = sbc_exec_result_fill(out, err);
	if (rc < 0)
		sbc_exec_result_free(out);
	return rc;
}

int sbc_cancel(struct sbc *c, const char *execution_id, struct sbc_error *err)
{
	if (!execution_id || !*execution_id || strlen(execution_id) > 64)
		return sbc_fail(err, 0, "bad_argument",
				"an execution id is 1-64 characters");
	char *id = sbc_path_escape(execution_id);
	char *path = NULL;
	if (!id || asprintf(&path, "/v1/executions/%s", id) < 0) {
		free(id);
		return sbc_fail(err, 0, "out_of_memory", "out of memory");
	}
	int rc = sbc_request_json(c, "DELETE", path, NULL, NULL, err);
	free(path);
	free(id);
	return rc;
}
