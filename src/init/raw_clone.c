/* SPDX-License-Identifier: Apache-2.0 */
/* raw_clone.c - clone3 and clone onto a new stack (raw_syscall.h).
 *
 * glibc has no clone3 wrapper, and syscall(SYS_clone3, ...) cannot be
 * used with a new stack: the child would return from the wrapper through
 * a stack it does not have. This does what glibc's own clone3 does for
 * posix_spawn: the child calls fn(arg) on its stack and exits with its
 * result. Everything fn and arg need must survive in registers the
 * kernel keeps across the call: r9/r8 on x86_64, x10/x11 on aarch64.
 * The old clone takes its flags as an argument, which is why a process
 * under the default seccomp filter (which refuses clone3) may still make
 * one: sb_clone_run, the same with clone's own arguments (x86_64:
 * flags, stack, parent_tid, child_tid, tls; aarch64: flags, stack,
 * parent_tid, tls, child_tid); fn and arg wait in r9/r8 (no CLONE_SETTLS,
 * so the kernel reads no tls from r8) and in x10/x11. */
#include "init/raw_syscall.h"

#include <sys/syscall.h>

#ifdef SB_HAVE_RAW_SYSCALL
#if defined(__x86_64__)
/* The child of either: fn in r9, arg in r8. */
__asm__(".text\n"
	".type sb_raw_child,@function\n"
	"sb_raw_child:\n"
	"	.cfi_startproc\n"
	"	.cfi_undefined %rip\n"
	"	xor %ebp, %ebp\n"
	"	and $-16, %rsp\n"
	"	mov %r8, %rdi\n"
	"	call *%r9\n"
	"	mov %eax, %edi\n"
	"	mov $231, %eax\n" /* __NR_exit_group */
	"	syscall\n"
	"	hlt\n"
	"	.cfi_endproc\n"
	".size sb_raw_child, .-sb_raw_child\n"
	".globl sb_clone3_run\n"
	".hidden sb_clone3_run\n"
	".type sb_clone3_run,@function\n"
	"sb_clone3_run:\n"
	"	.cfi_startproc\n"
	"	mov %rcx, %r8\n"
	"	mov %rdx, %r9\n"
	"	mov $435, %eax\n" /* __NR_clone3 */
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jz sb_raw_child\n"
	"	ret\n"
	"	.cfi_endproc\n"
	".size sb_clone3_run, .-sb_clone3_run\n"
	".globl sb_clone_run\n"
	".hidden sb_clone_run\n"
	".type sb_clone_run,@function\n"
	"sb_clone_run:\n"
	"	.cfi_startproc\n"
	"	mov %rcx, %r9\n"
	"	xor %r10d, %r10d\n"
	"	mov $56, %eax\n" /* __NR_clone */
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jz sb_raw_child\n"
	"	ret\n"
	"	.cfi_endproc\n"
	".size sb_clone_run, .-sb_clone_run\n");
#else
/* The child of either: fn in x10, arg in x11. */
__asm__(".text\n"
	".type sb_raw_child,%function\n"
	"sb_raw_child:\n"
	"	.cfi_startproc\n"
	"	.cfi_undefined x30\n"
	"	mov x29, #0\n"
	"	mov x30, #0\n"
	"	mov x0, x11\n"
	"	blr x10\n"
	"	mov x8, #94\n" /* __NR_exit_group */
	"	svc #0\n"
	"	.cfi_endproc\n"
	".size sb_raw_child, .-sb_raw_child\n"
	".globl sb_clone3_run\n"
	".hidden sb_clone3_run\n"
	".type sb_clone3_run,%function\n"
	"sb_clone3_run:\n"
	"	.cfi_startproc\n"
	"	mov x10, x2\n"
	"	mov x11, x3\n"
	"	mov x8, #435\n" /* __NR_clone3 */
	"	svc #0\n"
	"	cbz x0, sb_raw_child\n"
	"	ret\n"
	"	.cfi_endproc\n"
	".size sb_clone3_run, .-sb_clone3_run\n"
	".globl sb_clone_run\n"
	".hidden sb_clone_run\n"
	".type sb_clone_run,%function\n"
	"sb_clone_run:\n"
	"	.cfi_startproc\n"
	"	mov x10, x3\n"
	"	mov x11, x4\n"
	"	mov x3, #0\n"
	"	mov x4, #0\n"
	"	mov x8, #220\n" /* __NR_clone */
	"	svc #0\n"
	"	cbz x0, sb_raw_child\n"
	"	ret\n"
	"	.cfi_endproc\n"
	".size sb_clone_run, .-sb_clone_run\n");
#endif
_Static_assert(SYS_clone3 == 435, "clone3's number");
#if defined(__x86_64__)
_Static_assert(SYS_exit_group == 231, "exit_group's number");
_Static_assert(SYS_clone == 56, "clone's number");
#else
_Static_assert(SYS_exit_group == 94, "exit_group's number");
_Static_assert(SYS_clone == 220, "clone's number");
#endif
#endif
