/* SPDX-License-Identifier: Apache-2.0 */
/* sandbox_index.c - see sandbox_index.h. */
#include "pool/sandbox_index.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a: ids are short and already random in their tail. */
static size_t hash(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

static bool same(const struct sandbox *sb, const char *id, size_t len)
{
	return strlen(sb->id) == len && memcmp(sb->id, id, len) == 0;
}

int sandbox_index_init(struct sandbox_index *ix, size_t max)
{
	size_t size = 16;
	while (size < 2 * max)
		size *= 2;
	ix->slots = calloc(size, sizeof(struct sandbox *));
	ix->mask = size - 1;
	ix->n = 0;
	if (!ix->slots) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

void sandbox_index_free(struct sandbox_index *ix)
{
	free(ix->slots);
	ix->slots = NULL;
	ix->n = 0;
}

int sandbox_index_put(struct sandbox_index *ix, struct sandbox *sb)
{
	size_t len = strlen(sb->id);
	for (size_t i = hash(sb->id, len) & ix->mask;; i = (i + 1) & ix->mask) {
		if (ix->slots[i] && !same(ix->slots[i], sb->id, len))
			continue;
		if (!ix->slots[i]) {
			/* half full at most: probes stay short */
			if (ix->n + 1 > (ix->mask + 1) / 2) {
				errno = ENOSPC;
				return -1;
			}
			ix->n++;
		}
		ix->slots[i] = sb;
		return 0;
	}
}

struct sandbox *sandbox_index_get(const struct sandbox_index *ix,
				  const char *id, size_t len)
{
	if (!ix->slots)
		return NULL;
	for (size_t i = hash(id, len) & ix->mask; ix->slots[i];
	     i = (i + 1) & ix->mask)
		if (same(ix->slots[i], id, len))
			return ix->slots[i];
	return NULL;
}

void sandbox_index_del(struct sandbox_index *ix, const struct sandbox *sb)
{
	if (!ix->slots)
		return;
	size_t i = hash(sb->id, strlen(sb->id)) & ix->mask;
	while (ix->slots[i] && ix->slots[i] != sb)
		i = (i + 1) & ix->mask;
	if (!ix->slots[i])
		return;
	ix->slots[i] = NULL;
	ix->n--;
	/* Shift back each following entry of the run that the hole now cuts
	 * off from its home slot. */
	for (size_t j = (i + 1) & ix->mask; ix->slots[j];
	     j = (j + 1) & ix->mask) {
		size_t home = hash(ix->slots[j]->id, strlen(ix->slots[j]->id)) &
			      ix->mask;
		/* j stays when its home lies cyclically in (i, j] */
		if (((j - home) & ix->mask) < ((j - i) & ix->mask))
			continue;
		ix->slots[i] = ix->slots[j];
		ix->slots[j] = NULL;
		i = j;
	}
}
