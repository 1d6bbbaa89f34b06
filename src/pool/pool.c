/* SPDX-License-Identifier: Apache-2.0 */
#include "pool/pool.h"
#include "pool/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "pool/seed_job.h"
#include "sandbox/launcher.h"

#define POOL_TICK_MS 1000
/* sandboxes of a pool retired (idle, too old) and dying at once */
#define POOL_MAX_RETIRING 4
#define POOL_MAX_NUMBERS SBX_RANGE_SANDBOXES
#define POOL_SLOT_RESTARTS 3

static int take_number(struct pools *ps)
{
	for (int i = 0; i < ps->max_numbers; i++) {
		if (!ps->numbers[i]) {
			ps->numbers[i] = 1;
			return i;
		}
	}
	return -1;
}

/* Exponential back-off (0.2 s .. 25.6 s) after failed starts, so a broken
 * image or a full host is not hammered by a burst of acquires. */
static void start_failed(struct pool *p)
{
	p->start_failures++;
	int shift = p->start_failures > 8 ? 8 : p->start_failures;
	p->backoff_until = sb_now_mono() + 0.1 * (double)(1 << shift);
}

/* A start that failed, at once (sandbox NULL) or in the launcher: the
 * pool says why (last_error, the log) and backs off. */
static void start_failure(struct pool *p, const char *sandbox, const char *why)
{
	snprintf(p->last_error, sizeof p->last_error, "%s", why);
	sb_log(SB_LOG_ERROR, "sandbox_start_failed", "profile",
	       p->profile->name, "sandbox", sandbox, "why", why, SB_LOG_END);
	start_failed(p);
}

/* for: why it starts, in the log ("min", "acquire" or "ahead") */
static void start_sandbox(struct pool *p, const char *for_)
{
	struct pools *ps = p->owner;
	struct sandbox *sb;
	struct sb_err err;
	int number = take_number(ps);

	if (number < 0) {
		sb_log(SB_LOG_ERROR, "sandbox_start_failed", "profile",
		       p->profile->name, "why", "no free sandbox numbers",
		       SB_LOG_END);
		return;
	}
	if (sandbox_start(ps->env, p->profile, p, number, &sb, &err) < 0) {
		ps->numbers[number] = 0;
		start_failure(p, NULL, err.msg);
		return;
	}
	pool_link_sandbox(p, sb);
	p->n_live++;
	p->n_starting++;
	sb_log(SB_LOG_INFO, "sandbox_starting", "profile", p->profile->name,
	       "sandbox", sb->id, "for", for_, SB_LOG_END);
}

/* The start's slow half ended (launcher.h): the sandbox is recorded in
 * the journal now that its init's pid is known, or it is gone. */
static void on_sandbox_launched(struct sandbox *sb, const char *failed)
{
	struct pool *p = sb->owner;
	if (failed) {
		p->n_live--;
		p->n_starting--;
		start_failure(p, sb->id, failed);
		pool_unlink_sandbox(p, sb);
		pool_scale(p);
		return;
	}
	p->created++;
	if (pool_journal_sandbox(p->owner, sb) < 0) {
		/* A sandbox the journal does not know would be lost, with its
		 * leases, by a restart: end it and try again later. */
		snprintf(p->last_error, sizeof p->last_error,
			 "cannot record the sandbox in the state dir: %s",
			 strerror(errno));
		start_failed(p);
		sb->retiring = true;
		sandbox_kill(sb);
	}
}

/* Slots that will be free soon without starting anything new, counted up
 * to enough (a scan of the open sandboxes' slots: stop as soon as the
 * answer is known). */
static int soon_available(const struct pool *p, int enough)
{
	int n = 0;
	for (const struct sandbox *sb = p->open; sb && n < enough;
	     sb = sb->pool_open_next) {
		if (sb->state == SBX_DEAD || sb->retiring || sb->draining)
			continue;
		for (int i = 0; i < sb->n_slots; i++) {
			const struct pool_slot *ps =
				pool_slot_of(&sb->slots[i]);
			enum slot_state s = ps->state;
			/* a reserved slot is promised to a seed job */
			if (ps->reserved)
				continue;
			if (s == SLOT_AVAILABLE || s == SLOT_STARTING ||
			    s == SLOT_RELEASING)
				n++;
		}
	}
	return n;
}

/* Why the pool needs one more sandbox now, or NULL: below
 * min_sandboxes, an acquire waiting with too few slots soon free, or
 * (ahead, right after an acquire) fewer than prestart_slots slots
 * available or starting. */
