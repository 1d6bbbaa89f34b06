/* SPDX-License-Identifier: Apache-2.0 */
#include "sandbox/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "sandbox/exec_outbuf.h"
#include "sandbox/exec_pace.h"
#include "sandbox/sandbox.h"
#include "wire/proto.h"

#define EXEC_KILL_GRACE_S 5.0
#define EXEC_READ_CHUNK 65536

/* A call whose output is only kept (no stream, no terminal) leaves its
 * pipes out of the loop for a while (exec_pace.h): most tool calls end
 * sooner, and their output is then read once, when the leader reports the
 * exit. (Widening the pipes to the output limit instead cost more than
 * the wakeup saved.) */

struct exec_stream {
	uv_pipe_t pipe;
	struct exec_call *call;
	struct exec_outbuf kept; /* what the result holds */
	int which;		 /* 1 stdout, 2 stderr (exec_output_fn) */
	bool eof;
	bool closed;	 /* its pipe closed at EOF, before the call ended */
	bool read_early; /* the watch read bytes before the exit report */
};

struct exec_call {
	struct exec_call *next;
	struct sbx_slot *slot;
	uint64_t id;
	exec_done_fn cb;
	void *ud;
	struct exec_stream out, err;
	uv_timer_t timer;
	double start;
	double timeout_s;
	bool timed_out;
	bool cancelled;
	bool merged;	 /* stderr goes to out's pipe: err has no handle */
	bool paused;	 /* on_output asked to stop reading */
	bool background; /* counted in the slot's n_bg */
	bool watching;	 /* the pipes are read as output comes */
	void (*on_started)(void *ud, int pid);
	exec_output_fn on_output;
	void *output_ud;
	bool tty;    /* fds 0-2 are a terminal's slave (send[1]) */
	bool held;   /* not sent yet: the leader runs its maximum */
	int send[4]; /* while held: the fds the EXEC will carry */
	/* the payload, until sent inline (SB_EXEC_INLINE); NULL: a memfd
	 * (send[0]) carries it */
	char *payload;
	size_t payload_len;
	bool oom_known;	     /* oom_before could be read */
	uint64_t oom_before; /* the slot's OOM kill count at the start */
	int open_handles;
};

static uint64_t next_call_id = 1;

/* A payload may hold a profile's secrets (environment): wiped before its
 * memory goes back to the heap. */
static void payload_free(char *buf, size_t len)
{
	if (buf)
		explicit_bzero(buf, len);
	free(buf);
}

static void drop_payload(struct exec_call *c)
{
	payload_free(c->payload, c->payload_len);
	c->payload = NULL;
}

static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}
static char discard_buf[EXEC_READ_CHUNK];
/* a first chunk, before the stream has a buffer (exec_outbuf_first) */
static char first_buf[EXEC_READ_CHUNK];
/* a background call's chunk, handed to on_output and not kept */
static char pass_buf[EXEC_READ_CHUNK];

const char *exec_error_class_name(enum exec_error_class c)
{
	switch (c) {
	case EXEC_OK:
		return "none";
	case EXEC_TASK:
		return "task";
	case EXEC_TIMEOUT:
		return "timeout";
	case EXEC_CANCELLED:
		return "cancelled";
	default:
		return "infra";
	}
}

static void call_handle_closed(uv_handle_t *h)
{
	/* The timer's data is the call; a pipe's is its stream. */
	struct exec_call *c = h->type == UV_TIMER
				      ? h->data
				      : ((struct exec_stream *)h->data)->call;
	if (--c->open_handles == 0) {
		exec_outbuf_free(&c->out.kept);
		exec_outbuf_free(&c->err.kept);
		drop_payload(c);
		free(c);
	}
}

static void unlink_call(struct exec_call *c)
{
	struct sbx_slot *slot = c->slot;
	for (struct exec_call **pp = &slot->calls; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			if (c->background)
				slot->n_bg--;
			else
				slot->n_calls--;
			break;
		}
	}
	c->slot = NULL;
}

static void send_held(struct sbx_slot *slot);

