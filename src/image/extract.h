/* extract.h - unpack an image layer (or an image archive) safely.
 *
 * Every entry's path is checked before anything is written: no absolute
 * paths, no "..", no device nodes, no hard link whose target leaves the
 * tree; libarchive's secure flags also refuse to write through a symlink.
 * The first bad entry aborts the extraction; the caller removes the
 * half-written directory, so nothing of a refused archive stays. */
#ifndef SLOTBOX_IMAGE_EXTRACT_H
#define SLOTBOX_IMAGE_EXTRACT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

/* Unpack the (possibly compressed) tar read from archive_fd (from its
 * current offset) into the existing empty
 * directory dest. With oci_whiteouts, ".wh.NAME" entries become overlayfs
 * whiteouts (char 0:0) and ".wh..wh..opq" marks its directory opaque.
 * max_bytes bounds the total unpacked size. */
int extract_tar(int archive_fd, const char *dest, bool oci_whiteouts,
		uint64_t max_bytes, struct sb_err *err);

/* The checks, exposed for unit tests: 0 if an entry path (or a hard
 * link's target) may be written under the extraction root. */
int extract_path_ok(const char *path);

#endif
