/* SPDX-License-Identifier: Apache-2.0 */
/* gpu_assign.c - per-slot GPU choice (see gpu_assign.h). */
#include "config/gpu_assign.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

bool gpu_list_parse(const char *s, int *out, int *n)
{
	*n = 0;
	if (!s || !*s)
		return false;
	for (const char *p = s;;) {
		if (!isdigit((unsigned char)*p))
			return false;
		int v = 0;
		while (isdigit((unsigned char)*p)) {
			v = v * 10 + (*p++ - '0');
			if (v >= SB_GPU_MAX)
				return false;
		}
		for (int i = 0; i < *n; i++)
			if (out[i] == v)
				return false;
		out[(*n)++] = v;
		if (!*p)
			return true;
		if (*p++ != ',')
			return false;
	}
}

bool gpu_slot_item_valid(const char *s)
{
	int devs[SB_GPU_MAX], n;
	return strcmp(s, "none") == 0 || strcmp(s, "all") == 0 ||
	       gpu_list_parse(s, devs, &n);
}

bool gpu_per_slot_choice(const struct sb_profile *p)
{
	return p->gpu_per_slot > 0 || p->n_slot_gpus > 0;
}

int gpu_assign_slot(const struct sb_profile *p, int number, int index, int *out)
{
	int n = p->n_gpu_devs;
	if (n <= 0 || index < 0 || number < 0)
		return 0;
	if (p->n_slot_gpus > 0) {
		const char *item = p->slot_gpus[(size_t)index % p->n_slot_gpus];
		int k = 0;
		if (strcmp(item, "none") == 0)
			return 0;
		if (strcmp(item, "all") != 0 && gpu_list_parse(item, out, &k))
			return k;
	} else if (p->gpu_per_slot > 0) {
		int per = p->gpu_per_slot < n ? p->gpu_per_slot : n;
		long long g = (long long)number * p->slots_per_sandbox + index;
		for (int k = 0; k < per; k++)
			out[k] = p->gpu_devs[(g * per + k) % n];
		return per;
	}
	memcpy(out, p->gpu_devs, (size_t)n * sizeof *out);
	return n;
}

void gpu_list_format(const int *devs, int n, char *buf, size_t len)
{
	size_t o = 0;
	if (len)
		buf[0] = '\0';
	if (n == 0) {
		snprintf(buf, len, "none");
		return;
	}
	for (int i = 0; i < n && o < len; i++) {
		int w = snprintf(buf + o, len - o, "%s%d", i ? "," : "",
				 devs[i]);
		if (w < 0)
			return;
		o += (size_t)w;
	}
}
