/* SPDX-License-Identifier: Apache-2.0 */
/* init_cgroup.c - slotbox-init's part of cgroups.
 *
 * The daemon creates the groups and sets their limits (cgroup.h); init
 * only places processes. The sandbox's group in the kill hierarchy comes
 * on fd 4; its groups in the other hierarchies (cgroup v1 cpu, memory,
 * pids) come in the CGROUPS message, the first on the control channel.
 * Each leader joins its slot's group in all of them before it does
 * anything else, so that it and everything it starts are accounted to
 * the slot (or to the sandbox's group in a hierarchy where the profile
 * sets no per-slot limit); init itself stays where the daemon runs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "init/init.h"
#include "wire/proto.h"

int init_cg_receive(struct init_cfg *cfg, struct sb_err *err)
{
	struct sb_msg m;
	int fds[SB_MSG_MAX_FDS];
	size_t nfds = 0;
	int r;

	do
		r = sb_msg_recv(INIT_CTL_FD, &m, fds, &nfds);
	while (r < 0 && errno == EINTR);
	if (r <= 0 || m.type != SB_MSG_CGROUPS || nfds > INIT_MAX_CG_MORE) {
		int e = r < 0 ? errno : EPROTO;
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		sb_err_set(err, e, "expected the cgroups message: %s",
			   strerror(e));
		errno = e;
		return -1;
	}
	for (size_t i = 0; i < nfds; i++)
		cfg->cg_more[cfg->n_cg_more++] = fds[i];
	return 0;
}

/* cgroup.procs of slot index's group, below the sandbox's group. */
static void slot_procs(int index, char *buf, size_t len)
{
	snprintf(buf, len, "s%d/cgroup.procs", index);
}

int init_cg_join_slot(const struct init_cfg *cfg, const struct init_slot *s,
		      struct sb_err *err)
{
	int joined = 0;

	if (s->cg_fd >= 0 && calltree_join(s->cg_fd, "cgroup.procs") < 0) {
		sb_err_sys(err, "join the cgroup of slot %d", s->index);
		return -1;
	}
	/* Without a per-slot limit in a hierarchy the daemon made no slot
	 * groups there (cgroup.c), or not yet (a memory group, made at the
	 * slot's first call): the sandbox's group. */
	if (init_cg_rejoin_slot(cfg, s->index, &joined) < 0)
		goto fail;
	for (int i = 0; i < cfg->n_cg_more; i++)
		if (!(joined & (1 << i)) &&
		    calltree_join(cfg->cg_more[i], "cgroup.procs") < 0)
			goto fail;
	return joined;
fail:
	sb_err_sys(err, "join the cgroup v1 groups of slot %d", s->index);
	return -1;
}

int init_cg_move_to_slot(const struct init_cfg *cfg, int index, int mask,
			 pid_t pid)
{
	char path[32];

	slot_procs(index, path, sizeof path);
	for (int i = 0; i < cfg->n_cg_more; i++)
		if ((mask & (1 << i)) &&
		    calltree_move(cfg->cg_more[i], path, pid) < 0)
			return -1;
	return 0;
}

int init_cg_rejoin_slot(const struct init_cfg *cfg, int index, int *joined)
{
	char path[32];
	int moved = 0;

	slot_procs(index, path, sizeof path);
	for (int i = 0; i < cfg->n_cg_more; i++) {
		if (*joined & (1 << i))
			continue;
		if (calltree_join(cfg->cg_more[i], path) == 0) {
			*joined |= 1 << i;
			moved |= 1 << i;
		} else if (errno != ENOENT) {
			return -1;
		}
	}
	return moved;
}
