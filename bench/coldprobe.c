/* SPDX-License-Identifier: Apache-2.0 */
/* coldprobe.c - the floor under a sandbox cold start: a bare clone into new
 * mount, pid, ipc, uts and network namespaces (the ones a slotbox sandbox
 * gets), a tmpfs, an overlay over the host's root on it, /proc, chroot and
 * exec of /bin/true; the parent times clone -> waitpid. No cgroup, no init
 * protocol, no slots: what is left is what the kernel charges.
 *
 * Usage: coldprobe [-n N] [--samples FILE]   (as root)
 * Prints one CSV row like slotbench's (see benchlib.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchlib.h"

/* Child steps; a failure exits with the step's number so the parent can
 * say which one broke. */
enum step {
	ST_PRIVATE = 10,
	ST_TMPFS,
	ST_MKDIR,
	ST_OVERLAY,
	ST_PROC,
	ST_CHROOT,
	ST_EXEC,
};

static const char *const step_names[] = {
	"make / private",   "mount tmpfs", "mkdir",
	"mount overlay",    "mount /proc", "chroot",
	"execve /bin/true",
};

/* Runs in the new namespaces; only raw system calls until execve. */
__attribute__((noreturn)) static void child(const char *scratch)
{
	char upper[4200], work[4200], root[4200], proc[4300], opts[8600];

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		_exit(ST_PRIVATE);
	if (mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV,
		  "mode=0700") < 0)
		_exit(ST_TMPFS);
	snprintf(upper, sizeof upper, "%s/upper", scratch);
	snprintf(work, sizeof work, "%s/work", scratch);
	snprintf(root, sizeof root, "%s/root", scratch);
	if (mkdir(upper, 0755) < 0 || mkdir(work, 0755) < 0 ||
	    mkdir(root, 0755) < 0)
		_exit(ST_MKDIR);
	snprintf(opts, sizeof opts, "lowerdir=/,upperdir=%s,workdir=%s", upper,
		 work);
	if (mount("overlay", root, "overlay", 0, opts) < 0)
		_exit(ST_OVERLAY);
	snprintf(proc, sizeof proc, "%s/proc", root);
	if (mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		_exit(ST_PROC);
	if (chroot(root) < 0 || chdir("/") < 0)
		_exit(ST_CHROOT);
	static char *const argv[] = {"/bin/true", NULL};
	static char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
	execve(argv[0], argv, envp);
	_exit(ST_EXEC);
}

static double probe_once(const char *scratch)
{
	double t = now_us();
	long pid = syscall(SYS_clone,
			   CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC |
				   CLONE_NEWUTS | CLONE_NEWNET | SIGCHLD,
			   NULL, NULL, NULL, NULL);
	if (pid < 0)
		die("clone: %s (run as root)", strerror(errno));
	if (pid == 0)
		child(scratch);
	int st;
	while (waitpid((pid_t)pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	double dt = now_us() - t;
	if (WIFEXITED(st) && WEXITSTATUS(st) >= ST_PRIVATE &&
	    WEXITSTATUS(st) <= ST_EXEC)
		die("coldprobe: child failed at: %s",
		    step_names[WEXITSTATUS(st) - ST_PRIVATE]);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("coldprobe: child ended with status 0x%x", (unsigned)st);
	return dt;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"samples", required_argument, NULL, 'o'},
		{NULL, 0, NULL, 0},
	};
	long n = 100;
	int ch;
	while ((ch = getopt_long(argc, argv, "n:", lo, NULL)) != -1) {
		if (ch == 'n')
			n = strtol(optarg, NULL, 10);
		else if (ch == 'o')
			bench_samples_path = optarg;
		else
			die("usage: coldprobe [-n N] [--samples FILE]");
	}
	if (n < 1)
		die("-n must be positive");

	/* The mount point; the tmpfs on it exists only in each child's
	 * mount namespace, so nothing is left behind but this empty dir. */
	char scratch[] = "/tmp/coldprobe-XXXXXX";
	if (!mkdtemp(scratch))
		die("mkdtemp: %s", strerror(errno));
	for (int i = 0; i < 5; i++)
		probe_once(scratch);
	struct samples s = {0};
	for (long i = 0; i < n; i++)
		push(&s, probe_once(scratch));
	if (rmdir(scratch) < 0)
		die("rmdir %s: %s", scratch, strerror(errno));
	report("bare clone+overlay+exec (coldprobe)", "sandbox cold start", &s,
	       0,
	       "new mnt/pid/ipc/uts/net namespaces + tmpfs + overlay + "
	       "/proc + exec /bin/true; no cgroup");
	return 0;
}
