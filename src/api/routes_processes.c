/* SPDX-License-Identifier: Apache-2.0 */
/* routes_processes.c - /v1/slots/{id}/processes (API 1.1): background
 * processes (processes.h) started, listed, read, written, signalled,
 * resized and killed over HTTP.
 *
 * Output offsets count the bytes of a process's output in the order the
 * daemon read them, stdout and stderr as one sequence (proc_ring.h): an
 * answer holds the bytes in [since, next) that the ring still has, split
 * by stream; `dropped` is how many bytes of that range the ring had lost
 * already. A long-poll waits up to wait_s for a byte at or past since (or
 * the end); stream=true answers NDJSON events as exec's stream does, then
 * {"type": "result", "result": {"exit_code", "next", "dropped"}} when the
 * process has ended and all its output is sent. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/bash_cmd.h"
#include "api/ndjson.h"
#include "api/processes.h"
#include "common/util.h"

#define PROC_WAIT_MAX_S 300.0
#define PROC_CHUNK (64u << 10)

static json_t *exit_json(const struct proc *p)
{
	return p->has_exit ? json_integer(p->exit_code) : json_null();
}

static json_t *proc_json(const struct proc *p)
{
	return json_pack("{s:s,s:s,s:i,s:b,s:o,s:f,s:o,s:b}", "process_id",
			 p->id, "command", p->cmd.command ? p->cmd.command : "",
			 "pid", p->pid, "running", p->running, "exit_code",
			 exit_json(p), "started_at", p->started_at, "ended_at",
			 p->running ? json_null() : json_real(p->ended_at),
			 "pty", p->pty);
}

/* ---- starting one ---- */

static void started(struct proc *p, int err, const char *why)
{
	struct http_request *req = p->started_ud;
	if (err) {
		http_respond_error(req, 502, "spawn_failed",
				   "could not start the process: %s", why);
		return;
	}
	http_respond_json(
		req, 201,
		json_pack("{s:s,s:i}", "process_id", p->id, "pid", p->pid));
}

static void post_process(struct http_request *req, struct sbx_slot *slot)
{
	json_t *doc = api_parse_body(req);
	if (!doc)
		return;
	struct slot_cmd cmd = {0};
	struct sb_err err;
	const char *in;
	size_t in_len;
	bool merge;
	unsigned rows, cols;
	json_t *env = json_object_get(doc, "env");
	if (bash_cmd_pty(json_object_get(doc, "pty"), &rows, &cols) < 0) {
		http_respond_error(req, 400, "bad_request",
				   "pty must be {\"rows\": 1-%u, \"cols\": "
				   "1-%u}",
				   BASH_PTY_MAX, BASH_PTY_MAX);
	} else if (bash_cmd_prepare(&cmd, slot, doc, "", &err, &in, &in_len,
				    &merge) < 0) {
		http_respond_error(req, 400, "bad_request", "%s", err.msg);
	} else if (rows && in) {
		http_respond_error(req, 400, "bad_request",
				   "stdin cannot go with a pty: write it to "
				   "the process's stdin");
	} else if (rows && !json_object_get(env, "TERM") &&
		   slot_cmd_env_push(&cmd, "TERM", "xterm-256color") < 0) {
		http_respond_error(req, 500, "internal", "out of memory");
	} else if (!slot->processes) {
		http_respond_error(req, 409, "sandbox_too_old",
				   "slot %s runs in a sandbox of an older "
				   "slotboxd (adopted), which has no "
				   "background processes",
				   slot->id);
	} else if (!proc_room(slot)) {
		http_respond_error(req, 429, "too_many_processes",
				   "slot %s already runs %lld processes "
				   "(the profile's max_processes)",
				   slot->id,
				   (long long)slot->sb->profile->max_processes);
	} else {
		struct proc *p = proc_start(slot, &cmd, rows, cols, merge,
					    started, req, &err);
		if (!p)
			http_respond_error(req, 502, "spawn_failed",
					   "could not start the process: %s",
					   err.msg);
		else if (in) /* its first input, as exec's stdin */
			(void)proc_stdin(p, in, in_len, false);
	}
	slot_cmd_free(&cmd);
	json_decref(doc);
}

static void list_one(struct proc *p, void *ud)
{
	json_array_append_new(ud, proc_json(p));
}

/* ---- output ---- */

struct out_wait {
	struct proc_watch w; /* first: the watch is the wait */
	struct proc *p;
	struct http_request *req;
	uint64_t pos; /* the next offset to answer */
	uint64_t dropped;
	uv_timer_t timer;
	bool stream;
	bool paused; /* the client's queue is full: wait for drain */
	bool over;
	struct ndjson_utf8 u8[2];
};

