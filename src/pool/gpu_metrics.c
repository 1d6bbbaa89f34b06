/* SPDX-License-Identifier: Apache-2.0 */
/* gpu_metrics.c - NVML sampling off the event loop (see gpu_metrics.h). */
#include "pool/gpu_metrics.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "pool/pool.h"

#define MAX_DEVS 64
#define MAX_PROCS 1024
#define NVML_OK 0
#define NVML_INSUFFICIENT_SIZE 7

/* The few NVML types we use, as nvml.h lays them out. */
typedef struct nvml_dev *nvml_dev_t;
struct nvml_util {
	unsigned gpu;
	/* cppcheck-suppress unusedStructMember ; nvml.h's layout */
	unsigned memory;
};
struct nvml_mem {
	unsigned long long total;
	/* cppcheck-suppress unusedStructMember ; nvml.h's layout */
	unsigned long long free;
	unsigned long long used;
};
struct nvml_proc_v1 {
	unsigned pid;
	unsigned long long mem;
};
struct nvml_proc_v2 { /* also the _v3 call's */
	unsigned pid;
	unsigned long long mem;
	unsigned gi, ci;
};
struct nvml_util_sample {
	unsigned pid;
	unsigned long long ts;
	unsigned sm;
	/* cppcheck-suppress unusedStructMember ; nvml.h's layout */
	unsigned mem;
	/* cppcheck-suppress unusedStructMember ; nvml.h's layout */
	unsigned enc;
	/* cppcheck-suppress unusedStructMember ; nvml.h's layout */
	unsigned dec;
};

static struct {
	void *lib;
	int (*init)(void);
	int (*count)(unsigned *);
	int (*handle)(unsigned, nvml_dev_t *);
	int (*name)(nvml_dev_t, char *, unsigned);
	int (*uuid)(nvml_dev_t, char *, unsigned);
	int (*minor)(nvml_dev_t, unsigned *);
	int (*util)(nvml_dev_t, struct nvml_util *);
	int (*mem)(nvml_dev_t, struct nvml_mem *);
	int (*procs)(nvml_dev_t, unsigned *, void *);
	size_t proc_size; /* of the struct procs fills */
	int (*proc_util)(nvml_dev_t, struct nvml_util_sample *, unsigned *,
			 unsigned long long);
} nv;

struct dev_sample {
	int minor;
	char name[96], uuid[96];
	bool have_util, have_mem;
	unsigned util;
	unsigned long long used, total;
};

struct proc_sample {
	int dev; /* index into devs */
	unsigned pid;
	bool have_mem;
	unsigned long long mem;
	unsigned sm; /* utilisation %, 0 without samples */
	char sandbox[64];
	int slot; /* -1: in no slot */
};

struct sample {
	int n_devs, n_procs;
	struct dev_sample devs[MAX_DEVS];
	struct proc_sample procs[MAX_PROCS];
	char error[128];
};

static struct {
	uv_loop_t *loop;
	uv_timer_t timer;
	uv_work_t work;
	bool busy, running, inited;
	struct sample *next, *latest;
	unsigned long long last_ts[MAX_DEVS]; /* worker only */
} st;

static void *sym(const char *a, const char *b)
{
	void *f = dlsym(nv.lib, a);
	return f || !b ? f : dlsym(nv.lib, b);
}

