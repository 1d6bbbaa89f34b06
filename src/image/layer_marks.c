/* SPDX-License-Identifier: Apache-2.0 */
/* layer_marks.c - the overlay marks of a stored layer that a sandbox in a
 * user namespace of its own can read (userns: true).
 *
 * Such a sandbox mounts its overlays with userxattr: overlayfs then reads
 * user.overlay.* where the host's overlays read trusted.overlay.*. Layers
 * unpacked since carry both (extract_mark_opaque); a layer an older
 * slotbox unpacked has trusted.overlay.opaque only, and gets its twin here
 * when an import finds it in the store (re-importing an image is the fix
 * the daemon names when it refuses one: sandbox.c). Whiteouts are 0:0
 * character devices, which both modes read. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "archive/extract.h"
#include "common/cleanup.h"
#include "image/store_internal.h"

/* Deeper than any real layer; a bound on the open descriptors. */
#define MARK_MAX_DEPTH 256

bool image_store_has_user_xattrs(const char *dir)
{
	if (setxattr(dir, "user.slotbox.probe", "1", 1, 0) < 0)
		return false;
	removexattr(dir, "user.slotbox.probe");
	return true;
}

static bool is_dir(int fd, const struct dirent *e)
{
	struct stat st;
	if (e->d_type != DT_UNKNOWN)
		return e->d_type == DT_DIR;
	return fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISDIR(st.st_mode);
}

static int mark_dir(int fd, int depth, struct sb_err *err)
{
	char v[4];
	if (depth > MARK_MAX_DEPTH)
		return sb_err_set(err, ELOOP, "layer too deep");
	if (fgetxattr(fd, "trusted.overlay.opaque", v, sizeof v) == 1 &&
	    v[0] == 'y' && extract_mark_opaque(fd) < 0)
		return sb_err_sys(err, "mark an opaque dir");
	int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dup < 0 ? NULL : fdopendir(dup);
	if (!d) {
		if (dup >= 0)
			close(dup);
		return sb_err_sys(err, "read a layer dir");
	}
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    !is_dir(fd, e))
			continue;
		_cleanup_fd_ int sub =
			openat(fd, e->d_name,
			       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		rc = sub < 0 ? sb_err_sys(err, "open a layer dir")
			     : mark_dir(sub, depth + 1, err);
	}
	closedir(d);
	return rc;
}

int image_layer_add_user_marks(const char *layer, struct sb_err *err)
{
	_cleanup_fd_ int fd =
		open(layer, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return sb_err_sys(err, "open %s", layer);
	return mark_dir(fd, 0, err) < 0 ? sb_err_prefix(err, "%s", layer) : 0;
}
