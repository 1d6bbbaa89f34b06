/* SPDX-License-Identifier: Apache-2.0 */
/* spare.c - a slot's next call process, made ready before the call comes
 * (see spare.h). */
#include "init/spare.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init/confine.h"
#include "init/spare_child.h"
#include "init/spare_vm.h"
#include "wire/proto.h"

/* A failure before the exec, errno's (spare_child.h). */
__attribute__((noreturn)) static void spare_fail(int sock)
{
	spare_child_fail(sock, -errno);
}

static int map_payload(int fd, char **buf, size_t *len)
{
	if (sb_payload_fd_len(fd, len) < 0)
		return -1;
	*buf = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	return *buf == MAP_FAILED ? -1 : 0;
}

bool spare_call_of(const struct sb_msg *m, const char *body, size_t body_len,
		   const int *fds, size_t nfds, struct spare_call *call)
{
	bool inl = m->flags & SB_EXEC_INLINE;
	if (m->type != SB_MSG_EXEC ||
	    (inl ? nfds != 3 || body_len == 0 : nfds != 4 || body_len != 0))
		return false;
	const int *stdio = inl ? fds : fds + 1;
	*call = (struct spare_call){.payload_fd = inl ? -1 : fds[0],
				    .inline_payload = body,
				    .inline_len = body_len,
				    .stdio = {stdio[0], stdio[1], stdio[2]}};
	return true;
}

/* The call itself: its payload (inline in this process's memory, or in a
 * memfd) and stdin, stdout, stderr. */
__attribute__((noreturn)) static void run_call(int sock,
					       const struct spare_call *call)
{
	struct sb_payload p;
	/* inline: spare_main's own buffer, which the decode points into */
	char *buf = (char *)call->inline_payload;
	size_t len = call->inline_len;

	if (call->payload_fd >= 0 &&
	    map_payload(call->payload_fd, &buf, &len) < 0)
		spare_fail(sock);
	if (sb_payload_decode(buf, len, &p) < 0)
		spare_fail(sock);
	spare_child_exec(sock, call->stdio, p.cwd, p.argv, p.envp);
}

static int recv_msg_body(int sock, struct sb_msg *m, char *body, size_t cap,
			 size_t *len, int *fds, size_t *nfds)
{
	int r;
	do
		r = sb_msg_recv_body(sock, m, body, cap, len, fds, nfds);
	while (r < 0 && errno == EINTR);
	return r;
}

static int recv_msg(int sock, struct sb_msg *m, int *fds, size_t *nfds)
{
	size_t len;
	return recv_msg_body(sock, m, NULL, 0, &len, fds, nfds);
}

/* Make the next lease's namespaces and send them to the leader. */
static void send_ns(const struct spare_cfg *cfg, int sock)
{
	struct sb_msg m = {.type = SB_MSG_HELLO};
	int fds[2];
	if (cfg->make_ns(cfg->make_ns_arg, fds) < 0 ||
	    sb_msg_send(sock, &m, fds, 2) < 0)
		spare_fail(sock);
	close(fds[0]);
	close(fds[1]);
}

__attribute__((noreturn)) static void spare_main(const struct spare_cfg *cfg,
						 int sock, int dir_fd,
						 bool born_in_group)
{
	/* Without CLONE_INTO_CGROUP (cgroup v1, old kernels), a move, here
	 * before any call (v2 before Linux 5.7: one that may wait for an RCU
	 * grace period, calltree.h). */
	if (dir_fd >= 0 && !born_in_group &&
	    calltree_join(dir_fd, ".", cfg->cg_mode) < 0)
		spare_fail(sock);
	if (cfg->make_ns)
		send_ns(cfg, sock);
	spare_child_close_all_but(sock);
	struct sb_msg m;
	int fds[SB_MSG_MAX_FDS];
	size_t nfds = 0;
	/* A next lease's spare confines itself once promoted (HELLO). */
	if (cfg->make_ns && (recv_msg(sock, &m, fds, &nfds) <= 0 ||
			     m.type != SB_MSG_HELLO || nfds))
		_exit(0);
	if (confine_child(cfg->uid, cfg->filter) < 0)
		spare_fail(sock);
	/* a forked spare has memory of its own: the payload's buffer */
	static char payload[SB_PAYLOAD_INLINE_MAX];
	size_t len = 0;
	int r = recv_msg_body(sock, &m, payload, sizeof payload, &len, fds,
			      &nfds);
	if (r <= 0)
		_exit(0); /* retired by the leader, or the leader is gone */
	struct spare_call call;
	if (!spare_call_of(&m, payload, len, fds, nfds, &call)) {
		errno = EPROTO;
		spare_fail(sock);
	}
	run_call(sock, &call);
}

/* A fork, born in the call group where the kernel can
 * (calltree_clone_into; the leader is single-threaded). */
