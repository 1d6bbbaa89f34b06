/* SPDX-License-Identifier: Apache-2.0 */
/* snapshots.c - the snapshot store (snapshots.h). Runs on the loop thread
 * except for the removal of large trees, which goes to the thread pool. */
#include "pool/snapshots.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"

#define META_MAX 8192

/* A restore in progress: the snapshot's dir stays open (its tree is read
 * through /proc/self/fd, so a rename does not disturb it); a delete that
 * finds it in use leaves the removal to the last release. */
struct snapshot_use {
	struct snapshot_use *next;
	int dirfd;
	dev_t dev;
	ino_t ino;
	int refs;
	char trash[NAME_MAX + 1]; /* set once deleted */
};

struct removal {
	uv_work_t work;
	int dirfd;
	char name[NAME_MAX + 1];
};

bool snapshot_name_valid(const char *name)
{
	size_t n = strlen(name);
	return n >= 1 && n <= SNAPSHOT_NAME_MAX && name[0] != '.' &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW"
			    "XYZ0123456789_.-") == n;
}

static void removal_work(uv_work_t *w)
{
	struct removal *r = w->data;
	store_remove(r->dirfd, r->name);
}

static void removal_done(uv_work_t *w, int status)
{
	struct removal *r = w->data;
	(void)status;
	close(r->dirfd);
	free(r);
}

/* Remove dir entry `name` off the loop (a tree may be large). */
static void remove_later(struct snapshot_store *s, const char *name)
{
	struct removal *r = calloc(1, sizeof *r);
	if (r && (r->dirfd = dup(s->dir.fd)) >= 0) {
		snprintf(r->name, sizeof r->name, "%s", name);
		r->work.data = r;
		if (uv_queue_work(s->loop, &r->work, removal_work,
				  removal_done) == 0)
			return;
		close(r->dirfd);
	}
	free(r);
	store_remove(s->dir.fd, name); /* no thread: do it here */
}

static json_t *read_meta(int dirfd, const char *name)
{
	char path[NAME_MAX + 16];
	snprintf(path, sizeof path, "%s/meta.json", name);
	_cleanup_fd_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	char buf[META_MAX];
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	if (n <= 0)
		return NULL;
	json_t *doc = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	if (doc && !json_is_object(doc)) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* What a snapshot counts against the store's cap: its meta's "charged",
 * or for one made before there was a charge, its bytes and 4 KiB per
 * entry. */
static uint64_t charged_of(int dirfd, const char *name)
{
	json_t *m = read_meta(dirfd, name);
	if (!m)
		return 0;
	json_int_t c = json_integer_value(json_object_get(m, "charged"));
	if (c <= 0)
		c = json_integer_value(json_object_get(m, "bytes")) +
		    json_integer_value(json_object_get(m, "entries")) * 4096;
	json_decref(m);
	return c > 0 ? (uint64_t)c : 0;
}

int snapshots_open(struct snapshot_store *s, uv_loop_t *loop,
		   const char *state_dir, struct sb_err *err)
{
	memset(s, 0, sizeof *s);
	s->loop = loop;
	if (store_dir_open(&s->dir, state_dir, "snapshots", err) < 0)
		return -1;
	DIR *d = NULL;
	if (store_sweep(s->dir.fd, store_name_temporary, NULL) < 0 ||
	    !(d = sb_opendir_at(s->dir.fd)))
		return sb_err_sys(err, "read %s", s->dir.path);
	struct dirent *e;
	while ((e = readdir(d)))
		if (snapshot_name_valid(e->d_name))
			s->used += charged_of(s->dir.fd, e->d_name);
	closedir(d);
	return 0;
}

uint64_t snapshots_room(const struct snapshot_store *s)
{
	if (!s->max_bytes)
		return UINT64_MAX;
	return s->used < s->max_bytes ? s->max_bytes - s->used : 0;
}

void snapshots_close(struct snapshot_store *s)
{
	store_dir_close(&s->dir);
}

static int by_name(const void *a, const void *b)
{
	const char *x =
		json_string_value(json_object_get(*(json_t *const *)a, "name"));
	const char *y =
		json_string_value(json_object_get(*(json_t *const *)b, "name"));
	return strcmp(x ? x : "", y ? y : "");
}

json_t *snapshots_list(struct snapshot_store *s)
{
	json_t *arr = json_array();
	DIR *d = sb_opendir_at(s->dir.fd);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!snapshot_name_valid(e->d_name))
			continue;
		json_t *m = read_meta(s->dir.fd, e->d_name);
		if (!m)
			continue; /* not a snapshot (or a damaged one) */
		json_object_set_new(m, "name", json_string(e->d_name));
		json_array_append_new(arr, m);
	}
	if (d)
		closedir(d);
	size_t n = json_array_size(arr);
	json_t **items = malloc((n ? n : 1) * sizeof(json_t *));
	for (size_t i = 0; items && i < n; i++)
		items[i] = json_incref(json_array_get(arr, i));
	json_t *out = json_array();
	if (items) {
		qsort(items, n, sizeof(json_t *), by_name);
		for (size_t i = 0; i < n; i++)
			json_array_append_new(out, items[i]);
	}
	free(items);
	json_decref(arr);
	return json_pack("{s:o}", "snapshots", out);
}

