/* SPDX-License-Identifier: Apache-2.0 */
/* pool_journal.c - the pools' memory across a daemon restart.
 *
 * Every sandbox is recorded when it starts ("sb-<id>") and forgotten when
 * it is freed; every lease is recorded when granted ("lease-<slot>") and
 * blanked when it ends (the file goes with its sandbox). At start,
 * pools_adopt() takes over the recorded sandboxes that still run, restores
 * their leases (same lease ids, so holders carry on), resets their unleased
 * slots (a release may have been cut short), and removes everything else a
 * predecessor left: processes, cgroups, scratch dirs, sockets, records.
 * A recorded sandbox that cannot be adopted (its init died meanwhile) with
 * recorded leases stays as a tombstone (sandbox_tombstone()): its leases
 * answer sandbox_lost until released or expired, then it goes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "pool/pool.h"
#include "store/journal.h"

/* 0, or -1/errno (ENOSPC when the state dir is full): the caller must not
 * grant what could not be recorded, or a restart would lose it. */
static int put(struct pools *ps, const char *name, json_t *doc)
{
	struct sb_err err = {0};
	int rc = 0;
	if (!doc) {
		err.sys_errno = ENOMEM;
		rc = -1;
	} else if (journal_put(ps->journal, name, doc, &err) < 0) {
		sb_log(SB_LOG_ERROR, "journal_write_failed", "record", name,
		       "why", err.msg, SB_LOG_END);
		rc = -1;
	}
	json_decref(doc);
	if (rc < 0)
		errno = err.sys_errno ? err.sys_errno : EIO;
	return rc;
}

static void drop(struct pools *ps, const char *name)
{
	struct sb_err err;
	if (journal_remove(ps->journal, name, &err) < 0)
		sb_log(SB_LOG_ERROR, "journal_write_failed", "record", name,
		       "why", err.msg, SB_LOG_END);
}

/* 0, or -1/errno (EMFILE: no descriptor to blank it with). */
static int clear(struct pools *ps, const char *name)
{
	struct sb_err err = {0};
	if (journal_clear(ps->journal, name, &err) == 0)
		return 0;
	sb_log(SB_LOG_ERROR, "journal_write_failed", "record", name, "why",
	       err.msg, SB_LOG_END);
	errno = err.sys_errno ? err.sys_errno : EIO;
	return -1;
}

int pool_journal_sandbox(struct pools *ps, const struct sandbox *sb)
{
	if (!ps->journal)
		return 0;
	char name[JOURNAL_NAME_MAX + 1];
	snprintf(name, sizeof name, "sb-%s", sb->id);
	return put(ps, name,
		   json_pack("{s:s, s:s, s:i, s:I, s:i, s:I, s:i, s:f, s:s}",
			     "id", sb->id, "profile", sb->profile->name,
			     "number", sb->number, "uid_base",
			     (json_int_t)sb->uid_base, "pid", (int)sb->pid,
			     "start_time", (json_int_t)sb->start_time,
			     "n_slots", sb->n_slots, "created_wall",
			     sb->created_wall, "template", sb->template_id));
}

static void lease_name(const struct sbx_slot *slot, char *buf, size_t len)
{
	snprintf(buf, len, "lease-%.*s", (int)slot->base_len, slot->id);
}

void pool_journal_forget_sandbox(struct pools *ps, const struct sandbox *sb)
{
	if (!ps->journal)
		return;
	char name[JOURNAL_NAME_MAX + 1];
	for (int i = 0; i < sb->n_slots; i++) {
		lease_name(&sb->slots[i], name, sizeof name);
		drop(ps, name);
	}
	snprintf(name, sizeof name, "sb-%s", sb->id);
	drop(ps, name);
}

int pool_journal_lease(struct pools *ps, const struct sbx_slot *slot)
{
	const struct pool_slot *lease = pool_slot_of(slot);
	if (!ps->journal)
		return 0;
	char name[JOURNAL_NAME_MAX + 1];
	lease_name(slot, name, sizeof name);
	json_t *traj = sb_json_string_lossy(lease->trajectory_id,
					    strlen(lease->trajectory_id), NULL);
	return put(ps, name,
		   json_pack("{s:I, s:o, s:f, s:f}", "lease_seq",
			     (json_int_t)lease->lease_seq, "trajectory_id",
			     traj, "acquired_at", lease->acquired_at, "ttl_s",
			     lease->ttl_s));
}

