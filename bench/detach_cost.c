/* SPDX-License-Identifier: Apache-2.0 */
/* detach_cost.c - what a leader pays for its copy of its sandbox's mount
 * namespace, with the host's mounts in it and without them
 * (src/init/host_mounts.c), in turns in the same run.
 *
 * Two parents stand for a sandbox's init, each in a private copy of this
 * process's mount namespace: one as it is (the host's mounts, as init had
 * them), one after detaching, once, every topmost mount but "/" and /proc.
 * Each sample is a child of one of them that does what a leader in chroot
 * mode does with the copy: clone(CLONE_NEWNS) itself, read its mountinfo
 * and detach every topmost mount but "/" and /proc (root_chroot.c's
 * root_detach_unless), then exits. Timed from the clone to the reaping
 * (wall), with the child's own CPU (wait4's rusage). The parents take
 * turns, a child at a time.
 *
 * Usage: detach_cost [-n N]   (run as root; prints slotbench-style CSV) */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchlib.h"
#include "init/init.h"

static bool keep_root_and_proc(const char *point, const void *ud)
{
	(void)ud;
	return strcmp(point, "/") == 0 || strcmp(point, "/proc") == 0 ||
	       strncmp(point, "/proc/", 6) == 0;
}

static size_t count_mounts(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	size_t n = 0;
	int c;
	if (!f)
		die("open mountinfo: %s", strerror(errno));
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* In the child: a leader's copy and its detach; 0 on success. */
static int leader_like(void)
{
	struct sb_err err = {0};
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return 1;
	return root_detach_unless(keep_root_and_proc, NULL, &err) < 0 ? 2 : 0;
}

/* A parent: reads a byte per child to make, answers with the child's
 * wall µs and CPU µs. */
static void parent_loop(int in, int out)
{
	char c;
	while (read(in, &c, 1) == 1) {
		double t = now_us(), res[2];
		struct rusage ru;
		int st;
		pid_t pid = fork();
		if (pid == 0)
			_exit(leader_like());
		if (pid < 0 || wait4(pid, &st, 0, &ru) != pid ||
		    !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			die("a leader-like child failed");
		res[0] = now_us() - t;
		res[1] = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
				 1e6 +
			 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
		if (write(out, res, sizeof res) != sizeof res)
			_exit(1);
	}
	_exit(0);
}

struct parent {
	pid_t pid;
	int to, from;
	size_t mounts;
	struct samples wall, cpu;
};

static void start_parent(struct parent *p, bool trimmed)
{
	int a[2], b[2], m[2];
	if (pipe(a) < 0 || pipe(b) < 0 || pipe(m) < 0)
		die("pipe: %s", strerror(errno));
	p->pid = fork();
	if (p->pid < 0)
		die("fork: %s", strerror(errno));
	if (p->pid == 0) {
		struct sb_err err = {0};
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			die("a private mount namespace: %s", strerror(errno));
		if (trimmed &&
		    root_detach_unless(keep_root_and_proc, NULL, &err) < 0)
			die("detach: %s", err.msg);
		size_t n = count_mounts();
		if (write(m[1], &n, sizeof n) != sizeof n)
			_exit(1);
		parent_loop(a[0], b[1]);
	}
	if (read(m[0], &p->mounts, sizeof p->mounts) != sizeof p->mounts)
		die("a parent failed to start");
	p->to = a[1];
	p->from = b[0];
	close(a[0]);
	close(b[1]);
	close(m[0]);
	close(m[1]);
}

static void one(struct parent *p)
{
	double res[2];
	if (write(p->to, "x", 1) != 1 ||
	    read(p->from, res, sizeof res) != sizeof res)
		die("a parent stopped");
	push(&p->wall, res[0]);
	push(&p->cpu, res[1]);
}

int main(int argc, char **argv)
{
	long n = bench_opt_n(argc, argv, "detach_cost", 300);
	if (geteuid() != 0)
		die("detach_cost: run as root");
	struct parent full = {0}, trimmed = {0};
	start_parent(&full, false);
	start_parent(&trimmed, true);
	for (long i = 0; i < n; i++) {
		one(i % 2 ? &trimmed : &full);
		one(i % 2 ? &full : &trimmed);
	}
	char notes[160];
	snprintf(notes, sizeof notes,
		 "the parent's namespace holds %zu mounts; taking turns",
		 full.mounts);
	report("host's mounts kept (before)", "leader mount namespace, wall",
	       &full.wall, 0, notes);
	report("host's mounts kept (before)", "leader mount namespace, CPU",
	       &full.cpu, 0, notes);
	snprintf(notes, sizeof notes,
		 "the parent's namespace holds %zu mounts; taking turns",
		 trimmed.mounts);
	report("host's mounts detached once (now)",
	       "leader mount namespace, wall", &trimmed.wall, 0, notes);
	report("host's mounts detached once (now)",
	       "leader mount namespace, CPU", &trimmed.cpu, 0, notes);
	/* each parent holds the other's pipes too: no EOF to wait for */
	kill(full.pid, SIGKILL);
	kill(trimmed.pid, SIGKILL);
	waitpid(full.pid, NULL, 0);
	waitpid(trimmed.pid, NULL, 0);
	return 0;
}
