/* SPDX-License-Identifier: Apache-2.0 */
/* sys_netns.c - the network namespace of the slots' /sys.
 *
 * A sysfs shows the network devices of the network namespace it is
 * mounted in, and the kernel finds a sysfs mount's superblock by testing
 * every sysfs superblock on the host (sget_fc), so a sysfs per slot
 * generation, or per sandbox, made every new one cost more the more the
 * host had (init/slot_ns.c). The daemon makes one network namespace
 * holding only loopback, and every sandbox's init mounts its slots' /sys
 * in it: one superblock for all the daemon's sandboxes, found at once, and
 * no sandbox start makes a network namespace for it. A forked child makes
 * it (the daemon stays in its own) and sends it back. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/netif.h"
#include "wire/proto.h"

int sbx_sys_netns_make(void)
{
	int sv[2], fd = -1;
	struct sb_msg m;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		struct sb_msg hello = {.type = SB_MSG_HELLO};
		close(sv[0]);
		if (unshare(CLONE_NEWNET) < 0 || sb_link_up("lo") < 0)
			_exit(1);
		int ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		_exit(ns < 0 || sb_msg_send(sv[1], &hello, &ns, 1) < 0);
	}
	close(sv[1]);
	if (pid > 0) {
		int got[SB_MSG_MAX_FDS];
		size_t n = 0;
		int r;
		do
			r = sb_msg_recv(sv[0], &m, got, &n);
		while (r < 0 && errno == EINTR);
		if (r > 0 && n == 1)
			fd = got[0];
		else
			for (size_t i = 0; i < n; i++)
				close(got[i]);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	int e = errno;
	close(sv[0]);
	if (fd < 0)
		errno = e ? e : EIO;
	return fd;
}