int pool_journal_unlease(struct pools *ps, const struct sbx_slot *slot)
{
	if (!ps->journal)
		return 0;
	char name[JOURNAL_NAME_MAX + 1];
	lease_name(slot, name, sizeof name);
	/* blanked, not removed: the slot's next lease rewrites it in place */
	return clear(ps, name);
}

/* ---- adoption at start ---- */

static int parse_record(json_t *doc, int max_numbers, struct sbx_record *rec,
			const char **profile)
{
	json_int_t number, pid, start, n_slots;
	const char *id;
	double created;
	if (json_unpack(doc, "{s:s, s:s, s:I, s:I, s:I, s:I, s:F}", "id", &id,
			"profile", profile, "number", &number, "pid", &pid,
			"start_time", &start, "n_slots", &n_slots,
			"created_wall", &created) < 0 ||
	    number < 0 || number >= max_numbers || pid <= 1 ||
	    pid > 0x7fffffff || start < 0 || n_slots < 1 || n_slots > 1000)
		return -1;
	/* Records of daemons before templates have none. */
	const char *tpl = json_string_value(json_object_get(doc, "template"));
	if (tpl && (strlen(tpl) > 16 ||
		    strspn(tpl, "0123456789abcdef") != strlen(tpl)))
		return -1;
	/* Records of daemons before uid ranges have none (SBX_UID_BASE). */
	json_int_t uid_base =
		json_integer_value(json_object_get(doc, "uid_base"));
	if (uid_base < 0 || uid_base > 0x7fff0000)
		return -1;
	*rec = (struct sbx_record){.id = id,
				   .number = (int)number,
				   .pid = (pid_t)pid,
				   .start_time = (uint64_t)start,
				   .n_slots = (int)n_slots,
				   .created_wall = created,
				   .template_id = tpl ? tpl : "",
				   .uid_base = (uid_t)uid_base};
	return 0;
}

static void link_adopted(struct pool *p, struct sandbox *sb)
{
	pool_link_sandbox(p, sb);
	p->n_live++;
	p->owner->numbers[sb->number] = 1;
}

static int adopt_one(const char *name, json_t *doc, void *ud)
{
	struct pools *ps = ud;
	struct sbx_record rec;
	const char *profile = NULL;
	struct sb_err err = {0};
	if (json_object_size(doc) == 0) {
		/* cleared: a daemon killed between taking a spare for the
		 * record and writing it, or while removing it */
		drop(ps, name);
		return 0;
	}
	if (parse_record(doc, ps->max_numbers, &rec, &profile) < 0 ||
	    strcmp(name + 3, rec.id) != 0) {
		sb_log(SB_LOG_WARN, "journal_bad_record", "record", name,
		       SB_LOG_END);
		drop(ps, name);
		return 0;
	}
	struct pool *p = pools_find(ps, profile);
	struct sandbox *sb = NULL;
	if (!p)
		sb_err_set(&err, 0, "profile %s is no longer served", profile);
	else if (ps->numbers[rec.number])
		sb_err_set(&err, 0, "its number is taken");
	else if (sandbox_adopt(ps->env, p->profile, p, &rec, &sb, &err) == 0)
		link_adopted(p, sb);
	if (sb && strcmp(sb->template_id, p->profile->template_id) != 0) {
		/* Its slots stand on the template it started with: it keeps
		 * its leases and takes no new ones (a fork or snapshot of
		 * it is refused: its layers are not the profile's). */
		sb->draining = true;
		sb_log(SB_LOG_INFO, "sandbox_drain", "sandbox", rec.id, "why",
		       "workspace_template changed", SB_LOG_END);
	}
	if (sb) {
		char pid[16];
		snprintf(pid, sizeof pid, "%d", (int)rec.pid);
		sb_log(SB_LOG_INFO, "sandbox_adopted", "sandbox", rec.id, "pid",
		       pid, SB_LOG_END);
		return 0;
	}
	sb_log(SB_LOG_WARN, "sandbox_not_adopted", "sandbox", rec.id, "why",
	       err.msg, SB_LOG_END);
	sandbox_reap_record(ps->env, &rec);
	/* Its leases are lost, not unknown: a tombstone keeps them (and the
	 * record) so that their holders get sandbox_lost until they release,
	 * as for a sandbox lost while the daemon runs. One that gets no
	 * lease goes at the end of pools_adopt. Without its pool or number
	 * (both unexpected) the record is dropped, leases too. */
	if (p && !ps->numbers[rec.number])
		sb = sandbox_tombstone(ps->env, p->profile, p, &rec, err.msg);
	if (!sb) {
		drop(ps, name);
		return 0;
	}
	pool_link_sandbox(p, sb);
	ps->numbers[sb->number] = 1; /* freed with it, as a live one's */
	return 0;
}

