/* SPDX-License-Identifier: Apache-2.0 */
/* base64.h - RFC 4648 base64, strict on decode (no whitespace, correct
 * padding), so what the API accepts is exactly what round-trips. */
#ifndef SLOTBOX_COMMON_BASE64_H
#define SLOTBOX_COMMON_BASE64_H

#include <stddef.h>

/* Encoded length of n bytes (without NUL). */
size_t b64_encoded_len(size_t n);
/* Encode n bytes into out (b64_encoded_len(n) + 1 bytes, NUL-terminated). */
void b64_encode(const void *in, size_t n, char *out);
/* Decode len chars into out (at least len / 4 * 3 bytes). Returns the
 * decoded length or -1 if the input is not canonical base64. */
long b64_decode(const char *in, size_t len, void *out);

#endif
