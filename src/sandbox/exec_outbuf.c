/* SPDX-License-Identifier: Apache-2.0 */
#include "sandbox/exec_outbuf.h"

#include <stdlib.h>
#include <string.h>

#include "common/membudget.h"

#define OUTBUF_FIRST 16384 /* the first buffer's size */
#define OUTBUF_SLACK 4096  /* grow when less room than this is left */

/* Grow towards the cap within the daemon-wide budget; left as is when the
 * budget is spent or memory is short (the output is cut there). */
static void grow(struct exec_outbuf *o)
{
	size_t ncap = o->cap ? o->cap * 2 : OUTBUF_FIRST;
	if (ncap > o->limit)
		ncap = o->limit;
	size_t cost = (ncap - o->cap) * SB_MEMBUDGET_ANSWER_FACTOR;
	if (!sb_membudget_take(cost))
		return;
	char *nb = realloc(o->buf, ncap + 1);
	if (!nb) {
		sb_membudget_give(cost);
		return;
	}
	o->buf = nb;
	o->cap = ncap;
}

char *exec_outbuf_room(struct exec_outbuf *o, size_t max, size_t *n)
{
	*n = 0;
	if (o->len >= o->limit)
		return NULL;
	if (o->cap - o->len < OUTBUF_SLACK && o->cap < o->limit)
		grow(o);
	if (o->cap == o->len)
		return NULL;
	size_t room = o->cap - o->len;
	*n = room < max ? room : max;
	return o->buf + o->len;
}

void exec_outbuf_took(struct exec_outbuf *o, bool kept, size_t n)
{
	if (!kept) {
		if (n)
			o->truncated = true;
		return;
	}
	o->len += n;
	o->buf[o->len] = '\0';
}

size_t exec_outbuf_first(const struct exec_outbuf *o)
{
	if (o->cap || o->len >= o->limit)
		return 0;
	return o->limit < OUTBUF_FIRST ? o->limit : OUTBUF_FIRST;
}

const char *exec_outbuf_put(struct exec_outbuf *o, const char *data, size_t n)
{
	size_t room;
	char *at = exec_outbuf_room(o, n, &room);
	if (!at || room < n) {
		exec_outbuf_took(o, false, n);
		return NULL;
	}
	memcpy(at, data, n);
	exec_outbuf_took(o, true, n);
	return at;
}

void exec_outbuf_free(struct exec_outbuf *o)
{
	sb_membudget_give(o->cap * SB_MEMBUDGET_ANSWER_FACTOR);
	free(o->buf);
	o->buf = NULL;
	o->len = o->cap = 0;
}
