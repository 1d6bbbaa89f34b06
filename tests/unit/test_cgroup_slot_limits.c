/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the slot memory and cpu groups made at a slot's first call
 * (cg_slot_limits_on, cg_sandbox_create with slot_limits_lazy), in the
 * cgroup v2 and v1 layouts. The e2e tests run the layout the host has
 * (hybrid here, where a cgroup2 mount has no memory controller); these
 * check what is written in each, on a plain directory tree that stands in
 * for the daemon's groups: its files exist (as the kernel's do) and take
 * the same strings. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "sandbox/cg_stock.h"
#include "sandbox/cgroup.h"

struct tree {
	char path[64];
	int dir;
};

static void tree_make(struct tree *t)
{
	snprintf(t->path, sizeof t->path, "/tmp/sbcgm-XXXXXX");
	assert_non_null(mkdtemp(t->path));
	t->dir = open(t->path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	assert_true(t->dir >= 0);
}

/* Make dir (relative, one level) and empty files in it. */
static void tree_group(struct tree *t, const char *dir,
		       const char *const *files)
{
	char p[256];
	assert_true(mkdirat(t->dir, dir, 0755) == 0 || errno == EEXIST);
	for (; *files; files++) {
		snprintf(p, sizeof p, "%s/%s", dir, *files);
		int fd =
			openat(t->dir, p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		close(fd);
	}
}

static const char *tree_get(struct tree *t, const char *file)
{
	static char buf[256];
	assert_true(cg_file_read(t->dir, file, buf, sizeof buf) >= 0);
	return buf;
}

static bool tree_has(struct tree *t, const char *path)
{
	struct stat st;
	return fstatat(t->dir, path, &st, 0) == 0;
}

static void tree_free(struct tree *t)
{
	close(t->dir);
	assert_int_equal(sb_rm_rf(t->path), 0);
}

/* cg_sweep's keep: only the sandbox named ud */
static bool keep_named(const char *id, void *ud)
{
	return strcmp(id, ud) == 0;
}

static const char *const v2_files[] = {
	"cgroup.subtree_control", "cpu.max",  "memory.max",
	"memory.swap.max",	  "pids.max", NULL};

static struct cg_limits lazy_limits(void)
{
	return (struct cg_limits){.cpu = 0.5,
				  .memory_mb = 256,
				  .pids_max = 64,
				  .slot_limits_lazy = true};
}

/* cgroup v2: one hierarchy kills and limits all three. */
static void v2_root(struct cg_root *r, const struct tree *t)
{
	memset(r, 0, sizeof *r);
	r->mode = CG_V2;
	r->n_hier = 1;
	r->hier[0].fd = t->dir;
	r->hier[0].v2 = true;
	r->hier[0].ctls = CG_BIT(CG_CPU) | CG_BIT(CG_MEMORY) | CG_BIT(CG_PIDS);
	snprintf(r->hier[0].path, sizeof r->hier[0].path, "%s", t->path);
	r->ctls = r->hier[0].ctls;
}

static void test_v2_sandbox_leaves_memory_for_the_first_call(void **state)
{
	struct tree t = {.dir = -1};
	struct cg_root r;
	struct cg_limits lim = lazy_limits();
	int fds[CG_MAX_HIER];
	struct sb_err err = {0};
	(void)state;

	tree_make(&t);
	tree_group(&t, "sb", v2_files);
	tree_group(&t, "sb/s0", v2_files);
	tree_group(&t, "sb/s1", v2_files);
	v2_root(&r, &t);
	unsigned flat = 1;
	assert_int_equal(cg_sandbox_create(&r, "sb", 2, &lim, fds, &flat, &err),
			 0);
	assert_int_equal(flat, 0); /* v2: one tree, the sandbox's group */
	close(fds[0]);
	/* cpu and pids for the slots, memory not yet (each write of the
	 * stand-in file lands at its start: "+cpu", then "+pids"); the
	 * sandbox's own memory limit is the sum of its slots' */
	assert_string_equal(tree_get(&t, "sb/cgroup.subtree_control"), "+pids");
	assert_string_equal(tree_get(&t, "sb/memory.max"), "536870912");
	assert_string_equal(tree_get(&t, "sb/s0/pids.max"), "64");
	assert_string_equal(tree_get(&t, "sb/s0/memory.max"), "");

	assert_string_equal(tree_get(&t, "sb/cpu.max"), "100000 100000");
	assert_string_equal(tree_get(&t, "sb/s0/cpu.max"), "");

	/* the first call in slot 1: every slot's memory and cpu at once
	 * ("+cpu", then "+memory") */
	assert_int_equal(cg_slot_limits_on(&r, "sb", 1, 2, &lim, &err), 2);
	assert_string_equal(tree_get(&t, "sb/cgroup.subtree_control"),
			    "+memory");
	for (int i = 0; i < 2; i++) {
		char f[64];
		snprintf(f, sizeof f, "sb/s%d/cpu.max", i);
		assert_string_equal(tree_get(&t, f), "50000 100000");
		snprintf(f, sizeof f, "sb/s%d/memory.max", i);
		assert_string_equal(tree_get(&t, f), "268435456");
		snprintf(f, sizeof f, "sb/s%d/memory.swap.max", i);
		assert_string_equal(tree_get(&t, f), "0");
	}
	tree_free(&t);
}

static const char *const procs[] = {"cgroup.procs", NULL};
static const char *const v1_mem[] = {"memory.limit_in_bytes", NULL};

/* cgroup v1: the freezer kills, a hierarchy of its own limits memory. */
static void v1_root(struct cg_root *r, const struct tree *kill,
		    const struct tree *mem)
{
	memset(r, 0, sizeof *r);
	r->mode = CG_V1_FREEZER;
	r->n_hier = 2;
	r->hier[0].fd = kill->dir;
	r->hier[1].fd = mem->dir;
	r->hier[1].ctls = CG_BIT(CG_MEMORY);
	r->ctls = CG_BIT(CG_MEMORY);
	snprintf(r->hier[1].path, sizeof r->hier[1].path, "%s", mem->path);
}

static void v1_kill_tree(struct tree *kill)
{
	tree_make(kill);
	tree_group(kill, "sb", procs);
	tree_group(kill, "sb/s0", procs);
	tree_group(kill, "sb/s1", procs);
}

static const char *const v1_cpu[] = {"cpu.cfs_period_us", "cpu.cfs_quota_us",
				     NULL};

/* Without a sandbox-wide cap the sandbox has no memory group: its slots'
 * are made beside the sandboxes', each at its slot's first call; its cpu
 * group is made with it, each slot's below it at the slot's first call. */
static void test_v1_slot_group_made_for_its_slot_only(void **state)
{
	struct tree kill = {.dir = -1}, mem = {.dir = -1}, cpu = {.dir = -1};
	struct cg_root r;
	struct cg_limits lim = lazy_limits();
	int fds[CG_MAX_HIER];
	struct sb_err err = {0};
	struct stat a, b;
	unsigned flat = 0;
	(void)state;

	v1_kill_tree(&kill);
	tree_make(&mem);
	tree_make(&cpu);
	tree_group(&cpu, "sb", v1_cpu);
	v1_root(&r, &kill, &mem);
	r.n_hier = 3;
	r.hier[2].fd = cpu.dir;
	r.hier[2].ctls = CG_BIT(CG_CPU);
	r.ctls |= CG_BIT(CG_CPU);
	snprintf(r.hier[2].path, sizeof r.hier[2].path, "%s", cpu.path);

	assert_int_equal(cg_sandbox_create(&r, "sb", 2, &lim, fds, &flat, &err),
			 0);
	assert_int_equal(flat, 1u << 1);
	close(fds[2]);
	assert_string_equal(tree_get(&cpu, "sb/cpu.cfs_quota_us"), "100000");
	assert_false(tree_has(&cpu, "sb/s0") || tree_has(&cpu, "sb/s1"));
	/* init gets the daemon's memory group itself */
	assert_true(fds[1] >= 0);
	assert_int_equal(fstat(fds[1], &a), 0);
	assert_int_equal(fstat(mem.dir, &b), 0);
	assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	close(fds[0]);
	close(fds[1]);
	assert_false(tree_has(&mem, "sb"));

	/* the group is made by the call (mkdir); a real one has its files
	 * then, the stand-in gets them here */
	tree_group(&mem, "sb.s1", v1_mem);
	tree_group(&cpu, "sb/s1", v1_cpu);
	assert_int_equal(cg_slot_limits_on(&r, "sb", 1, 2, &lim, &err), 1);
	assert_string_equal(tree_get(&mem, "sb.s1/memory.limit_in_bytes"),
			    "268435456");
	assert_string_equal(tree_get(&cpu, "sb/s1/cpu.cfs_quota_us"), "50000");
	assert_false(tree_has(&mem, "sb.s0"));
	assert_false(tree_has(&mem, "sb"));
	assert_false(tree_has(&cpu, "sb/s0"));
	tree_free(&kill);
	tree_free(&mem);
	tree_free(&cpu);
}

/* A sandbox-wide cap needs the sandbox's group: the slots' are below it. */
static void test_v1_sandbox_cap_keeps_the_sandbox_group(void **state)
{
	struct tree kill = {.dir = -1}, mem = {.dir = -1};
	struct cg_root r;
	struct cg_limits lim = lazy_limits();
	int fds[CG_MAX_HIER];
	struct sb_err err = {0};
	unsigned flat = 1;
	(void)state;

	lim.sandbox_memory_mb = 300;
	v1_kill_tree(&kill);
	tree_make(&mem);
	tree_group(&mem, "sb", v1_mem);
	v1_root(&r, &kill, &mem);
	assert_int_equal(cg_sandbox_create(&r, "sb", 2, &lim, fds, &flat, &err),
			 0);
	assert_int_equal(flat, 0);
	assert_true(fds[1] >= 0); /* the sandbox's memory group, for init */
	close(fds[0]);
	close(fds[1]);
	assert_string_equal(tree_get(&mem, "sb/memory.limit_in_bytes"),
			    "314572800");
	assert_false(tree_has(&mem, "sb/s1"));
	tree_group(&mem, "sb/s1", v1_mem);
	assert_int_equal(cg_slot_limits_on(&r, "sb", 1, 2, &lim, &err), 1);
	assert_string_equal(tree_get(&mem, "sb/s1/memory.limit_in_bytes"),
			    "268435456");
	assert_false(tree_has(&mem, "sb.s1"));
	tree_free(&kill);
	tree_free(&mem);
}

/* Slot groups beside the sandboxes' go with their sandbox: by name, by
 * listing (a record of unknown size), and in a sweep of leftovers. */
static void test_v1_flat_groups_removed_with_their_sandbox(void **state)
{
	struct tree kill = {.dir = -1}, mem = {.dir = -1};
	struct cg_root r;
	static const char *const none[] = {NULL};
	(void)state;

	tree_make(&kill);
	tree_make(&mem);
	v1_root(&r, &kill, &mem);
	tree_group(&mem, "a.s0", none);
	tree_group(&mem, "a.s1", none);
	tree_group(&mem, "ab.s0", none);
	tree_group(&mem, "b.s3", none);
	tree_group(&mem, "c.s2", none);
	tree_group(&mem, "c.sx", none);

	assert_int_equal(cg_sandbox_remove(&r, "a", 2), 0);
	assert_false(tree_has(&mem, "a.s0") || tree_has(&mem, "a.s1"));
	assert_true(tree_has(&mem, "ab.s0"));
	assert_int_equal(cg_sandbox_remove(&r, "b", -1), 0);
	assert_false(tree_has(&mem, "b.s3"));
	assert_true(tree_has(&mem, "ab.s0"));
	/* keep "ab": "c.s2" is c's, "c.sx" a sandbox of that name */
	assert_int_equal(cg_sweep(&r, keep_named, (char[]){"ab"}), 0);
	assert_true(tree_has(&mem, "ab.s0"));
	assert_false(tree_has(&mem, "c.s2") || tree_has(&mem, "c.sx"));
	tree_free(&kill);
	tree_free(&mem);
}

/* How often this process's other thread (the stock's worker) has been
 * switched out, or -1 without one: each wake-up and sleep of it counts. */
static long worker_switches(void)
{
	char path[300], line[128];
	long n = -1;
	DIR *d = opendir("/proc/self/task");
	const struct dirent *e;
	assert_non_null(d);
	while (n < 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == getpid())
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/status",
			 e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) ==
			    1)
				break;
		fclose(f);
	}
	closedir(d);
	return n;
}

