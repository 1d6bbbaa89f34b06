/* SPDX-License-Identifier: Apache-2.0 */
/* cluster_check.c - drives several live slotboxd nodes through libslotbox's
 * struct sbcc (slotbox_cluster.h); tests/e2e/test_multinode.py starts the
 * nodes and runs it.
 *
 *   cluster_check routes URLS TOKEN       routing checks, TAP
 *   cluster_check name NAME_URL COUNT TOKEN   a name for COUNT nodes, TAP
 *   cluster_check run URLS TOKEN N THREADS THINK_MS
 *   cluster_check vanish URLS TOKEN       the first node's host vanishes
 *                                         (after "started", on a line
 *                                         from stdin), TAP
 *
 * `run` runs N trajectories (acquire, write a file with bash, think, read
 * it back, release) on THREADS threads sharing one struct sbcc, and prints
 * one line per event, flushed, with CLOCK_MONOTONIC seconds:
 *   acq I T NODE        a lease granted (T: when it was asked for)
 *   end I T NODE WHAT   ok, or the error code that ended it
 * A trajectory whose slot is lost (sandbox_lost) is run again, as a
 * trainer would; any other failure is reported and makes the exit 1. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/slotbox_cluster.h"
#include "tap.h"

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct sbcc *open_cluster(const char *urls, const char *token)
{
	struct sbcc_options o = {.endpoints = urls,
				 .token = token,
				 .connect_timeout_s = 2,
				 .io_timeout_s = 120};
	struct sbc_error err = {0};
	struct sbcc *cc = sbcc_open(&o, &err);
	if (!cc)
		printf("Bail out! %s: %s\n", err.code, err.message);
	return cc;
}

/* Run bash in the slot; its stdout (owned) or NULL. */
static char *run_bash(struct sbcc *cc, const char *slot, const char *cmd,
		      struct sbc_error *err)
{
	struct sbc_exec_result r;
	struct sbc_bash b = {.command = cmd};
	if (sbcc_bash(cc, slot, &b, &r, err) < 0)
		return NULL;
	char *out = r.success ? strdup(r.out) : NULL;
	if (!r.success)
		snprintf(err->code, sizeof err->code, "exit_%d", r.returncode);
	sbc_exec_result_free(&r);
	return out;
}

static bool output_is(struct sbcc *cc, const char *slot, const char *cmd,
		      const char *want)
{
	struct sbc_error err = {0};
	char *got = run_bash(cc, slot, cmd, &err);
	bool same = got && strcmp(got, want) == 0;
	if (!same)
		printf("# %s: got %s (%s)\n", cmd, got ? got : "nothing",
		       err.message);
	free(got);
	return same;
}

static long long leased(struct sbcc *cc)
{
	json_t *st = NULL;
	if (sbcc_status(cc, &st, NULL) < 0)
		return -1;
	long long n = json_integer_value(json_object_get(
		json_object_get(json_object_get(st, "pools"), "default"),
		"leased_slots"));
	json_decref(st);
	return n;
}

