/* SPDX-License-Identifier: Apache-2.0 */
/* json_compact.h - the daemon's fast path for JSON_COMPACT text. */
#ifndef SLOTBOX_COMMON_JSON_COMPACT_H
#define SLOTBOX_COMMON_JSON_COMPACT_H

#include <jansson.h>

/* What sb_json_dumps(doc, JSON_COMPACT) writes (json_text.h), as a
 * malloc'd NUL-terminated text; NULL where jansson's writer must decide
 * instead: doc is not an object or array, a string is not valid UTF-8,
 * the tree is nested deeper than this writer goes, or memory ran out. */
char *sb_json_compact(const json_t *doc);

#endif
