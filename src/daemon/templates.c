/* SPDX-License-Identifier: Apache-2.0 */
/* templates.c - prepare and sweep the profiles' templates (templates.h). */
#include "daemon/templates.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/extract.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "sandbox/tree_copy.h"
#include "store/store.h"

struct ident {
	EVP_MD_CTX *md;
	uint64_t entries;
	struct sb_err *err;
};

static void feed(struct ident *id, const void *p, size_t n)
{
	EVP_DigestUpdate(id->md, p, n);
}

static int hash_file(struct ident *id, const char *path)
{
	_cleanup_fd_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[65536];
	ssize_t n;
	if (fd < 0)
		return sb_err_sys(id->err, "open %s", path);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		feed(id, buf, (size_t)n);
	return n < 0 ? sb_err_sys(id->err, "read %s", path) : 0;
}

/* Names in order, so that the same tree always hashes the same. */
static int hash_dir(struct ident *id, int dir, const char *rel, int depth)
{
	struct dirent **names;
	if (depth > TREE_COPY_MAX_DEPTH)
		return sb_err_set(id->err, ELOOP, "%s: nested too deep", rel);
	int n = scandirat(dir, ".", &names, NULL, alphasort);
	if (n < 0)
		return sb_err_sys(id->err, "read %s", rel);
	int r = 0;
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		struct stat sb;
		if (r < 0 || !strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (++id->entries > TEMPLATE_MAX_ENTRIES) {
			r = sb_err_set(id->err, EFBIG, "more than %d entries",
				       TEMPLATE_MAX_ENTRIES);
			continue;
		}
		if (fstatat(dir, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			r = sb_err_sys(id->err, "stat %s/%s", rel, name);
			continue;
		}
		char line[PATH_MAX + 160];
		int len = snprintf(
			line, sizeof line, "%d:%s/%s %o %lld %lld.%09ld", depth,
			rel, name, (unsigned)sb.st_mode, (long long)sb.st_size,
			(long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
		feed(id, line, (size_t)len + 1);
		if (S_ISLNK(sb.st_mode)) {
			ssize_t t = readlinkat(dir, name, line, PATH_MAX);
			if (t > 0)
				feed(id, line, (size_t)t);
		} else if (S_ISDIR(sb.st_mode)) {
			int sub = openat(dir, name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);
			char subrel[PATH_MAX];
			snprintf(subrel, sizeof subrel, "%s/%s", rel, name);
			r = sub < 0 ? sb_err_sys(id->err, "open %s", subrel)
				    : hash_dir(id, sub, subrel, depth + 1);
			if (sub >= 0)
				close(sub);
		}
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

/* 16 hex digits naming the template's content and kind. */
static int template_ident(const char *src, bool archive, char out[17],
			  struct sb_err *err)
{
	struct ident id = {.md = EVP_MD_CTX_new(), .err = err};
	unsigned char md[EVP_MAX_MD_SIZE] = {0};
	unsigned int len = 0;
	if (!id.md || !EVP_DigestInit_ex(id.md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(id.md);
		return sb_err_set(err, ENOMEM, "sha256 unavailable");
	}
	const char *kind = archive ? "slotbox-template-1 archive"
				   : "slotbox-template-1 dir";
	feed(&id, kind, strlen(kind) + 1);
	int r;
	if (archive) {
		r = hash_file(&id, src);
	} else {
		_cleanup_fd_ int fd =
			open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = fd < 0 ? sb_err_sys(err, "open %s", src)
			   : hash_dir(&id, fd, ".", 0);
	}
	if (r == 0 && !EVP_DigestFinal_ex(id.md, md, &len))
		r = sb_err_set(err, EIO, "sha256 failed");
	EVP_MD_CTX_free(id.md);
	if (r != 0 || len < 8)
		return -1;
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

bool template_is_archive(const char *path)
{
	static const char *const ext[] = {".tar", ".tar.gz", ".tgz", ".zip"};
	size_t n = strlen(path);
	for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
		size_t e = strlen(ext[i]);
		if (n > e && strcmp(path + n - e, ext[i]) == 0)
			return true;
	}
	return false;
}

/* Unpack the archive src into the empty directory dst under the
 * template policy (archive/extract.h): owner root, modes and times kept,
 * within the bounds above. A .zip is read as zip, the rest as tar. */
static int extract_into(const char *src, int dst, struct sb_err *err)
{
	size_t n = strlen(src);
	bool zip = n > 4 && strcmp(src + n - 4, ".zip") == 0;
	struct extract_policy pol = extract_policy_template(
		zip, (uint64_t)TEMPLATE_MAX_BYTES, TEMPLATE_MAX_ENTRIES);
	_cleanup_fd_ int fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sb_err_sys(err, "open %s", src);
	char dest[64];
	snprintf(dest, sizeof dest, "/proc/self/fd/%d", dst);
	return extract_archive(fd, dest, &pol, NULL, err);
}

static int fill_tree(const char *src, bool archive, int dst, struct sb_err *err)
{
	if (archive)
		return extract_into(src, dst, err);
	_cleanup_fd_ int sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0)
		return sb_err_sys(err, "open %s", src);
	struct tree_copy_opts o = {.uid = 0,
				   .gid = 0,
				   .max_bytes = (uint64_t)TEMPLATE_MAX_BYTES,
				   .max_entries = TEMPLATE_MAX_ENTRIES};
	struct tree_copy_stats st;
	if (tree_copy(sfd, dst, &o, &st, err) < 0)
		return -1;
	if (st.skipped) {
		char n[24];
		snprintf(n, sizeof n, "%llu", (unsigned long long)st.skipped);
		sb_log(SB_LOG_WARN, "template_entries_skipped", "template", src,
		       "count", n, "why", "sockets and devices are left out",
		       SB_LOG_END);
	}
	return 0;
}

/* Build <dir>/<id> through a temporary name, so that a tree under its
 * final name is always complete. */
static int build(int dir, const char *src, bool archive, const char *id,
		 struct sb_err *err)
{
	char tmp[STORE_TMP_NAME_MAX];
	if (store_mkdtemp(dir, tmp, err) < 0)
		return sb_err_prefix(err, "template");
	int dst = openat(dir, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = dst < 0 ? sb_err_sys(err, "open a template dir")
			: fill_tree(src, archive, dst, err);
	if (r == 0 && fchown(dst, 0, 0) < 0)
		r = sb_err_sys(err, "chown a template dir");
	if (dst >= 0)
		close(dst);
	if (r == 0 && store_publish(dir, tmp, dir, id, STORE_KEEP, err) < 0)
		r = sb_err_prefix(err, "template");
	store_remove(dir, tmp); /* a failed build, or a twin already there */
	return r;
}

static int prepare_one(struct sb_profile *p, int dir, const char *tdir,
		       struct sb_err *err)
{
	const char *src = p->workspace_template;
	bool archive = template_is_archive(src);
	struct stat sb;
	if (stat(src, &sb) < 0)
		return sb_err_sys(err, "%s", src);
	if (archive ? !S_ISREG(sb.st_mode) : !S_ISDIR(sb.st_mode))
		return sb_err_set(err, EINVAL,
				  "%s is not %s (a directory, or a .tar, "
				  ".tar.gz, .tgz or .zip file)",
				  src, archive ? "a file" : "a directory");
	double t0 = sb_now_mono();
	if (template_ident(src, archive, p->template_id, err) < 0)
		return -1;
	bool reused = faccessat(dir, p->template_id, F_OK, 0) == 0;
	if (!reused && build(dir, src, archive, p->template_id, err) < 0)
		return sb_err_prefix(err, "%s", src);
	free(p->template_dir);
	if (asprintf(&p->template_dir, "%s/%s", tdir, p->template_id) < 0) {
		p->template_dir = NULL;
		return sb_err_set(err, ENOMEM, "out of memory");
	}
	char ms[32];
	snprintf(ms, sizeof ms, "%.1f", (sb_now_mono() - t0) * 1000);
	sb_log(SB_LOG_INFO, "template_ready", "profile", p->name, "template",
	       src, "id", p->template_id, "reused", reused ? "true" : "false",
	       "ms", ms, SB_LOG_END);
	return 0;
}

int templates_prepare(struct sb_config *cfg, const char *state_dir,
		      struct sb_err *err)
{
	char tdir[PATH_MAX];
	snprintf(tdir, sizeof tdir, "%s/templates", state_dir);
	bool any = false;
	for (size_t i = 0; i < cfg->n_profiles; i++)
		any = any || cfg->profiles[i].workspace_template;
	if (!any)
		return 0;
	struct store_dir dir;
	if (store_dir_open(&dir, state_dir, "templates", err) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < cfg->n_profiles; i++) {
		struct sb_profile *p = &cfg->profiles[i];
		if (p->workspace_template &&
		    prepare_one(p, dir.fd, dir.path, err) < 0)
			rc = sb_err_prefix(err,
					   "profile \"%s\": "
					   "workspace_template",
					   p->name);
	}
	store_dir_close(&dir);
	return rc;
}

struct sweep {
	const struct sb_config *cfg;
	bool (*keep)(const char *id, void *ud);
	void *ud;
};

/* Neither a profile's template nor one kept (a snapshot's): remove. */
static bool unused(const char *id, void *ud)
{
	const struct sweep *w = ud;
	for (size_t i = 0; i < w->cfg->n_profiles; i++)
		if (strcmp(w->cfg->profiles[i].template_id, id) == 0)
			return false;
	if (w->keep && w->keep(id, w->ud))
		return false;
	sb_log(SB_LOG_INFO, "template_removed", "id", id, SB_LOG_END);
	return true;
}

void templates_sweep(const struct sb_config *cfg, const char *state_dir,
		     bool (*keep)(const char *id, void *ud), void *ud)
{
	char tdir[PATH_MAX];
	snprintf(tdir, sizeof tdir, "%s/templates", state_dir);
	_cleanup_fd_ int dir = open(tdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct sweep w = {.cfg = cfg, .keep = keep, .ud = ud};
	if (dir >= 0)
		store_sweep(dir, unused, &w);
}
