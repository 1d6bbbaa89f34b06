/* SPDX-License-Identifier: Apache-2.0 */
/* process.c - libslotbox's API 1.1 calls: streamed exec, background
 * processes with handles, and requests through the port proxy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client_internal.h"
#include "common/base64.h"

/* The most stdin one request carries (the daemon's bound), and how long a
 * write waits in all while the process's queue stays full (429). */
#define SBC_STDIN_CHUNK ((size_t)1 << 20)
#define SBC_STDIN_FULL_WAIT_MS 60000L

json_t *sbc_pty_json(int rows, int cols)
{
	return json_pack("{s:i, s:i}", "rows", rows, "cols", cols);
}

/* ---- streamed exec --------------------------------------------------- */

struct bash_stream {
	sbc_event_fn fn;
	void *ud;
	struct sbc_exec_result *out;
	bool have_result;
};

/* Keep the "result" event's ExecutionResult; pass every event on. */
static int bash_event(const struct sbc_event *ev, void *ud)
{
	struct bash_stream *bs = ud;
	json_t *result = json_object_get(ev->doc, "result");
	if (strcmp(ev->type, "result") == 0 && json_is_object(result) &&
	    !bs->have_result) {
		bs->out->raw = json_incref(result);
		bs->have_result = true;
	}
	return bs->fn ? bs->fn(ev, bs->ud) : 0;
}

int sbc_bash_stream(struct sbc *c, const char *slot_id,
		    const struct sbc_bash *req, sbc_event_fn fn, void *ud,
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
	json_t *body = json_pack("{s:s, s:o, s:b}", "tool", "bash", "args",
				 args, "stream", 1);
	if (body && req->timeout_s > 0)
		json_object_set_new(body, "timeout_s",
				    json_real(req->timeout_s));
	if (body && req->execution_id)
		json_object_set_new(body, "execution_id",
				    json_string(req->execution_id));
	char *path = sbc_slot_path(slot_id, "/exec", err);
	struct bash_stream bs = {.fn = fn, .ud = ud, .out = out};
	struct sbc_stream *s = NULL;
	int rc = -1;
	if (!body)
		sbc_fail(err, 0, "out_of_memory", "out of memory");
	else if (path)
		rc = sbc_stream_open(c, "POST", path, body, bash_event, &bs, &s,
				     err);
	free(path);
	json_decref(body);
	if (rc == 0)
		rc = sbc_stream_run(s, err);
	sbc_stream_close(s);
	if (rc == 0 && !bs.have_result)
		rc = sbc_fail(err, 200, "protocol",
			      "the stream ended without a result");
	if (rc == 0)
		rc = sbc_exec_result_fill(out, err);
	if (rc < 0)
		sbc_exec_result_free(out);
	return rc;
}

/* ---- processes ------------------------------------------------------- */

/* "/v1/slots/<slot>/processes[/<process>]<suffix>", owned. */
static char *process_path(const char *slot_id, const char *process_id,
			  const char *suffix, struct sbc_error *err)
{
	if (!sbc_slot_id_ok(slot_id, err))
		return NULL;
	if (process_id && !*process_id) {
		sbc_fail(err, 0, "bad_argument", "a process id is required");
		return NULL;
	}
	char *id = sbc_path_escape(slot_id);
	char *pid = process_id ? sbc_path_escape(process_id) : strdup("");
	char *p = NULL;
	if (!id || !pid ||
	    asprintf(&p, "/v1/slots/%s/processes%s%s%s", id,
		     process_id ? "/" : "", pid, suffix) < 0)
		p = NULL;
	free(id);
	free(pid);
	if (!p)
		sbc_fail(err, 0, "out_of_memory", "out of memory");
	return p;
}

static json_t *env_object(const char *const *env, struct sbc_error *err)
{
	json_t *o = json_object();
	for (const char *const *e = env; o && e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq || eq == *e) {
			json_decref(o);
			sbc_fail(err, 0, "bad_argument",
				 "environment entries are KEY=VALUE: %s", *e);
			return NULL;
		}
		json_object_setn_new(o, *e, (size_t)(eq - *e),
				     json_string(eq + 1));
	}
	if (!o)
		sbc_fail(err, 0, "out_of_memory", "out of memory");
	return o;
}

void sbc_process_free(struct sbc_process *p)
{
	if (!p)
		return;
	free(p->process_id);
	json_decref(p->raw);
	memset(p, 0, sizeof *p);
}

