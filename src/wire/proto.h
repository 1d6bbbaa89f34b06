/* SPDX-License-Identifier: Apache-2.0 */
/* proto.h - messages between slotboxd, a sandbox's init and its slot leaders.
 *
 * Every channel is an AF_UNIX SOCK_SEQPACKET pair: one fixed-size message per
 * packet, file descriptors attached with SCM_RIGHTS. Fixed-size messages keep
 * parsing trivial on both sides; anything variable (a command, its
 * environment) travels in a sealed memfd passed alongside, or, for an EXEC
 * to a leader that says it can take one (SB_HELLO_INLINE), after the message
 * in the same packet when it is small (SB_PAYLOAD_INLINE_MAX): a memfd per
 * call was an eighth of the daemon's CPU time per call.
 *
 *   daemon <-> init   (one per sandbox):  CGROUPS, HELLO, SLOT_CHANNEL,
 *                                         SLOT_RELEASE, SEED_READY, SEED_DONE
 *   daemon <-> leader (one per slot):     HELLO, FAILED, EXEC, KILL, EXEC_DONE,
 *                                         RECYCLE, SIGNAL, EXEC_STARTED,
 *                                         PTY_OPEN, PTY
 *   init <-> leader (its line):           SLOT_CHANNEL, REGEN, FAILED
 */
#ifndef SLOTBOX_WIRE_PROTO_H
#define SLOTBOX_WIRE_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum sb_msg_type {
	SB_MSG_HELLO = 1,    /* init or leader is ready */
	SB_MSG_SLOT_CHANNEL, /* init -> daemon: fd = channel to slot's leader */
	SB_MSG_SLOT_RELEASE, /* daemon -> init: kill slot, flags: SB_RELEASE_*
			      */
	SB_MSG_FAILED, /* leader/init -> daemon: setup failed, text says */
	SB_MSG_EXEC, /* daemon -> leader: fds payload, stdin, stdout, stderr */
	SB_MSG_KILL, /* daemon -> leader: kill call `id`'s process tree */
	SB_MSG_EXEC_DONE, /* leader -> daemon: call `id` ended with `status` */
	SB_MSG_FILE, /* daemon -> leader: flags = op; fds params, data, out */
	SB_MSG_CGROUPS,	   /* daemon -> init, always first: fds = the sandbox's
			      group in each hierarchy besides fd 4's (cgroup v1
			      cpu, memory, pids), which the leaders join; bit
			      k of flags: the k-th is flat (init.h, cg_flat);
			      with SB_CGROUPS_SYS_NETNS the last fd is the
			      network namespace of the slots' /sys
			      (slot_ns.c) */
	SB_MSG_SEED_READY, /* init -> daemon: slot's generation `gen` is made
			      and empty, no leader runs: fill its workspace */
	SB_MSG_SEED_DONE,  /* daemon -> init: start the leader of `gen` */
	SB_MSG_RECYCLE,	   /* daemon -> leader: the lease ended and the
			      workspace stays: end every process the slot
			      started, then say HELLO (no new leader) */
	SB_MSG_NETNS,	   /* daemon -> leader: send your network namespace;
			      leader -> daemon: `id` echoed, fd = its nsfs
			      descriptor, or none and sys_errno */
	/* Added for background processes (issue 21); a leader of an older
	 * build ignores them. */
	SB_MSG_SIGNAL,	     /* daemon -> leader: signal `status` to call
				`id`'s process group */
	SB_MSG_EXEC_STARTED, /* leader -> daemon: call `id` runs as pid
				`status` (of the slot's pid namespace); only
				for an EXEC with SB_EXEC_REPORT_PID */
	SB_MSG_PTY_OPEN,     /* daemon -> leader: open a terminal of the
				slot's devpts, `status` rows << 16 | cols */
	SB_MSG_PTY,	     /* leader -> daemon: request `id`'s terminal,
				fds master, slave (none: sys_errno says why) */
	/* Added for a reset in place (issue 22). */
	SB_MSG_REGEN, /* leader -> init (its line): make generation `gen` + 1,
			 fds = the slot's pid and network namespaces;
			 init's helper -> leader: fd = the new generation's
			 mount namespace (or FAILED) */
	/* Added for slot memory groups made at a slot's first call. */
	SB_MSG_CG_JOIN, /* daemon -> leader: join the slot's groups made since
			   it started (cgroup v1), with a new spare */
};

