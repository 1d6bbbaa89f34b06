/* SPDX-License-Identifier: Apache-2.0 */
/* import.c - OCI layouts and docker-save archives into the store.
 *
 * An archive is first unpacked (with the same checks as a layer) into a
 * work dir; from then on every file of the layout is opened beneath it
 * with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so a layout cannot
 * point the import at host files. Each layer blob is hashed: an OCI blob
 * must match its digest; the hash names the unpacked layer, so a layer
 * shared by several images is unpacked once. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "archive/extract.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "image/image.h"
#include "image/store_internal.h"
#include "store/store.h"

#define MAX_JSON (4u << 20)
#define MAX_OUTER ((uint64_t)64 << 30)
#define MAX_LAYER ((uint64_t)64 << 30)

struct plan {
	json_t *config;			 /* the image config, owned */
	char *layer[IMAGE_MAX_LAYERS];	 /* paths in the layout, bottom first */
	char want[IMAGE_MAX_LAYERS][65]; /* OCI digest hex, "" if none */
	int n;
	const char *source;
};

static void plan_free(struct plan *p)
{
	json_decref(p->config);
	for (int i = 0; i < p->n; i++)
		free(p->layer[i]);
}

/* A regular file of the unpacked layout, beneath dir. Opened with
 * O_NONBLOCK and checked before any read: a FIFO the archive planted
 * under a blob's name would otherwise block the open for good (found by
 * fuzz_image); anything but a regular file is refused with EINVAL. */
static int open_beneath(int dir, const char *rel)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS};
	if (extract_path_ok(rel) < 0) {
		errno = EPERM;
		return -1;
	}
	int fd = (int)syscall(SYS_openat2, dir, rel, &how, sizeof how);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		goto fail;
	return fd;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}

static json_t *load_json(int dir, const char *rel, struct sb_err *err)
{
	_cleanup_fd_ int fd = open_beneath(dir, rel);
	if (fd < 0) {
		sb_err_sys(err, "layout file %.200s", rel);
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > MAX_JSON) {
		sb_err_set(err, EINVAL, "layout file %.200s: not a small file",
			   rel);
		return NULL;
	}
	json_error_t je;
	json_t *doc = json_loadfd(fd, 0, &je);
	if (!doc)
		sb_err_set(err, EINVAL, "layout file %.200s: %s", rel, je.text);
	return doc;
}

/* "sha256:<hex>" -> "blobs/sha256/<hex>" with hex kept in want. */
static char *blob_path(const char *digest, char want[65], struct sb_err *err)
{
	if (!digest || strncmp(digest, "sha256:", 7) != 0 ||
	    !image_digest_valid(digest + 7)) {
		sb_err_set(err, EINVAL, "unsupported digest %.100s",
			   digest ? digest : "(none)");
		return NULL;
	}
	if (want)
		memcpy(want, digest + 7, 65);
	char *p = NULL;
	if (asprintf(&p, "blobs/sha256/%s", digest + 7) < 0)
		p = NULL;
	return p;
}

/* The manifest of an index entry: linux/amd64 if several, else the first;
 * one level of nested index is followed. */
static json_t *pick_manifest(int dir, json_t *index, int depth,
			     struct sb_err *err)
{
	json_t *list = json_object_get(index, "manifests");
	json_t *pick = json_array_get(list, 0);
	for (size_t i = 1; i < json_array_size(list); i++) {
		json_t *m = json_array_get(list, i);
		json_t *plat = json_object_get(m, "platform");
		const char *os = json_string_value(json_object_get(plat, "os"));
		const char *arch = json_string_value(
			json_object_get(plat, "architecture"));
		if (os && arch && !strcmp(os, "linux") &&
		    !strcmp(arch, "amd64"))
			pick = m;
	}
	if (!pick) {
		sb_err_set(err, EINVAL, "the layout names no manifest");
		return NULL;
	}
	_cleanup_free_ char *path = blob_path(
		json_string_value(json_object_get(pick, "digest")), NULL, err);
	json_t *doc = path ? load_json(dir, path, err) : NULL;
	if (doc && json_object_get(doc, "manifests")) {
		json_t *inner =
			depth < 1 ? pick_manifest(dir, doc, depth + 1, err)
				  : NULL;
		if (depth >= 1)
			sb_err_set(err, EINVAL, "indexes nested too deep");
		json_decref(doc);
		return inner;
	}
	return doc;
}

