/* SPDX-License-Identifier: Apache-2.0 */
/* init_adopt.c - a sandbox outlives its daemon.
 *
 * When the daemon's channel closes, init does not end the sandbox: it
 * keeps the slots' leaders (and so every workspace) and waits on a unix
 * socket for a restarted daemon to reconnect. Only root may connect (the
 * socket's directory is the daemon's 0700 state dir; SO_PEERCRED is
 * checked too). The new connection becomes INIT_CTL_FD, init says HELLO
 * with SB_HELLO_ADOPT, and every live leader gets a fresh channel whose
 * other end goes to the daemon, as at start. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "init/init.h"
#include "wire/proto.h"

int init_adopt_listen(const struct init_cfg *cfg)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (!cfg->ctl_socket || strlen(cfg->ctl_socket) >= sizeof a.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strncpy(a.sun_path, cfg->ctl_socket, sizeof a.sun_path - 1);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
			0);
	if (fd < 0)
		return -1;
	unlink(cfg->ctl_socket); /* a stale one of an earlier sandbox */
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    listen(fd, 4) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int init_slot_rechannel(const struct init_cfg *cfg, struct init_slot *s)
{
	(void)cfg;
	int sv[2];
	if (s->leader <= 0 || s->line < 0)
		return 0;
	struct sb_msg to_leader = {.type = SB_MSG_SLOT_CHANNEL,
				   .slot = (uint32_t)s->index,
				   .gen = s->gen};
	struct sb_msg to_daemon = to_leader;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return sb_msg_send(INIT_CTL_FD, &to_daemon, NULL, 0);
	int r = sb_msg_send(s->line, &to_leader, &sv[1], 1);
	/* A leader that cannot take it is exiting (killed for a reset, or
	 * by someone) and not yet reaped: the daemon gets the slot without
	 * a channel, as if it had been reaped, rather than no sandbox. */
	r = sb_msg_send(INIT_CTL_FD, &to_daemon, r == 0 ? &sv[0] : NULL,
			r == 0 ? 1 : 0);
	close(sv[0]);
	close(sv[1]);
	return r;
}

/* The host's root: in the sandbox's own user namespace (userns: true)
 * it shows as the overflow uid, as every unmapped uid does; the socket's
 * dir (the daemon's 0700 state dir) keeps those others out. */
static bool peer_is_root(const struct init_cfg *cfg, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cfg->userns ? cred.uid == cfg->host_root_uid : cred.uid == 0;
}

int init_adopt_accept(const struct init_cfg *cfg, int lfd,
		      struct init_slot *slots, bool connected)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -1;
	/* One daemon at a time: a second one (or a stranger) is refused
	 * while the current channel is open. */
	if (!peer_is_root(cfg, fd) || connected) {
		close(fd);
		errno = EBUSY;
		return -1;
	}
	if (dup3(fd, INIT_CTL_FD, O_CLOEXEC) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	uint64_t live = 0;
	for (int i = 0; i < cfg->n_slots; i++)
		live += slots[i].leader > 0 && slots[i].line >= 0;
	struct sb_msg hello = {.type = SB_MSG_HELLO,
			       .slot = (uint32_t)cfg->n_slots,
			       /* this build's leaders run processes: the
				* daemon knows it before their own HELLOs */
			       .flags = SB_HELLO_ADOPT | SB_HELLO_PROCESSES,
			       .id = live};
	if (sb_msg_send(INIT_CTL_FD, &hello, NULL, 0) < 0)
		goto lost;
	for (int i = 0; i < cfg->n_slots; i++)
		if (init_slot_rechannel(cfg, &slots[i]) < 0)
			goto lost;
	fprintf(stderr, "slotbox-init %s: adopted by a restarted daemon\n",
		cfg->id);
	return 0;
lost:
	/* Back to waiting: fd 3 stays taken, as in orphaned(). */
	fd = init_devnull();
	if (fd >= 0) {
		dup3(fd, INIT_CTL_FD, O_CLOEXEC);
		close(fd);
	}
	return -1;
}
