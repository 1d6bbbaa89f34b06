/* SPDX-License-Identifier: Apache-2.0 */
/* test_egress_rules.c - CIDR parsing (allow_cidrs, deny_cidrs) and the
 * nftables text of network: egress: only parsed values reach it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "common/cidr.h"
#include "daemon/egress.h"
#include "sandbox/sandbox.h"

static void canon(const char *in, const char *want)
{
	struct sb_cidr c;
	char out[SB_CIDR_TEXT_MAX];
	if (!sb_cidr_parse(in, &c))
		fail_msg("%s refused", in);
	sb_cidr_format(&c, out, sizeof out);
	assert_string_equal(out, want);
}

static void cidrs_parse_strictly_and_print_canonically(void **state)
{
	(void)state;
	canon("10.99.0.0/16", "10.99.0.0/16");
	canon("198.18.0.2", "198.18.0.2/32");
	canon("0.0.0.0/0", "0.0.0.0/0");
	canon("FD00:0::/8", "fd00::/8");
	canon("2001:db8::1", "2001:db8::1/128");
	static const char *const bad[] = {
		"",
		"10.0.0.1/8",
		"10.0.0.0/33",
		"10.0.0.0/",
		"10.0.0.0/08",
		"10.0.0.0/+8",
		"1.2.3/24",
		"01.2.3.4",
		"nonsense",
		"fd00::/129",
		"fe80::1/10",
		"10.0.0.0/8 ",
		"10.0.0.0/8;drop",
		"::/-1",
	};
	struct sb_cidr c;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (sb_cidr_parse(bad[i], &c))
			fail_msg("\"%s\" accepted", bad[i]);
}

static void cidrs_contain_and_overlap(void **state)
{
	(void)state;
	struct sb_cidr a, b, c;
	assert_true(sb_cidr_parse("10.0.0.0/8", &a));
	assert_true(sb_cidr_parse("10.99.0.0/16", &b));
	assert_true(sb_cidr_parse("172.16.0.0/12", &c));
	assert_true(sb_cidr_overlap(&a, &b));
	assert_true(sb_cidr_overlap(&b, &a));
	assert_false(sb_cidr_overlap(&a, &c));
	uint8_t in[4] = {172, 31, 255, 255}, out[4] = {172, 32, 0, 0};
	assert_true(sb_cidr_contains(&c, in));
	assert_false(sb_cidr_contains(&c, out));
}

static void ruleset_filters_by_group_and_masquerades(void **state)
{
	(void)state;
#ifndef SLOTBOX_HAVE_EGRESS
	skip(); /* egress_plan refuses egress profiles then */
#endif
	char *allow[] = {"10.99.0.0/16"},
	     *deny[] = {"198.18.0.0/24", "2001:db8::/32"};
	struct sb_profile ps[2];
	memset(ps, 0, sizeof ps);
	ps[0].network = "none";
	ps[1].network = "egress";
	ps[1].slots_per_sandbox = 4;
	ps[1].allow_cidrs = allow;
	ps[1].n_allow_cidrs = 1;
	ps[1].deny_cidrs = deny;
	ps[1].n_deny_cidrs = 2;
	struct sb_config cfg = {.profiles = ps, .n_profiles = 2};
	struct egress e;
	struct sb_err err = {0};
	assert_int_equal(egress_plan(&e, &cfg,
				     SBX_UID_BASE + 3 * SBX_RANGE_UIDS, NULL,
				     &err),
			 0);
	assert_true(e.on);
	assert_int_equal(e.instance, 3);
	assert_int_equal(e.link_stride, 4);
	assert_string_equal(e.table, "slotbox_3");
	static char buf[1 << 16];
	assert_int_equal(egress_ruleset(&e, &cfg, buf, sizeof buf), 0);
	/* the table replaces a stale one, in one transaction */
	assert_non_null(strstr(buf, "add table inet slotbox_3\ndelete table "
				    "inet slotbox_3\ntable inet slotbox_3 {"));
	/* the profile's lists, per family; the refused ranges */
	assert_non_null(strstr(buf, "set p1_allow4 { type ipv4_addr; flags "
				    "interval; auto-merge; elements = { "
				    "10.99.0.0/16 } }"));
	assert_non_null(strstr(buf, "elements = { 198.18.0.0/24 }"));
	assert_non_null(strstr(buf, "elements = { 2001:db8::/32 }"));
	assert_non_null(strstr(buf, "169.254.0.0/16"));
	assert_non_null(strstr(buf, "10.203.0.0/16")); /* default net, K=3 */
	assert_non_null(strstr(buf, "fc00::/7"));
	/* no chain for the none profile; slot to slot dropped */
	assert_null(strstr(buf, "p0_"));
	assert_non_null(strstr(buf, "iifgroup { 0x5b030001 } oifgroup { "
				    "0x5b030001 } drop"));
	assert_non_null(strstr(buf, "masquerade"));
	/* our pairs of no known group: dropped, not let through */
	assert_non_null(strstr(buf, "iifname \"sb3x*\" drop\n"));
	assert_non_null(strstr(buf, "oifname \"sb3x*\" drop\n"));
	/* too small a buffer says so */
	assert_int_equal(egress_ruleset(&e, &cfg, buf, 64), -1);
	/* a bad --egress-net */
	assert_int_equal(
		egress_plan(&e, &cfg, SBX_UID_BASE, "10.0.0.0/8", &err), -1);
	assert_non_null(strstr(err.msg, "/16"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cidrs_parse_strictly_and_print_canonically),
		cmocka_unit_test(cidrs_contain_and_overlap),
		cmocka_unit_test(ruleset_filters_by_group_and_masquerades),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
