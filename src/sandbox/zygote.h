/* SPDX-License-Identifier: Apache-2.0 */
/* zygote.h - sandbox inits forked by a pre-started slotbox-init.
 *
 * A sandbox cold start used to exec slotbox-init, paying the dynamic
 * loader each time (init links libarchive, which brings libxml2, ICU and
 * libstdc++). The daemon now starts one `slotbox-init --zygote` the first
 * time it needs an init and asks it for each new one
 * (init/init_zygote.c, wire/zygote_msg.h): the zygote clones the init
 * with CLONE_PARENT, so the init is this daemon's child as before. When
 * the zygote cannot answer (it died, an old slotbox-init without
 * --zygote) it is restarted once, and then the sandbox is started by an
 * exec as before: a zygote only ever makes starts faster.
 * SLOTBOX_ZYGOTE=0 in the daemon's environment turns it off (A/B). */
#ifndef SLOTBOX_SANDBOX_ZYGOTE_H
#define SLOTBOX_SANDBOX_ZYGOTE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire/zygote_msg.h"

struct sbx_env;

/* Used by the launcher's worker only (launcher.h), and stopped after it;
 * off and failed_starts are also read by the loop (metrics), hence
 * atomic. */
struct sbx_zygote {
	bool running;		  /* sock and pidfd are its */
	atomic_bool off;	  /* SLOTBOX_ZYGOTE=0, or it failed for good */
	atomic_int failed_starts; /* zygotes that did not start or broke */
	int sock;
	int pidfd;
	pid_t pid;
};

/* A new init in the namespaces of clone_flags running argv, with fds[i]
 * (-1: none) on fd 3 + i and /dev/null on 0; its pid, *pidfd set. -1 with
 * ENOSYS when no zygote took the request: start it the old way; -1 with
 * any other errno fails the start (the clone's own error, or EIO: the
 * zygote broke after taking the request and may have made an init, so a
 * second one must not follow). */
pid_t zygote_spawn(struct sbx_env *env, uint64_t clone_flags, char *const *argv,
		   const int fds[SB_ZYGOTE_FD_COUNT], int *pidfd);

/* At daemon start: SLOTBOX_ZYGOTE=0 in the environment turns it off. */
void zygote_configure(struct sbx_zygote *z);

/* End the zygote (the daemon is stopping); it exits on its socket's EOF. */
void zygote_stop(struct sbx_zygote *z);

#endif