static int plan_oci_layers(json_t *man, struct plan *p, struct sb_err *err)
{
	json_t *layers = json_object_get(man, "layers"), *l;
	size_t i;
	if (json_array_size(layers) > IMAGE_MAX_LAYERS)
		return sb_err_set(err, E2BIG, "more than %d layers",
				  IMAGE_MAX_LAYERS);
	json_array_foreach(layers, i, l)
	{
		p->layer[p->n] = blob_path(
			json_string_value(json_object_get(l, "digest")),
			p->want[p->n], err);
		if (!p->layer[p->n])
			return -1;
		p->n++;
	}
	return 0;
}

static int plan_oci(int dir, struct plan *p, struct sb_err *err)
{
	json_t *index = load_json(dir, "index.json", err);
	json_t *man = index ? pick_manifest(dir, index, 0, err) : NULL;
	json_decref(index);
	if (!man)
		return -1;
	json_t *cfg = json_object_get(man, "config");
	char *cpath = blob_path(
		json_string_value(json_object_get(cfg, "digest")), NULL, err);
	int rc = cpath && (p->config = load_json(dir, cpath, err)) ? 0 : -1;
	free(cpath);
	if (rc == 0)
		rc = plan_oci_layers(man, p, err);
	json_decref(man);
	p->source = "oci";
	return rc;
}

static int plan_docker_layers(json_t *layers, struct plan *p,
			      struct sb_err *err)
{
	json_t *l;
	size_t i;
	if (!json_is_array(layers))
		return sb_err_set(err, EINVAL, "manifest.json: no layers");
	if (json_array_size(layers) > IMAGE_MAX_LAYERS)
		return sb_err_set(err, E2BIG, "more than %d layers",
				  IMAGE_MAX_LAYERS);
	json_array_foreach(layers, i, l)
	{
		const char *rel = json_string_value(l);
		if (!rel || !(p->layer[p->n] = strdup(rel)))
			return sb_err_set(err, EINVAL, "bad layer entry");
		p->want[p->n][0] = '\0';
		p->n++;
	}
	return 0;
}

static int plan_docker(int dir, struct plan *p, struct sb_err *err)
{
	json_t *man = load_json(dir, "manifest.json", err);
	if (!man)
		return -1;
	json_t *first = json_array_get(man, 0);
	const char *cpath = json_string_value(json_object_get(first, "Config"));
	int rc = 0;
	if (!cpath)
		rc = sb_err_set(err, EINVAL, "manifest.json: no image");
	else if (!(p->config = load_json(dir, cpath, err)))
		rc = -1;
	if (rc == 0)
		rc = plan_docker_layers(json_object_get(first, "Layers"), p,
					err);
	json_decref(man);
	p->source = "docker-archive";
	return rc;
}

