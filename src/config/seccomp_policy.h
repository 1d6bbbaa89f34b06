/* SPDX-License-Identifier: Apache-2.0 */
/* seccomp_policy.h - the system calls a profile's commands may not make.
 *
 * The default list denies what an unprivileged process could use to reach
 * the kernel's riskier interfaces or to build a root of its own: mounts,
 * user namespaces, keyrings, bpf, perf, modules, kexec, clocks, swap...
 * A profile adds names (seccomp_deny) and takes some out (seccomp_allow);
 * `seccomp: none` turns the filter off. The daemon compiles the result once
 * per profile (sandbox/seccomp_bpf.c) and /v1/profiles reports it, both
 * from sb_seccomp_foreach(), so what is shown is what is enforced. */
#ifndef SLOTBOX_CONFIG_SECCOMP_POLICY_H
#define SLOTBOX_CONFIG_SECCOMP_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "config/profile.h"

/* Denied when (first argument & mask) == value. */
struct sb_seccomp_cond {
	uint64_t mask, value;
};

struct sb_seccomp_rule {
	const char *name; /* as libseccomp spells it */
	int err;	  /* the errno the call fails with */
	int n_cond;	  /* 0: always; else when any condition matches */
	struct sb_seccomp_cond cond[2];
	const char *when; /* the conditions in words; NULL when always */
};

/* Does libseccomp know this system call (on any architecture)? */
bool sb_seccomp_syscall_known(const char *name);

/* The default list's rule for name, or NULL when it is not on the list. */
const struct sb_seccomp_rule *sb_seccomp_default_rule(const char *name);

/* "EPERM" or "ENOSYS". */
const char *sb_seccomp_errname(int err);

/* Call fn with each rule the profile enforces, in a stable order: the
 * default list minus seccomp_allow (a name also in seccomp_deny is denied
 * whatever its arguments), then seccomp_deny's other names (EPERM). None
 * when the profile says seccomp: none. Stops at, and returns, the first
 * negative value fn returns; 0 otherwise. */
int sb_seccomp_foreach(const struct sb_profile *p,
		       int (*fn)(const struct sb_seccomp_rule *r, void *ud),
		       void *ud);

/* Does the profile's filter keep its slots from making a user namespace?
 * unshare and clone must refuse CLONE_NEWUSER and clone3 (whose flags a
 * filter cannot read) must be refused outright. The daemon then gives
 * slots a chroot for a root (init/root_chroot.c), which a user namespace
 * could undo. */
bool sb_seccomp_denies_new_userns(const struct sb_profile *p);

/* How a slot of profile p enters its root (init/mounts.c): "pivot_root"
 * when its filter lets a user namespace through, else mode ("auto",
 * "chroot" or "pivot_root": slotboxd --slot-root; NULL is "auto"). */
const char *sb_slot_root(const struct sb_profile *p, const char *mode);

#endif
