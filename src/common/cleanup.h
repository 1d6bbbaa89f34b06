/* SPDX-License-Identifier: Apache-2.0 */
/* cleanup.h - scope-bound ownership in the style of bubblewrap.
 *
 * Declare `_cleanup_fd_ int fd = -1;` or `_cleanup_free_ char *p = NULL;`
 * and the resource is released when the variable goes out of scope.
 * Hand ownership on with steal_fd()/steal_ptr(). */
#ifndef SLOTBOX_COMMON_CLEANUP_H
#define SLOTBOX_COMMON_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void sb_cleanup_fdp(const int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void sb_cleanup_freep(void *p)
{
	free(*(void **)p);
}
static inline void sb_cleanup_filep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void sb_cleanup_dirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

#define _cleanup_fd_ __attribute__((cleanup(sb_cleanup_fdp)))
#define _cleanup_dir_ __attribute__((cleanup(sb_cleanup_dirp)))
#define _cleanup_free_ __attribute__((cleanup(sb_cleanup_freep)))
#define _cleanup_file_ __attribute__((cleanup(sb_cleanup_filep)))

static inline int steal_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}
static inline void *steal_ptr(void *pp)
{
	void **p = pp;
	void *r = *p;
	*p = NULL;
	return r;
}

#endif
