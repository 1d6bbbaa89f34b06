/* SPDX-License-Identifier: Apache-2.0 */
/* seccomp_policy.c - the default deny list and a profile's changes to it. */
#include "config/seccomp_policy.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>

#define ALWAYS(n)                                                              \
	{                                                                      \
		.name = (n), .err = EPERM                                      \
	}

/* A new user namespace gives an unprivileged process every capability
 * over a world of its own, which is how most unprivileged kernel exploits
 * start; its other namespaces need CAP_SYS_ADMIN, which slots never have. */
#define NO_NEWUSER(n)                                                          \
	{                                                                      \
		.name = (n), .err = EPERM, .n_cond = 1,                        \
		.cond = {{CLONE_NEWUSER, CLONE_NEWUSER}},                      \
		.when = "flags include CLONE_NEWUSER"                          \
	}

static const struct sb_seccomp_rule defaults[] = {
	/* mounts and roots */
	ALWAYS("mount"),
	ALWAYS("umount"),
	ALWAYS("umount2"),
	ALWAYS("pivot_root"),
	ALWAYS("chroot"),
	ALWAYS("move_mount"),
	ALWAYS("open_tree"),
	ALWAYS("fsopen"),
	ALWAYS("fsconfig"),
	ALWAYS("fsmount"),
	ALWAYS("fspick"),
	ALWAYS("mount_setattr"),
	/* namespaces */
	NO_NEWUSER("unshare"),
	NO_NEWUSER("clone"),
	/* clone3 takes its flags in memory, which a filter cannot read; with
	 * ENOSYS glibc falls back to clone (threads, posix_spawn), where the
	 * flags are an argument. */
	{.name = "clone3", .err = ENOSYS},
	ALWAYS("setns"),
	/* the kernel itself */
	ALWAYS("kexec_load"),
	ALWAYS("kexec_file_load"),
	ALWAYS("init_module"),
	ALWAYS("finit_module"),
	ALWAYS("delete_module"),
	ALWAYS("reboot"),
	ALWAYS("swapon"),
	ALWAYS("swapoff"),
	ALWAYS("acct"),
	ALWAYS("syslog"),
	ALWAYS("iopl"),
	ALWAYS("ioperm"),
	ALWAYS("lookup_dcookie"),
	ALWAYS("quotactl"),
	ALWAYS("quotactl_fd"),
	/* large attack surfaces an agent's tools do not need */
	ALWAYS("bpf"),
	ALWAYS("perf_event_open"),
	ALWAYS("userfaultfd"),
	ALWAYS("keyctl"),
	ALWAYS("add_key"),
	ALWAYS("request_key"),
	/* Asynchronous I/O draws on host-wide pools: fs.aio-max-nr counts
	 * every io_setup event on the machine, so one slot could take them
	 * all; io_uring is a large attack surface besides. ENOSYS, so that
	 * programs fall back to ordinary I/O (glibc's POSIX aio uses
	 * threads, not these). A profile opts in with seccomp_allow. */
	{.name = "io_setup", .err = ENOSYS},
	{.name = "io_submit", .err = ENOSYS},
	{.name = "io_uring_setup", .err = ENOSYS},
	{.name = "io_uring_enter", .err = ENOSYS},
	{.name = "io_uring_register", .err = ENOSYS},
	/* file handles bypass path checks */
	ALWAYS("open_by_handle_at"),
	ALWAYS("name_to_handle_at"),
	/* clocks are the host's */
	ALWAYS("settimeofday"),
	ALWAYS("stime"),
	ALWAYS("clock_settime"),
	ALWAYS("adjtimex"),
	ALWAYS("clock_adjtime"),
};

#define N_DEFAULTS (sizeof defaults / sizeof defaults[0])

bool sb_seccomp_syscall_known(const char *name)
{
	/* Names of other architectures' calls (umount, stime on x86_64)
	 * resolve to negative pseudo numbers: known, a no-op here. */
	return seccomp_syscall_resolve_name(name) != __NR_SCMP_ERROR;
}

const struct sb_seccomp_rule *sb_seccomp_default_rule(const char *name)
{
	for (size_t i = 0; i < N_DEFAULTS; i++)
		if (strcmp(defaults[i].name, name) == 0)
			return &defaults[i];
	return NULL;
}

const char *sb_seccomp_errname(int err)
{
	return err == ENOSYS ? "ENOSYS" : "EPERM";
}

static bool listed(char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

int sb_seccomp_foreach(const struct sb_profile *p,
		       int (*fn)(const struct sb_seccomp_rule *r, void *ud),
		       void *ud)
{
	int r;

	if (p->seccomp == SB_SECCOMP_NONE)
		return 0;
	for (size_t i = 0; i < N_DEFAULTS; i++) {
		struct sb_seccomp_rule rule = defaults[i];
		if (listed(p->seccomp_allow, p->n_seccomp_allow, rule.name))
			continue;
		if (listed(p->seccomp_deny, p->n_seccomp_deny, rule.name)) {
			rule.n_cond = 0;
			rule.when = NULL;
		}
		if ((r = fn(&rule, ud)) < 0)
			return r;
	}
	for (size_t i = 0; i < p->n_seccomp_deny; i++) {
		const char *name = p->seccomp_deny[i];
		struct sb_seccomp_rule rule = ALWAYS(name);
		if (sb_seccomp_default_rule(name))
			continue; /* done above */
		if ((r = fn(&rule, ud)) < 0)
			return r;
	}
	return 0;
}

static int count_userns_rule(const struct sb_seccomp_rule *r, void *ud)
{
	bool newuser = r->n_cond == 0;
	for (int i = 0; i < r->n_cond; i++)
		newuser |= r->cond[i].mask == CLONE_NEWUSER &&
			   r->cond[i].value == CLONE_NEWUSER;
	if ((strcmp(r->name, "unshare") == 0 && newuser) ||
	    (strcmp(r->name, "clone") == 0 && newuser) ||
	    strcmp(r->name, "clone3") == 0)
		++*(int *)ud;
	return 0;
}

bool sb_seccomp_denies_new_userns(const struct sb_profile *p)
{
	int n = 0;
	if (p->seccomp == SB_SECCOMP_NONE)
		return false;
	sb_seccomp_foreach(p, count_userns_rule, &n);
	return n == 3;
}

const char *sb_slot_root(const struct sb_profile *p, const char *mode)
{
	if (!sb_seccomp_denies_new_userns(p))
		return "pivot_root";
	return mode ? mode : "auto";
}
