/* SPDX-License-Identifier: Apache-2.0 */
/* spares.h - emptied entries of a store directory kept for reuse.
 *
 * Creating an inode can cost far more than writing one: ext4 scans for a
 * free inode past the recently deleted ones ("recently_deleted"), ~0.3 ms
 * a create on a disk that has seen many deletions, and the daemon's own
 * churn (sandboxes started and freed) makes those deletions. So an entry
 * that would be deleted (a journal record, a sandbox's scratch dir) is
 * renamed to ".spare-<n>" instead, n < STORE_SPARES_MAX, and the next
 * entry of the kind is a spare renamed into place. Renames create no
 * inode. Spare names start with a dot, which no entry's name does, so
 * nothing that lists entries mistakes one for an entry, and store_sweep's
 * temporary names are not spare names. The caller keeps spares empty
 * (blank records, empty dirs): a spare must read as no entry when the
 * daemon dies between taking one and filling it. */
#ifndef SLOTBOX_STORE_SPARES_H
#define SLOTBOX_STORE_SPARES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define STORE_SPARES_MAX 64

struct store_spares {
	uint64_t have; /* bit n: ".spare-<n>" is there */
};

/* Is name a spare's name (".spare-" and digits)? */
bool store_name_spare(const char *name);

/* The name of spare n, ".spare-<n>". */
void store_spare_name(char out[32], int n);

/* Learn the spares of dirfd: those of type (S_IFREG, S_IFDIR) numbered
 * below STORE_SPARES_MAX are kept, other spare names removed. The number
 * kept, or -1 with errno when dirfd cannot be read. */
int store_spares_scan(struct store_spares *s, int dirfd, mode_t type);

/* Rename the entry name of dirfd to a free spare name. 1 when renamed, 0
 * when every spare name is taken (name is left for the caller to
 * delete), -1 with errno. */
int store_spares_put(struct store_spares *s, int dirfd, const char *name);

/* Rename a spare of dirfd to name, which must not exist. 1 when renamed,
 * 0 when there is no spare (or the file system cannot rename without
 * replacing), -1 with errno (EEXIST: name is there). */
int store_spares_take(struct store_spares *s, int dirfd, const char *name);

/* Remove every spare of dirfd this knows of (a daemon that stops leaves
 * none behind). */
void store_spares_drop(struct store_spares *s, int dirfd);

#endif
