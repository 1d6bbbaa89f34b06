/* SPDX-License-Identifier: Apache-2.0 */
/* slotbench.c - the C side of bench/run: slotbox through libslotbox, and the
 * host baselines measured in the same process.
 *
 * Every subcommand prints CSV rows on stdout,
 *     system,scenario,n,p50_us,p99_us,ops_per_s,notes
 * and, with --samples FILE, appends each timed call to FILE as
 *     system,scenario,microseconds
 * so that bench/run can plot the distributions.
 *
 *   slotbench exec   --socket S --slot ID [--slot ID...] -n N --cmd C
 *                    [--bare PATH] [--label L] [--think-ms T]
 *       host posix_spawn of /bin/bash -c C (the limit), optionally PATH with
 *       no shell, and slotbox exec of the same command, interleaved in
 *       rounds so that drift on a noisy machine hits all alike; with
 *       --think-ms each timed call follows T ms of idle time, as an agent's
 *       calls follow model turns.
 *       With --url http://HOST:PORT --token T instead of --socket, the
 *       same over TCP (loopback): "slotbox (C client, TCP)". With
 *       --system NAME -- ARGV, a peer client (below, batch) takes the
 *       same turns, its calls one at a time.
 *   slotbench acqrel --socket S --profile P -n N
 *       acquire + release of a warm slot (reset=false and reset=true) and
 *       the transport floor: two GET /v1/health on the same connection.
 *   slotbench batch  --socket S --slot ID... -n CALLS --cmd C --label L
 *                    [--rounds R] [--ways lte] [--no-warm]
 *       CALLS calls spread over the slots: one thread and one connection
 *       per slot, and POST /v1/exec batches of one call per slot; and the
 *       limit: 2 threads doing posix_spawn of the same command. The three
 *       take turns in R rounds; --ways runs only some of them (l: limit,
 *       t: threads, e: POST /v1/exec), or adds c: the host's posix_spawn
 *       from as many threads as slots (what that concurrency costs), or
 *       p: a peer client, ARGV after -- (named by --system), in the same
 *       turns: it is started once, gets "M\n" on stdin for each round,
 *       makes M calls and answers with one line of its requests'
 *       latencies in µs ("0" on stdin: exit). Every slot gets one call
 *       before the rounds, unless --no-warm (the caller warmed them and
 *       counts only the rounds: bench/batch_cpu.py). Each row's
 * notes give the machine's CPU per call while it ran (/proc/stat). slotbench
 * cold   --socket S --profile P -n N N acquires, each of which has to start a
 * new sandbox (the profile has one slot per sandbox and min_sandboxes 0);
 * leases are held until the end, then released. slotbench reset  --socket S
 * --profile P -n N --files F a slot holding F files: release(reset=true), then
 * the next acquire + first exec; baseline: rm -rf of F files on a host tmpfs.
 *   slotbench burst  --cmd C --parallel K -n ROUNDS --label L
 *       the host's floor for K calls at once: each round starts K
 *       posix_spawn of /bin/bash -c C, a thread each, and is timed until
 *       the last has exited.
 *   slotbench spawn  -n N --system S --label L [--expect OUT] -- ARGV...
 *       posix_spawn of ARGV with a pipe for stdout, read to EOF, waitpid:
 *       per-call peers (bwrap, unshare, crun exec, docker exec, ...).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchlib.h"
#include "client/slotbox.h"

extern char **environ;

#define MAX_SLOTS 4096
#define OUT_KEEP 256

/* ---- host spawn: the limit ---------------------------------------------- */

static int devnull = -1;

/* posix_spawnp argv with fds[i], where >= 0, as its descriptor i: the
 * error number, 0 when it started. */
static int spawn_on(pid_t *pid, char *const argv[], const int fds[3])
{
	posix_spawn_file_actions_t fa;
	int e = posix_spawn_file_actions_init(&fa);
	if (e)
		return e;
	for (int i = 0; i < 3 && !e; i++)
		if (fds[i] >= 0)
			e = posix_spawn_file_actions_adddup2(&fa, fds[i], i);
	if (!e)
		e = posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return e;
}

/* posix_spawn argv with stdout on a pipe and stderr on /dev/null, read the
 * pipe to EOF, wait. Keeps the first bytes of stdout in out (may be NULL).
 * Returns the exit status (0..255), or dies on a system error. */
