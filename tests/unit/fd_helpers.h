/* SPDX-License-Identifier: Apache-2.0 */
/* fd_helpers.h - what the wire tests ask of descriptors. */
#ifndef SLOTBOX_TESTS_FD_HELPERS_H
#define SLOTBOX_TESTS_FD_HELPERS_H

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* True when a and b are the same open file. */
static inline int same_file(int a, int b)
{
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* The read end of a pipe sees EOF: every copy of its write end is closed
 * (the way to tell that the receiver closed descriptors it refused). */
static inline int pipe_at_eof(int rd)
{
	char c;
	fcntl(rd, F_SETFL, fcntl(rd, F_GETFL) | O_NONBLOCK);
	return read(rd, &c, 1) == 0;
}

#endif
