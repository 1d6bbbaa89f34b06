/* SPDX-License-Identifier: Apache-2.0 */
/* zygote.c - see zygote.h. Runs in the launcher's worker (launcher.h). */
#include "sandbox/zygote.h"

#include <errno.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "sandbox/sandbox.h"

/* A zygote that does not answer within this is taken for hung. */
#define ZYGOTE_REPLY_MS 5000
/* After this many failed starts, sandboxes are exec'd for good. */
#define ZYGOTE_MAX_STARTS 3

/* The child of clone3: async-signal-safe calls only until execve (the
 * daemon may have threads). */
static _Noreturn void exec_zygote(const struct sbx_env *env, int sock)
{
	static char *const envp[] = {SBX_INIT_PATH_ENV, NULL};
	char *argv[] = {(char *)env->init_path, "--zygote", NULL};
	sb_signals_to_default();
	if (env->nofile_set)
		setrlimit(RLIMIT_NOFILE, &env->nofile);
	if (sb_child_fds(env->devnull, &sock, 1, 3) < 0)
		_exit(127);
	execve(argv[0], argv, envp);
	_exit(127);
}

/* Has the zygote said something within ZYGOTE_REPLY_MS? */
static bool answered(int sock)
{
	struct pollfd p = {.fd = sock, .events = POLLIN};
	int r;
	do
		r = poll(&p, 1, ZYGOTE_REPLY_MS);
	while (r < 0 && errno == EINTR);
	return r == 1;
}

static int start(struct sbx_env *env)
{
	struct sbx_zygote *z = &env->zygote;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	int pidfd = -1;
	struct clone_args ca = {.flags = CLONE_PIDFD,
				.pidfd = (uint64_t)(uintptr_t)&pidfd,
				.exit_signal = SIGCHLD};
	pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
	if (pid == 0)
		exec_zygote(env, sv[1]);
	int e = errno;
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		errno = e;
		return -1;
	}
	z->sock = sv[0];
	z->pidfd = pidfd;
	z->pid = pid;
	z->running = true;
	/* Its hello says it is a zygote and ready: nothing is asked of a
	 * process that may not be one. */
	uint32_t hello = 0;
	if (answered(z->sock) &&
	    recv(z->sock, &hello, sizeof hello, 0) == sizeof hello &&
	    hello == SB_ZYGOTE_HELLO)
		return 0;
	zygote_stop(z);
	errno = ENOEXEC;
	return -1;
}

void zygote_stop(struct sbx_zygote *z)
{
	if (!z->running)
		return;
	close(z->sock);
	/* A zygote that answered nonsense or nothing may not read its EOF. */
	syscall(SYS_pidfd_send_signal, z->pidfd, SIGKILL, NULL, 0);
	siginfo_t si;
	while (waitid((idtype_t)P_PIDFD, (id_t)z->pidfd, &si, WEXITED) < 0 &&
	       errno == EINTR)
		;
	close(z->pidfd);
	z->running = false;
	z->sock = z->pidfd = -1;
	z->pid = 0;
}

void zygote_configure(struct sbx_zygote *z)
{
	const char *v = getenv("SLOTBOX_ZYGOTE");
	z->off = v && strcmp(v, "0") == 0;
}

/* One request and its answer: 1 answered (pid or *err); 0 the zygote
 * could not take it (the send failed: nothing was made); -1 it took it
 * and broke (gone, hung, nonsense): an init may have been made. */
static int ask(struct sbx_zygote *z, uint64_t flags, char *const *argv,
	       const int fds[SB_ZYGOTE_FD_COUNT], pid_t *pid, int *pidfd,
	       int *err)
{
	if (sb_zygote_send_req(z->sock, flags, argv, fds) < 0) {
		*err = errno;
		return errno == E2BIG ? 1 : 0;
	}
	if (!answered(z->sock))
		return -1;
	int got = -1;
	if (sb_zygote_recv_reply(z->sock, &got, pidfd, err) != 1)
		return -1;
	*pid = got;
	return 1;
}

/* A zygote that failed: stopped, and after ZYGOTE_MAX_STARTS of those,
 * no more zygotes. */
static void broken(struct sbx_zygote *z, const char *why)
{
	zygote_stop(z);
	if (++z->failed_starts < ZYGOTE_MAX_STARTS)
		return;
	z->off = true;
	sb_log(SB_LOG_WARN, "zygote_off", "why", why, SB_LOG_END);
}

pid_t zygote_spawn(struct sbx_env *env, uint64_t clone_flags, char *const *argv,
		   const int fds[SB_ZYGOTE_FD_COUNT], int *pidfd)
{
	struct sbx_zygote *z = &env->zygote;
	for (int attempt = 0; attempt < 2 && !z->off; attempt++) {
		if (!z->running && start(env) < 0) {
			int e = errno;
			sb_log(SB_LOG_WARN, "zygote_failed", "why", strerror(e),
			       SB_LOG_END);
			/* not a zygote (an older slotbox-init): no more */
			if (e == ENOEXEC) {
				z->failed_starts++;
				z->off = true;
			} else {
				broken(z, "the init zygote does not start");
			}
			break;
		}
		pid_t pid = -1;
		int err = 0;
		int r = ask(z, clone_flags, argv, fds, &pid, pidfd, &err);
		if (r == 1 && err == 0)
			return pid;
		if (r == 1 && (err == EINVAL || err == EPERM || err == ENOSYS ||
			       err == EOPNOTSUPP)) {
			/* it cannot clone what we ask here: exec from now on */
			z->failed_starts++;
			z->off = true;
			sb_log(SB_LOG_WARN, "zygote_off", "why", strerror(err),
			       SB_LOG_END);
			break;
		}
		if (r == 1) {
			errno = err;
			return -1;
		}
		if (r < 0) {
			/* It may have made the init before it broke: a second
			 * one for the same channel must not follow. */
			broken(z, "the init zygote broke during a request");
			errno = EIO;
			return -1;
		}
		broken(z, "the init zygote is gone");
	}
	errno = ENOSYS;
	return -1;
}