static int host_run(char *const argv[], char *out, size_t outlen)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe2: %s", strerror(errno));
	pid_t pid;
	int e = spawn_on(&pid, argv, (const int[3]){-1, p[1], devnull});
	if (close(p[1]) < 0)
		die("close: %s", strerror(errno));
	if (e)
		die("posix_spawn %s: %s", argv[0], strerror(e));
	size_t have = 0;
	char buf[4096];
	for (;;) {
		ssize_t r = read(p[0], buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("read pipe: %s", strerror(errno));
		if (r == 0)
			break;
		if (out && have + 1 < outlen) {
			size_t k = (size_t)r;
			if (k > outlen - 1 - have)
				k = outlen - 1 - have;
			memcpy(out + have, buf, k);
			have += k;
		}
	}
	if (out && outlen)
		out[have] = '\0';
	if (close(p[0]) < 0)
		die("close: %s", strerror(errno));
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

static void host_run_ok(char *const argv[])
{
	int st = host_run(argv, NULL, 0);
	if (st != 0)
		die("%s exited with %d", argv[0], st);
}

/* ---- slotbox ------------------------------------------------------------ */

static const char *socket_path;
/* --url and --token: over TCP instead (exec only) */
static const char *tcp_url, *tcp_token;

static struct sbc *connect_or_die(void)
{
	struct sbc_options o = {.socket_path = tcp_url ? NULL : socket_path,
				.url = tcp_url,
				.token = tcp_token};
	struct sbc_error err = {0};
	struct sbc *c = sbc_open(&o, &err);
	if (!c)
		die("connect %s: %s", tcp_url ? tcp_url : socket_path,
		    err.message);
	return c;
}

/* One bash call in a slot; dies unless it ran and exited 0. Keeps stdout
 * in out (may be NULL). */
static void slot_bash(struct sbc *c, const char *slot, const char *cmd,
		      char *out, size_t outlen)
{
	struct sbc_bash b = {.command = cmd, .timeout_s = 60};
	struct sbc_exec_result r;
	struct sbc_error err = {0};
	if (sbc_bash(c, slot, &b, &r, &err) < 0)
		die("exec in %s: %s: %s", slot, err.code, err.message);
	if (!r.success)
		die("exec in %s: %s exited %d: %s", slot, cmd, r.returncode,
		    r.err);
	if (out && outlen)
		snprintf(out, outlen, "%s", r.out);
	sbc_exec_result_free(&r);
}

/* Lease ids are "<slot>.<lease number>": two leases of one slot differ only
 * after the last dot. */
static bool same_slot(const char *a, const char *b)
{
	const char *da = strrchr(a, '.'), *db = strrchr(b, '.');
	size_t la = da ? (size_t)(da - a) : strlen(a);
	size_t lb = db ? (size_t)(db - b) : strlen(b);
	return la == lb && memcmp(a, b, la) == 0;
}

static void acquire_or_die(struct sbc *c, const char *profile,
			   struct sbc_slot *s)
{
	struct sbc_error err = {0};
	if (sbc_acquire(c, profile, "slotbench", 120, 0, s, &err) < 0)
		die("acquire %s: %s: %s", profile ? profile : "(default)",
		    err.code, err.message);
}

static void release_or_die(struct sbc *c, const char *slot, bool reset)
{
	struct sbc_error err = {0};
	if (sbc_release(c, slot, reset, &err) < 0)
		die("release %s: %s: %s", slot, err.code, err.message);
}

/* ---- options ------------------------------------------------------------ */

struct opts {
	long n;
	const char *cmd, *label, *profile, *bare, *system, *expect;
	const char *slots[MAX_SLOTS];
	int n_slots;
	long files;
	int rounds;
	/* batch: l(imit), t(hreads), e(ndpoint), c (the host with as many
	 * threads as slots), p(eer client: argv, named by system) */
	const char *ways;
	bool no_warm;  /* batch: the caller warmed the slots (batch_cpu.py) */
	long think_us; /* exec: idle time before each timed call */
	int parallel;  /* burst: calls started at once */
	char **argv;   /* after -- (spawn) */
};

static void parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"socket", required_argument, NULL, 'S'},
		{"url", required_argument, NULL, 'U'},
		{"token", required_argument, NULL, 'T'},
		{"slot", required_argument, NULL, 's'},
		{"slots-file", required_argument, NULL, 'F'},
		{"profile", required_argument, NULL, 'p'},
		{"cmd", required_argument, NULL, 'c'},
		{"label", required_argument, NULL, 'l'},
		{"bare", required_argument, NULL, 'b'},
		{"system", required_argument, NULL, 'y'},
		{"expect", required_argument, NULL, 'e'},
		{"files", required_argument, NULL, 'f'},
		{"rounds", required_argument, NULL, 'r'},
		{"think-ms", required_argument, NULL, 't'},
		{"ways", required_argument, NULL, 'w'},
		{"parallel", required_argument, NULL, 'P'},
		{"samples", required_argument, NULL, 'o'},
		{"no-warm", no_argument, NULL, 'W'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	memset(o, 0, sizeof *o);
	o->n = 100;
	o->rounds = 10;
	o->files = 10000;
	while ((ch = getopt_long(argc, argv, "+n:", lo, NULL)) != -1) {
		switch (ch) {
		case 'n':
			o->n = strtol(optarg, NULL, 10);
			break;
		case 'S':
			socket_path = optarg;
			break;
		case 'U':
			tcp_url = optarg;
			break;
		case 'T':
			tcp_token = optarg;
			break;
		case 's':
			if (o->n_slots == MAX_SLOTS)
				die("too many slots");
			o->slots[o->n_slots++] = optarg;
			break;
		case 'F': {
			FILE *f = fopen(optarg, "r");
			char line[256];
			if (!f)
				die("open %s: %s", optarg, strerror(errno));
			while (fgets(line, sizeof line, f)) {
				line[strcspn(line, "\r\n")] = '\0';
				if (!line[0])
					continue;
				if (o->n_slots == MAX_SLOTS)
					die("too many slots");
				char *dup = strdup(line);
				if (!dup)
					die("out of memory");
				o->slots[o->n_slots++] = dup;
			}
			fclose(f);
			break;
		}
		case 'p':
			o->profile = optarg;
			break;
		case 'c':
			o->cmd = optarg;
			break;
		case 'l':
			o->label = optarg;
			break;
		case 'b':
			o->bare = optarg;
			break;
		case 'y':
			o->system = optarg;
			break;
		case 'e':
			o->expect = optarg;
			break;
		case 'f':
			o->files = strtol(optarg, NULL, 10);
			break;
		case 'r':
			o->rounds = (int)strtol(optarg, NULL, 10);
			break;
		case 't':
			o->think_us = strtol(optarg, NULL, 10) * 1000;
			break;
		case 'w':
			if (!optarg[0] ||
			    strspn(optarg, "ltecp") != strlen(optarg))
				die("--ways takes letters of ltecp");
			o->ways = optarg;
			break;
		case 'o':
			bench_samples_path = optarg;
			break;
		case 'W':
			o->no_warm = true;
			break;
		case 'P':
			o->parallel = (int)strtol(optarg, NULL, 10);
			if (o->parallel < 1 || o->parallel > MAX_SLOTS)
				die("--parallel takes 1 to %d", MAX_SLOTS);
			break;
		default:
			die("bad arguments (see the comment at the top of "
			    "bench/slotbench.c)");
		}
	}
	if (o->n < 1 || o->rounds < 1 || o->files < 0 || o->think_us < 0 ||
	    o->think_us > 10000000)
		die("-n, --rounds, --files and --think-ms (at most 10 s) must "
		    "be positive");
	if (o->rounds > o->n)
		o->rounds = (int)o->n;
	o->argv = argv + optind;
}

