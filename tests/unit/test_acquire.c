/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of acquire (src/pool/acquire.c): the FIFO of trajectories
 * waiting for a slot, their deadlines, cancels, lease failures and the
 * separation of pools, driven through the real code on a real libuv loop.
 *
 * The pools are hand-built (no sandbox is started): a slot frees when the
 * test marks it available and offers it, as pool.c does when a leader says
 * HELLO. The journal, the pool's scaling and the metrics are the only
 * stand-ins (pool_journal_lease, pool_scale and pool_prestart, metrics_*
 * below): the journal and the scaling record calls, and the journal can be
 * told to fail. No root needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool/metrics.h"
#include "pool/pool.h"

/* --- stand-ins for pool_journal.c and pool.c --- */

static int journal_calls, journal_errno, scale_calls;

/* acquire.c counts acquires in the metrics (metrics.c): not here */
void metrics_observe(enum metrics_hist h, const char *profile, double s)
{
	(void)h;
	(void)profile;
	(void)s;
}

void metrics_acquire_failed(const char *profile, const char *code)
{
	(void)profile;
	(void)code;
}

int pool_journal_lease(struct pools *ps, const struct sbx_slot *slot)
{
	(void)ps;
	(void)slot;
	journal_calls++;
	if (journal_errno) {
		errno = journal_errno;
		return -1;
	}
	return 0;
}

void pool_prestart(struct pool *p)
{
	pool_scale(p);
}

void pool_scale(struct pool *p)
{
	(void)p;
	scale_calls++;
}

/* --- a world of two pools, one sandbox of three slots each --- */

#define NSLOTS 3

struct world {
	uv_loop_t loop;
	struct sbx_env env;
	struct pools ps;
	struct sb_profile prof[2];
	struct pool pool[2];
	struct sandbox sb[2];
	struct sbx_slot slots[2][NSLOTS];
	struct pool_slot leases[2][NSLOTS]; /* the slots' pool_slot */
};

/* What one acquire's callback saw. */
struct outcome {
	int calls;
	int order; /* when it fired, counting from 1 */
	struct sbx_slot *slot;
	char code[64];
	char msg[512];
};

static int fired;

static void on_acquire(struct sbx_slot *slot, const char *code, const char *msg,
		       void *ud)
{
	struct outcome *o = ud;
	o->calls++;
	o->order = ++fired;
	o->slot = slot;
	snprintf(o->code, sizeof o->code, "%s", code ? code : "");
	snprintf(o->msg, sizeof o->msg, "%s", msg ? msg : "");
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof *w);
	assert_non_null(w);
	assert_int_equal(uv_loop_init(&w->loop), 0);
	w->env.loop = &w->loop;
	w->env.sys_netns = -1;
	w->ps.env = &w->env;
	w->ps.items = w->pool;
	w->ps.n = 2;
	for (int i = 0; i < 2; i++) {
		snprintf(w->prof[i].name, sizeof w->prof[i].name, "%s",
			 i ? "profile_b" : "profile_a");
		struct pool *p = &w->pool[i];
		p->owner = &w->ps;
		p->profile = &w->prof[i];
		p->sandboxes = &w->sb[i];
		struct sandbox *sb = &w->sb[i];
		snprintf(sb->id, sizeof sb->id, "sb%d", i);
		sb->env = &w->env;
		sb->owner = p;
		sb->state = SBX_RUNNING;
		sb->pool_seq = 1; /* as pool_link_sandbox numbers them */
		sb->n_slots = NSLOTS;
		sb->slots = w->slots[i];
		for (int j = 0; j < NSLOTS; j++) {
			struct sbx_slot *s = &w->slots[i][j];
			s->sb = sb;
			s->index = j;
			snprintf(s->id, sizeof s->id, "sb%d_slot_%d", i, j);
			s->base_len = strlen(s->id);
			s->owner_data = &w->leases[i][j];
			pool_slot_of(s)->state =
				SLOT_STARTING; /* none free yet */
		}
	}
	journal_calls = journal_errno = scale_calls = fired = 0;
	*state = w;
	return 0;
}

