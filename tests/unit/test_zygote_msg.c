/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the daemon <-> init zygote messages (wire/zygote_msg.h)
 * over real SOCK_SEQPACKET socketpairs: a request's argv and descriptors
 * arrive in their slots, malformed requests are refused with their
 * descriptors closed, the bounds hold, and answers carry a pidfd or an
 * errno. No root needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd_helpers.h"
#include "wire/zygote_msg.h"

static char buf[sizeof(struct sb_zygote_req) + SB_ZYGOTE_ARGS_MAX];
static char *argv_out[SB_ZYGOTE_ARGC_MAX + 1];

static void pair(int sv[2])
{
	assert_int_equal(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_request_round_trips_with_fds_in_their_slots(void **state)
{
	(void)state;
	int sv[2], p[2];
	pair(sv);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	char *const argv[] = {
		"/x/slotbox-init", "--id", "sb-1", "", "last", NULL};
	/* slots 0 and 2 filled, 1 and 3 empty */
	const int fds[SB_ZYGOTE_FD_COUNT] = {p[1], -1, p[0], -1};
	assert_int_equal(sb_zygote_send_req(sv[0], 0x20000ull, argv, fds), 0);
	int got[SB_ZYGOTE_FD_COUNT];
	assert_int_equal(
		sb_zygote_recv_req(sv[1], buf, sizeof buf, argv_out, got), 1);
	const struct sb_zygote_req *h = (const void *)buf;
	assert_int_equal(h->argc, 5);
	assert_int_equal(h->clone_flags, 0x20000ull);
	for (int i = 0; i < 5; i++)
		assert_string_equal(argv_out[i], argv[i]);
	assert_null(argv_out[5]);
	/* the strings follow the header back to back: the command line */
	assert_int_equal(h->len, strlen("/x/slotbox-init") + 1 + 5 + 5 + 1 + 5);
	assert_true(same_file(got[0], p[1]));
	assert_int_equal(got[1], -1);
	assert_true(same_file(got[2], p[0]));
	assert_int_equal(got[3], -1);
	assert_true(fcntl(got[0], F_GETFD) & FD_CLOEXEC);
	close(got[0]);
	close(got[2]);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

/* Send raw bytes with one write end of a pipe attached; the request must
 * be refused (EPROTO), that descriptor closed, the next good one read. */
static void expect_refused(const void *bytes, size_t len, int nfds)
{
	int sv[2], p[2];
	pair(sv);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	union {
		char b[CMSG_SPACE(sizeof(int) * 2)];
		struct cmsghdr align;
	} ctl;
	memset(&ctl, 0, sizeof ctl);
	struct iovec iov = {.iov_base = (void *)bytes, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds) {
		const int two[2] = {p[1], p[1]};
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		assert_non_null(c);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), two, sizeof(int) * (size_t)nfds);
	}
	assert_int_equal(sendmsg(sv[0], &mh, 0), (ssize_t)len);
	close(p[1]);
	int got[SB_ZYGOTE_FD_COUNT];
	errno = 0;
	assert_int_equal(
		sb_zygote_recv_req(sv[1], buf, sizeof buf, argv_out, got), -1);
	assert_int_equal(errno, EPROTO);
	for (int i = 0; i < SB_ZYGOTE_FD_COUNT; i++)
		assert_int_equal(got[i], -1);
	assert_true(pipe_at_eof(p[0]));
	char *const argv[] = {"ok", NULL};
	const int none[SB_ZYGOTE_FD_COUNT] = {-1, -1, -1, -1};
	assert_int_equal(sb_zygote_send_req(sv[0], 0, argv, none), 0);
	assert_int_equal(
		sb_zygote_recv_req(sv[1], buf, sizeof buf, argv_out, got), 1);
	assert_string_equal(argv_out[0], "ok");
	close(p[0]);
	close(sv[0]);
	close(sv[1]);
}

struct raw {
	struct sb_zygote_req h;
	char body[16];
};

static void test_malformed_requests_are_refused(void **state)
{
	(void)state;
	struct raw r = {.h = {.magic = SB_ZYGOTE_MAGIC,
			      .argc = 2,
			      .fd_slots = 1,
			      .len = 6}};
	memcpy(r.body, "ab\0cd\0", 6);
	size_t good = sizeof r.h + 6;
	expect_refused(&r, sizeof r.h - 1, 1); /* short header */
	r.h.magic = 1;
	expect_refused(&r, good, 1); /* bad magic */
	r.h.magic = SB_ZYGOTE_MAGIC;
	expect_refused(&r, good, 0);	 /* a slot without its fd */
	expect_refused(&r, good, 2);	 /* an fd without a slot */
	expect_refused(&r, good + 1, 1); /* bytes past len */
	r.h.argc = 3;
	expect_refused(&r, good, 1); /* fewer strings than argc */
	r.h.argc = 1;
	expect_refused(&r, good, 1); /* more strings than argc */
	r.h.argc = 2;
	memcpy(r.body, "ab\0cde", 6);
	expect_refused(&r, good, 1); /* last string unterminated */
	memcpy(r.body, "ab\0cd\0", 6);
	r.h.argc = 0;
	r.h.len = 0;
	expect_refused(&r, sizeof r.h, 1); /* no argv */
	r.h.argc = 2;
	r.h.len = 6;
	r.h.fd_slots = 1u << SB_ZYGOTE_FD_COUNT;
	expect_refused(&r, good, 1); /* a slot past fd 6 */
}

static void test_bounds(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	const int none[SB_ZYGOTE_FD_COUNT] = {-1, -1, -1, -1};
	char **many = calloc(SB_ZYGOTE_ARGC_MAX + 2, sizeof *many);
	assert_non_null(many);
	for (size_t i = 0; i <= SB_ZYGOTE_ARGC_MAX; i++)
		many[i] = "a";
	errno = 0;
	assert_int_equal(sb_zygote_send_req(sv[0], 0, many, none), -1);
	assert_int_equal(errno, E2BIG);
	many[SB_ZYGOTE_ARGC_MAX] = NULL; /* exactly the most */
	assert_int_equal(sb_zygote_send_req(sv[0], 0, many, none), 0);
	int got[SB_ZYGOTE_FD_COUNT];
	assert_int_equal(
		sb_zygote_recv_req(sv[1], buf, sizeof buf, argv_out, got), 1);
	assert_null(argv_out[SB_ZYGOTE_ARGC_MAX]);
	char *big = malloc(SB_ZYGOTE_ARGS_MAX + 1);
	assert_non_null(big);
	memset(big, 'x', SB_ZYGOTE_ARGS_MAX);
	big[SB_ZYGOTE_ARGS_MAX] = '\0';
	char *const one[] = {big, NULL};
	errno = 0;
	assert_int_equal(sb_zygote_send_req(sv[0], 0, one, none), -1);
	assert_int_equal(errno, E2BIG);
	char *const empty[] = {NULL};
	errno = 0;
	assert_int_equal(sb_zygote_send_req(sv[0], 0, empty, none), -1);
	assert_int_equal(errno, EINVAL);
	free(big);
	free(many);
	close(sv[0]);
	close(sv[1]);
}

static void test_replies(void **state)
{
	(void)state;
	int sv[2], p[2];
	pair(sv);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	int pid, fd, e;
	assert_int_equal(sb_zygote_send_reply(sv[0], 0, 4242, p[0]), 0);
	assert_int_equal(sb_zygote_recv_reply(sv[1], &pid, &fd, &e), 1);
	assert_int_equal(e, 0);
	assert_int_equal(pid, 4242);
	assert_true(same_file(fd, p[0]));
	close(fd);
	assert_int_equal(sb_zygote_send_reply(sv[0], EAGAIN, 0, -1), 0);
	assert_int_equal(sb_zygote_recv_reply(sv[1], &pid, &fd, &e), 1);
	assert_int_equal(e, EAGAIN);
	assert_int_equal(pid, -1);
	assert_int_equal(fd, -1);
	/* success without a pidfd is nonsense */
	struct sb_zygote_reply bad = {.magic = SB_ZYGOTE_MAGIC, .pid = 7};
	assert_int_equal(send(sv[0], &bad, sizeof bad, 0), (ssize_t)sizeof bad);
	errno = 0;
	assert_int_equal(sb_zygote_recv_reply(sv[1], &pid, &fd, &e), -1);
	assert_int_equal(errno, EPROTO);
	close(sv[0]);
	assert_int_equal(sb_zygote_recv_reply(sv[1], &pid, &fd, &e), 0);
	close(p[0]);
	close(p[1]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_request_round_trips_with_fds_in_their_slots),
		cmocka_unit_test(test_malformed_requests_are_refused),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_replies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
