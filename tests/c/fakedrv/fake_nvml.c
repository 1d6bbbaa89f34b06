/* SPDX-License-Identifier: Apache-2.0 */
/* fake_nvml.c - a stand-in libnvidia-ml.so.1 for the e2e tests (no GPU in
 * CI): one device, "Fake GPU 9000", minor number 0, 37 % busy, 3 GiB of
 * 16 GiB used; its compute processes are the pids listed (one per line) in
 * the file $FAKE_NVML_PIDS (or those $FAKE_NVML_MATCH finds), each using
 * $FAKE_NVML_PROC_MEM bytes (default 123456789) and 42 % of the SMs. Just
 * enough of NVML's C API for slotboxd's sampler (src/pool/gpu_metrics.c), with
 * nvml.h's layouts. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fake_dev *nvmlDevice_t;
typedef struct {
	unsigned gpu, memory;
} nvmlUtilization_t;
typedef struct {
	unsigned long long total, free, used;
} nvmlMemory_t;
typedef struct {
	unsigned pid;
	unsigned long long usedGpuMemory;
	/* cppcheck-suppress unusedStructMember ; nvml.h's layout */
	unsigned gpuInstanceId;
	/* cppcheck-suppress unusedStructMember ; nvml.h's layout */
	unsigned computeInstanceId;
} nvmlProcessInfo_t;
typedef struct {
	unsigned pid;
	unsigned long long timeStamp;
	unsigned smUtil;
	/* cppcheck-suppress unusedStructMember ; nvml.h's layout */
	unsigned memUtil;
	/* cppcheck-suppress unusedStructMember ; nvml.h's layout */
	unsigned encUtil;
	/* cppcheck-suppress unusedStructMember ; nvml.h's layout */
	unsigned decUtil;
} nvmlProcessUtilizationSample_t;

#define OK 0
#define INVALID_ARGUMENT 2
#define NOT_FOUND 6
#define INSUFFICIENT_SIZE 7
#define MAX_PIDS 64

static int dev_token;
static unsigned long long stamp;

int nvmlInit_v2(void);
int nvmlShutdown(void);
int nvmlDeviceGetCount_v2(unsigned *n);
int nvmlDeviceGetHandleByIndex_v2(unsigned i, nvmlDevice_t *d);
int nvmlDeviceGetName(nvmlDevice_t d, char *buf, unsigned len);
int nvmlDeviceGetUUID(nvmlDevice_t d, char *buf, unsigned len);
int nvmlDeviceGetMinorNumber(nvmlDevice_t d, unsigned *m);
int nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u);
int nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m);
int nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned *n,
					    nvmlProcessInfo_t *p);
int nvmlDeviceGetProcessUtilization(nvmlDevice_t d,
				    nvmlProcessUtilizationSample_t *s,
				    unsigned *n, unsigned long long last);

/* With $FAKE_NVML_MATCH=NAME: the processes whose command line has an
 * argument "hold" right after one ending in NAME (scripts/gpu-check's
 * probe holding GPU memory). */
static int match_pids(const char *name, unsigned *pids)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t nl = strlen(name);
	int n = 0;
	while (d && n < MAX_PIDS && (e = readdir(d))) {
		char path[300], buf[4096];
		char *end;
		unsigned long pid = strtoul(e->d_name, &end, 10);
		if (*end || pid == 0)
			continue;
		snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t len = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[len] = '\0';
		for (size_t o = 0; o < len; o += strlen(buf + o) + 1) {
			size_t l = strlen(buf + o);
			if (l >= nl && strcmp(buf + o + l - nl, name) == 0 &&
			    o + l + 1 < len &&
			    strcmp(buf + o + l + 1, "hold") == 0) {
				pids[n++] = (unsigned)pid;
				break;
			}
		}
	}
	if (d)
		closedir(d);
	return n;
}

static int read_pids(unsigned *pids)
{
	const char *match = getenv("FAKE_NVML_MATCH");
	if (match && *match)
		return match_pids(match, pids);
	const char *path = getenv("FAKE_NVML_PIDS");
	FILE *f = path ? fopen(path, "r") : NULL;
	char line[32];
	int n = 0;
	while (f && n < MAX_PIDS && fgets(line, sizeof line, f)) {
		char *end;
		unsigned long v = strtoul(line, &end, 10);
		if (end != line && v > 0)
			pids[n++] = (unsigned)v;
	}
	if (f)
		fclose(f);
	return n;
}

int nvmlInit_v2(void)
{
	return OK;
}

int nvmlShutdown(void)
{
	return OK;
}

int nvmlDeviceGetCount_v2(unsigned *n)
{
	*n = 1;
	return OK;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned i, nvmlDevice_t *d)
{
	if (i != 0)
		return INVALID_ARGUMENT;
	*d = (nvmlDevice_t)&dev_token;
	return OK;
}

int nvmlDeviceGetName(nvmlDevice_t d, char *buf, unsigned len)
{
	(void)d;
	snprintf(buf, len, "Fake GPU 9000");
	return OK;
}

int nvmlDeviceGetUUID(nvmlDevice_t d, char *buf, unsigned len)
{
	(void)d;
	snprintf(buf, len, "GPU-fake-0000");
	return OK;
}

int nvmlDeviceGetMinorNumber(nvmlDevice_t d, unsigned *m)
{
	(void)d;
	*m = 0;
	return OK;
}

int nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u)
{
	(void)d;
	u->gpu = 37;
	u->memory = 5;
	return OK;
}

int nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m)
{
	(void)d;
	m->total = 16ull << 30;
	m->used = 3ull << 30;
	m->free = m->total - m->used;
	return OK;
}

int nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned *n,
					    nvmlProcessInfo_t *p)
{
	unsigned pids[MAX_PIDS];
	int k = read_pids(pids);
	const char *mem = getenv("FAKE_NVML_PROC_MEM");
	(void)d;
	if ((unsigned)k > *n) {
		*n = (unsigned)k;
		return INSUFFICIENT_SIZE;
	}
	for (int i = 0; i < k; i++) {
		memset(&p[i], 0, sizeof p[i]);
		p[i].pid = pids[i];
		p[i].usedGpuMemory = mem ? strtoull(mem, NULL, 10) : 123456789;
	}
	*n = (unsigned)k;
	return OK;
}

int nvmlDeviceGetProcessUtilization(nvmlDevice_t d,
				    nvmlProcessUtilizationSample_t *s,
				    unsigned *n, unsigned long long last)
{
	unsigned pids[MAX_PIDS];
	int k = read_pids(pids);
	(void)d;
	(void)last;
	if (k == 0)
		return NOT_FOUND;
	if ((unsigned)k > *n || !s) {
		*n = (unsigned)k;
		return INSUFFICIENT_SIZE;
	}
	for (int i = 0; i < k; i++) {
		memset(&s[i], 0, sizeof s[i]);
		s[i].pid = pids[i];
		s[i].timeStamp = ++stamp;
		s[i].smUtil = 42;
	}
	*n = (unsigned)k;
	return OK;
}