static void check_forks_and_snapshots(struct sbcc *cc, const char *urls,
				      const char *token, struct sbc_slot *s)
{
	struct sbc_error err = {0};
	struct sbc_slot *kids = NULL;
	int rc = sbcc_fork(cc, s[0].slot_id, 2, NULL, 0, &kids, &err);
	ok(rc == 0 && strcmp(kids[0].endpoint, s[0].endpoint) == 0 &&
		   strcmp(kids[1].endpoint, s[0].endpoint) == 0,
	   "fork: the children live on the source's node (%s)", err.message);
	if (rc == 0) {
		ok(output_is(cc, kids[1].slot_id, "cat n.txt", "0\n"),
		   "a child has the source's files");
		for (int i = 0; i < 2; i++)
			sbcc_release(cc, kids[i].slot_id, true, NULL);
		sbc_slots_free(kids, 2);
	}
	rc = sbcc_snapshot(cc, s[1].slot_id, "cc-snap", NULL, &err);
	ok(rc == 0, "snapshot (%s)", err.message);
	struct sbcc *fresh = open_cluster(urls, token);
	struct sbc_slot r;
	rc = fresh ? sbcc_acquire_snapshot(fresh, "cc-snap", "from-snap", 30,
					   60, &r, &err)
		   : -1;
	ok(rc == 0 && strcmp(r.endpoint, s[1].endpoint) == 0,
	   "a client that never saw the snapshot finds its node (%s)",
	   err.message);
	if (rc == 0) {
		ok(output_is(fresh, r.slot_id, "cat n.txt", "1\n"),
		   "the restored slot has the snapshot's files");
		sbcc_release(fresh, r.slot_id, true, NULL);
		sbc_slot_free(&r);
	}
	ok(sbcc_delete_snapshot(cc, "cc-snap", &err) == 0, "delete snapshot");
	rc = sbcc_acquire_snapshot(cc, "cc-snap", NULL, 5, 0, &r, &err);
	ok(rc < 0 && strcmp(err.code, "snapshot_not_found") == 0 &&
		   err.http_status == 404,
	   "a deleted snapshot: snapshot_not_found (%s)", err.code);
	sbcc_close(fresh);
}

/* sbcc_call's fn: the raw GET /v1/slots/{id}, its state into arg. */
static int slot_state(struct sbc *conn, void *arg, struct sbc_error *err)
{
	char **io = arg, *path = NULL;
	char *id = sbc_path_escape(io[0]);
	if (!id || asprintf(&path, "/v1/slots/%s", id) < 0)
		path = NULL;
	free(id);
	json_t *doc = NULL;
	int rc = path ? sbc_request_json(conn, "GET", path, NULL, &doc, err)
		      : -1;
	free(path);
	const char *state = json_string_value(json_object_get(doc, "state"));
	io[1] = state ? strdup(state) : NULL;
	json_decref(doc);
	return rc;
}

static int routes(const char *urls, const char *token)
{
	struct sbcc *cc = open_cluster(urls, token);
	if (!cc)
		return 1;
	size_t nodes = sbcc_nodes(cc, NULL, 0);
	ok(nodes == 3, "three nodes listed (%zu)", nodes);
	struct sbc_slot s[3];
	struct sbc_error err = {0};
	int got = 0;
	for (; got < 3; got++) {
		char tid[16];
		snprintf(tid, sizeof tid, "c-route-%d", got);
		if (sbcc_acquire(cc, NULL, tid, 30, 120, &s[got], &err) < 0)
			break;
	}
	ok(got == 3, "three acquires (%s)", err.message);
	if (got < 3)
		return 1;
	ok(strcmp(s[0].endpoint, s[1].endpoint) != 0 &&
		   strcmp(s[1].endpoint, s[2].endpoint) != 0 &&
		   strcmp(s[0].endpoint, s[2].endpoint) != 0,
	   "one lease per idle node: %s %s %s", s[0].endpoint, s[1].endpoint,
	   s[2].endpoint);
	ok(strncmp(s[0].slot_id, "default-", 8) == 0,
	   "the server's slot ids, untouched (%s)", s[0].slot_id);
	bool wrote = true;
	for (int i = 0; i < 3; i++) {
		char data[8];
		int len = snprintf(data, sizeof data, "%d\n", i);
		wrote &= sbcc_write_file(cc, s[i].slot_id, "n.txt", data,
					 (size_t)len, &err) == 0;
	}
	ok(wrote, "a file written in each slot (%s)", err.message);
	ok(output_is(cc, s[0].slot_id, "cat n.txt", "0\n") &&
		   output_is(cc, s[1].slot_id, "cat n.txt", "1\n") &&
		   output_is(cc, s[2].slot_id, "cat n.txt", "2\n"),
	   "each call reaches its slot's node");
	char *io[2] = {s[1].slot_id, NULL};
	int rc = sbcc_call(cc, s[1].slot_id, slot_state, io, &err);
	ok(rc == 0 && io[1] && strcmp(io[1], "acquired") == 0,
	   "sbcc_call runs any call on the slot's node (%s)", err.message);
	free(io[1]);
	struct sbcc *other = open_cluster(urls, token);
	char *data = NULL;
	size_t len = 0;
	rc = other ? sbcc_read_file(other, s[2].slot_id, "n.txt", 0, &data,
				    &len, NULL, &err)
		   : -1;
	ok(rc == 0 && len == 2 && memcmp(data, "2\n", 2) == 0,
	   "a client that never saw the slot finds its node (%s)", err.message);
	free(data);
	struct sbc_exec_result r;
	rc = sbcc_bash(other, "default-00000000_slot_0.1",
		       &(struct sbc_bash){.command = "true"}, &r, &err);
	ok(rc < 0 && strcmp(err.code, "slot_not_leased") == 0,
	   "a slot no node knows: slot_not_leased (%s)", err.code);
	sbcc_close(other);
	ok(leased(cc) == 3, "status sums the nodes' leased slots");
	check_forks_and_snapshots(cc, urls, token, s);
	for (int i = 0; i < 3; i++) {
		ok(sbcc_release(cc, s[i].slot_id, true, &err) == 0,
		   "release %d (%s)", i, err.message);
		sbc_slot_free(&s[i]);
	}
	ok(leased(cc) == 0, "no lease left");
	rc = sbcc_renew(cc, "", 1, &err);
	ok(rc < 0 && strcmp(err.code, "bad_argument") == 0, "empty slot id");
	sbcc_close(cc);
	struct sbcc_options bad = {.endpoints = "http://10.0.0.1:1,ftp://x:2"};
	ok(!sbcc_open(&bad, &err) && strcmp(err.code, "bad_argument") == 0,
	   "a bad endpoint in the list: bad_argument (%s)", err.message);
	bad.endpoints = " , ";
	ok(!sbcc_open(&bad, &err) && strcmp(err.code, "bad_argument") == 0,
	   "no endpoint: bad_argument");
	return tap_done();
}

