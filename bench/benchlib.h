/* SPDX-License-Identifier: Apache-2.0 */
/* benchlib.h - what slotbench and coldprobe share: timing, latency
 * samples and the CSV rows bench/run reads.
 *
 * A row on stdout: system,scenario,n,p50_us,p99_us,ops_per_s,notes
 * A sample (appended to bench_samples_path when set):
 * system,scenario,microseconds */
#ifndef SLOTBOX_BENCHLIB_H
#define SLOTBOX_BENCHLIB_H

#include <stddef.h>

__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);

/* CLOCK_MONOTONIC in microseconds. */
double now_us(void);

void *xcalloc(size_t n, size_t size);

/* The machine's CPU time from /proc/stat, in milliseconds: busy (user,
 * nice, system, irq, softirq) and stolen by other guests. A batch's CPU
 * per call, next to its throughput, says where a gap to the limit is
 * work and where it is waiting. */
struct cpu_mark {
	double busy_ms, steal_ms;
};

void cpu_mark(struct cpu_mark *m);

/* A growable list of latencies in microseconds. */
struct samples {
	double *v;
	size_t n, cap;
};

void push(struct samples *s, double us);

/* File that report() appends raw samples to; NULL: none. */
extern const char *bench_samples_path;

/* The only option of a program measured N times: -n N (default dflt, at
 * least 1); dies with "usage: NAME [-n N]" on anything else. */
long bench_opt_n(int argc, char **argv, const char *name, long dflt);

/* Print one row and free the samples. ops_per_s <= 0 means one call at a
 * time: n / (sum of the latencies). */
void report(const char *system, const char *scenario, struct samples *s,
	    double ops_per_s, const char *notes);

#endif
