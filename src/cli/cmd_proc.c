/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_proc.c - `slotbox exec -t/-it`, `attach`, `ps` and `kill`: the
 * background processes of API 1.1 from a terminal.
 *
 * exec -it starts the command as a process on a pseudo-terminal sized
 * like the local one, then runs one poll() loop over the local stdin, the
 * process's output stream and a signal self-pipe. Output comes on its own
 * connection (GET .../output?stream=true, NDJSON, read as it arrives);
 * stdin bytes, window sizes and signals go as separate short POSTs on a
 * second connection. The local terminal is raw meanwhile and put back on
 * every way out (normal end, errors, signals, exit()). */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cmd_proc.h"
#include "cli/table.h"
#include "cli/term.h"

/* Ctrl-] leaves an attached process running and returns (telnet's key). */
#define DETACH_KEY 0x1d

struct session {
	struct sbc *ctl; /* stdin, resize, signals */
	const char *slot, *process_id;
	bool have_exit;
	int exit_code;
	int out_errno; /* writing our stdout failed */
};

/* A second connection to the node that cli->c talks to. */
static struct sbc *open_second(struct cli *cli)
{
	struct sbc_options o = cli->opt;
	if (cli->node) {
		o.url = strncmp(cli->node, "http://", 7) == 0 ? cli->node
							      : NULL;
		o.socket_path = o.url ? NULL : cli->node;
	}
	o.cancel = NULL;
	struct sbc_error err = {0};
	struct sbc *c = sbc_open(&o, &err);
	if (!c)
		cli_fail("connect", &err);
	return c;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Output to our stdout/stderr as it comes; remember how it ended. */
static int on_event(const struct sbc_event *ev, void *ud)
{
	struct session *s = ud;
	if (strcmp(ev->type, "stdout") == 0 ||
	    strcmp(ev->type, "stderr") == 0) {
		int fd = ev->type[3] == 'o' ? STDOUT_FILENO : STDERR_FILENO;
		if (write_all(fd, ev->data, ev->len) < 0 && !s->out_errno)
			s->out_errno = errno;
		return 0;
	}
	json_t *code = json_object_get(ev->doc, "exit_code");
	json_t *result = json_object_get(ev->doc, "result");
	if (!json_is_integer(code) && json_is_object(result))
		code = json_object_get(result, "exit_code"); /* a process's */
	if (!json_is_integer(code) && json_is_object(result))
		code = json_object_get(json_object_get(result, "metadata"),
				       "returncode"); /* an exec's */
	if (json_is_integer(code)) {
		s->have_exit = true;
		s->exit_code = (int)json_integer_value(code);
	}
	return 0;
}

/* The exit code when the stream did not say: from the process list
 * (the stream ends when the process does; its end may lag a moment). */
static int fetch_exit(struct session *s)
{
	struct sbc_error err = {0};
	for (int i = 0; i < 100 && !s->have_exit; i++) {
		json_t *doc = NULL;
		if (sbc_process_list(s->ctl, s->slot, &doc, &err) < 0)
			return cli_fail("ps", &err);
		size_t k;
		json_t *p;
		json_array_foreach(json_object_get(doc, "processes"), k, p)
		{
			const char *id = json_string_value(
				json_object_get(p, "process_id"));
			if (id && strcmp(id, s->process_id) == 0 &&
			    !json_is_true(json_object_get(p, "running"))) {
				s->have_exit = true;
				s->exit_code = (int)json_integer_value(
					json_object_get(p, "exit_code"));
			}
		}
		json_decref(doc);
		if (!s->have_exit)
			usleep(100 * 1000);
	}
	if (!s->have_exit)
		fputs("slotbox: the output ended but the process still "
		      "runs\n",
		      stderr);
	return s->have_exit ? 0 : CLI_FAILED;
}

static int exit_status(int code)
{
	if (code < 0)
		return 128 + (-code & 127);
	return code & 255;
}

static void send_size(struct session *s)
{
	int rows, cols;
	if (!term_size(STDIN_FILENO, &rows, &cols) &&
	    !term_size(STDOUT_FILENO, &rows, &cols))
		return;
	struct sbc_error err = {0};
	(void)sbc_process_resize(s->ctl, s->slot, s->process_id, rows, cols,
				 &err); /* a process without a pty: nothing */
}

enum loop_end { LOOP_EXITED, LOOP_DETACHED, LOOP_SIGNAL, LOOP_FAILED };

struct loop_opts {
	bool forward_stdin;
	bool detach_key; /* Ctrl-] detaches */
	int sigfd;
};

/* Forward what stdin has; false at its end (eof sent) or on failure. */
static int pump_stdin(struct session *s, const struct loop_opts *lo, bool *open,
		      bool *detach)
{
	char buf[16384];
	ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	bool eof = n <= 0;
	size_t len = eof ? 0 : (size_t)n;
	if (lo->detach_key) {
		char *k = memchr(buf, DETACH_KEY, len);
		if (k) {
			len = (size_t)(k - buf);
			*detach = true;
		}
	}
	if (eof)
		*open = false;
	struct sbc_error err = {0};
	if ((len || eof) &&
	    sbc_process_stdin(s->ctl, s->slot, s->process_id, eof ? NULL : buf,
			      len, eof, &err) < 0) {
		/* A process that has ended, or closed its stdin, answers 404
		 * or 409: nothing more to tell it, and the stream says how
		 * it ended. */
		if (err.http_status >= 500 || err.http_status == 0)
			return cli_fail("stdin", &err);
		*open = false;
	}
	return 0;
}

/* The poll() loop: stream output, forward stdin, window sizes, signals. */
static enum loop_end run_loop(struct session *s, struct sbc_stream *st,
			      const struct loop_opts *lo, int *sig)
{
	bool stdin_open = lo->forward_stdin;
	for (;;) {
		/* The whole answer may have come with its head, or with the
		 * last read: then the socket has nothing more to say. */
		if (sbc_stream_ended(st))
			return LOOP_EXITED;
		struct pollfd p[3] = {
			{.fd = sbc_stream_fd(st), .events = POLLIN},
			{.fd = lo->sigfd, .events = POLLIN},
			{.fd = stdin_open ? STDIN_FILENO : -1,
			 .events = POLLIN},
		};
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("slotbox: poll");
			return LOOP_FAILED;
		}
		if (p[1].revents) {
			bool winch;
			term_signals_take(&winch, sig);
			if (winch)
				send_size(s);
			if (*sig == SIGINT) {
				/* ^C outside raw mode: the remote side's */
				struct sbc_error err = {0};
				(void)sbc_process_signal(s->ctl, s->slot,
							 s->process_id, "INT",
							 &err);
				*sig = 0;
			}
			if (*sig)
				return LOOP_SIGNAL;
		}
		if (p[0].revents) {
			struct sbc_error err = {0};
			int r = sbc_stream_read(st, &err);
			if (r < 0) {
				cli_fail("output", &err);
				return LOOP_FAILED;
			}
			if (r == 1)
				return LOOP_EXITED;
		}
		if (p[2].revents) {
			bool detach = false;
			if (pump_stdin(s, lo, &stdin_open, &detach) != 0)
				return LOOP_FAILED;
			if (detach)
				return LOOP_DETACHED;
		}
	}
}