static const char *start_reason(struct pool *p, bool ahead)
{
	const struct sb_profile *prof = p->profile;
	/* Every profile keeps its min_sandboxes warm from the start, as the
	 * seed's start(profiles_to_start=...) does: a first acquire of a
	 * non-default profile no longer waits for a cold start. */
	if (p->n_live < prof->min_sandboxes)
		return "min";
	/* most calls (a slot came up, a lease ended) find no waiter: no
	 * scan then */
	if (p->n_waiters > 0 && p->n_waiters > soon_available(p, p->n_waiters))
		return "acquire";
	if (ahead && p->n_soon < prof->prestart_slots)
		return "ahead";
	return NULL;
}

static void grow(struct pool *p, bool ahead)
{
	if (p->owner->stopping || sb_now_mono() < p->backoff_until)
		return;
	while (p->n_live < p->profile->max_sandboxes &&
	       p->n_starting < POOL_MAX_STARTING) {
		const char *why = start_reason(p, ahead);
		if (!why)
			break;
		int before = p->n_live;
		start_sandbox(p, why);
		if (p->n_live == before)
			break;
	}
}

void pool_scale(struct pool *p)
{
	grow(p, false);
}

void pool_prestart(struct pool *p)
{
	/* Ahead only here, on an acquire: the idle reaper stopping an
	 * unused sandbox must not make the pool start another one in its
	 * place. */
	grow(p, true);
}

/* How many of sb's slots are available or starting (pool.h, n_soon). */
static int soon_slots(const struct sandbox *sb)
{
	int n = 0;
	for (int i = 0; i < sb->n_slots; i++)
		n += pool_slot_soon(pool_slot_of(&sb->slots[i])->state);
	return n;
}

void pool_link_sandbox(struct pool *p, struct sandbox *sb)
{
	/* Append: older sandboxes come first in acquire order. */
	sb->next = NULL;
	if (p->sandboxes_tail)
		p->sandboxes_tail->next = sb;
	else
		p->sandboxes = sb;
	p->sandboxes_tail = sb;
	sb->pool_seq = ++p->link_seq;
	p->n_soon += soon_slots(sb); /* then pool_note_move() keeps it */
	pool_open_update(p, sb);
	/* cannot fail: the table has room for every sandbox number */
	if (sandbox_index_put(&p->owner->index, sb) < 0)
		sb_log(SB_LOG_ERROR, "sandbox_index_full", "sandbox", sb->id,
		       SB_LOG_END);
}

void pool_unlink_sandbox(struct pool *p, struct sandbox *sb)
{
	sandbox_index_del(&p->owner->index, sb);
	p->n_soon -= soon_slots(sb);
	pool_open_remove(p, sb);
	/* the ones before it had no available slot: neither do they now */
	if (p->first_free == sb)
		p->first_free = sb->next;
	struct sandbox *prev = NULL;
	for (struct sandbox **pp = &p->sandboxes; *pp; pp = &(*pp)->next) {
		if (*pp == sb) {
			*pp = sb->next;
			if (p->sandboxes_tail == sb)
				p->sandboxes_tail = prev;
			break;
		}
		prev = *pp;
	}
	p->owner->numbers[sb->number] = 0;
	pool_journal_forget_sandbox(p->owner, sb); /* its leases too */
	sandbox_free(sb);
}

static bool has_leases(const struct sandbox *sb)
{
	for (int i = 0; i < sb->n_slots; i++)
		if (pool_slot_of(&sb->slots[i])->leased)
			return true;
	return false;
}

/* ---- sandbox events ---- */

static void on_slot_ready(struct sbx_slot *slot)
{
	struct pool *p = slot->sb->owner;
	if (pool_slot_of(slot)->reserved) {
		pool_seed_slot_up(slot);
		return;
	}
	struct pool_slot *ps = pool_slot_of(slot);
	if (pool_slot_move(slot, SLOT_EV_READY) < 0)
		return;
	ps->error[0] = '\0';
	p->start_failures = 0;
	pool_offer(p, slot);
	pool_scale(p);
}

