/* SPDX-License-Identifier: Apache-2.0 */
/* slot_ns.c - the network, IPC and cgroup namespaces of a slot generation.
 *
 * Slots of one sandbox share no kernel object: each leader is cloned into
 * an IPC namespace of its own (SysV shm, semaphores, message queues and
 * POSIX mqueues), a network namespace with only loopback (ports, abstract
 * unix sockets, /proc/net; none with network: host) and, once in its slot's
 * cgroup, a cgroup namespace rooted there. Every new leader (reset,
 * restart) is a new generation of them. A release that keeps the workspace
 * recycles the leader in place (leader.c): it then enters new IPC and
 * network namespaces before the next tenant comes, and the old ones die
 * with the lease's last process. Making a network namespace costs about
 * 0.4 ms of kernel time (more while the kernel tears others down), too much
 * for the release path, and the slot's spare was made in the old ones: so
 * while a lease runs the leader starts the next lease's spare (spare.h),
 * which first makes the next namespaces (slot_ns_make) and hands them back
 * as nsfs descriptors; the recycle enters them with setns (microseconds)
 * and promotes that spare. Likewise init has a restarted leader's
 * namespaces made while the old leader dies (slot_ns_prepare).
 *
 * /sys: a sysfs shows the network devices of the network namespace it is
 * mounted in. The kernel finds a sysfs mount's superblock by testing every
 * sysfs superblock on the host (sget_fc, kernfs_test_super), so a sysfs
 * per slot generation made each new one cost more the more slots the host
 * had: at 8,000 leased slots that test was 18% of the machine's CPU while
 * the next 1,000 were leased (docs/bench.md, "10,000 slots"). Where a
 * slot's network namespace holds only loopback (network: none, without a
 * user namespace) every slot generation binds (read-only) one sysfs that
 * init mounts for its sandbox in a network namespace holding only
 * loopback: the daemon's one for all its sandboxes (sys_netns.c), so that
 * every sandbox's sysfs is one superblock the kernel finds at once and no
 * sandbox start makes a network namespace; else one init makes. The same
 * tree, but lo's counters there are not the slot's (/proc/net/dev has
 * those). Egress slots (their own veth) and user
 * namespaces (where a sysfs may be mounted only while one is fully
 * visible) mount one per generation, again at a recycle: a sysfs mount
 * pins the network namespace it was made in. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/netif.h"
#include "init/init.h"
#include "wire/proto.h"

/* The sandbox's /sys network namespace when init made it (kept alive: its
 * lo shows in /sys/class/net) and whether its sysfs is mounted (a host may
 * refuse). */
static int own_sys_netns = -1;
static bool sys_mounted;

static bool sys_shared(const struct init_cfg *cfg)
{
	return cfg->own_net && !cfg->egress && !cfg->userns;
}

static void sys_shared_dir(const struct init_cfg *cfg, char *buf, size_t len)
{
	snprintf(buf, len, "%s/sys-shared", cfg->scratch);
}

/* Enter a network namespace with only loopback: the daemon's (netns), or
 * a new one, which *made keeps alive (its lo shows in /sys/class/net). */
static int enter_sys_netns(int netns, int *made)
{
	if (netns >= 0)
		return setns(netns, CLONE_NEWNET);
	if (unshare(CLONE_NEWNET) < 0)
		return -1;
	*made = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	return *made < 0 || sb_link_up("lo") < 0 ? -1 : 0;
}

int slot_ns_share_sys(const struct init_cfg *cfg, struct sb_err *err)
{
	char dir[4200];

	if (!sys_shared(cfg))
		return 0;
	sys_shared_dir(cfg, dir, sizeof dir);
	if (mkdir(dir, 0555) < 0 && errno != EEXIST)
		return sb_err_sys(err, "create %s", dir);
	_cleanup_fd_ int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home < 0)
		return sb_err_sys(err, "open the network namespace");
	int rc = 0;
	if (enter_sys_netns(cfg->sys_netns, &own_sys_netns) < 0)
		rc = sb_err_sys(err, "the network namespace for /sys");
	/* sysfs is a convenience (nproc, lscpu); a host that refuses it
	 * still gets working slots */
	else if (mount("sysfs", dir, "sysfs",
		       MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0)
		sys_mounted = true;
	if (setns(home, CLONE_NEWNET) < 0)
		return sb_err_sys(err,
				  "back to the daemon's network namespace");
	return rc;
}

