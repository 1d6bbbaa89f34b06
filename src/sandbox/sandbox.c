/* SPDX-License-Identifier: Apache-2.0 */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "config/gpu_assign.h"
#include "config/seccomp_policy.h"
#include "image/image.h"
#include "sandbox/exec.h"
#include "sandbox/launcher.h"
#include "sandbox/sandbox_internal.h"
#include "sandbox/slot_pty.h"
#include "wire/proto.h"
#include "wire/sendq.h"

struct sbx_chan {
	uv_poll_t poll;
	int fd;
	struct sbx_slot *slot; /* NULL once detached */
	struct sb_sendq q;     /* messages waiting for room (sendq.h) */
};

#define CHAN_EVENTS (UV_READABLE | UV_DISCONNECT)

static void handle_closed(uv_handle_t *h)
{
	struct sandbox *sb = h->data;
	if (--sb->open_handles == 0 && sb->freeing) {
		if (sb->ctl >= 0)
			close(sb->ctl);
		sb_sendq_clear(&sb->ctl_q);
		if (sb->pidfd >= 0)
			close(sb->pidfd);
		sandbox_struct_free(sb);
	}
}

static void chan_free_cb(uv_handle_t *h)
{
	free(h->data);
}

/* Detach and close a slot's channel; the leader sees EOF and exits. */
static void chan_close(struct sbx_slot *slot)
{
	struct sbx_chan *c = slot->chan;
	sandbox_lease_end(slot); /* that leader's namespaces are gone */
	if (!c)
		return;
	slot->chan = NULL;
	c->slot = NULL;
	uv_poll_stop(&c->poll);
	sb_sendq_clear(&c->q);
	close(c->fd);
	c->poll.data = c;
	uv_close((uv_handle_t *)&c->poll, chan_free_cb);
}

static void slot_channel_lost(struct sbx_slot *slot, const char *why)
{
	chan_close(slot);
	exec_fail_all(slot, "sandbox_lost", why);
	slot_pty_fail_all(slot);
	if (slot->recycling) {
		/* the leader could not recycle the slot: init starts a new
		 * one, as a release without RECYCLE would (on a fresh
		 * generation if the release asked for a reset) */
		slot->recycling = false;
		sandbox_restart_slot(
			slot, slot->recycle_reset ? SB_RELEASE_RESET : 0);
		return;
	}
	if (slot->sb->state != SBX_DEAD)
		slot->sb->env->ops->slot_broken(slot, why);
}

static void chan_cb(uv_poll_t *h, int status, int events);

/* The leader read some of what waits for it: send more; once all is
 * sent, stop watching for room. */
static void chan_flush(struct sbx_chan *c)
{
	int r = sb_sendq_flush(&c->q, c->fd);
	if (r < 0)
		slot_channel_lost(c->slot, "slot leader exited");
	else if (r == 0)
		uv_poll_start(&c->poll, CHAN_EVENTS, chan_cb);
}

