/* SPDX-License-Identifier: Apache-2.0 */
/* client_check.c - drives a live slotboxd through libslotbox and prints
 * TAP. Usage: client_check SOCKET. tests/e2e/test_cli.py starts the daemon
 * and runs this, so the C library is tested the way a C user calls it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/slotbox.h"
#include "tap.h"

static void check_errors(struct sbc *c)
{
	struct sbc_error err = {0};
	struct sbc_slot s;
	int rc = sbc_acquire(c, "no-such-profile", NULL, 1, 0, &s, &err);
	ok(rc < 0 && strcmp(err.code, "unknown_profile") == 0 &&
		   err.http_status == 404,
	   "unknown profile -> unknown_profile 404 (%s)", err.code);
	rc = sbc_release(c, "default-00000000_slot_0", true, &err);
	ok(rc < 0 && err.http_status == 404, "release of a bogus slot -> 404");
	rc = sbc_release(c, "", true, &err);
	ok(rc < 0 && strcmp(err.code, "bad_argument") == 0,
	   "empty slot id -> bad_argument");
	struct sbc_options bad = {.socket_path = "/nonexistent/sock"};
	struct sbc *none = sbc_open(&bad, &err);
	ok(!none && strcmp(err.code, "connect_failed") == 0 &&
		   strstr(err.message, "/nonexistent/sock"),
	   "missing socket -> connect_failed naming the path");
	struct sbc_options url = {.url = "ftp://x:1"};
	ok(!sbc_open(&url, &err) && strcmp(err.code, "bad_argument") == 0,
	   "bad URL -> bad_argument");
}

static void check_exec(struct sbc *c, const char *slot)
{
	const char *env[] = {"GREETING=hello there", NULL};
	struct sbc_bash b = {
		.command = "echo \"$GREETING\"; read x; echo \"in:$x\"; "
			   "pwd; echo oops >&2; exit 3",
		.stdin_data = "piped\n",
		.env = env,
	};
	struct sbc_exec_result r;
	struct sbc_error err = {0};
	int rc = sbc_bash(c, slot, &b, &r, &err);
	ok(rc == 0, "bash runs (%s)", rc ? err.message : "");
	if (rc)
		return;
	ok(!r.success && r.returncode == 3 &&
		   strcmp(r.error_class, "task") == 0,
	   "exit 3 -> success false, returncode 3, task (%d %s)", r.returncode,
	   r.error_class);
	ok(strcmp(r.out, "hello there\nin:piped\n/workspace\n") == 0,
	   "stdout carries env, stdin and cwd: %s", r.out);
	ok(strcmp(r.err, "oops\n") == 0, "stderr apart");
	sbc_exec_result_free(&r);

	struct sbc_bash slow = {.command = "sleep 30", .timeout_s = 0.5};
	rc = sbc_bash(c, slot, &slow, &r, &err);
	ok(rc == 0 && r.timed_out && strcmp(r.error_class, "timeout") == 0,
	   "timeout reported");
	sbc_exec_result_free(&r);

	const char *bad_env[] = {"NOEQUALS", NULL};
	struct sbc_bash be = {.command = "true", .env = bad_env};
	ok(sbc_bash(c, slot, &be, &r, &err) < 0 &&
		   strcmp(err.code, "bad_argument") == 0,
	   "env without = -> bad_argument");
}

/* A second process waits until the named call runs, then cancels it
 * through a connection of its own: 0 when the cancel was taken. */
static int cancel_from_child(const char *socket, const char *id)
{
	struct sbc_options opt = {.socket_path = socket};
	struct sbc_error err = {0};
	struct sbc *c = sbc_open(&opt, &err);
	char path[128];
	snprintf(path, sizeof path, "/v1/executions/%s", id);
	for (int i = 0; c && i < 3000; i++) {
		json_t *o = NULL;
		if (sbc_request_json(c, "GET", path, NULL, &o, &err) == 0) {
			json_decref(o);
			int rc = sbc_cancel(c, id, &err);
			sbc_close(c);
			return rc == 0 ? 0 : 1;
		}
		nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
	}
	sbc_close(c);
	return 1;
}

