/* SPDX-License-Identifier: Apache-2.0 */
/* init_regen.c - a new workspace generation for a leader that stays.
 *
 * A release with reset used to end the slot's leader and start a new one
 * (clone into new pid, mount, IPC and network namespaces, the root's
 * mounts, a new spare, a new channel to the daemon). A leader that
 * recycles in place (leader.c) keeps its pid namespace and its channel and
 * only needs the new generation's filesystem: init makes the generation's
 * tmpfs (in its own mount namespace, where the daemon reads a leased
 * workspace for snapshots and forks), and a helper builds the slot's root
 * on it exactly as a starting leader does (mounts_setup_slot_root) in a
 * mount namespace of its own, then hands that namespace to the leader,
 * which enters it with setns. The helper runs in the slot's pid namespace
 * (its /proc is the slot's) and network namespace (its /sys), after the
 * lease's processes are gone. The old generation is discarded at once:
 * the leader's old root holds the last reference to it. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init/init.h"
#include "wire/proto.h"

/* Close every descriptor from 3 up but the n in keep (-1s ignored):
 * init's channel to the daemon and the other slots' lines have no
 * business in a process of this slot's pid namespace. */
static void close_all_but(int *keep, int n)
{
	for (int i = 1; i < n; i++) /* sort: n is at most 4 */
		for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	unsigned from = 3;
	for (int i = 0; i < n; i++) {
		if (keep[i] < (int)from)
			continue;
		if ((unsigned)keep[i] > from)
			close_range(from, (unsigned)keep[i] - 1, 0);
		from = (unsigned)keep[i] + 1;
	}
	close_range(from, ~0U, 0);
}

/* In the slot's pid namespace: build the root of generation gen with
 * /sys of network namespace netns, and send its mount namespace on the
 * slot's line, and after it made[] (the new IPC and network namespaces
 * init made, network: egress) if made[0] >= 0. */
__attribute__((noreturn)) static void build_root(const struct init_cfg *cfg,
						 const struct init_slot *s,
						 unsigned gen, int netns,
						 const int made[2])
{
	static struct leader_cfg lc;
	struct sb_err err = {0};
	int entry;

	lc.init = cfg;
	lc.index = s->index;
	lc.uid = cfg->uid_base + (uid_t)s->index;
	lc.gen = gen;
	lc.chan = -1;
	lc.line = s->line;
	lc.cg_fd = s->cg_fd;
	snprintf(lc.gen_dir, sizeof lc.gen_dir, "%s/s%d/g%u", cfg->scratch,
		 s->index, gen);
	int keep[4] = {s->line, netns, made[0], made[1]};
	close_all_but(keep, 4);
	if (unshare(CLONE_NEWNS) < 0) {
		sb_err_sys(&err, "regen: new mount namespace");
	} else if (setns(netns, CLONE_NEWNET) < 0) {
		sb_err_sys(&err, "regen: enter the slot's network");
	} else if ((entry = mounts_setup_slot_root(&lc, false, &err)) >= 0) {
		int fds[3] = {open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC),
			      made[0], made[1]};
		struct sb_msg m = {.type = SB_MSG_REGEN,
				   .slot = (uint32_t)s->index,
				   .gen = gen,
				   .flags = entry ? SB_REGEN_CHROOT : 0};
		if (fds[0] >= 0 &&
		    sb_msg_send(s->line, &m, fds, made[0] >= 0 ? 3 : 1) == 0) {
			/* With a chroot the leader enters the root by its
			 * path, which this detach leaves alone: done while
			 * the leader already serves, off its way. */
			if (entry && root_detach_outside(&err) < 0)
				fprintf(stderr, "slotbox-init: regen: %s\n",
					err.msg);
			_exit(0);
		}
		sb_err_sys(&err, "regen: send the namespace");
	}
	init_send_failed(s->line, (uint32_t)s->index, errno ? errno : EIO,
			 err.msg);
	_exit(1);
}

/* Forked from init: enter the slot's pid namespace (for children) and
 * fork the builder there; wait for it so that it is never the leader's
 * orphan. */
__attribute__((noreturn)) static void helper(const struct init_cfg *cfg,
					     const struct init_slot *s,
					     unsigned gen, const int fds[2],
					     const int made[2])
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setns(fds[0], CLONE_NEWPID) < 0) {
		init_send_failed(s->line, (uint32_t)s->index, errno,
				 "regen: enter the slot's pid namespace");
		_exit(1);
	}
	pid_t pid = fork();
	if (pid == 0)
		build_root(cfg, s, gen, made[1] >= 0 ? made[1] : fds[1], made);
	if (pid < 0) {
		init_send_failed(s->line, (uint32_t)s->index, errno,
				 "regen: fork");
		_exit(1);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	_exit(0);
}

int init_regen(const struct init_cfg *cfg, struct init_slot *s,
	       const int fds[2], uint32_t flags)
{
	unsigned gen = s->gen + 1;
	int rc = -1;
	int made[2] = {-1, -1};

	/* network: egress: the leader cannot make its next network (the
	 * veth pair is made from init's side): take the one made ahead
	 * (init_slots.c), and have the next one made now. */
	if (flags & SB_REGEN_NEW_NS) {
		if (!cfg->egress || s->ns_sock < 0 ||
		    slot_ns_take(s->ns_sock, made) < 0) {
			s->ns_sock = -1;
			init_send_failed(s->line, (uint32_t)s->index,
					 ENETUNREACH,
					 "regen: no network made ahead");
			goto out;
		}
		s->ns_sock = init_slot_prepare_ns(cfg, s);
	}

	/* A generation left over from a failed try is dropped first. */
	if (init_gen_make(cfg, s, gen) == 0) {
		struct init_slot old = *s;
		old.gen = gen;
		init_gen_discard(cfg, &old);
	}
	if (init_gen_make(cfg, s, gen) < 0) {
		init_send_failed(s->line, (uint32_t)s->index, errno,
				 "regen: make the generation");
		goto out;
	}
	pid_t pid = fork(); /* reaped by init like any orphan */
	if (pid == 0)
		helper(cfg, s, gen, fds, made);
	if (pid < 0) {
		init_send_failed(s->line, (uint32_t)s->index, errno,
				 "regen: fork");
		goto out;
	}
	init_gen_discard(cfg, s);
	s->gen = gen;
	rc = 0;
out:
	close(fds[0]);
	close(fds[1]);
	for (int i = 0; i < 2; i++)
		if (made[i] >= 0)
			close(made[i]);
	return rc;
}