static void chan_cb(uv_poll_t *h, int status, int events)
{
	struct sbx_chan *c = h->data;
	struct sbx_slot *slot = c->slot;

	if (!slot)
		return;
	if (status == 0 && (events & UV_WRITABLE)) {
		chan_flush(c);
		if (slot->chan != c)
			return;
	}
	for (int budget = 0; budget < 64 && slot->chan == c; budget++) {
		struct sb_msg m;
		int fds[SB_MSG_MAX_FDS];
		size_t nfds = 0;
		int r = status < 0 ? -1 : sb_msg_recv(c->fd, &m, fds, &nfds);
		if (r < 0 && errno == EAGAIN)
			return;
		if (r > 0 && m.type == SB_MSG_NETNS)
			sandbox_netns_reply(slot, &m, fds, nfds);
		if (r > 0 && m.type == SB_MSG_PTY) /* takes its fds */
			slot_pty_on_reply(slot, &m, fds, nfds);
		for (size_t i = 0; i < nfds; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		if (r <= 0) {
			slot_channel_lost(slot, "slot leader exited");
			return;
		}
		switch (m.type) {
		case SB_MSG_HELLO:
			slot->recycles = (m.flags & SB_HELLO_RECYCLES) != 0;
			slot->no_bash = (m.flags & SB_HELLO_NO_BASH) != 0;
			slot->processes = (m.flags & SB_HELLO_PROCESSES) != 0;
			slot->resets = (m.flags & SB_HELLO_RESETS) != 0;
			slot->inline_payload = (m.flags & SB_HELLO_INLINE) != 0;
			/* a reset in place moved it to a new generation */
			if (slot->resets)
				slot->gen = m.gen;
			slot->recycling = false;
			slot->sb->env->ops->slot_ready(slot);
			break;
		case SB_MSG_FAILED:
			sb_log(SB_LOG_ERROR, "slot_failed", "slot", slot->id,
			       "why", m.text, SB_LOG_END);
			slot_channel_lost(slot, m.text);
			return;
		case SB_MSG_EXEC_DONE:
			exec_on_done(slot, &m);
			break;
		case SB_MSG_EXEC_STARTED:
			exec_on_started(slot, &m);
			break;
		default:
			break;
		}
	}
}

int sandbox_chan_attach(struct sbx_slot *slot, int fd)
{
	struct sbx_chan *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return -1;
	}
	c->fd = fd;
	c->slot = slot;
	/* until its leader's HELLO says so (one of an older build cannot) */
	slot->inline_payload = false;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (uv_poll_init(slot->sb->env->loop, &c->poll, fd) < 0) {
		close(fd);
		free(c);
		return -1;
	}
	c->poll.data = c;
	uv_poll_start(&c->poll, CHAN_EVENTS, chan_cb);
	slot->chan = c;
	return 0;
}

int sandbox_slot_send(struct sbx_slot *slot, const void *msg, const int *fds,
		      size_t nfds)
{
	return sandbox_slot_send_body(slot, msg, NULL, 0, fds, nfds);
}

int sandbox_slot_send_body(struct sbx_slot *slot, const void *msg,
			   const void *body, size_t body_len, const int *fds,
			   size_t nfds)
{
	if (!slot->chan) {
		errno = ENOTCONN;
		return -1;
	}
	struct sbx_chan *c = slot->chan;
	int r = sb_sendq_send_body(&c->q, c->fd, msg, body, body_len, fds,
				   nfds);
	if (r == 1)
		uv_poll_start(&c->poll, CHAN_EVENTS | UV_WRITABLE, chan_cb);
	return r < 0 ? -1 : 0;
}

static void ctl_cb(uv_poll_t *h, int status, int events);

int sandbox_ctl_send(struct sandbox *sb, const struct sb_msg *m)
{
	int r = sb_sendq_send(&sb->ctl_q, sb->ctl, m, NULL, 0);
	if (r == 1 && !sb->ctl_eof)
		uv_poll_start(&sb->ctl_poll, CHAN_EVENTS | UV_WRITABLE, ctl_cb);
	return r < 0 ? -1 : 0;
}

static void sandbox_died(struct sandbox *sb, const char *why)
{
	if (sb->state == SBX_DEAD)
		return;
	sb->state = SBX_DEAD;
	snprintf(sb->lost_reason, sizeof sb->lost_reason, "%s", why);
	uv_poll_stop(&sb->ctl_poll);
	uv_poll_stop(&sb->pid_poll);
	for (int i = 0; i < sb->n_slots; i++) {
		chan_close(&sb->slots[i]);
		exec_fail_all(&sb->slots[i], "sandbox_lost", why);
		slot_pty_fail_all(&sb->slots[i]);
	}
	sb->env->ops->sandbox_gone(sb, why);
}

