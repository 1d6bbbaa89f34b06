/* SPDX-License-Identifier: Apache-2.0 */
/* journal.c - atomic JSON records in <state>/journal (see journal.h). */
#include "store/journal.h"

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
#include "common/util.h"
#include "store/spares.h"

#define RECORD_MAX (64 * 1024)

/* Records are padded with spaces to a multiple of this, so that most
 * replacements keep the size and can be written in place. */
#define RECORD_BLOCK 512

/* The largest record written into a spare, and the largest file kept as
 * one: a write at offset 0 within one page, which the daemon's death
 * cannot tear (the kernel stops a write for a fatal signal only between
 * pages). */
#define SPARE_RECORD_MAX 4096

static bool name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > JOURNAL_NAME_MAX || name[0] == '.')
		return false;
	return strspn(name,
		      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789_.-") == n;
}

/* Is the spare n all blanks, and no larger than SPARE_RECORD_MAX, as
 * journal_remove leaves one? */
static bool spare_blank(struct journal *j, int n)
{
	char name[32], buf[RECORD_BLOCK];
	store_spare_name(name, n);
	_cleanup_fd_ int fd =
		openat(j->dir.fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	/* no larger than a spare journal_remove keeps */
	for (size_t total = 0; total <= SPARE_RECORD_MAX;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0;
		total += (size_t)r;
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != ' ' && buf[i] != '\n')
				return false;
	}
	return false;
}

/* Keep the spares that are blank: any other (written by hand, or by
 * something else) could be read as a record if taken and then cut
 * short. */
static void keep_blank_spares(struct journal *j)
{
	for (int n = 0; n < STORE_SPARES_MAX; n++) {
		if (!(j->spares.have & (UINT64_C(1) << n)) || spare_blank(j, n))
			continue;
		char name[32];
		store_spare_name(name, n);
		unlinkat(j->dir.fd, name, 0);
		j->spares.have &= ~(UINT64_C(1) << n);
	}
}

int journal_open(struct journal *j, const char *state_dir, struct sb_err *err)
{
	j->spares.have = 0;
	if (store_dir_open(&j->dir, state_dir, "journal", err) < 0)
		return -1;
	if (store_sweep(j->dir.fd, store_name_temporary, NULL) < 0 ||
	    store_spares_scan(&j->spares, j->dir.fd, S_IFREG) < 0)
		return sb_err_sys(err, "read %s", j->dir.path);
	keep_blank_spares(j);
	return 0;
}

void journal_close(struct journal *j)
{
	store_dir_close(&j->dir);
}

void journal_drop_spares(struct journal *j)
{
	if (j->dir.fd >= 0)
		store_spares_drop(&j->spares, j->dir.fd);
}

