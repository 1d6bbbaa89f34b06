/* SPDX-License-Identifier: Apache-2.0 */
/* bench_filter.h - the default profile's seccomp program, as the daemon
 * compiles it, for the programs that time its install (seccomp_cost,
 * filter_inherit). */
#ifndef SLOTBOX_BENCH_FILTER_H
#define SLOTBOX_BENCH_FILTER_H

#include <linux/filter.h>

/* The program at libseccomp's optimization level (1: one chain, 2: a
 * binary tree; 0: the daemon's own choice, seccomp_bpf_compile); dies
 * when it cannot be made. */
void bench_filter_load(int level, struct sock_fprog *out);

#endif
