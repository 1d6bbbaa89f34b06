/* SPDX-License-Identifier: Apache-2.0 */
/* json_text.h - JSON text as slotbox writes it: jansson's output, except
 * that a real number is printed in the fewest digits that read back as
 * the same double (4.905, not jansson's %.17g 4.9050000000000002), so
 * numbers print as written. */
#ifndef SLOTBOX_COMMON_JSON_TEXT_H
#define SLOTBOX_COMMON_JSON_TEXT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* As json_dumps(doc, flags): a malloc'd NUL-terminated text, or NULL. */
char *sb_json_dumps(const json_t *doc, size_t flags);

/* The shortest text of v that strtod reads back as v, in JSON's syntax
 * for a real (always with '.' or an exponent, as jansson writes them).
 * out needs 32 bytes. Returns its length. */
int sb_json_real_text(double v, char *out, size_t len);

/* The decimal digits of v (no sign, no NUL) into out, which needs
 * SB_UINT_TEXT_MAX bytes; returns how many. What JSON's integers and
 * HTTP's lengths are written with, without printf's format parsing. */
#define SB_UINT_TEXT_MAX 20
size_t sb_uint_text(uint64_t v, char *out);

#endif