static bool nvml_load(const char *path, char *why, size_t len)
{
	nv.lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!nv.lib) {
		snprintf(why, len, "%s", dlerror());
		return false;
	}
	/* dlsym returns void *; NVML's entry points are plain C functions. */
	*(void **)&nv.init = sym("nvmlInit_v2", "nvmlInit");
	*(void **)&nv.count =
		sym("nvmlDeviceGetCount_v2", "nvmlDeviceGetCount");
	*(void **)&nv.handle = sym("nvmlDeviceGetHandleByIndex_v2",
				   "nvmlDeviceGetHandleByIndex");
	*(void **)&nv.name = sym("nvmlDeviceGetName", NULL);
	*(void **)&nv.uuid = sym("nvmlDeviceGetUUID", NULL);
	*(void **)&nv.minor = sym("nvmlDeviceGetMinorNumber", NULL);
	*(void **)&nv.util = sym("nvmlDeviceGetUtilizationRates", NULL);
	*(void **)&nv.mem = sym("nvmlDeviceGetMemoryInfo", NULL);
	*(void **)&nv.proc_util = sym("nvmlDeviceGetProcessUtilization", NULL);
	nv.proc_size = sizeof(struct nvml_proc_v2);
	*(void **)&nv.procs = sym("nvmlDeviceGetComputeRunningProcesses_v3",
				  "nvmlDeviceGetComputeRunningProcesses_v2");
	if (!nv.procs) {
		*(void **)&nv.procs =
			sym("nvmlDeviceGetComputeRunningProcesses", NULL);
		nv.proc_size = sizeof(struct nvml_proc_v1);
	}
	if (!nv.init || !nv.count || !nv.handle) {
		snprintf(why, len, "%s lacks nvmlInit/nvmlDeviceGetCount",
			 path);
		dlclose(nv.lib);
		nv.lib = NULL;
		return false;
	}
	return true;
}

bool gpu_metrics_cgroup_slot(const char *text, char *sandbox, int *slot)
{
	for (const char *p = text; (p = strstr(p, "/slotbox/")); p++) {
		/* /slotbox/<instance>/<sandbox>/s<i> */
		const char *inst = p + 9, *sb = strchr(inst, '/');
		if (!sb)
			continue;
		sb++;
		const char *s = strchr(sb, '/');
		if (!s || s == sb || (size_t)(s - sb) >= 64 || s[1] != 's')
			continue;
		char *end;
		long i = strtol(s + 2, &end, 10);
		if (end == s + 2 || (*end && *end != '/' && *end != '\n') ||
		    i < 0 || i > 100000)
			continue;
		memcpy(sandbox, sb, (size_t)(s - sb));
		sandbox[s - sb] = '\0';
		*slot = (int)i;
		return true;
	}
	return false;
}

static void attribute(struct proc_sample *p)
{
	char path[64], text[4096];
	p->slot = -1;
	snprintf(path, sizeof path, "/proc/%u/cgroup", p->pid);
	if (sb_read_small(path, text, sizeof text) < 0)
		return;
	if (!gpu_metrics_cgroup_slot(text, p->sandbox, &p->slot))
		p->slot = -1;
}

static void sample_procs(struct sample *s, int d, nvml_dev_t h)
{
	unsigned n = MAX_PROCS - (unsigned)s->n_procs;
	if (!nv.procs || n == 0)
		return;
	unsigned char *buf = calloc(n, nv.proc_size);
	if (!buf || nv.procs(h, &n, buf) != NVML_OK) {
		free(buf);
		return;
	}
	for (unsigned i = 0; i < n && s->n_procs < MAX_PROCS; i++) {
		struct nvml_proc_v2 e = {0};
		memcpy(&e, buf + (size_t)i * nv.proc_size, nv.proc_size);
		struct proc_sample *p = &s->procs[s->n_procs++];
		memset(p, 0, sizeof *p);
		p->dev = d;
		p->pid = e.pid;
		/* NVML_VALUE_NOT_AVAILABLE (all ones) where it cannot say */
		p->have_mem = e.mem != ULLONG_MAX;
		p->mem = p->have_mem ? e.mem : 0;
		attribute(p);
	}
	free(buf);
}

