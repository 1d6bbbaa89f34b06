/* SPDX-License-Identifier: Apache-2.0 */
/* http_harness.h - the real HTTP server (src/http/http*.c) on a real
 * socket, fed by a fuzz input.
 *
 * One server per process, listening on a unix socket and on TCP
 * (127.0.0.1, with a bearer token). An exchange opens a client
 * connection, writes the input, half-closes, and runs the server's event
 * loop until the server has closed that connection and every answer the
 * handler still owed is given: the client's bytes come back for checking.
 * A server that never closes is a finding (a hang). */
#ifndef SLOTBOX_FUZZ_HTTP_HARNESS_H
#define SLOTBOX_FUZZ_HTTP_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "http/http.h"

#define HARNESS_TOKEN "fuzz-token-0123456789abcdef"

uv_loop_t *harness_loop(void);

/* Start the server; opts NULL: small limits, so fuzz inputs reach them. */
void harness_init(http_handler_fn handler, void *ud,
		  const struct http_server_opts *opts);

/* Send data on a new connection (TCP when tcp) and run until done: with
 * want 0 the client half-closes once all is sent and reads until the
 * server closes; else it stays open until want answers have come (a
 * half-closed client counts as gone while its request is busy), then
 * closes. Either way the exchange ends once the server has let go of the
 * connection and busy() (when given: the handler's own pending work) is
 * false. The client's received bytes go to *out (malloc'd,
 * NUL-terminated). */
void harness_exchange(const void *data, size_t len, bool tcp, int want,
		      bool (*busy)(void), char **out, size_t *outlen);

/* One answer the client received. */
struct harness_answer {
	int status;
	const char *body; /* the body (de-chunked), NUL-terminated */
	size_t body_len;
};

/* Parse what the client received as HTTP/1.1 answers with llhttp; each
 * complete one goes to cb. Returns the number of answers, or -1 if the
 * bytes are not well-formed HTTP (never acceptable from the server). */
int harness_answers(const char *buf, size_t len,
		    void (*cb)(const struct harness_answer *a, void *ud),
		    void *ud);

#endif
