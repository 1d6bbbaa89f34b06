/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_http.c - bytes on a socket, as slotboxd's HTTP server sees them.
 *
 * Input: one flag byte (bit 0: the TCP listener, which wants the bearer
 * token; else the unix socket), then the raw bytes a client sends. The
 * real server (http.c, http_conn.c, http_respond.c) parses them; a small
 * handler answers each request one of several ways (at once, later from
 * the loop, streamed, empty) and reads the query string. Checks: what the
 * server sends back is well-formed HTTP/1.1 (llhttp, response mode), every
 * answer has a status, error answers carry the API's error body, and the
 * server lets go of the connection (no hang, no leak). */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "http_harness.h"

static int pending; /* answers owed by the handler ("later" requests) */

struct later {
	uv_timer_t t;
	struct http_request *req;
};

static void later_closed(uv_handle_t *h)
{
	free(h->data);
	pending--;
}

static void later_fire(uv_timer_t *t)
{
	struct later *l = t->data;
	/* answered even when the client went away: the server drops it */
	http_respond_error(l->req, 409, "conflict", "answered late");
	uv_close((uv_handle_t *)t, later_closed);
}

static void on_abort(struct http_request *req, void *ud)
{
	(void)req;
	(void)ud; /* the timer still answers */
}

/* Takeover requests (the port proxy's kind): "/tk/take..." takes the
 * connection and answers on the raw socket; any other is answered as
 * usual (the server must then close the connection). */
static bool takeover(const char *path)
{
	return strncmp(path, "/tk", 3) == 0;
}

static void take(struct http_request *req)
{
	static const char ans[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
				  "Connection: close\r\n\r\nok";
	int fd = -1;
	char *rest = NULL;
	size_t rest_len = 0;
	FUZZ_CHECK(req->body_len == 0 && req->raw_target && req->raw_headers,
		   "takeover request with a body or without its raw head");
	if (http_request_takeover(req, &fd, &rest, &rest_len) < 0)
		return; /* the client is gone: the server answered nothing */
	FUZZ_CHECK(rest_len <= (64u << 10), "read ahead %zu bytes", rest_len);
	free(rest);
	(void)send(fd, ans, sizeof ans - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

static void handler(struct http_request *req, void *ud)
{
	char v[256];
	(void)ud;
	FUZZ_CHECK(req->path[0] == '/', "path %s", req->path);
	FUZZ_CHECK(req->takeover == takeover(req->path), "takeover %d for %s",
		   req->takeover, req->path);
	if (strncmp(req->path, "/tk/take", 8) == 0) {
		take(req);
		return;
	}
	FUZZ_CHECK(req->body[req->body_len] == '\0', "body not terminated");
	/* the query decoder sees whatever the client wrote */
	int q = http_query_get(req->query, "path", v, sizeof v);
	FUZZ_CHECK(q != 1 || strlen(v) < sizeof v, "query value overflow");
	if (strcmp(req->path, "/later") == 0) {
		struct later *l = calloc(1, sizeof *l);
		FUZZ_SETUP(l != NULL);
		l->req = req;
		l->t.data = l;
		FUZZ_SETUP(uv_timer_init(harness_loop(), &l->t) == 0);
		FUZZ_SETUP(uv_timer_start(&l->t, later_fire, 0, 0) == 0);
		pending++;
		http_request_on_abort(req, on_abort, NULL);
	} else if (strcmp(req->path, "/stream") == 0) {
		http_respond_stream_begin(req, 200, "text/plain", NULL, NULL);
		for (int i = 0; i < 3; i++)
			http_respond_stream_write(req, req->body,
						  req->body_len);
		http_respond_stream_end(req);
	} else if (strcmp(req->path, "/empty") == 0) {
		http_respond(req, 204, NULL, NULL, 0);
	} else if (strcmp(req->path, "/error") == 0) {
		/* the message is the client's bytes: maybe not UTF-8 */
		http_respond_error(req, 400, "bad_request", "%s", req->query);
	} else {
		json_t *o = json_pack("{s:s, s:s, s:I}", "method", req->method,
				      "query", q == 1 ? v : "", "body",
				      (json_int_t)req->body_len);
		http_respond_json(req, 200, o);
	}
}

static bool busy(void)
{
	return pending > 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct http_server_opts o;
	http_server_opts_default(&o);
	o.max_body_bytes = 4096;
	o.max_header_bytes = 2048;
	o.takeover = takeover;
	harness_init(handler, NULL, &o);
	return 0;
}

static void check_answer(const struct harness_answer *a, void *ud)
{
	(void)ud;
	FUZZ_CHECK(a->status >= 100 && a->status <= 599, "status %d",
		   a->status);
	if (a->status < 400 || a->body_len == 0)
		return;
	json_error_t je;
	json_t *doc = json_loadb(a->body, a->body_len, 0, &je);
	json_t *e = json_object_get(doc, "error");
	FUZZ_CHECK(json_is_string(json_object_get(e, "code")) &&
			   json_is_string(json_object_get(e, "message")),
		   "%d answer without an error body: %s", a->status, a->body);
	json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *out;
	size_t outlen;
	if (size < 1)
		return 0;
	harness_exchange(data + 1, size - 1, data[0] & 1, 0, busy, &out,
			 &outlen);
	/* A HEAD answer announces a length it does not send, which only
	 * the request tells apart: leave those to the other checks. */
	if (!memmem(data, size, "HEAD", 4)) {
		int n = harness_answers(out, outlen, check_answer, NULL);
		FUZZ_CHECK(n >= 0, "malformed HTTP from the server: %.*s",
			   (int)(outlen > 2000 ? 2000 : outlen), out);
	}
	free(out);
	return 0;
}