/* Deliver the result once and start closing the call's handles. */
static void finish(struct exec_call *c, struct exec_result *r)
{
	struct sbx_slot *slot = c->slot;
	bool was_sent = !c->held;
	if (c->held) {
		close_fds(c->send, 4);
		c->held = false;
		slot->n_held--;
	}
	r->out = c->out.kept.buf ? c->out.kept.buf : "";
	r->out_len = c->out.kept.len;
	r->err = c->err.kept.buf ? c->err.kept.buf : "";
	r->err_len = c->err.kept.len;
	r->truncated = c->out.kept.truncated || c->err.kept.truncated;
	r->timed_out = c->timed_out;
	/* in whole microseconds, as the request log writes it: a decimal of
	 * three places prints without printf's digit search (json_text.c) */
	r->duration_ms =
		(double)(int64_t)((sb_now_mono() - c->start) * 1e6 + 0.5) /
		1000.0;
	uv_timer_stop(&c->timer);
	unlink_call(c);
	c->cb(r, c->ud);
	if (!c->out.closed)
		uv_close((uv_handle_t *)&c->out.pipe, call_handle_closed);
	if (!c->merged && !c->err.closed)
		uv_close((uv_handle_t *)&c->err.pipe, call_handle_closed);
	uv_close((uv_handle_t *)&c->timer, call_handle_closed);
	/* A place in the leader is free: the oldest held call takes it. */
	if (slot && was_sent)
		send_held(slot);
}

static void finish_infra(struct exec_call *c, const char *code, const char *why)
{
	struct exec_result r = {.returncode = -1,
				.error_class = EXEC_INFRA,
				.error = why,
				.error_code = code};
	finish(c, &r);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct exec_stream *s = h->data;
	(void)hint;
	if (s->call->background) {
		*buf = uv_buf_init(pass_buf, sizeof pass_buf);
		return;
	}
	size_t room = exec_outbuf_first(&s->kept);
	if (room) {
		*buf = uv_buf_init(first_buf, (unsigned)room);
		return;
	}
	char *at = exec_outbuf_room(&s->kept, EXEC_READ_CHUNK, &room);
	if (!at)
		*buf = uv_buf_init(discard_buf, sizeof discard_buf);
	else
		*buf = uv_buf_init(at, (unsigned)room);
}

static void pause_output(struct exec_call *c)
{
	c->paused = true;
	if (!c->out.closed)
		uv_read_stop((uv_stream_t *)&c->out.pipe);
	if (!c->merged && !c->err.closed)
		uv_read_stop((uv_stream_t *)&c->err.pipe);
}

/* Returns what on_output said (1: stop reading). */
static int take_bytes(struct exec_stream *s, const char *base, size_t n)
{
	struct exec_call *c = s->call;
	if (base == pass_buf)
		return c->on_output(c->output_ud, s->which, base, n);
	if (base == first_buf) {
		base = exec_outbuf_put(&s->kept, base, n);
		return base && c->on_output
			       ? c->on_output(c->output_ud, s->which, base, n)
			       : 0;
	}
	exec_outbuf_took(&s->kept, base != discard_buf, n);
	if (base == discard_buf)
		return 0;
	return c->on_output ? c->on_output(c->output_ud, s->which, base, n) : 0;
}

static void drain(struct exec_stream *s);

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct exec_stream *s = st->data;
	if (nread > 0) {
		s->read_early = true;
		if (take_bytes(s, buf->base, (size_t)nread) > 0)
			pause_output(s->call);
	} else if (nread < 0 && s->call->tty) {
		/* A terminal's master: libuv takes a hangup after a short read
		 * for the end, but what the slave wrote last may still wait in
		 * the kernel's flip buffer, which only a read moves on (tens
		 * of KiB were lost at a command's exit). Read on until the
		 * master says EIO; it stays open until the call ends. */
		drain(s);
	} else if (nread < 0) {
		/* nothing more can come: a pipe goes now, not with the call,
		 * which saves the loop a wakeup for its hangup */
		s->eof = true;
		uv_read_stop(st);
		s->closed = true;
		uv_close((uv_handle_t *)st, call_handle_closed);
	}
}

/* After the command exited, take what it left in the pipe without waiting
 * for EOF: a background child may hold the pipe open for hours. (A
 * terminal's master also comes here at its hangup: read_cb.) */