static void ctl_message(struct sandbox *sb, const struct sb_msg *m, int *fds,
			size_t nfds)
{
	if (m->type == SB_MSG_HELLO) {
		sb->state = SBX_RUNNING;
		sb->up = true;
		sb->env->ops->sandbox_up(sb);
	} else if (m->type == SB_MSG_SLOT_CHANNEL && nfds == 1 &&
		   m->slot < (uint32_t)sb->n_slots) {
		struct sbx_slot *slot = &sb->slots[m->slot];
		chan_close(slot); /* the previous leader's, if any */
		int fd = fds[0];
		fds[0] = -1;
		slot->gen = m->gen;
		/* a leader that started before its memory group was made
		 * joins it now (one started after already has) */
		if (sandbox_chan_attach(slot, fd) == 0)
			sandbox_slot_limits_attached(slot);
	} else if (m->type == SB_MSG_SEED_READY &&
		   m->slot < (uint32_t)sb->n_slots) {
		struct sbx_slot *slot = &sb->slots[m->slot];
		/* A seed dropped meanwhile (released) answers late: ignore. */
		if (!slot->seeding)
			return;
		char why[sizeof m->text + 1];
		memcpy(why, m->text, sizeof m->text);
		why[sizeof m->text] = '\0';
		slot->gen = m->gen;
		sb->env->ops->slot_seed_ready(slot, m->sys_errno, why);
	} else if (m->type == SB_MSG_FAILED) {
		sb_log(SB_LOG_ERROR, "sandbox_failed", "sandbox", sb->id, "why",
		       m->text, SB_LOG_END);
		if (sb->state == SBX_STARTING) {
			sandbox_kill(sb);
			sandbox_died(sb, m->text);
		}
	}
}

static void ctl_cb(uv_poll_t *h, int status, int events)
{
	struct sandbox *sb = h->data;

	if (status == 0 && (events & UV_WRITABLE) && sb->state != SBX_DEAD) {
		/* init's end is gone when this fails: the pidfd reports it */
		if (sb_sendq_flush(&sb->ctl_q, sb->ctl) <= 0)
			uv_poll_start(&sb->ctl_poll, CHAN_EVENTS, ctl_cb);
	}

	for (int budget = 0; budget < 64 && sb->state != SBX_DEAD; budget++) {
		struct sb_msg m;
		int fds[SB_MSG_MAX_FDS];
		size_t nfds = 0;
		int r = status < 0 ? -1 : sb_msg_recv(sb->ctl, &m, fds, &nfds);
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			/* init closed its end: it is dying; the pidfd
			 * reports when it is gone. */
			sb->ctl_eof = true;
			uv_poll_stop(&sb->ctl_poll);
			return;
		}
		ctl_message(sb, &m, fds, nfds);
		for (size_t i = 0; i < nfds; i++)
			if (fds[i] >= 0)
				close(fds[i]);
	}
}

static void pid_cb(uv_poll_t *h, int status, int events)
{
	struct sandbox *sb = h->data;
	siginfo_t si;
	char why[160];
	(void)status;
	(void)events;

	memset(&si, 0, sizeof si);
	if (waitid((idtype_t)P_PIDFD, (id_t)sb->pidfd, &si, WEXITED | WNOHANG) <
	    0) {
		if (errno != ECHILD)
			return;
	} else if (si.si_pid == 0) {
		return; /* not exited yet */
	}
	if (sb->lost_reason[0])
		snprintf(why, sizeof why, "%s", sb->lost_reason);
	else if (si.si_pid == 0) /* adopted: not our child, no status */
		snprintf(why, sizeof why, "sandbox init exited");
	else if (si.si_code == CLD_EXITED)
		snprintf(why, sizeof why, "sandbox init exited with status %d",
			 si.si_status);
	else
		snprintf(why, sizeof why, "sandbox init killed by signal %d",
			 si.si_status);
	sandbox_died(sb, why);
}

/* Each slot's GPUs, "0;1,2;none" (one item per slot), for a profile that
 * chooses them per slot; NULL otherwise or out of memory. */
static char *slot_gpus_arg(const struct sandbox *sb)
{
	const struct sb_profile *p = sb->profile;
	if (!p->gpu || !gpu_per_slot_choice(p))
		return NULL;
	size_t cap = (size_t)p->slots_per_sandbox * (SB_GPU_MAX * 3 + 1) + 1;
	char *out = malloc(cap), one[SB_GPU_MAX * 3 + 8];
	size_t o = 0;
	int devs[SB_GPU_MAX];
	if (!out)
		return NULL;
	out[0] = '\0';
	for (int i = 0; i < p->slots_per_sandbox; i++) {
		int k = gpu_assign_slot(p, sb->number, i, devs);
		gpu_list_format(devs, k, one, sizeof one);
		o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? ";" : "",
				      one);
	}
	return out;
}

