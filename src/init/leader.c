/* SPDX-License-Identifier: Apache-2.0 */
/* leader.c - a slot's resident leader: PID 1 of the slot's pid namespace.
 *
 * It builds the slot's root, then serves EXEC and KILL requests from the
 * daemon. Each command runs in a process forked from here before the call
 * came (a spare, spare.h: no per-call setns or sandbox start), which sits
 * in a cgroup of its own so a timeout can kill its whole tree, as the
 * slot's uid, without any capability and under the profile's seccomp
 * filter (confine.h). The daemon owns the output pipes; the leader only
 * reports how the command ended. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "init/confine.h"
#include "init/fileops.h"
#include "init/init.h"
#include "init/spare.h"
#include "wire/proto.h"

#define LEADER_MAX_CALLS SB_LEADER_MAX_CALLS
#define LEADER_MAX_STALE 1024
#define LEADER_MAX_FILES 64

struct call {
	uint64_t id;	/* the daemon's */
	pid_t pid;	/* 0 = free entry */
	uint64_t group; /* its call group (calltree.h) */
	int sock;	/* from its spare: an errno if it could not exec */
	bool killed;	/* its group was killed: never used again */
};

struct leader {
	struct leader_cfg *cfg;
	struct call calls[LEADER_MAX_CALLS];
	uint64_t stale[LEADER_MAX_STALE]; /* call groups still populated */
	int n_stale;
	struct spare spare;
	struct spare_cfg scfg;
	uint64_t next_group;
	pid_t files[LEADER_MAX_FILES]; /* file tools running */
	int n_files;
	/* a file tool or a stale group did not fit in files[] or stale[]:
	 * the next recycle uses kill(-1) */
	bool untracked;
	bool no_bash; /* the slot's root has no /bin/bash */
	/* a call ran in this generation's IPC and network namespaces: a
	 * recycle must renew them (slot_ns.c) */
	bool ns_used;
	/* the lease ran a call, a file tool or a terminal, or reached the
	 * network namespace: a reset must make a new generation */
	bool dirty;
	/* the next lease's spare, in the next namespaces (spare.h) */
	struct spare next;
	/* the spare after the current one, which that one clones into its
	 * call group (spare_make_next): it lives on in the group of the call
	 * its maker took, and is the next spare if that call leaves the
	 * group to it */
	struct spare successor;
};

static void retry_stale(struct leader *l);

/* A call group that still has processes: removed once empty. */
static void add_stale(struct leader *l, uint64_t group)
{
	if (l->n_stale < LEADER_MAX_STALE)
		l->stale[l->n_stale++] = group;
	else
		l->untracked = true; /* a recycle cannot end it by group */
}

/* Forget a spare: it died, or cannot take a call. Its group goes once
 * it is empty. */
static void retire(struct leader *l, struct spare *sp)
{
	if (!sp->pid)
		return;
	kill(sp->pid, SIGKILL);
	close(sp->sock);
	add_stale(l, sp->group);
	*sp = SPARE_NONE;
}

/* Forget the successor (killed, unless it was reaped): it may be in a
 * call's group or the spare's, whose owner removes the group. Not born
 * yet, it never will be, or it finds its socket closed and exits. */
static void forget_successor(struct leader *l, bool reaped)
{
	if (l->successor.sock < 0)
		return;
	pid_t pid = spare_successor_pid(&l->successor);
	if (pid > 0 && !reaped)
		kill(pid, SIGKILL);
	close(l->successor.sock);
	l->successor = SPARE_NONE;
}

static void drop_successor(struct leader *l)
{
	forget_successor(l, false);
}

/* The spare and its successor, made in the same root and namespaces. */
static void retire_spare(struct leader *l)
{
	drop_successor(l);
	retire(l, &l->spare);
}

/* Calls run in call groups (calltree.h): then a recycle ends a lease's
 * processes group by group. */
static bool grouped(const struct leader *l)
{
	return l->cfg->cg_fd >= 0 && l->cfg->init->cg_mode != CG_NONE;
}

/* Have the spare clone its successor now, between calls. Only in call
 * groups, where the leader can tell that an ended call left its group
 * to the successor alone. A failure leaves l->successor as it was, none:
 * the leader makes the next spare itself then. */
static void make_successor(struct leader *l)
{
	if (l->spare.pid && l->successor.sock < 0 && grouped(l))
		(void)spare_make_next(&l->spare, &l->successor);
}