/* A slot of a tombstone is lost (SLOT_ERROR), and says why. */
static void tombstone_slot_lost(struct sbx_slot *slot)
{
	struct pool_slot *ps = pool_slot_of(slot);
	pool_slot_move(slot, SLOT_EV_LOST);
	snprintf(ps->error, sizeof ps->error,
		 "sandbox lost while the daemon was down: %s",
		 slot->sb->lost_reason);
}

static int restore_lease(const char *name, json_t *doc, void *ud)
{
	struct pools *ps = ud;
	json_int_t seq;
	const char *traj;
	double at, ttl;
	bool stale = true;
	struct sbx_slot *slot = pools_find_slot(ps, name + 6, &stale);
	if (!slot || stale || pool_slot_of(slot)->leased ||
	    json_unpack(doc, "{s:I, s:s, s:F, s:F}", "lease_seq", &seq,
			"trajectory_id", &traj, "acquired_at", &at, "ttl_s",
			&ttl) < 0 ||
	    seq < 1 || seq > 0x7fffffff) {
		drop(ps, name);
		return 0;
	}
	struct pool_slot *lease = pool_slot_of(slot);
	lease->lease_seq = (unsigned)seq - 1;
	/* bumps lease_seq back; the adopted slot (or the tombstone's) is
	 * still starting */
	if (pool_lease(slot, SLOT_EV_RESTORE, traj, ttl > 0 ? ttl : 0) < 0)
		return 0; /* not recorded again: the slot starts afresh */
	lease->acquired_at = at;
	if (slot->sb->state == SBX_DEAD) {
		/* on a tombstone: held, answered sandbox_lost (lease->error) */
		tombstone_slot_lost(slot);
		sb_log(SB_LOG_INFO, "lease_restored_lost", "slot", slot->id,
		       "why", slot->sb->lost_reason, SB_LOG_END);
		return 0;
	}
	sb_log(SB_LOG_INFO, "lease_restored", "slot", slot->id, SB_LOG_END);
	return 0;
}

static bool has_lease(const struct sandbox *sb)
{
	for (int i = 0; i < sb->n_slots; i++)
		if (pool_slot_of(&sb->slots[i])->leased)
			return true;
	return false;
}

/* Tombstones that got no lease (none recorded, or none could be rewritten)
 * go now, with their records; the unleased slots of the others are lost
 * too. */
static void drop_empty_tombstones(struct pool *p)
{
	for (struct sandbox *sb = p->sandboxes, *next; sb; sb = next) {
		next = sb->next;
		if (sb->state != SBX_DEAD)
			continue;
		if (!has_lease(sb)) {
			pool_unlink_sandbox(p, sb);
			continue;
		}
		for (int i = 0; i < sb->n_slots; i++)
			if (!pool_slot_of(&sb->slots[i])->leased)
				tombstone_slot_lost(&sb->slots[i]);
	}
}

static bool is_adopted(const char *id, void *ud)
{
	struct pools *ps = ud;
	for (size_t i = 0; i < ps->n; i++)
		for (struct sandbox *sb = ps->items[i].sandboxes; sb;
		     sb = sb->next)
			if (strcmp(sb->id, id) == 0)
				return true;
	return false;
}

void pools_adopt(struct pools *ps)
{
	if (ps->journal) {
		journal_each(ps->journal, "sb-", adopt_one, ps);
		journal_each(ps->journal, "lease-", restore_lease, ps);
	}
	for (size_t i = 0; i < ps->n; i++)
		drop_empty_tombstones(&ps->items[i]);
	/* An unleased slot may have been cut short in a release: start it
	 * afresh rather than hand out a workspace someone else used. */
	for (size_t i = 0; i < ps->n; i++) {
		for (struct sandbox *sb = ps->items[i].sandboxes; sb;
		     sb = sb->next) {
			if (sb->state == SBX_DEAD)
				continue;
			sb->idle_since = sb_now_mono();
			for (int k = 0; k < sb->n_slots; k++) {
				struct sbx_slot *s = &sb->slots[k];
				if (pool_slot_of(s)->leased)
					continue;
				pool_slot_move(s, SLOT_EV_RESTART);
				sandbox_release_slot(s, true);
			}
		}
	}
	sandbox_sweep(ps->env, is_adopted, ps);
}
