/* SPDX-License-Identifier: Apache-2.0 */
#include "benchlib.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *bench_samples_path;

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("slotbench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

double now_us(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		die("clock_gettime: %s", strerror(errno));
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

void cpu_mark(struct cpu_mark *m)
{
	FILE *f = fopen("/proc/stat", "re");
	unsigned long long v[8] = {0};
	if (!f)
		die("open /proc/stat: %s", strerror(errno));
	/* cpu user nice system idle iowait irq softirq steal */
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
		die("/proc/stat: no cpu line");
	fclose(f);
	double ms_per_tick = 1000.0 / (double)sysconf(_SC_CLK_TCK);
	m->busy_ms = (double)(v[0] + v[1] + v[2] + v[5] + v[6]) * ms_per_tick;
	m->steal_ms = (double)v[7] * ms_per_tick;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (!p)
		die("out of memory");
	return p;
}

void push(struct samples *s, double us)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		double *v = realloc(s->v, cap * sizeof *v);
		if (!v)
			die("out of memory");
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = us;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values. */
static double pct(const double *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

/* CSV field: quoted when it holds a comma, quote or newline. */
static void put_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

void report(const char *system, const char *scenario, struct samples *s,
	    double ops_per_s, const char *notes)
{
	double sum = 0;
	for (size_t i = 0; i < s->n; i++)
		sum += s->v[i];
	if (bench_samples_path && s->n) {
		FILE *f = fopen(bench_samples_path, "a");
		if (!f)
			die("open %s: %s", bench_samples_path, strerror(errno));
		for (size_t i = 0; i < s->n; i++) {
			put_field(f, system);
			fputc(',', f);
			put_field(f, scenario);
			fprintf(f, ",%.1f\n", s->v[i]);
		}
		if (fclose(f) != 0)
			die("write %s: %s", bench_samples_path,
			    strerror(errno));
	}
	if (s->n)
		qsort(s->v, s->n, sizeof *s->v, cmp_double);
	if (ops_per_s <= 0)
		ops_per_s = sum > 0 ? (double)s->n / (sum / 1e6) : 0;
	put_field(stdout, system);
	putchar(',');
	put_field(stdout, scenario);
	printf(",%zu,%.1f,%.1f,%.1f,", s->n, pct(s->v, s->n, 50),
	       pct(s->v, s->n, 99), ops_per_s);
	put_field(stdout, notes ? notes : "");
	putchar('\n');
	if (fflush(stdout) != 0)
		die("write stdout: %s", strerror(errno));
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

long bench_opt_n(int argc, char **argv, const char *name, long dflt)
{
	long n = dflt;
	int o;
	while ((o = getopt(argc, argv, "n:")) != -1) {
		if (o != 'n')
			die("usage: %s [-n N]", name);
		n = strtol(optarg, NULL, 10);
	}
	if (n < 1)
		die("-n must be at least 1");
	return n;
}