static void drain(struct exec_stream *s)
{
	uv_os_fd_t fd;
	if (s->eof || uv_fileno((uv_handle_t *)&s->pipe, &fd) < 0)
		return;
	for (;;) {
		uv_buf_t b;
		alloc_cb((uv_handle_t *)&s->pipe, EXEC_READ_CHUNK, &b);
		ssize_t n = read(fd, b.base, b.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		/* the rest is bounded by the pipe's size: no pause */
		(void)take_bytes(s, b.base, (size_t)n);
	}
	uv_read_stop((uv_stream_t *)&s->pipe);
	s->eof = true;
}

/* A held call ends without having run: cancelled or past its deadline. */
static void finish_unsent(struct exec_call *c)
{
	char text[160];
	struct exec_result r = {.returncode = -1};
	if (c->cancelled) {
		r.error_class = EXEC_CANCELLED;
		r.error = "cancelled";
	} else {
		r.error_class = EXEC_TIMEOUT;
		snprintf(text, sizeof text,
			 "Command timed out after %gs (waiting for a place in "
			 "the slot)",
			 c->timeout_s);
		r.error = text;
	}
	finish(c, &r);
}

static void stream_resume(struct exec_stream *s)
{
	if (!s->call->watching)
		return;
	if (!s->eof &&
	    uv_read_start((uv_stream_t *)&s->pipe, alloc_cb, read_cb) < 0)
		s->eof = true;
}

static void start_watch(struct exec_call *c)
{
	c->watching = true;
	stream_resume(&c->out);
	if (!c->merged)
		stream_resume(&c->err);
}

static void timer_cb(uv_timer_t *t);

/* A deferred call's watch starts; its deadline stays where it was. (A
 * held call is watched from the start.) */
static bool watch_phase(struct exec_call *c)
{
	if (c->watching || c->cancelled || c->timed_out)
		return false;
	start_watch(c);
	double left = c->timeout_s * 1000.0 - (sb_now_mono() - c->start) * 1e3;
	if (left < 1)
		return false;
	uv_timer_start(&c->timer, timer_cb, (uint64_t)left, 0);
	return true;
}

static void timer_cb(uv_timer_t *t)
{
	struct exec_call *c = t->data;
	if (watch_phase(c))
		return;
	if (c->held) {
		c->timed_out = !c->cancelled;
		finish_unsent(c);
		return;
	}
	if (c->timed_out || c->cancelled) {
		/* The leader did not report the kill: treat the slot as
		 * broken rather than hang the caller. */
		finish_infra(c, "sandbox_lost",
			     "the sandbox did not stop the command in time");
		return;
	}
	c->timed_out = true;
	struct sb_msg m = {.type = SB_MSG_KILL, .id = c->id};
	sandbox_slot_send(c->slot, &m, NULL, 0);
	uv_timer_start(&c->timer, timer_cb,
		       (uint64_t)(EXEC_KILL_GRACE_S * 1000), 0);
}

void exec_resume_output(struct exec_call *c)
{
	if (!c->paused || !c->slot)
		return;
	c->paused = false;
	stream_resume(&c->out);
	if (!c->merged)
		stream_resume(&c->err);
}

void exec_signal(struct exec_call *c, int sig)
{
	if (!c->slot)
		return;
	struct sb_msg m = {.type = SB_MSG_SIGNAL, .id = c->id, .status = sig};
	sandbox_slot_send(c->slot, &m, NULL, 0);
}

void exec_on_started(struct sbx_slot *slot, const struct sb_msg *m)
{
	struct exec_call *c = slot->calls;
	while (c && c->id != m->id)
		c = c->next;
	if (c && c->on_started) {
		void (*fn)(void *, int) = c->on_started;
		c->on_started = NULL;
		fn(c->ud, m->status);
	}
}

void exec_cancel(struct exec_call *c)
{
	if (c->cancelled || c->timed_out || !c->slot)
		return;
	c->cancelled = true;
	if (c->held) {
		/* answered from the loop, not from inside the caller */
		uv_timer_start(&c->timer, timer_cb, 0, 0);
		return;
	}
	if (!c->watching)
		start_watch(c);
	struct sb_msg m = {.type = SB_MSG_KILL, .id = c->id};
	sandbox_slot_send(c->slot, &m, NULL, 0);
	/* As after a timeout: a leader that does not report the kill within
	 * the grace period fails the call rather than hang its caller. */
	uv_timer_start(&c->timer, timer_cb,
		       (uint64_t)(EXEC_KILL_GRACE_S * 1000), 0);
}

/* Did the OOM killer kill a process of the slot while the call ran? The
 * count is the slot's, so a call running beside the one that blew the
 * limit in the same slot is told too. */
static bool oom_during(const struct exec_call *c)
{
	uint64_t now;
	return c->oom_known && sandbox_slot_oom_kills(c->slot, &now) == 0 &&
	       now > c->oom_before;
}

void exec_on_done(struct sbx_slot *slot, const struct sb_msg *m)
{
	struct exec_call *c = slot->calls;
	while (c && c->id != m->id)
		c = c->next;
	if (!c)
		return;
	/* The calls whose pipes may wait (exec_start's defer) set the pace.
	 * One whose output the watch read as it came may have waited for the
	 * watch (a full pipe): its length says nothing of the slot's calls,
	 * and such output is better read at once. */
	if (!c->background && !c->tty && !c->on_output)
		exec_pace_note(&slot->pace,
			       c->out.read_early || c->err.read_early
				       ? 0.0
				       : sb_now_mono() - c->start);
	drain(&c->out);
	if (!c->merged)
		drain(&c->err);
	struct exec_result r = {.error = "", .error_class = EXEC_OK};
	char text[160];
	if (m->flags & SB_EXEC_SPAWN_FAILED) {
		r.returncode = 127;
		snprintf(text, sizeof text, "could not start the command: %s",
			 strerror(m->sys_errno));
		r.error = text;
		r.error_class = m->sys_errno == EAGAIN ? EXEC_INFRA : EXEC_TASK;
		finish(c, &r);
		return;
	}
	if (WIFEXITED(m->status))
		r.returncode = WEXITSTATUS(m->status);
	else if (WIFSIGNALED(m->status))
		r.returncode = -WTERMSIG(m->status);
	else
		r.returncode = -1;
	r.oom_killed = oom_during(c);
	r.has_usage = true;
	r.cpu_user_ms = (double)m->cpu_user_us / 1000.0;
	r.cpu_sys_ms = (double)m->cpu_sys_us / 1000.0;
	r.peak_memory_bytes = m->max_rss_kib * 1024u;
	if (c->cancelled && !WIFEXITED(m->status)) {
		/* (one that exited by itself before the kill reached it
		 * keeps its own result) */
		r.error_class = EXEC_CANCELLED;
		r.error = "cancelled";
	} else if (c->timed_out) {
		r.error_class = EXEC_TIMEOUT;
		snprintf(text, sizeof text, "Command timed out after %gs",
			 c->timeout_s);
		r.error = text;
	} else if (r.oom_killed && r.returncode != 0) {
		r.error_class = EXEC_TASK;
		snprintf(text, sizeof text,
			 "Killed: out of memory (the slot's limit is %lld MiB)",
			 (long long)slot->sb->profile->memory_mb);
		r.error = text;
	} else if (r.returncode != 0) {
		r.error_class = EXEC_TASK;
		if (r.returncode < 0)
			snprintf(text, sizeof text, "Killed by signal %d",
				 -r.returncode);
		else
			snprintf(text, sizeof text, "Exit code: %d",
				 r.returncode);
		r.error = text;
	}
	finish(c, &r);
}

void exec_fail_all(struct sbx_slot *slot, const char *code, const char *why)
{
	/* The held ones first, so that no place freed below sends one. */
	while (slot->n_held > 0) {
		struct exec_call *c = slot->calls;
		while (c && !c->held)
			c = c->next;
		if (!c)
			break;
		finish_infra(c, code, why);
	}
	while (slot->calls)
		finish_infra(slot->calls, code, why);
}

int sb_sealed_memfd(const char *name, const void *data, size_t len,
		    struct sb_err *err)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return sb_err_sys(err, "memfd_create");
	const char *p = data;
	size_t left = len;
	while (left) {
		ssize_t n = write(fd, p, left);
		if (n <= 0) {
			sb_err_sys(err, "write %s", name);
			close(fd);
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) < 0 ||
	    fcntl(fd, F_ADD_SEALS,
		  F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) <
		    0) {
		sb_err_sys(err, "seal %s", name);
		close(fd);
		return -1;
	}
	return fd;
}