/* The highest SM utilisation each process had since the last sample. */
static void sample_proc_util(struct sample *s, int d, nvml_dev_t h)
{
	static struct nvml_util_sample buf[MAX_PROCS];
	unsigned n = MAX_PROCS;
	if (!nv.proc_util || d >= MAX_DEVS)
		return;
	if (nv.proc_util(h, buf, &n, st.last_ts[d]) != NVML_OK)
		return;
	for (unsigned i = 0; i < n && i < MAX_PROCS; i++) {
		if (buf[i].ts > st.last_ts[d])
			st.last_ts[d] = buf[i].ts;
		for (int j = 0; j < s->n_procs; j++) {
			struct proc_sample *p = &s->procs[j];
			if (p->dev == d && p->pid == buf[i].pid &&
			    buf[i].sm > p->sm)
				p->sm = buf[i].sm > 100 ? 100 : buf[i].sm;
		}
	}
}

/* Thread pool: one whole sample into st.next. */
static void work(uv_work_t *w)
{
	(void)w;
	struct sample *s = calloc(1, sizeof *s);
	st.next = s;
	if (!s)
		return;
	if (!st.inited) {
		int r = nv.init();
		if (r != NVML_OK) {
			snprintf(s->error, sizeof s->error,
				 "nvmlInit failed (%d)", r);
			return;
		}
		st.inited = true;
	}
	unsigned count = 0;
	if (nv.count(&count) != NVML_OK)
		return;
	for (unsigned i = 0; i < count && s->n_devs < MAX_DEVS; i++) {
		nvml_dev_t h;
		if (nv.handle(i, &h) != NVML_OK)
			continue;
		int d = s->n_devs++;
		struct dev_sample *ds = &s->devs[d];
		unsigned minor = i;
		if (nv.minor && nv.minor(h, &minor) != NVML_OK)
			minor = i;
		ds->minor = (int)minor;
		snprintf(ds->name, sizeof ds->name, "GPU %u", i);
		if (nv.name)
			nv.name(h, ds->name, sizeof ds->name);
		if (nv.uuid && nv.uuid(h, ds->uuid, sizeof ds->uuid) != NVML_OK)
			ds->uuid[0] = '\0';
		struct nvml_util u;
		struct nvml_mem m;
		ds->have_util = nv.util && nv.util(h, &u) == NVML_OK;
		ds->util = ds->have_util ? u.gpu : 0;
		ds->have_mem = nv.mem && nv.mem(h, &m) == NVML_OK;
		ds->used = ds->have_mem ? m.used : 0;
		ds->total = ds->have_mem ? m.total : 0;
		sample_procs(s, d, h);
		sample_proc_util(s, d, h);
	}
}

static void after(uv_work_t *w, int status)
{
	(void)w;
	st.busy = false;
	if (status != 0 || !st.next)
		return;
	if (st.next->error[0] && !st.latest)
		sb_log(SB_LOG_WARN, "gpu_metrics", "why", st.next->error,
		       SB_LOG_END);
	free(st.latest);
	st.latest = st.next;
	st.next = NULL;
}

static void tick(uv_timer_t *t)
{
	(void)t;
	if (st.busy)
		return; /* a slow NVML call: skip, never pile up */
	st.busy = true;
	if (uv_queue_work(st.loop, &st.work, work, after) < 0)
		st.busy = false;
}

int gpu_metrics_start(uv_loop_t *loop)
{
	const char *path = getenv("SLOTBOX_NVML_LIBRARY");
	char why[512];
	if (!path || !*path)
		path = "libnvidia-ml.so.1";
	if (!nvml_load(path, why, sizeof why)) {
		sb_log(SB_LOG_INFO, "gpu_metrics", "state", "off", "why", why,
		       SB_LOG_END);
		return 0;
	}
	double every = 2;
	const char *e = getenv("SLOTBOX_GPU_SAMPLE_S");
	char *end = NULL;
	double v = e ? strtod(e, &end) : 0;
	if (e && end != e && !*end && v >= 0.1 && v <= 3600)
		every = v;
	st.loop = loop;
	if (uv_timer_init(loop, &st.timer) < 0)
		return -1;
	uv_unref((uv_handle_t *)&st.timer);
	st.running = true;
	uint64_t ms = (uint64_t)(every * 1000);
	uv_timer_start(&st.timer, tick, 0, ms);
	sb_log(SB_LOG_INFO, "gpu_metrics", "state", "on", "library", path,
	       SB_LOG_END);
	return 0;
}

