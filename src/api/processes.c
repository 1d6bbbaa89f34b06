/* SPDX-License-Identifier: Apache-2.0 */
/* processes.c - background processes of a slot's lease (processes.h). */
#include "api/processes.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "common/util.h"
#include "pool/pool.h"
#include "pool/slot_service.h"

/* Every record, oldest first. */
static struct proc *procs;

struct stdin_write {
	uv_write_t w;
	struct proc *p;
	char data[];
};

size_t proc_count(void)
{
	size_t n = 0;
	for (const struct proc *p = procs; p; p = p->next)
		n++;
	return n;
}

static void unref(struct proc *p)
{
	if (--p->refs)
		return;
	slot_cmd_free(&p->cmd);
	proc_ring_free(&p->ring);
	free(p);
}

static void unlist(struct proc *p)
{
	if (!p->listed)
		return;
	for (struct proc **pp = &procs; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	p->listed = false;
	unref(p);
}

static bool of_lease(const struct proc *p, const struct sbx_slot *slot)
{
	return p->listed && !p->deleted && pool_slot_of(slot)->leased &&
	       strcmp(p->slot_id, slot->id) == 0;
}

void proc_sweep(struct pools *ps)
{
	for (struct proc *p = procs, *next; p; p = next) {
		next = p->next;
		if (p->running || p->call)
			continue;
		bool stale = false;
		const struct sbx_slot *s =
			p->deleted ? NULL
				   : pools_find_slot(ps, p->slot_id, &stale);
		if (!s || stale || !pool_slot_of(s)->leased)
			unlist(p);
	}
}

struct proc *proc_find(struct sbx_slot *slot, const char *id)
{
	for (struct proc *p = procs; p; p = p->next)
		if (of_lease(p, slot) && strcmp(p->id, id) == 0)
			return p;
	return NULL;
}

void proc_each(struct sbx_slot *slot, void (*fn)(struct proc *p, void *ud),
	       void *ud)
{
	for (struct proc *p = procs; p; p = p->next)
		if (of_lease(p, slot) && !p->started)
			fn(p, ud);
}

bool proc_room(struct sbx_slot *slot)
{
	size_t n = 0;
	struct proc *oldest_ended = NULL;
	for (struct proc *p = procs; p; p = p->next) {
		if (!of_lease(p, slot))
			continue;
		n++;
		if (!p->running && !p->call && !p->started && !oldest_ended)
			oldest_ended = p;
	}
	if (n < (size_t)slot->sb->profile->max_processes)
		return true;
	if (!oldest_ended)
		return false;
	oldest_ended->deleted = true;
	if (!oldest_ended->watch)
		unlist(oldest_ended);
	return true;
}

static void notify(struct proc *p)
{
	for (struct proc_watch *w = p->watch, *next; w; w = next) {
		next = w->next;
		w->fn(w, p);
	}
}

void proc_watch_add(struct proc *p, struct proc_watch *w)
{
	w->next = p->watch;
	p->watch = w;
	p->refs++;
}

void proc_watch_remove(struct proc *p, struct proc_watch *w)
{
	for (struct proc_watch **pp = &p->watch; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			if (p->deleted && !p->running && !p->call && !p->watch)
				unlist(p);
			unref(p);
			return;
		}
	}
}

static void in_closed(uv_handle_t *h)
{
	unref(h->data);
}

static void close_in(struct proc *p)
{
	if (!p->in_open)
		return;
	p->in_open = false;
	uv_close((uv_handle_t *)&p->in, in_closed);
}

/* The start failed (or never came): tell the starter (if it is still to
 * be told), forget the record. */
static void start_failed(struct proc *p, int err, const char *why)
{
	void (*fn)(struct proc *, int, const char *) = p->started;
	p->started = NULL;
	p->running = false;
	p->refs++; /* p lives through the callback */
	close_in(p);
	unlist(p);
	if (fn)
		fn(p, err ? err : EIO, why);
	unref(p);
}

static int proc_output(void *ud, int stream, const char *data, size_t len)
{
	struct proc *p = ud;
	proc_ring_append(&p->ring, stream, data, len);
	notify(p);
	return 0; /* never stop reading: the ring drops the oldest */
}

static void proc_started(void *ud, int pid)
{
	struct proc *p = ud;
	p->pid = pid;
	void (*fn)(struct proc *, int, const char *) = p->started;
	p->started = NULL;
	if (fn)
		fn(p, 0, "");
}