static void on_slot_broken(struct sbx_slot *slot, const char *why)
{
	struct sandbox *sb = slot->sb;
	struct pool_slot *ps = pool_slot_of(slot);
	snprintf(ps->error, sizeof ps->error, "%s", why);
	if (ps->reserved) {
		/* Its seeded leader failed: the job lets go of it, and it
		 * starts afresh without the seed. */
		pool_seed_slot_lost(slot, why);
		if (sb->state != SBX_DEAD)
			sandbox_release_slot(slot, true);
		return;
	}
	if (ps->state == SLOT_RELEASING)
		return; /* the old leader's channel closing: expected */
	pool_slot_move(slot, SLOT_EV_LOST);
	if (!sb->retiring)
		sb_log(SB_LOG_WARN, "slot_lost", "slot", slot->id, "why", why,
		       SB_LOG_END);
	if (!ps->leased) {
		/* Nobody holds it: kill the sandbox rather than loop on a
		 * slot that cannot start; the pool replaces it. */
		sb->retiring = true;
		sandbox_kill(sb);
	}
}

static void on_sandbox_up(struct sandbox *sb)
{
	struct pool *p = sb->owner;
	p->n_starting--;
	p->last_error[0] = '\0';
	metrics_observe(MH_SANDBOX_START, p->profile->name,
			sb_now_mono() - sb->created_mono);
	sb_log(SB_LOG_INFO, "sandbox_up", "profile", p->profile->name,
	       "sandbox", sb->id, SB_LOG_END);
}

static void recycle(struct pool *p, double now);

static void on_sandbox_gone(struct sandbox *sb, const char *why)
{
	struct pool *p = sb->owner;
	bool retired = sb->retiring; /* sb may be freed below */

	for (int i = 0; i < sb->n_slots; i++) {
		struct sbx_slot *s = &sb->slots[i];
		struct pool_slot *ps = pool_slot_of(s);
		pool_slot_move(s, SLOT_EV_LOST);
		snprintf(ps->error, sizeof ps->error, "sandbox lost: %s", why);
		pool_seed_slot_lost(s, why);
	}
	if (!sb->up) {
		/* Died before its init said hello: a failed start. */
		p->n_starting--;
		start_failed(p);
	}
	p->n_live--;
	if (sb->retiring) {
		p->destroyed++;
	} else {
		p->lost++;
		sb_log(SB_LOG_WARN, "sandbox_lost", "profile", p->profile->name,
		       "sandbox", sb->id, "why", why, SB_LOG_END);
	}
	/* A dead sandbox with leases stays so its holders learn
	 * sandbox_lost; at shutdown nobody is left to ask. */
	if (!has_leases(sb) || p->owner->stopping)
		pool_unlink_sandbox(p, sb);
	if (p->owner->stopping) {
		bool any = false;
		for (size_t i = 0; i < p->owner->n; i++)
			any = any || p->owner->items[i].n_live > 0;
		if (!any && p->owner->stopped)
			p->owner->stopped(p->owner->stopped_ud);
		return;
	}
	if (retired)
		recycle(p, sb_now_mono()); /* the next one, if one is due */
	pool_scale(p);
}

const struct sandbox_ops pool_sandbox_ops = {
	.slot_ready = on_slot_ready,
	.slot_seed_ready = pool_seed_slot_ready,
	.slot_broken = on_slot_broken,
	.sandbox_launched = on_sandbox_launched,
	.sandbox_up = on_sandbox_up,
	.sandbox_gone = on_sandbox_gone,
};

/* ---- leases ---- */

void pool_end_lease(struct sbx_slot *slot, bool reset)
{
	struct sandbox *sb = slot->sb;
	struct pool *p = sb->owner;
	struct pool_slot *ps = pool_slot_of(slot);

	ps->leased = false;
	ps->trajectory_id[0] = '\0';
	slot->id[slot->base_len] = '\0';
	ps->ttl_s = 0;
	if (sb->state == SBX_DEAD) {
		if (!has_leases(sb))
			pool_unlink_sandbox(p, sb);
		return;
	}
	/* leased: acquired, executing or error (a slot of a seed job whose
	 * lease was not granted is releasing already) */
	pool_slot_move(slot, SLOT_EV_RELEASE);
	sandbox_release_slot(slot, reset);
	if (!has_leases(sb))
		sb->idle_since = sb_now_mono();
}

void pool_release(struct sbx_slot *slot, bool reset)
{
	struct pool *p = slot->sb->owner;
	(void)pool_journal_unlease(p->owner, slot); /* logged */
	pool_end_lease(slot, reset);
}

int pool_release_recorded(struct sbx_slot *slot, bool reset)
{
	struct pool *p = slot->sb->owner;
	if (pool_journal_unlease(p->owner, slot) < 0)
		return -1;
	pool_end_lease(slot, reset);
	return 0;
}

void pool_slot_exec_begin(struct sbx_slot *slot)
{
	struct pool_slot *ps = pool_slot_of(slot);
	pool_slot_move(slot, SLOT_EV_EXEC_BEGIN);
	ps->last_used = sb_now_mono();
}

