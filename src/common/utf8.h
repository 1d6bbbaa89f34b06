/* SPDX-License-Identifier: Apache-2.0 */
/* utf8.h - what counts as UTF-8 wherever slotbox checks it. */
#ifndef SLOTBOX_COMMON_UTF8_H
#define SLOTBOX_COMMON_UTF8_H

#include <stddef.h>

/* The length of the valid UTF-8 sequence at s (of n >= 1 bytes), or 0 if
 * it is not one: jansson's rules (no overlong forms, no surrogates,
 * nothing above U+10FFFF), so that what passes here serialises there. An
 * ASCII byte, NUL included, is a sequence of 1. */
size_t sb_utf8_seq_len(const unsigned char *s, size_t n);

#endif
