/* SPDX-License-Identifier: Apache-2.0 */
/* leader_regen.c - the leader's side of a reset in place (init_regen.c):
 * ask init for the next workspace generation and enter the mount
 * namespace init's helper built on it. Nothing of the old generation is
 * reachable afterwards: the old root, /proc, /dev, /tmp, /dev/shm and the
 * workspace were mounts of the old namespace, which dies with the last
 * process in it (the lease's are gone; the caller retires its spares). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "init/init.h"
#include "wire/proto.h"

/* How long the leader waits for init's helper (it mounts a few file
 * systems: milliseconds, more on a loaded host). */
#define REGEN_WAIT_MS 10000

static int fail(struct sb_err *err, int e, const char *what)
{
	sb_err_set(err, e, "reset: %s: %s", what, strerror(e));
	errno = e;
	return -1;
}

/* The answer on the line: the new mount namespace (and with new_ns the
 * IPC and network namespaces: fds[3]), or FAILED. */
static int wait_answer(struct leader_cfg *lc, unsigned gen, bool new_ns,
		       int ns[3], uint32_t *flags, struct sb_err *err)
{
	struct pollfd pfd = {.fd = lc->line, .events = POLLIN};
	struct sb_msg m;
	int fds[SB_MSG_MAX_FDS];
	size_t nfds = 0;

	for (;;) {
		int n = poll(&pfd, 1, REGEN_WAIT_MS);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fail(err, n == 0 ? ETIMEDOUT : errno,
				    "wait for init");
		int r = sb_msg_recv(lc->line, &m, fds, &nfds);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return fail(err, r == 0 ? EPIPE : errno,
				    "read from init");
		break;
	}
	if (m.type == SB_MSG_REGEN && m.gen == gen &&
	    nfds == (new_ns ? 3 : 1)) {
		for (size_t i = 0; i < nfds; i++)
			ns[i] = fds[i];
		*flags = m.flags;
		return 0;
	}
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	if (m.type == SB_MSG_FAILED) {
		m.text[sizeof m.text - 1] = '\0';
		sb_err_set(err, m.sys_errno, "%s", m.text);
		errno = m.sys_errno ? m.sys_errno : EIO;
		return -1;
	}
	return fail(err, EPROTO, "unexpected answer from init");
}

static void close_ns(int ns[3])
{
	for (int i = 0; i < 3; i++)
		if (ns[i] >= 0)
			close(ns[i]);
}

int leader_regen(struct leader_cfg *lc, bool new_ns, struct sb_err *err)
{
	_cleanup_fd_ int pidns =
		open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	_cleanup_fd_ int netns =
		open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (pidns < 0 || netns < 0)
		return fail(err, errno, "open namespaces");
	struct sb_msg m = {.type = SB_MSG_REGEN,
			   .slot = (uint32_t)lc->index,
			   .gen = lc->gen,
			   .flags = new_ns ? SB_REGEN_NEW_NS : 0};
	int mine[2] = {pidns, netns};
	if (sb_msg_send(lc->line, &m, mine, 2) < 0)
		return fail(err, errno, "ask init");
	int ns[3] = {-1, -1, -1}; /* mnt, ipc, net */
	uint32_t flags = 0;
	if (wait_answer(lc, lc->gen + 1, new_ns, ns, &flags, err) < 0)
		return -1;
	/* the network first: the new root's /sys is of the new one */
	int r = new_ns ? slot_ns_enter(lc->init, &ns[1]) : 0;
	int e = errno;
	if (r == 0 && setns(ns[0], CLONE_NEWNS) < 0) {
		r = -1;
		e = errno;
	}
	close_ns(ns);
	if (r < 0)
		return fail(err, e, "enter the new namespaces");
	/* setns put the root at the namespace's: with pivot_root that is
	 * the slot's root, with a chroot the helper's chroot is its own */
	char root[4200];
	snprintf(root, sizeof root, "%s/s%d/g%u/root", lc->init->scratch,
		 lc->index, lc->gen + 1);
	if (flags & SB_REGEN_CHROOT) {
		if (root_chroot_path(root, err) < 0)
			return -1;
	} else if (chdir("/") < 0) {
		return fail(err, errno, "chdir /");
	}
	lc->gen++;
	return 0;
}