/* NAME_URL stands for COUNT nodes: acquires spread over all of them. */
static int name(const char *url, int count, const char *token)
{
	struct sbcc *cc = open_cluster(url, token);
	if (!cc)
		return 1;
	const char *urls[16];
	size_t n = sbcc_nodes(cc, urls, 16);
	ok((int)n == count, "%s stands for %d nodes (%zu)", url, count, n);
	for (size_t i = 0; i < n && i < 16; i++)
		printf("# node %s\n", urls[i]);
	struct sbc_slot s[16];
	struct sbc_error err = {0};
	int got = 0;
	for (; got < count && got < 16; got++)
		if (sbcc_acquire(cc, NULL, NULL, 30, 60, &s[got], &err) < 0)
			break;
	ok(got == count, "one acquire per node (%s)", err.message);
	int distinct = 0;
	for (int i = 0; i < got; i++) {
		bool seen = false;
		for (int j = 0; j < i; j++)
			seen |= strcmp(s[i].endpoint, s[j].endpoint) == 0;
		distinct += !seen;
	}
	ok(distinct == count, "each on its own node (%d)", distinct);
	for (int i = 0; i < got; i++) {
		sbcc_release(cc, s[i].slot_id, true, NULL);
		sbc_slot_free(&s[i]);
	}
	sbcc_close(cc);
	return tap_done();
}

/* ---- vanish: a host that goes away without a word ---------------------- */

struct long_call {
	struct sbcc *cc;
	const char *slot;
	double seconds;
	struct sbc_error err;
	int rc;
};

static void *sleep_in_slot(void *arg)
{
	struct long_call *k = arg;
	struct sbc_exec_result r;
	struct sbc_bash b = {.command = "sleep 60"};
	double t0 = mono();
	k->rc = sbcc_bash(k->cc, k->slot, &b, &r, &k->err);
	k->seconds = mono() - t0;
	sbc_exec_result_free(&r);
	return NULL;
}