static void build_argv(struct sandbox *sb, char **argv, char bufs[][64],
		       char *slot_gpus, size_t max)
{
	const struct sbx_env *env = sb->env;
	const struct sb_profile *p = sb->profile;
	size_t n = 0;

	argv[n++] = (char *)env->init_path;
	argv[n++] = "--id";
	argv[n++] = sb->id;
	argv[n++] = "--scratch";
	argv[n++] = sb->scratch;
	argv[n++] = "--image";
	argv[n++] = sb->lowerdir;
	argv[n++] = "--workspace-dir";
	argv[n++] = p->workspace_dir;
	snprintf(bufs[0], 64, "%d", p->slots_per_sandbox);
	argv[n++] = "--slots";
	argv[n++] = bufs[0];
	snprintf(bufs[1], 64, "%u",
		 (unsigned)sb->uid_base +
			 (unsigned)sb->number * SBX_UIDS_PER_SANDBOX);
	argv[n++] = "--uid-base";
	argv[n++] = bufs[1];
	argv[n++] = "--cg-mode";
	argv[n++] = (char *)cg_mode_name(env->cg.mode);
	snprintf(bufs[2], 64, "%lld", (long long)p->disk_mb << 20);
	argv[n++] = "--slot-disk-bytes";
	argv[n++] = bufs[2];
	for (int i = 0; i < env->n_masks && n + 2 < max; i++) {
		argv[n++] = "--mask";
		argv[n++] = (char *)env->masks[i];
	}
	if (sb->template_id[0] && p->template_dir) {
		argv[n++] = "--template";
		argv[n++] = p->template_dir;
	}
	if (p->seccomp_fd >= 0) {
		argv[n++] = "--seccomp-fd";
		argv[n++] = "5"; /* spawn_init puts it there */
	}
	argv[n++] = "--network";
	argv[n++] = p->network;
	if (strcmp(p->network, "egress") == 0) {
		/* links 4*number*stride .. of the egress network, four per
		 * slot (slot_veth.c) */
		snprintf(bufs[5], 64, "%u",
			 4 * (unsigned)sb->number * env->egress_stride);
		snprintf(bufs[6], 64, "%u", (unsigned)p->egress_group);
		snprintf(bufs[7], 64, "%u", env->egress_instance);
		argv[n++] = "--egress-net";
		argv[n++] = (char *)env->egress_net;
		argv[n++] = "--egress-link";
		argv[n++] = bufs[5];
		argv[n++] = "--egress-group";
		argv[n++] = bufs[6];
		argv[n++] = "--egress-instance";
		argv[n++] = bufs[7];
	}
	snprintf(bufs[4], 64, "%lld", (long long)p->ptys_max);
	argv[n++] = "--ptys-max";
	argv[n++] = bufs[4];
	if (sb->userns)
		argv[n++] = "--userns";
	argv[n++] = "--slot-root";
	argv[n++] = (char *)sb_slot_root(p, env->slot_root);
	if (p->gpu) {
		argv[n++] = "--gpu";
		argv[n++] = p->gpu;
		if (slot_gpus) {
			argv[n++] = "--slot-gpus";
			argv[n++] = slot_gpus;
		}
		for (size_t i = 0; i < env->n_gpu_args && n + 12 < max; i++)
			argv[n++] = env->gpu_args[i];
	}
	if (env->uid_lock_fd >= 0) {
		argv[n++] = "--uid-lock-fd";
		argv[n++] = "6"; /* spawn_init puts it there */
	}
	if (env->orphan_timeout_s > 0) {
		argv[n++] = "--ctl-socket";
		argv[n++] = sb->ctl_path;
		snprintf(bufs[3], 64, "%d", env->orphan_timeout_s);
		argv[n++] = "--orphan-timeout";
		argv[n++] = bufs[3];
	}
	argv[n] = NULL;
}

static pid_t spawn_init(struct sandbox *sb, int ctl_child, int cg_fd,
			char **argv, int *pidfd);

/* Build init's arguments (their number grows with the GPU driver's
 * files) and start it; -1 with errno. */
