/* SPDX-License-Identifier: Apache-2.0 */
/* store_internal.h - what the image store's modules share. */
#ifndef SLOTBOX_IMAGE_STORE_INTERNAL_H
#define SLOTBOX_IMAGE_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* 64 lowercase hex digits. */
bool image_digest_valid(const char *hex);
void image_ref_path(const char *store, const char *name, char *buf, size_t len);

#include "common/err.h"

/* Whether dir's file system keeps user.* xattrs (a tmpfs does from
 * Linux 6.6). */
bool image_store_has_user_xattrs(const char *dir);

/* Give each opaque dir of the stored layer that has only the
 * trusted.overlay.opaque mark of an older slotbox its user.overlay.opaque
 * twin (layer_marks.c). 0 or -1 with err. */
int image_layer_add_user_marks(const char *layer, struct sb_err *err);

#endif
