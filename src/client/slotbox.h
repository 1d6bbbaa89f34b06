/* SPDX-License-Identifier: Apache-2.0 */
/* slotbox.h - libslotbox, a small blocking C client for slotboxd.
 *
 * One struct sbc is one keep-alive HTTP/1.1 connection to the daemon, over
 * its unix socket or over TCP with a bearer token. Calls block until the
 * daemon answers (acquire waits for a free slot, exec for the command).
 * A struct sbc is not thread-safe: use one per thread.
 *
 * Errors: every call that can fail returns -1 and fills a caller-provided
 * struct sbc_error (which may be NULL). `code` is the API's error code
 * ("slot_not_leased", "acquire_timeout", ...) when the daemon answered, or
 * one of the library's own: "connect_failed", "io", "protocol",
 * "bad_argument", "too_large", "interrupted", "out_of_memory".
 *
 * Ownership: strings and buffers that a call hands back are malloc()ed and
 * belong to the caller; free them with the matching *_free() (which also
 * accepts a zeroed struct) or free() where a plain pointer comes back.
 * Arguments are only borrowed for the duration of the call. */
#ifndef SLOTBOX_CLIENT_H
#define SLOTBOX_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SBC_DEFAULT_SOCKET "/run/slotbox/slotbox.sock"

struct sbc;

struct sbc_error {
	int http_status;   /* the daemon's status, 0 when none came */
	char code[48];	   /* API error code or one of the library's */
	char message[512]; /* a human sentence */
};

struct sbc_options {
	/* Exactly one of these; both NULL means $SLOTBOX_SOCKET or
	 * SBC_DEFAULT_SOCKET. url is "http://HOST:PORT" (or
	 * "tcp://HOST:PORT"); socket_path may also be "unix:///PATH". */
	const char *socket_path;
	const char *url;
	const char *token; /* bearer token for TCP; NULL on the socket */
	/* Give up on a request that makes no progress for this long (s);
	 * 0 waits as long as the daemon takes (it always answers within the
	 * request's own timeout). */
	double io_timeout_s;
	/* Largest response body kept in memory; 0 means 256 MiB. */
	size_t max_response_bytes;
	/* When this points at a flag that a signal handler sets, a blocked
	 * call returns at the next signal with code "interrupted" (install
	 * the handler without SA_RESTART). May be NULL. */
	const volatile int *cancel;
	/* Give up connecting over TCP after this long (s); 0 leaves it to
	 * the kernel (minutes, for a host that is gone). */
	double connect_timeout_s;
};

/* Connect. Returns NULL and fills err on failure. */
struct sbc *sbc_open(const struct sbc_options *opt, struct sbc_error *err);
void sbc_close(struct sbc *c);

/* ---- raw requests ------------------------------------------------------ */

struct sbc_response {
	int status;
	char content_type[128];
	char *body; /* owned; NUL-terminated for convenience */
	size_t len;
};
void sbc_response_free(struct sbc_response *r);

/* Send one request and read the whole answer, whatever its status. path is
 * already URL-encoded (see sbc_path_escape). body may be NULL. Fails only
 * when no complete answer came. */
int sbc_request(struct sbc *c, const char *method, const char *path,
		const void *body, size_t len, const char *content_type,
		struct sbc_response *resp, struct sbc_error *err);

/* Like sbc_request, but a 2xx body is written to fd as it streams in
 * (archives); a non-2xx answer fails with its error. */
int sbc_request_to_fd(struct sbc *c, const char *method, const char *path,
		      int fd, struct sbc_error *err);

/* JSON in, JSON out. body (borrowed) may be NULL. On 2xx *out (may be
 * NULL) gets the parsed answer (owned: json_decref it; NULL for 204). A
 * non-2xx answer fails with the API's error code and message. */
int sbc_request_json(struct sbc *c, const char *method, const char *path,
		     json_t *body, json_t **out, struct sbc_error *err);

/* Percent-encode s for a path segment or query value. Owned result. */
char *sbc_path_escape(const char *s);

/* ---- ports: reach a server inside a slot ----------------------------- */

/* The daemon proxies /v1/slots/{id}/ports/{port}/{path...} to
 * 127.0.0.1:{port} inside the slot's own network namespace (HTTP/1.1 and
 * WebSocket; API.md "Ports"). path is the server's own path, already
 * URL-encoded, with its query if any; NULL or "" means "/". port must be
 * 1-65535 (else bad_argument). Owned results (free()).
 *
 * sbc_slot_port_path: the request path, for sbc_request on this client
 * (its socket or URL and token). */
