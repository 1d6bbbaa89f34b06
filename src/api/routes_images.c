/* SPDX-License-Identifier: Apache-2.0 */
/* routes_images.c - /v1/images: import, list and remove store images.
 *
 * Import and remove run in slotbox-image, a process of its own: parsing an
 * untrusted archive never happens inside the daemon, and a large import
 * never blocks the loop. The daemon waits for it and answers with the
 * JSON it printed. Paths are on the daemon's host (the CLI sends an
 * absolute path to a file it can read there). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "common/log.h"
#include "image/image.h"

#define JOB_MAX_OUTPUT (1u << 20)

struct image_job {
	struct http_request *req; /* NULL once the client went away */
	int ok_status;		  /* HTTP status when the tool succeeds */
	uv_process_t proc;
	uv_pipe_t out;
	char *buf;
	size_t len;
	int closing; /* handles still to close */
	int64_t exit_status;
	bool exited, eof;
};

static void job_free_cb(uv_handle_t *h)
{
	struct image_job *j = h->data;
	if (--j->closing == 0) {
		free(j->buf);
		free(j);
	}
}

static int code_status(const char *code)
{
	if (code && strcmp(code, "bad_request") == 0)
		return 400;
	if (code && strcmp(code, "not_found") == 0)
		return 404;
	if (code && strcmp(code, "insufficient_storage") == 0)
		return 507;
	return 500;
}

static void job_answer(struct image_job *j)
{
	if (!j->req)
		return;
	json_t *doc = j->buf ? json_loadb(j->buf, j->len, 0, NULL) : NULL;
	json_t *e = json_object_get(doc, "error");
	if (j->exit_status == 0 && doc && !e) {
		http_respond_json(j->req, j->ok_status, json_incref(doc));
	} else if (e) {
		const char *code =
			json_string_value(json_object_get(e, "code"));
		http_respond_error(
			j->req, code_status(code), code ? code : "internal",
			"%s",
			json_string_value(json_object_get(e, "message")) ?: "");
	} else {
		http_respond_error(j->req, 500, "internal",
				   "slotbox-image failed (status %lld)",
				   (long long)j->exit_status);
	}
	json_decref(doc);
	j->req = NULL;
}

static void job_maybe_done(struct image_job *j)
{
	if (!j->exited || !j->eof)
		return;
	job_answer(j);
	j->closing = 2;
	uv_close((uv_handle_t *)&j->proc, job_free_cb);
	uv_close((uv_handle_t *)&j->out, job_free_cb);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct image_job *j = p->data;
	j->exit_status = sig ? 128 + sig : status;
	j->exited = true;
	job_maybe_done(j);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct image_job *j = h->data;
	(void)hint;
	size_t want = j->len + 65536;
	char *nb = want <= JOB_MAX_OUTPUT ? realloc(j->buf, want + 1) : NULL;
	if (nb)
		j->buf = nb;
	*b = uv_buf_init(nb ? nb + j->len : NULL, nb ? 65536 : 0);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct image_job *j = s->data;
	(void)b;
	if (n > 0) {
		j->len += (size_t)n;
		j->buf[j->len] = '\0';
		return;
	}
	if (n == 0)
		return;
	uv_read_stop(s);
	j->eof = true;
	job_maybe_done(j);
}

static void job_abort(struct http_request *req, void *ud)
{
	struct image_job *j = ud;
	(void)req;
	j->req = NULL; /* the tool finishes; nobody hears of it */
}

static void run_tool(struct api *a, struct http_request *req, int ok_status,
		     char **args)
{
	struct image_job *j = calloc(1, sizeof *j);
	if (!j) {
		http_respond_error(req, 500, "internal", "out of memory");
		return;
	}
	j->req = req;
	j->ok_status = ok_status;
	uv_loop_t *loop = a->pools->env->loop;
	uv_pipe_init(loop, &j->out, 0);
	j->out.data = j->proc.data = j;
	uv_stdio_container_t stdio[3] = {
		{.flags = UV_IGNORE},
		{.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE,
		 .data.stream = (uv_stream_t *)&j->out},
		{.flags = UV_INHERIT_FD, .data.fd = 2}};
	uv_process_options_t o = {.exit_cb = on_exit_cb,
				  .file = a->image_tool,
				  .args = args,
				  .stdio = stdio,
				  .stdio_count = 3};
	int r = uv_spawn(loop, &j->proc, &o);
	if (r < 0) {
		http_respond_error(req, 500, "internal", "run %s: %s",
				   a->image_tool, uv_strerror(r));
		j->closing = 1;
		uv_close((uv_handle_t *)&j->out, job_free_cb);
		return;
	}
	uv_read_start((uv_stream_t *)&j->out, on_alloc, on_read);
	http_request_on_abort(req, job_abort, j);
}

/* The profile that uses image name, or NULL; with running, only one
 * that has sandboxes on it now (their overlays hold its layers). */
static const char *used_by(const struct api *a, const char *name, bool running)
{
	for (size_t i = 0; i < a->pools->n; i++) {
		const struct pool *p = &a->pools->items[i];
		if (strcmp(p->profile->image, name) == 0 &&
		    (!running || p->sandboxes))
			return p->profile->name;
	}
	return NULL;
}

static void post_image(struct api *a, struct http_request *req)
{
	json_t *doc = api_parse_body(req);
	if (!doc)
		return;
	const char *name = json_string_value(json_object_get(doc, "name"));
	const char *path = json_string_value(json_object_get(doc, "path"));
	const char *user = name ? used_by(a, name, true) : NULL;
	if (!image_name_valid(name) || !path || path[0] != '/' ||
	    json_object_size(doc) != 2) {
		http_respond_error(req, 400, "bad_request",
				   "want {\"name\": NAME, \"path\": "
				   "\"/absolute/path\"}; names are letters, "
				   "digits, . _ : -");
	} else if (user) {
		http_respond_error(req, 409, "image_in_use",
				   "sandboxes of profile %s run on image %s: "
				   "it cannot be replaced under them",
				   user, name);
	} else {
		char *args[] = {a->image_tool, "--store",    a->image_store,
				"import",      (char *)name, (char *)path,
				NULL};
		sb_log(SB_LOG_INFO, "image_import", "image", name, "path", path,
		       SB_LOG_END);
		run_tool(a, req, 201, args);
	}
	json_decref(doc);
}

void api_images(struct api *a, struct http_request *req, const char *rest)
{
	bool get = api_is_get(req);
	if (!*rest && get) {
		http_respond_json(req, 200,
				  json_pack("{s:o}", "images",
					    image_list(a->image_store)));
	} else if (!*rest && strcmp(req->method, "POST") == 0) {
		post_image(a, req);
	} else if (*rest == '/' && strcmp(req->method, "DELETE") == 0) {
		const char *name = rest + 1;
		const char *user = used_by(a, name, false);
		if (user) {
			http_respond_error(req, 409, "image_in_use",
					   "profile %s uses image %s", user,
					   name);
			return;
		}
		char *args[] = {a->image_tool, "--store",    a->image_store,
				"rm",	       (char *)name, NULL};
		run_tool(a, req, 200, args);
	} else {
		http_respond_error(req, 405, "method_not_allowed",
				   "%s is not allowed here", req->method);
	}
}
