/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the daemon <-> init/leader wire protocol (proto.h) and of
 * the daemon's send queue (sendq.h), over real SOCK_SEQPACKET socketpairs:
 * every message type round-trips, descriptors travel and none leaks when a
 * frame is refused, short/oversize frames are errors, and the exec payload
 * encodes and decodes as exact inverses. No root needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd_helpers.h"
#include "wire/proto.h"
#include "wire/sendq.h"

static void pair(int sv[2], int flags)
{
	assert_int_equal(socketpair(AF_UNIX,
				    SOCK_SEQPACKET | SOCK_CLOEXEC | flags, 0,
				    sv),
			 0);
}

/* A message whose every field holds a value of its own. */
static struct sb_msg sample(uint32_t type)
{
	struct sb_msg m;
	memset(&m, 0, sizeof m);
	m.type = type;
	m.slot = 7 + type;
	m.id = 0x0102030405060708ull * type;
	m.status = -(int32_t)type;
	m.sys_errno = EPERM + (int32_t)type;
	m.flags = SB_HELLO_ADOPT | SB_HELLO_PROCESSES;
	m.gen = 100 + type;
	m.cpu_user_us = 11;
	m.cpu_sys_us = 22;
	m.max_rss_kib = 33;
	snprintf(m.text, sizeof m.text, "message %u", type);
	return m;
}

static void test_every_type_round_trips(void **state)
{
	(void)state;
	int sv[2];
	pair(sv, 0);
	for (uint32_t t = SB_MSG_HELLO; t <= SB_MSG_REGEN; t++) {
		struct sb_msg in = sample(t), out;
		int fds[SB_MSG_MAX_FDS];
		size_t nfds = 99;
		memset(&out, 0xAA, sizeof out);
		assert_int_equal(sb_msg_send(sv[0], &in, NULL, 0), 0);
		assert_int_equal(sb_msg_recv(sv[1], &out, fds, &nfds), 1);
		assert_int_equal(nfds, 0);
		assert_memory_equal(&in, &out, sizeof in);
	}
	close(sv[0]);
	close(sv[1]);
}

static void test_text_is_always_terminated(void **state)
{
	(void)state;
	int sv[2];
	pair(sv, 0);
	struct sb_msg in = sample(SB_MSG_FAILED), out;
	memset(in.text, 'x', sizeof in.text); /* no NUL at all */
	int fds[SB_MSG_MAX_FDS];
	size_t nfds;
	assert_int_equal(sb_msg_send(sv[0], &in, NULL, 0), 0);
	assert_int_equal(sb_msg_recv(sv[1], &out, fds, &nfds), 1);
	assert_int_equal(out.text[sizeof out.text - 1], '\0');
	assert_int_equal(strlen(out.text), sizeof out.text - 1);
	close(sv[0]);
	close(sv[1]);
}

