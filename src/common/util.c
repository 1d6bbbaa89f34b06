/* SPDX-License-Identifier: Apache-2.0 */
#include "common/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/utf8.h"

double sb_now_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double sb_now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int sb_random_hex(char *out, size_t n)
{
	unsigned char buf[64];
	static const char hex[] = "0123456789abcdef";
	if (n > sizeof buf || getrandom(buf, n, 0) != (ssize_t)n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[buf[i] >> 4];
		out[2 * i + 1] = hex[buf[i] & 15];
	}
	out[2 * n] = '\0';
	return 0;
}

json_t *sb_json_string_lossy(const char *s, size_t len, bool *lossy)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, bad = 0;

	if (lossy)
		*lossy = false;
	while (i < len) {
		size_t k = sb_utf8_seq_len(u + i, len - i);
		if (!k || u[i] == 0) {
			if (!k)
				bad++;
			i++;
		} else {
			i += k;
		}
	}
	if (!bad)
		return json_stringn_nocheck(s, len); /* checked above */
	if (lossy)
		*lossy = true;
	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	char *out = malloc(len + bad * 2 + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	i = 0;
	while (i < len) {
		size_t k = sb_utf8_seq_len(u + i, len - i);
		if (!k) {
			/* U+FFFD; out is a byte buffer, not a C string */
			memcpy(out + o, "\xef\xbf\xbd", 3); // NOLINT

			o += 3;
			i++;
		} else {
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
		}
	}
	json_t *j = json_stringn(out, o);
	free(out);
	return j;
}

bool sb_env_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > SB_ENV_NAME_MAX || isdigit((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '_')
			return false;
	}
	return true;
}

int sb_mkdir_p(const char *path, unsigned mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static int rm_rf_errno;

static int rm_rf_entry(const char *path, const struct stat *st, int type,
		       struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	int r = (type == FTW_DP) ? rmdir(path) : unlink(path);
	if (r < 0 && errno != ENOENT)
		rm_rf_errno = errno;
	return 0;
}

int sb_rm_rf(const char *path)
{
	rm_rf_errno = 0;
	if (nftw(path, rm_rf_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 &&
	    errno != ENOENT)
		return -1;
	if (rm_rf_errno) {
		errno = rm_rf_errno;
		return -1;
	}
	return 0;
}

DIR *sb_opendir_at(int dirfd)
{
	int fd = dup(dirfd);
	if (fd < 0)
		return NULL;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	rewinddir(d);
	return d;
}

int sb_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t sb_read_small(const char *path, char *buf, size_t len)
{
	_cleanup_fd_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || len == 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return n;
}

int sb_check_private_fd(int fd, struct sb_err *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return sb_err_sys(err, "stat");
	if (st.st_uid == 0 && !(st.st_mode & (S_IRWXG | S_IRWXO)))
		return 0;
	sb_err_set(err, EPERM,
		   "must be owned by root with no group or other permission "
		   "(readable or writable) bits, e.g. chown root and chmod "
		   "600; it is owned by uid %u with mode %04o",
		   (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	errno = EPERM;
	return -1;
}

bool sb_proc_running(pid_t pid, uint64_t start_time)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (pid <= 0 || sb_read_small(path, buf, sizeof buf) < 0)
		return false;
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return false; /* exited, not yet reaped */
	/* Exiting: field 9 holds the task's flags, PF_EXITING (0x4) set
	 * from the start of its exit (an init stays there while the
	 * kernel ends the rest of its pid namespace). */
	char *f = p;
	for (int field = 2; f && field < 9; field++)
		f = strchr(f + 1, ' ');
	if (f && (strtoul(f + 1, NULL, 10) & 0x4))
		return false;
	uint64_t st;
	return start_time == 0 || /* not known: the pid alone */
	       (sb_proc_start_time(pid, &st) == 0 && st == start_time);
}

bool sb_proc_in_userns(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
	if (sb_read_small(path, buf, sizeof buf) < 0)
		return false;
	/* The first line's inside and outside ids: "0 0 4294967295" is
	 * the initial namespace's identity map. */
	char *end1, *end2;
	unsigned long inside = strtoul(buf, &end1, 10);
	unsigned long outside = strtoul(end1, &end2, 10);
	if (end1 == buf || end2 == end1)
		return false;
	return !(inside == 0 && outside == 0);
}

int sb_proc_start_time(pid_t pid, uint64_t *out)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (sb_read_small(path, buf, sizeof buf) < 0)
		return -1;
	/* comm (field 2) may hold spaces and parentheses: skip past the
	 * last ')', then field 3 is the state; start time is field 22. */
	char *p = strrchr(buf, ')');
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(p + 1, &end, 10);
	if (errno || end == p + 1)
		return -1;
	*out = v;
	return 0;
}

void sb_signals_to_default(void)
{
	sigset_t none;
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &dfl, NULL);
}

int sb_child_fds(int devnull, const int *fds, int n, int first)
{
	int high[8];
	if (n < 0 || n > (int)(sizeof high / sizeof high[0]) || first < 1) {
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < n; i++) {
		high[i] = fds[i] < 0 ? -1 : fcntl(fds[i], F_DUPFD, first + n);
		if (fds[i] >= 0 && high[i] < 0)
			return -1;
	}
	if (dup2(devnull, STDIN_FILENO) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		if (high[i] < 0)
			close(first + i);
		else if (dup2(high[i], first + i) < 0)
			return -1;
	}
	return (int)syscall(SYS_close_range, (unsigned)(first + n), ~0U, 0U);
}
