/* SPDX-License-Identifier: Apache-2.0 */
/* proc_ring.c - a process's output ring (proc_ring.h). */
#include "api/proc_ring.h"

#include <stdlib.h>
#include <string.h>

#define RING_FIRST (16u << 10)

static size_t total; /* bytes of every ring's buffer */

size_t proc_ring_total(void)
{
	return total;
}

void proc_ring_init(struct proc_ring *r, size_t max)
{
	memset(r, 0, sizeof *r);
	r->max = max;
}

void proc_ring_free(struct proc_ring *r)
{
	total -= r->cap;
	free(r->buf);
	free(r->runs);
	memset(r, 0, sizeof *r);
}

static struct proc_run *run(const struct proc_ring *r, size_t i)
{
	return &r->runs[(r->run_head + i) % r->runs_cap];
}

/* Forget the runs that end at or before start (keep the one holding it). */
static void trim_runs(struct proc_ring *r)
{
	while (r->n_runs > 1 && run(r, 1)->off <= r->start) {
		r->run_head = (r->run_head + 1) % r->runs_cap;
		r->n_runs--;
	}
}

/* A bigger buffer, bytes laid out from 0 again. Stays as it is without
 * memory or room under the shared bound. */
static void grow(struct proc_ring *r, size_t want)
{
	size_t ncap = r->cap ? r->cap : RING_FIRST;
	while (ncap < want && ncap < r->max)
		ncap *= 2;
	if (ncap > r->max)
		ncap = r->max;
	if (ncap <= r->cap || total - r->cap + ncap > PROC_RING_TOTAL)
		return;
	char *nb = malloc(ncap);
	if (!nb)
		return;
	size_t held = (size_t)(r->end - r->start);
	if (held)
		proc_ring_copy(r, r->start, r->end, nb);
	free(r->buf);
	total += ncap - r->cap;
	r->buf = nb;
	r->cap = ncap;
}

/* One more run; the oldest goes (with its bytes) when the array is full. */
static void add_run(struct proc_ring *r, int stream)
{
	if (r->n_runs && run(r, r->n_runs - 1)->stream == stream)
		return;
	if (r->n_runs == r->runs_cap && r->runs_cap < PROC_RING_RUNS_MAX) {
		size_t ncap = r->runs_cap ? r->runs_cap * 2 : 16;
		struct proc_run *nr = malloc(ncap * sizeof *nr);
		if (nr) {
			for (size_t i = 0; i < r->n_runs; i++)
				nr[i] = *run(r, i);
			free(r->runs);
			r->runs = nr;
			r->runs_cap = ncap;
			r->run_head = 0;
		}
	}
	if (r->n_runs == r->runs_cap) {
		if (!r->runs_cap)
			return; /* no memory at all: bytes go unlabeled */
		/* full: the oldest run's bytes fall out with it */
		if (r->n_runs > 1 && run(r, 1)->off > r->start)
			r->start = run(r, 1)->off;
		r->run_head = (r->run_head + 1) % r->runs_cap;
		r->n_runs--;
	}
	*run(r, r->n_runs) = (struct proc_run){.off = r->end, .stream = stream};
	r->n_runs++;
}

void proc_ring_append(struct proc_ring *r, int stream, const char *d, size_t n)
{
	if (!n)
		return;
	if ((size_t)(r->end - r->start) + n > r->cap)
		grow(r, (size_t)(r->end - r->start) + n);
	add_run(r, stream);
	if (!r->cap) { /* nowhere to keep them */
		r->end += n;
		r->start = r->end;
		trim_runs(r);
		return;
	}
	if (n > r->cap) { /* only the last cap bytes can stay */
		r->end += n - r->cap;
		d += n - r->cap;
		n = r->cap;
	}
	for (size_t done = 0; done < n;) {
		size_t pos = (size_t)(r->end % r->cap);
		size_t k = r->cap - pos;
		if (k > n - done)
			k = n - done;
		memcpy(r->buf + pos, d + done, k);
		done += k;
		r->end += k;
	}
	if (r->end - r->start > r->cap)
		r->start = r->end - r->cap;
	trim_runs(r);
}

int proc_ring_run_at(const struct proc_ring *r, uint64_t off, uint64_t *run_end)
{
	*run_end = r->end;
	int stream = 1;
	for (size_t i = 0; i < r->n_runs; i++) {
		const struct proc_run *x = run(r, i);
		if (x->off > off) {
			*run_end = x->off;
			break;
		}
		stream = x->stream;
	}
	return stream;
}

void proc_ring_copy(const struct proc_ring *r, uint64_t from, uint64_t to,
		    char *out)
{
	if (!r->cap) /* holds nothing */
		return;
	while (from < to) {
		size_t pos = (size_t)(from % r->cap);
		size_t k = r->cap - pos;
		if (k > to - from)
			k = (size_t)(to - from);
		memcpy(out, r->buf + pos, k);
		out += k;
		from += k;
	}
}
