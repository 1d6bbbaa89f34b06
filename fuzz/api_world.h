/* SPDX-License-Identifier: Apache-2.0 */
/* api_world.h - a stand-in for the daemon's pools, sandboxes and jobs, so
 * that the real routes (src/api/routes*.c) can be fuzzed in one process
 * without namespaces, cgroups or children.
 *
 * One profile "default", one sandbox "sbx-1" with two slots: slot 0 is
 * leased as WORLD_SLOT, slot 1 is free. Every job the routes start (a
 * command, a file operation, a fork, a snapshot) completes from the event
 * loop a moment later, as the real ones do, with a canned success; the
 * stubs check what the routes hand them (timeouts, paths, environment). */
#ifndef SLOTBOX_FUZZ_API_WORLD_H
#define SLOTBOX_FUZZ_API_WORLD_H

#include <stdbool.h>
#include <uv.h>

#include "api/api.h"

#define WORLD_SLOT "sbx-1_slot_0.1"

/* Build the world on loop; the api to hand to api_handle. */
struct api *world_init(uv_loop_t *loop);
/* Put every slot and counter back as world_init left them. */
void world_reset(void);
/* Jobs not finished yet. */
bool world_busy(void);

#endif
