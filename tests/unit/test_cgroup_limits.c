/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the cgroup limit files: what slotboxd writes for a
 * profile's cpu, memory and pids in the cgroup v2 and v1 spellings, and
 * how it reads the OOM kill counters. A plain directory with empty files
 * stands in for a group (the kernel's files take the same strings). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "sandbox/cgroup.h"

struct fake {
	char path[64];
	int dir;
};

/* A directory holding the named files, empty. */
static void fake_group(struct fake *f, const char *const *files)
{
	snprintf(f->path, sizeof f->path, "/tmp/sbcg-XXXXXX");
	assert_non_null(mkdtemp(f->path));
	f->dir = open(f->path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	assert_true(f->dir >= 0);
	for (; *files; files++) {
		int fd = openat(f->dir, *files, O_CREAT | O_WRONLY | O_CLOEXEC,
				0600);
		assert_true(fd >= 0);
		close(fd);
	}
}

static void fake_put(struct fake *f, const char *file, const char *text)
{
	int fd = openat(f->dir, file, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC,
			0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static const char *fake_get(struct fake *f, const char *file)
{
	static char buf[256];
	assert_true(cg_file_read(f->dir, file, buf, sizeof buf) >= 0);
	return buf;
}

static void fake_free(struct fake *f)
{
	close(f->dir);
	assert_int_equal(sb_rm_rf(f->path), 0);
}

static const unsigned all =
	CG_BIT(CG_CPU) | CG_BIT(CG_MEMORY) | CG_BIT(CG_PIDS);

static void test_v2_files(void **state)
{
	static const char *const files[] = {
		"cpu.max", "memory.max", "memory.swap.max", "pids.max", NULL};
	struct fake f = {.dir = -1};
	struct sb_err err;
	struct cg_limits lim = {.cpu = 0.5, .memory_mb = 256, .pids_max = 64};
	(void)state;

	fake_group(&f, files);
	assert_int_equal(cg_write_limits(f.dir, true, all, &lim, &err), 0);
	assert_string_equal(fake_get(&f, "cpu.max"), "50000 100000");
	assert_string_equal(fake_get(&f, "memory.max"), "268435456");
	assert_string_equal(fake_get(&f, "memory.swap.max"), "0");
	assert_string_equal(fake_get(&f, "pids.max"), "64");
	fake_free(&f);
}

static void test_v1_files_without_swap_accounting(void **state)
{
	static const char *const files[] = {
		"cpu.cfs_period_us", "cpu.cfs_quota_us",
		"memory.limit_in_bytes", "pids.max", NULL};
	struct fake f = {.dir = -1};
	struct sb_err err;
	struct cg_limits lim = {.cpu = 2.25, .memory_mb = 1, .pids_max = 8};
	(void)state;

	fake_group(&f, files);
	assert_int_equal(cg_write_limits(f.dir, false, all, &lim, &err), 0);
	assert_string_equal(fake_get(&f, "cpu.cfs_period_us"), "100000");
	assert_string_equal(fake_get(&f, "cpu.cfs_quota_us"), "225000");
	assert_string_equal(fake_get(&f, "memory.limit_in_bytes"), "1048576");
	assert_string_equal(fake_get(&f, "pids.max"), "8");
	fake_free(&f);
}

static void test_only_the_controllers_asked(void **state)
{
	static const char *const files[] = {"pids.max", NULL};
	struct fake f = {.dir = -1};
	struct sb_err err;
	struct cg_limits lim = {.cpu = 1, .memory_mb = 64, .pids_max = 5000000};
	(void)state;

	fake_group(&f, files);
	/* pids.max only takes up to PID_MAX_LIMIT: more means no limit. */
	assert_int_equal(
		cg_write_limits(f.dir, true, CG_BIT(CG_PIDS), &lim, &err), 0);
	assert_string_equal(fake_get(&f, "pids.max"), "max");
	/* a controller whose file is missing is an error that names it */
	assert_int_equal(
		cg_write_limits(f.dir, true, CG_BIT(CG_MEMORY), &lim, &err),
		-1);
	assert_non_null(strstr(err.msg, "memory.max"));
	fake_free(&f);
}

static void test_tiny_cpu_is_the_kernel_minimum(void **state)
{
	static const char *const files[] = {"cpu.max", NULL};
	struct fake f = {.dir = -1};
	struct sb_err err;
	struct cg_limits lim = {.cpu = 0.001};
	(void)state;

	fake_group(&f, files);
	assert_int_equal(
		cg_write_limits(f.dir, true, CG_BIT(CG_CPU), &lim, &err), 0);
	assert_string_equal(fake_get(&f, "cpu.max"), "1000 100000");
	fake_free(&f);
}

static void test_oom_counters(void **state)
{
	static const char *const none[] = {NULL};
	struct fake f = {.dir = -1};
	uint64_t n = 0;
	(void)state;

	fake_group(&f, none);
	assert_int_equal(cg_read_oom_kills(f.dir, true, &n), -1);
	fake_put(&f, "memory.events",
		 "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\n"
		 "oom_group_kill 0\n");
	assert_int_equal(cg_read_oom_kills(f.dir, true, &n), 0);
	assert_int_equal(n, 2);
	fake_put(&f, "memory.oom_control",
		 "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n");
	assert_int_equal(cg_read_oom_kills(f.dir, false, &n), 0);
	assert_int_equal(n, 7);
	/* before Linux 4.13 v1 has no counter */
	fake_put(&f, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n");
	assert_int_equal(cg_read_oom_kills(f.dir, false, &n), -1);
	fake_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v2_files),
		cmocka_unit_test(test_v1_files_without_swap_accounting),
		cmocka_unit_test(test_only_the_controllers_asked),
		cmocka_unit_test(test_tiny_cpu_is_the_kernel_minimum),
		cmocka_unit_test(test_oom_counters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
