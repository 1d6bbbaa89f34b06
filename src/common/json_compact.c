/* SPDX-License-Identifier: Apache-2.0 */
/* json_compact.c - a JSON_COMPACT writer of jansson trees, byte for byte
 * what json_dumps(doc, JSON_COMPACT) writes but for reals, which come out
 * in their shortest form (sb_json_real_text).
 *
 * Why not jansson's own: every answer of the daemon is dumped, and
 * json_dump_callback hands the text over in small chunks, prints each real
 * with %.17g (which json_text.c then parses and prints again) and decodes
 * every string a code point at a time. That was a tenth of the daemon's
 * CPU time per exec call. Here strings are copied in runs between the
 * bytes that need an escape, and UTF-8 is only checked, as jansson does
 * (an invalid string fails the whole dump, as there). */
#include "common/json_compact.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_text.h"
#include "common/utf8.h"

/* Deeper trees go to jansson's writer, which has no such bound. */
#define COMPACT_MAX_DEPTH 256

struct out {
	char *data;
	size_t len, cap;
};

static bool reserve(struct out *o, size_t n)
{
	if (n <= o->cap - o->len)
		return true;
	size_t cap = o->cap ? o->cap : 512;
	while (cap - o->len < n) {
		if (cap > SIZE_MAX / 2)
			return false;
		cap *= 2;
	}
	char *d = realloc(o->data, cap);
	if (!d)
		return false;
	o->data = d;
	o->cap = cap;
	return true;
}

static bool put(struct out *o, const char *s, size_t n)
{
	if (!reserve(o, n))
		return false;
	memcpy(o->data + o->len, s, n);
	o->len += n;
	return true;
}

static bool put_char(struct out *o, char c)
{
	return put(o, &c, 1);
}

/* s as a JSON string, escaped as jansson escapes it with no flags: '"',
 * '\\' and control characters; '/' and non-ASCII stay as they are. */
static bool put_string(struct out *o, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	if (!reserve(o, n + 2) || !put_char(o, '"'))
		return false;
	size_t run = 0; /* start of the bytes not yet written */
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0x80) {
			size_t len = sb_utf8_seq_len(s + i, n - i);
			if (!len)
				return false;
			i += len;
			continue;
		}
		if (!put(o, str + run, i - run))
			return false;
		/* the two-character escapes, else \u00XX (jansson's %04X) */
		static const char plain[] = "\"\\\b\f\n\r\t";
		static const char letter[] = "\"\\bfnrt";
		const char *p = memchr(plain, c, sizeof plain - 1);
		char esc[8] = {'\\', p ? letter[p - plain] : 'u'};
		size_t elen = 2;
		if (!p)
			elen = (size_t)snprintf(esc, sizeof esc, "\\u%04X", c);
		if (!put(o, esc, elen))
			return false;
		run = ++i;
	}
	return put(o, str + run, n - run) && put_char(o, '"');
}

/* "%lld" without printf's parsing of a format. */
static bool put_integer(struct out *o, json_int_t v)
{
	char text[1 + SB_UINT_TEXT_MAX] = {'-'};
	/* the magnitude as unsigned, so that INT64_MIN has one too */
	uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	size_t sign = v < 0;
	return put(o, text + 1 - sign, sign + sb_uint_text(m, text + 1));
}

static bool put_value(struct out *o, const json_t *v, int depth);

static bool put_object(struct out *o, const json_t *v, int depth)
{
	if (!put_char(o, '{'))
		return false;
	bool first = true;
	for (void *it = json_object_iter((json_t *)v); it;
	     it = json_object_iter_next((json_t *)v, it)) {
		if (!first && !put_char(o, ','))
			return false;
		first = false;
		if (!put_string(o, json_object_iter_key(it),
				json_object_iter_key_len(it)) ||
		    !put_char(o, ':') ||
		    !put_value(o, json_object_iter_value(it), depth + 1))
			return false;
	}
	return put_char(o, '}');
}

static bool put_array(struct out *o, const json_t *v, int depth)
{
	if (!put_char(o, '['))
		return false;
	size_t n = json_array_size(v);
	for (size_t i = 0; i < n; i++) {
		if ((i && !put_char(o, ',')) ||
		    !put_value(o, json_array_get(v, i), depth + 1))
			return false;
	}
	return put_char(o, ']');
}

static bool put_value(struct out *o, const json_t *v, int depth)
{
	char num[48];
	int n;
	if (depth > COMPACT_MAX_DEPTH)
		return false;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return put_object(o, v, depth);
	case JSON_ARRAY:
		return put_array(o, v, depth);
	case JSON_STRING:
		return put_string(o, json_string_value(v),
				  json_string_length(v));
	case JSON_INTEGER:
		return put_integer(o, json_integer_value(v));
	case JSON_REAL:
		n = sb_json_real_text(json_real_value(v), num, sizeof num);
		return n > 0 && put(o, num, (size_t)n);
	case JSON_TRUE:
		return put(o, "true", 4);
	case JSON_FALSE:
		return put(o, "false", 5);
	case JSON_NULL:
		return put(o, "null", 4);
	}
	return false;
}

char *sb_json_compact(const json_t *doc)
{
	struct out o = {0};
	if (!doc || !(json_is_object(doc) || json_is_array(doc)) ||
	    !put_value(&o, doc, 0) || !put_char(&o, '\0')) {
		free(o.data);
		return NULL;
	}
	return o.data;
}