static void check_exec_v11(struct sbc *c, const char *socket, const char *slot)
{
	struct sbc_exec_result r;
	struct sbc_error err = {0};
	struct sbc_bash m = {.command = "echo a; echo b >&2; echo c",
			     .merge_output = true,
			     .execution_id = "cc-merge"};
	int rc = sbc_bash(c, slot, &m, &r, &err);
	ok(rc == 0 && strcmp(r.out, "a\nb\nc\n") == 0 && r.err_len == 0 &&
		   strcmp(r.execution_id, "cc-merge") == 0,
	   "merge_output: one stream in write order, the chosen id");
	sbc_exec_result_free(&r);

	ok(sbc_cancel(c, "cc-no-such-call", &err) < 0 &&
		   strcmp(err.code, "not_found") == 0 && err.http_status == 404,
	   "cancel of an id that does not run -> not_found 404");
	ok(sbc_cancel(c, "", &err) < 0 && strcmp(err.code, "bad_argument") == 0,
	   "empty execution id -> bad_argument");

	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(cancel_from_child(socket, "cc-cancel"));
	struct sbc_bash s = {.command = "sleep 30",
			     .execution_id = "cc-cancel"};
	rc = sbc_bash(c, slot, &s, &r, &err);
	int st = -1;
	if (pid > 0)
		waitpid(pid, &st, 0);
	ok(pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "sbc_cancel from another connection is taken");
	ok(rc == 0 && !r.success && strcmp(r.error_class, "cancelled") == 0,
	   "the cancelled call answers error_class cancelled (%s)",
	   rc ? err.message : r.error_class);
	sbc_exec_result_free(&r);
}

static void check_files(struct sbc *c, const char *slot)
{
	char bytes[256];
	for (int i = 0; i < 256; i++)
		bytes[i] = (char)i;
	const char *name = "dir with space/a?b#c.bin";
	struct sbc_error err = {0};
	int rc = sbc_write_file(c, slot, name, bytes, sizeof bytes, &err);
	ok(rc == 0, "write 256 binary bytes to an odd name (%s)",
	   rc ? err.message : "");
	char *data = NULL;
	size_t len = 0;
	bool trunc = true;
	rc = sbc_read_file(c, slot, name, 0, &data, &len, &trunc, &err);
	ok(rc == 0 && len == 256 && !trunc && memcmp(data, bytes, 256) == 0,
	   "read back byte for byte");
	free(data);
	rc = sbc_read_file(c, slot, name, 10, &data, &len, &trunc, &err);
	ok(rc == 0 && len == 10 && trunc, "max_bytes truncates and says so");
	free(data);
	rc = sbc_read_file(c, slot, "../../etc/passwd", 0, &data, &len, &trunc,
			   &err);
	ok(rc < 0 && err.http_status == 403, "escaping path -> 403 (%s)",
	   err.code);
	rc = sbc_read_file(c, slot, "missing", 0, &data, &len, &trunc, &err);
	ok(rc < 0 && err.http_status == 404, "missing file -> 404 (%s)",
	   err.code);

	char tmpl[] = "/tmp/client_check.XXXXXX";
	int fd = mkstemp(tmpl);
	char *id = sbc_path_escape(slot), *url = NULL;
	if (asprintf(&url, "/v1/slots/%s/archive?format=tar", id) < 0)
		url = NULL;
	rc = fd >= 0 && url ? sbc_request_to_fd(c, "GET", url, fd, &err) : -1;
	char magic[6] = "";
	ok(rc == 0 && pread(fd, magic, 5, 257) == 5 &&
		   strcmp(magic, "ustar") == 0,
	   "archive streams a tar to an fd");
	free(url);
	free(id);
	if (fd >= 0) {
		close(fd);
		unlink(tmpl);
	}
}

static void check_keep_alive(struct sbc *c, const char *slot)
{
	int good = 0;
	for (int i = 0; i < 50; i++) {
		struct sbc_bash b = {.command = "echo $((6*7))"};
		struct sbc_exec_result r;
		struct sbc_error err = {0};
		if (sbc_bash(c, slot, &b, &r, &err) == 0 &&
		    strcmp(r.out, "42\n") == 0)
			good++;
		sbc_exec_result_free(&r);
	}
	ok(good == 50, "50 calls on one connection (%d good)", good);
}

