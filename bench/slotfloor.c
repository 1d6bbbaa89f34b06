/* SPDX-License-Identifier: Apache-2.0 */
/* slotfloor.c - the floor under N idle leased slots: what the kernel
 * charges for the objects a slot is, made the cheapest way, one after
 * another by K makers (the machine's CPUs by default), and kept alive.
 *
 * A bare slot is a clone into new mount, pid, IPC and network namespaces
 * (what each slotbox slot generation has of its own), and in it: / made
 * private, a tmpfs, an overlay over the host's root on it, /proc, a
 * workspace dir bound in, loopback up, chroot; then it says it is ready and
 * sleeps until the end. No cgroup, no protocol, no daemon, no seccomp, no
 * capability drop: slotbox does all that and more for each slot, so its
 * time to lease N slots cannot be below this one's on the same machine.
 * bench/scale.py runs it in turns with the builds it measures.
 *
 * Usage: slotfloor -n N [--parallel K] [--block B] [--hold]   (as root)
 * Prints, on stdout:
 *   made N in SECONDS s; blocks S1 S2 ...; cpu_ms_per_slot C
 * then with --hold waits for a line (or EOF) on stdin, so that the caller
 * can measure the host with every slot alive, and ends them all:
 *   teardown SECONDS s */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchlib.h"
#include "common/netif.h"

/* Shared by the makers (MAP_SHARED): when each slot became ready. */
struct board {
	atomic_long ready;
	double t[];
};

/* The bare slot, in its new namespaces. A failure is reported on the
 * ready pipe as a message instead of the ready byte. */
