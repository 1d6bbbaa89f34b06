/* SPDX-License-Identifier: Apache-2.0 */
/* raw_clone.c - clone3 onto a new stack (raw_syscall.h).
 *
 * glibc has no clone3 wrapper, and syscall(SYS_clone3, ...) cannot be
 * used with a new stack: the child would return from the wrapper through
 * a stack it does not have. This does what glibc's own clone3 does for
 * posix_spawn: the child calls fn(arg) on its stack and exits with its
 * result. Everything fn and arg need must survive in registers the
 * kernel keeps across the call: r8/rdx on x86_64, x10/x11 on aarch64. */
#include "init/raw_syscall.h"

#include <sys/syscall.h>

#ifdef SB_HAVE_RAW_SYSCALL
#if defined(__x86_64__)
__asm__(".text\n"
	".globl sb_clone3_run\n"
	".hidden sb_clone3_run\n"
	".type sb_clone3_run,@function\n"
	"sb_clone3_run:\n"
	"	.cfi_startproc\n"
	"	mov %rcx, %r8\n"
	"	mov $435, %eax\n" /* __NR_clone3 */
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jz 1f\n"
	"	ret\n"
	"1:\n"
	"	.cfi_undefined %rip\n"
	"	xor %ebp, %ebp\n"
	"	and $-16, %rsp\n"
	"	mov %r8, %rdi\n"
	"	call *%rdx\n"
	"	mov %eax, %edi\n"
	"	mov $231, %eax\n" /* __NR_exit_group */
	"	syscall\n"
	"	hlt\n"
	"	.cfi_endproc\n"
	".size sb_clone3_run, .-sb_clone3_run\n");
#else
__asm__(".text\n"
	".globl sb_clone3_run\n"
	".hidden sb_clone3_run\n"
	".type sb_clone3_run,%function\n"
	"sb_clone3_run:\n"
	"	.cfi_startproc\n"
	"	mov x10, x2\n"
	"	mov x11, x3\n"
	"	mov x8, #435\n" /* __NR_clone3 */
	"	svc #0\n"
	"	cbz x0, 1f\n"
	"	ret\n"
	"1:\n"
	"	.cfi_undefined x30\n"
	"	mov x29, #0\n"
	"	mov x30, #0\n"
	"	mov x0, x11\n"
	"	blr x10\n"
	"	mov x8, #94\n" /* __NR_exit_group */
	"	svc #0\n"
	"	.cfi_endproc\n"
	".size sb_clone3_run, .-sb_clone3_run\n");
#endif
_Static_assert(SYS_clone3 == 435, "clone3's number");
#if defined(__x86_64__)
_Static_assert(SYS_exit_group == 231, "exit_group's number");
#else
_Static_assert(SYS_exit_group == 94, "exit_group's number");
#endif
#endif
