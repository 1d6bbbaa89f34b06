/* SPDX-License-Identifier: Apache-2.0 */
/* seccomp_bpf.c - compile a profile's policy (config/seccomp_policy.c) with
 * libseccomp and export it as BPF into a sealed memfd. */
#include "sandbox/seccomp_bpf.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "config/seccomp_policy.h"

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

struct compile {
	scmp_filter_ctx ctx;
	struct sb_err *err;
};

/* The filter checks the architecture of every call. A 32-bit or x32
 * binary in a slot would meet the bad-architecture action (kill) on its
 * first call; giving its ABI the same rules lets it run, filtered. */
static int add_compat_arches(scmp_filter_ctx ctx, struct sb_err *err)
{
	uint32_t extra[2] = {0, 0};
	uint32_t native = seccomp_arch_native();

	if (native == SCMP_ARCH_X86_64) {
		extra[0] = SCMP_ARCH_X86;
		extra[1] = SCMP_ARCH_X32;
	} else if (native == SCMP_ARCH_AARCH64) {
		extra[0] = SCMP_ARCH_ARM;
	}
	for (size_t i = 0; i < 2 && extra[i]; i++) {
		int r = seccomp_arch_add(ctx, extra[i]);
		if (r < 0 && r != -EEXIST)
			return sb_err_set(err, -r,
					  "seccomp: add architecture: %s",
					  strerror(-r));
	}
	return 0;
}

static int add_rule(const struct sb_seccomp_rule *rule, void *ud)
{
	struct compile *c = ud;
	int nr = seccomp_syscall_resolve_name(rule->name);
	uint32_t act = SCMP_ACT_ERRNO((uint32_t)rule->err);
	int r = 0;

	if (nr == __NR_SCMP_ERROR) /* the loader checked every name */
		return sb_err_set(c->err, EINVAL,
				  "seccomp: unknown system call \"%s\"",
				  rule->name);
	if (rule->n_cond == 0)
		r = seccomp_rule_add(c->ctx, act, nr, 0);
	for (int i = 0; i < rule->n_cond && r == 0; i++)
		r = seccomp_rule_add(c->ctx, act, nr, 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ,
					     rule->cond[i].mask,
					     rule->cond[i].value));
	if (r < 0)
		return sb_err_set(c->err, -r, "seccomp: rule for \"%s\": %s",
				  rule->name, strerror(-r));
	return 0;
}

/* The program must be one init can take as it is: whole instructions, at
 * most the kernel's limit. */
static int check_size(int fd, struct sb_err *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return sb_err_sys(err, "seccomp: stat the program");
	if (st.st_size <= 0 || st.st_size % (off_t)sizeof(struct sock_filter) ||
	    st.st_size > (off_t)(BPF_MAXINSNS * sizeof(struct sock_filter)))
		return sb_err_set(
			err, E2BIG,
			"seccomp: the program has %lld bytes (at most "
			"%d instructions of %zu)",
			(long long)st.st_size, BPF_MAXINSNS,
			sizeof(struct sock_filter));
	return 0;
}

static int export_sealed(scmp_filter_ctx ctx, int *out, struct sb_err *err)
{
	_cleanup_fd_ int fd = memfd_create("slotbox-seccomp",
					   MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return sb_err_sys(err, "seccomp: memfd_create");
	int r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return sb_err_set(err, -r, "seccomp: export the program: %s",
				  strerror(-r));
	if (check_size(fd, err) < 0)
		return -1;
	/* Sealed: no sandbox, and no bug of ours, can change a filter that
	 * every later sandbox of the profile will install. */
	if (fcntl(fd, F_ADD_SEALS, SEALS) < 0)
		return sb_err_sys(err, "seccomp: seal the program");
	*out = steal_fd(&fd);
	return 0;
}

int seccomp_bpf_compile_at(const struct sb_profile *p, int level, int *fd,
			   struct sb_err *err)
{
	*fd = -1;
	if (p->seccomp == SB_SECCOMP_NONE)
		return 0;
	/* Everything not on the list is allowed; a listed call fails with
	 * its errno rather than killing the process, so tools can report
	 * it or fall back (clone3 to clone). */
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return sb_err_set(err, ENOMEM, "seccomp: out of memory");
	struct compile c = {.ctx = ctx, .err = err};
	/* an older libseccomp has no levels: the chain, as before */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, (uint32_t)level);
	int r = add_compat_arches(ctx, err);
	if (r == 0)
		r = sb_seccomp_foreach(p, add_rule, &c);
	if (r == 0)
		r = export_sealed(ctx, fd, err);
	seccomp_release(ctx);
	return r < 0 ? -1 : 0;
}

/* A binary tree of syscall numbers, not one long chain: every process
 * of a slot installs this program (each call's spare), and the kernel
 * runs it for every syscall number as it does so, to build its allow
 * cache, with interrupts off. bench/seccomp_cost: 157 instructions in a
 * chain took ~175 us to install here, the tree's 191 ~58 us. */
int seccomp_bpf_compile(const struct sb_profile *p, int *fd, struct sb_err *err)
{
	return seccomp_bpf_compile_at(p, 2, fd, err);
}