int sbc_process_start(struct sbc *c, const char *slot_id,
		      const struct sbc_process_spec *spec,
		      struct sbc_process *out, struct sbc_error *err)
{
	memset(out, 0, sizeof *out);
	if (!spec || !spec->command)
		return sbc_fail(err, 0, "bad_argument", "a command is needed");
	json_t *env = env_object(spec->env, err);
	if (!env)
		return -1;
	json_t *body =
		json_pack("{s:s, s:o}", "command", spec->command, "env", env);
	if (body && spec->cwd)
		json_object_set_new(body, "cwd", json_string(spec->cwd));
	if (body && spec->stdin_data)
		json_object_set_new(body, "stdin",
				    json_string(spec->stdin_data));
	if (body && spec->merge_output)
		json_object_set_new(body, "merge_output", json_true());
	if (body && spec->rows > 0 && spec->cols > 0)
		json_object_set_new(body, "pty",
				    sbc_pty_json(spec->rows, spec->cols));
	char *path = process_path(slot_id, NULL, "", err);
	int rc = -1;
	if (!body)
		sbc_fail(err, 0, "out_of_memory", "out of memory");
	else if (path)
		rc = sbc_request_json(c, "POST", path, body, &out->raw, err);
	free(path);
	json_decref(body);
	if (rc < 0)
		return -1;
	const char *id =
		json_string_value(json_object_get(out->raw, "process_id"));
	out->process_id = id ? strdup(id) : NULL;
	out->pid = (long)json_integer_value(json_object_get(out->raw, "pid"));
	if (!out->process_id) {
		sbc_process_free(out);
		return sbc_fail(err, 201, "protocol",
				"a process came without a process_id");
	}
	return 0;
}

int sbc_process_list(struct sbc *c, const char *slot_id, json_t **out,
		     struct sbc_error *err)
{
	*out = NULL;
	char *path = process_path(slot_id, NULL, "", err);
	if (!path)
		return -1;
	int rc = sbc_request_json(c, "GET", path, NULL, out, err);
	free(path);
	return rc;
}

void sbc_process_output_free(struct sbc_process_output *o)
{
	if (!o)
		return;
	free(o->out);
	free(o->err);
	json_decref(o->raw);
	memset(o, 0, sizeof *o);
}

/* A copy of field key of doc, base64-decoded when enc says so. */
static char *output_field(json_t *doc, const char *key, const char *enc,
			  size_t *len)
{
	json_t *v = json_object_get(doc, key);
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	size_t n = json_is_string(v) ? json_string_length(v) : 0;
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	long got = (long)n;
	if (enc && strcmp(enc, "base64") == 0)
		got = b64_decode(s, n, out);
	else
		memcpy(out, s, n);
	if (got < 0) {
		free(out);
		return NULL;
	}
	out[got] = '\0';
	*len = (size_t)got;
	return out;
}

static int fill_output(struct sbc_process_output *o, struct sbc_error *err)
{
	json_t *d = o->raw;
	if (!json_is_object(d))
		return sbc_fail(err, 200, "protocol",
				"output answered without an object");
	const char *enc = json_string_value(json_object_get(d, "encoding"));
	const char *oenc =
		json_string_value(json_object_get(d, "stdout_encoding"));
	const char *eenc =
		json_string_value(json_object_get(d, "stderr_encoding"));
	o->out = output_field(d, "stdout", oenc ? oenc : enc, &o->out_len);
	o->err = output_field(d, "stderr", eenc ? eenc : enc, &o->err_len);
	if (!o->out || !o->err)
		return sbc_fail(err, 200, "protocol",
				"output is not decodable (or out of memory)");
	o->next = json_integer_value(json_object_get(d, "next"));
	o->running = json_is_true(json_object_get(d, "running"));
	o->exit_code = (int)json_integer_value(json_object_get(d, "exit_code"));
	o->dropped = json_integer_value(json_object_get(d, "dropped"));
	return 0;
}

int sbc_process_output(struct sbc *c, const char *slot_id,
		       const char *process_id, long long since, double wait_s,
		       struct sbc_process_output *out, struct sbc_error *err)
{
	memset(out, 0, sizeof *out);
	char q[96];
	if (wait_s > 0)
		snprintf(q, sizeof q, "/output?since=%lld&wait_s=%.3f",
			 since < 0 ? 0 : since, wait_s);
	else
		snprintf(q, sizeof q, "/output?since=%lld",
			 since < 0 ? 0 : since);
	char *path = process_path(slot_id, process_id, q, err);
	if (!path)
		return -1;
	int rc = sbc_request_json(c, "GET", path, NULL, &out->raw, err);
	free(path);
	if (rc == 0)
		rc = fill_output(out, err);
	if (rc < 0)
		sbc_process_output_free(out);
	return rc;
}

int sbc_process_stream(struct sbc *c, const char *slot_id,
		       const char *process_id, long long since, sbc_event_fn fn,
		       void *ud, struct sbc_stream **out, struct sbc_error *err)
{
	*out = NULL;
	char q[64];
	snprintf(q, sizeof q, "/output?since=%lld&stream=true",
		 since < 0 ? 0 : since);
	char *path = process_path(slot_id, process_id, q, err);
	if (!path)
		return -1;
	int rc = sbc_stream_open(c, "GET", path, NULL, fn, ud, out, err);
	free(path);
	return rc;
}

