/* SPDX-License-Identifier: Apache-2.0 */
/* client_internal.h - what libslotbox's modules share, never installed. */
#ifndef SLOTBOX_CLIENT_INTERNAL_H
#define SLOTBOX_CLIENT_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "client/slotbox.h"

struct sbc {
	int fd;	   /* the connection, -1 when closed */
	bool used; /* fd has carried a request (so may be stale) */
	bool keep_alive;
	char unix_path[108];
	char *host, *port; /* TCP when host != NULL */
	char *token;
	double io_timeout_s;
	double connect_timeout_s;
	size_t max_response;
	const volatile int *cancel;
	bool streaming; /* a struct sbc_stream reads fd (stream.c) */
};

/* Fill err (may be NULL) and return -1. */
int sbc_fail(struct sbc_error *err, int status, const char *code,
	     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Turn a non-2xx answer into err: the API's {"error": {code, message}}
 * when the body has one, the bare status otherwise. Returns -1. */
int sbc_fail_from_answer(const struct sbc_response *resp,
			 struct sbc_error *err);

/* Where to connect, from the options or the environment. */
int sbc_endpoint_parse(struct sbc *c, const struct sbc_options *opt,
		       struct sbc_error *err);

/* "/v1/slots/<escaped slot><suffix>", owned (NULL with err on OOM). */
char *sbc_slot_path(const char *slot_id, const char *suffix,
		    struct sbc_error *err);
/* A non-empty slot id, else err. */
bool sbc_slot_id_ok(const char *slot_id, struct sbc_error *err);
/* Fill out's fields from out->raw (a Slot answer, owned by out); on
 * failure out is freed. */
int sbc_slot_fill(struct sbc_slot *out, struct sbc_error *err);

/* POST /v1/slots with req (stolen; NULL means out of memory) plus the
 * trajectory id, timeout and ttl every acquire takes; fill out. */
int sbc_post_acquire(struct sbc *c, json_t *req, const char *trajectory_id,
		     double timeout_s, double ttl_s, struct sbc_slot *out,
		     struct sbc_error *err);

/* Split "http://HOST:PORT[/]" or "tcp://HOST:PORT" ([v6] hosts allowed)
 * into owned *host and *port. */
int sbc_url_split(const char *url, char **host, char **port,
		  struct sbc_error *err);

/* sbc_open without connecting: the first request connects. */
struct sbc *sbc_new(const struct sbc_options *opt, struct sbc_error *err);

/* A snapshot name was given; else out is zeroed and err says so. */
bool sbc_snapshot_named(const char *snapshot, struct sbc_slot *out,
			struct sbc_error *err);

/* Open c->fd to the endpoint. */
int sbc_connect(struct sbc *c, struct sbc_error *err);

/* The caller's cancel flag is set. */
bool sbc_cancelled(const struct sbc *c);
/* Wait until c->fd is ready for events within the idle timeout; -1 with
 * errno (ETIMEDOUT, EINTR) otherwise. */
int sbc_wait_ready(const struct sbc *c, short events);
/* Wait until c's socket is readable and take what is there (at most
 * len): the byte count, 0 at the end of the stream, or -1 with err
 * (*reset set when the daemon reset the connection). A signal ends the
 * wait only once the call is cancelled (sbc_cancelled). */
ssize_t sbc_recv_some(struct sbc *c, char *buf, size_t len, bool *reset,
		      struct sbc_error *err);
/* Send one request's head and body on c->fd (connected); -1 with errno. */
int sbc_send_request(struct sbc *c, const char *method, const char *path,
		     const void *body, size_t len, const char *ctype);
/* Close c->fd; the next request connects afresh. */
void sbc_drop_connection(struct sbc *c);

/* Fill r's fields from r->raw (an ExecutionResult, owned by r). */
int sbc_exec_result_fill(struct sbc_exec_result *r, struct sbc_error *err);
/* The "args" object of a bash call (owned), or NULL with err. */
json_t *sbc_bash_args(const struct sbc_bash *req, struct sbc_error *err);
/* {"rows", "cols"} for a pty, owned; NULL on OOM. */
json_t *sbc_pty_json(int rows, int cols);

#endif
