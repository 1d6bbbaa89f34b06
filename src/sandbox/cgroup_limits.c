/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup_limits.c - the limit and counter files of one group, in the
 * cgroup v2 or v1 spelling. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "sandbox/cgroup.h"

/* The CFS period: 100 ms, the kernel's default, fine-grained enough for a
 * fractional core to feel smooth to a shell. */
#define CG_CPU_PERIOD_US 100000LL
#define CG_CPU_MIN_QUOTA_US 1000LL /* the kernel refuses less */
#define CG_PIDS_LIMIT 4194304LL	   /* PID_MAX_LIMIT: pids.max takes no more */

int cg_file_write(int dir, const char *file, const char *val)
{
	_cleanup_fd_ int fd = openat(dir, file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = strlen(val);
	ssize_t n = write(fd, val, len);
	if (n < 0)
		return -1;
	if ((size_t)n != len) {
		errno = EIO;
		return -1;
	}
	return 0;
}

ssize_t cg_file_read(int dir, const char *file, char *buf, size_t len)
{
	_cleanup_fd_ int fd = openat(dir, file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

static int put(int dir, const char *file, const char *val, struct sb_err *err)
{
	if (cg_file_write(dir, file, val) < 0)
		return sb_err_sys(err, "write %s to %s", val, file);
	return 0;
}

/* Files that exist only with swap accounting: absent is fine. */
static int put_optional(int dir, const char *file, const char *val,
			struct sb_err *err)
{
	if (cg_file_write(dir, file, val) < 0 && errno != ENOENT)
		return sb_err_sys(err, "write %s to %s", val, file);
	return 0;
}

static int set_cpu(int dir, bool v2, double cores, struct sb_err *err)
{
	char val[64];
	if (cores <= 0)
		return 0;
	long long quota = (long long)(cores * (double)CG_CPU_PERIOD_US + 0.5);
	if (quota < CG_CPU_MIN_QUOTA_US)
		quota = CG_CPU_MIN_QUOTA_US;
	if (v2) {
		snprintf(val, sizeof val, "%lld %lld", quota, CG_CPU_PERIOD_US);
		return put(dir, "cpu.max", val, err);
	}
	/* The period first: the quota is checked against it. Each write
	 * walks every cpu group on the host (the kernel checks the whole
	 * tree's bandwidth), so the period, which a new group already has
	 * by default, is written only when it differs. */
	char cur[32];
	snprintf(val, sizeof val, "%lld", CG_CPU_PERIOD_US);
	if ((cg_file_read(dir, "cpu.cfs_period_us", cur, sizeof cur) < 0 ||
	     strtoll(cur, NULL, 10) != CG_CPU_PERIOD_US) &&
	    put(dir, "cpu.cfs_period_us", val, err) < 0)
		return -1;
	snprintf(val, sizeof val, "%lld", quota);
	return put(dir, "cpu.cfs_quota_us", val, err);
}

/* No swap: a slot that outgrows its memory is OOM-killed at once instead
 * of thrashing the host's swap. */
static int set_memory(int dir, bool v2, int64_t mb, struct sb_err *err)
{
	char val[32];
	if (mb <= 0)
		return 0;
	if (mb > INT64_MAX >> 20)
		snprintf(val, sizeof val, v2 ? "max" : "-1");
	else
		snprintf(val, sizeof val, "%" PRId64, mb << 20);
	if (v2) {
		if (put(dir, "memory.max", val, err) < 0)
			return -1;
		return put_optional(dir, "memory.swap.max", "0", err);
	}
	/* memsw (memory + swap) may never be below the memory limit, so it
	 * is set second. */
	if (put(dir, "memory.limit_in_bytes", val, err) < 0)
		return -1;
	return put_optional(dir, "memory.memsw.limit_in_bytes", val, err);
}

static int set_pids(int dir, int64_t n, struct sb_err *err)
{
	char val[32];
	if (n <= 0)
		return 0;
	if (n > CG_PIDS_LIMIT)
		snprintf(val, sizeof val, "max");
	else
		snprintf(val, sizeof val, "%" PRId64, n);
	return put(dir, "pids.max", val, err);
}

int cg_write_limits(int dir, bool v2, unsigned ctls,
		    const struct cg_limits *lim, struct sb_err *err)
{
	if ((ctls & CG_BIT(CG_CPU)) && set_cpu(dir, v2, lim->cpu, err) < 0)
		return -1;
	if ((ctls & CG_BIT(CG_MEMORY)) &&
	    set_memory(dir, v2, lim->memory_mb, err) < 0)
		return -1;
	if ((ctls & CG_BIT(CG_PIDS)) && set_pids(dir, lim->pids_max, err) < 0)
		return -1;
	return 0;
}

/* Both v2's memory.events and v1's memory.oom_control (Linux >= 4.13)
 * carry an "oom_kill N" line. */
static int parse_oom_kills(const char *buf, uint64_t *count)
{
	for (const char *p = buf; p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, "oom_kill ", 9) == 0) {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(p + 9, &end, 10);
			if (errno || end == p + 9)
				break;
			*count = v;
			return 0;
		}
	}
	errno = ENOENT;
	return -1;
}

const char *cg_oom_file(bool v2)
{
	return v2 ? "memory.events" : "memory.oom_control";
}

int cg_read_oom_kills(int dir, bool v2, uint64_t *count)
{
	char buf[1024];
	if (cg_file_read(dir, cg_oom_file(v2), buf, sizeof buf) < 0)
		return -1;
	return parse_oom_kills(buf, count);
}

int cg_read_oom_kills_fd(int fd, uint64_t *count)
{
	char buf[1024];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return parse_oom_kills(buf, count);
}