void pool_slot_exec_end(struct sbx_slot *slot)
{
	struct pool_slot *ps = pool_slot_of(slot);
	ps->last_used = sb_now_mono();
	if (slot->n_calls == 0) /* the last running call ended */
		pool_slot_move(slot, SLOT_EV_EXEC_END);
}

void pool_counts(const struct pool *p, struct pool_counts *c)
{
	memset(c, 0, sizeof *c);
	c->waiters = p->n_waiters;
	for (const struct sandbox *sb = p->sandboxes; sb; sb = sb->next) {
		if (sb->state == SBX_DEAD)
			continue;
		c->sandboxes++;
		if (sb->state == SBX_RUNNING)
			c->healthy++;
		else
			c->starting++;
		c->total_slots += sb->n_slots;
		for (int i = 0; i < sb->n_slots; i++) {
			const struct pool_slot *ps =
				pool_slot_of(&sb->slots[i]);
			c->available += ps->state == SLOT_AVAILABLE;
			c->leased += ps->leased;
		}
	}
}

/* ---- recycling ---- */

/* Stop sandboxes idle past idle_timeout (above min_sandboxes) and those
 * past max_lifetime. An old sandbox with leases drains first: it takes no
 * new leases and goes when the last one ends; no lease is ever killed.
 * At most POOL_MAX_RETIRING of the pool's sandboxes die at once; each
 * one gone retires the next (on_sandbox_gone). A pool's 500 idle
 * sandboxes killed at one tick kept the kernel's cgroup_mutex and RCU
 * busy for seconds, and running slots' calls waited for them. */
static void recycle(struct pool *p, double now)
{
	const struct sb_profile *prof = p->profile;
	int live = p->n_live;
	int dying = 0;
	for (const struct sandbox *sb = p->sandboxes; sb; sb = sb->next)
		dying += sb->retiring && sb->state != SBX_DEAD;
	for (struct sandbox *sb = p->sandboxes; sb; sb = sb->next) {
		if (sb->state != SBX_RUNNING || sb->retiring)
			continue;
		bool old = prof->max_lifetime_s > 0 &&
			   now - sb->created_mono > prof->max_lifetime_s;
		if (old && !sb->draining) {
			sb->draining = true;
			sb_log(SB_LOG_INFO, "sandbox_drain", "sandbox", sb->id,
			       "why", "max_lifetime", SB_LOG_END);
		}
		if (has_leases(sb))
			continue;
		bool idle = prof->idle_timeout_s > 0 &&
			    now - sb->idle_since > prof->idle_timeout_s &&
			    live > prof->min_sandboxes;
		if ((!old && !idle) || dying >= POOL_MAX_RETIRING)
			continue;
		bool busy = false;
		for (int i = 0; i < sb->n_slots; i++)
			busy = busy || pool_slot_of(&sb->slots[i])->state ==
					       SLOT_RELEASING;
		if (busy)
			continue;
		sb_log(SB_LOG_INFO, "sandbox_recycle", "sandbox", sb->id, "why",
		       old ? "max_lifetime" : "idle_timeout", SB_LOG_END);
		sb->retiring = true;
		sandbox_kill(sb);
		live--;
		dying++;
	}
}

/* Give back leases whose holder has been silent for longer than their
 * TTL (a crashed trainer); a call in flight keeps its lease alive. */
static void expire_leases(struct pool *p, double now)
{
	for (struct sandbox *sb = p->sandboxes, *next; sb; sb = next) {
		next = sb->next;
		int leases = 0;
		for (int i = 0; i < sb->n_slots; i++)
			leases += pool_slot_of(&sb->slots[i])->leased;
		for (int i = 0; i < sb->n_slots; i++) {
			struct sbx_slot *s = &sb->slots[i];
			const struct pool_slot *ps = pool_slot_of(s);
			if (!ps->leased || ps->ttl_s <= 0 || s->n_calls > 0 ||
			    now - ps->last_used <= ps->ttl_s)
				continue;
			sb_log(SB_LOG_INFO, "lease_expired", "profile",
			       p->profile->name, "sandbox", sb->id, "slot",
			       s->id, "trajectory_id",
			       ps->trajectory_id[0] ? ps->trajectory_id : NULL,
			       SB_LOG_END);
			/* The last lease of a dead sandbox frees it. */
			bool frees = sb->state == SBX_DEAD && leases == 1;
			if (pool_release_recorded(s, true) < 0)
				continue; /* not recorded: the next tick */
			leases--;
			if (frees)
				break;
		}
	}
}

