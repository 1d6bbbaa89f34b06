/* SPDX-License-Identifier: Apache-2.0 */
/* proc_check.c - libslotbox's API 1.1 calls against a live slotboxd, as
 * TAP: streamed exec, background processes (output, long-poll, stream,
 * stdin, signals, pty size, kill, list) and the port proxy. Usage:
 * proc_check SOCKET; tests/e2e/test_cli_tty.py starts the daemon and runs
 * it. Early arrival is shown causally: the command waits for a file that
 * the event callback writes only once the first line has reached it. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/slotbox.h"
#include "tap.h"

#define WAIT_FOR_GO "while [ ! -e go ]; do sleep 0.02; done"

struct collect {
	struct sbc *side; /* a second connection for calls meanwhile */
	const char *slot;
	char out[8192];
	size_t out_len;
	int events, results, stop_after;
	bool wrote_go;
	bool have_exit;
	int exit_code;
};

static int collect_event(const struct sbc_event *ev, void *ud)
{
	struct collect *k = ud;
	k->events++;
	if (strcmp(ev->type, "stdout") == 0 ||
	    strcmp(ev->type, "stderr") == 0) {
		size_t room = sizeof k->out - 1 - k->out_len;
		size_t n = ev->len < room ? ev->len : room;
		memcpy(k->out + k->out_len, ev->data, n);
		k->out_len += n;
		k->out[k->out_len] = '\0';
		if (!k->wrote_go && k->side && strstr(k->out, "first\n")) {
			struct sbc_error err = {0};
			k->wrote_go = sbc_write_file(k->side, k->slot, "go", "",
						     0, &err) == 0;
		}
	} else if (strcmp(ev->type, "result") == 0) {
		k->results++;
	}
	json_t *code = json_object_get(ev->doc, "exit_code");
	if (!json_is_integer(code)) /* a process's end: its result */
		code = json_object_get(json_object_get(ev->doc, "result"),
				       "exit_code");
	if (json_is_integer(code)) {
		k->have_exit = true;
		k->exit_code = (int)json_integer_value(code);
	}
	return k->stop_after && k->events >= k->stop_after;
}

static void check_stream_exec(struct sbc *c, struct sbc *side, const char *slot)
{
	struct collect k = {.side = side, .slot = slot};
	struct sbc_bash b = {.command = "echo first; " WAIT_FOR_GO
					"; echo second; printf '\\377'; exit 3",
			     .timeout_s = 30};
	struct sbc_exec_result r;
	struct sbc_error err = {0};
	int rc = sbc_bash_stream(c, slot, &b, collect_event, &k, &r, &err);
	ok(rc == 0 && k.wrote_go,
	   "streamed exec: the first line came before "
	   "the end (%s)",
	   rc ? err.message : "");
	ok(rc == 0 && strcmp(k.out, "first\nsecond\n\377") == 0,
	   "events in order, base64 decoded: %s", k.out);
	ok(rc == 0 && k.results == 1 && r.returncode == 3 && !r.success &&
		   strcmp(r.error_class, "task") == 0,
	   "the result event fills the result (rc %d)", r.returncode);
	if (rc == 0)
		sbc_exec_result_free(&r);
	(void)sbc_bash(c, slot, &(struct sbc_bash){.command = "rm -f go"}, &r,
		       &err);
	sbc_exec_result_free(&r);

	struct collect stop = {.stop_after = 1};
	struct sbc_bash slow = {.command = "echo a; sleep 30; echo b",
				.timeout_s = 60};
	rc = sbc_bash_stream(c, slot, &slow, collect_event, &stop, &r, &err);
	ok(rc < 0 && strcmp(err.code, "stopped") == 0,
	   "a callback that stops ends the call (%s)", err.code);
	struct sbc_bash tty = {
		.command = "stty size", .pty_rows = 19, .pty_cols = 59};
	rc = sbc_bash(c, slot, &tty, &r, &err);
	ok(rc == 0 && strcmp(r.out, "19 59\r\n") == 0,
	   "sbc_bash on a pty of the asked size: %s", rc ? err.message : r.out);
	if (rc == 0)
		sbc_exec_result_free(&r);
	struct sbc_bash echo = {.command = "echo again"};
	rc = sbc_bash(c, slot, &echo, &r, &err);
	ok(rc == 0 && strcmp(r.out, "again\n") == 0,
	   "the connection is usable after a stopped stream");
	if (rc == 0)
		sbc_exec_result_free(&r);
	rc = sbc_bash_stream(c, "default-00000000_slot_9", &echo, NULL, NULL,
			     &r, &err);
	ok(rc < 0 && (err.http_status == 404 || err.http_status == 409),
	   "a stream for a bogus slot fails with the API's error (%d)",
	   err.http_status);
}