/* The port proxy: a server started in the slot, reached through the
 * daemon at the path sbc_slot_port_path gives. */
static void check_ports(struct sbc *c, const char *slot)
{
	struct sbc_bash b = {
		.command =
			"mkdir -p site && echo port-ok > site/p.txt && cd site "
			"&& setsid nohup python3 -m http.server 8123 --bind "
			"127.0.0.1 >/dev/null 2>&1 </dev/null & for i in "
			"$(seq 100); do python3 -c 'import socket; "
			"socket.create_connection((\"127.0.0.1\", 8123))' "
			"2>/dev/null && exit 0; sleep 0.05; done; exit 1",
	};
	struct sbc_exec_result r;
	struct sbc_error err = {0};
	int rc = sbc_bash(c, slot, &b, &r, &err);
	ok(rc == 0 && r.success, "a server starts in the slot");
	if (rc == 0)
		sbc_exec_result_free(&r);
	char *path = sbc_slot_port_path(slot, 8123, "/p.txt", &err);
	struct sbc_response resp = {0};
	rc = path ? sbc_request(c, "GET", path, NULL, 0, NULL, &resp, &err)
		  : -1;
	ok(rc == 0 && resp.status == 200 && strcmp(resp.body, "port-ok\n") == 0,
	   "GET through the port proxy (%d)", resp.status);
	sbc_response_free(&resp);
	free(path);
	char *url = sbc_slot_port_url(c, slot, 8123, "?x=1", &err);
	ok(url && strncmp(url, "http://localhost/v1/slots/", 26) == 0 &&
		   strstr(url, "/ports/8123/?x=1"),
	   "port URL on the socket: %s", url ? url : err.message);
	free(url);
	ok(!sbc_slot_port_path(slot, 0, NULL, &err) &&
		   strcmp(err.code, "bad_argument") == 0,
	   "port 0 -> bad_argument");
	ok(!sbc_slot_port_path(slot, 65536, NULL, &err) &&
		   strcmp(err.code, "bad_argument") == 0,
	   "port 65536 -> bad_argument");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: client_check SOCKET\n");
		return 2;
	}
	struct sbc_options opt = {.socket_path = argv[1]};
	struct sbc_error err = {0};
	struct sbc *c = sbc_open(&opt, &err);
	if (!c) {
		printf("Bail out! %s\n", err.message);
		return 1;
	}
	json_t *status = NULL;
	ok(sbc_status(c, &status, &err) == 0 &&
		   json_object_get(status, "pools"),
	   "status has pools");
	json_decref(status);
	check_errors(c);
	struct sbc_slot s;
	int rc = sbc_acquire(c, NULL, "traj-c", 30, 60, &s, &err);
	ok(rc == 0 && s.slot_id && strcmp(s.state, "acquired") == 0 &&
		   strcmp(s.trajectory_id, "traj-c") == 0,
	   "acquire gives a slot (%s)",
	   rc || !s.slot_id ? err.message : s.slot_id);
	if (rc == 0) {
		check_exec(c, s.slot_id);
		check_exec_v11(c, argv[1], s.slot_id);
		check_files(c, s.slot_id);
		check_keep_alive(c, s.slot_id);
		check_ports(c, s.slot_id);
		ok(sbc_renew(c, s.slot_id, 120, &err) == 0, "renew");
		ok(sbc_release(c, s.slot_id, true, &err) == 0, "release");
		rc = sbc_release(c, s.slot_id, true, &err);
		ok(rc < 0 && strcmp(err.code, "slot_not_leased") == 0 &&
			   err.http_status == 409,
		   "second release -> slot_not_leased 409");
		rc = sbc_renew(c, s.slot_id, -1, &err);
		ok(rc < 0 && strcmp(err.code, "slot_not_leased") == 0,
		   "renew of an ended lease -> slot_not_leased");
		sbc_slot_free(&s);
	}
	sbc_close(c);
	return tap_done();
}