/* Beside the sandboxes', the next slot's memory group is made ahead by a
 * worker once a first call has gone out (cg_stock_refill), and the next
 * first call takes it by a rename. (With a cap none is made:
 * tests/e2e/test_limits.py.) */
static void test_v1_flat_group_made_ahead(void **state)
{
	struct tree kill = {.dir = -1}, mem = {.dir = -1};
	struct cg_root r;
	struct cg_limits lim = lazy_limits();
	struct sb_err err = {0};
	struct stat ahead, taken;
	(void)state;

	lim.cpu = 0;
	v1_kill_tree(&kill);
	tree_make(&mem);
	v1_root(&r, &kill, &mem);
	/* nothing wanted yet: nothing made, no worker started */
	cg_stock_refill(&r);
	assert_null(r.stocker);
	assert_false(tree_has(&mem, "stock.1"));
	tree_group(&mem, "sb.s0", v1_mem); /* the mkdir's stand-in */
	assert_int_equal(cg_slot_limits_on(&r, "sb", 0, 2, &lim, &err), 1);
	cg_stock_refill(&r);
	cg_stock_settle(&r);
	assert_true(tree_has(&mem, "stock.1"));
	cg_stock_refill(&r); /* one at a time */
	cg_stock_settle(&r);
	assert_false(tree_has(&mem, "stock.2"));
	/* a refill with the group there (every call but a first) does not
	 * wake the worker */
	long before = worker_switches();
	assert_true(before >= 0);
	for (int i = 0; i < 100; i++) {
		cg_stock_refill(&r); /* calls come one after another */
		cg_stock_settle(&r);
	}
	assert_true(worker_switches() - before < 10);
	tree_group(&mem, "stock.1", v1_mem);
	assert_int_equal(fstatat(mem.dir, "stock.1", &ahead, 0), 0);
	assert_int_equal(cg_slot_limits_on(&r, "sb", 1, 2, &lim, &err), 1);
	assert_false(tree_has(&mem, "stock.1"));
	assert_int_equal(fstatat(mem.dir, "sb.s1", &taken, 0), 0);
	assert_true(ahead.st_ino == taken.st_ino);
	assert_string_equal(tree_get(&mem, "sb.s1/memory.limit_in_bytes"),
			    "268435456");
	cg_stock_refill(&r);
	cg_stock_settle(&r);
	assert_true(tree_has(&mem, "stock.2"));
	/* no sandbox's: a sweep that keeps every sandbox removes it */
	assert_int_equal(cg_sweep(&r, keep_named, (char[]){"sb"}), 0);
	assert_false(tree_has(&mem, "stock.2"));
	assert_true(tree_has(&mem, "sb.s0") && tree_has(&mem, "sb.s1"));
	/* the worker is joined, and nothing is made after; a first call
	 * whose group made ahead is gone makes its own */
	cg_stock_stop(&r);
	assert_null(r.stocker);
	cg_stock_stop(&r);		   /* idempotent */
	tree_group(&mem, "sb.s2", v1_mem); /* the mkdir's stand-in */
	assert_int_equal(cg_slot_limits_on(&r, "sb", 2, 3, &lim, &err), 1);
	assert_string_equal(tree_get(&mem, "sb.s2/memory.limit_in_bytes"),
			    "268435456");
	cg_stock_refill(&r);
	assert_null(r.stocker);
	assert_false(tree_has(&mem, "stock.3"));
	tree_free(&kill);
	tree_free(&mem);
}

