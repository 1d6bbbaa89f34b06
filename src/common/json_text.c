/* SPDX-License-Identifier: Apache-2.0 */
/* json_text.c - jansson's serialiser with shortest round-trip reals.
 *
 * jansson prints every real with %.17g (the precision that always round-
 * trips), so 4.905 comes out as 4.9050000000000002. It has no option for
 * the shortest form, but json_dump_callback hands over each real as one
 * chunk of its own: outside strings such a chunk is rewritten here. A
 * string is opened and closed by lone '"' chunks (a quote inside one is
 * always the two-byte escape), which is how a string's content that
 * merely looks like a number is told apart. JSON_COMPACT text, what the
 * daemon answers with, is written by json_compact.c instead, faster, and
 * comes here only where that one gives up. */
#include "common/json_text.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_compact.h"

struct dump_buf {
	char *data;
	size_t len, cap;
	bool in_string;
	bool failed;
};

static int buf_add(struct dump_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *nd = realloc(b->data, cap);
		if (!nd) {
			b->failed = true;
			return -1;
		}
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

size_t sb_uint_text(uint64_t v, char *out)
{
	char digits[SB_UINT_TEXT_MAX];
	size_t n = sizeof digits;
	do
		digits[--n] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	memcpy(out, digits + n, sizeof digits - n);
	return sizeof digits - n;
}

/* The common case without printf: v is the double nearest a decimal of
 * at most 15 significant digits with at most 9 after the point (a count
 * of microseconds in ms, a duration in ms...), and from 1e-4 to below
 * 1e15, where %.15g writes it with no exponent. Then %.15g would print
 * that decimal (its digits, without trailing zeros) and it reads back as
 * v, so it is what the loop below would give. Returns -1 otherwise. */
static int real_text_decimal(double v, char *out, size_t len)
{
	double a = fabs(v);
	if (!(a >= 1e-4 && a < 1e15) || len < 40)
		return -1;
	int64_t scale = 1;
	for (int d = 0; d <= 9; d++, scale *= 10) {
		double x = a * (double)scale;
		if (!(x < 1e15))
			break; /* more digits than %.15g shows */
		double k = (double)(int64_t)(x + 0.5);
		if (k >= 1e15 || k / (double)scale != a)
			continue;
		int64_t whole = (int64_t)k / scale, frac = (int64_t)k % scale;
		char digits[10] = {0}; /* the fraction's, lowest first */
		int n = 0;
		if (v < 0)
			out[n++] = '-';
		n += (int)sb_uint_text((uint64_t)whole, out + n);
		out[n++] = '.';
		if (frac == 0) {
			out[n++] = '0';
		} else {
			for (int i = 0; i < d; i++, frac /= 10)
				digits[i] = (char)('0' + frac % 10);
			int low = 0; /* trailing zeros of the fraction go */
			while (digits[low] == '0')
				low++;
			for (int i = d - 1; i >= low; i--)
				out[n++] = digits[i];
		}
		out[n] = '\0';
		return n;
	}
	return -1;
}

int sb_json_real_text(double v, char *out, size_t len)
{
	if (v == 0 && len >= 5) { /* a call's CPU time, often: no printf */
		int n = signbit(v) ? 4 : 3;
		memcpy(out, signbit(v) ? "-0.0" : "0.0", (size_t)n + 1);
		return n;
	}
	int n = real_text_decimal(v, out, len);
	if (n > 0)
		return n;
	/* For a normal double, %.15g that reads back is the shortest form
	 * (any decimal of up to 15 digits survives the trip through a
	 * double); a subnormal has fewer digits of its own. */
	int first = v != 0 && fabs(v) < DBL_MIN ? 1 : 15;
	for (int prec = first; prec <= 17; prec++) {
		n = snprintf(out, len, "%.*g", prec, v);
		if (n < 0 || (size_t)n >= len)
			return -1;
		if (strtod(out, NULL) == v)
			break;
	}
	/* JSON's form, as jansson writes it: "1e+20" -> "1e20", and a
	 * real always shows it is one ("3" -> "3.0"). */
	char *e = strchr(out, 'e');
	if (e) {
		char *src = e + 1, *dst = e + 1;
		if (*src == '+')
			src++;
		else if (*src == '-')
			*dst++ = *src++;
		while (*src == '0' && src[1])
			src++;
		memmove(dst, src, strlen(src) + 1);
		n = (int)strlen(out);
	} else if (!strchr(out, '.') && (size_t)n + 2 < len) {
		memcpy(out + n, ".0", 3);
		n += 2;
	}
	return n;
}

/* Is chunk a real number as jansson writes it (digits with '.' or 'e')? */
static bool is_real_chunk(const char *s, size_t n)
{
	if (n == 0 || n > 40 || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
		return false;
	bool mark = false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == '.' || ch == 'e' || ch == 'E')
			mark = true;
		else if (!(ch == '-' || ch == '+' || (ch >= '0' && ch <= '9')))
			return false;
	}
	return mark;
}

static int dump_cb(const char *s, size_t n, void *ud)
{
	struct dump_buf *b = ud;
	if (n == 1 && s[0] == '"') {
		b->in_string = !b->in_string;
	} else if (!b->in_string && is_real_chunk(s, n)) {
		char in[48], out[40];
		memcpy(in, s, n);
		in[n] = '\0';
		int len = sb_json_real_text(strtod(in, NULL), out, sizeof out);
		if (len > 0)
			return buf_add(b, out, (size_t)len);
	}
	return buf_add(b, s, n);
}

char *sb_json_dumps(const json_t *doc, size_t flags)
{
	if (flags == JSON_COMPACT) {
		char *text = sb_json_compact(doc);
		if (text)
			return text;
	}
	struct dump_buf b = {0};
	if (json_dump_callback(doc, dump_cb, &b, flags) < 0 || b.failed ||
	    !b.data) {
		free(b.data);
		return NULL;
	}
	return b.data;
}
