/* SPDX-License-Identifier: Apache-2.0 */
/* metrics.c - the /metrics registry and its Prometheus text rendering. */
#include "pool/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool/gpu_metrics.h"
#include "pool/pool.h"

/* Seconds: from a warm acquire (~100 us) to a long command. */
static const double bounds[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
	0.25,	0.5,	 1,	 2.5,	5,	10,    30,   60,    300};
#define N_BOUNDS (sizeof bounds / sizeof bounds[0])

static const char *const tools[] = {"bash", "read_file", "write_file", "other"};
/* infra last: an unknown class counts as infra (index_of) */
static const char *const classes[] = {"none", "task", "timeout", "cancelled",
				      "infra"};
#define N_TOOLS 4
#define N_CLASSES 5

struct hist {
	uint64_t buckets[N_BOUNDS + 1]; /* last: +Inf */
	uint64_t count;
	double sum;
};

struct profile_metrics {
	struct hist h[MH_COUNT];
	uint64_t calls[N_TOOLS][N_CLASSES];
	uint64_t truncated;
	uint64_t acquire_timeouts, acquire_errors;
};

static struct {
	size_t n;
	const char **names;
	struct profile_metrics *p;
} reg;

int metrics_init(const struct pools *ps)
{
	reg.n = ps->n;
	reg.names = calloc(ps->n ? ps->n : 1, sizeof *reg.names);
	reg.p = calloc(ps->n ? ps->n : 1, sizeof *reg.p);
	if (!reg.names || !reg.p)
		return -1;
	for (size_t i = 0; i < ps->n; i++)
		reg.names[i] = ps->items[i].profile->name;
	return 0;
}

static struct profile_metrics *of(const char *profile)
{
	for (size_t i = 0; profile && i < reg.n; i++)
		if (strcmp(reg.names[i], profile) == 0)
			return &reg.p[i];
	return NULL;
}

static size_t index_of(const char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(list[i], s) == 0)
			return i;
	return n - 1;
}

void metrics_observe(enum metrics_hist h, const char *profile, double s)
{
	struct profile_metrics *m = of(profile);
	if (!m || h >= MH_COUNT || !(s >= 0))
		return;
	struct hist *x = &m->h[h];
	size_t b = 0;
	while (b < N_BOUNDS && s > bounds[b])
		b++;
	x->buckets[b]++;
	x->count++;
	x->sum += s;
}

void metrics_call(const char *profile, const char *tool,
		  const char *error_class, int truncated)
{
	struct profile_metrics *m = of(profile);
	if (!m)
		return;
	m->calls[index_of(tools, N_TOOLS, tool)]
		[index_of(classes, N_CLASSES, error_class)]++;
	m->truncated += truncated != 0;
}

void metrics_acquire_failed(const char *profile, const char *code)
{
	struct profile_metrics *m = of(profile);
	if (!m)
		return;
	if (code && strcmp(code, "acquire_timeout") == 0)
		m->acquire_timeouts++;
	else
		m->acquire_errors++;
}

/* ---- rendering ---- */

struct page {
	char *buf;
	size_t len, cap;
	int oom;
};

__attribute__((format(printf, 2, 3))) static void out(struct page *pg,
						      const char *fmt, ...)
{
	va_list ap;
	for (int tries = 0; tries < 2 && !pg->oom; tries++) {
		va_start(ap, fmt);
		int n = vsnprintf(pg->buf + pg->len, pg->cap - pg->len, fmt,
				  ap);
		va_end(ap);
		if (n < 0) {
			pg->oom = 1;
			return;
		}
		if ((size_t)n < pg->cap - pg->len) {
			pg->len += (size_t)n;
			return;
		}
		size_t cap = pg->cap * 2 + (size_t)n + 1;
		char *b = realloc(pg->buf, cap);
		if (!b)
			pg->oom = 1;
		else
			pg->buf = b, pg->cap = cap;
	}
}