/* Stream process_id's output from offset 0 (its ring) and live, with the
 * terminal wiring; the exit status to return. kill_on_signal: a signal
 * that ends us hangs the process up (exec), else it keeps running. */
static int interact(struct cli *cli, const char *slot, const char *process_id,
		    bool forward_stdin, bool raw, bool kill_on_signal)
{
	struct session s = {.slot = slot, .process_id = process_id};
	s.ctl = open_second(cli);
	if (!s.ctl)
		return CLI_FAILED;
	struct loop_opts lo = {.forward_stdin = forward_stdin,
			       .detach_key = forward_stdin && raw,
			       .sigfd = term_signals_init()};
	int rc = CLI_FAILED;
	struct sbc_stream *st = NULL;
	struct sbc_error err = {0};
	if (lo.sigfd < 0) {
		perror("slotbox: signals");
		goto out;
	}
	if (sbc_process_stream(cli->c, slot, process_id, 0, on_event, &s, &st,
			       &err) < 0) {
		rc = cli_fail("output", &err);
		goto out;
	}
	if (forward_stdin && raw)
		(void)term_raw(STDIN_FILENO);
	send_size(&s);
	int sig = 0;
	enum loop_end end = run_loop(&s, st, &lo, &sig);
	term_restore();
	switch (end) {
	case LOOP_EXITED:
		rc = fetch_exit(&s);
		if (rc == 0)
			rc = exit_status(s.exit_code);
		break;
	case LOOP_DETACHED:
		fprintf(stderr,
			"\r\nslotbox: detached; `slotbox attach %s %s` "
			"gets back\n",
			slot, process_id);
		rc = 0;
		break;
	case LOOP_SIGNAL:
		if (kill_on_signal)
			(void)sbc_process_signal(s.ctl, slot, process_id, "HUP",
						 &err);
		rc = 128 + sig;
		break;
	case LOOP_FAILED:
		rc = CLI_FAILED;
		break;
	}
	if (s.out_errno && end == LOOP_EXITED && rc == 0)
		rc = CLI_FAILED;
out:
	term_restore();
	term_signals_reset();
	sbc_stream_close(st);
	sbc_close(s.ctl);
	return rc;
}

