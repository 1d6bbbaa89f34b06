/* slot_ns.c - the network, IPC and cgroup namespaces of a slot generation.
 *
 * Slots of one sandbox share no kernel object: each leader is cloned into
 * an IPC namespace of its own (SysV shm, semaphores, message queues and
 * POSIX mqueues), a network namespace with only loopback (ports, abstract
 * unix sockets, /proc/net; none with network: host) and, once in its slot's
 * cgroup, a cgroup namespace rooted there. Every new leader (reset,
 * restart) is a new generation of them. A release that keeps the workspace
 * recycles the leader in place (leader.c): it then unshares a new IPC and
 * network namespace for itself before the next tenant comes, and the old
 * ones die with the lease's last process. sysfs is mounted again then: a
 * sysfs mount pins the network namespace it was made in. */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "sandbox/init.h"

static int fail(char *msg, size_t len, const char *what)
{
	int saved = errno;
	snprintf(msg, len, "%s: %s", what, strerror(saved));
	errno = saved;
	return -1;
}

/* A new network namespace starts with lo down. */
static int loopback_up(void)
{
	_cleanup_fd_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;

	if (s < 0)
		return -1;
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -1;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	return ioctl(s, SIOCSIFFLAGS, &ifr);
}

int slot_ns_clone_flags(const struct init_cfg *cfg)
{
	return CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC |
	       (cfg->own_net ? CLONE_NEWNET : 0);
}

int slot_ns_setup(const struct init_cfg *cfg, char *msg, size_t msglen)
{
	/* Rooted at the slot's group: /proc/self/cgroup shows "/..." and no
	 * path of the host's hierarchy. */
	if (unshare(CLONE_NEWCGROUP) < 0)
		return fail(msg, msglen, "new cgroup namespace");
	if (cfg->own_net && loopback_up() < 0)
		return fail(msg, msglen, "bring up loopback");
	return 0;
}

/* /sys of the slot's root (the leader's "/" once pivoted), mounted again
 * in the leader's current network namespace; none if there was none (a
 * host that refuses sysfs). */
static int remount_sys(void)
{
	if (umount2("/sys", MNT_DETACH) < 0)
		return errno == EINVAL || errno == ENOENT ? 0 : -1;
	return mount("sysfs", "/sys", "sysfs",
		     MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

int slot_ns_renew(const struct init_cfg *cfg, char *msg, size_t msglen)
{
	if (unshare(CLONE_NEWIPC | (cfg->own_net ? CLONE_NEWNET : 0)) < 0)
		return fail(msg, msglen, "new ipc/network namespace");
	if (!cfg->own_net)
		return 0;
	if (loopback_up() < 0)
		return fail(msg, msglen, "bring up loopback");
	if (remount_sys() < 0)
		return fail(msg, msglen, "mount /sys again");
	return 0;
}
