/* SPDX-License-Identifier: Apache-2.0 */
/* scratch.c - sandboxes' scratch dirs, <state>/sandboxes/<id>: the
 * mountpoint of each sandbox's tmpfs (mounted in its own mount namespace,
 * so the dir stays empty on the host). A freed sandbox's dir is kept as a
 * spare (store/spares.h) and the next sandbox's is that spare renamed:
 * creating a dir on a disk that saw many deletions costs ~0.3 ms on ext4.
 * Spares start with a dot, which sandbox_sweep() leaves alone. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "sandbox/sandbox_internal.h"
#include "store/spares.h"

/* Open <state>/sandboxes (creating it) and learn its spares, once. */
static int scratch_open(struct sbx_env *env)
{
	if (env->scratch_open)
		return env->scratch_fd >= 0 ? 0 : -1;
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/sandboxes", env->state_dir);
	env->scratch_open = true;
	env->scratch_fd = -1;
	if (sb_mkdir_p(dir, 0700) < 0)
		return -1;
	env->scratch_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (env->scratch_fd < 0 ||
	    store_spares_scan(&env->scratch_spares, env->scratch_fd, S_IFDIR) <
		    0) {
		env->scratch_spares.have = 0;
		return -1;
	}
	return 0;
}

int sandbox_scratch_make(struct sandbox *sb)
{
	struct sbx_env *env = sb->env;
	if (scratch_open(env) == 0 &&
	    store_spares_take(&env->scratch_spares, env->scratch_fd, sb->id) >
		    0)
		return 0;
	return sb_mkdir_p(sb->scratch, 0700);
}

/* Is the dir ours as sandbox_scratch_make() left it: owned by us, mode
 * 0700, empty? Only such a dir is a spare. */
static bool scratch_pristine(int parent, const char *name)
{
	int fd = openat(parent, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() ||
	    (st.st_mode & 07777) != 0700) {
		close(fd);
		return false;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return false;
	}
	bool empty = true;
	struct dirent *e;
	while (empty && (e = readdir(d)))
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	closedir(d);
	return empty;
}

void sandbox_scratch_close(struct sbx_env *env)
{
	if (env->scratch_open && env->scratch_fd >= 0) {
		store_spares_drop(&env->scratch_spares, env->scratch_fd);
		close(env->scratch_fd);
	}
	/* for good: a sandbox freed after this is rmdir()ed */
	env->scratch_open = true;
	env->scratch_fd = -1;
}

void sandbox_scratch_drop(struct sandbox *sb)
{
	struct sbx_env *env = sb->env;
	if (scratch_open(env) == 0 && ~env->scratch_spares.have &&
	    scratch_pristine(env->scratch_fd, sb->id) &&
	    store_spares_put(&env->scratch_spares, env->scratch_fd, sb->id) > 0)
		return;
	if (rmdir(sb->scratch) < 0 && errno != ENOENT)
		sb_rm_rf(sb->scratch);
}
