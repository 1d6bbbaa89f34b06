/* SPDX-License-Identifier: Apache-2.0 */
/* cidr.h - IPv4/IPv6 networks in CIDR notation, parsed strictly.
 *
 * Profiles list networks (allow_cidrs, deny_cidrs) that end up in an
 * nftables ruleset: they are never copied as text but parsed here and
 * printed back from the parsed bytes, so nothing of the user's string
 * reaches nft. Host bits must be zero ("10.0.0.1/8" is refused: it is
 * more likely a typo than a network). */
#ifndef SLOTBOX_COMMON_CIDR_H
#define SLOTBOX_COMMON_CIDR_H

#include <stdbool.h>
#include <stdint.h>

#define SB_CIDR_TEXT_MAX 50 /* "ffff:...:ffff/128" and the NUL */

struct sb_cidr {
	int family;	  /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network bytes; 4 used for AF_INET */
	unsigned prefix;  /* 0..32 or 0..128 */
};

/* Parse "A.B.C.D/N" or "X:Y::/N" (a bare address is a /32 or /128).
 * false when malformed, the prefix is out of range or host bits are set. */
bool sb_cidr_parse(const char *text, struct sb_cidr *out);
/* Canonical text of c into buf (at least SB_CIDR_TEXT_MAX bytes). */
void sb_cidr_format(const struct sb_cidr *c, char *buf, unsigned long len);
/* Is addr (4 or 16 bytes as c's family) inside c? */
bool sb_cidr_contains(const struct sb_cidr *c, const uint8_t *addr);
/* Do a and b share any address? */
bool sb_cidr_overlap(const struct sb_cidr *a, const struct sb_cidr *b);

#endif
