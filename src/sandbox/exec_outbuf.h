/* SPDX-License-Identifier: Apache-2.0 */
/* exec_outbuf.h - one stream of a call's output, kept up to its cap.
 *
 * The buffer grows as output arrives (from 16 KiB, doubling, never past
 * the cap) while the daemon-wide budget (membudget.h) allows; the bytes
 * past the cap, or past what the budget let it grow to, are still read
 * from the pipe but dropped, and the stream is `truncated`. Exactly `limit`
 * bytes fit without truncation. The cut is by bytes: a UTF-8 sequence may
 * be split at the end (the API's JSON writer makes it U+FFFD). Kept apart
 * from exec.c's pipes so that it is unit-tested without a sandbox. */
#ifndef SLOTBOX_SANDBOX_EXEC_OUTBUF_H
#define SLOTBOX_SANDBOX_EXEC_OUTBUF_H

#include <stdbool.h>
#include <stddef.h>

struct exec_outbuf {
	char *buf; /* NULL until the first byte; then NUL-terminated at len */
	size_t len, cap, limit;
	bool truncated; /* some bytes were dropped */
};

/* Where the next read of at most max bytes goes: into o's buffer (*n bytes
 * of room, 1..max) or, when NULL is returned, nowhere: read the bytes into
 * a scratch buffer and report them dropped. */
char *exec_outbuf_room(struct exec_outbuf *o, size_t max, size_t *n);

/* n bytes were read: into the room exec_outbuf_room gave (kept), or
 * dropped. */
void exec_outbuf_took(struct exec_outbuf *o, bool kept, size_t n);

/* Before the first byte: how much the first read may bring (what the
 * first exec_outbuf_room would give), 0 once o has a buffer or no room.
 * Such a read goes to a scratch buffer and then exec_outbuf_put, so that
 * a command without output costs no buffer at all. */
size_t exec_outbuf_first(const struct exec_outbuf *o);

/* Keep n bytes (at most exec_outbuf_first's) read into a scratch buffer:
 * returns where they are kept, or NULL when they were dropped. */
const char *exec_outbuf_put(struct exec_outbuf *o, const char *data, size_t n);

/* Free the buffer and give its share of the budget back. */
void exec_outbuf_free(struct exec_outbuf *o);

#endif