static void proc_done(const struct exec_result *r, void *ud)
{
	struct proc *p = ud;
	p->call = NULL;
	p->slot = NULL;
	p->running = false;
	p->ended_at = sb_now_wall();
	/* killed with its lease or its sandbox: no exit code to tell */
	p->has_exit = r->error_class != EXEC_INFRA;
	p->exit_code = r->returncode;
	if (p->started) {
		/* The leader could not start it. The call's reference goes
		 * first: start_failed holds p while it needs it. */
		p->refs--;
		start_failed(p, EIO,
			     r->error && *r->error
				     ? r->error
				     : "could not start the command");
		return;
	}
	close_in(p);
	/* The call's reference keeps p while the watchers are told (they
	 * may go), and is dropped after. */
	notify(p);
	if (p->deleted && !p->watch)
		unlist(p);
	unref(p);
}

/* Run it: the call takes stdin_fd (a pipe's read end), or the pty's
 * slave and master (a dup of the master stays with p->in). */
static int launch(struct proc *p, struct sbx_slot *slot, int stdin_fd,
		  int master, int slave, struct sb_err *err)
{
	const struct sb_profile *prof = slot->sb->profile;
	struct exec_spec spec = {
		.argv = p->cmd.argv,
		.cwd = p->cmd.cwd,
		.envp = p->cmd.envp,
		.output_limit = (size_t)prof->output_limit_bytes,
		.on_output = proc_output,
		.output_ud = p,
		.background = true,
		.merge_output = p->merge,
		.on_started = proc_started,
		.own_stdin = stdin_fd >= 0,
		.stdin_fd = stdin_fd,
		.tty = master >= 0,
		.tty_fd = slave,
		.out_fd = master,
	};
	p->running = true;
	p->started_at = sb_now_wall();
	if (slot_service_exec(slot, &spec, false, proc_done, p, &p->call, err) <
	    0) {
		p->running = false;
		return -1;
	}
	p->slot = slot;
	p->refs++; /* the call's */
	return 0;
}

static int open_in(struct proc *p, int fd)
{
	if (uv_pipe_init(p->slot->sb->env->loop, &p->in, 0) < 0) {
		close(fd);
		return -1;
	}
	p->in.data = p;
	p->refs++; /* dropped in in_closed */
	p->in_open = true;
	if (uv_pipe_open(&p->in, fd) < 0) {
		close(fd);
		close_in(p);
		return -1;
	}
	return 0;
}

static void pty_ready(void *ud, int master, int slave, int err)
{
	struct proc *p = ud;
	struct sbx_slot *slot = p->slot;
	if (!err &&
	    (!pool_slot_of(slot)->leased || strcmp(slot->id, p->slot_id) != 0))
		err = ESRCH; /* its lease ended meanwhile */
	int keep = err ? -1 : fcntl(master, F_DUPFD_CLOEXEC, 3);
	if (!err && keep < 0)
		err = errno;
	if (!err && open_in(p, keep) < 0)
		err = EIO;
	if (err) {
		if (master >= 0)
			close(master);
		if (slave >= 0)
			close(slave);
		p->refs--; /* the request's (start_failed holds p) */
		start_failed(p, err, "could not open a terminal in the slot");
		return;
	}
	struct sb_err e;
	if (launch(p, slot, -1, master, slave, &e) < 0) {
		p->refs--; /* the request's (start_failed holds p) */
		start_failed(p, e.sys_errno, e.msg);
		return;
	}
	unref(p); /* the request's */
}

