/* SPDX-License-Identifier: Apache-2.0 */
/* egress.h - the host side of `network: egress`: one nftables table per
 * daemon and IPv4 forwarding.
 *
 * Each egress slot generation has a veth pair (slotbox-init makes it,
 * init/slot_veth.c): "sb<K>x<L>" in the daemon's network namespace,
 * "eth0" in the slot's, with the /31 link L of the daemon's egress network
 * (the host end 2L, the slot end 2L+1, default route through the host);
 * each slot has four links that its generations take in turn, so a
 * daemon has room for 8192 egress slots (sandbox number * the largest
 * egress slots_per_sandbox, times four, below 32768).
 * The host end carries the interface group of its profile, and the table
 * `inet slotbox_<K>` (K: the daemon's uid range number, unique on the
 * host) filters by group: from a slot, the profile's deny_cidrs, then its
 * allow_cidrs, then the refused ranges (RFC 1918, CGNAT, loopback,
 * link-local, multicast, the egress network itself, ULA, IPv6
 * link-local), and every address of the host itself (input hook) are
 * dropped; slot to slot is dropped; nothing reaches a slot but replies;
 * what leaves is masqueraded. The table is made at start (replacing a
 * stale one of the same name) and deleted at stop; nothing else of the
 * host's firewall is touched. */
#ifndef SLOTBOX_DAEMON_EGRESS_H
#define SLOTBOX_DAEMON_EGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/cidr.h"
#include "common/err.h"
#include "config/profile.h"

#define EGRESS_LINKS 32768u /* /31 links in the /16 */

struct egress {
	bool on;	      /* some profile has network: egress */
	unsigned instance;    /* K */
	struct sb_cidr net;   /* the daemon's egress network, a /16 */
	char table[32];	      /* "slotbox_<K>" */
	unsigned link_stride; /* links per sandbox number */
};

/* The interface group of profile index i's host ends. */
uint32_t egress_group(const struct egress *e, size_t profile_index);

/* Decide the network (net_text, or the default 10.<200+K>.0.0/16 when
 * NULL) and the stride from the profiles; no change on the host. 0 or -1
 * with err (egress not built in, a bad or clashing network). */
int egress_plan(struct egress *e, const struct sb_config *cfg, uid_t uid_base,
		const char *net_text, struct sb_err *err);

/* The ruleset, as nft text, into buf; -1 when it does not fit. */
int egress_ruleset(const struct egress *e, const struct sb_config *cfg,
		   char *buf, size_t len);

/* Load the table and turn IPv4 forwarding on (no-op unless e->on). 0 or
 * -1 with err. */
int egress_apply(const struct egress *e, const struct sb_config *cfg,
		 struct sb_err *err);
/* Delete the table (no-op unless e->on). */
void egress_remove(const struct egress *e);

#endif
