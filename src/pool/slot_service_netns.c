/* SPDX-License-Identifier: Apache-2.0 */
/* slot_service_netns.c - the users of a lease's network namespace (port
 * proxies; slot_service.h). */
#include "pool/slot_service.h"

void slot_service_lease_join(struct sbx_slot *slot, struct sbx_lease_user *u)
{
	sandbox_lease_join(slot, u);
}

void slot_service_lease_leave(struct sbx_slot *slot, struct sbx_lease_user *u)
{
	sandbox_lease_leave(slot, u);
}

int slot_service_netns(struct sbx_slot *slot, struct sbx_lease_user *u)
{
	return sandbox_slot_netns(slot, u);
}
