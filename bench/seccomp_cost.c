/* SPDX-License-Identifier: Apache-2.0 */
/* seccomp_cost.c - what installing the default profile's seccomp filter
 * costs a process, as each call's spare does (src/init/spare.c): the
 * program as one chain of syscall numbers (libseccomp's level 1, what
 * slotbox shipped before) and as a binary tree (level 2, what
 * seccomp_bpf_compile makes now), against a one-instruction allow-all
 * program, in turns in the same run. Each sample is the seccomp() call
 * itself in a fresh child (the kernel builds the filter's per-syscall
 * action cache then, interrupts off).
 *
 * Usage: seccomp_cost [-n N]   (prints slotbench-style CSV rows) */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_filter.h"
#include "benchlib.h"

struct prog {
	const char *label;
	struct sock_fprog fprog;
	struct samples s;
};

/* One install in a fresh child; its time in us. */
static double install_once(const struct sock_fprog *fp)
{
	int pfd[2];
	if (pipe(pfd) < 0)
		die("pipe: %s", strerror(errno));
	pid_t c = fork();
	if (c < 0)
		die("fork: %s", strerror(errno));
	if (c == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(1);
		double t = now_us();
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, fp) != 0)
			_exit(2);
		double d = now_us() - t;
		_exit(write(pfd[1], &d, sizeof d) == sizeof d ? 0 : 3);
	}
	close(pfd[1]);
	double d = -1;
	ssize_t n = read(pfd[0], &d, sizeof d);
	close(pfd[0]);
	int st;
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
	    n != sizeof d)
		die("the child could not install the filter (status %d)", st);
	return d;
}

int main(int argc, char **argv)
{
	long n = bench_opt_n(argc, argv, "seccomp_cost", 300);
	static struct sock_filter allow =
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct prog progs[3] = {
		{.label = "allow-all program, 1 instruction (baseline)",
		 .fprog = {.len = 1, .filter = &allow}},
		{.label = "default profile, one chain (level 1, before)"},
		{.label = "default profile, binary tree (level 2, now)"},
	};
	bench_filter_load(1, &progs[1].fprog);
	bench_filter_load(2, &progs[2].fprog);
	for (long i = 0; i < n; i++)
		for (int k = 0; k < 3; k++)
			push(&progs[k].s, install_once(&progs[k].fprog));
	for (int k = 0; k < 3; k++) {
		char notes[96];
		snprintf(notes, sizeof notes, "%u instructions; taking turns",
			 progs[k].fprog.len);
		report(progs[k].label, "seccomp filter install", &progs[k].s, 0,
		       notes);
	}
	return 0;
}
