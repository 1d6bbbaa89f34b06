/* SPDX-License-Identifier: Apache-2.0 */
/* ndjson.h - the events of a streamed answer (application/x-ndjson): one
 * JSON object a line, written to a chunked http_respond_stream_* answer.
 *
 * Output events are {"type": "stdout"|"stderr", "data": "..."}, with
 * "encoding": "base64" when the bytes are not UTF-8. A UTF-8 sequence
 * that a read split across two chunks is held back (at most 3 bytes a
 * stream) and sent with the next chunk, so text stays text. */
#ifndef SLOTBOX_API_NDJSON_H
#define SLOTBOX_API_NDJSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"

#define NDJSON_CTYPE "application/x-ndjson"

/* The bytes of one stream held back between chunks. */
struct ndjson_utf8 {
	unsigned char held[4];
	size_t n;
};

/* Write the output event(s) of len bytes of stream `type`. Returns what
 * http_respond_stream_write answered: 0, 1 (wait for the drain callback)
 * or -1 (the client is gone). */
int ndjson_output(struct http_request *req, struct ndjson_utf8 *h,
		  const char *type, const char *data, size_t len);

/* Send what h still holds (an incomplete sequence at the end: base64). */
int ndjson_output_flush(struct http_request *req, struct ndjson_utf8 *h,
			const char *type);

/* Write doc (reference stolen) as one line. */
int ndjson_line(struct http_request *req, json_t *doc);

/* Is s[0..len) valid UTF-8 (no overlongs, surrogates or > U+10FFFF)? */
bool ndjson_utf8_valid(const unsigned char *s, size_t len);

/* Where the last, incomplete UTF-8 sequence of s[0..len) starts (len
 * when it ends complete or cannot be a sequence's start). */
size_t ndjson_utf8_cut(const unsigned char *s, size_t len);

#endif
