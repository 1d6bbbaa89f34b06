/* SPDX-License-Identifier: Apache-2.0 */
/* tree_scan.c - see tree_scan.h. */
#include "sandbox/tree_scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/tree_copy.h"

struct scan {
	uint64_t max_bytes, max_entries;
	struct tree_scan_stats *st;
	struct sb_err *err;
};

static uint64_t charge(const struct stat *sb)
{
	uint64_t data = 0;
	if (S_ISREG(sb->st_mode) || S_ISLNK(sb->st_mode) ||
	    S_ISDIR(sb->st_mode))
		data = (uint64_t)sb->st_blocks * 512u;
	data = (data + TREE_SCAN_ENTRY_BYTES - 1) / TREE_SCAN_ENTRY_BYTES *
	       TREE_SCAN_ENTRY_BYTES;
	return TREE_SCAN_ENTRY_BYTES + data;
}

static int add(struct scan *s, const struct stat *sb)
{
	s->st->entries++;
	s->st->charged += charge(sb);
	if (s->max_entries && s->st->entries > s->max_entries)
		return sb_err_set(s->err, EFBIG, "more than %llu entries",
				  (unsigned long long)s->max_entries);
	if (s->max_bytes && s->st->charged > s->max_bytes)
		return sb_err_set(s->err, EFBIG,
				  "more than %llu bytes (each entry counts "
				  "%u bytes plus its data in whole blocks)",
				  (unsigned long long)s->max_bytes,
				  TREE_SCAN_ENTRY_BYTES);
	return 0;
}

static int scan_dir(struct scan *s, int fd, int depth)
{
	if (depth > TREE_COPY_MAX_DEPTH)
		return sb_err_set(s->err, ELOOP, "deeper than %d levels",
				  TREE_COPY_MAX_DEPTH);
	int dfd = dup(fd);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return sb_err_sys(s->err, "read a directory");
	}
	rewinddir(d); /* the dup shares fd's offset */
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		struct stat sb;
		if (fstatat(fd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT) /* gone meanwhile */
				continue;
			rc = sb_err_sys(s->err, "stat an entry");
			break;
		}
		rc = add(s, &sb);
		if (rc < 0 || !S_ISDIR(sb.st_mode))
			continue;
		int sub =
			openat(fd, e->d_name,
			       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			if (errno == ENOENT || errno == ENOTDIR ||
			    errno == ELOOP) /* changed meanwhile */
				continue;
			rc = sb_err_sys(s->err, "open a directory");
			break;
		}
		rc = scan_dir(s, sub, depth + 1);
		close(sub);
	}
	closedir(d);
	return rc;
}

int tree_scan(int dir, uint64_t max_bytes, uint64_t max_entries,
	      struct tree_scan_stats *st, struct sb_err *err)
{
	struct scan s = {.max_bytes = max_bytes,
			 .max_entries = max_entries,
			 .st = st,
			 .err = err};
	memset(st, 0, sizeof *st);
	return scan_dir(&s, dir, 0);
}