char *sbc_slot_port_path(const char *slot_id, int port, const char *path,
			 struct sbc_error *err);
/* sbc_slot_port_url: the same as a whole URL for another HTTP client or a
 * browser: "http://HOST:PORT/v1/slots/..." over TCP (send the token as
 * Authorization: Bearer), "http://localhost/v1/slots/..." on the unix
 * socket (curl --unix-socket SOCKET URL). */
char *sbc_slot_port_url(const struct sbc *c, const char *slot_id, int port,
			const char *path, struct sbc_error *err);

/* ---- the API ------------------------------------------------------------ */

/* GET /v1/status and /v1/profiles: *out is owned (json_decref). */
int sbc_status(struct sbc *c, json_t **out, struct sbc_error *err);
int sbc_profiles(struct sbc *c, json_t **out, struct sbc_error *err);

struct sbc_slot {
	char *slot_id, *sandbox_id, *profile, *workspace_dir, *trajectory_id,
		*state; /* all owned; trajectory_id may be NULL */
	/* The node that holds the lease when a struct sbcc (slotbox_cluster.h)
	 * made it, else NULL. Owned. */
	char *endpoint;
	json_t *raw; /* the whole answer, owned */
};
void sbc_slot_free(struct sbc_slot *s);

/* Lease a slot. profile and trajectory_id may be NULL (the defaults);
 * timeout_s <= 0 means the profile's acquire timeout. ttl_s > 0 makes the
 * lease end by itself after that long without a call on the slot. */
int sbc_acquire(struct sbc *c, const char *profile, const char *trajectory_id,
		double timeout_s, double ttl_s, struct sbc_slot *out,
		struct sbc_error *err);

/* Lease a slot whose workspace starts as snapshot `snapshot` (of the
 * snapshot's profile); the other arguments as for sbc_acquire. */
int sbc_acquire_snapshot(struct sbc *c, const char *snapshot,
			 const char *trajectory_id, double timeout_s,
			 double ttl_s, struct sbc_slot *out,
			 struct sbc_error *err);

/* Fork: count new leases whose workspaces start as a copy of slot_id's
 * workspace now (its processes are not copied). trajectory_ids (count of
 * them) may be NULL; ttl_s > 0 as for sbc_acquire. *out is an owned array
 * of count slots: sbc_slots_free(*out, count). All or nothing. */
int sbc_fork(struct sbc *c, const char *slot_id, int count,
	     const char *const *trajectory_ids, double ttl_s,
	     struct sbc_slot **out, struct sbc_error *err);
void sbc_slots_free(struct sbc_slot *slots, size_t n);

/* Save slot_id's workspace as snapshot `name` ([A-Za-z0-9_.-]{1,64}); it
 * outlives the daemon. *meta (may be NULL) gets the answer, owned. */
int sbc_snapshot(struct sbc *c, const char *slot_id, const char *name,
		 json_t **meta, struct sbc_error *err);
/* GET /v1/snapshots: {"snapshots": [...]}, owned. */
int sbc_snapshots(struct sbc *c, json_t **out, struct sbc_error *err);
int sbc_delete_snapshot(struct sbc *c, const char *name, struct sbc_error *err);

/* A sign of life for a TTL lease; ttl_s >= 0 also sets a new TTL (0: the
 * lease no longer expires), ttl_s < 0 keeps it. */
int sbc_renew(struct sbc *c, const char *slot_id, double ttl_s,
	      struct sbc_error *err);

/* End a lease; reset returns the workspace to its initial state. */
int sbc_release(struct sbc *c, const char *slot_id, bool reset,
		struct sbc_error *err);

struct sbc_bash {
	const char *command;	/* run as bash -c command */
	const char *stdin_data; /* may be NULL */
	const char *cwd;	/* may be NULL: the workspace */
	const char *const *env; /* "KEY=VALUE" strings, NULL-terminated */
	double timeout_s;	/* <= 0: the profile's execution timeout */
	/* The call's execution id (1-64 of [A-Za-z0-9_.-], unique among
	 * running calls), so that another connection can sbc_cancel it
	 * before any answer; NULL: the daemon names it. */
	const char *execution_id;
	/* stdout and stderr as one stream in write order (out; err empty) */
	bool merge_output;
	/* > 0 both: run on a pseudo-terminal of that size (API 1.1; its
	 * terminal stream is stdout) */
	int pty_rows, pty_cols;
};

