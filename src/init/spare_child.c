/* SPDX-License-Identifier: Apache-2.0 */
/* spare_child.c - what a spare does in its own process (spare_child.h). */
#include "init/spare_child.h"

#include <errno.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "init/raw_syscall.h"

SB_RAW_CHILD void spare_child_fail(int sock, long rc)
{
	int err = rc < 0 ? (int)-rc : EIO;
	if (sb_raw3(SYS_write, sock, &err, sizeof err) != (long)sizeof err)
		sb_raw1(SYS_exit_group, 126);
	sb_raw1(SYS_exit_group, 127);
	__builtin_unreachable();
}

SB_RAW_CHILD void spare_child_close_all_but(int keep)
{
	long r = keep > 3 ? sb_raw3(SYS_close_range, 3, keep - 1, 0) : 0;
	if (r == 0 && sb_raw3(SYS_close_range, keep + 1, ~0U, 0) == 0)
		return;
	/* no close_range (before Linux 5.9): one by one, up to the limit */
	/* (zeroed: the analyzer cannot see the kernel write it) */
	struct rlimit rl = {0, 0};
	r = sb_raw4(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, &rl);
	long max = r == 0 && rl.rlim_cur < (1u << 20) ? (long)rl.rlim_cur
						      : (1L << 20);
	for (long fd = 3; fd < max; fd++)
		if (fd != keep)
			sb_raw1(SYS_close, fd);
}

SB_RAW_CHILD void spare_child_exec(int sock, const int fds[3], const char *cwd,
				   char *const *argv, char *const *envp)
{
	unsigned char termios[64] __attribute__((aligned(8)));
	unsigned long no_signals = 0;
	long r;

	/* stdio stays open from the leader, so the call's descriptors are
	 * all above 2 and no dup clobbers another's source. */
	for (int i = 0; i < 3; i++)
		if ((r = sb_raw3(SYS_dup3, fds[i], i, 0)) < 0)
			spare_child_fail(sock, r);
	/* A call leads a process group of its own (its signals, spare.h);
	 * with a terminal as stdin (a call with a pty), a session too, of
	 * which the terminal becomes the controlling one, so ^C on it and
	 * job control work as in a terminal. */
	if (sb_raw3(SYS_ioctl, 0, TCGETS, termios) == 0) {
		if ((r = sb_raw0(SYS_setsid)) < 0 ||
		    (r = sb_raw3(SYS_ioctl, 0, TIOCSCTTY, 0)) < 0)
			spare_child_fail(sock, r);
	} else if ((r = sb_raw2(SYS_setpgid, 0, 0)) < 0) {
		spare_child_fail(sock, r);
	}
	/* as the slot's uid: it must be able to enter the directory */
	if ((r = sb_raw1(SYS_chdir, cwd)) < 0)
		spare_child_fail(sock, r);
	sb_raw4(SYS_rt_sigprocmask, SIG_SETMASK, &no_signals, 0,
		sizeof no_signals);
	spare_child_fail(sock, sb_raw3(SYS_execve, argv[0], argv, envp));
}
