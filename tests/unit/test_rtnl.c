/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of rtnetlink requests (src/init/rtnl.c): the bytes a nested
 * request is made of, a request too big for its buffer, the kernel's
 * acks read back, and (as root, in a network namespace of its own) a
 * real request the kernel answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init/rtnl.h"

static const struct nlattr *attr_at(const struct rtnl_msg *m, size_t off)
{
	return (const struct nlattr *)(m->buf + off);
}

/* A link request with a nest: every length and every pad as the kernel
 * reads them (what libmnl made before). */
static void test_nested_layout(void **state)
{
	(void)state;
	struct rtnl_msg m;
	rtnl_start(&m, RTM_NEWLINK, NLM_F_CREATE);
	struct ifinfomsg *ifm = rtnl_extra(&m, sizeof *ifm);
	assert_non_null(ifm);
	ifm->ifi_family = AF_UNSPEC;
	rtnl_put_strz(&m, IFLA_IFNAME, "abcde"); /* 6 bytes, padded to 8 */
	size_t info = rtnl_nest_start(&m, IFLA_LINKINFO);
	rtnl_put_strz(&m, IFLA_INFO_KIND, "veth");
	rtnl_put_u32(&m, IFLA_GROUP, 7);
	rtnl_nest_end(&m, info);
	assert_false(m.overflow);

	size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof *ifm);
	const struct nlattr *name = attr_at(&m, off);
	assert_int_equal(name->nla_type, IFLA_IFNAME);
	assert_int_equal(name->nla_len, NLA_HDRLEN + 6);
	assert_string_equal((const char *)name + NLA_HDRLEN, "abcde");
	/* the pad is zeroed */
	assert_int_equal(((const char *)name)[NLA_HDRLEN + 6], 0);
	assert_int_equal(((const char *)name)[NLA_HDRLEN + 7], 0);

	off += NLA_HDRLEN + 8;
	assert_int_equal(off, info);
	const struct nlattr *nest = attr_at(&m, off);
	assert_int_equal(nest->nla_type, IFLA_LINKINFO | NLA_F_NESTED);
	/* kind "veth" (4 + 5, padded to 12) and a u32 (4 + 4) */
	assert_int_equal(nest->nla_len, NLA_HDRLEN + 12 + 8);
	const struct nlattr *kind = attr_at(&m, off + NLA_HDRLEN);
	assert_int_equal(kind->nla_type, IFLA_INFO_KIND);
	const struct nlattr *group = attr_at(&m, off + NLA_HDRLEN + 12);
	uint32_t v;
	memcpy(&v, (const char *)group + NLA_HDRLEN, sizeof v);
	assert_int_equal(v, 7);
	assert_int_equal(rtnl_hdr(&m)->nlmsg_len, off + nest->nla_len);
	assert_int_equal(rtnl_hdr(&m)->nlmsg_type, RTM_NEWLINK);
}

/* Too much for the buffer: nothing is written past it, and the request is
 * refused whole rather than sent cut. */
static void test_overflow_is_refused(void **state)
{
	(void)state;
	struct rtnl_msg m;
	char big[1000];
	memset(big, 'x', sizeof big);
	rtnl_start(&m, RTM_NEWLINK, 0);
	for (int i = 0; i < 5; i++)
		rtnl_put(&m, IFLA_IFALIAS, big, sizeof big);
	assert_true(m.overflow);
	assert_true(rtnl_hdr(&m)->nlmsg_len <= RTNL_BUF);
	assert_null(rtnl_extra(&m, 4));
	assert_int_equal(rtnl_nest_start(&m, IFLA_LINKINFO), 0);
	errno = 0;
	assert_int_equal(rtnl_talk(-1, &m), -1);
	assert_int_equal(errno, EMSGSIZE);
}

static size_t ack(char *buf, uint32_t seq, int error)
{
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	memset(h, 0, NLMSG_LENGTH(sizeof(struct nlmsgerr)));
	h->nlmsg_len = NLMSG_LENGTH(sizeof(struct nlmsgerr));
	h->nlmsg_type = NLMSG_ERROR;
	h->nlmsg_seq = seq;
	memcpy(buf + NLMSG_HDRLEN, &error, sizeof error);
	return NLMSG_ALIGN(h->nlmsg_len);
}

/* The ack for our request among others: success, the kernel's errno, one
 * for another request skipped, a cut reply refused. */
static void test_acks(void **state)
{
	(void)state;
	union {
		struct nlmsghdr align;
		char buf[256];
	} r;
	size_t n = ack(r.buf, 4, 0);
	assert_int_equal(rtnl_ack_of(r.buf, n, 4), 0);

	n = ack(r.buf, 5, -EEXIST);
	errno = 0;
	assert_int_equal(rtnl_ack_of(r.buf, n, 5), -1);
	assert_int_equal(errno, EEXIST);

	/* a stale ack (seq 3) before ours (seq 6) */
	n = ack(r.buf, 3, -ENODEV);
	n += ack(r.buf + n, 6, 0);
	assert_int_equal(rtnl_ack_of(r.buf, n, 6), 0);
	assert_int_equal(rtnl_ack_of(r.buf, n, 9), 1);

	/* a header claiming more than was read */
	n = ack(r.buf, 7, 0);
	errno = 0;
	assert_int_equal(rtnl_ack_of(r.buf, n - 8, 7), -1);
	assert_int_equal(errno, EPROTO);
}

/* In a network namespace of its own (root only): the kernel accepts a
 * request made here, and says ENODEV for a link that is not there. */
static void test_kernel_answers(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		skip();
		return;
	}
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(2);
		int s = rtnl_open();
		if (s < 0)
			_exit(3);
		struct rtnl_msg m;
		rtnl_start(&m, RTM_DELLINK, 0);
		struct ifinfomsg *ifm = rtnl_extra(&m, sizeof *ifm);
		ifm->ifi_family = AF_UNSPEC;
		rtnl_put_strz(&m, IFLA_IFNAME, "sbnothere0");
		if (rtnl_talk(s, &m) != -1 || errno != ENODEV)
			_exit(4);
		/* lo up: an RTM_NEWLINK the kernel acks with 0 */
		rtnl_start(&m, RTM_NEWLINK, 0);
		ifm = rtnl_extra(&m, sizeof *ifm);
		ifm->ifi_family = AF_UNSPEC;
		ifm->ifi_index = (int)if_nametoindex("lo");
		ifm->ifi_flags = ifm->ifi_change = IFF_UP;
		if (rtnl_talk(s, &m) != 0)
			_exit(5);
		_exit((if_nametoindex("lo") && (close(s) == 0)) ? 0 : 6);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nested_layout),
		cmocka_unit_test(test_overflow_is_refused),
		cmocka_unit_test(test_acks),
		cmocka_unit_test(test_kernel_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
