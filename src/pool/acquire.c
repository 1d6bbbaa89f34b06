/* SPDX-License-Identifier: Apache-2.0 */
/* acquire.c - the FIFO of trajectories waiting for a slot. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "pool/metrics.h"
#include "pool/pool.h"

struct pool_waiter {
	struct pool *pool;
	struct pool_waiter *prev, *next;
	uv_timer_t timer;
	pool_acquire_fn cb;
	void *ud;
	char trajectory_id[256];
	double ttl_s;
	double started; /* monotonic, when it asked */
	bool reserve;	/* for a seed job: reserve the slot, do not lease it */
};

/* An acquire (not a seed job's reservation) ended: how long it waited,
 * or why it failed. */
static void acquire_metrics(const struct pool *p, bool reserve, double started,
			    const char *fail_code)
{
	if (reserve)
		return;
	if (fail_code)
		metrics_acquire_failed(p->profile->name, fail_code);
	else
		metrics_observe(MH_ACQUIRE_WAIT, p->profile->name,
				sb_now_mono() - started);
}

static void waiter_free_cb(uv_handle_t *h)
{
	free(h->data);
}

static void waiter_unlink(struct pool_waiter *w)
{
	struct pool *p = w->pool;
	if (w->prev)
		w->prev->next = w->next;
	else
		p->wait_head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		p->wait_tail = w->prev;
	p->n_waiters--;
	uv_timer_stop(&w->timer);
	uv_close((uv_handle_t *)&w->timer, waiter_free_cb);
}

static void waiter_timeout(uv_timer_t *t)
{
	struct pool_waiter *w = t->data;
	pool_acquire_fn cb = w->cb;
	void *ud = w->ud;
	char msg[400];

	if (w->pool->last_error[0])
		snprintf(msg, sizeof msg,
			 "no slot of profile %s became free before the "
			 "deadline; its last sandbox start failed: %s",
			 w->pool->profile->name, w->pool->last_error);
	else
		snprintf(
			msg, sizeof msg,
			"no slot of profile %s became free before the deadline",
			w->pool->profile->name);
	acquire_metrics(w->pool, w->reserve, w->started, "acquire_timeout");
	waiter_unlink(w);
	cb(NULL, "acquire_timeout", msg, ud);
}

int pool_lease(struct sbx_slot *slot, enum slot_event ev,
	       const char *trajectory_id, double ttl_s)
{
	struct pool_slot *ps = pool_slot_of(slot);
	if (slot_state_next(ps->state, ev) < 0) {
		errno = EINVAL; /* a caller's bug: never granted */
		return -1;
	}
	ps->leased = true;
	ps->lease_seq++;
	snprintf(slot->id + slot->base_len, sizeof slot->id - slot->base_len,
		 ".%u", ps->lease_seq);
	ps->ttl_s = ttl_s;
	snprintf(ps->trajectory_id, sizeof ps->trajectory_id, "%s",
		 trajectory_id ? trajectory_id : "");
	ps->acquired_at = sb_now_wall();
	ps->last_used = sb_now_mono();
	struct pool *p = slot->sb->owner;
	if (pool_journal_lease(p->owner, slot) < 0) {
		/* Not recorded: a restart would lose it, so it is not granted
		 * (and the state never moved). */
		int e = errno;
		ps->leased = false;
		slot->id[slot->base_len] = '\0';
		ps->trajectory_id[0] = '\0';
		ps->ttl_s = 0;
		errno = e;
		return -1;
	}
	pool_slot_move(slot, ev);
	return 0;
}

void pool_reserve_slot(struct sbx_slot *slot, void *by)
{
	/* Out of the free list, not leased, not offered to anyone: the
	 * seed job that reserved it restarts it and leases it when done. */
	struct pool_slot *ps = pool_slot_of(slot);
	pool_slot_move(slot, SLOT_EV_RESERVE);
	ps->reserved = by;
}

void pool_open_remove(struct pool *p, struct sandbox *sb)
{
	if (!sb->pool_open)
		return;
	if (sb->pool_open_prev)
		sb->pool_open_prev->pool_open_next = sb->pool_open_next;
	else
		p->open = sb->pool_open_next;
	if (sb->pool_open_next)
		sb->pool_open_next->pool_open_prev = sb->pool_open_prev;
	sb->pool_open_next = sb->pool_open_prev = NULL;
	sb->pool_open = false;
}

void pool_open_update(struct pool *p, struct sandbox *sb)
{
	bool open = sb->pool_settled < sb->n_slots;
	if (open == sb->pool_open)
		return;
	if (!open) {
		pool_open_remove(p, sb);
		return;
	}
	sb->pool_open_prev = NULL;
	sb->pool_open_next = p->open;
	if (p->open)
		p->open->pool_open_prev = sb;
	p->open = sb;
	sb->pool_open = true;
}

void pool_note_move(struct sandbox *sb, enum slot_state old,
		    enum slot_state now)
{
	struct pool *p = sb->owner;
	/* not linked yet: pool_link_sandbox() counts its slots */
	if (!p || !sb->pool_seq)
		return;
	p->n_soon += pool_slot_soon(now) - pool_slot_soon(old);
	pool_open_update(p, sb);
	if (now == SLOT_AVAILABLE && p->first_free &&
	    sb->pool_seq < p->first_free->pool_seq)
		p->first_free = sb;
}