static void test_nothing_to_make(void **state)
{
	struct tree t = {.dir = -1};
	struct cg_root r;
	struct sb_err err = {0};
	(void)state;

	tree_make(&t);
	v2_root(&r, &t);
	/* no per-slot memory limit, groups made with the sandbox (userns),
	 * or no hierarchy limiting memory: nothing is touched */
	struct cg_limits none = lazy_limits();
	none.memory_mb = 0;
	none.cpu = 0;
	assert_int_equal(cg_slot_limits_on(&r, "sb", 0, 2, &none, &err), 0);
	struct cg_limits eager = lazy_limits();
	eager.slot_limits_lazy = false;
	assert_int_equal(cg_slot_limits_on(&r, "sb", 0, 2, &eager, &err), 0);
	r.hier[0].ctls &= ~(CG_BIT(CG_MEMORY) | CG_BIT(CG_CPU));
	struct cg_limits lim = lazy_limits();
	assert_int_equal(cg_slot_limits_on(&r, "sb", 0, 2, &lim, &err), 0);
	assert_false(tree_has(&t, "sb"));
	tree_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_v2_sandbox_leaves_memory_for_the_first_call),
		cmocka_unit_test(test_v1_slot_group_made_for_its_slot_only),
		cmocka_unit_test(test_v1_sandbox_cap_keeps_the_sandbox_group),
		cmocka_unit_test(
			test_v1_flat_groups_removed_with_their_sandbox),
		cmocka_unit_test(test_v1_flat_group_made_ahead),
		cmocka_unit_test(test_nothing_to_make),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