/* Long-poll until text shows up in the output (or give up). */
static bool output_until(struct sbc *c, const char *slot, const char *pid,
			 const char *text, char *acc, size_t cap,
			 long long *next)
{
	for (int i = 0; i < 20 && !strstr(acc, text); i++) {
		struct sbc_process_output o;
		struct sbc_error err = {0};
		if (sbc_process_output(c, slot, pid, *next, 2, &o, &err) < 0)
			return false;
		strncat(acc, o.out, cap - strlen(acc) - 1);
		strncat(acc, o.err, cap - strlen(acc) - 1);
		*next = o.next;
		sbc_process_output_free(&o);
	}
	return strstr(acc, text) != NULL;
}

/* Long-poll until it ends; its exit code (-1000 when it never did). */
static int wait_exit(struct sbc *c, const char *slot, const char *pid)
{
	long long next = 0;
	for (int i = 0; i < 40; i++) {
		struct sbc_process_output o;
		struct sbc_error err = {0};
		if (sbc_process_output(c, slot, pid, next, 1, &o, &err) < 0)
			return -1000;
		next = o.next;
		bool done = !o.running;
		int code = o.exit_code;
		sbc_process_output_free(&o);
		if (done)
			return code;
	}
	return -1000;
}

static void check_processes(struct sbc *c, const char *sock, const char *slot)
{
	struct sbc_error err = {0};
	struct sbc_process p;
	const char *env[] = {"WHO=c-client", NULL};
	struct sbc_process_spec spec = {
		.command = "echo hi $WHO; read x; echo got:$x; cat; exit 4",
		.env = env};
	int rc = sbc_process_start(c, slot, &spec, &p, &err);
	ok(rc == 0 && p.process_id && *p.process_id, "process starts (%s)",
	   rc ? err.message : "");
	if (rc || !p.process_id)
		return;
	char acc[4096] = "";
	long long next = 0;
	ok(output_until(c, slot, p.process_id, "hi c-client\n", acc, sizeof acc,
			&next),
	   "its output long-polls in: %s", acc);
	ok(sbc_process_stdin(c, slot, p.process_id, "xyz\n", 4, false, &err) ==
			   0 &&
		   output_until(c, slot, p.process_id, "got:xyz\n", acc,
				sizeof acc, &next),
	   "stdin round-trips");
	ok(sbc_process_stdin(c, slot, p.process_id, "tail\n", 5, true, &err) ==
			   0 &&
		   wait_exit(c, slot, p.process_id) == 4,
	   "stdin eof ends cat; exit code 4");
	json_t *list = NULL;
	bool listed = false;
	if (sbc_process_list(c, slot, &list, &err) == 0) {
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(list, "processes"), i, e)
		{
			const char *id = json_string_value(
				json_object_get(e, "process_id"));
			listed |=
				id && strcmp(id, p.process_id) == 0 &&
				!json_is_true(json_object_get(e, "running")) &&
				json_integer_value(
					json_object_get(e, "exit_code")) == 4;
		}
	}
	json_decref(list);
	ok(listed, "the list shows it ended with 4");
	struct sbc_process_output o;
	rc = sbc_process_output(c, slot, p.process_id, 0, 0, &o, &err);
	ok(rc == 0 && strcmp(o.out, "hi c-client\ngot:xyz\ntail\n") == 0 &&
		   !o.running,
	   "output from offset 0 is all of it: %s", rc ? err.message : o.out);
	sbc_process_output_free(&o);
	sbc_process_free(&p);

	/* 3 MiB while nothing reads yet: 1 MiB queues, the rest waits (429)
	 * until the process reads */
	struct sbc_process_spec wc = {.command = WAIT_FOR_GO "; wc -c",
				      .stdin_data = ""};
	size_t big = (size_t)3 << 20;
	char *buf = malloc(big);
	rc = buf ? sbc_process_start(c, slot, &wc, &p, &err) : -1;
	if (rc == 0) {
		memset(buf, 'x', big);
		pid_t child = fork();
		if (child == 0) { /* lets it read a second from now */
			usleep(1000 * 1000);
			struct sbc_options opt = {.socket_path = sock};
			struct sbc *w = sbc_open(&opt, NULL);
			_exit(w && sbc_write_file(w, slot, "go", "", 0, NULL) ==
						      0
				      ? 0
				      : 1);
		}
		rc = sbc_process_stdin(c, slot, p.process_id, buf, big, true,
				       &err);
		char got[256] = "";
		long long at = 0;
		ok(rc == 0 && output_until(c, slot, p.process_id, "3145728",
					   got, sizeof got, &at),
		   "3 MiB of stdin get through a full queue: %s",
		   rc ? err.message : got);
		if (child > 0)
			waitpid(child, NULL, 0);
		sbc_process_free(&p);
		struct sbc_exec_result r;
		if (sbc_bash(c, slot, &(struct sbc_bash){.command = "rm -f go"},
			     &r, &err) == 0)
			sbc_exec_result_free(&r);
	} else {
		ok(false, "big stdin: %s", err.message);
	}
	free(buf);

	rc = sbc_process_output(c, slot, "no-such-process", 0, 0, &o, &err);
	ok(rc < 0 && err.http_status == 404, "unknown process -> 404 (%s)",
	   err.code);
	ok(sbc_process_kill(c, slot, "", &err) < 0 &&
		   strcmp(err.code, "bad_argument") == 0,
	   "empty process id -> bad_argument");
}