/* The payload: header + cwd + argv + envp (proto.h). */
static int encode_payload(const struct exec_spec *spec, char **buf, size_t *len,
			  struct sb_err *err)
{
	if (sb_payload_encode(spec->cwd, spec->argv, spec->envp, buf, len) < 0)
		return errno == E2BIG
			       ? sb_err_set(err, E2BIG,
					    "command and environment are too "
					    "large")
			       : sb_err_set(err, ENOMEM, "out of memory");
	return 0;
}

/* Small payloads go inside the EXEC's packet to a leader that takes them
 * (proto.h, SB_HELLO_INLINE); others in a memfd sealed against writes. */
static bool payload_inline(const struct sbx_slot *slot, size_t len)
{
	return slot->inline_payload && len <= SB_PAYLOAD_INLINE_MAX;
}

static int payload_memfd(const char *buf, size_t len, struct sb_err *err)
{
	return sb_sealed_memfd("slotbox-payload", buf, len, err);
}

static int make_pipe(int fds[2], struct sb_err *err)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return sb_err_sys(err, "pipe");
	return 0;
}

/* Hand the call to the slot's leader: send[] = payload memfd (-1: inline,
 * c->payload), stdin (-1: none), stdout's and stderr's write ends (-1 when
 * merged), kept by the caller. */