static void wait_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Stop watching; o goes once its timer is closed. */
static void wait_end(struct out_wait *o)
{
	if (o->over)
		return;
	o->over = true;
	uv_timer_stop(&o->timer);
	proc_watch_remove(o->p, &o->w);
	o->p = NULL;
	uv_close((uv_handle_t *)&o->timer, wait_closed);
}

/* The long-poll answer: bytes [from, end) of the ring split by stream. A
 * UTF-8 sequence cut at the end of a running process's output is left
 * for the next read. */
static json_t *output_json(const struct proc *p, uint64_t since)
{
	const struct proc_ring *r = &p->ring;
	uint64_t from = since < r->start ? r->start : since;
	uint64_t to = r->end;
	uint64_t dropped = since < r->start ? r->start - since : 0;
	if (from > to)
		from = to;
	size_t n = (size_t)(to - from);
	char *all = malloc(n ? n : 1);
	char *out[2] = {malloc(n ? n : 1), malloc(n ? n : 1)};
	size_t len[2] = {0, 0};
	json_t *o = NULL;
	if (!all || !out[0] || !out[1])
		goto done;
	if (n)
		proc_ring_copy(r, from, to, all);
	uint64_t last_run = from;
	for (uint64_t off = from; off < to;) {
		uint64_t end;
		int s = proc_ring_run_at(r, off, &end) == 2;
		memcpy(out[s] + len[s], all + (off - from),
		       (size_t)(end - off));
		len[s] += (size_t)(end - off);
		last_run = off;
		off = end;
	}
	if (p->running && to > last_run) {
		int s = proc_ring_run_at(r, last_run, &(uint64_t){0}) == 2;
		size_t run_len = (size_t)(to - last_run);
		const unsigned char *tail =
			(const unsigned char *)out[s] + len[s] - run_len;
		size_t keep = ndjson_utf8_cut(tail, run_len);
		len[s] -= run_len - keep;
		to -= run_len - keep;
	}
	o = json_pack("{s:o,s:o,s:I,s:b,s:o,s:I}", "stdout",
		      sb_json_string_lossy(out[0], len[0], NULL), "stderr",
		      sb_json_string_lossy(out[1], len[1], NULL), "next",
		      (json_int_t)to, "running", p->running, "exit_code",
		      exit_json(p), "dropped", (json_int_t)dropped);
done:
	free(all);
	free(out[0]);
	free(out[1]);
	return o;
}

static void poll_answer(struct out_wait *o)
{
	json_t *doc = output_json(o->p, o->pos);
	if (doc)
		http_respond_json(o->req, 200, doc);
	else
		http_respond_error(o->req, 500, "internal", "out of memory");
	wait_end(o);
}

/* Send what the ring holds past o->pos while the client takes it, and
 * the end once the process has ended and everything is out. */
static void stream_pump(struct out_wait *o)
{
	const struct proc_ring *r = &o->p->ring;
	static char chunk[PROC_CHUNK];
	int w = 0;
	while (!o->paused && o->pos < r->end) {
		if (o->pos < r->start) { /* fell out while the client lagged */
			o->dropped += r->start - o->pos;
			w = ndjson_line(
				o->req,
				json_pack("{s:s,s:I}", "type", "dropped",
					  "bytes",
					  (json_int_t)(r->start - o->pos)));
			o->pos = r->start;
			if (w < 0)
				break;
			continue;
		}
		uint64_t end;
		int s = proc_ring_run_at(r, o->pos, &end);
		if (end - o->pos > PROC_CHUNK)
			end = o->pos + PROC_CHUNK;
		proc_ring_copy(r, o->pos, end, chunk);
		w = ndjson_output(o->req, &o->u8[s == 2],
				  s == 2 ? "stderr" : "stdout", chunk,
				  (size_t)(end - o->pos));
		o->pos = end;
		if (w < 0)
			break;
		o->paused = w > 0;
	}
	if (w < 0) { /* the client is gone */
		http_respond_stream_end(o->req);
		wait_end(o);
		return;
	}
	if (o->p->running || o->pos < r->end)
		return;
	ndjson_output_flush(o->req, &o->u8[0], "stdout");
	ndjson_output_flush(o->req, &o->u8[1], "stderr");
	ndjson_line(o->req, json_pack("{s:s,s:{s:o,s:I,s:I}}", "type", "result",
				      "result", "exit_code", exit_json(o->p),
				      "next", (json_int_t)o->pos, "dropped",
				      (json_int_t)o->dropped));
	http_respond_stream_end(o->req);
	wait_end(o);
}

