/* SPDX-License-Identifier: Apache-2.0 */
/* init_slots.c - start, release and reset the slots of a sandbox. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "init/init.h"
#include "wire/proto.h"

void init_send_failed(int chan, uint32_t slot, int err, const char *text)
{
	struct sb_msg m = {
		.type = SB_MSG_FAILED, .slot = slot, .sys_errno = err};
	snprintf(m.text, sizeof m.text, "%s", text);
	sb_msg_send(chan, &m, NULL, 0);
}

static void gen_path(char *buf, size_t len, const struct init_cfg *cfg,
		     int slot, unsigned gen, const char *sub)
{
	snprintf(buf, len, "%s/s%d/g%u%s%s", cfg->scratch, slot, gen,
		 sub ? "/" : "", sub ? sub : "");
}

/* A new generation is a tmpfs of its own, sized by the profile's disk_mb:
 * the root overlay's upper layer and the workspace share that cap, so a
 * slot that fills it gets ENOSPC and its neighbours do not notice.
 * Returns 1 when made, 0 when it exists already (reset=false, or a seeded
 * generation whose dirs the daemon has filled), -1 on error. */
static int mount_gen(const struct init_cfg *cfg, const char *path)
{
	char opts[64];

	if (mkdir(path, 0700) < 0)
		return errno == EEXIST ? 0 : -1;
	snprintf(opts, sizeof opts, "mode=0700,size=%llu",
		 (unsigned long long)cfg->slot_disk_bytes);
	if (mount("slotbox-slot", path, "tmpfs", MS_NOSUID | MS_NODEV, opts) <
	    0)
		return -1;
	return 1;
}

const char *init_ws_data_dir(const struct init_cfg *cfg)
{
	return cfg->template_dir ? "wsu" : "ws";
}

/* Create the generation's dirs: upper and work for the root overlay, root
 * as its mount point, ws for the workspace, tmp and shm for /tmp and
 * /dev/shm; with a template also wsu and wsw (the workspace overlay's
 * upper and work dirs) and tpl (where the idmapped template is attached).
 * The workspace's own dir is owned by the slot's uid. */
int init_gen_make(const struct init_cfg *cfg, const struct init_slot *s,
		  unsigned gen)
{
	static const char *const subs[] = {"tmp",  "shm",  "upper",
					   "work", "root", "ws",
					   "wsu",  "wsw",  "tpl"};
	size_t n = cfg->template_dir ? 9 : 6;
	char path[4200];

	gen_path(path, sizeof path, cfg, s->index, gen, NULL);
	int made = mount_gen(cfg, path);
	if (made <= 0)
		return made;
	for (size_t i = 0; i < n; i++) {
		gen_path(path, sizeof path, cfg, s->index, gen, subs[i]);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -1;
		/* tmp and shm: sticky and world-writable, as usual */
		if (i < 2 && chmod(path, 01777) < 0)
			return -1;
	}
	gen_path(path, sizeof path, cfg, s->index, gen, init_ws_data_dir(cfg));
	uid_t uid = cfg->uid_base + (uid_t)s->index;
	if (chown(path, uid, uid) < 0 || chmod(path, 0700) < 0)
		return -1;
	return 1;
}

static int make_gen_dirs(const struct init_cfg *cfg, const struct init_slot *s)
{
	return init_gen_make(cfg, s, s->gen) < 0 ? -1 : 0;
}

int init_slots_setup(const struct init_cfg *cfg, struct init_slot *slots)
{
	char path[4200];

	for (int i = 0; i < cfg->n_slots; i++) {
		struct init_slot *s = &slots[i];
		memset(s, 0, sizeof *s);
		s->index = i;
		s->cg_fd = -1;
		s->line = -1;
		s->ns_sock = -1;
		snprintf(path, sizeof path, "%s/s%d", cfg->scratch, i);
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -1;
		if (cfg->cg_fd >= 0) {
			char name[16];
			snprintf(name, sizeof name, "s%d", i);
			if (mkdirat(cfg->cg_fd, name, 0755) < 0 &&
			    errno != EEXIST)
				return -1;
			s->cg_fd = openat(cfg->cg_fd, name,
					  O_DIRECTORY | O_RDONLY | O_CLOEXEC);
			if (s->cg_fd < 0)
				return -1;
		}
	}
	return 0;
}

static void close_ns(int ns[2])
{
	for (int i = 0; i < 2; i++)
		if (ns[i] >= 0)
			close(ns[i]);
	ns[0] = ns[1] = -1;
}

/* network: egress: generations of slot i take links 4i .. 4i + 3 in turn,
 * so that a new pair's name and addresses are free while the last ones are
 * still being torn down (slot_veth.c). */
