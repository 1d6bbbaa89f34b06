/* SPDX-License-Identifier: Apache-2.0 */
/* confine.c - capabilities, securebits and seccomp for a slot's commands. */
#include "init/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "init/raw_syscall.h"

/* Read once by init, inherited by every leader it clones. */
static struct sock_filter filter_insns[BPF_MAXINSNS];
static struct sock_fprog filter_prog;

int confine_load_filter(int fd_in, const struct sock_fprog **prog,
			struct sb_err *err)
{
	_cleanup_fd_ int fd = fd_in;
	struct stat st;
	size_t got = 0;

	if (fstat(fd, &st) < 0)
		return sb_err_sys(err, "seccomp program: fstat");
	/* The daemon sealed it; unsealed means it is not the daemon's. */
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_WRITE)) {
		errno = seals < 0 ? errno : EPERM;
		return sb_err_sys(err, "seccomp program: not sealed");
	}
	if (st.st_size <= 0 || st.st_size % (off_t)sizeof(struct sock_filter) ||
	    (size_t)st.st_size > sizeof filter_insns) {
		errno = EINVAL;
		return sb_err_sys(err, "seccomp program: bad size");
	}
	while (got < (size_t)st.st_size) {
		/* pread: every sandbox shares the memfd's offset */
		ssize_t n = pread(fd, (char *)filter_insns + got,
				  (size_t)st.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			errno = n < 0 ? errno : EIO;
			return sb_err_sys(err, "seccomp program: read");
		}
		got += (size_t)n;
	}
	filter_prog.len = (unsigned short)(got / sizeof(struct sock_filter));
	filter_prog.filter = filter_insns;
	*prog = &filter_prog;
	return 0;
}

/* The kernel may know more capabilities than our headers: ask it, and if
 * /proc cannot say, probe the bounding set until the kernel says EINVAL. */
static int cap_last(void)
{
	char buf[16] = "";
	_cleanup_fd_ int fd =
		open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && read(fd, buf, sizeof buf - 1) > 0) {
		char *end;
		long v = strtol(buf, &end, 10);
		if (end != buf && v >= 0 && v < 64)
			return (int)v;
	}
	int c = 0;
	while (c < 64 && prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0)
		c++;
	return c - 1;
}

/* PR_SET_MM_MAP, unlike the single PR_SET_MM fields, needs no
 * CAP_SYS_RESOURCE (containers often lack it); it takes the whole map, so
 * the rest is read back from /proc/self/stat. The strings live in an
 * anonymous page of their own: /proc/<pid>/cmdline reads anonymous memory
 * only. Best effort: a kernel without it keeps the old command line. */
void confine_set_cmdline(const char *args, size_t len)
{
	char buf[1024];
	unsigned long long f[52] = {0};

	if (len == 0 || sb_read_small("/proc/self/stat", buf, sizeof buf) < 0)
		return;
	char *p = strrchr(buf, ')');
	for (int field = 2; p && field < 51;) {
		p = strchr(p + 1, ' ');
		if (p)
			f[++field] = strtoull(p + 1, NULL, 10);
	}
	if (!f[51])
		return;
	char *page = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return;
	memcpy(page, args, len);
	struct prctl_mm_map m = {
		.start_code = f[26],
		.end_code = f[27],
		.start_stack = f[28],
		.start_data = f[45],
		.end_data = f[46],
		.start_brk = f[47],
		.brk = (uint64_t)syscall(SYS_brk, 0),
		.arg_start = (uint64_t)(uintptr_t)page,
		.arg_end = (uint64_t)(uintptr_t)(page + len),
		.env_start = f[50],
		.env_end = f[51],
		.exe_fd = (uint32_t)-1,
	};
	if (prctl(PR_SET_MM, PR_SET_MM_MAP, (unsigned long)&m, sizeof m, 0) < 0)
		munmap(page, len);
}

/* The leader is PID 1 of its slot, and its argv is init's, full of host
 * paths (state dir, image, control socket): point its command line at a
 * short name instead. */
static void hide_argv(void)
{
	static const char name[] = "slotbox-leader";
	confine_set_cmdline(name, sizeof name);
}

int confine_leader(struct sb_err *err)
{
	int last = cap_last();

	hide_argv();

	if (last < 0) {
		errno = ENOSYS;
		return sb_err_sys(err, "capability bounding set");
	}
	for (int c = 0; c <= last; c++) {
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			return sb_err_sys(
				err, "drop capability %d from the bounding set",
				c);
	}
	/* Locked for the leader and all it starts: uid 0 gets no capability
	 * from execve, a uid change always clears them (keep-caps off) and
	 * no ambient capability can be raised. */
	unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
			     SECBIT_NO_SETUID_FIXUP_LOCKED |
			     SECBIT_KEEP_CAPS_LOCKED |
			     SECBIT_NO_CAP_AMBIENT_RAISE |
			     SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
	if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
		return sb_err_sys(err, "set securebits");
	return 0;
}

/* Raw calls (glibc's setuid wrappers would signal threads the process
 * does not have), so that a child sharing the leader's memory may run it
 * too (spare_vm.h); a forked child gets its errno from the wrapper below. */
SB_RAW_CHILD long confine_child_raw(uid_t uid, const struct sock_fprog *filter)
{
	struct __user_cap_header_struct hdr;
	struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3];
	long r;

	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	hdr.pid = 0;
	__builtin_memset(none, 0, sizeof none);
	/* The uid change clears the effective, permitted and ambient sets;
	 * capset clears the inheritable one too. */
	if ((r = sb_raw2(SYS_setgroups, 0, 0)) < 0 ||
	    (r = sb_raw3(SYS_setresgid, uid, uid, uid)) < 0 ||
	    (r = sb_raw3(SYS_setresuid, uid, uid, uid)) < 0 ||
	    (r = sb_raw2(SYS_capset, &hdr, none)) < 0 ||
	    (r = sb_raw5(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0,
			 0, 0)) < 0 ||
	    (r = sb_raw5(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) < 0)
		return r;
	if (filter &&
	    (r = sb_raw3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, filter)) < 0)
		return r;
	return 0;
}

int confine_child(uid_t uid, const struct sock_fprog *filter)
{
	long r = confine_child_raw(uid, filter);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return 0;
}