int cli_exec_tty(struct cli *cli, const char *slot,
		 const struct cli_tty_exec *x)
{
	if (cli->json)
		return cli_usage_error("exec -t shows a terminal: no --json");
	struct sbc *c = cli_slot_client(cli, slot);
	if (!c)
		return CLI_FAILED;
	int rows = 24, cols = 80;
	if (!term_size(STDIN_FILENO, &rows, &cols))
		(void)term_size(STDOUT_FILENO, &rows, &cols);
	struct sbc_process_spec spec = {.command = x->command,
					.cwd = x->cwd,
					.env = x->env,
					.rows = rows,
					.cols = cols};
	struct sbc_process p;
	struct sbc_error err = {0};
	if (sbc_process_start(c, slot, &spec, &p, &err) < 0)
		return cli_fail("exec", &err);
	int rc =
		interact(cli, slot, p.process_id, x->forward_stdin, true, true);
	sbc_process_free(&p);
	return rc;
}

/* slotbox attach [--no-stdin] SLOT PROCESS_ID */
int cmd_attach(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"no-stdin", no_argument, NULL, 'n'},
		{0},
	};
	bool forward = true;
	int o;
	while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (o != 'n')
			return cli_usage_error("bad option for attach");
		forward = false;
	}
	if (optind + 2 != argc)
		return cli_usage_error("attach takes SLOT PROCESS_ID");
	struct sbc *c = cli_slot_client(cli, argv[optind]);
	if (!c)
		return CLI_FAILED;
	/* Raw keys for a process on a terminal (its pty echoes and edits);
	 * one on pipes gets lines from this terminal as it is. */
	json_t *list = NULL;
	struct sbc_error err = {0};
	if (sbc_process_list(c, argv[optind], &list, &err) < 0)
		return cli_fail("attach", &err);
	bool pty = false, found = false;
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(list, "processes"), i, p)
	{
		const char *id =
			json_string_value(json_object_get(p, "process_id"));
		if (id && strcmp(id, argv[optind + 1]) == 0) {
			found = true;
			pty = !json_is_false(json_object_get(p, "pty"));
		}
	}
	json_decref(list);
	if (!found) {
		fprintf(stderr, "slotbox: attach: no process %s in slot %s\n",
			argv[optind + 1], argv[optind]);
		return CLI_FAILED;
	}
	return interact(cli, argv[optind], argv[optind + 1], forward, pty,
			false);
}