static unsigned next_link(struct init_slot *s)
{
	return 4 * (unsigned)s->index + (s->nets++ & 3);
}

int init_slot_prepare_ns(const struct init_cfg *cfg, struct init_slot *s)
{
	return slot_ns_prepare(cfg, next_link(s));
}

/* The leader, born in its slot's group where the kernel can
 * (calltree_clone_into), as a spare is (spare.c): a leader that writes
 * itself into a v2 cgroup.procs takes the kernel's global
 * cgroup_threadgroup_rwsem for writing, which holds off every fork and
 * exit on the host while it waits for an RCU grace period. (v1
 * hierarchies are still joined by the leader: init_cgroup.c.) Fork
 * semantics either way: 0 in the child. */
static pid_t clone_leader(const struct init_cfg *cfg, const struct init_slot *s,
			  unsigned long flags, bool *born_in_group)
{
	*born_in_group = false;
	if (s->cg_fd >= 0 && cfg->cg_mode == CG_V2) {
		pid_t pid = calltree_clone_into(s->cg_fd, flags);
		if (pid >= 0 || errno != ENOSYS) {
			*born_in_group = pid == 0;
			return pid;
		}
	}
	return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL,
			      NULL);
}

int init_slot_spawn(const struct init_cfg *cfg, struct init_slot *s)
{
	int sv[2], line[2];
	int ns[2] = {-1, -1}; /* made ahead (init_slot_release) */

	if (make_gen_dirs(cfg, s) < 0)
		return -1;
	/* network: egress: only init's side can make the veth pair, so
	 * every generation's namespaces come from slot_ns_prepare (made
	 * ahead, below, but for the first). */
	if (cfg->egress && s->ns_sock < 0)
		s->ns_sock = slot_ns_prepare(cfg, next_link(s));
	if (s->ns_sock >= 0 && slot_ns_take(s->ns_sock, ns) < 0)
		ns[0] = ns[1] = -1;
	s->ns_sock = -1;
	if (cfg->egress && ns[0] < 0) {
		errno = ENETUNREACH; /* "restart slot N: ..." */
		return -1;
	}
	unsigned long flags = ns[0] >= 0
				      ? CLONE_NEWNS | CLONE_NEWPID
				      : (unsigned long)slot_ns_clone_flags(cfg);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		close_ns(ns);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, line) < 0) {
		close(sv[0]);
		close(sv[1]);
		close_ns(ns);
		return -1;
	}
	/* A raw clone gives fork semantics plus the new namespaces: the
	 * leader is PID 1 of the slot's pid namespace, so killing it kills
	 * every process the slot ever started; its IPC and network
	 * namespaces are the generation's own (slot_ns.c). */
	bool in_group;
	pid_t pid = clone_leader(cfg, s, flags, &in_group);
	if (pid < 0) {
		close_ns(ns);
		close(sv[0]);
		close(sv[1]);
		close(line[0]);
		close(line[1]);
		return -1;
	}
	if (pid == 0) {
		struct sb_err err = {0};
		close(sv[0]);
		close(line[0]);
		close(INIT_CTL_FD);
		if (ns[0] >= 0 && slot_ns_enter(cfg, ns) < 0) {
			init_send_failed(sv[1], (uint32_t)s->index, errno,
					 "enter the slot's namespaces");
			_exit(1);
		}
		close_ns(ns);
		int joined = init_cg_join_slot(cfg, s, in_group, &err);
		if (joined < 0) {
			init_send_failed(sv[1], (uint32_t)s->index, errno,
					 err.msg);
			_exit(1);
		}
		static struct leader_cfg lc;
		lc.cg_joined = joined;
		lc.init = cfg;
		lc.index = s->index;
		lc.uid = cfg->uid_base + (uid_t)s->index;
		lc.gen = s->gen;
		lc.chan = sv[1];
		lc.line = line[1];
		lc.cg_fd = s->cg_fd;
		gen_path(lc.gen_dir, sizeof lc.gen_dir, cfg, s->index, s->gen,
			 NULL);
		leader_main(&lc);
	}
	close(sv[1]);
	close(line[1]);
	close_ns(ns);
	/* The next generation's veth pair takes milliseconds to make (more
	 * while the kernel tears others down): made now, while this one
	 * runs, so that a release finds it ready. */
	if (cfg->egress)
		s->ns_sock = slot_ns_prepare(cfg, next_link(s));
	s->leader = pid;
	s->line = line[0];
	struct sb_msg m = {.type = SB_MSG_SLOT_CHANNEL,
			   .slot = (uint32_t)s->index,
			   .gen = s->gen};
	int r = sb_msg_send(INIT_CTL_FD, &m, &sv[0], 1);
	close(sv[0]);
	return r;
}

