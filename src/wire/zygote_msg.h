/* SPDX-License-Identifier: Apache-2.0 */
/* zygote_msg.h - slotboxd <-> the init zygote (sandbox/zygote.h).
 *
 * One AF_UNIX SOCK_SEQPACKET pair. The daemon asks for a sandbox init with
 * one packet: a header, then argc NUL-terminated strings (init's argv, the
 * bytes its /proc/<pid>/cmdline will show), and the descriptors that go to
 * fds 3..6 of the new init attached (SCM_RIGHTS) in that order, for each
 * bit set in fd_slots. The zygote answers one packet: the new init's pid
 * (in the daemon's pid namespace) with its pidfd attached, or an errno. */
#ifndef SLOTBOX_WIRE_ZYGOTE_MSG_H
#define SLOTBOX_WIRE_ZYGOTE_MSG_H

#include <stddef.h>
#include <stdint.h>

#define SB_ZYGOTE_MAGIC 0x53425a31u /* "SBZ1" */
/* The zygote's first packet, alone: it is one (an older slotbox-init,
 * which has no --zygote, exits without it). */
#define SB_ZYGOTE_HELLO 0x53425a48u /* "SBZH" */
#define SB_ZYGOTE_ARGS_MAX (64u << 10)
#define SB_ZYGOTE_ARGC_MAX 1024u
/* the target fds a request can fill: 3, 4, 5 and 6 */
#define SB_ZYGOTE_FD_FIRST 3
#define SB_ZYGOTE_FD_COUNT 4

struct sb_zygote_req {
	uint32_t magic;
	uint32_t argc;
	uint64_t clone_flags; /* namespaces of the new init */
	uint32_t fd_slots;    /* bit i: an fd for SB_ZYGOTE_FD_FIRST + i */
	uint32_t len;	      /* bytes of argv strings that follow */
};

struct sb_zygote_reply {
	uint32_t magic;
	int32_t sys_errno; /* 0: pid is the new init, its pidfd attached */
	int32_t pid;
	uint32_t reserved;
};

/* Send a request: argv (NULL-terminated) and fds[i] for every slot i with
 * fds[i] >= 0. 0, or -1/errno (E2BIG past the bounds above). */
int sb_zygote_send_req(int sock, uint64_t clone_flags, char *const *argv,
		       const int fds[SB_ZYGOTE_FD_COUNT]);

/* Receive a request into buf (at least sizeof(struct sb_zygote_req) +
 * SB_ZYGOTE_ARGS_MAX bytes): the header at buf, argv pointers into buf
 * in argv[0..argc) (argv has SB_ZYGOTE_ARGC_MAX + 1 entries, NULL after
 * the last), fds[i] for every slot in fd_slots, -1 for the others.
 * 1 on a request, 0 on EOF, -1/errno (EPROTO: malformed, its fds closed). */
int sb_zygote_recv_req(int sock, char *buf, size_t len, char **argv,
		       int fds[SB_ZYGOTE_FD_COUNT]);

/* The answer: pidfd attached when sys_errno is 0. 0 or -1/errno. */
int sb_zygote_send_reply(int sock, int sys_errno, int pid, int pidfd);

/* 1 on an answer: *sys_errno 0 and *pid, *pidfd, or the zygote's errno
 * in *sys_errno; 0 on EOF; -1/errno (EPROTO: malformed). */
int sb_zygote_recv_reply(int sock, int *pid, int *pidfd, int *sys_errno);

#endif