/* Put a slot in state st as the pool's moves would have (pool_slot.h):
 * the sandbox's counts follow. */
static void set_state(struct sbx_slot *s, enum slot_state st)
{
	struct sandbox *sb = s->sb;
	enum slot_state old = pool_slot_of(s)->state;
	pool_slot_of(s)->state = st;
	sb->pool_available = sb->pool_settled = 0;
	for (int i = 0; i < sb->n_slots; i++) {
		enum slot_state x = pool_slot_of(&sb->slots[i])->state;
		sb->pool_available += x == SLOT_AVAILABLE;
		sb->pool_settled += pool_slot_settled(x);
	}
	if (st != old) /* after the counts, as pool_slot_move */
		pool_note_move(sb, old, st);
}

/* Everything the pools queued is gone and the loop has no handle left:
 * a waiter's timer that is never closed fails uv_loop_close. */
static int teardown(void **state)
{
	struct world *w = *state;
	for (int i = 0; i < 2; i++) {
		assert_null(w->pool[i].wait_head);
		assert_null(w->pool[i].wait_tail);
		assert_int_equal(w->pool[i].n_waiters, 0);
	}
	uv_run(&w->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&w->loop), 0);
	free(w);
	return 0;
}

/* A slot comes up (a leader said HELLO) and is offered to the queue. */
static void slot_frees(struct world *w, int pool, int slot)
{
	struct sbx_slot *s = &w->slots[pool][slot];
	set_state(s, SLOT_AVAILABLE);
	pool_slot_of(s)->leased = false;
	pool_slot_of(s)->reserved = NULL;
	s->id[s->base_len] = '\0';
	pool_offer(&w->pool[pool], s);
}

static int queue(struct world *w, int pool, const char *traj, double timeout_s,
		 struct outcome *o, struct pool_waiter **waiter)
{
	struct sbx_slot *out = (struct sbx_slot *)1;
	int r = pool_acquire(&w->pool[pool], traj, 60.0, timeout_s, &out,
			     on_acquire, o, waiter);
	if (r == 0) {
		assert_null(out);
		assert_non_null(*waiter);
	}
	return r;
}

/* Run the loop until `o` fired (a deadline); fails if the loop runs out
 * of work first. */
static void run_until(struct world *w, const struct outcome *o)
{
	while (!o->calls)
		if (uv_run(&w->loop, UV_RUN_ONCE) == 0)
			assert_int_not_equal(o->calls, 0);
}

static void test_free_slot_is_leased_at_once(void **state)
{
	struct world *w = *state;
	struct outcome o = {0};
	struct sbx_slot *out = NULL;
	struct pool_waiter *wt = (struct pool_waiter *)1;
	set_state(&w->slots[0][1], SLOT_AVAILABLE);
	assert_int_equal(pool_acquire(&w->pool[0], "traj-1", 30.0, 5.0, &out,
				      on_acquire, &o, &wt),
			 1);
	assert_ptr_equal(out, &w->slots[0][1]);
	assert_null(wt);
	assert_int_equal(o.calls, 0); /* the answer is the return value */
	assert_int_equal(pool_slot_of(out)->state, SLOT_ACQUIRED);
	assert_true(pool_slot_of(out)->leased);
	/* the sandbox's counts, by which a full sandbox is skipped */
	assert_int_equal(w->sb[0].pool_available, 0);
	assert_int_equal(w->sb[0].pool_settled, 1);
	assert_null(pool_find_available(&w->pool[0]));
	assert_string_equal(out->id, "sb0_slot_1.1");
	assert_string_equal(pool_slot_of(out)->trajectory_id, "traj-1");
	assert_true(pool_slot_of(out)->ttl_s == 30.0);
	assert_int_equal(journal_calls, 1);
	assert_true(w->pool[0].active);
	assert_int_equal(w->pool[0].n_waiters, 0);

	/* the next lease of the same slot has the next id */
	slot_frees(w, 0, 1);
	assert_int_equal(pool_acquire(&w->pool[0], NULL, 0, 5.0, &out,
				      on_acquire, &o, &wt),
			 1);
	assert_string_equal(out->id, "sb0_slot_1.2");
	assert_string_equal(pool_slot_of(out)->trajectory_id, "");
}