/* "exec bash -c 'CMD'" */
static void scenario_name(char *buf, size_t len, const struct opts *o)
{
	if (o->label)
		snprintf(buf, len, "%s", o->label);
	else if (o->think_us)
		snprintf(buf, len, "exec bash -c '%s' after %ld ms idle",
			 o->cmd, o->think_us / 1000);
	else
		snprintf(buf, len, "exec bash -c '%s'", o->cmd);
}

/* ---- clients in other languages ------------------------------------------ */

/* A peer: a client in another language taking its turns with the limit
 * (exec, and batch's way p), as a child on two pipes, started once so
 * that its interpreter's start-up is not timed. */
struct peer {
	pid_t pid;
	FILE *to, *from;
	char *line;
	size_t cap;
};

static void peer_start(struct peer *p, char *const argv[])
{
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		die("pipe2: %s", strerror(errno));
	int e = spawn_on(&p->pid, argv, (const int[3]){in[0], out[1], -1});
	if (e)
		die("start the peer %s: %s", argv[0], strerror(e));
	close(in[0]);
	close(out[1]);
	p->to = fdopen(in[1], "w");
	p->from = fdopen(out[0], "r");
	if (!p->to || !p->from)
		die("fdopen: %s", strerror(errno));
}

/* Ask for m calls; push the latencies it answers with. */
static void peer_round(struct peer *p, long m, struct samples *lat)
{
	if (fprintf(p->to, "%ld\n", m) < 0 || fflush(p->to) != 0)
		die("write to the peer: %s", strerror(errno));
	if (getline(&p->line, &p->cap, p->from) < 0)
		die("the peer answered nothing (did it fail? its stderr is "
		    "above)");
	char *s = p->line, *end;
	size_t got = 0;
	for (double v = strtod(s, &end); end != s; v = strtod(s, &end)) {
		push(lat, v);
		got++;
		s = end;
	}
	if (!got || strspn(s, " \n") != strlen(s))
		die("the peer's answer is not a line of latencies: %s",
		    p->line);
}

