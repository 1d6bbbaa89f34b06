/* SPDX-License-Identifier: Apache-2.0 */
/* journal.h - what slotboxd must remember across its own death: the
 * sandboxes it started and the leases it granted, one small JSON record
 * each in <state>/journal.
 *
 * A new record is written to a temp file and renamed into place; records
 * are padded with blanks to 512-byte blocks, so a replacement of the same
 * size (a lease on the same slot) is one pwrite in place, which the
 * daemon's death cannot tear. Either way a reader sees the old or the new
 * record, never a torn one. Records are not fsync()ed:
 * they only have to survive the daemon's death (kill -9, a crash), which
 * the page cache does; a host crash ends every sandbox anyway, and a
 * restart then finds records whose processes are gone and drops them.
 *
 * A removed record's file is not deleted but blanked and kept as a spare
 * (spares.h, at most STORE_SPARES_MAX): a new record is written into a
 * spare renamed into place, which creates no inode. Killed in between,
 * the daemon leaves a cleared record (read as {}), never a torn or
 * foreign one; spares themselves are never records. */
#ifndef SLOTBOX_STORE_JOURNAL_H
#define SLOTBOX_STORE_JOURNAL_H

#include <jansson.h>
#include <limits.h>

#include "common/err.h"
#include "store/spares.h"
#include "store/store.h"

#define JOURNAL_NAME_MAX 160

struct journal {
	struct store_dir dir; /* dir.fd -1 when closed */
	struct store_spares spares;
};

/* Open (creating) <state_dir>/journal, mode 0700; stray temp files of an
 * interrupted write are removed, spares kept (up to STORE_SPARES_MAX). */
int journal_open(struct journal *j, const char *state_dir, struct sb_err *err);
void journal_close(struct journal *j);
/* Remove the spares (a daemon that stops leaves none). */
void journal_drop_spares(struct journal *j);

/* Create or replace record `name` ([A-Za-z0-9_.-], no leading dot). */
int journal_put(struct journal *j, const char *name, json_t *doc,
		struct sb_err *err);

/* Blank a record in place (it then reads as {}), keeping the file for the
 * next journal_put of the name; a missing one is not an error. */
int journal_clear(struct journal *j, const char *name, struct sb_err *err);

/* Remove a record (its file blanked and kept as a spare while there is
 * room); a missing one is not an error. */
int journal_remove(struct journal *j, const char *name, struct sb_err *err);

/* Call fn for each record whose name starts with prefix, in no particular
 * order. A record that is not a JSON object is removed and logged; a
 * cleared one is passed as {}. fn
 * returns < 0 to stop; that value is returned. doc is borrowed. */
int journal_each(struct journal *j, const char *prefix,
		 int (*fn)(const char *name, json_t *doc, void *ud), void *ud);

#endif