static void test_waiters_are_served_in_order(void **state)
{
	struct world *w = *state;
	struct outcome o[4] = {0};
	struct pool_waiter *wt[4];
	const char *traj[4] = {"t0", "t1", "t2", "t3"};
	for (int i = 0; i < 4; i++)
		assert_int_equal(queue(w, 0, traj[i], 3600, &o[i], &wt[i]), 0);
	assert_int_equal(w->pool[0].n_waiters, 4);
	assert_int_equal(journal_calls, 0);

	/* slots free in any order; the oldest waiter gets each */
	int frees[3] = {2, 0, 1};
	for (int i = 0; i < 3; i++) {
		slot_frees(w, 0, frees[i]);
		assert_int_equal(o[i].calls, 1);
		assert_int_equal(o[i].order, i + 1);
		assert_ptr_equal(o[i].slot, &w->slots[0][frees[i]]);
		assert_string_equal(o[i].code, "");
		assert_string_equal(pool_slot_of(o[i].slot)->trajectory_id,
				    traj[i]);
		assert_int_equal(pool_slot_of(o[i].slot)->state, SLOT_ACQUIRED);
		assert_int_equal(o[i + 1].calls, 0);
		assert_int_equal(w->pool[0].n_waiters, 3 - i);
	}
	/* a slot freeing again goes to the last one */
	slot_frees(w, 0, 2);
	assert_int_equal(o[3].calls, 1);
	assert_ptr_equal(o[3].slot, &w->slots[0][2]);
	assert_string_equal(o[3].slot->id, "sb0_slot_2.2");
	for (int i = 0; i < 4; i++)
		assert_int_equal(o[i].calls, 1);
}

static void test_newcomer_never_overtakes(void **state)
{
	struct world *w = *state;
	struct outcome first = {0}, late = {0};
	struct pool_waiter *wt1, *wt2;
	assert_int_equal(queue(w, 0, "first", 3600, &first, &wt1), 0);
	/* A slot is free but not offered yet (its HELLO is being handled):
	 * a newcomer still queues behind the waiter. */
	set_state(&w->slots[0][0], SLOT_AVAILABLE);
	assert_int_equal(queue(w, 0, "late", 3600, &late, &wt2), 0);
	assert_int_equal(pool_slot_of(&w->slots[0][0])->state, SLOT_AVAILABLE);
	pool_offer(&w->pool[0], &w->slots[0][0]);
	assert_int_equal(first.calls, 1);
	assert_ptr_equal(first.slot, &w->slots[0][0]);
	assert_int_equal(late.calls, 0);
	slot_frees(w, 0, 1);
	assert_int_equal(late.calls, 1);
	assert_ptr_equal(late.slot, &w->slots[0][1]);
}

static void test_offer_of_a_busy_slot_does_nothing(void **state)
{
	struct world *w = *state;
	struct outcome o = {0};
	struct pool_waiter *wt;
	assert_int_equal(queue(w, 0, "t", 3600, &o, &wt), 0);
	enum slot_state busy[] = {SLOT_STARTING, SLOT_ACQUIRED, SLOT_EXECUTING,
				  SLOT_RELEASING, SLOT_ERROR};
	for (size_t i = 0; i < sizeof busy / sizeof busy[0]; i++) {
		set_state(&w->slots[0][0], busy[i]);
		pool_offer(&w->pool[0], &w->slots[0][0]);
		assert_int_equal(o.calls, 0);
		assert_int_equal(pool_slot_of(&w->slots[0][0])->state, busy[i]);
	}
	assert_int_equal(w->pool[0].n_waiters, 1);
	/* an empty queue: the offer leaves the slot free */
	pool_acquire_cancel(wt);
	slot_frees(w, 0, 0);
	assert_int_equal(pool_slot_of(&w->slots[0][0])->state, SLOT_AVAILABLE);
	assert_false(pool_slot_of(&w->slots[0][0])->leased);
}