void slot_ns_mount_sys(const struct init_cfg *cfg, const char *path)
{
	char dir[4200];

	if (!sys_shared(cfg)) {
		mount("sysfs", path, "sysfs",
		      MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
		return;
	}
	sys_shared_dir(cfg, dir, sizeof dir);
	/* a bind keeps the source's mount flags: read-only, nosuid ... */
	if (sys_mounted)
		mount(dir, path, NULL, MS_BIND, NULL);
}

int slot_ns_clone_flags(const struct init_cfg *cfg)
{
	return CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC |
	       (cfg->own_net ? CLONE_NEWNET : 0);
}

int slot_ns_setup(const struct init_cfg *cfg, struct sb_err *err)
{
	/* Rooted at the slot's group: /proc/self/cgroup shows "/..." and no
	 * path of the host's hierarchy. */
	if (unshare(CLONE_NEWCGROUP) < 0)
		return sb_err_sys(err, "new cgroup namespace");
	if (cfg->own_net && sb_link_up("lo") < 0)
		return sb_err_sys(err, "bring up loopback");
	return 0;
}

/* /sys of the slot's root (the leader's "/" once pivoted), mounted again
 * in the leader's current network namespace; none if there was none (a
 * host that refuses sysfs). */
static int remount_sys(void)
{
	/* Made before the old one goes: in a user namespace (userns: true)
	 * a sysfs may be mounted only while one is fully visible. */
	_cleanup_fd_ int fs = fsopen("sysfs", FSOPEN_CLOEXEC);
	_cleanup_fd_ int mnt = -1;
	if (fs >= 0 && fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
		mnt = fsmount(fs, FSMOUNT_CLOEXEC,
			      MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
				      MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	/* none before (the host refused it): none now either */
	if (umount2("/sys", MNT_DETACH) < 0)
		return errno == EINVAL || errno == ENOENT ? 0 : -1;
	if (mnt < 0)
		return -1;
	return move_mount(mnt, "", AT_FDCWD, "/sys", MOVE_MOUNT_F_EMPTY_PATH);
}

static int renew_flags(const struct init_cfg *cfg)
{
	return CLONE_NEWIPC | (cfg->own_net ? CLONE_NEWNET : 0);
}

int slot_ns_make(const void *arg, int fds[2])
{
	const struct init_cfg *cfg = arg;

	fds[0] = fds[1] = -1;
	if (unshare(renew_flags(cfg)) < 0 ||
	    (cfg->own_net && sb_link_up("lo") < 0))
		return -1;
	fds[0] = open("/proc/self/ns/ipc", O_RDONLY | O_CLOEXEC);
	fds[1] = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	return fds[0] < 0 || fds[1] < 0 ? -1 : 0;
}

/* The next generation's namespaces, in slot_ns_prepare's child. */
static int make_for_slot(const struct init_cfg *cfg, unsigned link, int fds[2])
{
	if (!cfg->egress)
		return slot_ns_make(cfg, fds);
	if (slot_veth_make(cfg, link, renew_flags(cfg), fds) < 0 ||
	    sb_link_up("lo") < 0) {
		fprintf(stderr, "slotbox-init: egress link %u: %s\n",
			cfg->egress_link + link, strerror(errno));
		return -1;
	}
	return 0;
}

int slot_ns_prepare(const struct init_cfg *cfg, unsigned link)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid_t pid = fork(); /* init reaps it like any orphan */
	if (pid == 0) {
		struct sb_msg m = {.type = SB_MSG_HELLO};
		int fds[2];
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if ((sv[1] > 3 && close_range(3, (unsigned)sv[1] - 1, 0) < 0) ||
		    close_range((unsigned)sv[1] + 1, ~0U, 0) < 0 ||
		    make_for_slot(cfg, link, fds) < 0 ||
		    sb_msg_send(sv[1], &m, fds, 2) < 0)
			_exit(1);
		_exit(0);
	}
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return -1;
	}
	return sv[0];
}

int slot_ns_take(int sock, int fds[2])
{
	struct pollfd pfd = {.fd = sock, .events = POLLIN};
	struct sb_msg m;
	int got[SB_MSG_MAX_FDS];
	size_t n = 0;
	int rc = -1;

	if (poll(&pfd, 1, 1000) == 1 && sb_msg_recv(sock, &m, got, &n) > 0 &&
	    n == 2) {
		fds[0] = got[0];
		fds[1] = got[1];
		n = 0;
		rc = 0;
	}
	for (size_t i = 0; i < n; i++)
		close(got[i]);
	close(sock);
	return rc;
}

int slot_ns_enter(const struct init_cfg *cfg, const int fds[2])
{
	if (setns(fds[0], CLONE_NEWIPC) < 0)
		return -1;
	return cfg->own_net ? setns(fds[1], CLONE_NEWNET) : 0;
}

int slot_ns_renew(const struct init_cfg *cfg, bool entered, struct sb_err *err)
{
	if (!entered) {
		if (unshare(renew_flags(cfg)) < 0)
			return sb_err_sys(err, "new ipc/network namespace");
		if (cfg->own_net && sb_link_up("lo") < 0)
			return sb_err_sys(err, "bring up loopback");
	}
	if (cfg->own_net && !sys_shared(cfg) && remount_sys() < 0)
		return sb_err_sys(err, "mount /sys again");
	return 0;
}