struct sbc_exec_result {
	bool success; /* returncode == 0 and nothing went wrong */
	int returncode;
	bool timed_out, truncated;
	char error_class[16]; /* none, task, timeout, infra, cancelled */
	double duration_ms;
	char *out, *err; /* stdout and stderr, owned, NUL-terminated */
	size_t out_len, err_len;
	char *error;	    /* owned; "" when none */
	char *execution_id; /* owned */
	json_t *raw;	    /* the whole ExecutionResult, owned */
};
void sbc_exec_result_free(struct sbc_exec_result *r);

/* Run one bash command in a leased slot. A command that fails is a
 * success of this call (see r->success); only a request the daemon cannot
 * run at all fails. */
int sbc_bash(struct sbc *c, const char *slot_id, const struct sbc_bash *req,
	     struct sbc_exec_result *out, struct sbc_error *err);

/* Cancel a running call by its execution id: its process tree is killed
 * and its own answer says error_class "cancelled". Fails with not_found
 * when no call with that id runs (any more). A struct sbc blocks in its
 * call, so cancel from another one (another thread). A call whose
 * connection closes before its answer (sbc_close, an interrupted call) is
 * cancelled the same way. */
int sbc_cancel(struct sbc *c, const char *execution_id, struct sbc_error *err);

/* Read a file from the slot (relative paths resolve in the workspace).
 * max_bytes 0 means the profile's limit; *truncated says the file was
 * longer. *data is owned (free()). */
int sbc_read_file(struct sbc *c, const char *slot_id, const char *path,
		  size_t max_bytes, char **data, size_t *len, bool *truncated,
		  struct sbc_error *err);

/* Write (create or replace) a file in the slot, parents created. */
int sbc_write_file(struct sbc *c, const char *slot_id, const char *path,
		   const void *data, size_t len, struct sbc_error *err);

/* ---- API 1.1: streams, processes, ports -------------------------------- */

/* One event of an NDJSON answer (a streamed exec, a process's output).
 * type "stdout"/"stderr": data/len are the output bytes (base64 already
 * decoded; NUL-terminated, may hold NULs). type "result": the last one;
 * doc's "result" is the ExecutionResult of a streamed exec, or a process's
 * end {"exit_code", "next", "dropped"}. Other types ("dropped": output the
 * ring lost, with "bytes") as the daemon sends them. Everything is
 * borrowed for the call. */
struct sbc_event {
	const char *type;
	const char *data;
	size_t len;
	json_t *doc; /* the whole event */
};
/* Called once per event, in order; a nonzero return stops the stream
 * (the call then fails with code "stopped" and the connection closes). */
typedef int (*sbc_event_fn)(const struct sbc_event *ev, void *ud);

/* Run one bash command and receive its output as it is written: fn gets
 * each chunk as an event, then the "result" event; *out gets the final
 * ExecutionResult as sbc_bash would (its out/err hold the output too,
 * under the usual caps). */
int sbc_bash_stream(struct sbc *c, const char *slot_id,
		    const struct sbc_bash *req, sbc_event_fn fn, void *ud,
		    struct sbc_exec_result *out, struct sbc_error *err);

/* An NDJSON answer being read, for callers with their own poll() loop. It
 * holds c's connection until it ends or is closed (use another struct sbc
 * for other calls meanwhile). */
struct sbc_stream;
/* Send a request whose answer streams (body borrowed, may be NULL); fn is
 * called for every event that arrives, from here on. A non-2xx answer
 * fails with its API error. */
int sbc_stream_open(struct sbc *c, const char *method, const char *path,
		    json_t *body, sbc_event_fn fn, void *ud,
		    struct sbc_stream **out, struct sbc_error *err);
/* The options' io_timeout_s applies to a stream as to any answer: a
 * process silent for longer ends its stream with code "io" (0: no limit).
 * The descriptor to poll() for POLLIN; sbc_stream_read after it fires.
 * Ask sbc_stream_ended before each poll(): events are handed to fn as
 * soon as they are read, so the whole answer may already be in (with its
 * head, in sbc_stream_open, or with the last read), and then the socket
 * never fires again. */