static void test_deadline_times_out_and_leaves_queue(void **state)
{
	struct world *w = *state;
	struct outcome o[3] = {0};
	struct pool_waiter *wt[3];
	/* the middle one has the short deadline */
	assert_int_equal(queue(w, 0, "a", 3600, &o[0], &wt[0]), 0);
	assert_int_equal(queue(w, 0, "b", 0.001, &o[1], &wt[1]), 0);
	assert_int_equal(queue(w, 0, "c", 3600, &o[2], &wt[2]), 0);
	run_until(w, &o[1]);
	assert_int_equal(o[0].calls + o[2].calls, 0);
	assert_null(o[1].slot);
	assert_string_equal(o[1].code, "acquire_timeout");
	assert_non_null(strstr(o[1].msg, "profile_a"));
	assert_null(strstr(o[1].msg, "last sandbox start failed"));
	assert_int_equal(w->pool[0].n_waiters, 2);
	/* the others keep their order */
	slot_frees(w, 0, 0);
	slot_frees(w, 0, 1);
	assert_int_equal(o[0].calls, 1);
	assert_ptr_equal(o[0].slot, &w->slots[0][0]);
	assert_int_equal(o[2].calls, 1);
	assert_ptr_equal(o[2].slot, &w->slots[0][1]);
	assert_int_equal(o[1].calls, 1); /* once, never again */
	/* a served waiter's deadline no longer fires */
	assert_int_equal(uv_run(&w->loop, UV_RUN_NOWAIT), 0);
}

static void test_deadline_of_head_and_tail(void **state)
{
	struct world *w = *state;
	struct outcome o[3] = {0};
	struct pool_waiter *wt[3];
	assert_int_equal(queue(w, 0, "a", 0.001, &o[0], &wt[0]), 0);
	assert_int_equal(queue(w, 0, "b", 3600, &o[1], &wt[1]), 0);
	assert_int_equal(queue(w, 0, "c", 0.002, &o[2], &wt[2]), 0);
	/* why the pool has no slot is in the message */
	snprintf(w->pool[0].last_error, sizeof w->pool[0].last_error,
		 "mount overlay: no space");
	run_until(w, &o[0]);
	run_until(w, &o[2]);
	assert_int_equal(o[1].calls, 0);
	assert_true(o[0].order < o[2].order); /* the earlier deadline first */
	assert_string_equal(o[0].code, "acquire_timeout");
	assert_string_equal(o[2].code, "acquire_timeout");
	assert_non_null(strstr(o[2].msg, "mount overlay: no space"));
	assert_int_equal(w->pool[0].n_waiters, 1);
	assert_ptr_equal(w->pool[0].wait_head, w->pool[0].wait_tail);
	slot_frees(w, 0, 2);
	assert_int_equal(o[1].calls, 1);
	assert_ptr_equal(o[1].slot, &w->slots[0][2]);
	/* a deadline under a millisecond still ends in a timeout */
	struct outcome z = {0};
	struct pool_waiter *wz;
	assert_int_equal(queue(w, 0, "z", 0, &z, &wz), 0);
	run_until(w, &z);
	assert_string_equal(z.code, "acquire_timeout");
}