static void gauge(struct page *pg, const struct pools *ps, const char *name,
		  const char *help, const char *type, int which)
{
	out(pg, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	for (size_t i = 0; i < ps->n; i++) {
		const struct pool *p = &ps->items[i];
		struct pool_counts c;
		pool_counts(p, &c);
		const double v[] = {
			c.starting,	    c.healthy,
			c.total_slots,	    c.available,
			c.leased,	    c.waiters,
			(double)p->created, (double)p->destroyed,
			(double)p->lost,    p->profile->max_sandboxes};
		out(pg, "%s{profile=\"%s\"} %g\n", name, p->profile->name,
		    v[which]);
	}
}

static void histogram(struct page *pg, const char *name, const char *help,
		      enum metrics_hist h)
{
	out(pg, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t i = 0; i < reg.n; i++) {
		const struct hist *x = &reg.p[i].h[h];
		uint64_t cum = 0;
		for (size_t b = 0; b < N_BOUNDS; b++) {
			cum += x->buckets[b];
			out(pg, "%s_bucket{profile=\"%s\",le=\"%g\"} %llu\n",
			    name, reg.names[i], bounds[b],
			    (unsigned long long)cum);
		}
		out(pg, "%s_bucket{profile=\"%s\",le=\"+Inf\"} %llu\n", name,
		    reg.names[i], (unsigned long long)x->count);
		out(pg, "%s_sum{profile=\"%s\"} %.9g\n", name, reg.names[i],
		    x->sum);
		out(pg, "%s_count{profile=\"%s\"} %llu\n", name, reg.names[i],
		    (unsigned long long)x->count);
	}
}

static void counters(struct page *pg)
{
	out(pg, "# HELP slotbox_calls_total Finished tool calls by tool and "
		"error_class.\n# TYPE slotbox_calls_total counter\n");
	for (size_t i = 0; i < reg.n; i++)
		for (size_t t = 0; t < N_TOOLS; t++)
			for (size_t c = 0; c < N_CLASSES; c++)
				out(pg,
				    "slotbox_calls_total{profile=\"%s\",tool="
				    "\"%s\",error_class=\"%s\"} %llu\n",
				    reg.names[i], tools[t], classes[c],
				    (unsigned long long)reg.p[i].calls[t][c]);
	out(pg, "# HELP slotbox_calls_truncated_total Calls whose output was "
		"cut at output_limit_bytes.\n# TYPE "
		"slotbox_calls_truncated_total counter\n");
	for (size_t i = 0; i < reg.n; i++)
		out(pg, "slotbox_calls_truncated_total{profile=\"%s\"} %llu\n",
		    reg.names[i], (unsigned long long)reg.p[i].truncated);
	out(pg, "# HELP slotbox_acquire_failures_total Acquires that ended "
		"without a slot.\n# TYPE slotbox_acquire_failures_total "
		"counter\n");
	for (size_t i = 0; i < reg.n; i++) {
		out(pg,
		    "slotbox_acquire_failures_total{profile=\"%s\",reason="
		    "\"timeout\"} %llu\n",
		    reg.names[i],
		    (unsigned long long)reg.p[i].acquire_timeouts);
		out(pg,
		    "slotbox_acquire_failures_total{profile=\"%s\",reason="
		    "\"error\"} %llu\n",
		    reg.names[i], (unsigned long long)reg.p[i].acquire_errors);
	}
}

char *metrics_render(const struct pools *ps, size_t *len)
{
	static const struct {
		const char *name, *help, *type;
	} g[] = {
		{"slotbox_sandboxes_starting", "Sandboxes starting.", "gauge"},
		{"slotbox_sandboxes_healthy", "Sandboxes running.", "gauge"},
		{"slotbox_slots_total", "Slots of live sandboxes.", "gauge"},
		{"slotbox_slots_available", "Slots free to lease.", "gauge"},
		{"slotbox_slots_leased", "Slots leased.", "gauge"},
		{"slotbox_acquire_waiters", "Acquires waiting.", "gauge"},
		{"slotbox_sandboxes_created_total", "Sandboxes started.",
		 "counter"},
		{"slotbox_sandboxes_recycled_total",
		 "Sandboxes stopped on purpose (idle, lifetime, errors).",
		 "counter"},
		{"slotbox_sandboxes_lost_total",
		 "Sandboxes that died on their own.", "counter"},
		{"slotbox_sandboxes_max", "max_sandboxes of the profile.",
		 "gauge"},
	};
	struct page pg = {.cap = 16384};
	pg.buf = malloc(pg.cap);
	if (!pg.buf)
		return NULL;
	for (int i = 0; i < (int)(sizeof g / sizeof g[0]); i++)
		gauge(&pg, ps, g[i].name, g[i].help, g[i].type, i);
	histogram(&pg, "slotbox_acquire_wait_seconds",
		  "Time from acquire to a leased slot.", MH_ACQUIRE_WAIT);
	histogram(&pg, "slotbox_exec_seconds",
		  "Tool call latency inside the daemon.", MH_EXEC);
	histogram(&pg, "slotbox_sandbox_start_seconds",
		  "Time from clone to a sandbox's init being ready.",
		  MH_SANDBOX_START);
	counters(&pg);
	const struct sbx_zygote *z = &ps->env->zygote;
	out(&pg,
	    "# HELP slotbox_init_zygote Sandbox inits are forked by the init "
	    "zygote (1) or exec'd (0: SLOTBOX_ZYGOTE=0, or it failed).\n"
	    "# TYPE slotbox_init_zygote gauge\nslotbox_init_zygote %d\n"
	    "# HELP slotbox_init_zygote_failures_total Init zygotes that did "
	    "not start or broke.\n"
	    "# TYPE slotbox_init_zygote_failures_total counter\n"
	    "slotbox_init_zygote_failures_total %d\n",
	    z->off ? 0 : 1, z->failed_starts);
	char *gpu = gpu_metrics_text(ps);
	if (gpu)
		out(&pg, "%s", gpu);
	free(gpu);
	if (pg.oom) {
		free(pg.buf);
		return NULL;
	}
	*len = pg.len;
	return pg.buf;
}
