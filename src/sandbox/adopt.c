/* SPDX-License-Identifier: Apache-2.0 */
/* adopt.c - taking over the sandboxes of a daemon that died.
 *
 * A sandbox's init outlives its daemon and listens on a unix socket (see
 * init_adopt.c). The restarted daemon reads the journal's record of each
 * sandbox, makes sure the pid is still that init (its start time), and
 * connects: init answers HELLO(adopt) with the number of channels that
 * follow, one per live leader. This is done synchronously at start, before
 * the API answers anything, with a short timeout. What cannot be adopted
 * is killed and cleaned up, so nothing is left behind. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "sandbox/sandbox_internal.h"
#include "wire/proto.h"

#define ADOPT_TIMEOUT_MS 2000

static int pidfd_of(const struct sbx_record *rec)
{
	uint64_t st;
	if (rec->pid <= 1 || sb_proc_start_time(rec->pid, &st) < 0 ||
	    st != rec->start_time) {
		errno = ESRCH;
		return -1;
	}
	int fd = (int)syscall(SYS_pidfd_open, rec->pid, 0);
	/* The pid could have exited and been reused between the two calls:
	 * check again now that the pidfd pins whatever it names. */
	if (fd >= 0 &&
	    (sb_proc_start_time(rec->pid, &st) < 0 || st != rec->start_time)) {
		close(fd);
		errno = ESRCH;
		return -1;
	}
	return fd;
}