static void test_cancelled_waiters_never_fire(void **state)
{
	struct world *w = *state;
	struct outcome o[4] = {0};
	struct pool_waiter *wt[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(
			queue(w, 0, "t", i == 2 ? 0.001 : 3600, &o[i], &wt[i]),
			0);
	pool_acquire_cancel(wt[1]); /* middle */
	pool_acquire_cancel(wt[0]); /* head */
	pool_acquire_cancel(wt[2]); /* its deadline is near: never fires */
	assert_int_equal(w->pool[0].n_waiters, 1);
	/* the loop runs past the cancelled deadline: nothing fires */
	uv_sleep(5);
	uv_run(&w->loop, UV_RUN_NOWAIT);
	slot_frees(w, 0, 0);
	assert_int_equal(o[3].calls, 1);
	assert_ptr_equal(o[3].slot, &w->slots[0][0]);
	for (int i = 0; i < 3; i++)
		assert_int_equal(o[i].calls, 0);
	/* the tail too */
	struct outcome t = {0};
	struct pool_waiter *wtt;
	assert_int_equal(queue(w, 0, "tail", 3600, &t, &wtt), 0);
	pool_acquire_cancel(wtt);
	slot_frees(w, 0, 1);
	assert_int_equal(t.calls, 0);
	assert_int_equal(pool_slot_of(&w->slots[0][1])->state, SLOT_AVAILABLE);
}

static void test_lease_not_recorded(void **state)
{
	struct world *w = *state;
	struct outcome o[2] = {0};
	struct pool_waiter *wt[2];
	struct sbx_slot *out;

	/* at once: refused, and the slot stays free and unchanged */
	set_state(&w->slots[0][0], SLOT_AVAILABLE);
	journal_errno = ENOSPC;
	errno = 0;
	assert_int_equal(pool_acquire(&w->pool[0], "t", 60, 5, &out, on_acquire,
				      &o[0], &wt[0]),
			 -1);
	assert_int_equal(errno, ENOSPC);
	struct sbx_slot *s = &w->slots[0][0];
	assert_int_equal(pool_slot_of(s)->state, SLOT_AVAILABLE);
	assert_false(pool_slot_of(s)->leased);
	assert_string_equal(s->id, "sb0_slot_0");
	assert_string_equal(pool_slot_of(s)->trajectory_id, "");
	assert_int_equal(o[0].calls, 0);
	assert_string_equal(pool_lease_error_code(ENOSPC),
			    "insufficient_storage");
	assert_string_equal(pool_lease_error_code(EDQUOT),
			    "insufficient_storage");
	assert_string_equal(pool_lease_error_code(EIO), "internal");

	/* queued: the head waiter gets the error, the next one waits on */
	set_state(s, SLOT_STARTING);
	assert_int_equal(queue(w, 0, "a", 3600, &o[0], &wt[0]), 0);
	assert_int_equal(queue(w, 0, "b", 3600, &o[1], &wt[1]), 0);
	slot_frees(w, 0, 0);
	assert_int_equal(o[0].calls, 1);
	assert_null(o[0].slot);
	assert_string_equal(o[0].code, "insufficient_storage");
	assert_non_null(strstr(o[0].msg, "cannot record the lease"));
	assert_int_equal(pool_slot_of(s)->state, SLOT_AVAILABLE);
	assert_false(pool_slot_of(s)->leased);
	assert_int_equal(o[1].calls, 0);
	assert_int_equal(w->pool[0].n_waiters, 1);
	journal_errno = 0;
	pool_offer(&w->pool[0], s);
	assert_int_equal(o[1].calls, 1);
	assert_ptr_equal(o[1].slot, s);
	assert_true(pool_slot_of(s)->leased);
	assert_non_null(strstr(s->id, "sb0_slot_0."));
	assert_string_equal(pool_slot_of(s)->trajectory_id, "b");
}

static void test_reserve_shares_the_queue(void **state)
{
	struct world *w = *state;
	struct outcome o[3] = {0};
	struct pool_waiter *wt[3];
	struct sbx_slot *out;
	assert_int_equal(queue(w, 0, "a", 3600, &o[0], &wt[0]), 0);
	assert_int_equal(pool_reserve(&w->pool[0], 3600, &out, on_acquire,
				      &o[1], &wt[1]),
			 0);
	assert_int_equal(queue(w, 0, "c", 3600, &o[2], &wt[2]), 0);
	slot_frees(w, 0, 0);
	slot_frees(w, 0, 1);
	/* the seed job's slot is reserved, not leased, not journaled */
	assert_int_equal(o[1].calls, 1);
	assert_ptr_equal(o[1].slot, &w->slots[0][1]);
	assert_ptr_equal(pool_slot_of(o[1].slot)->reserved, &o[1]);
	assert_int_equal(pool_slot_of(o[1].slot)->state, SLOT_RELEASING);
	assert_false(pool_slot_of(o[1].slot)->leased);
	assert_int_equal(journal_calls, 1); /* "a" only */
	assert_int_equal(o[2].calls, 0);
	slot_frees(w, 0, 2);
	assert_int_equal(o[2].calls, 1);
	/* and at once when a slot is free */
	slot_frees(w, 0, 1);
	struct outcome r = {0};
	assert_int_equal(
		pool_reserve(&w->pool[0], 5, &out, on_acquire, &r, &wt[0]), 1);
	assert_ptr_equal(out, &w->slots[0][1]);
	assert_ptr_equal(pool_slot_of(out)->reserved, &r);
	assert_int_equal(pool_slot_of(out)->state, SLOT_RELEASING);
}

static void test_fail_waiters_in_order(void **state)
{
	struct world *w = *state;
	struct outcome o[3] = {0};
	struct pool_waiter *wt[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(queue(w, 0, "t", 3600, &o[i], &wt[i]), 0);
	pool_fail_waiters(&w->pool[0], "shutting_down", "the daemon stops");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(o[i].calls, 1);
		assert_int_equal(o[i].order, i + 1);
		assert_null(o[i].slot);
		assert_string_equal(o[i].code, "shutting_down");
		assert_string_equal(o[i].msg, "the daemon stops");
	}
	assert_int_equal(w->pool[0].n_waiters, 0);
}

static void test_pools_are_separate(void **state)
{
	struct world *w = *state;
	struct outcome a = {0}, b = {0};
	struct pool_waiter *wa, *wb;
	assert_int_equal(queue(w, 0, "a", 3600, &a, &wa), 0);
	assert_int_equal(queue(w, 1, "b", 0.001, &b, &wb), 0);
	/* profile_a's slot goes to profile_a's waiter only */
	slot_frees(w, 0, 0);
	assert_int_equal(a.calls, 1);
	assert_ptr_equal(a.slot->sb, &w->sb[0]);
	assert_int_equal(b.calls, 0);
	assert_int_equal(w->pool[1].n_waiters, 1);
	/* a free slot of profile_a never serves profile_b */
	slot_frees(w, 0, 1);
	assert_int_equal(b.calls, 0);
	assert_null(pool_find_available(&w->pool[1]));
	run_until(w, &b);
	assert_string_equal(b.code, "acquire_timeout");
	assert_non_null(strstr(b.msg, "profile_b"));
	assert_int_equal(pool_slot_of(&w->slots[0][1])->state, SLOT_AVAILABLE);
	/* and profile_b's own slot is leased from its own pool */
	struct sbx_slot *out;
	slot_frees(w, 1, 2);
	assert_int_equal(pool_acquire(&w->pool[1], "b2", 1, 1, &out, on_acquire,
				      &b, &wb),
			 1);
	assert_ptr_equal(out, &w->slots[1][2]);
}

static void test_find_available_first_fit(void **state)
{
	struct world *w = *state;
	/* a second sandbox in pool 0, after the first in its list */
	struct sandbox second = w->sb[0];
	struct sbx_slot more[NSLOTS];
	struct pool_slot more_leases[NSLOTS];
	memcpy(more, w->slots[0], sizeof more);
	memcpy(more_leases, w->leases[0], sizeof more_leases);
	for (int j = 0; j < NSLOTS; j++) {
		more[j].sb = &second;
		more[j].owner_data = &more_leases[j];
	}
	second.slots = more;
	second.pool_seq = 2;
	w->sb[0].next = &second;

	/* nothing free: the next look starts at the last sandbox */
	assert_null(pool_find_available(&w->pool[0]));
	assert_ptr_equal(w->pool[0].first_free, &second);
	set_state(&more[0], SLOT_AVAILABLE);
	assert_ptr_equal(pool_find_available(&w->pool[0]), &more[0]);
	/* a slot freed in an older sandbox moves the start back to it */
	set_state(&w->slots[0][2], SLOT_AVAILABLE);
	assert_ptr_equal(w->pool[0].first_free, &w->sb[0]);
	/* the oldest sandbox first */
	assert_ptr_equal(pool_find_available(&w->pool[0]), &w->slots[0][2]);
	/* never a slot of a dead, retiring or draining sandbox */
	w->sb[0].retiring = true;
	assert_ptr_equal(pool_find_available(&w->pool[0]), &more[0]);
	w->sb[0].retiring = false;
	w->sb[0].draining = true;
	assert_ptr_equal(pool_find_available(&w->pool[0]), &more[0]);
	w->sb[0].draining = false;
	w->sb[0].state = SBX_DEAD;
	assert_ptr_equal(pool_find_available(&w->pool[0]), &more[0]);
	second.state = SBX_DEAD;
	assert_null(pool_find_available(&w->pool[0]));
	w->sb[0].next = NULL;
	w->pool[0].first_free = NULL; /* second goes with this test */
}

/* The pool's open list holds a sandbox while any of its slots is not
 * settled: a full one leaves it, and comes back when a slot is released
 * or breaks free; one pool's moves leave the other's list alone. */
static void test_open_list_follows_the_slots(void **state)
{
	struct world *w = *state;
	struct pool *p = &w->pool[0];
	struct sandbox *sb = &w->sb[0];
	set_state(&w->slots[0][0], SLOT_AVAILABLE);
	assert_ptr_equal(p->open, sb);
	assert_true(sb->pool_open);
	for (int j = 0; j < NSLOTS - 1; j++) {
		set_state(&w->slots[0][j], SLOT_ACQUIRED);
		assert_ptr_equal(p->open, sb); /* one still starting */
	}
	set_state(&w->slots[0][NSLOTS - 1], SLOT_EXECUTING);
	assert_null(p->open);
	assert_false(sb->pool_open);
	set_state(&w->slots[0][1], SLOT_RELEASING);
	assert_ptr_equal(p->open, sb);
	assert_null(sb->pool_open_next);
	assert_null(sb->pool_open_prev);
	assert_null(w->pool[1].open);
	/* a second open sandbox goes in front; removing either keeps the
	 * other linked */
	set_state(&w->slots[1][0], SLOT_AVAILABLE);
	assert_ptr_equal(w->pool[1].open, &w->sb[1]);
	struct sandbox other = *sb;
	other.pool_open = false;
	other.pool_open_next = other.pool_open_prev = NULL;
	pool_open_update(p, &other);
	assert_ptr_equal(p->open, &other);
	assert_ptr_equal(other.pool_open_next, sb);
	assert_ptr_equal(sb->pool_open_prev, &other);
	pool_open_remove(p, sb);
	assert_ptr_equal(p->open, &other);
	assert_null(other.pool_open_next);
	pool_open_remove(p, &other);
	assert_null(p->open);
	pool_open_remove(p, &other); /* twice: nothing */
	assert_null(p->open);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_free_slot_is_leased_at_once),
		T(test_waiters_are_served_in_order),
		T(test_newcomer_never_overtakes),
		T(test_offer_of_a_busy_slot_does_nothing),
		T(test_deadline_times_out_and_leaves_queue),
		T(test_deadline_of_head_and_tail),
		T(test_cancelled_waiters_never_fire),
		T(test_lease_not_recorded),
		T(test_reserve_shares_the_queue),
		T(test_fail_waiters_in_order),
		T(test_pools_are_separate),
		T(test_open_list_follows_the_slots),
		T(test_find_available_first_fit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
