/* journal.c - atomic JSON records in <state>/journal (see journal.h). */
#include "daemon/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"

#define RECORD_MAX (64 * 1024)

static bool name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > JOURNAL_NAME_MAX || name[0] == '.')
		return false;
	return strspn(name,
		      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789_.-") == n;
}

/* A DIR of its own over the journal dir (readdir needs one). */
static DIR *open_dir(const struct journal *j)
{
	int fd = dup(j->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d && fd >= 0)
		close(fd);
	return d;
}

int journal_open(struct journal *j, const char *state_dir, struct sb_err *err)
{
	j->dirfd = -1;
	snprintf(j->path, sizeof j->path, "%s/journal", state_dir);
	if (mkdir(j->path, 0700) < 0 && errno != EEXIST)
		return sb_err_sys(err, "create %s", j->path);
	j->dirfd = open(j->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0)
		return sb_err_sys(err, "open %s", j->path);
	DIR *d = open_dir(j);
	if (!d)
		return sb_err_sys(err, "read %s", j->path);
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] == '.' && strstr(e->d_name, ".tmp"))
			unlinkat(j->dirfd, e->d_name, 0);
	closedir(d);
	return 0;
}

void journal_close(struct journal *j)
{
	if (j->dirfd >= 0)
		close(j->dirfd);
	j->dirfd = -1;
}

int journal_put(struct journal *j, const char *name, json_t *doc,
		struct sb_err *err)
{
	if (!name_ok(name))
		return sb_err_set(err, EINVAL, "bad journal record name");
	char tmp[JOURNAL_NAME_MAX + 8];
	snprintf(tmp, sizeof tmp, ".%s.tmp", name);
	_cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT);
	if (!text)
		return sb_err_set(err, ENOMEM, "out of memory");
	size_t len = strlen(text);
	_cleanup_fd_ int fd = openat(
		j->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return sb_err_sys(err, "journal %s", name);
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			sb_err_sys(err, "journal %s", name);
			unlinkat(j->dirfd, tmp, 0);
			return -1;
		}
		off += (size_t)w;
	}
	if (renameat(j->dirfd, tmp, j->dirfd, name) < 0) {
		sb_err_sys(err, "journal %s", name);
		unlinkat(j->dirfd, tmp, 0);
		return -1;
	}
	return 0;
}

int journal_remove(struct journal *j, const char *name, struct sb_err *err)
{
	if (!name_ok(name))
		return sb_err_set(err, EINVAL, "bad journal record name");
	if (unlinkat(j->dirfd, name, 0) < 0 && errno != ENOENT)
		return sb_err_sys(err, "journal %s", name);
	return 0;
}

static json_t *load(struct journal *j, const char *name)
{
	_cleanup_fd_ int fd =
		openat(j->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char buf[RECORD_MAX];
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, sizeof buf - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == sizeof buf)
			return NULL; /* no record is this large */
	}
	json_t *doc = json_loadb(buf, n, 0, NULL);
	if (doc && !json_is_object(doc)) {
		json_decref(doc);
		doc = NULL;
	}
	return doc;
}

int journal_each(struct journal *j, const char *prefix,
		 int (*fn)(const char *name, json_t *doc, void *ud), void *ud)
{
	DIR *d = open_dir(j);
	if (!d)
		return -1;
	rewinddir(d);
	int rc = 0;
	struct dirent *e;
	size_t plen = strlen(prefix);
	while (rc >= 0 && (e = readdir(d))) {
		if (!name_ok(e->d_name) || strncmp(e->d_name, prefix, plen))
			continue;
		json_t *doc = load(j, e->d_name);
		if (!doc) {
			sb_log(SB_LOG_WARN, "journal_bad_record", "record",
			       e->d_name, SB_LOG_END);
			unlinkat(j->dirfd, e->d_name, 0);
			continue;
		}
		rc = fn(e->d_name, doc, ud);
		json_decref(doc);
	}
	closedir(d);
	return rc;
}