void gpu_metrics_stop(void)
{
	if (!st.running)
		return;
	st.running = false;
	uv_timer_stop(&st.timer);
	uv_close((uv_handle_t *)&st.timer, NULL);
}

/* The live slot a sampled process belongs to, or NULL. */
static const struct sbx_slot *slot_of(const struct pools *ps,
				      const struct proc_sample *p)
{
	if (p->slot < 0)
		return NULL;
	for (size_t i = 0; i < ps->n; i++)
		for (const struct sandbox *sb = ps->items[i].sandboxes; sb;
		     sb = sb->next)
			if (strcmp(sb->id, p->sandbox) == 0 &&
			    p->slot < sb->n_slots)
				return &sb->slots[p->slot];
	return NULL;
}

/* Per slot and device: the sums of its processes. */
struct slot_sum {
	const struct sbx_slot *slot;
	unsigned long long mem;
	int dev;
	unsigned sm;
};

static size_t sum_slots(const struct pools *ps, const struct sample *s,
			struct slot_sum *out, size_t max)
{
	size_t n = 0;
	for (int i = 0; i < s->n_procs; i++) {
		const struct proc_sample *p = &s->procs[i];
		const struct sbx_slot *slot = slot_of(ps, p);
		if (!slot)
			continue;
		size_t j = 0;
		while (j < n && !(out[j].slot == slot && out[j].dev == p->dev))
			j++;
		if (j == n) {
			if (n == max)
				continue;
			out[n++] = (struct slot_sum){slot, 0, p->dev, 0};
		}
		out[j].mem += p->mem;
		out[j].sm = out[j].sm + p->sm > 100 ? 100 : out[j].sm + p->sm;
	}
	return n;
}

/* A label value without the characters that would end it. */
static void label(char *dst, size_t len, const char *src)
{
	size_t o = 0;
	for (; *src && o + 1 < len; src++)
		dst[o++] = (*src == '"' || *src == '\\' || *src == '\n') ? '_'
									 : *src;
	dst[o] = '\0';
}

static void put(char **buf, size_t *len, size_t *cap, bool *oom,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void put(char **buf, size_t *len, size_t *cap, bool *oom,
		const char *fmt, ...)
{
	for (int tries = 0; tries < 2 && !*oom; tries++) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			*oom = true;
			return;
		}
		if ((size_t)n < *cap - *len) {
			*len += (size_t)n;
			return;
		}
		size_t nc = *cap * 2 + (size_t)n + 1;
		char *nb = realloc(*buf, nc);
		if (!nb) {
			*oom = true;
			return;
		}
		*buf = nb;
		*cap = nc;
	}
}

#define PUT(...) put(&buf, &len, &cap, &oom, __VA_ARGS__)

