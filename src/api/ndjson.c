/* SPDX-License-Identifier: Apache-2.0 */
/* ndjson.c - events of streamed answers (see ndjson.h). */
#include "api/ndjson.h"

#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/cleanup.h"
#include "common/json_text.h"

/* The length of a sequence led by b, 0 when b cannot lead one. */
static size_t seq_len(unsigned char b)
{
	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf)
		return 2;
	if (b >= 0xe0 && b <= 0xef)
		return 3;
	if (b >= 0xf0 && b <= 0xf4)
		return 4;
	return 0;
}

bool ndjson_utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char b = s[i];
		if (b < 0x80) {
			i++;
			continue;
		}
		size_t n = seq_len(b);
		if (!n || len - i < n)
			return false;
		for (size_t k = 1; k < n; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		/* overlong 3- and 4-byte forms, surrogates, > U+10FFFF */
		unsigned char c = s[i + 1];
		if ((b == 0xe0 && c < 0xa0) || (b == 0xed && c > 0x9f) ||
		    (b == 0xf0 && c < 0x90) || (b == 0xf4 && c > 0x8f))
			return false;
		i += n;
	}
	return true;
}

size_t ndjson_utf8_cut(const unsigned char *s, size_t len)
{
	/* a sequence is at most 4 bytes: look at the last 3 */
	for (size_t back = 1; back <= 3 && back <= len; back++) {
		unsigned char b = s[len - back];
		if ((b & 0xc0) == 0x80)
			continue; /* a continuation byte: look further */
		size_t n = seq_len(b);
		return n > back ? len - back : len;
	}
	return len;
}

int ndjson_line(struct http_request *req, json_t *doc)
{
	_cleanup_free_ char *text =
		doc ? sb_json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!text)
		return -1;
	size_t l = strlen(text);
	text[l] = '\n'; /* replaces the NUL: the length is what counts */
	return http_respond_stream_write(req, text, l + 1);
}

static int event(struct http_request *req, const char *type,
		 const unsigned char *d, size_t len, bool text)
{
	json_t *o;
	if (text) {
		o = json_pack("{s:s,s:s%}", "type", type, "data",
			      (const char *)d, len);
	} else {
		_cleanup_free_ char *b = malloc(b64_encoded_len(len) + 1);
		if (!b)
			return -1;
		b64_encode(d, len, b);
		o = json_pack("{s:s,s:s,s:s}", "type", type, "data", b,
			      "encoding", "base64");
	}
	return ndjson_line(req, o);
}

/* The events of bytes d[0..len) (held bytes already in front). */
static int output_joined(struct http_request *req, struct ndjson_utf8 *h,
			 const char *type, const unsigned char *d, size_t len)
{
	size_t cut = ndjson_utf8_cut(d, len);
	if (!ndjson_utf8_valid(d, cut))
		return event(req, type, d, len, false);
	memcpy(h->held, d + cut, len - cut);
	h->n = len - cut;
	return cut ? event(req, type, d, cut, true) : 0;
}

int ndjson_output(struct http_request *req, struct ndjson_utf8 *h,
		  const char *type, const char *data, size_t len)
{
	if (!h->n)
		return len ? output_joined(req, h, type,
					   (const unsigned char *)data, len)
			   : 0;
	unsigned char *joined = malloc(h->n + len);
	if (!joined)
		return -1;
	memcpy(joined, h->held, h->n);
	memcpy(joined + h->n, data, len);
	size_t n = h->n + len;
	h->n = 0;
	int r = output_joined(req, h, type, joined, n);
	free(joined);
	return r;
}

int ndjson_output_flush(struct http_request *req, struct ndjson_utf8 *h,
			const char *type)
{
	if (!h->n)
		return 0;
	size_t n = h->n;
	h->n = 0;
	return event(req, type, h->held, n, false);
}
