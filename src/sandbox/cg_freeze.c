/* SPDX-License-Identifier: Apache-2.0 */
/* cg_freeze.c - hold a slot still while its workspace is copied.
 *
 * A fork or a snapshot copies a running slot's files; freezing the slot's
 * group (every process it has, its calls included) for the length of the
 * copy makes the copy one moment's state rather than a smear of writes.
 * cgroup v2 has cgroup.freeze and reports "frozen 1" in cgroup.events;
 * the v1 freezer has freezer.state. Runs on worker threads: no globals. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "sandbox/cgroup.h"

#define FREEZE_WAIT_US 1000000
#define FREEZE_POLL_US 500

void cg_slot_path(const struct cg_root *r, const char *sandbox_id, int slot,
		  char *buf, size_t len)
{
	if (r->mode == CG_NONE || r->n_hier < 1)
		buf[0] = '\0';
	else
		snprintf(buf, len, "%s/%s/s%d", r->hier[0].path, sandbox_id,
			 slot);
}

static int put(const char *group, const char *file, const char *val)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/%s", group, file);
	_cleanup_fd_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, val, strlen(val));
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

static bool settled(const char *group, enum cg_mode mode, bool freeze)
{
	char path[PATH_MAX + 32], buf[512];
	snprintf(path, sizeof path, "%s/%s", group,
		 mode == CG_V2 ? "cgroup.events" : "freezer.state");
	_cleanup_fd_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if (mode == CG_V2)
		return strstr(buf, freeze ? "frozen 1" : "frozen 0") != NULL;
	return strncmp(buf, freeze ? "FROZEN" : "THAWED", 6) == 0;
}

int cg_freeze(const char *group, enum cg_mode mode, bool freeze)
{
	if (!group[0] || mode == CG_NONE) {
		errno = ENOTSUP;
		return -1;
	}
	int r = mode == CG_V2 ? put(group, "cgroup.freeze", freeze ? "1" : "0")
			      : put(group, "freezer.state",
				    freeze ? "FROZEN" : "THAWED");
	if (r < 0 || !freeze)
		return r;
	for (int waited = 0; waited < FREEZE_WAIT_US;
	     waited += FREEZE_POLL_US) {
		if (settled(group, mode, true))
			return 0;
		usleep(FREEZE_POLL_US);
	}
	errno = ETIMEDOUT;
	return -1;
}