/* process_id is in the list and running. */
static bool listed_running(json_t *list, const char *process_id)
{
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(list, "processes"), i, e)
	{
		const char *id =
			json_string_value(json_object_get(e, "process_id"));
		if (id && strcmp(id, process_id) == 0)
			return json_is_true(json_object_get(e, "running"));
	}
	return false;
}

static void check_signals_and_pty(struct sbc *c, struct sbc *side,
				  const char *slot)
{
	struct sbc_error err = {0};
	int rc;
	struct sbc_process p;
	struct sbc_process_spec trap = {
		.command = "trap 'echo caught; exit 7' INT; echo armed; "
			   "while :; do sleep 0.05; done"};
	if (sbc_process_start(c, slot, &trap, &p, &err) == 0) {
		char acc[1024] = "";
		long long next = 0;
		bool armed = output_until(c, slot, p.process_id, "armed", acc,
					  sizeof acc, &next);
		ok(armed &&
			   sbc_process_signal(c, slot, p.process_id, "SIGINT",
					      &err) == 0 &&
			   wait_exit(c, slot, p.process_id) == 7,
		   "INT reaches its trap (exit 7)");
		sbc_process_free(&p);
	} else {
		ok(false, "INT reaches its trap: %s", err.message);
	}

	struct sbc_process_spec tty = {
		.command = "stty size; [ -t 1 ] && echo isatty; read x; "
			   "stty size; exit 0",
		.rows = 33,
		.cols = 111};
	if (sbc_process_start(c, slot, &tty, &p, &err) == 0) {
		/* the stream on one connection, calls on the other */
		struct collect k = {0};
		struct sbc_stream *st = NULL;
		rc = sbc_process_stream(c, slot, p.process_id, 0, collect_event,
					&k, &st, &err);
		ok(rc == 0, "process output streams (%s)",
		   rc ? err.message : "");
		struct sbc_error busy = {0};
		json_t *none = NULL;
		ok(rc == 0 && sbc_process_list(c, slot, &none, &busy) < 0 &&
			   strcmp(busy.code, "bad_argument") == 0,
		   "a connection an open stream holds refuses other calls");
		bool resized = false;
		for (int i = 0; rc == 0 && i < 400 && !sbc_stream_ended(st);
		     i++) {
			struct pollfd pf = {.fd = sbc_stream_fd(st),
					    .events = POLLIN};
			if (poll(&pf, 1, 50) < 0)
				break;
			if (pf.revents) {
				int r = sbc_stream_read(st, &err);
				if (r != 0)
					break;
			}
			if (!resized && strstr(k.out, "isatty")) {
				resized = sbc_process_resize(side, slot,
							     p.process_id, 44,
							     122, &err) == 0 &&
					  sbc_process_stdin(
						  side, slot, p.process_id,
						  "\n", 1, false, &err) == 0;
			}
		}
		ok(strstr(k.out, "33 111") && strstr(k.out, "isatty"),
		   "a pty of the asked size: %s", k.out);
		ok(resized && strstr(k.out, "44 122"), "resize reaches it");
		ok(st && sbc_stream_ended(st) && k.have_exit &&
			   k.exit_code == 0,
		   "the stream ends with its exit code");
		sbc_stream_close(st);
		sbc_process_free(&p);
	} else {
		ok(false, "pty process: %s", err.message);
	}

	struct sbc_process_spec sleeper = {.command = "sleep 300"};
	if (sbc_process_start(c, slot, &sleeper, &p, &err) == 0) {
		rc = sbc_process_kill(c, slot, p.process_id, &err);
		bool gone = false; /* killed, it leaves the list */
		for (int i = 0; rc == 0 && i < 400 && !gone; i++) {
			json_t *list = NULL;
			if (sbc_process_list(c, slot, &list, &err) < 0)
				break;
			gone = !listed_running(list, p.process_id);
			json_decref(list);
			if (!gone)
				usleep(50 * 1000);
		}
		struct sbc_process_output o;
		int orc = gone ? sbc_process_output(c, slot, p.process_id, 0, 0,
						    &o, &err)
			       : 0;
		if (orc == 0 && gone)
			sbc_process_output_free(&o);
		ok(gone && orc < 0 && err.http_status == 404,
		   "kill ends it; then it is not found (%s)", err.code);
		sbc_process_free(&p);
	} else {
		ok(false, "kill: %s", err.message);
	}
}

