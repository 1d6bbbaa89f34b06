/* SPDX-License-Identifier: Apache-2.0 */
/* raw_syscall.h - system calls without libc, for code that runs in a child
 * sharing its parent's memory (spare_vm.c).
 *
 * Such a child runs alongside the leader in one address space and with
 * the leader's thread pointer, so it must not touch anything of libc's
 * that lives in memory: errno (thread-local, the leader's own), malloc's
 * state, stdio. These wrappers are one instruction each and return
 * -errno on failure, like the kernel. Only x86_64 and aarch64 have them
 * (SB_HAVE_RAW_SYSCALL); elsewhere the same names call libc's syscall()
 * and spares are forked (spare.c). */
#ifndef SLOTBOX_INIT_RAW_SYSCALL_H
#define SLOTBOX_INIT_RAW_SYSCALL_H

#include <stddef.h>

struct clone_args;

/* Code that runs in such a child: no sanitizer instrumentation, whose
 * runtime keeps per-thread state the child would share with the leader. */
#define SB_RAW_CHILD __attribute__((no_sanitize("address", "undefined")))

#if defined(__x86_64__) || defined(__aarch64__)
#define SB_HAVE_RAW_SYSCALL 1

#if defined(__x86_64__)
static inline long sb_raw6(long n, long a, long b, long c, long d, long e,
			   long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
			   "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#else
static inline long sb_raw6(long n, long a, long b, long c, long d, long e,
			   long f)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc 0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory");
	return x0;
}
#endif
#else
/* Elsewhere libc's syscall(), which sets errno: fine in a forked spare,
 * which has its own; spares then never share the leader's memory. */
#include <errno.h>
#include <unistd.h>

static inline long sb_raw6(long n, long a, long b, long c, long d, long e,
			   long f)
{
	long r = syscall(n, a, b, c, d, e, f);
	return r < 0 ? -errno : r;
}
#endif

#define sb_raw0(n) sb_raw6((n), 0, 0, 0, 0, 0, 0)
#define sb_raw1(n, a) sb_raw6((n), (long)(a), 0, 0, 0, 0, 0)
#define sb_raw2(n, a, b) sb_raw6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define sb_raw3(n, a, b, c)                                                    \
	sb_raw6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sb_raw4(n, a, b, c, d)                                                 \
	sb_raw6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sb_raw5(n, a, b, c, d, e)                                              \
	sb_raw6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

#ifdef SB_HAVE_RAW_SYSCALL
/* clone3(args, size): in the parent, the child's pid or -errno; the
 * child starts on args->stack, calls fn(arg) there, and exits with what
 * it returns (fn normally execs or exits itself). */
long sb_clone3_run(struct clone_args *args, size_t size, int (*fn)(void *),
		   void *arg);
/* The same through the old clone(flags, stack_top, parent_tid), which a
 * seccomp filter can judge by its flags (raw_clone.c): no child_tid, no
 * tls. */
long sb_clone_run(unsigned long flags, void *stack_top, int *parent_tid,
		  int (*fn)(void *), void *arg);
#endif

#endif
