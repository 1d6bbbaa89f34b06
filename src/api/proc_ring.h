/* SPDX-License-Identifier: Apache-2.0 */
/* proc_ring.h - a background process's output, kept in a bounded ring.
 *
 * Offsets count the bytes of the process's output in the order the daemon
 * read them, stdout and stderr together (one sequence; a pty's terminal
 * stream is all stdout): byte N is the N-th byte it wrote, whichever the
 * stream. The ring keeps the last bytes of that sequence, [start, end);
 * what fell out before start is gone (counted as dropped). Runs remember
 * which stream each byte came from. Its buffer grows as output comes, up
 * to its own bound and within a bound shared by every ring. */
#ifndef SLOTBOX_API_PROC_RING_H
#define SLOTBOX_API_PROC_RING_H

#include <stddef.h>
#include <stdint.h>

#define PROC_RING_TOTAL (256u << 20) /* of all rings together */
#define PROC_RING_RUNS_MAX 4096u     /* stream switches remembered */

struct proc_run {
	uint64_t off; /* where the run starts; it ends where the next does */
	int stream;   /* 1 stdout, 2 stderr */
};

struct proc_ring {
	char *buf;
	size_t cap;	     /* allocated, <= max */
	size_t max;	     /* this ring's bound */
	uint64_t start, end; /* the offsets it holds */
	struct proc_run *runs;
	size_t run_head, n_runs, runs_cap; /* a circular array */
};

void proc_ring_init(struct proc_ring *r, size_t max);
void proc_ring_free(struct proc_ring *r);

/* Append n bytes of stream; older bytes fall out when it is full. */
void proc_ring_append(struct proc_ring *r, int stream, const char *d, size_t n);

/* The run holding offset off (start <= off < end): its stream, and where
 * it ends (<= end). */
int proc_ring_run_at(const struct proc_ring *r, uint64_t off,
		     uint64_t *run_end);

/* Copy bytes [from, to) (within [start, end)) to out. */
void proc_ring_copy(const struct proc_ring *r, uint64_t from, uint64_t to,
		    char *out);

/* Bytes all rings hold now (for the bound). */
size_t proc_ring_total(void);

#endif