static int connect_ctl(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof a.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = {.tv_sec = ADOPT_TIMEOUT_MS / 1000,
			     .tv_usec = (ADOPT_TIMEOUT_MS % 1000) * 1000};
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* HELLO(adopt), then `count` SLOT_CHANNELs, each attached to its slot. */
static int handshake(struct sandbox *sb, int fd, struct sb_err *err)
{
	struct sb_msg m;
	int fds[SB_MSG_MAX_FDS];
	size_t nfds = 0;
	if (sb_msg_recv(fd, &m, fds, &nfds) <= 0)
		return sb_err_sys(err, "no answer from init");
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	if (m.type != SB_MSG_HELLO || !(m.flags & SB_HELLO_ADOPT) ||
	    m.slot != (uint32_t)sb->n_slots || m.id > (uint64_t)sb->n_slots)
		return sb_err_set(err, EPROTO, "unexpected answer from init");
	for (uint64_t k = 0; k < m.id; k++) {
		struct sb_msg c;
		nfds = 0;
		if (sb_msg_recv(fd, &c, fds, &nfds) <= 0)
			return sb_err_sys(err, "no slot channel from init");
		/* none: its leader was exiting; the slot is as one whose
		 * leader init had reaped (its calls fail, a reset restarts
		 * it) */
		if (c.type == SB_MSG_SLOT_CHANNEL && nfds == 0 &&
		    c.slot < (uint32_t)sb->n_slots)
			continue;
		if (c.type != SB_MSG_SLOT_CHANNEL || nfds != 1 ||
		    c.slot >= (uint32_t)sb->n_slots || sb->slots[c.slot].chan) {
			for (size_t i = 0; i < nfds; i++)
				close(fds[i]);
			return sb_err_set(err, EPROTO, "bad slot channel");
		}
		sb->slots[c.slot].gen = c.gen;
		/* until the leader's own HELLO, which says it again */
		sb->slots[c.slot].processes =
			(m.flags & SB_HELLO_PROCESSES) != 0;
		if (sandbox_chan_attach(&sb->slots[c.slot], fds[0]) < 0)
			return sb_err_set(err, ENOMEM, "out of memory");
	}
	struct timeval none = {0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
	return 0;
}

/* A daemon killed while it copied a slot's workspace (fork, snapshot:
 * cg_freeze.c) left that slot frozen, its leader included, and every call
 * and file operation in it would hang: thaw them all before the leaders
 * are asked to say hello (thawing a thawed group changes nothing). */
static void thaw_slots(struct sbx_env *env, const struct sbx_record *rec)
{
	for (int i = 0; i < rec->n_slots; i++) {
		char group[PATH_MAX];
		cg_slot_path(&env->cg, rec->id, i, group, sizeof group);
		if (group[0] && access(group, F_OK) == 0 &&
		    cg_freeze(group, env->cg.mode, false) < 0)
			sb_log(SB_LOG_WARN, "thaw_failed", "sandbox", rec->id,
			       "why", strerror(errno), SB_LOG_END);
	}
}

int sandbox_adopt(struct sbx_env *env, const struct sb_profile *profile,
		  void *owner, const struct sbx_record *rec,
		  struct sandbox **out, struct sb_err *err)
{
	*out = NULL;
	if (rec->n_slots < 1 || rec->n_slots > 1000)
		return sb_err_set(err, EINVAL, "bad slot count");
	_cleanup_fd_ int pidfd = pidfd_of(rec);
	if (pidfd < 0)
		return sb_err_set(err, ESRCH, "its init is gone");
	struct sandbox *sb = sandbox_alloc(env, profile, owner, rec->number,
					   rec->id, rec->n_slots);
	if (!sb)
		return sb_err_set(err, ENOMEM, "out of memory");
	/* Its uids are those it started with (a record of an older daemon
	 * names none: the fixed base of then). */
	sandbox_set_uid_base(sb, rec->uid_base ? rec->uid_base : SBX_UID_BASE);
	thaw_slots(env, rec);
	_cleanup_fd_ int ctl = connect_ctl(sb->ctl_path);
	if (ctl < 0) {
		sb_err_sys(err, "connect to %s", sb->ctl_path);
		goto fail;
	}
	if (handshake(sb, ctl, err) < 0)
		goto fail;
	sb->pid = rec->pid;
	sb->start_time = rec->start_time;
	/* as it was started, whatever the profile says now */
	sb->userns = sb_proc_in_userns(rec->pid);
	snprintf(sb->template_id, sizeof sb->template_id, "%s",
		 rec->template_id ? rec->template_id : "");
	sb->pidfd = steal_fd(&pidfd);
	sb->ctl = steal_fd(&ctl);
	sb->created_wall = rec->created_wall;
	double age = sb_now_wall() - rec->created_wall;
	sb->created_mono = sb_now_mono() - (age > 0 ? age : 0);
	/* For the calls' environment; a store image removed meanwhile
	 * leaves the running sandbox as it is, without that environment. */
	struct sb_err ignored;
	sandbox_resolve_image(sb, false, &ignored);
	sb->state = SBX_RUNNING;
	sb->up = true;
	sandbox_watch(sb);
	*out = sb;
	return 0;
fail:
	sandbox_close_channels(sb);
	sandbox_struct_free(sb);
	return -1;
}

struct sandbox *sandbox_tombstone(struct sbx_env *env,
				  const struct sb_profile *profile, void *owner,
				  const struct sbx_record *rec, const char *why)
{
	struct sandbox *sb = sandbox_alloc(env, profile, owner, rec->number,
					   rec->id, rec->n_slots);
	if (!sb)
		return NULL;
	sandbox_set_uid_base(sb, rec->uid_base ? rec->uid_base : SBX_UID_BASE);
	sb->state = SBX_DEAD;
	sb->up = true;
	sb->created_wall = rec->created_wall;
	double age = sb_now_wall() - rec->created_wall;
	sb->created_mono = sb_now_mono() - (age > 0 ? age : 0);
	/* its slots' states and errors are the owner's (pools_adopt) */
	snprintf(sb->lost_reason, sizeof sb->lost_reason, "%s", why);
	return sb;
}

void sandbox_reap_record(struct sbx_env *env, const struct sbx_record *rec)
{
	int pidfd = pidfd_of(rec);
	if (pidfd >= 0) {
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		close(pidfd);
	}
	/* Whatever escaped into the cgroups dies with them; their removal
	 * may need a moment while the killed tasks exit. */
	for (int i = 0;
	     i < 100 && cg_sandbox_remove(&env->cg, rec->id, -1) < 0 &&
	     errno == EBUSY;
	     i++)
		usleep(10000);
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/sandboxes/%s", env->state_dir, rec->id);
	if (rmdir(path) < 0 && errno != ENOENT)
		sb_rm_rf(path);
	sandbox_ctl_path(env, rec->id, path, sizeof path);
	unlink(path);
}

/* Remove each entry of dir (by name) that keep() does not claim. suffix
 * is stripped from names first (".sock"); other names are left alone. */
static void sweep_dir(const char *dir, const char *suffix,
		      bool (*keep)(const char *id, void *ud), void *ud)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		char id[256], path[PATH_MAX];
		size_t n = strlen(e->d_name), sl = strlen(suffix);
		if (e->d_name[0] == '.' || n <= sl || n - sl >= sizeof id ||
		    strcmp(e->d_name + n - sl, suffix) != 0)
			continue;
		memcpy(id, e->d_name, n - sl);
		id[n - sl] = '\0';
		if (keep(id, ud))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (e->d_type == DT_DIR) {
			if (rmdir(path) < 0 && errno != ENOENT)
				sb_rm_rf(path);
		} else {
			unlink(path);
		}
		sb_log(SB_LOG_INFO, "leftover_removed", "path", path,
		       SB_LOG_END);
	}
	closedir(d);
}

void sandbox_sweep(struct sbx_env *env, bool (*keep)(const char *id, void *ud),
		   void *ud)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/sandboxes", env->state_dir);
	sweep_dir(dir, "", keep, ud);
	snprintf(dir, sizeof dir, "%s/ctl", env->state_dir);
	sweep_dir(dir, ".sock", keep, ud);
	if (cg_sweep(&env->cg, keep, ud) < 0)
		sb_log(SB_LOG_WARN, "cgroup_sweep_failed", "why",
		       strerror(errno), SB_LOG_END);
}
