/* SPDX-License-Identifier: Apache-2.0 */
/* cidr.c - see cidr.h. */
#include "common/cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static unsigned addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* Decimal 0..max with no sign, no leading zero, no blanks. */
static bool parse_prefix(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t n = strlen(s);
	if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

static bool host_bits_clear(const struct sb_cidr *c)
{
	unsigned len = addr_len(c->family);
	for (unsigned i = 0; i < len; i++) {
		unsigned first = i * 8;
		uint8_t mask = first >= c->prefix ? 0xff
			       : first + 8 <= c->prefix
				       ? 0
				       : (uint8_t)(0xff >> (c->prefix - first));
		if (c->addr[i] & mask)
			return false;
	}
	return true;
}

bool sb_cidr_parse(const char *text, struct sb_cidr *out)
{
	char buf[SB_CIDR_TEXT_MAX];
	size_t n = strlen(text);

	if (n == 0 || n >= sizeof buf)
		return false;
	memcpy(buf, text, n + 1);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	memset(out, 0, sizeof *out);
	/* inet_pton takes dotted quads only for AF_INET ("1.2.3.4"). */
	if (inet_pton(AF_INET, buf, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, out->addr) == 1)
		out->family = AF_INET6;
	else
		return false;
	unsigned max = addr_len(out->family) * 8;
	out->prefix = max;
	if (slash && !parse_prefix(slash + 1, max, &out->prefix))
		return false;
	return host_bits_clear(out);
}

void sb_cidr_format(const struct sb_cidr *c, char *buf, unsigned long len)
{
	char a[INET6_ADDRSTRLEN] = "";
	inet_ntop(c->family, c->addr, a, sizeof a);
	snprintf(buf, len, "%s/%u", a, c->prefix);
}

bool sb_cidr_contains(const struct sb_cidr *c, const uint8_t *addr)
{
	for (unsigned bit = 0; bit < c->prefix; bit += 8) {
		unsigned i = bit / 8;
		unsigned left = c->prefix - bit;
		uint8_t mask = left >= 8 ? 0xff : (uint8_t)(0xff << (8 - left));
		if ((addr[i] & mask) != c->addr[i])
			return false;
	}
	return true;
}

bool sb_cidr_overlap(const struct sb_cidr *a, const struct sb_cidr *b)
{
	if (a->family != b->family)
		return false;
	return a->prefix <= b->prefix ? sb_cidr_contains(a, b->addr)
				      : sb_cidr_contains(b, a->addr);
}
