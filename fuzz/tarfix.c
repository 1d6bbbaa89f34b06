/* SPDX-License-Identifier: Apache-2.0 */
/* tarfix.c - see tarfix.h. */
#include "tarfix.h"

#include <stdio.h>
#include <string.h>

#define BLOCK 512

/* An octal size field; base-256 (high bit set) and garbage count as 0. */
static uint64_t octal(const uint8_t *f, size_t n)
{
	uint64_t v = 0;
	if (f[0] & 0x80)
		return 0;
	for (size_t i = 0; i < n && f[i] >= '0' && f[i] <= '7'; i++)
		if (v < (UINT64_MAX >> 3))
			v = v << 3 | (uint64_t)(f[i] - '0');
	return v;
}

void tar_fix_checksums(uint8_t *buf, size_t len)
{
	static const uint8_t zero[BLOCK];
	size_t off = 0;
	while (len - off >= BLOCK) {
		uint8_t *h = buf + off;
		off += BLOCK;
		if (memcmp(h, zero, BLOCK) == 0)
			continue;
		unsigned sum = 0;
		memset(h + 148, ' ', 8);
		for (size_t i = 0; i < BLOCK; i++)
			sum += h[i];
		char field[9];
		snprintf(field, sizeof field, "%06o", sum & 0777777);
		memcpy(h + 148, field, 6);
		h[154] = '\0';
		h[155] = ' ';
		uint64_t size = octal(h + 124, 12);
		uint64_t blocks = size / BLOCK + (size % BLOCK != 0);
		if (blocks > (len - off) / BLOCK)
			break;
		off += (size_t)blocks * BLOCK;
	}
}
