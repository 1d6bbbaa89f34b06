/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_json.c - request bodies (and query strings), as the routes parse
 * them into calls.
 *
 * Input: one byte choosing the route, then the JSON body; for the file
 * routes that take a query string instead, the rest of the input is that
 * query (bytes a URL cannot hold percent-escaped). It is sent as one
 * request over the real HTTP server to the real api_handle (routes.c,
 * routes_slots.c, routes_files.c, routes_seed.c), whose pools and
 * sandboxes are stand-ins (api_world.c) that check what reaches them.
 * Checks: exactly one answer; never a 500 (nothing in this world can
 * fail, so a 500 is the parser's fault); every error has the API's error
 * body; a batch answers one result per call. */
#include <stdio.h>
#include <string.h>

#include "api_world.h"
#include "common/log.h"
#include "fuzz.h"
#include "http_harness.h"

#define SLOT "/v1/slots/" WORLD_SLOT
#define ROUTE_BATCH 2
#define ROUTE_ARCHIVE 8
#define ROUTE_QUERY 6 /* this one and those after take a query string */

static const struct {
	const char *method, *path;
} routes[] = {
	{"POST", "/v1/slots"},	   {"POST", SLOT "/exec"},
	{"POST", "/v1/exec"},	   {"POST", SLOT "/renew"},
	{"POST", SLOT "/fork"},	   {"POST", SLOT "/snapshot"},
	{"GET", SLOT "/file?"},	   {"GET", SLOT "/list?"},
	{"GET", SLOT "/archive?"}, {"PUT", SLOT "/file?"},
	{"PUT", SLOT "/archive?"},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct http_server_opts o;
	sb_log_setup(SB_LOG_TEXT, SB_LOG_ERROR);
	http_server_opts_default(&o);
	o.max_body_bytes = 1u << 20;
	harness_init(api_handle, world_init(harness_loop()), &o);
	return 0;
}

struct seen {
	int answers;
	const uint8_t *body;
	size_t body_len;
	unsigned route;
};

static void check_answer(const struct harness_answer *a, void *ud)
{
	struct seen *s = ud;
	json_error_t je;
	json_t *doc = json_loadb(a->body, a->body_len, 0, &je);
	s->answers++;
	FUZZ_CHECK(a->status != 500, "500 for %.*s: %s", (int)s->body_len,
		   s->body, a->body);
	FUZZ_CHECK(a->status == 204 ||
			   (s->route == ROUTE_ARCHIVE && a->status == 200) ||
			   doc,
		   "answer %d is not JSON: %s", a->status, a->body);
	if (a->status >= 400) {
		json_t *e = json_object_get(doc, "error");
		FUZZ_CHECK(
			json_is_string(json_object_get(e, "code")) &&
				json_is_string(json_object_get(e, "message")),
			"%d without an error body: %s", a->status, a->body);
	}
	/* a batch: one result per call, each an ExecutionResult */
	if (s->route == ROUTE_BATCH && a->status == 200) {
		json_t *req = json_loadb((const char *)s->body, s->body_len,
					 JSON_REJECT_DUPLICATES, &je);
		json_t *res = json_object_get(doc, "results");
		FUZZ_CHECK(json_array_size(res) ==
				   json_array_size(
					   json_object_get(req, "requests")),
			   "%zu results", json_array_size(res));
		size_t i;
		json_t *r;
		json_array_foreach(res, i, r) FUZZ_CHECK(
			json_is_boolean(json_object_get(r, "success")),
			"result %zu: %s", i, a->body);
		json_decref(req);
	}
	json_decref(doc);
}

/* The query bytes as they can stand in a request line. */
static size_t escape(const uint8_t *in, size_t n, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXY"
			   "Z"
			   "0123456789._~=&%+-/",
			   in[i]) &&
		    in[i]) {
			out[o++] = (char)in[i];
			continue;
		}
		out[o++] = '%';
		out[o++] = hex[in[i] >> 4];
		out[o++] = hex[in[i] & 15];
	}
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *out;
	size_t outlen;
	if (size < 1)
		return 0;
	struct seen s = {.body = data + 1,
			 .body_len = size - 1,
			 .route = data[0] % N_ROUTES};
	/* a query route puts the input in the URL, a PUT also in the body */
	bool query = s.route >= ROUTE_QUERY;
	size_t room = 256 + 3 * s.body_len + s.body_len;
	char *msg = malloc(room);
	FUZZ_SETUP(msg != NULL);
	size_t n = (size_t)snprintf(msg, room, "%s %s", routes[s.route].method,
				    routes[s.route].path);
	if (query)
		n += escape(s.body, s.body_len, msg + n);
	bool body = !query || !strcmp(routes[s.route].method, "PUT");
	n += (size_t)snprintf(msg + n, room - n,
			      " HTTP/1.1\r\nContent-Type: application/json"
			      "\r\nContent-Length: %zu\r\n\r\n",
			      body ? s.body_len : 0);
	if (body) {
		memcpy(msg + n, s.body, s.body_len);
		n += s.body_len;
	}
	world_reset();
	harness_exchange(msg, n, false, 1, world_busy, &out, &outlen);
	free(msg);
	int got = harness_answers(out, outlen, check_answer, &s);
	FUZZ_CHECK(got == 1 && s.answers == 1, "%d answers: %s", got, out);
	free(out);
	return 0;
}
