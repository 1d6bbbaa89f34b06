/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the HTTP server's pacing of closes (http.c,
 * HTTP_CLOSE_BURST): a real server on a unix socket in a real libuv loop,
 * driven one loop turn at a time. When many clients leave at once, no
 * turn lets go of more than HTTP_CLOSE_BURST connections, every one is
 * let go of in the end, and a server closed while some wait their turn
 * frees them all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "http/http_internal.h"

#define N_CLIENTS 300
/* A hang guard, not a timing: the loop is turned until this passes. */
#define GIVE_UP_S 20.0

struct world {
	uv_loop_t loop;
	struct http_server *srv;
	char dir[64];
	char path[128];
	int fds[N_CLIENTS];
	bool done;
};

/* The clients here send nothing; any request gets a 404. */
static void no_requests(struct http_request *req, void *ud)
{
	(void)ud;
	http_respond_error(req, 404, "not_found", "nothing here");
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof *w);
	struct http_server_opts o;
	struct sb_err err;
	assert_non_null(w);
	snprintf(w->dir, sizeof w->dir, "/tmp/sb-close-pace-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(w->path, sizeof w->path, "%s/http.sock", w->dir);
	assert_int_equal(uv_loop_init(&w->loop), 0);
	http_server_opts_default(&o);
	assert_int_equal(
		http_server_new(&w->loop, &o, no_requests, NULL, &w->srv, &err),
		0);
	assert_int_equal(http_server_listen_unix(w->srv, w->path, 0600, &err),
			 0);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	unlink(w->path);
	rmdir(w->dir);
	free(w);
	return 0;
}

/* Connect N_CLIENTS and turn the loop until the server holds them all
 * (it accepts HTTP_ACCEPT_BURST a turn). */
static void connect_all(struct world *w)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", w->path);
	for (int i = 0; i < N_CLIENTS; i++) {
		w->fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(w->fds[i] >= 0);
		/* the backlog is small next to N_CLIENTS: let the server
		 * take some between connects */
		while (connect(w->fds[i], (struct sockaddr *)&a, sizeof a) <
		       0) {
			assert_true(errno == EAGAIN);
			uv_run(&w->loop, UV_RUN_NOWAIT);
		}
	}
	double give_up = now_s() + GIVE_UP_S;
	while (w->srv->n_conns < N_CLIENTS && now_s() < give_up)
		uv_run(&w->loop, UV_RUN_NOWAIT);
	assert_int_equal(w->srv->n_conns, N_CLIENTS);
}

static void close_all_clients(struct world *w)
{
	for (int i = 0; i < N_CLIENTS; i++)
		assert_int_equal(close(w->fds[i]), 0);
}

static void test_at_most_a_burst_a_turn(void **state)
{
	struct world *w = *state;
	connect_all(w);
	close_all_clients(w);
	size_t most = 0, turns = 0;
	bool queued = false;
	double give_up = now_s() + GIVE_UP_S;
	while (w->srv->n_conns > 0 && now_s() < give_up) {
		size_t before = w->srv->n_conns;
		uv_run(&w->loop, UV_RUN_NOWAIT);
		size_t gone = before - w->srv->n_conns;
		most = gone > most ? gone : most;
		queued |= w->srv->close_head != NULL;
		turns++;
	}
	assert_int_equal(w->srv->n_conns, 0);
	assert_true(most <= HTTP_CLOSE_BURST);
	assert_true(queued); /* the burst was reached: some waited */
	assert_true(turns >= N_CLIENTS / HTTP_CLOSE_BURST);
	print_message("# %d clients let go of in %zu turns, at most %zu a "
		      "turn\n",
		      N_CLIENTS, turns, most);
}

static void server_done(void *ud)
{
	struct world *w = ud;
	w->done = true;
}

static void test_close_with_closes_waiting(void **state)
{
	struct world *w = *state;
	connect_all(w);
	close_all_clients(w);
	double give_up = now_s() + GIVE_UP_S;
	while (!w->srv->close_head && now_s() < give_up)
		uv_run(&w->loop, UV_RUN_NOWAIT);
	assert_non_null(w->srv->close_head);
	http_server_close(w->srv, server_done, w);
	while (!w->done && now_s() < give_up)
		uv_run(&w->loop, UV_RUN_NOWAIT);
	assert_true(w->done);
	/* nothing of the server is left in the loop (ASan: nor in memory) */
	assert_int_equal(uv_loop_close(&w->loop), 0);
}

static void test_a_close_or_two_is_not_queued(void **state)
{
	struct world *w = *state;
	connect_all(w);
	/* one client leaves: let go of in the turn that reads its EOF */
	assert_int_equal(close(w->fds[0]), 0);
	double give_up = now_s() + GIVE_UP_S;
	while (w->srv->n_conns == N_CLIENTS && now_s() < give_up) {
		uv_run(&w->loop, UV_RUN_NOWAIT);
		assert_null(w->srv->close_head);
	}
	assert_int_equal(w->srv->n_conns, N_CLIENTS - 1);
	for (int i = 1; i < N_CLIENTS; i++)
		assert_int_equal(close(w->fds[i]), 0);
	while (w->srv->n_conns > 0 && now_s() < give_up)
		uv_run(&w->loop, UV_RUN_NOWAIT);
	assert_int_equal(w->srv->n_conns, 0);
}

static int teardown_loop(void **state)
{
	struct world *w = *state;
	if (!w->done) {
		http_server_close(w->srv, server_done, w);
		double give_up = now_s() + GIVE_UP_S;
		while (!w->done && now_s() < give_up)
			uv_run(&w->loop, UV_RUN_NOWAIT);
		assert_true(w->done);
		assert_int_equal(uv_loop_close(&w->loop), 0);
	}
	return teardown(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_at_most_a_burst_a_turn,
						setup, teardown_loop),
		cmocka_unit_test_setup_teardown(test_close_with_closes_waiting,
						setup, teardown_loop),
		cmocka_unit_test_setup_teardown(
			test_a_close_or_two_is_not_queued, setup,
			teardown_loop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
