/* SPDX-License-Identifier: Apache-2.0 */
/* cg_stock.c - the next slot's cgroup v1 memory group, made ahead in a
 * thread of its own.
 *
 * Where a v1 memory hierarchy holds the slots' groups beside the
 * sandboxes' (flat_memory in cgroup.c), the daemon keeps one empty group,
 * "stock.<n>", which the next slot's first call renames to its own (a
 * rename within one parent, which v1 allows: ~50 us) instead of making
 * one. At thousands of slots a memory group's mkdir takes milliseconds,
 * with tails of hundreds (its shrinker counters, one per file system the
 * host has had at once: docs/bench.md). The mkdir runs in this module's
 * worker thread, not on the daemon's loop, where such a tail would hold
 * up every call and request the loop serves. The worker starts with the
 * first refill and is joined before the hierarchies' fds close
 * (cg_stock_stop, from cg_root_teardown), so that it never makes a group
 * in a tree being removed nor through a closed fd. The worker never
 * touches anything but the hierarchies' stock fields, under its mutex. */
#include "sandbox/cg_stock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/thread.h"

struct cg_stocker {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t wake;  /* a refill was asked, or stop */
	pthread_cond_t idle;  /* a pass over the hierarchies ended */
	unsigned asked, done; /* refills asked; the last one a pass saw */
	bool stop;
};

static void stock_name(unsigned n, char *buf, size_t len)
{
	snprintf(buf, len, "stock.%u", n);
}

/* Does h's next first call want a group made ahead that it has not? */
static bool short_of_one(const struct cg_hier *h)
{
	return h->stock_wanted && !h->stock;
}

/* One pass: a group in each hierarchy whose first calls want one and that
 * has none. The mutex is held on entry and exit, not over the mkdir. */
static void stock_pass(struct cg_root *r, struct cg_stocker *s)
{
	for (int i = 0; i < r->n_hier; i++) {
		struct cg_hier *h = &r->hier[i];
		char name[32];
		if (!short_of_one(h))
			continue;
		if (++h->stock_seq == 0)
			h->stock_seq = 1;
		unsigned seq = h->stock_seq;
		stock_name(seq, name, sizeof name);
		pthread_mutex_unlock(&s->mu);
		/* none made: the next first call makes its group itself */
		bool made = mkdirat(h->fd, name, 0755) == 0;
		pthread_mutex_lock(&s->mu);
		if (made)
			h->stock = seq;
	}
}

static void *stock_worker(void *arg)
{
	struct cg_root *r = arg;
	struct cg_stocker *s = r->stocker;

	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		if (s->done == s->asked) {
			pthread_cond_wait(&s->wake, &s->mu);
			continue;
		}
		unsigned gen = s->asked;
		stock_pass(r, s);
		s->done = gen;
		pthread_cond_broadcast(&s->idle);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* The worker, started with every signal blocked: the daemon's signals are
 * its loop's. NULL if no thread could be made (the first calls then make
 * their groups themselves). */
static struct cg_stocker *stocker_start(struct cg_root *r)
{
	struct cg_stocker *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->wake, NULL);
	pthread_cond_init(&s->idle, NULL);
	r->stocker = s;
	int e = sb_thread_start(&s->thread, stock_worker, r);
	if (e != 0) {
		sb_log(SB_LOG_WARN, "cgroup_stock_thread", "why", strerror(e),
		       SB_LOG_END);
		r->stocker = NULL;
		pthread_cond_destroy(&s->idle);
		pthread_cond_destroy(&s->wake);
		pthread_mutex_destroy(&s->mu);
		free(s);
	}
	return r->stocker;
}

static bool any_short(const struct cg_root *r)
{
	for (int i = 0; i < r->n_hier; i++)
		if (short_of_one(&r->hier[i]))
			return true;
	return false;
}

/* Called with every call sent: the worker is woken only when a hierarchy
 * is short of its group (after a first call took it), not per call. */
void cg_stock_refill(struct cg_root *r)
{
	struct cg_stocker *s = r->stocker;

	/* without a worker no group is made, and nothing taken: no lock;
	 * none after the stop (the daemon's groups go, or stay for the next
	 * daemon, which sweeps them) */
	if (r->stock_stopped ||
	    (!s && (!any_short(r) || !(s = stocker_start(r)))))
		return;
	pthread_mutex_lock(&s->mu);
	if (any_short(r)) {
		s->asked++;
		pthread_cond_signal(&s->wake);
	}
	pthread_mutex_unlock(&s->mu);
}

void cg_stock_settle(struct cg_root *r)
{
	struct cg_stocker *s = r->stocker;
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	while (s->done != s->asked && !s->stop)
		pthread_cond_wait(&s->idle, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

/* The stock fields' lock, where a worker runs (without one, no other
 * thread touches them). */
static void stock_lock(struct cg_stocker *s)
{
	if (s)
		pthread_mutex_lock(&s->mu);
}

static void stock_unlock(struct cg_stocker *s)
{
	if (s)
		pthread_mutex_unlock(&s->mu);
}

/* h->stock stays set until the rename is done, so that the worker, which
 * makes one only where there is none, never has two in the tree. */
int cg_stock_take(struct cg_root *r, struct cg_hier *h, const char *name)
{
	struct cg_stocker *s = r->stocker;
	char stock[32];
	int rc;

	stock_lock(s);
	h->stock_wanted = true;
	unsigned n = h->stock;
	stock_unlock(s);
	if (!n)
		return -1;
	stock_name(n, stock, sizeof stock);
	rc = renameat(h->fd, stock, h->fd, name);
	if (rc < 0)
		(void)unlinkat(h->fd, stock, AT_REMOVEDIR);
	stock_lock(s);
	h->stock = 0;
	stock_unlock(s);
	if (rc < 0)
		return -1;
	return openat(h->fd, name, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
}

void cg_stock_stop(struct cg_root *r)
{
	struct cg_stocker *s = r->stocker;
	r->stock_stopped = true;
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->idle);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->mu);
	free(s);
	r->stocker = NULL;
}