static pid_t start_init(struct sandbox *sb, int ctl_child)
{
	size_t max = 56 + 2 * SBX_MAX_MASKS + sb->env->n_gpu_args;
	char **argv = calloc(max, sizeof *argv);
	char *slot_gpus = slot_gpus_arg(sb);
	pid_t pid = -1;
	/* network: egress: the sandbox's links (four per slot) must fit in the
	 * egress network's 32768 (daemon/egress.h) */
	bool egress = strcmp(sb->profile->network, "egress") == 0;
	if (egress &&
	    4 * ((unsigned)sb->number + 1) * sb->env->egress_stride > 32768u) {
		errno = EADDRNOTAVAIL;
	} else if (!argv || (sb->profile->gpu &&
			     gpu_per_slot_choice(sb->profile) && !slot_gpus)) {
		errno = ENOMEM;
	} else {
		char bufs[8][64];
		build_argv(sb, argv, bufs, slot_gpus, max);
		pid = spawn_init(sb, ctl_child, sb->cg_fd, argv, &sb->pidfd);
	}
	int saved = errno;
	free(argv);
	free(slot_gpus);
	errno = saved;
	return pid;
}

/* Through the zygote (zygote.h) when it answers; else clone3 straight
 * into the namespaces, then only async-signal-safe calls until execve:
 * the daemon may have threads (libuv's pool). */
static pid_t spawn_init(struct sandbox *sb, int ctl_child, int cg_fd,
			char **argv, int *pidfd)
{
	static char *const envp[] = {SBX_INIT_PATH_ENV, NULL};
	/* No CLONE_NEWNET: init does no networking but egress slots' veth
	 * pairs, whose host ends belong in the daemon's network namespace
	 * (slot_veth.c), and every slot generation gets a network namespace
	 * of its own (slot_ns.c); one more per sandbox would cost its
	 * creation and teardown for nothing. */
	uint64_t flags =
		CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
	const int fds[SB_ZYGOTE_FD_COUNT] = {ctl_child, cg_fd,
					     sb->profile->seccomp_fd,
					     sb->env->uid_lock_fd};
	pid_t pid = zygote_spawn(sb->env, flags, argv, fds, pidfd);
	if (pid > 0 || errno != ENOSYS)
		return pid;
	struct clone_args ca = {
		.flags = flags | CLONE_PIDFD,
		.pidfd = (uint64_t)(uintptr_t)pidfd,
		.exit_signal = SIGCHLD,
	};
	pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
	if (pid != 0)
		return pid;
	sb_signals_to_default();
	if (sb->env->nofile_set)
		setrlimit(RLIMIT_NOFILE, &sb->env->nofile);
	/* fds as init expects them (see the zygote's request above): the
	 * channel on 3, the kill group on 4, the seccomp program on 5 and
	 * the daemon's locked uid range file on 6 (the sandbox holds the
	 * range while it lives, even without us) */
	if (sb_child_fds(sb->env->devnull, fds, SB_ZYGOTE_FD_COUNT,
			 SB_ZYGOTE_FD_FIRST) < 0)
		_exit(127);
	execve(argv[0], argv, envp);
	_exit(127);
}

/* Create the sandbox's groups with the profile's limits and queue the
 * CGROUPS message, which init reads first (init_cgroup.c): the sandbox's
 * group in every hierarchy but the kill one, which goes on fd 4. */