static void peer_stop(struct peer *p)
{
	int st;
	if (fputs("0\n", p->to) < 0 || fclose(p->to) != 0)
		die("write to the peer: %s", strerror(errno));
	fclose(p->from);
	free(p->line);
	if (waitpid(p->pid, &st, 0) < 0)
		die("waitpid: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("the peer failed (status %#x)", st);
}

/* ---- exec --------------------------------------------------------------- */

/* An agent's calls come between model turns, not back to back: with
 * --think-ms every timed call (limit and slotbox alike) follows that much
 * idle time. */
static void think(const struct opts *o)
{
	if (o->think_us > 0)
		usleep((useconds_t)o->think_us);
}

static int cmd_exec(const struct opts *o)
{
	if (!(socket_path || tcp_url) || !o->cmd || o->n_slots < 1)
		die("exec needs --socket (or --url and --token), --cmd and "
		    "--slot");
	char scen[256], expect[OUT_KEEP], got[OUT_KEEP];
	scenario_name(scen, sizeof scen, o);
	char *host_argv[] = {"/bin/bash", "-c", (char *)o->cmd, NULL};
	char *bare_argv[] = {(char *)o->bare, NULL};
	struct sbc *c = connect_or_die();

	/* Same output both ways, then warm up. */
	if (host_run(host_argv, expect, sizeof expect) != 0)
		die("host: bash -c %s failed", o->cmd);
	for (int i = 0; i < o->n_slots; i++) {
		slot_bash(c, o->slots[i], o->cmd, got, sizeof got);
		if (strcmp(got, expect) != 0)
			die("slot %s printed \"%s\", the host \"%s\"",
			    o->slots[i], got, expect);
	}
	for (int i = 0; i < 20; i++) {
		host_run_ok(host_argv);
		slot_bash(c, o->slots[(size_t)i % (size_t)o->n_slots], o->cmd,
			  NULL, 0);
	}

	struct samples lim = {0}, bare = {0}, sb = {0}, other = {0};
	struct peer peer = {0};
	if (o->system && o->argv[0]) {
		if (o->think_us)
			die("exec: a peer client does not think (--think-ms)");
		peer_start(&peer, o->argv);
		peer_round(&peer, 20, &other); /* warm, not kept */
		other.n = 0;
	}
	long per = o->n / o->rounds, k = 0;
	for (int r = 0; r < o->rounds; r++) {
		long m = r == o->rounds - 1 ? o->n - per * r : per;
		if (peer.pid)
			peer_round(&peer, m, &other);
		for (long i = 0; i < m; i++) {
			think(o);
			double t = now_us();
			host_run_ok(host_argv);
			push(&lim, now_us() - t);
		}
		for (long i = 0; o->bare && i < m; i++) {
			double t = now_us();
			host_run_ok(bare_argv);
			push(&bare, now_us() - t);
		}
		for (long i = 0; i < m; i++, k++) {
			/* A prime stride spreads the calls over the slots
			 * (and so over the sandboxes). */
			const char *slot = o->slots[(size_t)(k * 7919) %
						    (size_t)o->n_slots];
			think(o);
			double t = now_us();
			slot_bash(c, slot, o->cmd, NULL, 0);
			push(&sb, now_us() - t);
		}
	}
	char notes[128];
	snprintf(notes, sizeof notes, "interleaved in %d rounds", o->rounds);
	report("host posix_spawn (limit)", scen, &lim, 0, notes);
	if (o->bare) {
		char sys[160];
		snprintf(sys, sizeof sys, "host posix_spawn %s (no shell)",
			 o->bare);
		report(sys, scen, &bare, 0, "reference: no bash");
	}
	snprintf(notes, sizeof notes, "%d slot%s; interleaved in %d rounds",
		 o->n_slots, o->n_slots == 1 ? "" : "s", o->rounds);
	report(tcp_url ? "slotbox (C client, TCP)" : "slotbox (C client)", scen,
	       &sb, 0, notes);
	if (peer.pid) {
		peer_stop(&peer);
		snprintf(notes, sizeof notes, "interleaved in %d rounds",
			 o->rounds);
		report(o->system, scen, &other, 0, notes);
	}
	sbc_close(c);
	return 0;
}

/* ---- acquire + release --------------------------------------------------- */

static int cmd_acqrel(const struct opts *o)
{
	if (!socket_path)
		die("acqrel needs --socket");
	struct sbc *c = connect_or_die();
	struct samples keep = {0}, reset = {0}, floor = {0};
	const char *scen = "acquire + release (warm)";

	for (int pass = 0; pass < 2; pass++) {
		bool do_reset = pass == 1;
		struct samples *s = do_reset ? &reset : &keep;
		for (long i = -20; i < o->n; i++) {
			struct sbc_slot slot;
			double t = now_us();
			acquire_or_die(c, o->profile, &slot);
			release_or_die(c, slot.slot_id, do_reset);
			double dt = now_us() - t;
			sbc_slot_free(&slot);
			if (i >= 0)
				push(s, dt);
		}
	}
	for (long i = -20; i < o->n; i++) {
		double t = now_us();
		for (int k = 0; k < 2; k++) {
			struct sbc_response r;
			struct sbc_error err = {0};
			if (sbc_request(c, "GET", "/v1/health", NULL, 0, NULL,
					&r, &err) < 0 ||
			    r.status != 200)
				die("health: %s", err.message);
			sbc_response_free(&r);
		}
		if (i >= 0)
			push(&floor, now_us() - t);
	}
	report("transport floor: 2x GET /v1/health (C)", scen, &floor, 0,
	       "same connection");
	report("slotbox (C client)", scen, &keep, 0, "release reset=false");
	report("slotbox (C client) reset=true", scen, &reset, 0,
	       "release reset=true (the lease ran nothing: nothing to reset)");
	sbc_close(c);
	return 0;
}

/* ---- batch throughput ---------------------------------------------------- */

struct worker {
	pthread_t th;
	pthread_barrier_t *go;
	const char *slot; /* NULL: host spawn */
	const char *cmd;
	long calls;
	struct samples lat;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct sbc *c = w->slot ? connect_or_die() : NULL;
	char *argv[] = {"/bin/bash", "-c", (char *)w->cmd, NULL};

	int r = pthread_barrier_wait(w->go);
	if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD)
		die("pthread_barrier_wait: %s", strerror(r));
	for (long i = 0; i < w->calls; i++) {
		double t = now_us();
		if (c)
			slot_bash(c, w->slot, w->cmd, NULL, 0);
		else
			host_run_ok(argv);
		push(&w->lat, now_us() - t);
	}
	if (c)
		sbc_close(c);
	return NULL;
}

/* Run calls spread over n workers; returns the wall time in seconds and
 * leaves every call's latency in all. */
static double run_workers(int n, const char *const *slots, const char *cmd,
			  long calls, struct samples *all)
{
	struct worker *w = xcalloc((size_t)n, sizeof *w);
	pthread_barrier_t go;
	int e = pthread_barrier_init(&go, NULL, (unsigned)n + 1);
	if (e)
		die("pthread_barrier_init: %s", strerror(e));
	for (int i = 0; i < n; i++) {
		w[i].go = &go;
		w[i].slot = slots ? slots[i] : NULL;
		w[i].cmd = cmd;
		w[i].calls = calls / n + (i < calls % n ? 1 : 0);
		e = pthread_create(&w[i].th, NULL, worker_main, &w[i]);
		if (e)
			die("pthread_create: %s", strerror(e));
	}
	e = pthread_barrier_wait(&go);
	if (e != 0 && e != PTHREAD_BARRIER_SERIAL_THREAD)
		die("pthread_barrier_wait: %s", strerror(e));
	double t0 = now_us();
	for (int i = 0; i < n; i++) {
		e = pthread_join(w[i].th, NULL);
		if (e)
			die("pthread_join: %s", strerror(e));
	}
	double wall = (now_us() - t0) / 1e6;
	for (int i = 0; i < n; i++) {
		for (size_t k = 0; k < w[i].lat.n; k++)
			push(all, w[i].lat.v[k]);
		free(w[i].lat.v);
	}
	pthread_barrier_destroy(&go);
	free(w);
	return wall;
}

/* calls calls as POST /v1/exec batches of one call per slot; returns the
 * wall time in seconds, one latency per batch request in lat. */
static double run_endpoint(struct sbc *c, const struct opts *o, long calls,
			   struct samples *lat)
{
	double t0 = now_us();
	for (long done = 0; done < calls;) {
		long k = calls - done < o->n_slots ? calls - done : o->n_slots;
		json_t *reqs = json_array();
		for (long i = 0; i < k; i++)
			json_array_append_new(reqs,
					      json_pack("{s:s, s:s, s:{s:s}}",
							"slot_id", o->slots[i],
							"tool", "bash", "args",
							"command", o->cmd));
		json_t *body = json_pack("{s:o, s:f}", "requests", reqs,
					 "timeout_s", 60.0);
		if (!body)
			die("out of memory");
		json_t *out = NULL;
		struct sbc_error err = {0};
		double t = now_us();
		if (sbc_request_json(c, "POST", "/v1/exec", body, &out, &err) <
		    0)
			die("POST /v1/exec: %s: %s", err.code, err.message);
		push(lat, now_us() - t);
		json_t *res = json_object_get(out, "results");
		if (json_array_size(res) != (size_t)k)
			die("POST /v1/exec: %zu results for %ld requests",
			    json_array_size(res), k);
		for (size_t i = 0; i < (size_t)k; i++)
			if (!json_is_true(json_object_get(
				    json_array_get(res, i), "success")))
				die("POST /v1/exec: call %zu failed", i);
		json_decref(out);
		json_decref(body);
		done += k;
	}
	return (now_us() - t0) / 1e6;
}

/* One way of running a batch: its wall time, latencies and the machine's
 * CPU while it ran. */
struct way {
	struct samples lat;
	double wall;
	struct cpu_mark cpu;
};

static void way_begin(struct cpu_mark *at)
{
	cpu_mark(at);
}

static void way_end(struct way *w, const struct cpu_mark *at, double wall)
{
	struct cpu_mark now;
	cpu_mark(&now);
	w->wall += wall;
	w->cpu.busy_ms += now.busy_ms - at->busy_ms;
	w->cpu.steal_ms += now.steal_ms - at->steal_ms;
}

/* "; machine CPU 1.23 ms/call (busy 97%, steal 3%)" */
static void way_cpu_note(char *buf, size_t len, const struct way *w, long n)
{
	size_t used = strlen(buf);
	double cpus = (double)sysconf(_SC_NPROCESSORS_ONLN);
	double avail = w->wall * 1000.0 * cpus;
	snprintf(buf + used, len - used,
		 "; machine CPU %.2f ms/call (busy %.0f%%, steal %.0f%%)",
		 w->cpu.busy_ms / (double)n, 100.0 * w->cpu.busy_ms / avail,
		 100.0 * w->cpu.steal_ms / avail);
}

/* One row: n calls over the way's wall time, its CPU in the notes. */
static void way_report(struct way *w, const char *system, const char *scen,
		       long n, char *notes, size_t len)
{
	way_cpu_note(notes, len, w, n);
	report(system, scen, &w->lat, (double)n / w->wall, notes);
}

/* The three ways take turns in rounds, so that a machine whose speed
 * drifts (other tenants, frequency) slows each of them alike; ops/s is all
 * calls over the sum of a way's wall times. --ways picks some of them
 * (for a profile of one). */
static int cmd_batch(const struct opts *o)
{
	if (!socket_path || !o->cmd || o->n_slots < 1)
		die("batch needs --socket, --cmd and --slot");
	const char *ways = o->ways ? o->ways : "lte";
	char scen[256], notes[320];
	scenario_name(scen, sizeof scen, o);
	struct sbc *c = connect_or_die();
	for (int i = 0; i < o->n_slots && !o->no_warm; i++)
		slot_bash(c, o->slots[i], o->cmd, NULL, 0); /* warm */

	struct way lim = {0}, thr = {0}, ep = {0}, conc = {0}, other = {0};
	struct cpu_mark at;
	struct peer peer = {0};
	if (strchr(ways, 'p')) {
		if (!o->system || !o->argv[0])
			die("--ways p needs --system NAME and the peer's ARGV "
			    "after --");
		peer_start(&peer, o->argv);
	}
	long per = o->n / o->rounds;
	for (int r = 0; r < o->rounds; r++) {
		long m = r == o->rounds - 1 ? o->n - per * r : per;
		if (strchr(ways, 'l')) {
			way_begin(&at);
			way_end(&lim, &at,
				run_workers(2, NULL, o->cmd, m, &lim.lat));
		}
		if (strchr(ways, 't')) {
			way_begin(&at);
			way_end(&thr, &at,
				run_workers(o->n_slots, o->slots, o->cmd, m,
					    &thr.lat));
		}
		if (strchr(ways, 'e')) {
			way_begin(&at);
			way_end(&ep, &at, run_endpoint(c, o, m, &ep.lat));
		}
		if (strchr(ways, 'c')) {
			way_begin(&at);
			way_end(&conc, &at,
				run_workers(o->n_slots, NULL, o->cmd, m,
					    &conc.lat));
		}
		if (strchr(ways, 'p')) {
			way_begin(&at);
			double t0 = now_us();
			peer_round(&peer, m, &other.lat);
			way_end(&other, &at, (now_us() - t0) / 1e6);
		}
	}
	if (strchr(ways, 'p'))
		peer_stop(&peer);
	if (strchr(ways, 'l')) {
		snprintf(notes, sizeof notes,
			 "2 threads; %d rounds taking turns with slotbox; "
			 "latency per call",
			 o->rounds);
		way_report(&lim, "host posix_spawn x2 workers (limit)", scen,
			   o->n, notes, sizeof notes);
	}
	if (strchr(ways, 't')) {
		snprintf(notes, sizeof notes,
			 "%d threads with a connection each; latency per call",
			 o->n_slots);
		way_report(&thr, "slotbox (C client) thread per slot", scen,
			   o->n, notes, sizeof notes);
	}
	if (strchr(ways, 'e')) {
		snprintf(notes, sizeof notes,
			 "%zu requests of up to %d calls; latency per request",
			 ep.lat.n, o->n_slots);
		way_report(&ep, "slotbox (C client) POST /v1/exec", scen, o->n,
			   notes, sizeof notes);
	}
	if (strchr(ways, 'c')) {
		snprintf(notes, sizeof notes,
			 "%d threads, as many as slots: what that many "
			 "processes at once cost the host; latency per call",
			 o->n_slots);
		way_report(&conc, "host posix_spawn, a thread per slot", scen,
			   o->n, notes, sizeof notes);
	}
	if (strchr(ways, 'p')) {
		snprintf(notes, sizeof notes,
			 "%zu requests of up to %d calls; latency per request",
			 other.lat.n, o->n_slots);
		way_report(&other, o->system, scen, o->n, notes, sizeof notes);
	}
	sbc_close(c);
	return 0;
}

/* ---- cold start -----------------------------------------------------------
 */

static int cmd_cold(const struct opts *o)
{
	if (!socket_path || !o->profile)
		die("cold needs --socket and --profile");
	struct sbc *c = connect_or_die();
	struct sbc_slot *held = xcalloc((size_t)o->n, sizeof *held);
	struct samples s = {0};
	long distinct = 0;

	for (long i = 0; i < o->n; i++) {
		double t = now_us();
		acquire_or_die(c, o->profile, &held[i]);
		push(&s, now_us() - t);
		bool seen = false;
		for (long k = 0; k < i && !seen; k++)
			seen = strcmp(held[k].sandbox_id, held[i].sandbox_id) ==
			       0;
		distinct += !seen;
	}
	/* Each lease must have come from a sandbox of its own, started for
	 * it: otherwise this measured a warm acquire. */
	if (distinct != o->n)
		die("cold: %ld acquires came from only %ld sandboxes", o->n,
		    distinct);
	char notes[160];
	snprintf(notes, sizeof notes,
		 "acquire that starts a new sandbox (1 slot) until its slot "
		 "is ready; %ld sandboxes",
		 distinct);
	report("slotbox (C client)", "sandbox cold start", &s, 0, notes);
	for (long i = 0; i < o->n; i++) {
		release_or_die(c, held[i].slot_id, true);
		sbc_slot_free(&held[i]);
	}
	free(held);
	sbc_close(c);
	return 0;
}

/* ---- reset of a slot holding many files ------------------------------------
 */

/* Create count empty files in dir (host side, for the baseline). */
static void make_files(const char *dir, long count)
{
	char path[4200];
	if (mkdir(dir, 0700) < 0)
		die("mkdir %s: %s", dir, strerror(errno));
	for (long i = 0; i < count; i++) {
		snprintf(path, sizeof path, "%s/f%ld", dir, i);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			      0600);
		if (fd < 0)
			die("create %s: %s", path, strerror(errno));
		if (close(fd) < 0)
			die("close %s: %s", path, strerror(errno));
	}
}

