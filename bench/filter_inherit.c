/* SPDX-License-Identifier: Apache-2.0 */
/* filter_inherit.c - what the seccomp filter that each call's spare
 * installs (src/init/spare_vm.c) costs the machine when many calls run at
 * once, against the same filter inherited from the process that starts
 * them, which a confined process per slot would give. K threads start
 * `bash -c true` as fast as they can, each child cloned with CLONE_VM |
 * CLONE_VFORK as posix_spawn's is; three ways, in turns:
 *   none       no filter: the host's own start
 *   inherited  the starting process installed the default profile's
 *              filter once (no_new_privs first); each child inherits it
 *   installed  each child installs it between its clone and its exec:
 *              the kernel copies it, builds its per-syscall cache and
 *              compiles it, and frees all that when the child exits
 * Each way runs in a fresh process of its own (a filter cannot be taken
 * off). A row's notes give the machine's CPU per call (/proc/stat) and
 * its p50/p99 are per start (clone to exit). Every child must exit 0.
 *
 * Usage: filter_inherit [-n CALLS] [-k THREADS] [-r ROUNDS] */
#include <errno.h>
#include <getopt.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_filter.h"
#include "benchlib.h"
#include "common/util.h"

enum way { WAY_NONE, WAY_INHERITED, WAY_INSTALLED, N_WAYS };

static const char *const way_label[N_WAYS] = {
	"host posix_spawn-like clone, no filter",
	"filter inherited from the starting process",
	"filter installed by each child (as spares do)",
};

#define CHILD_STACK (64 * 1024)

static struct sock_fprog filter;
static char *const bash_argv[] = {"bash", "-c", "true", NULL};
extern char **environ;

struct worker {
	enum way way;
	long calls;
	char *stack;
	double *lat; /* per start, us */
};

static int child_main(void *arg)
{
	const struct worker *w = arg;
	/* Raw system calls only: this child shares its parent's memory. */
	if (w->way == WAY_INSTALLED &&
	    (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	     syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &filter) != 0))
		syscall(SYS_exit_group, 126);
	syscall(SYS_execve, "/bin/bash", bash_argv, environ);
	syscall(SYS_exit_group, 127);
	return 127;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (long i = 0; i < w->calls; i++) {
		double t = now_us();
		pid_t c = clone(child_main, w->stack + CHILD_STACK,
				CLONE_VM | CLONE_VFORK | SIGCHLD, w);
		int st;
		if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			die("a child of way %d failed (status %d): %s", w->way,
			    c < 0 ? -1 : st, strerror(errno));
		w->lat[i] = now_us() - t;
	}
	return NULL;
}

/* One round of one way, in a fresh process; writes its wall time and
 * every latency to fd. */
static void run_round(enum way way, long calls, int threads, int fd)
{
	if (way == WAY_INHERITED &&
	    (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	     syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &filter) != 0))
		die("install the filter: %s", strerror(errno));
	struct worker *ws = xcalloc((size_t)threads, sizeof *ws);
	pthread_t *tids = xcalloc((size_t)threads, sizeof *tids);
	double *lat = xcalloc((size_t)calls, sizeof *lat);
	long per = calls / threads;
	double t0 = now_us();
	for (int k = 0; k < threads; k++) {
		ws[k] = (struct worker){.way = way,
					.calls = per,
					.stack = xcalloc(1, CHILD_STACK),
					.lat = lat + (size_t)k * (size_t)per};
		if (pthread_create(&tids[k], NULL, worker_main, &ws[k]) != 0)
			die("pthread_create");
	}
	for (int k = 0; k < threads; k++)
		pthread_join(tids[k], NULL);
	double wall = now_us() - t0;
	long n = per * threads;
	if (sb_write_all(fd, &wall, sizeof wall) < 0 ||
	    sb_write_all(fd, &n, sizeof n) < 0 ||
	    sb_write_all(fd, lat, (size_t)n * sizeof *lat) < 0)
		die("write the round's figures");
}

static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t r = read(fd, p, len);
		if (r <= 0)
			return -1;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

struct tally {
	struct samples s;
	double wall_us, busy_ms;
	long calls;
};

static void round_of(enum way way, long calls, int threads, struct tally *t)
{
	int pfd[2];
	if (pipe(pfd) < 0)
		die("pipe: %s", strerror(errno));
	struct cpu_mark a, b;
	cpu_mark(&a);
	pid_t c = fork();
	if (c < 0)
		die("fork: %s", strerror(errno));
	if (c == 0) {
		close(pfd[0]);
		run_round(way, calls, threads, pfd[1]);
		_exit(0);
	}
	close(pfd[1]);
	double wall;
	long n;
	if (read_full(pfd[0], &wall, sizeof wall) < 0 ||
	    read_full(pfd[0], &n, sizeof n) < 0 || n <= 0)
		die("the round of way %d gave no figures", way);
	double *lat = xcalloc((size_t)n, sizeof *lat);
	if (read_full(pfd[0], lat, (size_t)n * sizeof *lat) < 0)
		die("the round of way %d gave no latencies", way);
	close(pfd[0]);
	int st;
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("the round of way %d failed", way);
	cpu_mark(&b);
	for (long i = 0; i < n; i++)
		push(&t->s, lat[i]);
	free(lat);
	t->wall_us += wall;
	t->busy_ms += b.busy_ms - a.busy_ms;
	t->calls += n;
}

int main(int argc, char **argv)
{
	long calls = 1000;
	int threads = 32, rounds = 4, opt;
	bool bad = false;
	while ((opt = getopt(argc, argv, "n:k:r:")) != -1) {
		if (opt == 'n')
			calls = strtol(optarg, NULL, 10);
		else if (opt == 'k')
			threads = (int)strtol(optarg, NULL, 10);
		else if (opt == 'r')
			rounds = (int)strtol(optarg, NULL, 10);
		else
			bad = true;
	}
	if (bad || calls < 1 || threads < 1 || threads > 4096 || rounds < 1 ||
	    calls < threads)
		die("usage: filter_inherit [-n CALLS >= THREADS] "
		    "[-k 1..4096] [-r ROUNDS]");
	bench_filter_load(0, &filter);
	struct tally t[N_WAYS];
	memset(t, 0, sizeof t);
	/* Warm up, then the ways take turns, each first in some rounds. */
	for (int w = 0; w < N_WAYS; w++) {
		struct tally warm;
		memset(&warm, 0, sizeof warm);
		round_of((enum way)w, threads, threads, &warm);
		free(warm.s.v);
	}
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < N_WAYS; i++)
			round_of((enum way)((r + i) % N_WAYS),
				 calls / rounds < threads ? threads
							  : calls / rounds,
				 threads, &t[(r + i) % N_WAYS]);
	for (int w = 0; w < N_WAYS; w++) {
		char notes[160], scen[64];
		snprintf(scen, sizeof scen, "bash -c true, %d at once",
			 threads);
		snprintf(notes, sizeof notes,
			 "%u-instruction filter; %d rounds in turns; machine "
			 "CPU %.2f ms/call",
			 filter.len, rounds, t[w].busy_ms / (double)t[w].calls);
		report(way_label[w], scen, &t[w].s,
		       (double)t[w].calls / (t[w].wall_us / 1e6), notes);
	}
	return 0;
}