struct proc *proc_start(struct sbx_slot *slot, struct slot_cmd *cmd,
			unsigned rows, unsigned cols, bool merge,
			void (*started)(struct proc *p, int err,
					const char *why),
			void *ud, struct sb_err *err)
{
	struct proc *p = calloc(1, sizeof *p);
	if (!p) {
		slot_cmd_free(cmd);
		sb_err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	proc_ring_init(&p->ring,
		       (size_t)slot->sb->profile->process_output_bytes);
	if (sb_random_hex(p->id, PROC_ID_LEN / 2) < 0)
		snprintf(p->id, sizeof p->id, "%016llx",
			 (unsigned long long)(uintptr_t)p);
	snprintf(p->slot_id, sizeof p->slot_id, "%s", slot->id);
	p->cmd = *cmd;
	memset(cmd, 0, sizeof *cmd);
	p->slot = slot;
	p->pty = rows > 0;
	p->merge = merge;
	p->rows = rows;
	p->cols = cols;
	p->started = started;
	p->started_ud = ud;
	p->refs = 1; /* the list's */
	p->listed = true;
	struct proc **pp = &procs;
	while (*pp)
		pp = &(*pp)->next;
	*pp = p;

	/* Failures from here on are answered by the return value: the
	 * starter is not called back. */
	if (p->pty) {
		p->refs++; /* the request's */
		if (slot_service_pty_open(slot, rows, cols, false, pty_ready, p,
					  err) == 0)
			return p;
		p->refs--;
		goto fail;
	}
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		sb_err_sys(err, "pipe");
		goto fail;
	}
	if (open_in(p, fds[1]) < 0) {
		close(fds[0]);
		sb_err_set(err, EIO, "could not open the process's stdin");
		goto fail;
	}
	if (launch(p, slot, fds[0], -1, -1, err) == 0)
		return p;
fail:
	p->started = NULL;
	start_failed(p, 0, "");
	return NULL;
}

static void stdin_written(uv_write_t *w, int status)
{
	struct stdin_write *sw = (struct stdin_write *)w;
	struct proc *p = sw->p;
	(void)status; /* a process that closed its stdin: bytes dropped */
	free(sw);
	p->in_writes--;
	if (p->eof_wanted && !p->in_writes)
		close_in(p);
	unref(p);
}

int proc_stdin(struct proc *p, const char *data, size_t len, bool eof)
{
	if (!p->in_open || p->eof_wanted) {
		errno = EPIPE;
		return -1;
	}
	if (uv_stream_get_write_queue_size((uv_stream_t *)&p->in) + len >
	    PROC_STDIN_QUEUE_MAX) {
		errno = EAGAIN;
		return -1;
	}
	/* A terminal's end of input is its EOF character (^D), not a close:
	 * closing the master would hang the terminal up. */
	bool tty_eof = eof && p->pty;
	size_t total = len + (tty_eof ? 1 : 0);
	if (total) {
		struct stdin_write *sw = malloc(sizeof *sw + total);
		if (!sw) {
			errno = ENOMEM;
			return -1;
		}
		if (len)
			memcpy(sw->data, data, len);
		if (tty_eof)
			sw->data[len] = 4;
		sw->p = p;
		uv_buf_t b = uv_buf_init(sw->data, (unsigned)total);
		if (uv_write(&sw->w, (uv_stream_t *)&p->in, &b, 1,
			     stdin_written) < 0) {
			free(sw);
			errno = EPIPE;
			return -1;
		}
		p->in_writes++;
		p->refs++;
	}
	if (eof && !p->pty) {
		p->eof_wanted = true;
		if (!p->in_writes)
			close_in(p);
	}
	return 0;
}

static int master_fd(struct proc *p)
{
	uv_os_fd_t fd;
	if (!p->pty || !p->in_open || uv_fileno((uv_handle_t *)&p->in, &fd) < 0)
		return -1;
	return fd;
}

int proc_signal(struct proc *p, int sig)
{
	if (!p->running || !p->call) {
		errno = ESRCH;
		return -1;
	}
	int fd = master_fd(p);
	pid_t fg = 0;
	/* The terminal's foreground group, as the kernel numbers it here: a
	 * group of the process's own session (only those can be). */
	if (fd >= 0 &&
	    (sig == SIGINT || sig == SIGQUIT || sig == SIGTSTP ||
	     sig == SIGWINCH) &&
	    ioctl(fd, TIOCGPGRP, &fg) == 0 && fg > 1 && kill(-fg, sig) == 0)
		return 0;
	slot_service_signal(p->call, sig);
	return 0;
}

int proc_resize(struct proc *p, unsigned rows, unsigned cols)
{
	if (!p->pty) {
		errno = ENOTTY;
		return -1;
	}
	int fd = master_fd(p);
	if (fd < 0 || !p->running) {
		errno = ESRCH;
		return -1;
	}
	struct winsize ws = {.ws_row = (unsigned short)rows,
			     .ws_col = (unsigned short)cols};
	if (ioctl(fd, TIOCSWINSZ, &ws) < 0)
		return -1;
	p->rows = rows;
	p->cols = cols;
	return 0;
}

void proc_delete(struct proc *p)
{
	p->deleted = true;
	if (p->call) {
		slot_service_cancel(p->call);
		notify(p);
		return; /* unlisted when it has ended */
	}
	if (!p->watch)
		unlist(p);
}