static int call_send(struct exec_call *c, const int send[4])
{
	struct sbx_slot *slot = c->slot;
	int o_fd = c->tty ? send[1] : send[2];
	int fds[4] = {send[0], send[1] >= 0 ? send[1] : slot->sb->env->devnull,
		      o_fd, c->merged ? o_fd : send[3]};
	struct sb_msg m = {.type = SB_MSG_EXEC,
			   .slot = (uint32_t)slot->index,
			   .id = c->id,
			   .flags = c->on_started ? SB_EXEC_REPORT_PID : 0};
	c->oom_known = sandbox_slot_oom_kills(slot, &c->oom_before) == 0;
	if (!c->payload)
		return sandbox_slot_send(slot, &m, fds, 4);
	int r;
	if (payload_inline(slot, c->payload_len)) {
		m.flags |= SB_EXEC_INLINE;
		r = sandbox_slot_send_body(slot, &m, c->payload, c->payload_len,
					   fds + 1, 3);
	} else {
		/* held while its leader was replaced by one that cannot */
		struct sb_err err = {0};
		fds[0] = payload_memfd(c->payload, c->payload_len, &err);
		if (fds[0] < 0)
			return -1;
		r = sandbox_slot_send(slot, &m, fds, 4);
		close(fds[0]);
	}
	drop_payload(c);
	return r;
}

/* Has the slot's leader as many calls (background processes included)
 * as it takes? Held calls are not in it yet. */
static bool leader_busy(const struct sbx_slot *slot)
{
	return slot->n_calls + slot->n_bg - slot->n_held >= SB_LEADER_MAX_CALLS;
}

/* Send held calls, oldest first, while the leader has places. A call that
 * cannot be sent fails as infra (it is still held then: no recursion). */
static void send_held(struct sbx_slot *slot)
{
	while (slot->n_held > 0 && slot->chan && !leader_busy(slot)) {
		struct exec_call *oldest = NULL;
		for (struct exec_call *c = slot->calls; c; c = c->next)
			if (c->held)
				oldest = c;
		if (!oldest)
			return;
		if (call_send(oldest, oldest->send) < 0) {
			finish_infra(oldest, "sandbox_lost",
				     "could not send the command to the "
				     "sandbox");
			return;
		}
		close_fds(oldest->send, 4);
		oldest->held = false;
		slot->n_held--;
	}
}

static int stream_open(struct exec_call *c, struct exec_stream *s, int fd,
		       size_t limit, int which)
{
	s->call = c;
	s->which = which;
	s->kept.limit = limit;
	if (uv_pipe_init(c->slot->sb->env->loop, &s->pipe, 0) < 0)
		return -1;
	s->pipe.data = s;
	c->open_handles++;
	return uv_pipe_open(&s->pipe, fd);
}

int exec_start(struct sbx_slot *slot, const struct exec_spec *spec,
	       exec_done_fn cb, void *ud, struct exec_call **out_call,
	       struct sb_err *err)
{
	/* payload, stdin, stdout write end, stderr write end */
	int send[4] = {-1, -1, -1, -1};
	int out[2] = {-1, -1}, errp[2] = {-1, -1};
	char *payload = NULL;
	size_t payload_len = 0;