static int vanish(const char *urls, const char *token)
{
	struct sbcc *cc = open_cluster(urls, token);
	if (!cc)
		return 1;
	size_t first_len = strcspn(urls, ",");
	struct sbc_slot s[3];
	struct sbc_error err = {0};
	int got = 0, victim = -1;
	for (; got < 3; got++) {
		if (sbcc_acquire(cc, NULL, NULL, 30, 300, &s[got], &err) < 0)
			break;
		if (strlen(s[got].endpoint) == first_len &&
		    strncmp(s[got].endpoint, urls, first_len) == 0)
			victim = got;
	}
	ok(got == 3 && victim >= 0, "a slot on each node (%s)", err.message);
	if (got < 3 || victim < 0)
		return tap_done();
	struct long_call k = {.cc = cc, .slot = s[victim].slot_id};
	pthread_t t;
	if (pthread_create(&t, NULL, sleep_in_slot, &k) != 0)
		return 1;
	printf("started\n");
	fflush(stdout);
	char line[16];
	if (!fgets(line, sizeof line, stdin))
		return 1;
	pthread_join(t, NULL);
	ok(k.rc < 0 && strcmp(k.err.code, "sandbox_lost") == 0,
	   "the call in flight on the vanished host: sandbox_lost (%s: %s)",
	   k.err.code, k.err.message);
	ok(k.seconds < 50,
	   "noticed after %.1f s, not when the command would "
	   "have ended (60 s)",
	   k.seconds);
	for (int i = 0; i < 3; i++)
		if (i != victim)
			ok(output_is(cc, s[i].slot_id, "echo on", "on\n"),
			   "the other nodes' slots still work");
	double t0 = mono();
	struct sbc_exec_result r;
	int rc = sbcc_bash(cc, s[victim].slot_id,
			   &(struct sbc_bash){.command = "true"}, &r, &err);
	ok(rc < 0 && strcmp(err.code, "sandbox_lost") == 0,
	   "a new call on the vanished node's slot: sandbox_lost after %.1f "
	   "s (%s)",
	   mono() - t0, err.message);
	for (int i = 0; i < 2; i++) {
		struct sbc_slot n;
		rc = sbcc_acquire(cc, NULL, NULL, 30, 60, &n, &err);
		ok(rc == 0 && strncmp(n.endpoint, urls, first_len) != 0,
		   "a new acquire goes elsewhere (%s)",
		   rc ? err.message : n.endpoint);
		if (rc == 0) {
			sbcc_release(cc, n.slot_id, true, NULL);
			sbc_slot_free(&n);
		}
	}
	for (int i = 0; i < 3; i++) {
		if (i != victim)
			sbcc_release(cc, s[i].slot_id, true, NULL);
		sbc_slot_free(&s[i]);
	}
	sbcc_close(cc);
	return tap_done();
}

/* ---- run: many trajectories, events on stdout ------------------------- */

struct run {
	struct sbcc *cc; /* shared by every thread */
	int n, think_ms;
	pthread_mutex_t lock;
	int next, done, failed;
	int *redo; /* trajectories to run again (their slot was lost) */
	int n_redo;
};

static void event(struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void event(struct run *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&r->lock);
	vprintf(fmt, ap);
	fflush(stdout);
	pthread_mutex_unlock(&r->lock);
	va_end(ap);
}

