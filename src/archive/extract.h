/* SPDX-License-Identifier: Apache-2.0 */
/* extract.h - slotbox's one archive extractor: image layers and image
 * archives (slotbox-image), uploads into a slot (the leader's file-op
 * child) and workspace templates (the daemon, at start), each under a
 * policy of its own (extract_policy_*).
 *
 * Extraction works from an fd on the destination, never from the working
 * directory. Every entry's path is checked before anything is written: no
 * absolute paths, no "..", no device nodes, no entry in place of the root,
 * none written through a symlink already in the tree, no hard link whose
 * target leaves the tree; libarchive's secure flags also refuse to write
 * through a symlink. The first bad entry aborts the extraction; the
 * caller removes the half-written directory, so nothing of a refused
 * archive stays. fuzz/fuzz_archive.c runs all three policies. */
#ifndef SLOTBOX_ARCHIVE_EXTRACT_H
#define SLOTBOX_ARCHIVE_EXTRACT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

/* What an extraction allows beyond the checks above. */
struct extract_policy {
	/* ".wh.NAME" entries become overlayfs whiteouts (char 0:0) and
	 * ".wh..wh..opq" marks its directory opaque (image layers). */
	bool oci_whiteouts;
	bool zip;	  /* read zip archives (else tar, any filter) */
	bool keep_owners; /* chown to the archive's owners (as root) */
	/* Only files, directories, symlinks and hard links to a file the
	 * archive already put in the tree (no FIFO, socket or device). */
	bool ordinary_only;
	/* A symlink's target relative and never climbing above the
	 * extraction root. */
	bool symlinks_inside;
	bool drop_setid;      /* set-id bits dropped */
	uint64_t max_bytes;   /* bound on the data unpacked */
	uint64_t max_entries; /* bound on the entries; 0 = none */
};

/* An image layer (oci_whiteouts) or the outer archive of an import: tar,
 * owners kept (slotbox-image runs as root). */
struct extract_policy extract_policy_layer(bool oci_whiteouts,
					   uint64_t max_bytes);

/* An upload into a slot (PUT /v1/slots/{id}/archive), unpacked as the
 * slot's uid: ordinary entries only, symlinks inside, no set-id bit (a
 * slot's files are its user's). */
struct extract_policy extract_policy_upload(bool zip, uint64_t max_bytes,
					    uint64_t max_entries);

/* A profile's workspace_template archive, unpacked by the daemon as root
 * into the template store: ordinary entries only, owned by root whatever
 * the archive says; a symlink may point anywhere (it resolves inside the
 * slot's own root). */
struct extract_policy extract_policy_template(bool zip, uint64_t max_bytes,
					      uint64_t max_entries);

struct extract_stats {
	uint64_t entries, bytes;
};

/* Unpack the archive read from archive_fd (from its current offset) into
 * the existing empty directory dest under pol. On failure err's code says
 * why: EPERM a refused entry, EFBIG a bound passed, ENOSPC/EDQUOT the
 * disk, EIO a malformed archive. stats (may be NULL) counts what was
 * written. */
int extract_archive(int archive_fd, const char *dest,
		    const struct extract_policy *pol,
		    struct extract_stats *stats, struct sb_err *err);

/* A (possibly compressed) tar of an image, owners kept. */
int extract_tar(int archive_fd, const char *dest, bool oci_whiteouts,
		uint64_t max_bytes, struct sb_err *err);

/* Mark the directory dir opaque for overlayfs, in trusted.overlay.* and
 * (where the file system has user xattrs) user.overlay.*: see
 * extract.c. 0 or -1 with errno. */
int extract_mark_opaque(int dir);

/* The checks, exposed for unit tests: 0 if an entry path (or a hard
 * link's target) may be written under the extraction root. */
int extract_path_ok(const char *path);

/* 0 if a symlink at path (relative to the root) with this target stays
 * inside the root: a relative target whose ".." components all come
 * first and climb no higher than path's own directory. */
int extract_symlink_ok(const char *path, const char *target);

#endif