static void test_fds_travel(void **state)
{
	(void)state;
	int sv[2];
	pair(sv, 0);
	int p[SB_MSG_MAX_FDS][2];
	int send[SB_MSG_MAX_FDS];
	for (int i = 0; i < SB_MSG_MAX_FDS; i++) {
		assert_int_equal(pipe2(p[i], O_CLOEXEC), 0);
		send[i] = p[i][1];
	}
	for (size_t k = 0; k <= SB_MSG_MAX_FDS; k++) {
		struct sb_msg in = sample(SB_MSG_EXEC), out;
		int got[SB_MSG_MAX_FDS];
		size_t n = 99;
		assert_int_equal(sb_msg_send(sv[0], &in, send, k), 0);
		assert_int_equal(sb_msg_recv(sv[1], &out, got, &n), 1);
		assert_int_equal(n, k);
		for (size_t i = 0; i < k; i++) {
			/* in order, the same files, close-on-exec */
			assert_true(same_file(got[i], send[i]));
			assert_true(fcntl(got[i], F_GETFD) & FD_CLOEXEC);
			close(got[i]);
		}
	}
	for (int i = 0; i < SB_MSG_MAX_FDS; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	close(sv[0]);
	close(sv[1]);
}

static void test_send_refuses_too_many_fds(void **state)
{
	(void)state;
	int sv[2];
	pair(sv, SOCK_NONBLOCK);
	int fds[SB_MSG_MAX_FDS + 1];
	for (int i = 0; i <= SB_MSG_MAX_FDS; i++)
		fds[i] = sv[0];
	struct sb_msg m = sample(SB_MSG_EXEC), out;
	assert_int_equal(sb_msg_send(sv[0], &m, fds, SB_MSG_MAX_FDS + 1), -1);
	assert_int_equal(errno, EINVAL);
	/* and nothing went out */
	size_t n;
	int got[SB_MSG_MAX_FDS];
	assert_int_equal(sb_msg_recv(sv[1], &out, got, &n), -1);
	assert_int_equal(errno, EAGAIN);
	close(sv[0]);
	close(sv[1]);
}

/* Send len raw bytes with nfds copies of fd attached, bypassing
 * sb_msg_send's checks (what a broken or hostile peer could send). */
static void send_raw(int sock, const void *buf, size_t len, int fd, size_t nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	assert_true(nfds <= 8);
	memset(&ctl, 0, sizeof ctl);
	if (nfds) {
		int fds[8] = {0};
		for (size_t i = 0; i < nfds; i++)
			fds[i] = fd;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	assert_int_equal(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

/* A refused frame is EPROTO and the descriptors it carried are closed. */
static void expect_refused(size_t len, size_t nfds)
{
	int sv[2], p[2];
	pair(sv, 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	char *buf = calloc(1, len + 1);
	assert_non_null(buf);
	struct sb_msg good = sample(SB_MSG_HELLO);
	memcpy(buf, &good, len < sizeof good ? len : sizeof good);
	send_raw(sv[0], buf, len, p[1], nfds);
	close(p[1]);
	struct sb_msg out;
	int got[SB_MSG_MAX_FDS] = {-1, -1, -1, -1};
	size_t n = 99;
	errno = 0;
	assert_int_equal(sb_msg_recv(sv[1], &out, got, &n), -1);
	assert_int_equal(errno, EPROTO);
	assert_int_equal(n, 0);
	assert_true(pipe_at_eof(p[0]));
	/* the channel goes on: the next good frame is read */
	assert_int_equal(sb_msg_send(sv[0], &good, NULL, 0), 0);
	assert_int_equal(sb_msg_recv(sv[1], &out, got, &n), 1);
	assert_int_equal(out.type, SB_MSG_HELLO);
	free(buf);
	close(p[0]);
	close(sv[0]);
	close(sv[1]);
}

static void test_short_frame(void **state)
{
	(void)state;
	expect_refused(sizeof(struct sb_msg) - 1, 0);
	expect_refused(sizeof(struct sb_msg) - 1, 2);
	expect_refused(1, 1);
	expect_refused(offsetof(struct sb_msg, text), 0);
}

static void test_oversize_frame(void **state)
{
	(void)state;
	expect_refused(sizeof(struct sb_msg) + 1, 0);
	expect_refused(sizeof(struct sb_msg) + 1, 3);
	expect_refused(sizeof(struct sb_msg) * 4, 0);
}

static void test_too_many_fds_received(void **state)
{
	(void)state;
	expect_refused(sizeof(struct sb_msg), SB_MSG_MAX_FDS + 1);
	expect_refused(sizeof(struct sb_msg), 8);
}

static void test_empty_frame_with_fds(void **state)
{
	(void)state;
	/* zero bytes with descriptors is not EOF but a malformed frame */
	expect_refused(0, 1);
}

/* An EXEC with its payload inline (SB_EXEC_INLINE): the bytes after the
 * message arrive whole, with their descriptors; a plain receive refuses
 * such a packet (a leader of an older build drops it, which is why the
 * daemon sends them only to a leader that says SB_HELLO_INLINE). */
static void test_body_round_trips(void **state)
{
	(void)state;
	int sv[2], p[2];
	pair(sv, 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	static char body[SB_PAYLOAD_INLINE_MAX], got[SB_PAYLOAD_INLINE_MAX];
	for (size_t i = 0; i < sizeof body; i++)
		body[i] = (char)(i * 7 + 1);
	size_t sizes[] = {1, 221, SB_PAYLOAD_INLINE_MAX};
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		struct sb_msg in = sample(SB_MSG_EXEC), out;
		in.flags = SB_EXEC_INLINE;
		int three[3] = {p[1], p[1], p[1]}, fds[SB_MSG_MAX_FDS];
		size_t nf, len;
		assert_int_equal(
			sb_msg_send_body(sv[0], &in, body, sizes[k], three, 3),
			0);
		assert_int_equal(sb_msg_recv_body(sv[1], &out, got, sizeof got,
						  &len, fds, &nf),
				 1);
		assert_memory_equal(&in, &out, sizeof in);
		assert_int_equal(len, sizes[k]);
		assert_memory_equal(got, body, sizes[k]);
		assert_int_equal(nf, 3);
		for (size_t i = 0; i < nf; i++) {
			assert_true(same_file(fds[i], p[0]));
			close(fds[i]);
		}
	}
	/* a message without a body, through the body receive: none */
	struct sb_msg in = sample(SB_MSG_KILL), out;
	int fds[SB_MSG_MAX_FDS];
	size_t nf, len = 99;
	assert_int_equal(sb_msg_send(sv[0], &in, NULL, 0), 0);
	assert_int_equal(
		sb_msg_recv_body(sv[1], &out, got, sizeof got, &len, fds, &nf),
		1);
	assert_int_equal(len, 0);
	assert_memory_equal(&in, &out, sizeof in);
	/* a body where none is expected: refused, its fd closed */
	in = sample(SB_MSG_EXEC);
	assert_int_equal(sb_msg_send_body(sv[0], &in, body, 10, &p[1], 1), 0);
	assert_int_equal(sb_msg_recv(sv[1], &out, fds, &nf), -1);
	assert_int_equal(errno, EPROTO);
	assert_int_equal(nf, 0);
	/* a body longer than the buffer: refused, not cut */
	assert_int_equal(sb_msg_send_body(sv[0], &in, body, 100, &p[1], 1), 0);
	assert_int_equal(sb_msg_recv_body(sv[1], &out, got, 99, &len, fds, &nf),
			 -1);
	assert_int_equal(errno, EPROTO);
	assert_int_equal(nf, 0);
	close(p[1]);
	/* every copy of the pipe's write end is closed */
	assert_true(pipe_at_eof(p[0]));
	close(p[0]);
	close(sv[0]);
	close(sv[1]);
}

static void test_eof_and_nothing_pending(void **state)
{
	(void)state;
	int sv[2];
	pair(sv, SOCK_NONBLOCK);
	struct sb_msg out;
	int got[SB_MSG_MAX_FDS];
	size_t n;
	assert_int_equal(sb_msg_recv(sv[1], &out, got, &n), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	close(sv[0]);
	assert_int_equal(sb_msg_recv(sv[1], &out, got, &n), 0);
	assert_int_equal(n, 0);
	close(sv[1]);
}

static void test_payload_round_trip(void **state)
{
	(void)state;
	char *argv[] = {"/bin/bash", "-c", "", "echo \xc3\xa9", NULL};
	char *envp[] = {"PATH=/usr/bin", "HOME=/workspace", "EMPTY=", NULL};
	char *noenv[] = {NULL};
	char *buf;
	size_t len;
	struct sb_payload p;

	assert_int_equal(
		sb_payload_encode("/workspace", argv, envp, &buf, &len), 0);
	assert_int_equal(sb_payload_decode(buf, len, &p), 0);
	assert_string_equal(p.cwd, "/workspace");
	for (int i = 0; argv[i]; i++)
		assert_string_equal(p.argv[i], argv[i]);
	assert_null(p.argv[4]);
	for (int i = 0; envp[i]; i++)
		assert_string_equal(p.envp[i], envp[i]);
	assert_null(p.envp[3]);
	/* the decoded view points into buf, copies nothing */
	assert_true(p.cwd >= buf && p.cwd < buf + len);
	assert_true(p.envp[2] > buf && p.envp[2] < buf + len);
	sb_payload_free(&p);
	assert_null(p.argv);
	free(buf);

	assert_int_equal(sb_payload_encode("", argv, noenv, &buf, &len), 0);
	assert_int_equal(sb_payload_decode(buf, len, &p), 0);
	assert_string_equal(p.cwd, "");
	assert_null(p.envp[0]);
	sb_payload_free(&p);
	free(buf);
}

static void expect_bad_payload(char *buf, size_t len)
{
	struct sb_payload p;
	errno = 0;
	assert_int_equal(sb_payload_decode(buf, len, &p), -1);
	assert_int_equal(errno, EPROTO);
	assert_null(p.argv);
	assert_null(p.envp);
}

static void test_payload_malformed(void **state)
{
	(void)state;
	char *argv[] = {"/bin/true", "a", NULL};
	char *envp[] = {"A=1", NULL};
	char *none[] = {NULL};
	char *buf;
	size_t len;
	struct sb_payload_hdr h;

	assert_int_equal(sb_payload_encode("/", argv, envp, &buf, &len), 0);
	/* every proper prefix: a header cut short or a string without NUL */
	for (size_t l = 0; l < len; l++)
		expect_bad_payload(buf, l);
	/* a byte after the last string */
	char *more = malloc(len + 1);
	assert_non_null(more);
	memcpy(more, buf, len);
	more[len] = '\0';
	expect_bad_payload(more, len + 1);
	free(more);
	/* the last NUL replaced: the string runs off the end */
	buf[len - 1] = 'x';
	expect_bad_payload(buf, len);
	buf[len - 1] = '\0';
	/* header fields */
	memcpy(&h, buf, sizeof h);
	h.magic ^= 1;
	memcpy(buf, &h, sizeof h);
	expect_bad_payload(buf, len);
	h.magic ^= 1;
	h.argc = 3; /* more strings than there are */
	memcpy(buf, &h, sizeof h);
	expect_bad_payload(buf, len);
	h.argc = 1; /* fewer: bytes left over */
	memcpy(buf, &h, sizeof h);
	expect_bad_payload(buf, len);
	h.argc = SB_PAYLOAD_MAX_STRINGS + 1;
	memcpy(buf, &h, sizeof h);
	expect_bad_payload(buf, len);
	h.argc = 2;
	h.envc = SB_PAYLOAD_MAX_STRINGS + 1;
	memcpy(buf, &h, sizeof h);
	expect_bad_payload(buf, len);
	free(buf);

	/* no argv[0] is never a command */
	assert_int_equal(sb_payload_encode("/", none, envp, &buf, &len), 0);
	expect_bad_payload(buf, len);
	free(buf);

	/* larger than SB_PAYLOAD_MAX, even if well formed inside */
	size_t big = SB_PAYLOAD_MAX + 1;
	char *huge = calloc(1, big);
	assert_non_null(huge);
	h = (struct sb_payload_hdr){.magic = SB_PAYLOAD_MAGIC, .argc = 1};
	memcpy(huge, &h, sizeof h);
	expect_bad_payload(huge, big);
	free(huge);
}

static void test_payload_bounds(void **state)
{
	(void)state;
	char *buf = (char *)1;
	size_t len = 1;
	char *argv[] = {"/bin/true", NULL};

	/* SB_PAYLOAD_MAX_STRINGS environment strings fit, one more does not */
	char **envp = calloc(SB_PAYLOAD_MAX_STRINGS + 2, sizeof *envp);
	assert_non_null(envp);
	for (unsigned i = 0; i < SB_PAYLOAD_MAX_STRINGS; i++)
		envp[i] = "A=1";
	assert_int_equal(sb_payload_encode("/", argv, envp, &buf, &len), 0);
	struct sb_payload p;
	assert_int_equal(sb_payload_decode(buf, len, &p), 0);
	assert_string_equal(p.envp[SB_PAYLOAD_MAX_STRINGS - 1], "A=1");
	sb_payload_free(&p);
	free(buf);
	envp[SB_PAYLOAD_MAX_STRINGS] = "B=2";
	errno = 0;
	assert_int_equal(sb_payload_encode("/", argv, envp, &buf, &len), -1);
	assert_int_equal(errno, E2BIG);
	assert_null(buf);
	free(envp);

	/* bytes: a payload of exactly SB_PAYLOAD_MAX fits, one more not */
	size_t fixed = sizeof(struct sb_payload_hdr) + 2 + strlen(argv[0]) + 1;
	size_t slen = SB_PAYLOAD_MAX - fixed - 1; /* the string's own NUL */
	char *s = malloc(slen + 2);
	assert_non_null(s);
	memset(s, 'v', slen + 1);
	s[slen] = '\0';
	char *env1[] = {s, NULL};
	assert_int_equal(sb_payload_encode("/", argv, env1, &buf, &len), 0);
	assert_int_equal(len, SB_PAYLOAD_MAX);
	assert_int_equal(sb_payload_decode(buf, len, &p), 0);
	assert_int_equal(strlen(p.envp[0]), slen);
	sb_payload_free(&p);
	free(buf);
	s[slen] = 'v';
	s[slen + 1] = '\0';
	errno = 0;
	assert_int_equal(sb_payload_encode("/", argv, env1, &buf, &len), -1);
	assert_int_equal(errno, E2BIG);
	free(s);
}

/* Fill sock's peer queue until a send would block; returns how many. */
static int fill(int sock)
{
	struct sb_msg m = sample(SB_MSG_HELLO);
	int n = 0;
	while (sb_msg_send(sock, &m, NULL, 0) == 0)
		n++;
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == ENOBUFS);
	return n;
}

static void drain_n(int sock, int n)
{
	struct sb_msg m;
	int fds[SB_MSG_MAX_FDS];
	size_t nf;
	for (int i = 0; i < n; i++)
		assert_int_equal(sb_msg_recv(sock, &m, fds, &nf), 1);
}

static void test_sendq_sends_at_once_when_room(void **state)
{
	(void)state;
	int sv[2];
	pair(sv, SOCK_NONBLOCK);
	struct sb_sendq q = {0};
	struct sb_msg m = sample(SB_MSG_KILL), out;
	assert_int_equal(sb_sendq_send(&q, sv[0], &m, NULL, 0), 0);
	assert_int_equal(q.n, 0);
	int fds[SB_MSG_MAX_FDS];
	size_t nf;
	assert_int_equal(sb_msg_recv(sv[1], &out, fds, &nf), 1);
	assert_memory_equal(&m, &out, sizeof m);
	close(sv[0]);
	close(sv[1]);
}

static void test_sendq_keeps_order_and_fds(void **state)
{
	(void)state;
	int sv[2], p[2];
	pair(sv, SOCK_NONBLOCK);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	struct sb_sendq q = {0};
	int filled = fill(sv[0]);
	assert_true(filled > 0);

	/* Queued behind the full socket, each with the pipe's write end;
	 * the caller closes its own copy at once. */
	for (uint32_t i = 0; i < 5; i++) {
		struct sb_msg m = sample(SB_MSG_EXEC);
		m.id = 1000 + i;
		/* odd ones carry a body of i bytes of i, kept in the queue */
		char body[8];
		memset(body, (int)i, sizeof body);
		assert_int_equal(sb_sendq_send_body(&q, sv[0], &m, body,
						    i % 2 ? i : 0, &p[1], 1),
				 1);
	}
	assert_int_equal(q.n, 5);
	close(p[1]);
	/* A message with room again still waits its turn. */
	drain_n(sv[1], 1);
	struct sb_msg last = sample(SB_MSG_KILL);
	assert_int_equal(sb_sendq_send(&q, sv[0], &last, NULL, 0), 1);
	assert_int_equal(q.n, 6);

	drain_n(sv[1], filled - 1);
	int r;
	uint64_t want = 1000;
	while ((r = sb_sendq_flush(&q, sv[0])) >= 0) {
		struct sb_msg out;
		int fds[SB_MSG_MAX_FDS];
		size_t nf;
		char body[16];
		size_t len;
		while (sb_msg_recv_body(sv[1], &out, body, sizeof body, &len,
					fds, &nf) == 1) {
			if (want < 1005) {
				uint32_t i = (uint32_t)(want - 1000);
				assert_int_equal(out.type, SB_MSG_EXEC);
				assert_int_equal(out.id, want);
				assert_int_equal(len, i % 2 ? i : 0);
				for (size_t b = 0; b < len; b++)
					assert_int_equal(body[b], (char)i);
				assert_int_equal(nf, 1);
				/* a copy of the pipe's write end */
				assert_true(same_file(fds[0], p[0]));
				assert_int_equal(fcntl(fds[0], F_GETFL) &
							 O_ACCMODE,
						 O_WRONLY);
				close(fds[0]);
			} else {
				assert_int_equal(out.type, SB_MSG_KILL);
				assert_int_equal(nf, 0);
			}
			want++;
		}
		if (r == 0)
			break;
	}
	assert_int_equal(r, 0);
	assert_int_equal(want, 1006);
	assert_int_equal(q.n, 0);
	assert_null(q.head);
	/* every copy of the write end is gone */
	assert_true(pipe_at_eof(p[0]));
	close(p[0]);
	close(sv[0]);
	close(sv[1]);
}

static void test_sendq_bound(void **state)
{
	(void)state;
	int sv[2];
	pair(sv, SOCK_NONBLOCK);
	struct sb_sendq q = {0};
	struct sb_msg m = sample(SB_MSG_HELLO);
	fill(sv[0]);
	for (unsigned i = 0; i < SB_SENDQ_MAX; i++)
		assert_int_equal(sb_sendq_send(&q, sv[0], &m, NULL, 0), 1);
	errno = 0;
	assert_int_equal(sb_sendq_send(&q, sv[0], &m, NULL, 0), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(q.n, SB_SENDQ_MAX);
	int fd = sv[0];
	int many[SB_MSG_MAX_FDS + 1] = {fd, fd, fd, fd, fd};
	sb_sendq_clear(&q);
	errno = 0;
	assert_int_equal(sb_sendq_send(&q, sv[0], &m, many, SB_MSG_MAX_FDS + 1),
			 -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(q.n, 0);
	close(sv[0]);
	close(sv[1]);
}

static void test_sendq_clear_and_peer_gone(void **state)
{
	(void)state;
	int sv[2], p[2];
	pair(sv, SOCK_NONBLOCK);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	struct sb_sendq q = {0};
	struct sb_msg m = sample(SB_MSG_EXEC);
	fill(sv[0]);
	assert_int_equal(sb_sendq_send(&q, sv[0], &m, &p[1], 1), 1);
	assert_int_equal(sb_sendq_send(&q, sv[0], &m, &p[1], 1), 1);
	close(p[1]);
	assert_false(pipe_at_eof(p[0])); /* the queue holds copies */
	/* the peer is gone: flush fails and keeps the queue */
	close(sv[1]);
	assert_int_equal(sb_sendq_flush(&q, sv[0]), -1);
	assert_int_equal(q.n, 2);
	/* behind waiting messages a new one queues, the socket untried */
	assert_int_equal(sb_sendq_send(&q, sv[0], &m, NULL, 0), 1);
	sb_sendq_clear(&q);
	assert_int_equal(q.n, 0);
	assert_null(q.head);
	assert_null(q.tail);
	assert_true(pipe_at_eof(p[0]));
	struct sb_sendq empty = {0};
	assert_int_equal(sb_sendq_send(&empty, sv[0], &m, NULL, 0), -1);
	assert_int_equal(errno, EPIPE);
	close(p[0]);
	close(sv[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type_round_trips),
		cmocka_unit_test(test_text_is_always_terminated),
		cmocka_unit_test(test_fds_travel),
		cmocka_unit_test(test_send_refuses_too_many_fds),
		cmocka_unit_test(test_short_frame),
		cmocka_unit_test(test_oversize_frame),
		cmocka_unit_test(test_too_many_fds_received),
		cmocka_unit_test(test_empty_frame_with_fds),
		cmocka_unit_test(test_body_round_trips),
		cmocka_unit_test(test_eof_and_nothing_pending),
		cmocka_unit_test(test_payload_round_trip),
		cmocka_unit_test(test_payload_malformed),
		cmocka_unit_test(test_payload_bounds),
		cmocka_unit_test(test_sendq_sends_at_once_when_room),
		cmocka_unit_test(test_sendq_keeps_order_and_fds),
		cmocka_unit_test(test_sendq_bound),
		cmocka_unit_test(test_sendq_clear_and_peer_gone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