/* File operations run in a child of the leader, as the slot's uid, inside
 * the slot's own root. The child writes a struct sb_file_reply to the out
 * pipe, then the op's data (file bytes, NUL-separated names, an archive). */
enum sb_file_op {
	SB_FILE_READ = 1,
	SB_FILE_WRITE = 2,
	SB_FILE_LIST = 3,
	SB_FILE_ARCHIVE = 4,
	SB_FILE_UNPACK = 5, /* data: an archive to extract under path */
};

enum sb_archive_format {
	SB_ARCHIVE_TAR = 0,
	SB_ARCHIVE_TAR_GZ = 1,
	SB_ARCHIVE_ZIP = 2,
};

#define SB_FILE_MAGIC 0x53424631u /* "SBF1" */
#define SB_FILE_PATH_MAX 4096

struct sb_file_req {
	uint32_t magic;
	uint32_t op;
	uint64_t max_entries;	     /* list */
	uint32_t recursive;	     /* list */
	uint32_t format;	     /* archive: enum sb_archive_format */
	char path[SB_FILE_PATH_MAX]; /* NUL-terminated */
	/* Added after path, so that a leader of an older build (adopted)
	 * reads the fields it knows and ignores these. */
	uint32_t list_long;    /* list: records "D SIZE SEC NSEC NAME" */
	uint32_t read_limited; /* read: send at most read_limit bytes */
	uint64_t max_bytes;    /* unpack: bound on the bytes unpacked */
	uint64_t read_limit;
};

struct sb_file_reply {
	uint32_t magic;
	int32_t err;   /* errno, 0 on success */
	uint64_t size; /* read: file size; write: bytes written; unpack:
			  bytes unpacked (then "ENTRIES" or, on error, a
			  message as data) */
};

/* flags in HELLO: sent on a connection that adopts a running sandbox (by
 * init, with `id` = the number of SLOT_CHANNELs that follow) or on a
 * leader's new channel. */
#define SB_HELLO_ADOPT 1u
/* flags in a leader's HELLO: it understands RECYCLE (a leader from an
 * older build, adopted, does not: its slots restart as before). */
#define SB_HELLO_RECYCLES 2u
/* flags in a leader's HELLO: the slot's root has no /bin/bash; bash calls
 * run through /bin/sh (decided once per slot generation, not per call). */
#define SB_HELLO_NO_BASH 4u
/* flags in a leader's HELLO: it understands SIGNAL, PTY_OPEN and
 * SB_EXEC_REPORT_PID (background processes and terminals, API 1.1). In
 * init's HELLO(adopt): its leaders do (a request may reach an adopted
 * slot before its leader's own HELLO on the new channel). */
#define SB_HELLO_PROCESSES 8u
/* flags in a leader's HELLO: it understands SB_RECYCLE_RESET, and `gen`
 * is the workspace generation it serves. */
#define SB_HELLO_RESETS 16u
/* flags in a leader's HELLO: it takes an EXEC whose payload follows the
 * message in its packet (SB_EXEC_INLINE); one of an older build, adopted,
 * would drop such a packet as malformed, so it gets memfds as before. */
#define SB_HELLO_INLINE 32u
/* flags in RECYCLE: the next lease starts on a new workspace generation
 * (a release with reset), made in place by the same leader. */
#define SB_CGROUPS_SYS_NETNS (1u << 16)
#define SB_RECYCLE_RESET 1u
/* flags in a leader's REGEN: send new IPC and network namespaces too
 * (network: egress, where init makes them: fds mnt, ipc, net). */
#define SB_REGEN_NEW_NS 1u
/* flags in init's REGEN answer: the new root is a chroot, entered by its
 * path once in the namespace (init/root_chroot.c); else a pivot_root. */
#define SB_REGEN_CHROOT 2u
#define SB_RELEASE_RESET 1u /* start the next lease with a fresh workspace */
/* With RESET: stop after making the new generation and answer SEED_READY;
 * the leader starts on SEED_DONE (fork, snapshot restore). A plain
 * SLOT_RELEASE instead of SEED_DONE drops the seed and starts afresh. */
#define SB_RELEASE_SEED 2u