static int open_cgroups(struct sandbox *sb, int ctl, struct sb_err *err)
{
	const struct cg_root *cg = &sb->env->cg;
	struct cg_limits lim;
	struct sb_msg m = {.type = SB_MSG_CGROUPS};
	int fds[CG_MAX_HIER], more[CG_MAX_HIER + 1];
	size_t n_more = 0;
	unsigned flat;

	sandbox_cg_limits(sb, &lim);
	if (cg_sandbox_create(cg, sb->id, sb->n_slots, &lim, fds, &flat, err) <
	    0)
		return -1;
	sb->cg_fd = fds[0];
	/* hierarchies where the sandbox needs no group send none; bit k of
	 * flags: the k-th sent is one where its slots' groups are named
	 * "<id>.s<N>" (cgroup.h) */
	for (int i = 1; i < cg->n_hier; i++) {
		if (fds[i] < 0)
			continue;
		if (flat & (1u << i))
			m.flags |= 1u << n_more;
		more[n_more++] = fds[i];
	}
	/* last: the network namespace of the slots' /sys (sys_netns.c) */
	if (sb->env->sys_netns >= 0) {
		m.flags |= SB_CGROUPS_SYS_NETNS;
		more[n_more++] = sb->env->sys_netns;
	}
	int r = sb_msg_send(ctl, &m, more, n_more);
	if (r < 0)
		sb_err_sys(err, "send the cgroups to the sandbox");
	for (int i = 1; i < CG_MAX_HIER; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return r;
}

struct sandbox *sandbox_alloc(struct sbx_env *env,
			      const struct sb_profile *profile, void *owner,
			      int number, const char *id, int n_slots)
{
	struct sandbox *sb = calloc(1, sizeof *sb);
	char hex[17];

	if (!sb)
		return NULL;
	size_t data = env->slot_data_size ? env->slot_data_size : 1;
	sb->slots = calloc((size_t)n_slots, sizeof *sb->slots);
	sb->slot_data = calloc((size_t)n_slots, data);
	if (!sb->slots || !sb->slot_data ||
	    (!id && sb_random_hex(hex, 4) < 0)) {
		free(sb->slot_data);
		free(sb->slots);
		free(sb);
		return NULL;
	}
	if (id)
		snprintf(sb->id, sizeof sb->id, "%s", id);
	else
		snprintf(sb->id, sizeof sb->id, "%s-%s", profile->name, hex);
	sb->env = env;
	sb->profile = profile;
	sb->owner = owner;
	sb->number = number;
	sb->uid_base = env->uid_base;
	sb->pidfd = sb->ctl = sb->cg_fd = -1;
	sb->created_mono = sb->idle_since = sb_now_mono();
	sb->created_wall = sb_now_wall();
	sb->n_slots = n_slots;
	for (int i = 0; i < sb->n_slots; i++) {
		struct sbx_slot *s = &sb->slots[i];
		s->sb = sb;
		s->index = i;
		s->oom_fd = -1;
		s->netns_fd = -1;
		s->owner_data = (char *)sb->slot_data + (size_t)i * data;
		s->uid = env->uid_base + (uid_t)number * SBX_UIDS_PER_SANDBOX +
			 (uid_t)i;
		snprintf(s->id, sizeof s->id, "%s_slot_%d", sb->id, i);
		s->base_len = strlen(s->id);
	}
	snprintf(sb->scratch, sizeof sb->scratch, "%s/sandboxes/%s",
		 env->state_dir, sb->id);
	sandbox_ctl_path(env, sb->id, sb->ctl_path, sizeof sb->ctl_path);
	return sb;
}

void sandbox_set_uid_base(struct sandbox *sb, uid_t base)
{
	sb->uid_base = base;
	for (int i = 0; i < sb->n_slots; i++)
		sb->slots[i].uid = base +
				   (uid_t)sb->number * SBX_UIDS_PER_SANDBOX +
				   (uid_t)i;
}

void sandbox_struct_free(struct sandbox *sb)
{
	for (size_t i = 0; i < sb->n_image_env; i++)
		free(sb->image_env[i]);
	free(sb->image_env);
	free(sb->slot_data);
	free(sb->slots);
	free(sb);
}

int sandbox_resolve_image(struct sandbox *sb, bool starting, struct sb_err *err)
{
	const char *image = sb->profile->image;
	if (strcmp(image, "host") == 0) {
		snprintf(sb->lowerdir, sizeof sb->lowerdir, "/");
		return 0;
	}
	if (strncmp(image, "dir:", 4) == 0) {
		snprintf(sb->lowerdir, sizeof sb->lowerdir, "%s", image + 4);
		return 0;
	}
	struct sb_image img;
	if (image_load(sb->env->image_store, image, &img, err) < 0)
		return -1;
	if (starting && sb->userns &&
	    image_check_userns(&img, image, err) < 0) {
		image_free(&img);
		return -1;
	}
	int rc = image_lowerdir(&img, sb->lowerdir, sizeof sb->lowerdir, err);
	if (rc == 0) {
		/* The sandbox keeps the config's environment for its calls. */
		sb->image_env = img.env;
		sb->n_image_env = img.n_env;
		img.env = NULL;
		img.n_env = 0;
	}
	image_free(&img);
	return rc;
}

void sandbox_ctl_path(const struct sbx_env *env, const char *id, char *buf,
		      size_t len)
{
	snprintf(buf, len, "%s/ctl/%s.sock", env->state_dir, id);
}

void sandbox_watch(struct sandbox *sb)
{
	fcntl(sb->ctl, F_SETFL, fcntl(sb->ctl, F_GETFL) | O_NONBLOCK);
	uv_poll_init(sb->env->loop, &sb->ctl_poll, sb->ctl);
	uv_poll_init(sb->env->loop, &sb->pid_poll, sb->pidfd);
	sb->ctl_poll.data = sb->pid_poll.data = sb;
	sb->open_handles = 2;
	uv_poll_start(&sb->ctl_poll, CHAN_EVENTS, ctl_cb);
	uv_poll_start(&sb->pid_poll, UV_READABLE, pid_cb);
}

int sandbox_start(struct sbx_env *env, const struct sb_profile *profile,
		  void *owner, int number, struct sandbox **out,
		  struct sb_err *err)
{
	*out = NULL;
	struct sandbox *sb = sandbox_alloc(env, profile, owner, number, NULL,
					   profile->slots_per_sandbox);
	if (!sb)
		return sb_err_set(err, ENOMEM, "out of memory");
	if (profile->template_dir)
		snprintf(sb->template_id, sizeof sb->template_id, "%s",
			 profile->template_id);
	sb->userns = profile->userns == 1;
	if (sandbox_resolve_image(sb, true, err) < 0) {
		sandbox_struct_free(sb);
		return -1;
	}
	/* here, not in the launcher: the scratch spares are the loop's */
	if (sandbox_scratch_make(sb) < 0) {
		sb_err_sys(err, "create %s", sb->scratch);
		sandbox_struct_free(sb);
		return -1;
	}
	sb->launching = true;
	if (launcher_submit(env, sb) < 0) {
		sb_err_sys(err, "queue the sandbox's start");
		sandbox_scratch_drop(sb);
		sandbox_struct_free(sb);
		return -1;
	}
	*out = sb;
	return 0;
}

void sandbox_launch_run(struct sandbox *sb)
{
	struct sb_err *err = &sb->launch_err;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		sb_err_sys(err, "socketpair");
		return;
	}
	/* groups made before a failure stay for sandbox_free (cg_fd) */
	pid_t pid =
		open_cgroups(sb, sv[0], err) < 0 ? -1 : start_init(sb, sv[1]);
	int e = errno;
	close(sv[1]);
	if (pid < 0) {
		if (!err->msg[0]) {
			errno = e;
			sb_err_sys(err, "clone3 sandbox");
		}
		close(sv[0]);
		return;
	}
	sb->pid = pid;
	/* Recorded so that a restarted daemon knows this pid is still this
	 * init and not a recycled number. */
	if (sb_proc_start_time(pid, &sb->start_time) < 0)
		sb->start_time = 0;
	sb->ctl = sv[0];
}

