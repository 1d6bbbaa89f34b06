/* SPDX-License-Identifier: Apache-2.0 */
/* templates.h - each profile's workspace template, prepared once.
 *
 * A profile's workspace_template (a directory, or a .tar, .tar.gz, .tgz
 * or .zip archive) is copied at start into the daemon's own immutable
 * tree, <state>/templates/<id>, owned by root with the modes kept; slots
 * use it as the lower layer of their workspace overlay (idmap.c), so a
 * template is never copied per slot. id names the source's content (an
 * archive's bytes; a directory's names, types, modes, sizes, times and
 * link targets): an unchanged template is reused across restarts without a
 * copy, a changed one gets a new tree while sandboxes that a restarted
 * daemon adopted keep the tree they started with. */
#ifndef SLOTBOX_DAEMON_TEMPLATES_H
#define SLOTBOX_DAEMON_TEMPLATES_H

#include <stdbool.h>

#include "common/err.h"
#include "config/profile.h"

/* Bounds on what a template may hold. */
#define TEMPLATE_MAX_BYTES (INT64_C(16) << 30)
#define TEMPLATE_MAX_ENTRIES 2000000

/* Prepare every profile's template and set its template_dir and
 * template_id. Archives must not hold absolute or ".." paths, links out
 * of the tree, devices, FIFOs or sockets; a directory's sockets and
 * devices are left out. -1 with err naming the profile and the file. */
int templates_prepare(struct sb_config *cfg, const char *state_dir,
		      struct sb_err *err);

/* Remove prepared trees that no profile uses and keep(id, ud) does not
 * claim (sandboxes adopted with an older template), and leftovers of an
 * interrupted preparation. */
void templates_sweep(const struct sb_config *cfg, const char *state_dir,
		     bool (*keep)(const char *id, void *ud), void *ud);

/* Is path an archive by its name (.tar, .tar.gz, .tgz, .zip)? */
bool template_is_archive(const char *path);

#endif