static void tick_cb(uv_timer_t *t)
{
	struct pools *ps = t->data;
	double now = sb_now_mono();
	for (size_t i = 0; i < ps->n; i++) {
		expire_leases(&ps->items[i], now);
		recycle(&ps->items[i], now);
		pool_scale(&ps->items[i]);
	}
}

int pools_init(struct pools *ps, struct sb_config *cfg, struct sbx_env *env,
	       struct journal *journal, struct sb_err *err)
{
	bool keep = ps->keep_on_stop;
	memset(ps, 0, sizeof *ps);
	ps->cfg = cfg;
	ps->env = env;
	/* every slot's pool_slot lives in the sandbox's block */
	env->slot_data_size = sizeof(struct pool_slot);
	ps->journal = journal;
	ps->keep_on_stop = keep;
	ps->n = cfg->n_profiles;
	ps->items = calloc(ps->n, sizeof *ps->items);
	ps->max_numbers = POOL_MAX_NUMBERS;
	ps->numbers = calloc((size_t)ps->max_numbers, 1);
	if (!ps->items || !ps->numbers ||
	    sandbox_index_init(&ps->index, (size_t)ps->max_numbers) < 0)
		return sb_err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < ps->n; i++) {
		ps->items[i].owner = ps;
		ps->items[i].profile = &cfg->profiles[i];
		ps->items[i].active = cfg->profiles[i].min_sandboxes > 0;
	}
	uv_timer_init(env->loop, &ps->tick);
	ps->tick.data = ps;
	uv_timer_start(&ps->tick, tick_cb, POOL_TICK_MS, POOL_TICK_MS);
	pools_adopt(ps);
	for (size_t i = 0; i < ps->n; i++)
		pool_scale(&ps->items[i]);
	return 0;
}

struct pool *pools_find(struct pools *ps, const char *profile)
{
	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->items[i].profile->name, profile) == 0)
			return &ps->items[i];
	return NULL;
}

struct sbx_slot *pools_find_slot(struct pools *ps, const char *slot_id,
				 bool *stale)
{
	const char *sep = strstr(slot_id, "_slot_");
	if (stale)
		*stale = false;
	if (!sep)
		return NULL;
	size_t base_len = strcspn(slot_id, ".");
	struct sandbox *sb =
		sandbox_index_get(&ps->index, slot_id, (size_t)(sep - slot_id));
	for (int k = 0; sb && k < sb->n_slots; k++) {
		struct sbx_slot *s = &sb->slots[k];
		if (s->base_len != base_len ||
		    memcmp(s->id, slot_id, base_len) != 0)
			continue;
		if (stale)
			*stale = strcmp(s->id, slot_id) != 0;
		return s;
	}
	return NULL;
}

void pools_shutdown(struct pools *ps, void (*stopped)(void *), void *ud)
{
	bool any = false;
	ps->stopping = true; /* no new starts (grow) from here */
	/* Every start asked is reported first, so that below each sandbox
	 * has its init (or is gone): none is being started while the pools
	 * kill or keep theirs. */
	launcher_settle(ps->env);
	ps->stopped = stopped;
	ps->stopped_ud = ud;
	uv_timer_stop(&ps->tick);
	uv_close((uv_handle_t *)&ps->tick, NULL);
	for (size_t i = 0; i < ps->n; i++) {
		struct pool *p = &ps->items[i];
		pool_fail_waiters(p, "internal", "the daemon is shutting down");
		for (struct sandbox *sb = p->sandboxes, *next; sb; sb = next) {
			next = sb->next;
			if (ps->keep_on_stop && sb->state != SBX_DEAD) {
				/* Journal records stay: the next daemon
				 * adopts the sandbox and its leases. */
				sandbox_index_del(&ps->index, sb);
				sandbox_detach(sb);
				continue;
			}
			if (sb->state == SBX_DEAD) {
				/* lost leases (a tombstone's too) end with a
				 * stop that ends every lease: nobody is left
				 * to ask, no record to keep */
				if (!ps->keep_on_stop)
					pool_unlink_sandbox(p, sb);
				continue;
			}
			sb->retiring = true;
			sandbox_kill(sb);
			any = true;
		}
		if (ps->keep_on_stop) {
			p->sandboxes = p->sandboxes_tail = NULL;
			p->first_free = NULL;
			p->open = NULL;
		}
	}
	if (!any)
		stopped(ud);
}