static void print_processes(json_t *list)
{
	static const char *const header[] = {"PROCESS_ID", "PID",     "STATE",
					     "STARTED",	   "COMMAND", NULL};
	struct table t;
	if (table_init(&t, header) < 0)
		return;
	size_t i;
	json_t *p;
	json_array_foreach(list, i, p)
	{
		char pid[24] = "", state[32];
		json_t *jpid = json_object_get(p, "pid");
		if (json_is_integer(jpid))
			snprintf(pid, sizeof pid, "%lld",
				 (long long)json_integer_value(jpid));
		if (json_is_true(json_object_get(p, "running")))
			snprintf(state, sizeof state, "running");
		else
			snprintf(state, sizeof state, "exited %lld",
				 (long long)json_integer_value(
					 json_object_get(p, "exit_code")));
		json_t *started = json_object_get(p, "started_at");
		char when[32] = "";
		if (json_is_string(started))
			snprintf(when, sizeof when, "%s",
				 json_string_value(started));
		else if (json_is_number(started)) {
			time_t secs = (time_t)json_number_value(started);
			struct tm tm;
			if (gmtime_r(&secs, &tm))
				strftime(when, sizeof when,
					 "%Y-%m-%dT%H:%M:%SZ", &tm);
		}
		const char *row[] = {
			json_string_value(json_object_get(p, "process_id")),
			pid,
			state,
			when,
			json_string_value(json_object_get(p, "command")),
		};
		if (table_add(&t, row) < 0)
			break;
	}
	table_print(&t);
	table_free(&t);
}

/* slotbox ps SLOT */
int cmd_ps(struct cli *cli, int argc, char **argv)
{
	if (cli_json_only(cli, argc, argv) < 0)
		return CLI_USAGE;
	if (optind + 1 != argc)
		return cli_usage_error("ps takes one SLOT");
	struct sbc *c = cli_slot_client(cli, argv[optind]);
	if (!c)
		return CLI_FAILED;
	json_t *doc = NULL;
	struct sbc_error err = {0};
	if (sbc_process_list(c, argv[optind], &doc, &err) < 0)
		return cli_fail("ps", &err);
	if (cli->json)
		cli_print_json(doc);
	else
		print_processes(json_object_get(doc, "processes"));
	json_decref(doc);
	return 0;
}

/* slotbox kill [-s SIG] SLOT PROCESS_ID: without -s its whole tree is
 * killed (DELETE); with it, that one signal is sent. */
int cmd_kill(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"signal", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{0},
	};
	const char *sig = NULL;
	int o;
	while ((o = getopt_long(argc, argv, "s:", opts, NULL)) != -1) {
		if (o == 's')
			sig = optarg;
		else if (o == 'j')
			cli->json = true;
		else
			return cli_usage_error("bad option for kill");
	}
	if (optind + 2 != argc)
		return cli_usage_error("kill takes SLOT PROCESS_ID");
	const char *slot = argv[optind], *pid = argv[optind + 1];
	struct sbc *c = cli_slot_client(cli, slot);
	if (!c)
		return CLI_FAILED;
	char name[16];
	char *end = NULL;
	long n = sig ? strtol(sig, &end, 10) : 0;
	if (sig && *sig && !*end) { /* -s 9: the name the API takes */
		const char *abbrev =
			n > 0 && n < NSIG ? sigabbrev_np((int)n) : NULL;
		if (!abbrev)
			return cli_usage_error("no signal %s", sig);
		snprintf(name, sizeof name, "%s", abbrev);
		sig = name;
	}
	struct sbc_error err = {0};
	int rc = sig ? sbc_process_signal(c, slot, pid, sig, &err)
		     : sbc_process_kill(c, slot, pid, &err);
	return rc < 0 ? cli_fail("kill", &err) : 0;
}
