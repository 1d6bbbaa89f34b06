/* SPDX-License-Identifier: Apache-2.0 */
/* store.c - image refs and layers on disk (see image.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "image/image.h"
#include "image/store_internal.h"
#include "store/store.h"

bool image_digest_valid(const char *hex)
{
	return hex && strlen(hex) == 64 &&
	       strspn(hex, "0123456789abcdef") == 64;
}

void image_store_path(const char *state_dir, char *buf, size_t len)
{
	snprintf(buf, len, "%s/images", state_dir);
}

void image_ref_path(const char *store, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/refs/%s.json", store, name);
}

void image_free(struct sb_image *img)
{
	for (size_t i = 0; i < img->n_layers; i++)
		free(img->layers[i]);
	for (size_t i = 0; i < img->n_env; i++)
		free(img->env[i]);
	free(img->layers);
	free(img->env);
	free(img->workdir);
	free(img->user);
	memset(img, 0, sizeof *img);
}

static char *str_or_empty(json_t *v)
{
	return strdup(json_is_string(v) ? json_string_value(v) : "");
}

int image_load(const char *store, const char *name, struct sb_image *out,
	       struct sb_err *err)
{
	memset(out, 0, sizeof *out);
	char path[4096];
	if (!image_name_valid(name))
		return sb_err_set(err, EINVAL, "bad image name");
	image_ref_path(store, name, path, sizeof path);
	json_error_t je;
	json_t *ref = json_load_file(path, 0, &je);
	if (!ref)
		return sb_err_set(err, ENOENT,
				  "image %s is not in the store (import it "
				  "with: slotbox image import %s FILE.tar, a "
				  "docker save or OCI archive)",
				  name, name);
	json_t *layers = json_object_get(ref, "layers");
	json_t *env = json_object_get(ref, "env");
	size_t nl = json_array_size(layers), ne = json_array_size(env);
	int rc = 0;
	out->layers = calloc(nl ? nl : 1, sizeof *out->layers);
	out->env = calloc(ne ? ne : 1, sizeof *out->env);
	out->workdir = str_or_empty(json_object_get(ref, "workdir"));
	out->user = str_or_empty(json_object_get(ref, "user"));
	out->userxattr = json_is_true(json_object_get(ref, "userxattr"));
	if (!out->layers || !out->env || !out->workdir || !out->user) {
		rc = sb_err_set(err, ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < nl && rc == 0; i++) {
		const char *hex = json_string_value(json_array_get(layers, i));
		if (!image_digest_valid(hex)) {
			rc = sb_err_set(err, EINVAL, "image %s: bad layer",
					name);
			break;
		}
		if (asprintf(&out->layers[i], "%s/layers/%s", store, hex) < 0)
			rc = sb_err_set(err, ENOMEM, "out of memory");
		else
			out->n_layers++;
	}
	for (size_t i = 0; i < ne && rc == 0; i++) {
		const char *kv = json_string_value(json_array_get(env, i));
		if (kv && strchr(kv, '=') && kv[0] != '=' &&
		    !(out->env[out->n_env++] = strdup(kv)))
			rc = sb_err_set(err, ENOMEM, "out of memory");
	}
	if (rc == 0 && out->n_layers == 0)
		rc = sb_err_set(err, EINVAL, "image %s has no layers", name);
done:
	json_decref(ref);
	if (rc < 0)
		image_free(out);
	return rc;
}

int image_check_userns(const struct sb_image *img, const char *name,
		       struct sb_err *err)
{
	if (img->userxattr)
		return 0;
	return sb_err_set(err, EINVAL,
			  "image %s lacks the overlay marks a userns: true "
			  "sandbox reads (imported by an older slotbox, or "
			  "into a store without user xattrs): import it again "
			  "with: slotbox image import %s FILE",
			  name, name);
}

int image_lowerdir(const struct sb_image *img, char *buf, size_t len,
		   struct sb_err *err)
{
	size_t off = 0;
	for (size_t i = img->n_layers; i-- > 0;) {
		int n = snprintf(buf + off, len - off, "%s%s", off ? ":" : "",
				 img->layers[i]);
		if (n < 0 || (size_t)n >= len - off)
			return sb_err_set(err, E2BIG,
					  "too many layers for one overlay "
					  "mount");
		off += (size_t)n;
	}
	return 0;
}

json_t *image_list(const char *store)
{
	char dir[4096];
	json_t *out = json_array();
	snprintf(dir, sizeof dir, "%s/refs", store);
	DIR *d = opendir(dir);
	if (!d)
		return out;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
			continue;
		char path[4200];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		json_t *ref = json_load_file(path, 0, NULL);
		if (json_is_object(ref))
			json_array_append(out, ref);
		json_decref(ref);
	}
	closedir(d);
	return out;
}

/* A layer no ref names (refs: image_list's array). */
static bool unused_layer(const char *name, void *refs)
{
	if (!image_digest_valid(name))
		return false;
	size_t i, k;
	json_t *ref, *hex;
	json_array_foreach((json_t *)refs, i, ref)
	{
		json_array_foreach(json_object_get(ref, "layers"), k, hex)
		{
			if (strcmp(json_string_value(hex), name) == 0)
				return false;
		}
	}
	return true;
}

/* Layers no ref names any more go (an import in progress keeps its own
 * in tmp/ until it renames them into place). */
static void collect_garbage(const char *store)
{
	json_t *refs = image_list(store);
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/layers", store);
	_cleanup_fd_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		store_sweep(fd, unused_layer, refs);
	json_decref(refs);
}

int image_remove(const char *store, const char *name, struct sb_err *err)
{
	char path[4096];
	if (!image_name_valid(name))
		return sb_err_set(err, EINVAL, "bad image name");
	image_ref_path(store, name, path, sizeof path);
	if (unlink(path) < 0)
		return errno == ENOENT
			       ? sb_err_set(err, ENOENT, "no image %s", name)
			       : sb_err_sys(err, "remove %s", path);
	collect_garbage(store);
	return 0;
}
