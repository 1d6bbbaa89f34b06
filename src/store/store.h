/* SPDX-License-Identifier: Apache-2.0 */
/* store.h - one directory of named entries that appear whole or not at
 * all: what the journal, the snapshots, the templates and the image store
 * have in common.
 *
 * An entry is built under a temporary name and renamed into place, so a
 * reader of the final name sees the old entry or the new one, never half
 * of one; a directory entry is deleted by renaming it aside first when it
 * may be in use. Temporary names start with a dot: ".tmp-<16 hex>" for a
 * directory being built, ".trash-<16 hex>" for one being deleted,
 * ".<name>.tmp" for a file being replaced. What an interrupted change
 * leaves is removed the next time the store is opened (store_sweep).
 *
 * Nothing here calls fsync(): every store only has to survive the
 * daemon's death (kill -9, a crash), which the page cache does; after a
 * host crash no sandbox is left that a record could describe, and the
 * caches (templates, image layers) are rebuilt from their sources. */
#ifndef SLOTBOX_STORE_STORE_H
#define SLOTBOX_STORE_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

/* Room for a temporary name of store_mkdtemp / store_trash_name. */
#define STORE_TMP_NAME_MAX 32

struct store_dir {
	int fd; /* O_DIRECTORY; -1 when closed */
	char path[PATH_MAX];
};

/* Open <parent>/<name>, creating it with mode 0700 when missing; its
 * parent must exist. Sweeps nothing (see store_sweep). */
int store_dir_open(struct store_dir *d, const char *parent, const char *name,
		   struct sb_err *err);
void store_dir_close(struct store_dir *d);

/* Is name one of the temporary names above? */
bool store_name_temporary(const char *name, void *ud);

/* Remove every entry of dirfd (a tree, or anything else) for which
 * drop(name, ud) is true; "." and ".." are never offered. The number
 * removed, or -1 with errno when the dir cannot be read. */
int store_sweep(int dirfd, bool (*drop)(const char *name, void *ud), void *ud);

/* Remove name (a directory tree, or anything else) below dirfd without
 * following symlinks; 0 or -1/errno; a missing name is not an error. */
int store_remove(int dirfd, const char *name);

/* Create a directory ".tmp-<16 hex>" (mode 0700) in dirfd; its name goes
 * to tmp. */
int store_mkdtemp(int dirfd, char tmp[STORE_TMP_NAME_MAX], struct sb_err *err);

/* A fresh ".trash-<16 hex>" name to rename an entry to before removing it. */
int store_trash_name(char trash[STORE_TMP_NAME_MAX], struct sb_err *err);

/* Create or replace the file name in dirfd (mode 0600) with len bytes of
 * buf: written to ".<name>.tmp" and renamed over name. On failure name is
 * unchanged and no temporary file is left; err names the file. */
int store_write_atomic(int dirfd, const char *name, const void *buf, size_t len,
		       struct sb_err *err);

enum store_publish {
	STORE_REPLACE,	 /* replace what is there (a file, an empty dir) */
	STORE_NOREPLACE, /* fail with EEXIST when name exists */
	STORE_KEEP,	 /* a content-named dir: a twin already there is as
			    good (a file would be replaced) */
};

/* Rename the finished temporary entry tmp (in fromfd) to name (in tofd;
 * AT_FDCWD with absolute paths works too). 0 when renamed; 1 under
 * STORE_KEEP when name was already there, and tmp is left for the caller
 * to remove; -1 with err (EEXIST under STORE_NOREPLACE). */
int store_publish(int fromfd, const char *tmp, int tofd, const char *name,
		  enum store_publish how, struct sb_err *err);

#endif