int sbc_stream_fd(const struct sbc_stream *s);
/* Read what has arrived (waiting for some when none has), handing each
 * complete event to fn: 1 when the answer has ended, 0 when more may come,
 * -1 on failure. */
int sbc_stream_read(struct sbc_stream *s, struct sbc_error *err);
/* sbc_stream_read until the end: 0, or -1. */
int sbc_stream_run(struct sbc_stream *s, struct sbc_error *err);
/* Has the whole answer been read (its events all handed to fn)? */
bool sbc_stream_ended(const struct sbc_stream *s);
/* Free the stream; one closed before its end closes the connection. */
void sbc_stream_close(struct sbc_stream *s);

/* A background command (POST /v1/slots/{id}/processes). */
struct sbc_process_spec {
	const char *command;	/* run as bash -c command */
	const char *cwd;	/* NULL: the workspace */
	const char *const *env; /* "KEY=VALUE", NULL-terminated; may be NULL */
	int rows, cols;		/* > 0 both: on a pseudo-terminal this size */
	const char *stdin_data; /* its first input (text; not with a pty) */
	bool merge_output;	/* stdout and stderr as one stream */
};
struct sbc_process {
	char *process_id; /* owned */
	long pid;	  /* in the slot's view, 0 when not said */
	json_t *raw;	  /* the answer, owned */
};
void sbc_process_free(struct sbc_process *p);

/* Start a process; it runs until it ends, is killed, or the lease ends. */
int sbc_process_start(struct sbc *c, const char *slot_id,
		      const struct sbc_process_spec *spec,
		      struct sbc_process *out, struct sbc_error *err);
/* {"processes": [{process_id, command, running, exit_code, started_at,
 * ended_at}]}, owned. */
int sbc_process_list(struct sbc *c, const char *slot_id, json_t **out,
		     struct sbc_error *err);

struct sbc_process_output {
	char *out, *err; /* owned, NUL-terminated (base64 decoded) */
	size_t out_len, err_len;
	long long next;	   /* the offset to ask from next */
	bool running;	   /* false once it ended */
	int exit_code;	   /* when !running */
	long long dropped; /* bytes the ring lost before they were read */
	json_t *raw;	   /* the answer, owned */
};
void sbc_process_output_free(struct sbc_process_output *o);

/* Its output past offset since; waits up to wait_s (> 0) for some. */
int sbc_process_output(struct sbc *c, const char *slot_id,
		       const char *process_id, long long since, double wait_s,
		       struct sbc_process_output *out, struct sbc_error *err);
/* Its output past since as a live stream of events (fn as above) until
 * it ends; the last event says how it ended. */
int sbc_process_stream(struct sbc *c, const char *slot_id,
		       const char *process_id, long long since, sbc_event_fn fn,
		       void *ud, struct sbc_stream **out,
		       struct sbc_error *err);
/* Write len bytes to its stdin (in requests of at most 1 MiB, each
 * retried for up to a minute while the process has a MiB unread: 429
 * stdin_full); eof then closes its stdin. */
int sbc_process_stdin(struct sbc *c, const char *slot_id,
		      const char *process_id, const void *data, size_t len,
		      bool eof, struct sbc_error *err);
/* Send a signal by name ("INT", "TERM", "KILL", "HUP", ...; INT goes to
 * its foreground process group, as Ctrl-C would). */
int sbc_process_signal(struct sbc *c, const char *slot_id,
		       const char *process_id, const char *signal_name,
		       struct sbc_error *err);
/* Set its pseudo-terminal's size (it gets SIGWINCH). */
int sbc_process_resize(struct sbc *c, const char *slot_id,
		       const char *process_id, int rows, int cols,
		       struct sbc_error *err);
/* Kill its whole tree. */
int sbc_process_kill(struct sbc *c, const char *slot_id, const char *process_id,
		     struct sbc_error *err);

/* One HTTP request to the server on port inside the slot, over c's own
 * connection (path as for sbc_slot_port_path; no blanks or control
 * characters); *resp gets its answer whatever the status (502 with code
 * port_unreachable when nothing listens there). */
int sbc_port_request(struct sbc *c, const char *slot_id, int port,
		     const char *method, const char *path, const void *body,
		     size_t len, const char *content_type,
		     struct sbc_response *resp, struct sbc_error *err);

#ifdef __cplusplus
}
#endif

#endif