#define SB_EXEC_SPAWN_FAILED 1u /* flags in EXEC_DONE: sys_errno says why */
#define SB_EXEC_KILLED 2u	/* the tree was killed on request */
#define SB_EXEC_REPORT_PID 4u	/* flags in EXEC: answer EXEC_STARTED */
/* flags in EXEC: the payload follows the message in the packet, and the
 * fds are stdin, stdout and stderr only */
#define SB_EXEC_INLINE 8u

struct sb_msg {
	uint32_t type;
	uint32_t slot;
	uint64_t id;
	int32_t status; /* wait status for EXEC_DONE */
	int32_t sys_errno;
	uint32_t flags;
	uint32_t gen;
	/* EXEC_DONE: rusage of the command and the descendants it waited
	 * for (CPU in microseconds, the largest resident set in KiB). */
	uint64_t cpu_user_us, cpu_sys_us, max_rss_kib;
	char text[192]; /* NUL-terminated human text (FAILED) */
};

#define SB_MSG_MAX_FDS 4

/* Calls a slot leader runs at once; the daemon holds back the EXECs past
 * this many until one of them is done (exec.c). */
#define SB_LEADER_MAX_CALLS 256

/* Send one message with up to SB_MSG_MAX_FDS descriptors. 0 or -1/errno. */
int sb_msg_send(int sock, const struct sb_msg *m, const int *fds, size_t nfds);

/* Receive one message. *nfds is set to the number received (extra ones are
 * closed). Returns 1 on a message, 0 on EOF, -1/errno on error (EAGAIN when
 * nothing is pending on a non-blocking socket). A short or malformed packet
 * is an error (EPROTO) and its fds are closed. */
int sb_msg_recv(int sock, struct sb_msg *m, int *fds, size_t *nfds);

/* One message and the bytes that follow it in its packet (at most
 * body_cap, into body; their number in *body_len). Returns as
 * sb_msg_recv; a packet with more than body_cap bytes after the message is
 * EPROTO (its fds closed). */
int sb_msg_recv_body(int sock, struct sb_msg *m, void *body, size_t body_cap,
		     size_t *body_len, int *fds, size_t *nfds);

/* Send one message followed by body[0..body_len) in the same packet. */
int sb_msg_send_body(int sock, const struct sb_msg *m, const void *body,
		     size_t body_len, const int *fds, size_t nfds);

/* The exec payload, in a memfd: a header then NUL-terminated strings:
 * cwd, argv[0..argc), envp[0..envc). */
#define SB_PAYLOAD_MAGIC 0x53425831u /* "SBX1" */
#define SB_PAYLOAD_MAX (16u << 20)
/* The largest payload sent inline (SB_EXEC_INLINE): well inside a unix
 * socket's send buffer; a larger one goes in a memfd. */
#define SB_PAYLOAD_INLINE_MAX (32u << 10)
#define SB_PAYLOAD_MAX_STRINGS 4096u

struct sb_payload_hdr {
	uint32_t magic;
	uint32_t argc;
	uint32_t envc;
	uint32_t reserved; /* written 0, ignored on read */
};

/* Decoded view into a payload buffer (pointers point into buf). */
struct sb_payload {
	const char *cwd;
	char **argv; /* argc entries + NULL */
	char **envp; /* envc entries + NULL */
};

/* Encode cwd, argv and envp (both NULL-terminated) as a payload into a
 * malloc'd *buf of *len bytes, the exact inverse of sb_payload_decode().
 * Returns 0 or -1/E2BIG (past SB_PAYLOAD_MAX or SB_PAYLOAD_MAX_STRINGS),
 * ENOMEM. */
int sb_payload_encode(const char *cwd, char *const *argv, char *const *envp,
		      char **buf, size_t *len);

/* Validate buf[0..len) and fill p; argv/envp arrays are malloc'd (free with
 * sb_payload_free). Returns 0 or -1/EPROTO/ENOMEM. */
int sb_payload_decode(char *buf, size_t len, struct sb_payload *p);

/* The size of the payload in memfd fd: 0, or -1 with errno (EPROTO when
 * it is empty or past SB_PAYLOAD_MAX). */
int sb_payload_fd_len(int fd, size_t *len);
void sb_payload_free(struct sb_payload *p);

#endif
