/* SPDX-License-Identifier: Apache-2.0 */
/* lease_log.c - info lines for lease events (slot_acquired,
 * slot_released, snapshot_created), so that one trajectory's slot can be
 * followed through the log and tied to the request that caused it.
 * Only ids go out: never a body, an env value or a path's content. */
#include <stdio.h>

#include "api/api.h"
#include "common/log.h"

void api_log_lease(const char *event, const struct sbx_slot *slot,
		   const char *trajectory_id, const struct http_request *req,
		   const char *k, const char *v)
{
	if (!sb_log_enabled(SB_LOG_INFO))
		return;
	const struct sandbox *sb = slot->sb;
	sb_log(SB_LOG_INFO, event, "profile", sb->profile->name, "sandbox",
	       sb->id, "slot", slot->id, "trajectory_id",
	       trajectory_id && *trajectory_id ? trajectory_id : NULL,
	       "request_id", req ? req->request_id : NULL, k ? k : "", v,
	       SB_LOG_END);
}