void sandbox_launch_done(struct sandbox *sb)
{
	sb->launching = false;
	if (sb->ctl < 0) {
		sb->state = SBX_DEAD;
		snprintf(sb->lost_reason, sizeof sb->lost_reason, "%s",
			 sb->launch_err.msg);
		sb->env->ops->sandbox_launched(sb, sb->lost_reason);
		return;
	}
	sandbox_watch(sb);
	sb->env->ops->sandbox_launched(sb, NULL);
	if (sb->kill_asked)
		sandbox_kill(sb);
}

int sandbox_restart_slot(struct sbx_slot *slot, uint32_t flags)
{
	struct sandbox *sb = slot->sb;
	chan_close(slot);
	slot->recycling = false;
	exec_fail_all(slot, "slot_not_leased", "the slot was released");
	slot_pty_fail_all(slot);
	slot->seeding = (flags & SB_RELEASE_SEED) != 0;
	if (sb->state == SBX_DEAD) {
		errno = ESRCH;
		return -1;
	}
	struct sb_msg m = {.type = SB_MSG_SLOT_RELEASE,
			   .slot = (uint32_t)slot->index,
			   .flags = flags};
	if (sandbox_ctl_send(sb, &m) < 0) {
		int e = errno;
		sb_log(SB_LOG_ERROR, "release_failed", "slot", slot->id, "why",
		       strerror(errno), SB_LOG_END);
		sandbox_kill(sb);
		errno = e;
		return -1;
	}
	return 0;
}