char *gpu_metrics_text(const struct pools *ps)
{
	const struct sample *s = st.latest;
	static struct slot_sum sums[MAX_PROCS];
	if (!s || s->n_devs == 0)
		return NULL;
	size_t len = 0, cap = 4096;
	bool oom = false;
	char *buf = malloc(cap), name[96], uuid[96];
	if (!buf)
		return NULL;
	buf[0] = '\0';
	PUT("# HELP slotbox_gpu_utilization_percent GPU busy time over the "
	    "last sample period (NVML).\n"
	    "# TYPE slotbox_gpu_utilization_percent gauge\n");
	for (int i = 0; i < s->n_devs; i++) {
		const struct dev_sample *d = &s->devs[i];
		label(name, sizeof name, d->name);
		label(uuid, sizeof uuid, d->uuid);
		if (d->have_util)
			PUT("slotbox_gpu_utilization_percent{gpu=\"%d\",name="
			    "\"%s\",uuid=\"%s\"} %u\n",
			    d->minor, name, uuid, d->util);
	}
	PUT("# HELP slotbox_gpu_memory_used_bytes GPU memory in use.\n"
	    "# TYPE slotbox_gpu_memory_used_bytes gauge\n");
	for (int i = 0; i < s->n_devs; i++)
		if (s->devs[i].have_mem)
			PUT("slotbox_gpu_memory_used_bytes{gpu=\"%d\"} %llu\n",
			    s->devs[i].minor, s->devs[i].used);
	PUT("# HELP slotbox_gpu_memory_total_bytes GPU memory.\n"
	    "# TYPE slotbox_gpu_memory_total_bytes gauge\n");
	for (int i = 0; i < s->n_devs; i++)
		if (s->devs[i].have_mem)
			PUT("slotbox_gpu_memory_total_bytes{gpu=\"%d\"} %llu\n",
			    s->devs[i].minor, s->devs[i].total);
	size_t n = sum_slots(ps, s, sums, MAX_PROCS);
	PUT("# HELP slotbox_slot_gpu_memory_bytes GPU memory of a slot's "
	    "processes.\n# TYPE slotbox_slot_gpu_memory_bytes gauge\n");
	for (size_t i = 0; i < n; i++)
		PUT("slotbox_slot_gpu_memory_bytes{profile=\"%s\",slot=\"%.*"
		    "s\","
		    "gpu=\"%d\"} %llu\n",
		    sums[i].slot->sb->profile->name,
		    (int)sums[i].slot->base_len, sums[i].slot->id,
		    s->devs[sums[i].dev].minor, sums[i].mem);
	PUT("# HELP slotbox_slot_gpu_utilization_percent SM utilisation of a "
	    "slot's processes, summed (NVML samples).\n"
	    "# TYPE slotbox_slot_gpu_utilization_percent gauge\n");
	for (size_t i = 0; i < n; i++)
		PUT("slotbox_slot_gpu_utilization_percent{profile=\"%s\",slot="
		    "\"%.*s\",gpu=\"%d\"} %u\n",
		    sums[i].slot->sb->profile->name,
		    (int)sums[i].slot->base_len, sums[i].slot->id,
		    s->devs[sums[i].dev].minor, sums[i].sm);
	if (oom) {
		free(buf);
		return NULL;
	}
	return buf;
}

json_t *gpu_metrics_json(const struct pools *ps)
{
	const struct sample *s = st.latest;
	static struct slot_sum sums[MAX_PROCS];
	if (!s || s->n_devs == 0)
		return NULL;
	json_t *devs = json_array(), *slots = json_array();
	for (int i = 0; i < s->n_devs; i++) {
		const struct dev_sample *d = &s->devs[i];
		json_array_append_new(
			devs,
			json_pack("{s:i, s:s, s:s, s:o, s:I, s:I}", "gpu",
				  d->minor, "name", d->name, "uuid", d->uuid,
				  "utilization_percent",
				  d->have_util ? json_integer(d->util)
					       : json_null(),
				  "memory_used_bytes", (json_int_t)d->used,
				  "memory_total_bytes", (json_int_t)d->total));
	}
	size_t n = sum_slots(ps, s, sums, MAX_PROCS);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
			slots,
			json_pack("{s:s#, s:s, s:i, s:I, s:i}", "slot",
				  sums[i].slot->id, (int)sums[i].slot->base_len,
				  "profile", sums[i].slot->sb->profile->name,
				  "gpu", s->devs[sums[i].dev].minor,
				  "memory_bytes", (json_int_t)sums[i].mem,
				  "utilization_percent", (int)sums[i].sm));
	return json_pack("{s:o, s:o}", "devices", devs, "slots", slots);
}
