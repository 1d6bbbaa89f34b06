/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the raw clone3 and system calls that spares sharing the
 * leader's memory run (init/raw_syscall.h, init/raw_clone.c): a child
 * cloned with CLONE_VM onto a stack of its own runs its function there,
 * writes memory its parent then reads, exits with the function's result,
 * and a raw call's failure comes back as -errno without touching errno;
 * such a child clones a sibling through the old clone (sb_clone_run,
 * CLONE_PARENT), as a spare clones its successor: the sibling is the
 * parent's child and its pid is written where the parent reads it.
 * No root needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init/raw_syscall.h"

#ifdef SB_HAVE_RAW_SYSCALL

struct shared {
	volatile int written;
	volatile long child_pid;
	char *stack_lo, *stack_hi;
	volatile uintptr_t child_sp;
};

SB_RAW_CHILD static int child_fn(void *arg)
{
	struct shared *sh = arg;
	char here;
	sh->child_sp = (uintptr_t)&here;
	sh->child_pid = sb_raw0(SYS_getpid);
	sh->written = 42;
	return 7;
}

/* len bytes of anonymous memory for stacks */
static char *map_stacks(size_t len)
{
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	assert_true(m != MAP_FAILED);
	return m;
}

/* fn(arg) in a child that shares this memory, on [stack, stack + size),
 * through clone3: its pid, or -ENOSYS before Linux 5.3 */
static long clone3_vm(char *stack, size_t size, int (*fn)(void *), void *arg)
{
	struct clone_args ca = {.flags = CLONE_VM,
				.exit_signal = SIGCHLD,
				.stack = (uint64_t)(uintptr_t)stack,
				.stack_size = size};
	return sb_clone3_run(&ca, sizeof ca, fn, arg);
}

static void test_a_clone_vm_child_runs_on_its_stack_and_exits(void **state)
{
	(void)state;
	size_t size = 64 * 1024;
	char *stack = map_stacks(size);
	struct shared sh = {.stack_lo = stack, .stack_hi = stack + size};
	long pid = clone3_vm(stack, size, child_fn, &sh);
	if (pid == -ENOSYS) {
		munmap(stack, size);
		skip(); /* a kernel before clone3 (5.3) */
	}
	assert_true(pid > 0);
	int st;
	assert_int_equal(waitpid((pid_t)pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 7);
	/* it shared this memory, and ran on the stack it was given */
	assert_int_equal(sh.written, 42);
	assert_int_equal(sh.child_pid, pid);
	assert_true(sh.child_sp > (uintptr_t)sh.stack_lo &&
		    sh.child_sp < (uintptr_t)sh.stack_hi);
	munmap(stack, size);
}

struct sibling {
	char *stack_top;	  /* for the sibling */
	volatile int sibling_tid; /* CLONE_PARENT_SETTID */
	volatile long sibling_pid, sibling_ppid, maker_ppid;
	volatile uintptr_t sibling_sp;
	volatile long clone_rc;
};

SB_RAW_CHILD static int sibling_fn(void *arg)
{
	struct sibling *sb = arg;
	char here;
	sb->sibling_sp = (uintptr_t)&here;
	sb->sibling_pid = sb_raw0(SYS_getpid);
	sb->sibling_ppid = sb_raw0(SYS_getppid);
	return 9;
}

SB_RAW_CHILD static int maker_fn(void *arg)
{
	struct sibling *sb = arg;
	sb->maker_ppid = sb_raw0(SYS_getppid);
	sb->clone_rc = sb_clone_run(
		CLONE_VM | CLONE_PARENT | CLONE_PARENT_SETTID | SIGCHLD,
		sb->stack_top, (int *)&sb->sibling_tid, sibling_fn, sb);
	return 0;
}

static void test_a_child_clones_a_sibling_with_the_old_clone(void **state)
{
	(void)state;
	size_t size = 64 * 1024;
	char *stacks = map_stacks(2 * size);
	struct sibling sb = {.stack_top = stacks + 2 * size};
	long maker = clone3_vm(stacks, size, maker_fn, &sb);
	if (maker == -ENOSYS) {
		munmap(stacks, 2 * size);
		skip();
	}
	assert_true(maker > 0);
	int st;
	assert_int_equal(waitpid((pid_t)maker, &st, 0), maker);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* the sibling is this process's child: waited for here */
	assert_true(sb.clone_rc > 0);
	assert_int_equal(sb.sibling_tid, sb.clone_rc);
	assert_int_equal(waitpid((pid_t)sb.clone_rc, &st, 0), sb.clone_rc);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 9);
	assert_int_equal(sb.sibling_pid, sb.clone_rc);
	assert_int_equal(sb.sibling_ppid, getpid());
	assert_int_equal(sb.maker_ppid, getpid());
	/* on the stack it was given, not its maker's */
	assert_true(sb.sibling_sp > (uintptr_t)(stacks + size) &&
		    sb.sibling_sp < (uintptr_t)sb.stack_top);
	munmap(stacks, 2 * size);
}

static void test_a_raw_failure_is_minus_errno_and_leaves_errno(void **state)
{
	(void)state;
	errno = 0;
	assert_int_equal(sb_raw1(SYS_close, -1), -EBADF);
	assert_int_equal(
		sb_raw4(SYS_openat, AT_FDCWD, "/no/such/path", O_RDONLY, 0),
		-ENOENT);
	assert_int_equal(errno, 0);
	long fd = sb_raw4(SYS_openat, AT_FDCWD, "/", O_RDONLY | O_DIRECTORY, 0);
	assert_true(fd >= 0);
	assert_int_equal(sb_raw1(SYS_close, fd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_a_clone_vm_child_runs_on_its_stack_and_exits),
		cmocka_unit_test(
			test_a_raw_failure_is_minus_errno_and_leaves_errno),
		cmocka_unit_test(
			test_a_child_clones_a_sibling_with_the_old_clone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

int main(void)
{
	/* no raw system calls on this architecture: spares are forked */
	return 77;
}

#endif