static void wait_told(struct proc_watch *w, struct proc *p)
{
	struct out_wait *o = (struct out_wait *)w;
	if (o->stream)
		stream_pump(o);
	else if (p->ring.end > o->pos || !p->running)
		poll_answer(o);
}

static void wait_timeout(uv_timer_t *t)
{
	poll_answer(t->data);
}

static void wait_abort(struct http_request *req, void *ud)
{
	struct out_wait *o = ud;
	(void)req;
	if (o->over)
		return;
	if (o->stream)
		http_respond_stream_end(o->req);
	else
		http_respond_error(o->req, 503, "client_gone",
				   "the client went away");
	wait_end(o);
}

static void wait_drain(struct http_request *req, void *ud)
{
	struct out_wait *o = ud;
	(void)req;
	if (o->over)
		return;
	o->paused = false;
	stream_pump(o);
}

/* "since" as a decimal offset (0 when absent); -1 answered. */
static int query_u64(struct http_request *req, const char *name, uint64_t *out)
{
	char v[32], *end;
	int r = http_query_get(req->query, name, v, sizeof v);
	*out = 0;
	if (r == 0)
		return 0;
	errno = 0;
	unsigned long long x =
		r > 0 && v[0] >= '0' && v[0] <= '9' ? strtoull(v, &end, 10) : 0;
	if (r < 0 || !(v[0] >= '0' && v[0] <= '9') || *end || errno) {
		http_respond_error(req, 400, "bad_request",
				   "%s must be a byte offset", name);
		return -1;
	}
	*out = x;
	return 0;
}

static int query_wait(struct http_request *req, double *out)
{
	char v[32], *end;
	int r = http_query_get(req->query, "wait_s", v, sizeof v);
	*out = 0;
	if (r == 0)
		return 0;
	double x = r > 0 ? strtod(v, &end) : -1;
	if (r < 0 || !*v || *end || !isfinite(x) || x < 0 ||
	    x > PROC_WAIT_MAX_S) {
		http_respond_error(req, 400, "bad_request",
				   "wait_s must be seconds in [0, %g]",
				   PROC_WAIT_MAX_S);
		return -1;
	}
	*out = x;
	return 0;
}

static void get_output(struct http_request *req, struct sbx_slot *slot,
		       struct proc *p)
{
	uint64_t since;
	double wait_s;
	bool stream;
	if (query_u64(req, "since", &since) < 0 ||
	    query_wait(req, &wait_s) < 0 ||
	    api_query_bool(req, "stream", false, &stream) < 0)
		return;
	bool ready = p->ring.end > since || !p->running;
	if (!stream && (ready || wait_s <= 0)) {
		json_t *doc = output_json(p, since);
		if (doc)
			http_respond_json(req, 200, doc);
		else
			http_respond_error(req, 500, "internal",
					   "out of memory");
		return;
	}
	struct out_wait *o = calloc(1, sizeof *o);
	if (!o) {
		http_respond_error(req, 500, "internal", "out of memory");
		return;
	}
	o->p = p;
	o->req = req;
	o->pos = since;
	o->stream = stream;
	o->w.fn = wait_told;
	uv_timer_init(slot->sb->env->loop, &o->timer);
	o->timer.data = o;
	proc_watch_add(p, &o->w);
	http_request_on_abort(req, wait_abort, o);
	if (stream) {
		if (since > p->ring.end)
			o->pos = p->ring.end;
		http_respond_stream_begin(req, 200, NDJSON_CTYPE, wait_drain,
					  o);
		stream_pump(o);
	} else {
		uv_timer_start(&o->timer, wait_timeout,
			       (uint64_t)(wait_s * 1000.0), 0);
	}
}

/* ---- input, signals, size ---- */

static void post_stdin(struct http_request *req, struct proc *p)
{
	bool eof;
	if (api_query_bool(req, "eof", false, &eof) < 0)
		return;
	if (req->body_len > PROC_STDIN_QUEUE_MAX)
		http_respond_error(req, 413, "payload_too_large",
				   "write at most %u bytes of stdin at a time",
				   PROC_STDIN_QUEUE_MAX);
	else if (proc_stdin(p, req->body, req->body_len, eof) == 0)
		http_respond(req, 204, NULL, NULL, 0);
	else if (errno == EAGAIN)
		http_respond_error(req, 429, "stdin_full",
				   "the process has not read the %u bytes "
				   "waiting for it",
				   PROC_STDIN_QUEUE_MAX);
	else
		http_respond_error(req, 409, "stdin_closed",
				   "the process's stdin is closed");
}

