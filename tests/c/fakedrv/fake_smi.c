/* SPDX-License-Identifier: Apache-2.0 */
/* fake_smi.c - a stand-in nvidia-smi for the dry run of scripts/gpu-check
 * on a host without a GPU (tests/e2e/test_gpu.py). The GPUs are the
 * /dev/nvidiaN it can see ("Fake H200", UUID GPU-fake-000N); a process
 * whose command line has the argument "hold" after one ending in
 * "gpu_probe" holds 4200 MiB on each. Only the forms gpu-check uses:
 * -L, -q, --query-gpu=name,... / index,memory.used, --query-compute-apps.
 * An executable (not a script), as the daemon skips wrapper scripts. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOLD_MIB 4200
#define MAX 64

static int devs(int *out)
{
	DIR *d = opendir("/dev");
	struct dirent *e;
	int n = 0;
	while (d && n < MAX && (e = readdir(d))) {
		char *end;
		if (strncmp(e->d_name, "nvidia", 6) != 0 || !e->d_name[6])
			continue;
		long v = strtol(e->d_name + 6, &end, 10);
		if (!*end && v >= 0 && v < MAX)
			out[n++] = (int)v;
	}
	if (d)
		closedir(d);
	for (int i = 0; i < n; i++) /* sort: few entries */
		for (int j = i + 1; j < n; j++)
			if (out[j] < out[i]) {
				int t = out[i];
				out[i] = out[j];
				out[j] = t;
			}
	return n;
}

/* The pids of the holding processes. */
static int holders(long *out)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;
	while (d && n < MAX && (e = readdir(d))) {
		char path[300], buf[4096];
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0)
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
			if (l >= 9 &&
			    strcmp(buf + o + l - 9, "gpu_probe") == 0 &&
			    o + l + 1 < len &&
			    strcmp(buf + o + l + 1, "hold") == 0) {
				out[n++] = pid;
				break;
			}
		}
	}
	if (d)
		closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	int dev[MAX], nd = devs(dev);
	long pid[MAX];
	int np = holders(pid);
	const char *a = argc > 1 ? argv[1] : "";
	if (strcmp(a, "-L") == 0) {
		if (nd == 0) {
			puts("No devices were found");
			return 6;
		}
		for (int i = 0; i < nd; i++)
			printf("GPU %d: Fake H200 (UUID: GPU-fake-%04d)\n", i,
			       dev[i]);
	} else if (strcmp(a, "-q") == 0) {
		for (int i = 0; i < nd; i++)
			printf("GPU 00000000:%02d:00.0\n    Product Name : "
			       "Fake "
			       "H200\n    GPU UUID : GPU-fake-%04d\n    Minor "
			       "Number : %d\n",
			       dev[i], dev[i], dev[i]);
	} else if (strncmp(a, "--query-gpu=name", 16) == 0) {
		for (int i = 0; i < nd; i++)
			puts("Fake H200, 143771 MiB, 999.1");
	} else if (strncmp(a, "--query-gpu=index,memory.used", 29) == 0) {
		for (int i = 0; i < nd; i++)
			printf("%d, %d\n", i, 100 + (np ? HOLD_MIB : 0));
	} else if (strncmp(a, "--query-compute-apps", 20) == 0) {
		for (int i = 0; i < np; i++)
			printf("%ld, %d\n", pid[i], HOLD_MIB);
	} else {
		puts("fake nvidia-smi");
	}
	return 0;
}