/* A generation is its own tmpfs: detaching it frees every byte at once,
 * so the next lease never waits for a large workspace to be deleted. */
void init_gen_discard(const struct init_cfg *cfg, const struct init_slot *s)
{
	char path[4200];

	gen_path(path, sizeof path, cfg, s->index, s->gen, NULL);
	if (umount2(path, MNT_DETACH) < 0 || rmdir(path) < 0)
		fprintf(stderr, "slotbox-init: discard %s: %s\n", path,
			strerror(errno));
}

void init_slot_release(const struct init_cfg *cfg, struct init_slot *s,
		       uint32_t flags)
{
	bool seed = (flags & SB_RELEASE_SEED) != 0;
	s->respawn = true;
	s->reset = s->reset || seed || (flags & SB_RELEASE_RESET);
	s->seed = seed; /* the latest request wins */
	if (s->leader > 0) {
		kill(s->leader, SIGKILL);
		/* The next leader's namespaces are made while this one
		 * dies (slot_ns.c). */
		if (s->ns_sock < 0)
			s->ns_sock = slot_ns_prepare(cfg, next_link(s));
		return; /* respawned once reaped */
	}
	/* No leader: never started, or a generation waiting for its seed,
	 * which this release drops. */
	s->seeding = false;
	init_slot_reaped(cfg, s);
}

/* Make the next generation and let the daemon fill its workspace before
 * a leader mounts it; a failure is reported in the SEED_READY itself. */
static void seed_ready(const struct init_cfg *cfg, struct init_slot *s)
{
	struct sb_msg m = {.type = SB_MSG_SEED_READY,
			   .slot = (uint32_t)s->index,
			   .gen = s->gen};
	if (make_gen_dirs(cfg, s) < 0) {
		m.sys_errno = errno ? errno : EIO;
		snprintf(m.text, sizeof m.text, "make generation %u: %s",
			 s->gen, strerror(m.sys_errno));
	} else {
		s->seeding = true;
	}
	sb_msg_send(INIT_CTL_FD, &m, NULL, 0);
}

static void spawn_or_report(const struct init_cfg *cfg, struct init_slot *s)
{
	if (init_slot_spawn(cfg, s) < 0) {
		char text[160];
		snprintf(text, sizeof text, "restart slot %d: %s", s->index,
			 strerror(errno));
		init_send_failed(INIT_CTL_FD, (uint32_t)s->index, errno, text);
	}
}

void init_slot_reaped(const struct init_cfg *cfg, struct init_slot *s)
{
	s->leader = 0;
	if (s->line >= 0)
		close(s->line);
	s->line = -1;
	if (!s->respawn)
		return; /* died on its own: the daemon sees its channel close */
	if (s->cg_fd >= 0)
		calltree_kill_slot(s->cg_fd, cfg->cg_mode);
	if (s->reset) {
		init_gen_discard(cfg, s);
		s->gen++;
	}
	bool seed = s->seed;
	s->respawn = false;
	s->reset = false;
	s->seed = false;
	if (seed)
		seed_ready(cfg, s);
	else
		spawn_or_report(cfg, s);
}

void init_slot_seeded(const struct init_cfg *cfg, struct init_slot *s,
		      unsigned gen)
{
	/* A late SEED_DONE for a generation already dropped is ignored. */
	if (!s->seeding || s->leader > 0 || gen != s->gen)
		return;
	s->seeding = false;
	spawn_or_report(cfg, s);
}

void init_slot_line(const struct init_cfg *cfg, struct init_slot *s)
{
	struct sb_msg m;
	int fds[SB_MSG_MAX_FDS];
	size_t nfds = 0;
	struct pollfd pfd = {.fd = s->line, .events = POLLIN};

	/* The line blocks (the leader reads it so); init must not. */
	if (poll(&pfd, 1, 0) != 1)
		return;
	int r = sb_msg_recv(s->line, &m, fds, &nfds);
	if (r < 0 && (errno == EAGAIN || errno == EINTR || errno == EPROTO))
		return;
	if (r <= 0) {
		/* The leader is gone; init reaps it. */
		close(s->line);
		s->line = -1;
		return;
	}
	if (m.type == SB_MSG_REGEN && nfds == 2 && m.gen == s->gen &&
	    s->leader > 0 && !s->respawn) {
		init_regen(cfg, s, fds, m.flags);
		nfds = 0; /* taken */
	} else if (m.type == SB_MSG_REGEN) {
		init_send_failed(s->line, (uint32_t)s->index, EPROTO,
				 "regen: not for this generation");
	}
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
}