static const struct {
	const char *name;
	int sig;
} signals[] = {
	{"INT", SIGINT},     {"TERM", SIGTERM}, {"KILL", SIGKILL},
	{"HUP", SIGHUP},     {"QUIT", SIGQUIT}, {"USR1", SIGUSR1},
	{"USR2", SIGUSR2},   {"STOP", SIGSTOP}, {"CONT", SIGCONT},
	{"WINCH", SIGWINCH}, {"TSTP", SIGTSTP},
};

static int signal_named(const char *name)
{
	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
		if (strcmp(name, signals[i].name) == 0)
			return signals[i].sig;
	return 0;
}

static void post_signal(struct http_request *req, struct proc *p)
{
	json_t *doc = api_parse_body(req);
	if (!doc)
		return;
	json_t *s = json_object_get(doc, "signal");
	int sig = json_is_string(s) ? signal_named(json_string_value(s)) : 0;
	if (!sig)
		http_respond_error(req, 400, "bad_request",
				   "signal must be one of INT, TERM, KILL, "
				   "HUP, QUIT, USR1, USR2, STOP, CONT, "
				   "WINCH, TSTP");
	else if (proc_signal(p, sig) < 0)
		http_respond_error(req, 409, "process_not_running",
				   "process %s has ended", p->id);
	else
		http_respond(req, 204, NULL, NULL, 0);
	json_decref(doc);
}

static void post_resize(struct http_request *req, struct proc *p)
{
	json_t *doc = api_parse_body(req);
	if (!doc)
		return;
	unsigned rows, cols;
	if (bash_cmd_pty(doc, &rows, &cols) < 0 || !rows)
		http_respond_error(req, 400, "bad_request",
				   "rows and cols must be integers in 1-%u",
				   BASH_PTY_MAX);
	else if (!p->pty)
		http_respond_error(req, 409, "not_a_terminal",
				   "process %s has no pty", p->id);
	else if (proc_resize(p, rows, cols) < 0)
		http_respond_error(req, 409, "process_not_running",
				   "process %s has ended", p->id);
	else
		http_respond(req, 204, NULL, NULL, 0);
	json_decref(doc);
}

/* ---- routing ---- */

static void one_process(struct http_request *req, struct sbx_slot *slot,
			const char *rest)
{
	char id[PROC_ID_LEN + 2];
	const char *slash = strchr(rest, '/');
	size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
	const char *sub = slash ? slash + 1 : "";
	bool post = strcmp(req->method, "POST") == 0;
	bool get = api_is_get(req);
	struct proc *p = NULL;
	if (len < sizeof id) {
		memcpy(id, rest, len);
		id[len] = '\0';
		p = proc_find(slot, id);
	}
	if (!p || p->started) {
		http_respond_error(req, 404, "process_not_found",
				   "no process \"%.*s\" in slot %s",
				   (int)(len > 64 ? 64 : len), rest, slot->id);
	} else if (!*sub && get) {
		http_respond_json(req, 200, proc_json(p));
	} else if (!*sub && strcmp(req->method, "DELETE") == 0) {
		proc_delete(p);
		http_respond(req, 204, NULL, NULL, 0);
	} else if (!strcmp(sub, "output") && get) {
		get_output(req, slot, p);
	} else if (!strcmp(sub, "stdin") && post) {
		post_stdin(req, p);
	} else if (!strcmp(sub, "signal") && post) {
		post_signal(req, p);
	} else if (!strcmp(sub, "resize") && post) {
		post_resize(req, p);
	} else if (!*sub || !strcmp(sub, "output") || !strcmp(sub, "stdin") ||
		   !strcmp(sub, "signal") || !strcmp(sub, "resize")) {
		http_respond_error(req, 405, "method_not_allowed",
				   "%s is not allowed here", req->method);
	} else {
		http_respond_error(req, 404, "not_found", "no such endpoint");
	}
}

void api_processes(struct api *a, struct http_request *req,
		   struct sbx_slot *slot, bool stale, const char *rest)
{
	proc_sweep(a->pools);
	if (api_check_leased(req, slot, stale) < 0)
		return;
	if (*rest == '/')
		rest++;
	if (*rest) {
		one_process(req, slot, rest);
	} else if (strcmp(req->method, "POST") == 0) {
		post_process(req, slot);
	} else if (api_is_get(req)) {
		json_t *list = json_array();
		proc_each(slot, list_one, list);
		http_respond_json(req, 200,
				  json_pack("{s:o}", "processes", list));
	} else {
		http_respond_error(req, 405, "method_not_allowed",
				   "%s is not allowed here", req->method);
	}
}