	/* a terminal's or a process's descriptors are the call's from here */
	if (spec->own_stdin)
		send[1] = spec->stdin_fd;
	if (spec->tty) {
		send[1] = spec->tty_fd;
		out[0] = spec->out_fd;
	}
	if (!slot->chan) {
		sb_err_set(err, ENOTCONN, "the slot is not running");
		goto fail;
	}
	/* the slot's own memory and cpu limits, at its first call
	 * (slot_limits.c) */
	if (sandbox_slot_limits_on(slot, err) < 0)
		goto fail;
	if (encode_payload(spec, &payload, &payload_len, err) < 0)
		goto fail;
	if (!payload_inline(slot, payload_len)) {
		send[0] = payload_memfd(payload, payload_len, err);
		payload_free(payload, payload_len);
		payload = NULL;
		if (send[0] < 0)
			goto fail;
	}
	/* (a terminal: the slave behind fds 0, 1 and 2; own_stdin: taken
	 * above) */
	if (!spec->tty && !spec->own_stdin && spec->stdin_data) {
		send[1] = sb_sealed_memfd("slotbox-stdin", spec->stdin_data,
					  spec->stdin_len, err);
		if (send[1] < 0)
			goto fail;
	}
	/* merge_output: one pipe behind both fds 1 and 2 of the command,
	 * so the bytes keep the order in which they were written. */
	bool merged = spec->merge_output || spec->tty;
	if (!spec->tty) {
		if (make_pipe(out, err) < 0 ||
		    (!merged && make_pipe(errp, err) < 0))
			goto fail;
		send[2] = out[1];
		send[3] = errp[1];
		out[1] = errp[1] = -1;
	}

	struct exec_call *c = calloc(1, sizeof *c);
	if (!c) {
		sb_err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	c->slot = slot;
	c->payload = payload; /* the call's from here, freed with it */
	c->payload_len = payload_len;
	payload = NULL;
	c->id = next_call_id++;
	c->cb = cb;
	c->ud = ud;
	c->start = sb_now_mono();
	c->timeout_s = spec->timeout_s;
	c->merged = merged;
	c->tty = spec->tty;
	c->on_output = spec->on_output;
	c->output_ud = spec->output_ud;
	c->background = spec->background && spec->on_output;
	c->on_started = spec->on_started;
	uv_timer_init(slot->sb->env->loop, &c->timer);
	c->timer.data = c;
	c->open_handles = 1;
	/* From here on the call owns the read ends, even on failure. */
	int o = stream_open(c, &c->out, out[0], spec->output_limit, 1);
	int e = c->merged ? 0
			  : stream_open(c, &c->err, errp[0], spec->output_limit,
					2);
	/* Past the leader's maximum the call waits here, with its fds, for
	 * a place (send_held); its deadline runs from now. */
	bool hold = leader_busy(slot);
	bool defer = !hold && !c->on_output && !c->tty;
	if (!defer && o == 0 && e == 0)
		start_watch(c);
	if (o < 0 || e < 0 || (!hold && call_send(c, send) < 0)) {
		sb_err_sys(err, "send the command to the sandbox");
		close_fds(send, 4);
		/* Never linked to the slot: just close, no callback. */
		uv_close((uv_handle_t *)&c->out.pipe, call_handle_closed);
		if (!c->merged)
			uv_close((uv_handle_t *)&c->err.pipe,
				 call_handle_closed);
		uv_close((uv_handle_t *)&c->timer, call_handle_closed);
		return -1;
	}
	if (hold) {
		memcpy(c->send, send, sizeof send);
		c->held = true;
		slot->n_held++;
	} else {
		close_fds(send, 4);
	}
	c->next = slot->calls;
	slot->calls = c;
	if (c->background)
		slot->n_bg++;
	else
		slot->n_calls++;
	double ms = spec->timeout_s * 1000.0;
	uint32_t watch_ms = exec_pace_watch_ms(&slot->pace);
	if (defer && ms > watch_ms)
		ms = watch_ms;
	if (!c->background)
		uv_timer_start(&c->timer, timer_cb, ms < 1 ? 1 : (uint64_t)ms,
			       0);
	if (out_call)
		*out_call = c;
	/* the call is on its way: the next slot's first-call group now */
	sandbox_slot_limits_ahead(slot);
	return 0;
fail:
	payload_free(payload, payload_len);
	close_fds(send, 4);
	close_fds(out, 2);
	close_fds(errp, 2);
	return -1;
}
