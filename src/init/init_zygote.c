/* SPDX-License-Identifier: Apache-2.0 */
/* init_zygote.c - slotbox-init --zygote: sandbox inits without an exec.
 *
 * Exec'ing slotbox-init is most of a millisecond or more before its first
 * line runs: the loader maps and binds libarchive and what that pulls in
 * (libxml2, ICU, libstdc++), on every sandbox start. The daemon keeps one
 * zygote (sandbox/zygote.h), started once, whose loader work is done; it
 * forks each sandbox's init with clone3 into the requested namespaces and
 * CLONE_PARENT, so the new init is the daemon's child exactly as when the
 * daemon cloned it itself (its pidfd, its exit status, SIGCHLD, and the
 * sandbox outliving a daemon restart are all unchanged). The child gets
 * the request's descriptors on fds 3..6, /dev/null on 0, signals at their
 * defaults, the request's argv as its command line (ps and /proc show
 * "slotbox-init --id ..." as before), and runs init's main on it.
 *
 * The zygote allocates nothing on the heap (a child inherits its memory;
 * static buffers stay reachable), holds only its socket and /dev/null, and
 * ends on EOF: when the daemon closes its end or dies. Every child shares
 * the zygote's address layout, as a sandbox's leaders always shared
 * init's; what runs a slot's commands is exec'd afresh. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"
#include "init/confine.h"
#include "init/init.h"
#include "wire/zygote_msg.h"

/* what a request may ask for: namespaces, nothing else */
#define ZYGOTE_NS_FLAGS                                                        \
	(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |            \
	 CLONE_NEWNET | CLONE_NEWCGROUP)

static char req_buf[sizeof(struct sb_zygote_req) + SB_ZYGOTE_ARGS_MAX];
static char *req_argv[SB_ZYGOTE_ARGC_MAX + 1];

/* In the new init: its descriptors where spawn_init put them, the
 * signal state of a fresh exec, then init's main. Never returns. */
static _Noreturn void child(int devnull, const int fds[SB_ZYGOTE_FD_COUNT],
			    int (*run)(int, char **))
{
	const struct sb_zygote_req *h = (const void *)req_buf;
	sb_signals_to_default();
	if (sb_child_fds(devnull, fds, SB_ZYGOTE_FD_COUNT, SB_ZYGOTE_FD_FIRST) <
	    0)
		_exit(127);
	confine_set_cmdline(req_buf + sizeof *h, h->len);
	optind = 1;
	exit(run((int)h->argc, req_argv));
}

int init_zygote_serve(int sock, int (*run)(int argc, char **argv))
{
	/* on any fd: a child copies its request's fds above 6 first */
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		return 1;
	const uint32_t hello = SB_ZYGOTE_HELLO;
	if (send(sock, &hello, sizeof hello, MSG_NOSIGNAL) != sizeof hello)
		return 1;
	for (;;) {
		int fds[SB_ZYGOTE_FD_COUNT];
		int r = sb_zygote_recv_req(sock, req_buf, sizeof req_buf,
					   req_argv, fds);
		if (r == 0)
			return 0; /* the daemon is gone */
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EPROTO ||
			    sb_zygote_send_reply(sock, EPROTO, 0, -1) < 0)
				return 1;
			continue;
		}
		const struct sb_zygote_req *h = (const void *)req_buf;
		int pidfd = -1;
		pid_t pid = -1;
		int e = EINVAL;
		if ((h->clone_flags & ~(uint64_t)ZYGOTE_NS_FLAGS) == 0) {
			struct clone_args ca = {
				.flags = h->clone_flags | CLONE_PARENT |
					 CLONE_PIDFD,
				.pidfd = (uint64_t)(uintptr_t)&pidfd,
				/* CLONE_PARENT: the daemon's SIGCHLD, as
				 * for the zygote itself */
				.exit_signal = 0,
			};
			pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
			if (pid == 0)
				child(devnull, fds, run);
			e = pid < 0 ? errno : 0;
		}
		for (int i = 0; i < SB_ZYGOTE_FD_COUNT; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		r = sb_zygote_send_reply(sock, e, (int)pid, pidfd);
		if (pidfd >= 0)
			close(pidfd);
		if (r < 0)
			return 1;
	}
}