__attribute__((noreturn)) static void bare_slot(const char *scratch, int ready,
						int hold)
{
	char p[4][4200], opts[8600];
	const char *fail = NULL;

	snprintf(p[0], sizeof p[0], "%s/upper", scratch);
	snprintf(p[1], sizeof p[1], "%s/work", scratch);
	snprintf(p[2], sizeof p[2], "%s/root", scratch);
	snprintf(p[3], sizeof p[3], "%s/ws", scratch);
	snprintf(opts, sizeof opts, "lowerdir=/,upperdir=%s,workdir=%s", p[0],
		 p[1]);
	char proc[4300], ws[4300];
	snprintf(proc, sizeof proc, "%s/proc", p[2]);
	snprintf(ws, sizeof ws, "%s/workspace", p[2]);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fail = "make / private";
	else if (mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV,
		       "mode=0700") < 0)
		fail = "mount tmpfs";
	else if (mkdir(p[0], 0755) < 0 || mkdir(p[1], 0755) < 0 ||
		 mkdir(p[2], 0755) < 0 || mkdir(p[3], 0700) < 0)
		fail = "mkdir";
	else if (mount("overlay", p[2], "overlay", 0, opts) < 0)
		fail = "mount overlay";
	else if (mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		       NULL) < 0)
		fail = "mount /proc";
	else if ((mkdir(ws, 0755) < 0 && errno != EEXIST) ||
		 mount(p[3], ws, NULL, MS_BIND, NULL) < 0)
		fail = "bind the workspace";
	else if (sb_link_up("lo") < 0)
		fail = "bring up loopback";
	else if (chroot(p[2]) < 0 || chdir("/") < 0)
		fail = "chroot";
	if (fail) {
		dprintf(ready, "%s: %s", fail, strerror(errno));
		_exit(1);
	}
	char c = 'r';
	if (write(ready, &c, 1) != 1)
		_exit(1);
	close(ready);
	/* alive until the caller closes the other end */
	while (read(hold, &c, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

/* One maker: slots first, first + k, ... below n, one after another,
 * each waited for until ready (as a lease waits for its slot). */
static void maker(const char *scratch, long first, long n, int k, int hold,
		  struct board *b)
{
	for (long i = first; i < n; i += k) {
		int fds[2];
		if (pipe2(fds, O_CLOEXEC) < 0)
			die("pipe: %s", strerror(errno));
		long pid = syscall(SYS_clone,
				   CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC |
					   CLONE_NEWNET | SIGCHLD,
				   NULL, NULL, NULL, NULL);
		if (pid < 0)
			die("clone: %s (run as root)", strerror(errno));
		if (pid == 0) {
			close(fds[0]);
			bare_slot(scratch, fds[1], hold);
		}
		close(fds[1]);
		char msg[256] = "";
		ssize_t got;
		while ((got = read(fds[0], msg, sizeof msg - 1)) < 0 &&
		       errno == EINTR)
			;
		close(fds[0]);
		if (got != 1)
			die("slotfloor: slot %ld: %s", i,
			    got > 1 ? msg : "ended before it was ready");
		b->t[atomic_fetch_add(&b->ready, 1)] = now_us();
	}
}

/* Wait for count children (this process is the subreaper of the slots
 * whose maker has ended); with clean, any that did not exit 0 is a
 * failure. */
static void reap(long count, bool clean)
{
	while (count > 0) {
		int st;
		if (wait(&st) < 0) {
			if (errno == EINTR)
				continue;
			die("wait: %s", strerror(errno));
		}
		if (clean && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
			die("slotfloor: a maker or a slot failed (status 0x%x)",
			    (unsigned)st);
		count--;
	}
}

static double cpu_ms_children(void)
{
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"parallel", required_argument, NULL, 'k'},
		{"block", required_argument, NULL, 'b'},
		{"hold", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	long n = 1000, block = 1000;
	long k = sysconf(_SC_NPROCESSORS_ONLN);
	bool hold_open = false;
	int ch;
	while ((ch = getopt_long(argc, argv, "n:", lo, NULL)) != -1) {
		if (ch == 'n')
			n = strtol(optarg, NULL, 10);
		else if (ch == 'k')
			k = strtol(optarg, NULL, 10);
		else if (ch == 'b')
			block = strtol(optarg, NULL, 10);
		else if (ch == 'h')
			hold_open = true;
		else
			die("usage: slotfloor -n N [--parallel K] [--block B] "
			    "[--hold]");
	}
	if (n < 1 || k < 1 || k > 256 || block < 1)
		die("-n, --parallel (at most 256) and --block must be "
		    "positive");

	/* Slots left alone by their maker (it exits when done) come here. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	/* The tmpfs on it exists only in each slot's mount namespace. */
	char scratch[] = "/tmp/slotfloor-XXXXXX";
	if (!mkdtemp(scratch))
		die("mkdtemp: %s", strerror(errno));
	size_t size = sizeof(struct board) + (size_t)n * sizeof(double);
	struct board *b = mmap(NULL, size, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	int hold[2];
	if (pipe2(hold, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	/* the slots keep the read end across their clone (no exec) */

	double t0 = now_us();
	for (long w = 0; w < k; w++) {
		pid_t pid = fork();
		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			close(hold[1]);
			maker(scratch, w, n, (int)k, hold[0], b);
			_exit(0);
		}
	}
	close(hold[0]);
	/* the makers end first; a slot ending now is a failure */
	reap(k, true);
	long made = atomic_load(&b->ready);
	if (made != n)
		die("slotfloor: %ld of %ld slots made", made, n);
	double total = (b->t[n - 1] - t0) / 1e6;
	printf("made %ld in %.3f s; blocks", n, total);
	double from = t0;
	for (long i = block - 1; i < n; i += block) {
		printf(" %.3f", (b->t[i] - from) / 1e6);
		from = b->t[i];
	}
	/* the makers' own CPU; the slots' comes with their reaping below */
	double makers_ms = cpu_ms_children();
	printf("; makers_cpu_ms_per_slot %.3f\n", makers_ms / (double)n);
	fflush(stdout);

	if (hold_open) {
		char line[64];
		if (!fgets(line, sizeof line, stdin) && ferror(stdin))
			die("stdin: %s", strerror(errno));
	}
	double t1 = now_us();
	close(hold[1]);
	reap(n, false);
	printf("teardown %.3f s; slots_cpu_ms_per_slot %.3f\n",
	       (now_us() - t1) / 1e6,
	       (cpu_ms_children() - makers_ms) / (double)n);
	if (rmdir(scratch) < 0)
		die("rmdir %s: %s", scratch, strerror(errno));
	return 0;
}
