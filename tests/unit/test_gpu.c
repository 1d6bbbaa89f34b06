/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the GPU pieces that need no GPU: which GPUs each slot
 * gets (gpu_assign.c), which `ldconfig -p` lines name driver libraries
 * (gpu_driver.c), and which slot a process's cgroup names
 * (gpu_metrics.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config/gpu_assign.h"
#include "daemon/gpu_driver.h"
#include "pool/gpu_metrics.h"

static void test_list_parse(void **state)
{
	(void)state;
	int d[SB_GPU_MAX], n;
	assert_true(gpu_list_parse("0", d, &n));
	assert_int_equal(n, 1);
	assert_true(gpu_list_parse("3,0,12", d, &n));
	assert_int_equal(n, 3);
	assert_int_equal(d[0], 3);
	assert_int_equal(d[1], 0);
	assert_int_equal(d[2], 12);
	assert_true(gpu_list_parse("63", d, &n));
	static const char *const bad[] = {"",	  "64",	  "1,",	 ",1",
					  "1,,2", "1 ,2", "a",	 "1,1",
					  "-1",	  "0x1",  "all", "none"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (gpu_list_parse(bad[i], d, &n))
			fail_msg("\"%s\" parsed", bad[i]);
	assert_true(gpu_slot_item_valid("none"));
	assert_true(gpu_slot_item_valid("all"));
	assert_true(gpu_slot_item_valid("1,2"));
	assert_false(gpu_slot_item_valid("None"));
	assert_false(gpu_slot_item_valid("1;2"));
}

static void profile(struct sb_profile *p, int n_devs, int slots)
{
	memset(p, 0, sizeof *p);
	p->gpu = "all";
	p->slots_per_sandbox = slots;
	for (int i = 0; i < n_devs; i++)
		p->gpu_devs[i] = i * 2; /* device numbers need not be dense */
	p->n_gpu_devs = n_devs;
}

static const char *slot_of(const struct sb_profile *p, int number, int index)
{
	static char buf[256];
	int d[SB_GPU_MAX];
	int n = gpu_assign_slot(p, number, index, d);
	gpu_list_format(d, n, buf, sizeof buf);
	return buf;
}

static void test_assign_whole_set(void **state)
{
	(void)state;
	struct sb_profile p;
	profile(&p, 3, 4);
	assert_string_equal(slot_of(&p, 0, 0), "0,2,4");
	assert_string_equal(slot_of(&p, 5, 3), "0,2,4");
	profile(&p, 0, 4); /* a free-form request: no numbered GPU */
	assert_string_equal(slot_of(&p, 0, 0), "none");
}

static void test_assign_gpu_per_slot(void **state)
{
	(void)state;
	struct sb_profile p;
	profile(&p, 4, 2); /* GPUs 0,2,4,6; two slots per sandbox */
	p.gpu_per_slot = 1;
	assert_string_equal(slot_of(&p, 0, 0), "0");
	assert_string_equal(slot_of(&p, 0, 1), "2");
	assert_string_equal(slot_of(&p, 1, 0), "4"); /* next sandbox goes on */
	assert_string_equal(slot_of(&p, 1, 1), "6");
	assert_string_equal(slot_of(&p, 2, 0), "0"); /* then wraps: shared */
	p.gpu_per_slot = 2;
	assert_string_equal(slot_of(&p, 0, 0), "0,2");
	assert_string_equal(slot_of(&p, 0, 1), "4,6");
	assert_string_equal(slot_of(&p, 1, 0), "0,2");
	profile(&p, 3, 1);
	p.gpu_per_slot = 2; /* 3 GPUs, 2 each: wraps inside a slot's pair */
	assert_string_equal(slot_of(&p, 0, 0), "0,2");
	assert_string_equal(slot_of(&p, 1, 0), "4,0");
	assert_string_equal(slot_of(&p, 2, 0), "2,4");
	p.gpu_per_slot = 9; /* more than there are (refused at start) */
	assert_string_equal(slot_of(&p, 0, 0), "0,2,4");
}

static void test_assign_slot_gpus(void **state)
{
	(void)state;
	struct sb_profile p;
	char *items[] = {"2", "none", "0,4", "all"};
	profile(&p, 3, 6);
	p.slot_gpus = items;
	p.n_slot_gpus = 4;
	assert_string_equal(slot_of(&p, 0, 0), "2");
	assert_string_equal(slot_of(&p, 0, 1), "none");
	assert_string_equal(slot_of(&p, 0, 2), "0,4");
	assert_string_equal(slot_of(&p, 0, 3), "0,2,4");
	assert_string_equal(slot_of(&p, 0, 4), "2"); /* the list repeats */
	assert_string_equal(slot_of(&p, 7, 1),
			    "none"); /* every sandbox alike */
	assert_true(gpu_per_slot_choice(&p));
	p.n_slot_gpus = 0;
	assert_false(gpu_per_slot_choice(&p));
}

static void test_list_format_bounded(void **state)
{
	(void)state;
	int d[3] = {10, 11, 12};
	char buf[6];
	gpu_list_format(d, 3, buf, sizeof buf);
	assert_true(strlen(buf) < sizeof buf);
	assert_memory_equal(buf, "10,11", 5);
}

static void test_ldconfig_lines(void **state)
{
	(void)state;
	char name[256], path[4096];
	assert_true(gpu_driver_ldconfig_line(
		"\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/"
		"libcuda.so.1",
		name, path));
	assert_string_equal(name, "libcuda.so.1");
	assert_string_equal(path, "/usr/lib/x86_64-linux-gnu/libcuda.so.1");
	assert_true(gpu_driver_ldconfig_line(
		"\tlibnvidia-ml.so.1 (libc6,x86-64, OS ABI: Linux 3.2.0) => "
		"/usr/local/nvidia/lib64/libnvidia-ml.so.1\n",
		name, path));
	assert_string_equal(path, "/usr/local/nvidia/lib64/libnvidia-ml.so.1");
	assert_true(gpu_driver_ldconfig_line(
		"\tlibcudadebugger.so.1 (libc6,x86-64) => /lib/libcudadebugger."
		"so.1",
		name, path));
	static const char *const no[] = {
		/* 32-bit, not a driver library, not ldconfig's form */
		"\tlibcuda.so.1 (libc6) => "
		"/usr/lib/i386-linux-gnu/libcuda.so.1",
		"\tlibcudart.so.12 (libc6,x86-64) => /usr/lib/libcudart.so.12",
		"\tlibc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6",
		"1234 libs found in cache `/etc/ld.so.cache'",
		"\tlibcuda.so.1 (libc6,x86-64) => relative/libcuda.so.1",
		"\tlibcuda.so.1 => /lib/libcuda.so.1",
		"",
	};
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		if (gpu_driver_ldconfig_line(no[i], name, path))
			fail_msg("accepted \"%s\"", no[i]);
}

static void test_cgroup_slot(void **state)
{
	(void)state;
	char sb[64];
	int slot = -1;
	assert_true(gpu_metrics_cgroup_slot(
		"0::/process_api/ab12/slotbox/d69b73ec/gpu-3567a592/s1/c42\n",
		sb, &slot));
	assert_string_equal(sb, "gpu-3567a592");
	assert_int_equal(slot, 1);
	assert_true(gpu_metrics_cgroup_slot(
		"12:pids:/\n7:freezer:/slotbox/x/default-1/s0\n", sb, &slot));
	assert_string_equal(sb, "default-1");
	assert_int_equal(slot, 0);
	static const char *const no[] = {
		"0::/user.slice/session-1.scope\n",
		"0::/slotbox/inst\n",
		"0::/slotbox/inst/sandbox\n",
		"0::/slotbox/inst/sandbox/x1\n",
		"0::/slotbox/inst/sandbox/s\n",
		"0::/slotbox/inst/sandbox/s1x\n",
		"0::/slotbox/inst//s1\n",
	};
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		if (gpu_metrics_cgroup_slot(no[i], sb, &slot))
			fail_msg("accepted \"%s\"", no[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_parse),
		cmocka_unit_test(test_assign_whole_set),
		cmocka_unit_test(test_assign_gpu_per_slot),
		cmocka_unit_test(test_assign_slot_gpus),
		cmocka_unit_test(test_list_format_bounded),
		cmocka_unit_test(test_ldconfig_lines),
		cmocka_unit_test(test_cgroup_slot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
