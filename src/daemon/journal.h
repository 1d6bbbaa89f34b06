/* journal.h - what slotboxd must remember across its own death: the
 * sandboxes it started and the leases it granted, one small JSON record
 * each in <state>/journal.
 *
 * A record is replaced atomically (write a temp file, rename), so a reader
 * sees the old or the new one, never a torn one. Records are not fsync()ed:
 * they only have to survive the daemon's death (kill -9, a crash), which
 * the page cache does; a host crash ends every sandbox anyway, and a
 * restart then finds records whose processes are gone and drops them. */
#ifndef SLOTBOX_DAEMON_JOURNAL_H
#define SLOTBOX_DAEMON_JOURNAL_H

#include <jansson.h>
#include <limits.h>

#include "common/err.h"

#define JOURNAL_NAME_MAX 160

struct journal {
	int dirfd; /* -1 when closed */
	char path[PATH_MAX];
};

/* Open (creating) <state_dir>/journal, mode 0700; stray temp files of an
 * interrupted write are removed. */
int journal_open(struct journal *j, const char *state_dir, struct sb_err *err);
void journal_close(struct journal *j);

/* Create or replace record `name` ([A-Za-z0-9_.-], no leading dot). */
int journal_put(struct journal *j, const char *name, json_t *doc,
		struct sb_err *err);

/* Remove a record; a missing one is not an error. */
int journal_remove(struct journal *j, const char *name, struct sb_err *err);

/* Call fn for each record whose name starts with prefix, in no particular
 * order. A record that is not a JSON object is removed and logged. fn
 * returns < 0 to stop; that value is returned. doc is borrowed. */
int journal_each(struct journal *j, const char *prefix,
		 int (*fn)(const char *name, json_t *doc, void *ud), void *ud);

#endif
