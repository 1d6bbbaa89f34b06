/* SPDX-License-Identifier: Apache-2.0 */
/* seccomp_bpf.h - a profile's seccomp policy, compiled for slotbox-init.
 *
 * The daemon compiles each profile once, when the profiles are loaded,
 * into a sealed memfd holding the raw BPF program (struct sock_filter[]).
 * Every sandbox of the profile gets that fd; slotbox-init reads it once
 * and each slot installs it before every command's execve (leader.c),
 * with raw system calls only: no libseccomp on that path. */
#ifndef SLOTBOX_SANDBOX_SECCOMP_BPF_H
#define SLOTBOX_SANDBOX_SECCOMP_BPF_H

#include "common/err.h"
#include "config/profile.h"

/* *fd is the program's memfd (read it with pread: sandboxes share its
 * offset), or -1 when the profile says seccomp: none. 0, or -1 with err. */
int seccomp_bpf_compile(const struct sb_profile *p, int *fd,
			struct sb_err *err);

/* The same at libseccomp's optimization level (1: one chain of syscall
 * numbers, 2: a binary tree, what seccomp_bpf_compile uses); for
 * bench/seccomp_cost. */
int seccomp_bpf_compile_at(const struct sb_profile *p, int level, int *fd,
			   struct sb_err *err);

#endif
