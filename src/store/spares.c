/* SPDX-License-Identifier: Apache-2.0 */
/* spares.c - emptied store entries kept for reuse (spares.h). */
#include "store/spares.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "store/store.h"

#define SPARE_PREFIX ".spare-"

void store_spare_name(char out[32], int n)
{
	snprintf(out, 32, SPARE_PREFIX "%d", n);
}

bool store_name_spare(const char *name)
{
	size_t p = sizeof SPARE_PREFIX - 1, n = strlen(name);
	return n > p && strncmp(name, SPARE_PREFIX, p) == 0 &&
	       strspn(name + p, "0123456789") == n - p;
}

/* The number of a spare kept under its canonical name, or -1. */
static int spare_number(const char *name)
{
	if (!store_name_spare(name))
		return -1;
	const char *digits = name + sizeof SPARE_PREFIX - 1;
	if (strlen(digits) > 2 || (digits[0] == '0' && digits[1]))
		return -1;
	long n = strtol(digits, NULL, 10);
	return n < STORE_SPARES_MAX ? (int)n : -1;
}

int store_spares_scan(struct store_spares *s, int dirfd, mode_t type)
{
	s->have = 0;
	DIR *d = sb_opendir_at(dirfd);
	if (!d)
		return -1;
	int kept = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!store_name_spare(e->d_name))
			continue;
		struct stat st;
		int n = spare_number(e->d_name);
		if (n >= 0 &&
		    fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (st.st_mode & S_IFMT) == type) {
			s->have |= UINT64_C(1) << n;
			kept++;
			continue;
		}
		store_remove(dirfd, e->d_name);
	}
	closedir(d);
	return kept;
}

void store_spares_drop(struct store_spares *s, int dirfd)
{
	for (int n = 0; n < STORE_SPARES_MAX; n++) {
		if (!(s->have & (UINT64_C(1) << n)))
			continue;
		char spare[32];
		store_spare_name(spare, n);
		store_remove(dirfd, spare);
	}
	s->have = 0;
}

int store_spares_put(struct store_spares *s, int dirfd, const char *name)
{
	while (~s->have) {
		int n = __builtin_ctzll(~s->have);
		char spare[32];
		store_spare_name(spare, n);
		s->have |= UINT64_C(1) << n;
		if (renameat2(dirfd, name, dirfd, spare, RENAME_NOREPLACE) == 0)
			return 1;
		if (errno == EINVAL)
			return 0; /* no RENAME_NOREPLACE here: no spares */
		if (errno != EEXIST)
			return -1;
		/* a spare we did not know of: it stays counted */
	}
	return 0;
}

int store_spares_take(struct store_spares *s, int dirfd, const char *name)
{
	while (s->have) {
		int n = __builtin_ctzll(s->have);
		char spare[32];
		store_spare_name(spare, n);
		if (renameat2(dirfd, spare, dirfd, name, RENAME_NOREPLACE) ==
		    0) {
			s->have &= ~(UINT64_C(1) << n);
			return 1;
		}
		if (errno == EEXIST)
			return -1;
		s->have &= ~(UINT64_C(1) << n);
		if (errno == EINVAL)
			return 0;
		if (errno != ENOENT)
			return -1;
	}
	return 0;
}
