#include "sandbox/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"

const char *cg_mode_name(enum cg_mode mode)
{
	switch (mode) {
	case CG_V2:
		return "v2";
	case CG_V1_FREEZER:
		return "v1";
	default:
		return "none";
	}
}

static enum cg_mode fs_mode(const char *mnt)
{
	struct statfs sf;
	if (statfs(mnt, &sf) < 0)
		return CG_NONE;
	if (sf.f_type == CGROUP2_SUPER_MAGIC)
		return CG_V2;
	/* A v1 mount is taken as the freezer hierarchy: detection only
	 * offers /sys/fs/cgroup/freezer, an override must name one. */
	if (sf.f_type == CGROUP_SUPER_MAGIC)
		return CG_V1_FREEZER;
	return CG_NONE;
}

void cg_root_setup(struct cg_root *r, const char *mount_override,
		   const char *instance, char *why, size_t whylen)
{
	static const char *const candidates[] = {"/sys/fs/cgroup",
						 "/sys/fs/cgroup/unified",
						 "/sys/fs/cgroup/freezer"};
	const char *mnt = NULL;

	r->mode = CG_NONE;
	r->fd = -1;
	r->path[0] = '\0';
	snprintf(why, whylen, "no cgroup v2 or v1 freezer hierarchy found");
	if (mount_override && strcmp(mount_override, "none") == 0) {
		snprintf(why, whylen, "cgroups disabled by configuration");
		return;
	}
	if (mount_override) {
		r->mode = fs_mode(mount_override);
		mnt = mount_override;
	} else {
		for (size_t i = 0; i < 3 && r->mode == CG_NONE; i++) {
			r->mode = fs_mode(candidates[i]);
			mnt = candidates[i];
		}
	}
	if (r->mode == CG_NONE)
		return;
	snprintf(r->path, sizeof r->path, "%s/slotbox/%s", mnt, instance);
	if (sb_mkdir_p(r->path, 0755) < 0) {
		snprintf(why, whylen, "create %s: %s", r->path,
			 strerror(errno));
		r->mode = CG_NONE;
		return;
	}
	r->fd = open(r->path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		snprintf(why, whylen, "open %s: %s", r->path, strerror(errno));
		r->mode = CG_NONE;
		return;
	}
	snprintf(why, whylen, "%s", r->path);
}

int cg_sandbox_create(const struct cg_root *r, const char *sandbox_id,
		      int *fd_out, struct sb_err *err)
{
	*fd_out = -1;
	if (r->mode == CG_NONE)
		return 0;
	if (mkdirat(r->fd, sandbox_id, 0755) < 0 && errno != EEXIST)
		return sb_err_sys(err, "create cgroup %s/%s", r->path,
				  sandbox_id);
	*fd_out = openat(r->fd, sandbox_id, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (*fd_out < 0)
		return sb_err_sys(err, "open cgroup %s/%s", r->path,
				  sandbox_id);
	return 0;
}

/* rmdir the children of dir (depth first), then dir itself from parent. */
static int remove_tree(int parent, const char *name, enum cg_mode mode,
		       int depth)
{
	int fd = openat(parent, name, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	calltree_kill_dir(fd, mode);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.' || depth > 8)
			continue;
		if (remove_tree(dirfd(d), e->d_name, mode, depth + 1) < 0)
			rc = -1;
	}
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

int cg_sandbox_remove(const struct cg_root *r, const char *sandbox_id)
{
	if (r->mode == CG_NONE)
		return 0;
	return remove_tree(r->fd, sandbox_id, r->mode, 0);
}

void cg_root_teardown(struct cg_root *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (r->mode != CG_NONE)
		rmdir(r->path);
}