static int cmd_reset(const struct opts *o)
{
	if (!socket_path || !o->profile)
		die("reset needs --socket and --profile");
	struct sbc *c = connect_or_die();
	struct samples rel = {0}, next = {0}, base = {0};
	char make[256], out[OUT_KEEP], want[32];
	const char *scen = "reset of a slot holding files";
	snprintf(make, sizeof make,
		 "mkdir -p d && cd d && seq 1 %ld | xargs touch && "
		 "ls -f | wc -l",
		 o->files);
	snprintf(want, sizeof want, "%ld\n", o->files + 2); /* . and .. */

	for (long i = 0; i < o->n; i++) {
		struct sbc_slot s;
		acquire_or_die(c, o->profile, &s);
		char ws[OUT_KEEP];
		/* The workspace starts empty (the previous reset worked). */
		slot_bash(c, s.slot_id, "ls -A | wc -l", ws, sizeof ws);
		if (strcmp(ws, "0\n") != 0)
			die("reset: workspace of %s not empty: %s entries",
			    s.slot_id, ws);
		slot_bash(c, s.slot_id, make, out, sizeof out);
		if (strcmp(out, want) != 0)
			die("reset: made %s files, wanted %ld", out, o->files);
		char *id = strdup(s.slot_id);
		if (!id)
			die("out of memory");
		sbc_slot_free(&s);

		double t = now_us();
		release_or_die(c, id, true);
		push(&rel, now_us() - t);

		t = now_us();
		acquire_or_die(c, o->profile, &s);
		slot_bash(c, s.slot_id, "true", NULL, 0);
		push(&next, now_us() - t);
		if (!same_slot(s.slot_id, id))
			die("reset: the profile must have one slot (%s, %s)",
			    id, s.slot_id);
		release_or_die(c, s.slot_id, true);
		sbc_slot_free(&s);
		free(id);
	}
	sbc_close(c);

	/* Baseline: what a reset by deletion costs (the seed runs rm -rf in
	 * the sandbox): rm -rf of as many files on a host tmpfs. */
	char tmpl[] = "/dev/shm/slotbench-XXXXXX";
	if (!mkdtemp(tmpl))
		die("mkdtemp: %s", strerror(errno));
	char dir[sizeof tmpl + 8];
	snprintf(dir, sizeof dir, "%s/d", tmpl);
	char *rm_argv[] = {"/bin/rm", "-rf", dir, NULL};
	for (long i = 0; i < o->n; i++) {
		make_files(dir, o->files);
		double t = now_us();
		host_run_ok(rm_argv);
		push(&base, now_us() - t);
	}
	if (rmdir(tmpl) < 0)
		die("rmdir %s: %s", tmpl, strerror(errno));

	char notes[160];
	snprintf(notes, sizeof notes, "%ld files; baseline for reset",
		 o->files);
	report("host rm -rf on tmpfs (baseline)", scen, &base, 0, notes);
	snprintf(notes, sizeof notes,
		 "%ld files; DELETE ?reset=true round trip", o->files);
	report("slotbox release(reset=true)", scen, &rel, 0, notes);
	snprintf(notes, sizeof notes,
		 "%ld files; next acquire + first exec (true) on that slot",
		 o->files);
	report("slotbox next acquire + first exec", scen, &next, 0, notes);
	return 0;
}