static int write_all_at(int fd, const char *buf, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t w = pwrite(fd, buf + off, len - off, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

/* Overwrite an existing record of exactly len bytes in place: one pwrite
 * of at most a few blocks, which the daemon's death cannot tear (only a
 * host crash could, and that ends every sandbox anyway). Creating a file
 * costs far more than writing one (~0.2 ms on ext4 here, on every
 * acquire). 1 done, 0 not possible (absent, other size), -1 error. */
static int put_in_place(struct journal *j, const char *name, const char *buf,
			size_t len, bool *absent)
{
	_cleanup_fd_ int fd =
		openat(j->dir.fd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	*absent = fd < 0 && errno == ENOENT;
	if (fd < 0)
		return *absent ? 0 : -1;
	if (fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size != len)
		return 0;
	return write_all_at(fd, buf, len) < 0 ? -1 : 1;
}

/* A new record in a spare (spares.h) renamed into place: no inode
 * created. The spare is blank, so the daemon's death before the write
 * leaves a cleared record (read as {}), never another record's content;
 * after the write, a longer spare's tail is blanks until cut. 1 done, 0
 * no spare (or none usable), -1 error (name is not left behind). */
static int put_in_spare(struct journal *j, const char *name, const char *buf,
			size_t len)
{
	if (len > SPARE_RECORD_MAX ||
	    store_spares_take(&j->spares, j->dir.fd, name) <= 0)
		return 0;
	_cleanup_fd_ int fd =
		openat(j->dir.fd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || write_all_at(fd, buf, len) < 0 ||
	    ((size_t)st.st_size > len && ftruncate(fd, (off_t)len) < 0)) {
		int e = errno;
		unlinkat(j->dir.fd, name, 0);
		errno = e;
		return -1;
	}
	return 1;
}

int journal_put(struct journal *j, const char *name, json_t *doc,
		struct sb_err *err)
{
	if (!name_ok(name))
		return sb_err_set(err, EINVAL, "bad journal record name");
	size_t len = json_dumpb(doc, NULL, 0, JSON_COMPACT);
	if (len == 0)
		return sb_err_set(err, ENOMEM, "out of memory");
	size_t padded =
		(len + 1 + RECORD_BLOCK - 1) / RECORD_BLOCK * RECORD_BLOCK;
	if (padded >= RECORD_MAX)
		return sb_err_set(err, E2BIG, "journal record %s too large",
				  name);
	char *buf = malloc(padded);
	if (!buf)
		return sb_err_set(err, ENOMEM, "out of memory");
	if (json_dumpb(doc, buf, len, JSON_COMPACT) != len) {
		free(buf);
		return sb_err_set(err, ENOMEM, "out of memory");
	}
	memset(buf + len, ' ', padded - len - 1);
	buf[padded - 1] = '\n';
	bool absent = false;
	int r = put_in_place(j, name, buf, padded, &absent);
	if (r == 0 && absent)
		r = put_in_spare(j, name, buf, padded);
	if (r < 0)
		r = sb_err_sys(err, "journal %s", name);
	else if (r == 0 &&
		 store_write_atomic(j->dir.fd, name, buf, padded, err) < 0)
		r = sb_err_prefix(err, "journal");
	free(buf);
	return r < 0 ? -1 : 0;
}

/* Overwrite the size bytes of fd with blanks. */
static int blank_fd(int fd, off_t size)
{
	char blank[RECORD_BLOCK];
	memset(blank, ' ', sizeof blank);
	for (off_t off = 0; off < size; off += (off_t)sizeof blank) {
		size_t n = size - off < (off_t)sizeof blank
				   ? (size_t)(size - off)
				   : sizeof blank;
		if (pwrite(fd, blank, n, off) != (ssize_t)n)
			return -1;
	}
	return 0;
}

int journal_clear(struct journal *j, const char *name, struct sb_err *err)
{
	if (!name_ok(name))
		return sb_err_set(err, EINVAL, "bad journal record name");
	_cleanup_fd_ int fd =
		openat(j->dir.fd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || fstat(fd, &st) < 0)
		return sb_err_sys(err, "journal %s", name);
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > RECORD_MAX)
		return journal_remove(j, name, err);
	if (blank_fd(fd, st.st_size) < 0)
		return sb_err_sys(err, "journal %s", name);
	return 0;
}

/* Keep a removed record's file as a spare: blanked first (the daemon's
 * death in between leaves a cleared record), then renamed. 1 done (or
 * nothing there), 0 not kept (the caller unlinks it), -1 error. */
static int remove_to_spare(struct journal *j, const char *name)
{
	if (!~j->spares.have)
		return 0;
	_cleanup_fd_ int fd =
		openat(j->dir.fd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return errno == ENOENT ? 1 : 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > SPARE_RECORD_MAX)
		return 0;
	if (blank_fd(fd, st.st_size) < 0)
		return -1;
	return store_spares_put(&j->spares, j->dir.fd, name) > 0 ? 1 : 0;
}

int journal_remove(struct journal *j, const char *name, struct sb_err *err)
{
	if (!name_ok(name))
		return sb_err_set(err, EINVAL, "bad journal record name");
	int r = remove_to_spare(j, name);
	if (r == 0 && unlinkat(j->dir.fd, name, 0) < 0 && errno != ENOENT)
		r = -1;
	if (r < 0)
		return sb_err_sys(err, "journal %s", name);
	return 0;
}

static json_t *load(struct journal *j, const char *name)
{
	_cleanup_fd_ int fd =
		openat(j->dir.fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
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
	buf[n] = '\0';
	/* A cleared record (all blanks) reads as {}. */
	if (strspn(buf, " \n") == n)
		return json_object();
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
	DIR *d = sb_opendir_at(j->dir.fd);
	if (!d)
		return -1;
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
			unlinkat(j->dir.fd, e->d_name, 0);
			continue;
		}
		rc = fn(e->d_name, doc, ud);
		json_decref(doc);
	}
	closedir(d);
	return rc;
}