static uint64_t tv_us(struct timeval tv)
{
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

static void reply_done(struct leader *l, uint64_t id, int status,
		       uint32_t flags, int err, const struct rusage *ru)
{
	struct sb_msg m = {.type = SB_MSG_EXEC_DONE,
			   .slot = (uint32_t)l->cfg->index,
			   .id = id,
			   .status = status,
			   .flags = flags,
			   .sys_errno = err};
	if (ru) {
		m.cpu_user_us = tv_us(ru->ru_utime);
		m.cpu_sys_us = tv_us(ru->ru_stime);
		m.max_rss_kib = ru->ru_maxrss > 0 ? (uint64_t)ru->ru_maxrss : 0;
	}
	if (l->cfg->chan >= 0)
		sb_msg_send(l->cfg->chan, &m, NULL, 0);
}

static struct call *find_call(struct leader *l, uint64_t id)
{
	for (int i = 0; i < LEADER_MAX_CALLS; i++)
		if (l->calls[i].pid && l->calls[i].id == id)
			return &l->calls[i];
	return NULL;
}

/* The next call's process, started ahead (spare.h). */
static void next_spare(struct leader *l)
{
	if (l->spare.pid)
		return;
	if (spare_start(&l->spare, &l->scfg, l->next_group++) < 0)
		l->spare.pid = 0; /* tried again at the next call */
}

/* The next spare in `group`, which an ended call left empty: a mkdir and
 * an rmdir less per call, which the kernel pays for with the group's
 * files and its teardown after an RCU grace. Else in a new group. */
static void next_spare_in(struct leader *l, uint64_t group)
{
	if (!l->spare.pid && spare_start_in(&l->spare, &l->scfg, group) == 0)
		return;
	if (calltree_remove(l->cfg->cg_fd, l->cfg->init->cg_mode, group) < 0)
		add_stale(l, group);
	next_spare(l);
}

/* End a call's whole tree; its group is never used again (a
 * cgroup.kill'ed group may SIGKILL what is cloned into it). */
static void kill_call(struct leader *l, struct call *c)
{
	c->killed = true;
	calltree_kill(l->cfg->cg_fd, l->cfg->init->cg_mode, c->group, c->pid);
}

static void handle_exec(struct leader *l, const struct sb_msg *m,
			const struct spare_call *call)
{
	struct call *c = NULL;

	for (int i = 0; i < LEADER_MAX_CALLS && !c; i++)
		if (!l->calls[i].pid)
			c = &l->calls[i];
	if (!c) {
		reply_done(l, m->id, 0, SB_EXEC_SPAWN_FAILED, EAGAIN, NULL);
		return;
	}
	/* A spare the slot's processes killed is reaped later; one retry
	 * with a fresh spare. */
	int rc = -1, err = EAGAIN;
	for (int attempt = 0; attempt < 2 && rc < 0; attempt++) {
		errno = 0;
		next_spare(l);
		if (!l->spare.pid) {
			err = errno ? errno : EAGAIN;
			break;
		}
		rc = spare_hand(&l->spare, call);
		if (rc < 0) {
			err = errno;
			retire_spare(l);
		}
	}
	if (rc < 0) {
		reply_done(l, m->id, 0, SB_EXEC_SPAWN_FAILED, err, NULL);
		return;
	}
	l->ns_used = true;
	l->dirty = true;
	c->id = m->id;
	c->killed = false;
	c->pid = l->spare.pid;
	c->group = l->spare.group;
	c->sock = l->spare.sock;
	l->spare = SPARE_NONE;
	if ((m->flags & SB_EXEC_REPORT_PID) && l->cfg->chan >= 0) {
		struct sb_msg r = {.type = SB_MSG_EXEC_STARTED,
				   .slot = (uint32_t)l->cfg->index,
				   .id = m->id,
				   .status = c->pid};
		sb_msg_send(l->cfg->chan, &r, NULL, 0);
	}
}

/* A signal to a call's process group: the call's process leads a group
 * of its own (and a session, with a terminal: spare.c), so its group is
 * its pid. A spare handed its call right after it was made may not have
 * made its group yet: then the process itself gets it (pending until its
 * mask is cleared just before the exec, so it still ends the command). */
static void handle_signal(struct leader *l, const struct sb_msg *m)
{
	struct call *c = find_call(l, m->id);
	if (c && m->status > 0 && m->status < SIGRTMIN &&
	    kill(-c->pid, m->status) < 0 && errno == ESRCH)
		kill(c->pid, m->status);
}

/* A file tool runs in a forked child as the slot's uid, so the leader's
 * loop never waits on a large file and permissions are the slot's own.
 * The child's only output is the out pipe; the daemon reads it. */
static void handle_file(struct leader *l, int fds[3])
{
	struct sb_file_req req;
	if (pread(fds[0], &req, sizeof req, 0) != (ssize_t)sizeof req ||
	    req.magic != SB_FILE_MAGIC)
		return; /* the daemon sees EOF without a reply */
	req.path[sizeof req.path - 1] = '\0';
	l->dirty = true;
	pid_t pid = fork();
	if (pid > 0 && l->n_files < LEADER_MAX_FILES)
		l->files[l->n_files++] = pid; /* for a recycle to end */
	else if (pid > 0)
		l->untracked = true;
	if (pid != 0)
		return; /* reaped in reap_one */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	close(l->cfg->chan);
	close(l->cfg->line);
	if (confine_child(l->cfg->uid, l->cfg->init->seccomp) < 0 ||
	    chdir("/") < 0)
		_exit(1);
	struct fileops_dirs dirs = {"/", l->cfg->init->workspace_dir};
	_exit(fileops_run(&req, &dirs, fds[1], fds[2]));
}

static void retry_stale(struct leader *l)
{
	int keep = 0;
	for (int i = 0; i < l->n_stale; i++)
		if (calltree_remove(l->cfg->cg_fd, l->cfg->init->cg_mode,
				    l->stale[i]) < 0)
			l->stale[keep++] = l->stale[i];
	l->n_stale = keep;
}

/* The successor that c's process made, now that c was reaped (its pid
 * is known for good): 0 when there is none. */
static pid_t successor_of(struct leader *l, const struct call *c)
{
	if (l->successor.sock < 0 || l->successor.maker != c->pid ||
	    l->successor.group != c->group)
		return 0;
	pid_t pid = spare_successor_pid(&l->successor);
	if (pid <= 0)
		drop_successor(l); /* never born */
	return pid;
}

static void call_ended(struct leader *l, struct call *c, int status,
		       const struct rusage *ru)
{
	int err = spare_spawn_errno(c->sock);
	pid_t successor = successor_of(l, c);
	c->pid = 0;
	c->sock = -1;
	reply_done(l, c->id, status, err ? SB_EXEC_SPAWN_FAILED : 0, err, ru);
	/* The next call's process gets ready now, while the daemon answers
	 * this one: not while the call runs, when it would compete with the
	 * command for the CPU. (Made once the call had exec'd instead, it
	 * measured 3% slower here: bench/exec_ab.py, a 2-vCPU VM whose
	 * scheduler keeps a woken task on the waker's CPU.) Mostly it is
	 * there already: the successor the call's process cloned before it
	 * took the call, left alone in the call's group; it clones the next
	 * one now.
	 * Background processes of the call may live on in its group; they
	 * are killed with the slot. Remove the group once it is empty, or
	 * keep it, empty, for the next spare (not a killed one: kill_call). */
	int mode = l->cfg->init->cg_mode;
	if (!c->killed && !l->spare.pid &&
	    (successor ? calltree_holds_only(l->cfg->cg_fd, mode, c->group,
					     successor)
		       : calltree_empty(l->cfg->cg_fd, mode, c->group))) {
		if (successor) {
			/* The call may have stopped it (kill -STOP -1 reaches
			 * every process of the slot's uid): the next call
			 * would wait for it until its timeout. */
			kill(successor, SIGCONT);
			l->spare = l->successor;
			l->spare.pid = successor;
			l->successor = SPARE_NONE;
		} else {
			next_spare_in(l, c->group);
		}
		make_successor(l);
		return;
	}
	if (successor)
		drop_successor(l);
	if (calltree_remove(l->cfg->cg_fd, mode, c->group) < 0)
		add_stale(l, c->group);
	next_spare(l);
	make_successor(l);
}

/* How long the leader must have been idle, once a lease used its
 * namespaces, before it starts the next lease's spare: not at once after
 * a call, where a release that follows would wait for it (two cgroup
 * mkdirs and a fork, ~1 ms). */
#define NEXT_SPARE_IDLE_MS 20

/* The next lease's spare, which makes the next namespaces (slot_ns.c);
 * without one the recycle makes them itself, after its HELLO. */
static void next_lease_spare(struct leader *l)
{
	struct spare_cfg nc = l->scfg;
	nc.make_ns = slot_ns_make;
	nc.make_ns_arg = l->cfg->init;
	if (spare_start(&l->next, &nc, l->next_group++) < 0)
		l->next.pid = 0;
}

static void reap_pid(struct leader *l, pid_t pid, int st,
		     const struct rusage *ru)
{
	if (pid == l->spare.pid) {
		retire_spare(l);
		return;
	}
	if (pid == l->next.pid) {
		retire(l, &l->next);
		return;
	}
	if (l->successor.sock >= 0 &&
	    pid == spare_successor_pid(&l->successor)) {
		forget_successor(l, true);
		return;
	}
	for (int i = 0; i < l->n_files; i++) {
		if (l->files[i] == pid) {
			l->files[i] = l->files[--l->n_files];
			return;
		}
	}
	for (int i = 0; i < LEADER_MAX_CALLS; i++) {
		if (l->calls[i].pid == pid) {
			call_ended(l, &l->calls[i], st, ru);
			return;
		}
	}
}

/* pid was reaped: the spare (killed while waiting), its successor, a
 * file tool, a call, or an orphan (nothing to do). Spare regions go
 * last: a successor's region tells whether it was born until then. */
static void reap_one(struct leader *l, pid_t pid, int st,
		     const struct rusage *ru)
{
	reap_pid(l, pid, st, ru);
	spare_reaped(pid);
}

/* Reap every child that has ended; true when none is left at all. */
static bool reap_children(struct leader *l)
{
	int st;
	pid_t pid;
	struct rusage ru;

	while ((pid = wait4(-1, &st, WNOHANG, &ru)) > 0)
		reap_one(l, pid, st, &ru);
	bool none_left = pid < 0 && errno == ECHILD;
	retry_stale(l);
	return none_left;
}

/* What this leader's HELLO says it can do: recycle by groups, or as PID 1
 * of the slot's pid namespace (where kill(-1) reaches only the slot). */
static uint32_t hello_flags(const struct leader *l)
{
	return (grouped(l) || getpid() == 1 ? SB_HELLO_RECYCLES : 0) |
	       (l->no_bash ? SB_HELLO_NO_BASH : 0) | SB_HELLO_PROCESSES |
	       SB_HELLO_RESETS | SB_HELLO_INLINE;
}

/* How long a recycle waits for the killed to be gone before it says
 * HELLO anyway (a process stuck in the kernel is reaped later). */
#define RECYCLE_WAIT_US 2000000

static bool lease_processes_left(const struct leader *l)
{
	if (l->n_files > 0 || l->n_stale > 0)
		return true;
	for (int i = 0; i < LEADER_MAX_CALLS; i++)
		if (l->calls[i].pid)
			return true;
	return false;
}

/* SIGKILL every process the lease started. By groups: every process a
 * call started is in its call group (running, or stale: left behind
 * after the call), file tools are this leader's children; the spare, in a
 * group of its own, has run nothing yet and stays. Else kill(-1), which
 * as PID 1 of the slot's pid namespace reaches every other process in
 * it, the spare too. */
static int kill_lease_processes(struct leader *l, bool by_groups)
{
	if (!by_groups)
		return getpid() == 1 && (kill(-1, SIGKILL) == 0 ||
					 errno == ESRCH)
			       ? 0
			       : -1;
	int mode = l->cfg->init->cg_mode;
	for (int i = 0; i < LEADER_MAX_CALLS; i++)
		if (l->calls[i].pid)
			kill_call(l, &l->calls[i]);
	for (int i = 0; i < l->n_stale; i++)
		calltree_kill(l->cfg->cg_fd, mode, l->stale[i], 0);
	for (int i = 0; i < l->n_files; i++)
		kill(l->files[i], SIGKILL);
	return 0;
}

/* A lease whose calls used the slot's IPC and network namespaces leaves
 * them behind: enter new ones, those the next lease's spare made (or make
 * them now), and make that spare the slot's; the old one was made in the
 * old namespaces. Done after the HELLO that offers the slot again, off the
 * release path: the leader reads the next tenant's first request only
 * once this is done. */
static void renew_namespaces(struct leader *l)
{
	const struct init_cfg *cfg = l->cfg->init;
	struct sb_err err = {0};
	int fds[2];
	bool entered = false;

	if (!l->ns_used)
		return;
	if (l->next.pid && spare_take_ns(&l->next, fds) == 0) {
		entered = slot_ns_enter(cfg, fds) == 0;
		close(fds[0]);
		close(fds[1]);
	}
	if (slot_ns_renew(cfg, entered, &err) < 0) {
		init_send_failed(l->cfg->chan, (uint32_t)l->cfg->index, errno,
				 err.msg);
		_exit(1);
	}
	retire_spare(l);
	if (entered && spare_promote(&l->next) == 0) {
		l->spare = l->next;
		l->next = SPARE_NONE;
	} else {
		retire(l, &l->next);
	}
	l->ns_used = false;
}

/* A reset in place: new IPC and network namespaces if the lease used
 * them (as renew_namespaces), then the next workspace generation's mount
 * namespace from init (leader_regen.c). Both spares were made in the old
 * root: retired. A failure ends this leader; the daemon then restarts the
 * slot on a fresh generation, so a dirty one is never offered. */
static void regenerate(struct leader *l)
{
	const struct init_cfg *cfg = l->cfg->init;
	struct sb_err err = {.msg = "reset: new ipc/network namespace"};
	int fds[2] = {-1, -1};
	bool entered = false;
	/* network: egress: init sends them, made with their veth pair */
	bool from_init = l->ns_used && cfg->egress;

	if (l->ns_used && !from_init) {
		if (l->next.pid && spare_take_ns(&l->next, fds) == 0)
			entered = slot_ns_enter(cfg, fds) == 0;
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		fds[0] = fds[1] = -1;
		int r = entered ? 0 : slot_ns_make(cfg, fds);
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		if (r < 0)
			goto fail;
	}
	retire_spare(l);
	retire(l, &l->next);
	if (leader_regen(l->cfg, from_init, &err) < 0)
		goto fail;
	l->ns_used = false;
	l->dirty = false;
	return;
fail:
	init_send_failed(l->cfg->chan, (uint32_t)l->cfg->index,
			 errno ? errno : EIO, err.msg);
	_exit(1);
}

/* The lease ended (SB_MSG_RECYCLE): end every process it started, wait
 * until they are gone, and offer the slot again with this leader, in new
 * IPC and network namespaces if the lease ran anything. The workspace
 * stays, or with SB_RECYCLE_RESET the slot moves to a new generation
 * (regenerate); a lease that touched nothing leaves nothing to reset. A
 * failure ends this leader; the daemon then restarts the slot. */
static void recycle(struct leader *l, bool reset)
{
	bool by_groups = grouped(l) && !l->untracked;
	bool regen = reset && l->dirty;
	/* network: egress: only init can make the next namespaces' veth
	 * pair (slot_veth.c). A reset gets them with its generation; without
	 * one, ending the leader ends the lease's processes (it is PID 1 of
	 * the slot) and has the daemon restart the slot, in the namespaces
	 * init made ahead; a lease that ran nothing keeps its namespaces and
	 * is recycled as any other. */
	if (l->ns_used && !regen && l->cfg->init->egress)
		_exit(0);
	if (kill_lease_processes(l, by_groups) < 0) {
		init_send_failed(l->cfg->chan, (uint32_t)l->cfg->index,
				 errno ? errno : EPERM,
				 "recycle: cannot end the slot's processes");
		_exit(1);
	}
	for (long waited = 0; waited < RECYCLE_WAIT_US; waited += 100) {
		bool no_children = reap_children(l);
		if (by_groups ? !lease_processes_left(l) : no_children)
			break;
		usleep(100);
	}
	if (!by_groups)
		l->untracked = false; /* all gone: counted afresh */
	/* A reset offers the slot only once the new generation is there:
	 * if it cannot be made, no tenant ever got the slot. */
	if (regen)
		regenerate(l);
	struct sb_msg hello = {.type = SB_MSG_HELLO,
			       .slot = (uint32_t)l->cfg->index,
			       .gen = l->cfg->gen,
			       .flags = hello_flags(l)};
	if (sb_msg_send(l->cfg->chan, &hello, NULL, 0) < 0)
		_exit(1);
	renew_namespaces(l);
	next_spare(l);
}

/* The daemon's port proxy creates its sockets in the slot's network
 * namespace: hand it the one this lease runs in. Answered in message order,
 * so a request sent before a RECYCLE gets the old lease's namespace and
 * one sent after it the renewed one. */
static void send_netns(struct leader *l, const struct sb_msg *m)
{
	struct sb_msg r = {.type = SB_MSG_NETNS,
			   .slot = (uint32_t)l->cfg->index,
			   .id = m->id};
	int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		r.sys_errno = errno ? errno : EIO;
	l->ns_used = true; /* the daemon may reach it: renew at the end */
	l->dirty = true;
	sb_msg_send(l->cfg->chan, &r, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
	if (fd >= 0)
		close(fd);
}

/* The daemon made the slot's memory and cpu groups at its first call
 * (cgroup v1, slot_limits.c): the leader joins them, and so that the call runs
 * there too, so do the spares made before (one that cannot move is retired, and
 * the next call's made anew). A call running meanwhile stays where it
 * started. */
static void rejoin_groups(struct leader *l)
{
	const struct init_cfg *cfg = l->cfg->init;
	int mask = init_cg_rejoin_slot(cfg, l->cfg->index, &l->cfg->cg_joined);
	if (mask < 0)
		fprintf(stderr, "slotbox-init: slot %d: join its cgroups: %s\n",
			l->cfg->index, strerror(errno));
	if (mask <= 0)
		return;
	drop_successor(l); /* made before: in the old groups */
	if (l->next.pid &&
	    init_cg_move_to_slot(cfg, l->cfg->index, mask, l->next.pid) < 0)
		retire(l, &l->next);
	if (l->spare.pid &&
	    init_cg_move_to_slot(cfg, l->cfg->index, mask, l->spare.pid) < 0)
		retire_spare(l);
	next_spare(l);
}

static void handle_msg(struct leader *l)
{
	/* an inline payload, until the next message */
	static char body[SB_PAYLOAD_INLINE_MAX];
	struct sb_msg m;
	int fds[SB_MSG_MAX_FDS];
	size_t nfds = 0, body_len = 0;
	struct spare_call call;
	int r = sb_msg_recv_body(l->cfg->chan, &m, body, sizeof body, &body_len,
				 fds, &nfds);

	if (r < 0 && (errno == EAGAIN || errno == EINTR || errno == EPROTO))
		return;
	if (r <= 0) {
		/* The daemon is gone (a release also kills us, via init).
		 * Its calls' answers have nowhere to go: end them, keep the
		 * workspace, and wait on the line for a restarted daemon. */
		for (int i = 0; i < LEADER_MAX_CALLS; i++)
			if (l->calls[i].pid)
				kill_call(l, &l->calls[i]);
		close(l->cfg->chan);
		l->cfg->chan = -1;
		return;
	}
	if (spare_call_of(&m, body, body_len, fds, nfds, &call)) {
		handle_exec(l, &m, &call);
	} else if (body_len) {
		/* only an EXEC carries bytes after the message */
	} else if (m.type == SB_MSG_FILE && nfds == 3) {
		handle_file(l, fds);
	} else if (m.type == SB_MSG_RECYCLE) {
		recycle(l, (m.flags & SB_RECYCLE_RESET) != 0);
	} else if (m.type == SB_MSG_NETNS) {
		send_netns(l, &m);
	} else if (m.type == SB_MSG_SIGNAL) {
		handle_signal(l, &m);
	} else if (m.type == SB_MSG_PTY_OPEN) {
		l->dirty = true;
		leader_pty_open(l->cfg->chan, l->cfg->index, l->cfg->uid, &m);
	} else if (m.type == SB_MSG_KILL) {
		struct call *c = find_call(l, m.id);
		if (c)
			kill_call(l, c);
	} else if (m.type == SB_MSG_CG_JOIN) {
		rejoin_groups(l);
	}
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
}

/* init hands over a channel to a restarted daemon (init_adopt.c). */
static void handle_line(struct leader *l)
{
	struct sb_msg m;
	int fds[SB_MSG_MAX_FDS];
	size_t nfds = 0;
	int r = sb_msg_recv(l->cfg->line, &m, fds, &nfds);

	if (r < 0 && (errno == EAGAIN || errno == EINTR || errno == EPROTO))
		return;
	if (r <= 0)
		_exit(1); /* init is gone: so is the slot */
	if (m.type == SB_MSG_SLOT_CHANNEL && nfds == 1) {
		if (l->cfg->chan >= 0)
			close(l->cfg->chan);
		l->cfg->chan = fds[0];
		struct sb_msg hello = {.type = SB_MSG_HELLO,
				       .slot = (uint32_t)l->cfg->index,
				       .gen = l->cfg->gen,
				       .flags =
					       SB_HELLO_ADOPT | hello_flags(l)};
		sb_msg_send(l->cfg->chan, &hello, NULL, 0);
		return;
	}
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
}

/* The slot's root was built on this stack, path and option buffers of
 * several KiB a call deep: the leader gives those pages back before it
 * settles into its loop, which needs few of them. Otherwise an idle
 * slot keeps some 60 KiB of dead stack for its life. What lies below the
 * stack pointer is dead (past the ABI's red zone, kept well clear of
 * here); a page touched again comes back zeroed. The span stays within
 * the gap the kernel leaves below the stack (at least 128 MiB). */
#define STACK_TRIM_KEEP (16 * 1024)
#define STACK_TRIM_SPAN (1024 * 1024)

__attribute__((noinline)) static void stack_trim(void)
{
	volatile char here = 0;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t top = ((uintptr_t)&here - STACK_TRIM_KEEP) & ~(page - 1);
	/* unmapped parts of the span make it fail with ENOMEM, after the
	 * mapped part is done */
	(void)madvise((void *)(top - STACK_TRIM_SPAN), STACK_TRIM_SPAN,
		      MADV_DONTNEED);
}

void leader_main(struct leader_cfg *lc)
{
	static struct leader l;
	struct sb_err err = {0};
	sigset_t mask;

	l.cfg = lc;
	l.scfg = (struct spare_cfg){.cg_fd = lc->cg_fd,
				    .cg_mode = lc->init->cg_mode,
				    .uid = lc->uid,
				    .filter = lc->init->seccomp};
	l.spare = SPARE_NONE;
	l.next = SPARE_NONE;
	l.successor = SPARE_NONE;
	/* Call group names must not meet a group an earlier generation of
	 * the slot left behind: start from the clock. */
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	l.next_group =
		(uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_DFL); /* init ignores it; commands must not */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	/* Before the first command: the bounding set is inherited, so
	 * emptying it here holds for everything the slot ever runs. */
	if (sfd < 0 || slot_ns_setup(lc->init, &err) < 0 ||
	    mounts_setup_slot_root(lc, true, &err) < 0 ||
	    confine_leader(&err) < 0) {
		if (!err.msg[0])
			sb_err_sys(&err, "signalfd");
		init_send_failed(lc->chan, (uint32_t)lc->index, errno, err.msg);
		_exit(1);
	}
	/* An image without bash (busybox, alpine): the daemon then runs
	 * bash calls through /bin/sh. Looked up once, in the slot's root. */
	l.no_bash = access("/bin/bash", X_OK) != 0;
	struct sb_msg hello = {.type = SB_MSG_HELLO,
			       .slot = (uint32_t)lc->index,
			       .gen = lc->gen,
			       .flags = hello_flags(&l)};
	if (sb_msg_send(lc->chan, &hello, NULL, 0) < 0)
		_exit(1);
	/* No spare until the slot's first call: an idle slot holds only its
	 * leader (a spare is a process, a kernel stack, a seccomp program and
	 * a call group, some 60 KiB). The first call makes one (handle_exec),
	 * as it makes the slot's memory and cpu groups (slot_limits.c); each
	 * call after it finds the next one ready. */
	stack_trim();
	for (;;) {
		struct pollfd pfd[3] = {{.fd = lc->chan, .events = POLLIN},
					{.fd = sfd, .events = POLLIN},
					{.fd = lc->line, .events = POLLIN}};
		bool want_next = l.ns_used && !l.next.pid && !lc->init->egress;
		int n = poll(pfd, 3, want_next ? NEXT_SPARE_IDLE_MS : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (n == 0 && want_next)
			next_lease_spare(&l);
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == sizeof si)
				;
			reap_children(&l);
		}
		if (lc->chan >= 0 &&
		    (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			handle_msg(&l);
		if (pfd[2].revents & (POLLIN | POLLHUP | POLLERR))
			handle_line(&l);
	}
}