/* A release needs no new leader: the slot's leader ends every process
 * the lease started and says HELLO again, a round trip instead of a leader
 * restart (fork, mounts, a new spare); with a reset it first moves to a
 * new workspace generation (leader_regen.c), if the lease touched the
 * slot at all. Only for an idle slot: calls in flight end with a restart,
 * as before. */
static bool recycle_slot(struct sbx_slot *slot, bool reset)
{
	if (!slot->recycles || (reset && !slot->resets) || !slot->chan ||
	    slot->n_calls > 0 || slot->n_bg > 0 || slot->seeding ||
	    slot->sb->state != SBX_RUNNING)
		return false;
	struct sb_msg m = {.type = SB_MSG_RECYCLE,
			   .slot = (uint32_t)slot->index,
			   .flags = reset ? SB_RECYCLE_RESET : 0};
	slot->recycling = sandbox_slot_send(slot, &m, NULL, 0) == 0;
	slot->recycle_reset = reset;
	return slot->recycling;
}

void sandbox_release_slot(struct sbx_slot *slot, bool reset)
{
	sandbox_lease_end(slot);
	if (recycle_slot(slot, reset))
		return;
	sandbox_restart_slot(slot, reset ? SB_RELEASE_RESET : 0);
}

bool sandbox_gone(const struct sandbox *sb)
{
	if (sb->launching)
		return false; /* starting: no pid yet */
	return sb->state == SBX_DEAD ||
	       !sb_proc_running(sb->pid, sb->start_time);
}

void sandbox_kill(struct sandbox *sb)
{
	if (sb->launching) {
		sb->kill_asked = true; /* sandbox_launch_done kills it */
		return;
	}
	if (sb->pidfd >= 0 && sb->state != SBX_DEAD)
		syscall(SYS_pidfd_send_signal, sb->pidfd, SIGKILL, NULL, 0);
}

void sandbox_free(struct sandbox *sb)
{
	if (sb->cg_fd >= 0)
		close(sb->cg_fd);
	for (int i = 0; i < sb->n_slots; i++)
		if (sb->slots[i].oom_fd >= 0)
			close(sb->slots[i].oom_fd);
	launcher_remove_groups(sb->env, sb->id, sb->n_slots);
	sandbox_scratch_drop(sb);
	unlink(sb->ctl_path);
	if (sb->open_handles == 0 && sb->pidfd < 0 && sb->ctl < 0) {
		/* never watched (a tombstone): libuv holds nothing of it */
		sb_sendq_clear(&sb->ctl_q);
		sandbox_struct_free(sb);
		return;
	}
	sb->freeing = true;
	uv_close((uv_handle_t *)&sb->ctl_poll, handle_closed);
	uv_close((uv_handle_t *)&sb->pid_poll, handle_closed);
}

void sandbox_close_channels(struct sandbox *sb)
{
	for (int i = 0; i < sb->n_slots; i++)
		chan_close(&sb->slots[i]);
}

void sandbox_detach(struct sandbox *sb)
{
	for (int i = 0; i < sb->n_slots; i++) {
		exec_fail_all(&sb->slots[i], "sandbox_lost",
			      "the daemon is stopping (the sandbox is kept)");
		slot_pty_fail_all(&sb->slots[i]);
	}
	sandbox_close_channels(sb);
	if (sb->cg_fd >= 0)
		close(sb->cg_fd);
	sb->cg_fd = -1;
	sb->state = SBX_DEAD; /* for us: nothing more is reported */
	sb->freeing = true;
	uv_close((uv_handle_t *)&sb->ctl_poll, handle_closed);
	uv_close((uv_handle_t *)&sb->pid_poll, handle_closed);
}