/* ---- a burst of calls at once (the host's floor) ---------------------------
 */

/* Each round starts --parallel calls of bash -c CMD at once, a thread
 * each, and times the round until the last has exited: what the machine
 * itself needs for that many processes at once. */
static int cmd_burst(const struct opts *o)
{
	if (!o->cmd || !o->label || o->parallel < 1)
		die("burst needs --cmd, --label and --parallel");
	struct samples walls = {0}, calls = {0};
	for (long r = 0; r < o->n; r++) {
		push(&walls, run_workers(o->parallel, NULL, o->cmd, o->parallel,
					 &calls) *
				     1e6);
	}
	free(calls.v);
	char sys[96], notes[96];
	snprintf(sys, sizeof sys, "host posix_spawn, %d at once (floor)",
		 o->parallel);
	snprintf(notes, sizeof notes,
		 "%d threads, a call each; wall of the round; %ld round%s",
		 o->parallel, o->n, o->n == 1 ? "" : "s");
	report(sys, o->label, &walls, 0, notes);
	return 0;
}

/* ---- generic per-call spawn (peers) ----------------------------------------
 */

static int cmd_spawn(const struct opts *o)
{
	if (!o->system || !o->label || !o->argv[0])
		die("spawn needs --system, --label and a command after --");
	char out[OUT_KEEP];
	int st = host_run(o->argv, out, sizeof out);
	if (st != 0)
		die("%s: %s exited with %d", o->system, o->argv[0], st);
	if (o->expect && strcmp(out, o->expect) != 0)
		die("%s printed \"%s\", expected \"%s\"", o->system, out,
		    o->expect);
	long warm = o->n / 10 < 5 ? o->n / 10 : 5;
	for (long i = 0; i < warm; i++)
		host_run_ok(o->argv);
	struct samples s = {0};
	for (long i = 0; i < o->n; i++) {
		double t = now_us();
		host_run_ok(o->argv);
		push(&s, now_us() - t);
	}
	report(o->system, o->label, &s, 0, o->expect ? "output checked" : "");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die("usage: slotbench exec|acqrel|batch|cold|reset|spawn|burst "
		    "...");
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (devnull < 0)
		die("open /dev/null: %s", strerror(errno));
	const char *cmd = argv[1];
	static struct opts opts; /* static: the slot ids it holds live on */
	struct opts *o = &opts;
	parse(argc - 1, argv + 1, o);
	int rc;
	if (strcmp(cmd, "exec") == 0)
		rc = cmd_exec(o);
	else if (strcmp(cmd, "acqrel") == 0)
		rc = cmd_acqrel(o);
	else if (strcmp(cmd, "batch") == 0)
		rc = cmd_batch(o);
	else if (strcmp(cmd, "cold") == 0)
		rc = cmd_cold(o);
	else if (strcmp(cmd, "reset") == 0)
		rc = cmd_reset(o);
	else if (strcmp(cmd, "spawn") == 0)
		rc = cmd_spawn(o);
	else if (strcmp(cmd, "burst") == 0)
		rc = cmd_burst(o);
	else
		die("unknown subcommand %s", cmd);
	return rc;
}
