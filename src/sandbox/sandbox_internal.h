/* SPDX-License-Identifier: Apache-2.0 */
/* sandbox_internal.h - what sandbox.c shares with adopt.c only. */
#ifndef SLOTBOX_SANDBOX_INTERNAL_H
#define SLOTBOX_SANDBOX_INTERNAL_H

#include "sandbox/sandbox.h"

/* A sandbox struct with its slots, not started: id NULL picks a new one. */
struct sandbox *sandbox_alloc(struct sbx_env *env,
			      const struct sb_profile *profile, void *owner,
			      int number, const char *id, int n_slots);
/* Give the sandbox's slots the uids of the range at base (adoption of a
 * sandbox whose record names its range). */
void sandbox_set_uid_base(struct sandbox *sb, uid_t base);

/* Free what sandbox_alloc() allocated (nothing may be running). */
void sandbox_struct_free(struct sandbox *sb);
/* Find the profile's image: the overlay's lower layers and, for a store
 * image, its config's environment. starting: refuse a store image a
 * userns sandbox cannot show right (an adopted one runs as it is). */
int sandbox_resolve_image(struct sandbox *sb, bool starting,
			  struct sb_err *err);
/* Where init listens for a restarted daemon. */
void sandbox_ctl_path(const struct sbx_env *env, const char *id, char *buf,
		      size_t len);
/* Watch sb->ctl and sb->pidfd on the loop. */
void sandbox_watch(struct sandbox *sb);
/* slot_limits.c: the profile's cgroup limits for the sandbox; a new
 * channel to a slot's leader is up (a leader that started before its slot's
 * memory and cpu groups were made joins them now). */
void sandbox_cg_limits(const struct sandbox *sb, struct cg_limits *lim);
void sandbox_slot_limits_attached(struct sbx_slot *slot);
/* Take fd as the channel to slot's leader. */
int sandbox_chan_attach(struct sbx_slot *slot, int fd);
/* Kill the slot's leader through init with SB_RELEASE_* flags (its calls
 * fail as released). 0 or -1/errno (the sandbox is dead or unreachable). */
int sandbox_restart_slot(struct sbx_slot *slot, uint32_t flags);
/* Send m to the sandbox's init, queued behind earlier messages while its
 * socket is full. 0 or -1/errno (sendq.h). */
int sandbox_ctl_send(struct sandbox *sb, const struct sb_msg *m);
/* Create the sandbox's scratch dir (a spare renamed, when there is one);
 * 0 or -1/errno. */
int sandbox_scratch_make(struct sandbox *sb);
/* Remove it: kept as a spare while it is empty and there is room. */
void sandbox_scratch_drop(struct sandbox *sb);
/* launcher.h's two halves of a launch: run, in the launcher's thread,
 * makes the cgroups and clones init (sb->ctl stays -1 and launch_err
 * says why when it fails); done, on the loop, watches init or reports
 * the failure (ops->sandbox_launched). */
void sandbox_launch_run(struct sandbox *sb);
void sandbox_launch_done(struct sandbox *sb);
/* Close every channel and the watches without killing anything. */
void sandbox_close_channels(struct sandbox *sb);

#endif
