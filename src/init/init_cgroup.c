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

/* cg_more holds cgroup v1 hierarchies only (a v2 host has one). */
#define CG_MORE_MODE CG_V1_FREEZER
/* "<sandbox id>.s<N>" */
#define SLOT_GROUP_MAX 192

int init_cg_receive(struct init_cfg *cfg, struct sb_err *err)
{
	struct sb_msg m;
	int fds[SB_MSG_MAX_FDS];
	size_t nfds = 0;
	int r;

	do
		r = sb_msg_recv(INIT_CTL_FD, &m, fds, &nfds);
	while (r < 0 && errno == EINTR);
	size_t n_more = nfds;
	bool netns = r > 0 && (m.flags & SB_CGROUPS_SYS_NETNS) && nfds > 0;
	if (netns)
		n_more--;
	if (r <= 0 || m.type != SB_MSG_CGROUPS || n_more > INIT_MAX_CG_MORE) {
		int e = r < 0 ? errno : EPROTO;
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		sb_err_set(err, e, "expected the cgroups message: %s",
			   strerror(e));
		errno = e;
		return -1;
	}
	for (size_t i = 0; i < n_more; i++)
		cfg->cg_more[cfg->n_cg_more++] = fds[i];
	if (netns)
		cfg->sys_netns = fds[n_more];
	cfg->cg_flat = m.flags & ~SB_CGROUPS_SYS_NETNS;
	return 0;
}

/* Slot index's group in cg_more[i]: below the sandbox's group, or beside
 * it (cg_flat). */
static void slot_group(const struct init_cfg *cfg, int i, int index, char *buf,
		       size_t len)
{
	if (cfg->cg_flat & (1u << i))
		snprintf(buf, len, "%s.s%d", cfg->id, index);
	else
		snprintf(buf, len, "s%d", index);
}

int init_cg_join_slot(const struct init_cfg *cfg, const struct init_slot *s,
		      bool in_group, struct sb_err *err)
{
	int joined = 0;

	if (s->cg_fd >= 0 && !in_group &&
	    calltree_join(s->cg_fd, ".", cfg->cg_mode) < 0) {
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
		    calltree_join(cfg->cg_more[i], ".", CG_MORE_MODE) < 0)
			goto fail;
	return joined;
fail:
	sb_err_sys(err, "join the cgroup v1 groups of slot %d", s->index);
	return -1;
}

int init_cg_move_to_slot(const struct init_cfg *cfg, int index, int mask,
			 pid_t pid)
{
	char path[SLOT_GROUP_MAX];

	for (int i = 0; i < cfg->n_cg_more; i++) {
		slot_group(cfg, i, index, path, sizeof path);
		if ((mask & (1 << i)) &&
		    calltree_move(cfg->cg_more[i], path, pid) < 0)
			return -1;
	}
	return 0;
}

int init_cg_rejoin_slot(const struct init_cfg *cfg, int index, int *joined)
{
	char path[SLOT_GROUP_MAX];
	int moved = 0;

	for (int i = 0; i < cfg->n_cg_more; i++) {
		if (*joined & (1 << i))
			continue;
		slot_group(cfg, i, index, path, sizeof path);
		if (calltree_join(cfg->cg_more[i], path, CG_MORE_MODE) == 0) {
			*joined |= 1 << i;
			moved |= 1 << i;
		} else if (errno != ENOENT) {
			return -1;
		}
	}
	return moved;
}
