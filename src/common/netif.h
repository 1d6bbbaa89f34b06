/* SPDX-License-Identifier: Apache-2.0 */
/* netif.h - the network interfaces of the caller's network namespace. */
#ifndef SLOTBOX_COMMON_NETIF_H
#define SLOTBOX_COMMON_NETIF_H

/* Bring interface name up (a new network namespace starts with lo down).
 * 0 or -1 with errno. */
int sb_link_up(const char *name);

#endif