bool snapshot_exists(struct snapshot_store *s, const char *name)
{
	struct stat st;
	return snapshot_name_valid(name) &&
	       fstatat(s->dir.fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int snapshots_count(struct snapshot_store *s)
{
	int n = 0;
	DIR *d = sb_opendir_at(s->dir.fd);
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += snapshot_name_valid(e->d_name);
	closedir(d);
	return n;
}

static struct snapshot_use *find_use(struct snapshot_store *s, dev_t dev,
				     ino_t ino)
{
	for (struct snapshot_use *u = s->uses; u; u = u->next)
		if (u->dev == dev && u->ino == ino)
			return u;
	return NULL;
}

int snapshot_acquire(struct snapshot_store *s, const char *name,
		     struct snapshot_info *info, struct sb_err *err)
{
	memset(info, 0, sizeof *info);
	if (!snapshot_name_valid(name))
		return sb_err_set(err, ENOENT, "no snapshot \"%.64s\"", name);
	_cleanup_fd_ int dir =
		openat(s->dir.fd, name,
		       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (dir < 0 || fstat(dir, &st) < 0)
		return sb_err_set(err, ENOENT, "no snapshot \"%s\"", name);
	json_t *m = read_meta(s->dir.fd, name);
	const char *profile = NULL, *tpl = NULL;
	if (!m || json_unpack(m, "{s:s, s:s}", "profile", &profile, "template",
			      &tpl) < 0) {
		json_decref(m);
		return sb_err_set(err, EIO, "snapshot \"%s\" is damaged", name);
	}
	snprintf(info->name, sizeof info->name, "%s", name);
	snprintf(info->profile, sizeof info->profile, "%s", profile);
	snprintf(info->template_id, sizeof info->template_id, "%s", tpl);
	json_decref(m);
	struct snapshot_use *u = find_use(s, st.st_dev, st.st_ino);
	if (!u) {
		if (!(u = calloc(1, sizeof *u)))
			return sb_err_set(err, ENOMEM, "out of memory");
		u->dirfd = steal_fd(&dir);
		u->dev = st.st_dev;
		u->ino = st.st_ino;
		u->next = s->uses;
		s->uses = u;
	}
	u->refs++;
	info->use = u;
	snprintf(info->tree, sizeof info->tree, "/proc/self/fd/%d/tree",
		 u->dirfd);
	return 0;
}

void snapshot_release(struct snapshot_store *s, struct snapshot_use *use)
{
	if (--use->refs > 0)
		return;
	for (struct snapshot_use **pp = &s->uses; *pp; pp = &(*pp)->next) {
		if (*pp == use) {
			*pp = use->next;
			break;
		}
	}
	close(use->dirfd);
	if (use->trash[0])
		remove_later(s, use->trash);
	free(use);
}

int snapshot_delete(struct snapshot_store *s, const char *name,
		    struct sb_err *err)
{
	char trash[STORE_TMP_NAME_MAX];
	struct stat st;
	if (!snapshot_name_valid(name) ||
	    fstatat(s->dir.fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return sb_err_set(err, ENOENT, "no snapshot \"%.64s\"", name);
	if (store_trash_name(trash, err) < 0)
		return -1;
	uint64_t charged = charged_of(s->dir.fd, name);
	if (renameat(s->dir.fd, name, s->dir.fd, trash) < 0)
		return errno == ENOENT ? sb_err_set(err, ENOENT,
						    "no snapshot \"%s\"", name)
				       : sb_err_sys(err, "delete %s", name);
	s->used = s->used > charged ? s->used - charged : 0;
	struct snapshot_use *u = find_use(s, st.st_dev, st.st_ino);
	if (u)
		snprintf(u->trash, sizeof u->trash, "%s", trash);
	else
		remove_later(s, trash);
	return 0;
}

int snapshot_stage(struct snapshot_store *s, char *tmp, char *tree,
		   size_t treelen, struct sb_err *err)
{
	char name[STORE_TMP_NAME_MAX];
	if (store_mkdtemp(s->dir.fd, name, err) < 0)
		return sb_err_prefix(err, "snapshot");
	snprintf(tmp, NAME_MAX + 1, "%s", name);
	char sub[NAME_MAX + 8];
	snprintf(sub, sizeof sub, "%s/tree", tmp);
	if (mkdirat(s->dir.fd, sub, 0700) < 0) {
		sb_err_sys(err, "create a snapshot dir");
		store_remove(s->dir.fd, tmp);
		return -1;
	}
	snprintf(tree, treelen, "%s/%s", s->dir.path, sub);
	return 0;
}

static int write_meta(int dirfd, const char *tmp, json_t *meta,
		      struct sb_err *err)
{
	char path[NAME_MAX + 16];
	snprintf(path, sizeof path, "%s/meta.json", tmp);
	char *text = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return sb_err_set(err, ENOMEM, "out of memory");
	size_t len = strlen(text);
	_cleanup_fd_ int fd = openat(
		dirfd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ssize_t n = fd < 0 ? -1 : write(fd, text, len);
	free(text);
	if (n != (ssize_t)len)
		return sb_err_sys(err, "write the snapshot's meta.json");
	return 0;
}

int snapshot_commit(struct snapshot_store *s, const char *tmp, const char *name,
		    json_t *meta, struct sb_err *err)
{
	if (write_meta(s->dir.fd, tmp, meta, err) < 0)
		return -1;
	if (store_publish(s->dir.fd, tmp, s->dir.fd, name, STORE_NOREPLACE,
			  err) < 0) {
		if (err && err->sys_errno == EEXIST)
			return sb_err_set(err, EEXIST,
					  "a snapshot \"%s\" exists", name);
		return sb_err_prefix(err, "name the snapshot");
	}
	json_int_t c = json_integer_value(json_object_get(meta, "charged"));
	s->used += c > 0 ? (uint64_t)c : 0;
	return 0;
}

void snapshot_abandon(struct snapshot_store *s, const char *tmp)
{
	remove_later(s, tmp);
}
