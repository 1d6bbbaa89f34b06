/* fileops.h - file tools inside a slot, never through a shell.
 *
 * Run in a child of the slot's leader that has dropped to the slot's uid:
 * every path is resolved with openat2() - relative paths RESOLVE_BENEATH
 * the workspace, absolute ones RESOLVE_IN_ROOT of the slot's own root -
 * and magic links are refused, so no path, `..` or symlink reaches the
 * host or another slot. */
#ifndef SLOTBOX_SANDBOX_FILEOPS_H
#define SLOTBOX_SANDBOX_FILEOPS_H

#include "sandbox/proto.h"

/* Perform req; in_fd holds the data to write (SB_FILE_WRITE), out_fd gets
 * the reply header and the data. Returns the process exit code. */
int fileops_run(const struct sb_file_req *req, const char *workspace, int in_fd,
		int out_fd);

/* Open path (resolved as described above) with flags; -1/errno. EXDEV
 * and ELOOP mean the path tried to leave its root. */
int fileops_open(const char *workspace, const char *path, int flags,
		 unsigned mode);

#endif
