/* SPDX-License-Identifier: Apache-2.0 */
/* image.h - slotbox's image store: imported OCI and docker-archive images,
 * their layers unpacked once and shared, stacked as overlay lower layers.
 *
 * <store>/layers/<sha256>/  one unpacked layer, named by its blob digest
 * <store>/refs/<name>.json  an image: its layers (bottom first), the
 *                           config's Env, WorkingDir and User, and
 *                           "userxattr" (struct sb_image)
 * <store>/tmp/              work space of imports in progress */
#ifndef SLOTBOX_IMAGE_IMAGE_H
#define SLOTBOX_IMAGE_IMAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "common/err.h"

#define IMAGE_NAME_MAX 128
#define IMAGE_MAX_LAYERS 64

struct sb_image {
	char **layers; /* absolute dirs, bottom first */
	size_t n_layers;
	char **env; /* "KEY=VALUE" from the image config */
	size_t n_env;
	char *workdir, *user; /* "" when unset */
	/* its layers' opaque dirs carry user.overlay.opaque too, which a
	 * userns: true sandbox's overlay reads (not so in a store an older
	 * slotbox filled, or on a file system without user xattrs) */
	bool userxattr;
};

/* Names: [A-Za-z0-9][A-Za-z0-9._:-]{0,127}, e.g. "python:3.11" (inline:
 * the profile loader checks them without the store). */
static inline bool image_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > IMAGE_NAME_MAX || name[0] == '.' || name[0] == '-' ||
	    name[0] == ':')
		return false;
	return strspn(name,
		      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789._:-") == n;
}

/* The store of a daemon: <state_dir>/images. */
void image_store_path(const char *state_dir, char *buf, size_t len);

/* Load image name from the store. */
int image_load(const char *store, const char *name, struct sb_image *out,
	       struct sb_err *err);
void image_free(struct sb_image *img);

/* 0 if a userns: true sandbox shows img as it is (its opaque dirs
 * carry the user.overlay.* marks), else -1 with err naming the fix. */
int image_check_userns(const struct sb_image *img, const char *name,
		       struct sb_err *err);

/* Overlay lowerdir= value for img: top layer first, ':'-separated. */
int image_lowerdir(const struct sb_image *img, char *buf, size_t len,
		   struct sb_err *err);

/* Import the OCI layout (dir or tar) or docker-save tar at src as name,
 * replacing an image of that name. *info (owned) describes the result. */
int image_import(const char *store, const char *name, const char *src,
		 json_t **info, struct sb_err *err);

/* All images, as a JSON array of their descriptions. */
json_t *image_list(const char *store);

/* Remove an image, then every layer no image uses any more. */
int image_remove(const char *store, const char *name, struct sb_err *err);

#endif
