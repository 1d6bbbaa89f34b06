/* SPDX-License-Identifier: Apache-2.0 */
/* store_internal.h - what the image store's modules share. */
#ifndef SLOTBOX_IMAGE_STORE_INTERNAL_H
#define SLOTBOX_IMAGE_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* 64 lowercase hex digits. */
bool image_digest_valid(const char *hex);
void image_ref_path(const char *store, const char *name, char *buf, size_t len);

#endif