static void check_ports(struct sbc *c, const char *slot, const char *other)
{
	struct sbc_error err = {0};
	struct sbc_response resp;
	const char hello[] = "hello port\n";
	(void)sbc_write_file(c, slot, "www/hello.txt", hello, sizeof hello - 1,
			     &err);
	struct sbc_process p;
	struct sbc_process_spec srv = {
		.command = "exec python3 -m http.server 8799 --bind 127.0.0.1",
		.cwd = "www"};
	int rc = sbc_process_start(c, slot, &srv, &p, &err);
	bool up = false;
	for (int i = 0; rc == 0 && i < 200 && !up; i++) {
		if (sbc_port_request(c, slot, 8799, "GET", "/hello.txt", NULL,
				     0, NULL, &resp, &err) == 0)
			up = resp.status == 200 &&
			     strcmp(resp.body, hello) == 0;
		sbc_response_free(&resp);
		if (!up)
			usleep(50 * 1000);
	}
	ok(up, "a request through the proxy reaches the server in the slot");
	rc = sbc_port_request(c, other, 8799, "GET", "/hello.txt", NULL, 0,
			      NULL, &resp, &err);
	ok(rc == 0 && resp.status == 502 &&
		   strstr(resp.body, "port_unreachable"),
	   "another slot's port 8799 -> 502 port_unreachable (%d)",
	   resp.status);
	sbc_response_free(&resp);
	ok(sbc_port_request(c, slot, 0, "GET", "/", NULL, 0, NULL, &resp,
			    &err) < 0 &&
		   strcmp(err.code, "bad_argument") == 0,
	   "port 0 -> bad_argument");
	ok(sbc_port_request(c, slot, 8799, "GET", "/a b", NULL, 0, NULL, &resp,
			    &err) < 0,
	   "a path with a blank is refused");
	char *url = sbc_slot_port_url(c, slot, 8799, "/x?y=1", &err);
	char want[512];
	snprintf(want, sizeof want,
		 "http://localhost/v1/slots/%s/ports/8799/x?y=1", slot);
	ok(url && strcmp(url, want) == 0, "port URL on a socket: %s",
	   url ? url : err.message);
	free(url);
	if (rc == 0) {
		(void)sbc_process_kill(c, slot, p.process_id, &err);
		sbc_process_free(&p);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: proc_check SOCKET\n");
		return 2;
	}
	struct sbc_options opt = {.socket_path = argv[1]};
	struct sbc_error err = {0};
	struct sbc *c = sbc_open(&opt, &err);
	struct sbc *side = sbc_open(&opt, &err);
	if (!c || !side) {
		printf("Bail out! %s\n", err.message);
		return 1;
	}
	struct sbc_slot s, o;
	int rc = sbc_acquire(c, NULL, "proc-c", 30, 0, &s, &err);
	int rc2 = rc ? -1 : sbc_acquire(c, NULL, "proc-c2", 30, 0, &o, &err);
	ok(rc == 0 && rc2 == 0, "two slots (%s)", err.message);
	if (rc == 0 && rc2 == 0) {
		check_stream_exec(c, side, s.slot_id);
		check_processes(c, argv[1], s.slot_id);
		check_signals_and_pty(c, side, s.slot_id);
		check_ports(c, s.slot_id, o.slot_id);
		ok(sbc_release(c, s.slot_id, true, &err) == 0 &&
			   sbc_release(c, o.slot_id, true, &err) == 0,
		   "release");
		sbc_slot_free(&s);
		sbc_slot_free(&o);
	}
	sbc_close(side);
	sbc_close(c);
	return tap_done();
}
