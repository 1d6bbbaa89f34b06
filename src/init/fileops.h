/* SPDX-License-Identifier: Apache-2.0 */
/* fileops.h - file tools inside a slot, never through a shell.
 *
 * Run in a child of the slot's leader that has dropped to the slot's uid:
 * every path is resolved with openat2() - relative paths RESOLVE_BENEATH
 * the workspace, absolute ones RESOLVE_IN_ROOT of the slot's own root -
 * and magic links are refused, so no path, `..` or symlink reaches the
 * host or another slot. */
#ifndef SLOTBOX_INIT_FILEOPS_H
#define SLOTBOX_INIT_FILEOPS_H

#include "wire/proto.h"

/* Where paths resolve: absolute ones in root, relative ones beneath
 * workspace. In a slot root is "/" (the slot's own root); the fuzzer
 * (fuzz/fuzz_path.c) gives a scratch tree, so that absolute paths are
 * judged the same way without touching the host's files. */
struct fileops_dirs {
	const char *root;
	const char *workspace;
};

/* Perform req; in_fd holds the data to write (SB_FILE_WRITE), out_fd gets
 * the reply header and the data. Returns the process exit code. */
int fileops_run(const struct sb_file_req *req, const struct fileops_dirs *dirs,
		int in_fd, int out_fd);

/* SB_FILE_UNPACK (fileops_unpack.c): extract the archive in in_fd under
 * req->path (created), as the caller's uid, all or nothing. The reply's
 * size is the bytes unpacked; its data the entry count, or on failure a
 * message (err EBADMSG: a refused or malformed archive; EFBIG, ENOSPC,
 * EDQUOT: a bound or the disk; EEXIST: it would replace a directory with
 * a file or the reverse). */
int fileops_unpack(const struct sb_file_req *req,
		   const struct fileops_dirs *dirs, int in, int out);

/* Open path (resolved as described above) with flags; -1/errno. EXDEV
 * and ELOOP mean the path tried to leave its root. */
int fileops_open(const struct fileops_dirs *dirs, const char *path, int flags,
		 unsigned mode);

#endif