struct sbx_slot *pool_find_available(struct pool *p)
{
	/* every sandbox passed since the start has no available slot */
	bool none_yet = true;
	struct sandbox *last = NULL;

	/* First fit in list order: packs leases into the oldest sandboxes so
	 * that younger idle ones can be recycled. */
	for (struct sandbox *sb = p->first_free ? p->first_free : p->sandboxes;
	     sb; sb = sb->next) {
		if (none_yet && sb->pool_available > 0) {
			p->first_free = sb;
			none_yet = false;
		}
		last = sb;
		if (sb->state == SBX_DEAD || sb->retiring || sb->draining ||
		    sb->pool_available == 0)
			continue;
		for (int i = 0; i < sb->n_slots; i++)
			if (pool_slot_of(&sb->slots[i])->state ==
			    SLOT_AVAILABLE)
				return &sb->slots[i];
	}
	/* none: every sandbox up to the last has none either */
	if (none_yet && last)
		p->first_free = last;
	return NULL;
}

void pool_offer(struct pool *p, struct sbx_slot *slot)
{
	struct pool_waiter *w = p->wait_head;
	if (!w || pool_slot_of(slot)->state != SLOT_AVAILABLE)
		return;
	pool_acquire_fn cb = w->cb;
	void *ud = w->ud;
	if (w->reserve) {
		pool_reserve_slot(slot, ud);
	} else if (pool_lease(slot, SLOT_EV_ACQUIRE, w->trajectory_id,
			      w->ttl_s) < 0) {
		char msg[200];
		int e = errno;
		snprintf(msg, sizeof msg, "cannot record the lease: %s",
			 strerror(e));
		acquire_metrics(p, w->reserve, w->started,
				pool_lease_error_code(e));
		waiter_unlink(w);
		cb(NULL, pool_lease_error_code(e), msg, ud);
		return;
	}
	acquire_metrics(p, w->reserve, w->started, NULL);
	waiter_unlink(w);
	cb(slot, NULL, NULL, ud);
}

void pool_fail_waiters(struct pool *p, const char *code, const char *msg)
{
	while (p->wait_head) {
		struct pool_waiter *w = p->wait_head;
		pool_acquire_fn cb = w->cb;
		void *ud = w->ud;
		acquire_metrics(p, w->reserve, w->started, code);
		waiter_unlink(w);
		cb(NULL, code, msg, ud);
	}
}

static int enqueue(struct pool *p, const char *trajectory_id, double ttl_s,
		   double timeout_s, bool reserve, struct sbx_slot **out,
		   pool_acquire_fn cb, void *ud, struct pool_waiter **waiter)
{
	double started = sb_now_mono();
	*out = NULL;
	*waiter = NULL;
	p->active = true;
	/* Newcomers never overtake the queue. */
	struct sbx_slot *slot = p->wait_head ? NULL : pool_find_available(p);
	if (slot) {
		if (reserve)
			pool_reserve_slot(slot, ud);
		else if (pool_lease(slot, SLOT_EV_ACQUIRE, trajectory_id,
				    ttl_s) < 0)
			return -1; /* errno says why */
		acquire_metrics(p, reserve, started, NULL);
		*out = slot;
		pool_prestart(p);
		return 1;
	}
	struct pool_waiter *w = calloc(1, sizeof *w);
	if (!w) {
		errno = ENOMEM;
		return -1;
	}
	w->pool = p;
	w->cb = cb;
	w->ud = ud;
	w->reserve = reserve;
	snprintf(w->trajectory_id, sizeof w->trajectory_id, "%s",
		 trajectory_id ? trajectory_id : "");
	w->ttl_s = ttl_s;
	w->started = started;
	uv_timer_init(p->owner->env->loop, &w->timer);
	w->timer.data = w;
	double ms = timeout_s * 1000.0;
	uv_timer_start(&w->timer, waiter_timeout, ms < 1 ? 1 : (uint64_t)ms, 0);
	w->prev = p->wait_tail;
	if (p->wait_tail)
		p->wait_tail->next = w;
	else
		p->wait_head = w;
	p->wait_tail = w;
	p->n_waiters++;
	*waiter = w;
	pool_prestart(p);
	return 0;
}

int pool_acquire(struct pool *p, const char *trajectory_id, double ttl_s,
		 double timeout_s, struct sbx_slot **out, pool_acquire_fn cb,
		 void *ud, struct pool_waiter **waiter)
{
	return enqueue(p, trajectory_id, ttl_s, timeout_s, false, out, cb, ud,
		       waiter);
}

int pool_reserve(struct pool *p, double timeout_s, struct sbx_slot **out,
		 pool_acquire_fn cb, void *ud, struct pool_waiter **waiter)
{
	return enqueue(p, NULL, 0, timeout_s, true, out, cb, ud, waiter);
}

void pool_acquire_cancel(struct pool_waiter *w)
{
	waiter_unlink(w);
}