static pid_t fork_into(int dir_fd, enum cg_mode mode, bool *born_in_group)
{
	*born_in_group = false;
	if (dir_fd >= 0 && mode == CG_V2) {
		pid_t pid = calltree_clone_into(dir_fd, 0);
		if (pid >= 0 || errno != ENOSYS) {
			*born_in_group = pid >= 0;
			return pid;
		}
	}
	return fork();
}

/* A spare sharing the leader's memory where it can (not a next lease's:
 * it makes namespaces, which a process sharing memory may not), else a
 * fork; pid 0 in the forked child, which then runs spare_main. */
static pid_t clone_spare(struct spare *s, const struct spare_cfg *cfg, int sock,
			 int dir_fd, bool *born_in_group)
{
	*born_in_group = false;
	if (!cfg->make_ns && spare_vm_usable()) {
		pid_t pid = spare_vm_start(cfg, sock, dir_fd,
					   dir_fd >= 0 && cfg->cg_mode == CG_V2,
					   &s->vm);
		if (pid > 0 || errno != ENOSYS)
			return pid;
	}
	return fork_into(dir_fd, cfg->cg_mode, born_in_group);
}

static int start(struct spare *s, const struct spare_cfg *cfg, uint64_t group,
		 bool reuse)
{
	int sv[2], dir_fd = -1, err;
	bool born_in_group;

	*s = SPARE_NONE;
	if ((reuse ? calltree_open : calltree_create)(cfg->cg_fd, cfg->cg_mode,
						      group, &dir_fd) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		err = errno;
		goto undo;
	}
	pid_t pid = clone_spare(s, cfg, sv[1], dir_fd, &born_in_group);
	if (pid == 0) {
		close(sv[0]);
		spare_main(cfg, sv[1], dir_fd, born_in_group);
	}
	err = errno;
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		goto undo;
	}
	if (dir_fd >= 0)
		close(dir_fd);
	s->pid = pid;
	s->sock = sv[0];
	s->group = group;
	return 0;
undo:
	if (dir_fd >= 0)
		close(dir_fd);
	calltree_remove(cfg->cg_fd, cfg->cg_mode, group);
	errno = err;
	return -1;
}

int spare_start(struct spare *s, const struct spare_cfg *cfg, uint64_t group)
{
	return start(s, cfg, group, false);
}

int spare_start_in(struct spare *s, const struct spare_cfg *cfg, uint64_t group)
{
	return start(s, cfg, group, true);
}

int spare_take_ns(const struct spare *s, int fds[2])
{
	struct pollfd pfd = {.fd = s->sock, .events = POLLIN};
	struct sb_msg m;
	int got[SB_MSG_MAX_FDS];
	size_t n = 0;

	if (poll(&pfd, 1, 1000) != 1 || sb_msg_recv(s->sock, &m, got, &n) <= 0)
		return -1;
	if (m.type == SB_MSG_HELLO && n == 2) {
		fds[0] = got[0];
		fds[1] = got[1];
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		close(got[i]);
	errno = EPROTO;
	return -1;
}

int spare_promote(const struct spare *s)
{
	struct sb_msg m = {.type = SB_MSG_HELLO};
	return sb_msg_send(s->sock, &m, NULL, 0);
}

int spare_hand(const struct spare *s, const struct spare_call *call)
{
	if (s->vm)
		return spare_vm_hand(s->vm, s->sock, call);
	struct sb_msg m = {.type = SB_MSG_EXEC};
	if (call->payload_fd < 0) {
		m.flags = SB_EXEC_INLINE;
		return sb_msg_send_body(s->sock, &m, call->inline_payload,
					call->inline_len, call->stdio, 3);
	}
	int fds[4] = {call->payload_fd, call->stdio[0], call->stdio[1],
		      call->stdio[2]};
	return sb_msg_send(s->sock, &m, fds, 4);
}

int spare_make_next(struct spare *s, struct spare *next)
{
	struct spare_vm *vm;
	int sock;

	if (!s->vm || s->made_next) {
		errno = EALREADY;
		return -1;
	}
	s->made_next = true;
	if (spare_vm_make_next(s->vm, s->sock, &vm, &sock) < 0)
		return -1;
	*next = (struct spare){
		.sock = sock, .group = s->group, .vm = vm, .maker = s->pid};
	return 0;
}

pid_t spare_successor_pid(const struct spare *next)
{
	return next->vm ? spare_vm_born(next->vm) : 0;
}

int spare_spawn_errno(int sock)
{
	int err = 0;
	ssize_t n = recv(sock, &err, sizeof err, MSG_DONTWAIT);
	close(sock);
	return n == (ssize_t)sizeof err && err > 0 ? err : 0;
}

void spare_reaped(pid_t pid)
{
	spare_vm_reaped(pid);
}