/* A request whose answer is 2xx with nothing we need. */
static int post_simple(struct sbc *c, const char *method, char *path,
		       json_t *body, struct sbc_error *err)
{
	int rc = -1;
	if (!body && strcmp(method, "DELETE") != 0)
		sbc_fail(err, 0, "out_of_memory", "out of memory");
	else if (path)
		rc = sbc_request_json(c, method, path, body, NULL, err);
	free(path);
	json_decref(body);
	return rc;
}

/* One stdin request: 0, 1 when the process's queue is full (429), -1. */
static int stdin_once(struct sbc *c, const char *path, const char *data,
		      size_t len, struct sbc_error *err)
{
	struct sbc_response resp;
	int rc = sbc_request(c, "POST", path, data, len,
			     "application/octet-stream", &resp, err);
	if (rc == 0 && resp.status == 429)
		rc = 1;
	else if (rc == 0 && (resp.status < 200 || resp.status >= 300))
		rc = sbc_fail_from_answer(&resp, err);
	if (rc == 1)
		(void)sbc_fail_from_answer(&resp, err);
	sbc_response_free(&resp);
	return rc;
}

/* One piece, retried while the process's queue is full: 0 or -1. */
static int stdin_piece(struct sbc *c, const char *path, const char *data,
		       size_t len, struct sbc_error *err)
{
	long pause_ms = 10, waited_ms = 0;
	for (;;) {
		int rc = stdin_once(c, path, data, len, err);
		if (rc != 1)
			return rc;
		if (waited_ms >= SBC_STDIN_FULL_WAIT_MS || sbc_cancelled(c))
			return -1; /* err says stdin_full */
		struct timespec ts = {.tv_sec = pause_ms / 1000,
				      .tv_nsec = pause_ms % 1000 * 1000000};
		(void)nanosleep(&ts, NULL);
		waited_ms += pause_ms;
		pause_ms = pause_ms * 2 > 200 ? 200 : pause_ms * 2;
	}
}

int sbc_process_stdin(struct sbc *c, const char *slot_id,
		      const char *process_id, const void *data, size_t len,
		      bool eof, struct sbc_error *err)
{
	char *path = process_path(slot_id, process_id, "/stdin", err);
	char *eof_path =
		path ? process_path(slot_id, process_id, "/stdin?eof=true", err)
		     : NULL;
	const char *bytes = data ? data : "";
	size_t total = data ? len : 0, off = 0;
	int rc = eof_path ? 0 : -1;
	while (rc == 0) {
		size_t n = total - off > SBC_STDIN_CHUNK ? SBC_STDIN_CHUNK
							 : total - off;
		bool final = off + n == total;
		rc = stdin_piece(c, final && eof ? eof_path : path, bytes + off,
				 n, err);
		off += n;
		if (final)
			break;
	}
	free(path);
	free(eof_path);
	return rc;
}

int sbc_process_signal(struct sbc *c, const char *slot_id,
		       const char *process_id, const char *signal_name,
		       struct sbc_error *err)
{
	if (!signal_name || !*signal_name)
		return sbc_fail(err, 0, "bad_argument", "a signal is needed");
	if (strncmp(signal_name, "SIG", 3) == 0)
		signal_name += 3;
	return post_simple(c, "POST",
			   process_path(slot_id, process_id, "/signal", err),
			   json_pack("{s:s}", "signal", signal_name), err);
}

int sbc_process_resize(struct sbc *c, const char *slot_id,
		       const char *process_id, int rows, int cols,
		       struct sbc_error *err)
{
	if (rows <= 0 || cols <= 0 || rows > 65535 || cols > 65535)
		return sbc_fail(err, 0, "bad_argument",
				"rows and cols are 1-65535");
	return post_simple(c, "POST",
			   process_path(slot_id, process_id, "/resize", err),
			   sbc_pty_json(rows, cols), err);
}

int sbc_process_kill(struct sbc *c, const char *slot_id, const char *process_id,
		     struct sbc_error *err)
{
	return post_simple(c, "DELETE",
			   process_path(slot_id, process_id, "", err), NULL,
			   err);
}

/* ---- ports ----------------------------------------------------------- */

int sbc_port_request(struct sbc *c, const char *slot_id, int port,
		     const char *method, const char *path, const void *body,
		     size_t len, const char *content_type,
		     struct sbc_response *resp, struct sbc_error *err)
{
	memset(resp, 0, sizeof *resp);
	if (!method || !*method || strpbrk(method, " \r\n\t"))
		return sbc_fail(err, 0, "bad_argument", "a method is needed");
	/* never a byte that could end the request line */
	for (const unsigned char *p = (const unsigned char *)(path ? path : "");
	     *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return sbc_fail(err, 0, "bad_argument",
					"a URL path has no blanks or control "
					"characters (percent-encode them)");
	char *p = sbc_slot_port_path(slot_id, port, path, err);
	if (!p)
		return -1;
	int rc = sbc_request(c, method, p, body, len, content_type, resp, err);
	free(p);
	return rc;
}
