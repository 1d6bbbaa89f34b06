/* SPDX-License-Identifier: Apache-2.0 */
#include "common/membudget.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define BUDGET_UNLIMITED SIZE_MAX
#define BUDGET_MIN ((size_t)4 << 20)

static size_t in_use;
static size_t budget = BUDGET_UNLIMITED;
static double read_at = -1.0;

/* The limit of the memory cgroup this process is in (v1 or v2), 0 when
 * none is set or it cannot be read. */
static uint64_t cgroup_memory_limit(void)
{
	char line[4096], path[4200];
	uint64_t limit = 0;
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return 0;
	path[0] = '\0';
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *v1 = strstr(line, ":memory:");
		if (v1) {
			snprintf(
				path, sizeof path,
				"/sys/fs/cgroup/memory%s/memory.limit_in_bytes",
				v1 + 8);
			break;
		}
		if (strncmp(line, "0::", 3) == 0)
			snprintf(path, sizeof path,
				 "/sys/fs/cgroup%s/memory.max", line + 3);
	}
	fclose(f);
	f = path[0] ? fopen(path, "re") : NULL;
	if (!f)
		return 0;
	if (fgets(line, sizeof line, f)) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(line, &end, 10);
		/* "max" (v2) or a huge number (v1): none */
		if (!errno && end != line && v < (1ull << 60))
			limit = v;
	}
	fclose(f);
	return limit;
}

static void refresh(void)
{
	double now = sb_now_mono();
	if (read_at >= 0 && now - read_at < 1.0)
		return;
	read_at = now;
	uint64_t limit = cgroup_memory_limit();
	budget = BUDGET_UNLIMITED;
	if (limit && limit / 4 < budget)
		budget =
			limit / 4 < BUDGET_MIN ? BUDGET_MIN : (size_t)limit / 4;
}

bool sb_membudget_take(size_t n)
{
	refresh();
	if (budget == BUDGET_UNLIMITED)
		return true;
	if (n > budget || in_use > budget - n)
		return false;
	in_use += n;
	return true;
}

void sb_membudget_charge(size_t n)
{
	in_use += n;
}

void sb_membudget_give(size_t n)
{
	/* (what was taken while unlimited was not counted: never below 0) */
	in_use = n > in_use ? 0 : in_use - n;
}