/* One trajectory: NULL when it completed, else the error code (static). */
static const char *trajectory(struct run *r, struct sbcc *cc, int i,
			      struct sbc_error *err)
{
	char tid[32], cmd[64], want[16];
	snprintf(tid, sizeof tid, "traj-%d", i);
	struct sbc_slot s;
	double asked = mono();
	if (sbcc_acquire(cc, NULL, tid, 60, 120, &s, err) < 0)
		return err->code;
	event(r, "acq %d %.6f %s\n", i, asked, s.endpoint);
	snprintf(cmd, sizeof cmd, "echo %d > out.txt", i);
	snprintf(want, sizeof want, "%d\n", i);
	char *out = run_bash(cc, s.slot_id, cmd, err);
	if (out) {
		free(out);
		usleep((useconds_t)r->think_ms * 1000);
		out = run_bash(cc, s.slot_id, "cat out.txt", err);
	}
	if (out && strcmp(out, want) != 0)
		snprintf(err->code, sizeof err->code, "wrong_output");
	bool good = out && strcmp(out, want) == 0;
	free(out);
	struct sbc_error rel = {0};
	if (sbcc_release(cc, s.slot_id, true, &rel) < 0 && good) {
		*err = rel;
		good = false;
	}
	event(r, "end %d %.6f %s %s\n", i, mono(), s.endpoint,
	      good ? "ok" : err->code);
	sbc_slot_free(&s);
	return good ? NULL : err->code;
}

static int take(struct run *r)
{
	pthread_mutex_lock(&r->lock);
	int i = -1;
	if (r->n_redo)
		i = r->redo[--r->n_redo];
	else if (r->next < r->n)
		i = r->next++;
	pthread_mutex_unlock(&r->lock);
	return i;
}

static void *worker(void *arg)
{
	struct run *r = arg;
	for (;;) {
		int i = take(r);
		if (i < 0) {
			/* others may still hand back a lost trajectory */
			pthread_mutex_lock(&r->lock);
			bool over = r->done + r->failed >= r->n;
			pthread_mutex_unlock(&r->lock);
			if (over)
				break;
			usleep(10000);
			continue;
		}
		struct sbc_error err = {0};
		const char *code = trajectory(r, r->cc, i, &err);
		pthread_mutex_lock(&r->lock);
		if (!code)
			r->done++;
		else if (strcmp(code, "sandbox_lost") == 0)
			r->redo[r->n_redo++] = i;
		else
			r->failed++;
		pthread_mutex_unlock(&r->lock);
		if (code && strcmp(code, "sandbox_lost") != 0)
			event(r, "fail %d %s %s\n", i, code, err.message);
	}
	return NULL;
}

static int run(const char *urls, const char *token, int n, int threads,
	       int think_ms)
{
	struct run r = {
		.cc = open_cluster(urls, token), .n = n, .think_ms = think_ms};
	if (!r.cc)
		return 1;
	pthread_mutex_init(&r.lock, NULL);
	r.redo = calloc((size_t)n, sizeof *r.redo);
	pthread_t *t = calloc((size_t)threads, sizeof *t);
	if (!r.redo || !t) {
		free(r.redo);
		free(t);
		sbcc_close(r.cc);
		return 1;
	}
	int started = 0;
	for (; started < threads; started++)
		if (pthread_create(&t[started], NULL, worker, &r) != 0)
			break;
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	printf("summary done=%d failed=%d\n", r.done, r.failed);
	sbcc_close(r.cc);
	free(r.redo);
	free(t);
	return r.done == n && r.failed == 0 ? 0 : 1;
}

/* A count from the command line; -1 unless a plain non-negative int. */
static int count_arg(const char *s)
{
	char *end = NULL;
	long v = strtol(s, &end, 10);
	return *s && !*end && v >= 0 && v <= 1000000 ? (int)v : -1;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "routes") == 0)
		return routes(argv[2], argv[3]);
	if (argc == 5 && strcmp(argv[1], "name") == 0)
		return name(argv[2], count_arg(argv[3]), argv[4]);
	if (argc == 4 && strcmp(argv[1], "vanish") == 0)
		return vanish(argv[2], argv[3]);
	if (argc == 7 && strcmp(argv[1], "run") == 0)
		return run(argv[2], argv[3], count_arg(argv[4]),
			   count_arg(argv[5]), count_arg(argv[6]));
	fprintf(stderr, "usage: cluster_check routes URLS TOKEN\n"
			"       cluster_check name NAME_URL COUNT TOKEN\n"
			"       cluster_check run URLS TOKEN N THREADS "
			"THINK_MS\n"
			"       cluster_check vanish URLS TOKEN\n");
	return 2;
}