static int sha256_fd(int fd, char hex[65], struct sb_err *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[32], buf[65536];
	unsigned len = 0;
	int rc = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ? 0 : -1;
	ssize_t n;
	while (rc == 0 && (n = read(fd, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || !EVP_DigestUpdate(ctx, buf, (size_t)n))
			rc = -1;
	}
	if (rc == 0 && !EVP_DigestFinal_ex(ctx, md, &len))
		rc = -1;
	EVP_MD_CTX_free(ctx);
	if (rc < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return sb_err_sys(err, "hash a layer");
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* Unpack layer i unless the store has it; its digest goes to hex. One
 * the store has gets the user.overlay.* marks an older slotbox did not
 * write (layer_marks.c) when user: the store's file system keeps them. */
static int store_layer(const char *store, const char *work, int dir,
		       const struct plan *p, int i, bool user, char hex[65],
		       struct sb_err *err)
{
	_cleanup_fd_ int fd = open_beneath(dir, p->layer[i]);
	if (fd < 0)
		return sb_err_sys(err, "layer %.200s", p->layer[i]);
	if (sha256_fd(fd, hex, err) < 0)
		return -1;
	if (p->want[i][0] && strcmp(p->want[i], hex) != 0)
		return sb_err_set(err, EINVAL,
				  "layer %.200s does not match its digest",
				  p->layer[i]);
	char final[4200], tmp[4200];
	snprintf(final, sizeof final, "%s/layers/%s", store, hex);
	if (access(final, F_OK) == 0) /* shared with an image already here */
		return user ? image_layer_add_user_marks(final, err) : 0;
	snprintf(tmp, sizeof tmp, "%s/L%d", work, i);
	if (mkdir(tmp, 0755) < 0)
		return sb_err_sys(err, "create %s", tmp);
	if (extract_tar(fd, tmp, true, MAX_LAYER, err) < 0) {
		sb_err_prefix(err, "layer %d", i);
		return -1;
	}
	if (store_publish(AT_FDCWD, tmp, AT_FDCWD, final, STORE_KEEP, err) < 0)
		return sb_err_prefix(err, "store layer %s", hex);
	return 0; /* a twin that won a race stays in work/, removed with it */
}

static json_t *config_strings(json_t *cfg, const char *key)
{
	json_t *out = json_array(), *v;
	size_t i;
	json_array_foreach(json_object_get(cfg, key), i,
			   v) if (json_is_string(v)) json_array_append(out, v);
	return out;
}

static int write_ref(const char *store, const char *name, json_t *ref,
		     struct sb_err *err)
{
	char dir[4200], file[IMAGE_NAME_MAX + 8];
	snprintf(dir, sizeof dir, "%s/refs", store);
	snprintf(file, sizeof file, "%s.json", name);
	_cleanup_fd_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sb_err_sys(err, "open %s", dir);
	char *text = json_dumps(ref, JSON_COMPACT);
	if (!text)
		return sb_err_set(err, ENOMEM, "out of memory");
	int rc = store_write_atomic(fd, file, text, strlen(text), err);
	free(text);
	return rc < 0 ? sb_err_prefix(err, "%s", dir) : 0;
}

/* The layout to read: src itself, or src unpacked into work/outer. */
static int open_layout(const char *src, const char *work, struct sb_err *err)
{
	_cleanup_fd_ int fd = open(src, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return sb_err_sys(err, "%s", src);
	if (S_ISDIR(st.st_mode))
		return steal_fd(&fd);
	if (!S_ISREG(st.st_mode))
		return sb_err_set(err, EINVAL, "%s: not a file or directory",
				  src);
	char outer[4200];
	snprintf(outer, sizeof outer, "%s/outer", work);
	if (mkdir(outer, 0700) < 0)
		return sb_err_sys(err, "create %s", outer);
	if (extract_tar(fd, outer, false, MAX_OUTER, err) < 0)
		return -1;
	int d = open(outer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return d < 0 ? sb_err_sys(err, "open %s", outer) : d;
}

static int import_in(const char *store, const char *name, const char *src,
		     const char *work, json_t **info, struct sb_err *err)
{
	struct plan p = {0};
	_cleanup_fd_ int dir = open_layout(src, work, err);
	if (dir < 0)
		return -1;
	struct stat st;
	int rc;
	if (fstatat(dir, "index.json", &st, AT_SYMLINK_NOFOLLOW) == 0)
		rc = plan_oci(dir, &p, err);
	else if (fstatat(dir, "manifest.json", &st, AT_SYMLINK_NOFOLLOW) == 0)
		rc = plan_docker(dir, &p, err);
	else
		rc = sb_err_set(err, EINVAL,
				"%s is neither an OCI image layout nor a "
				"docker save archive",
				src);
	if (rc == 0 && p.n == 0)
		rc = sb_err_set(err, EINVAL, "the image has no layers");
	/* "userxattr": every opaque dir of its layers is marked for a
	 * userns: true sandbox's overlay too (extract_mark_opaque) */
	bool user = image_store_has_user_xattrs(work);
	json_t *layers = json_array();
	for (int i = 0; rc == 0 && i < p.n; i++) {
		char hex[65];
		rc = store_layer(store, work, dir, &p, i, user, hex, err);
		if (rc == 0)
			json_array_append_new(layers, json_string(hex));
	}
	if (rc < 0) {
		json_decref(layers);
		plan_free(&p);
		return -1;
	}
	json_t *cfg = json_object_get(p.config, "config");
	json_t *ref = json_pack(
		"{s:s, s:o, s:o, s:s, s:s, s:s, s:I, s:b}", "name", name,
		"layers", layers, "env", config_strings(cfg, "Env"), "workdir",
		json_string_value(json_object_get(cfg, "WorkingDir")) ?: "",
		"user", json_string_value(json_object_get(cfg, "User")) ?: "",
		"source", p.source, "imported_at", (json_int_t)time(NULL),
		"userxattr", user);
	plan_free(&p);
	if (!ref)
		return sb_err_set(err, ENOMEM, "out of memory");
	rc = write_ref(store, name, ref, err);
	if (rc == 0 && info)
		*info = json_incref(ref);
	json_decref(ref);
	return rc;
}

int image_import(const char *store, const char *name, const char *src,
		 json_t **info, struct sb_err *err)
{
	static const char *const dirs[] = {"", "/layers", "/refs", "/tmp"};
	char path[4200];
	if (!image_name_valid(name))
		return sb_err_set(err, EINVAL,
				  "bad image name (letters, digits, . _ : -)");
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "%s%s", store, dirs[i]);
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return sb_err_sys(err, "create %s", path);
	}
	snprintf(path, sizeof path, "%s/tmp/import.XXXXXX", store);
	if (!mkdtemp(path))
		return sb_err_sys(err, "create a work dir in %s/tmp", store);
	int rc = import_in(store, name, src, path, info, err);
	sb_rm_rf(path);
	return rc;
}
