/* SPDX-License-Identifier: Apache-2.0 */
/* egress_rules.c - the plan and the nftables text of network: egress
 * (egress.h). Only parsed values reach the text: networks are printed
 * from struct sb_cidr, names are the daemon's own. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "daemon/egress.h"
#include "sandbox/sandbox.h"

/* What a slot may never reach unless a profile's allow_cidrs says so. */
static const char *const refused4[] = {
	"0.0.0.0/8",	  "10.0.0.0/8",	   "100.64.0.0/10",  "127.0.0.0/8",
	"169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/3",
};
static const char *const refused6[] = {
	"::/127", "::ffff:0:0/96", "fc00::/7", "fe80::/10", "ff00::/8",
};

static bool is_egress(const struct sb_profile *p)
{
	return strcmp(p->network, "egress") == 0;
}

uint32_t egress_group(const struct egress *e, size_t profile_index)
{
	return 0x5b000000u | (e->instance & 0xffu) << 16 |
	       (uint32_t)(profile_index & 0xffffu);
}

int egress_plan(struct egress *e, const struct sb_config *cfg, uid_t uid_base,
		const char *net_text, struct sb_err *err)
{
	memset(e, 0, sizeof *e);
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		const struct sb_profile *p = &cfg->profiles[i];
		if (!is_egress(p))
			continue;
		e->on = true;
		if ((unsigned)p->slots_per_sandbox > e->link_stride)
			e->link_stride = (unsigned)p->slots_per_sandbox;
	}
	if (!e->on)
		return 0;
#ifndef SLOTBOX_HAVE_EGRESS
	(void)uid_base;
	(void)net_text;
	return sb_err_set(err, ENOTSUP,
			  "a profile asks for network: egress, but this "
			  "slotboxd was built without libnftables and libmnl "
			  "(install nftables, libnftables-dev and libmnl-dev "
			  "and rebuild)");
#else
	e->instance = (unsigned)((uid_base - SBX_UID_BASE) / SBX_RANGE_UIDS);
	snprintf(e->table, sizeof e->table, "slotbox_%u", e->instance);
	char dflt[32];
	if (!net_text) {
		if (e->instance > 55)
			return sb_err_set(err, EINVAL,
					  "network: egress: no default "
					  "--egress-net for uid range %u "
					  "(give one)",
					  e->instance);
		snprintf(dflt, sizeof dflt, "10.%u.0.0/16", 200 + e->instance);
		net_text = dflt;
	}
	if (!sb_cidr_parse(net_text, &e->net) || e->net.family != AF_INET ||
	    e->net.prefix != 16)
		return sb_err_set(err, EINVAL,
				  "--egress-net must be an IPv4 /16 like "
				  "10.200.0.0/16");
	return 0;
#endif
}

struct out {
	char *buf;
	size_t len, used;
	bool full;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o,
						      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->used, o->len - o->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->len - o->used)
		o->full = true;
	else
		o->used += (size_t)n;
}

#define SET_MAX 264 /* a profile's list (256), or the refused ranges */

/* Parse texts (canonical ones, or ours) into out, appending at *n. */
static void parse_into(const char *const *texts, size_t count,
		       struct sb_cidr *out, size_t *n)
{
	for (size_t i = 0; i < count && *n < SET_MAX; i++)
		if (sb_cidr_parse(texts[i], &out[*n]))
			(*n)++;
}

/* A set of the networks of one family in list, printed from the parsed
 * bytes. */
static void put_set(struct out *o, const char *name, int family,
		    const struct sb_cidr *list, size_t n)
{
	bool first = true;
	char text[SB_CIDR_TEXT_MAX];

	put(o, "  set %s { type %s; flags interval; auto-merge;", name,
	    family == AF_INET ? "ipv4_addr" : "ipv6_addr");
	for (size_t i = 0; i < n; i++) {
		if (list[i].family != family)
			continue;
		sb_cidr_format(&list[i], text, sizeof text);
		put(o, "%s%s", first ? " elements = { " : ", ", text);
		first = false;
	}
	put(o, "%s }\n", first ? "" : " }");
}

static void put_groups(struct out *o, const struct egress *e,
		       const struct sb_config *cfg)
{
	bool first = true;
	put(o, "{ ");
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		if (!is_egress(&cfg->profiles[i]))
			continue;
		put(o, "%s0x%08x", first ? "" : ", ", egress_group(e, i));
		first = false;
	}
	put(o, " }");
}

int egress_ruleset(const struct egress *e, const struct sb_config *cfg,
		   char *buf, size_t len)
{
	struct out o = {buf, len, 0, false};
	char net[SB_CIDR_TEXT_MAX];

	sb_cidr_format(&e->net, net, sizeof net);
	char ifp[16]; /* our host ends' names: "sb<K>x<link>" */
	snprintf(ifp, sizeof ifp, "sb%ux", e->instance);
	/* add + delete + add: replaces a stale table of a crashed daemon
	 * with the same number, atomically (one transaction). */
	put(&o, "add table inet %s\ndelete table inet %s\n", e->table,
	    e->table);
	put(&o, "table inet %s {\n", e->table);
	struct sb_cidr list[SET_MAX];
	size_t n = 0;
	parse_into(refused4, sizeof refused4 / sizeof *refused4, list, &n);
	parse_into(refused6, sizeof refused6 / sizeof *refused6, list, &n);
	list[n++] = e->net;
	put_set(&o, "refused4", AF_INET, list, n);
	put_set(&o, "refused6", AF_INET6, list, n);
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		const struct sb_profile *p = &cfg->profiles[i];
		char name[32];
		if (!is_egress(p))
			continue;
		static const int fams[2] = {AF_INET, AF_INET6};
		struct sb_cidr allow[SET_MAX], deny[SET_MAX];
		size_t n_allow = 0, n_deny = 0;
		parse_into((const char *const *)p->allow_cidrs,
			   p->n_allow_cidrs, allow, &n_allow);
		parse_into((const char *const *)p->deny_cidrs, p->n_deny_cidrs,
			   deny, &n_deny);
		for (int f = 0; f < 2; f++) {
			snprintf(name, sizeof name, "p%zu_allow%c", i,
				 f ? '6' : '4');
			put_set(&o, name, fams[f], allow, n_allow);
			snprintf(name, sizeof name, "p%zu_deny%c", i,
				 f ? '6' : '4');
			put_set(&o, name, fams[f], deny, n_deny);
		}
		/* forwarded: deny_cidrs, allow_cidrs, the refused ranges */
		put(&o,
		    "  chain p%zu_out {\n"
		    "    ip daddr @p%zu_deny4 drop\n"
		    "    ip6 daddr @p%zu_deny6 drop\n"
		    "    ip daddr @p%zu_allow4 accept\n"
		    "    ip6 daddr @p%zu_allow6 accept\n"
		    "    ip daddr @refused4 drop\n"
		    "    ip6 daddr @refused6 drop\n"
		    "    accept\n  }\n",
		    i, i, i, i, i);
		/* to the host itself: replies to what the host opened, and
		 * what allow_cidrs names */
		put(&o,
		    "  chain p%zu_in {\n"
		    "    ct state established,related accept\n"
		    "    ip daddr @p%zu_deny4 drop\n"
		    "    ip6 daddr @p%zu_deny6 drop\n"
		    "    ip daddr @p%zu_allow4 accept\n"
		    "    ip6 daddr @p%zu_allow6 accept\n"
		    "    drop\n  }\n",
		    i, i, i, i, i);
	}
	put(&o, "  chain forward {\n    type filter hook forward priority "
		"filter - 10; policy accept;\n");
	/* slot to slot, and a slot sending as another address */
	put(&o, "    iifname \"%s*\" oifname \"%s*\" drop\n", ifp, ifp);
	put(&o, "    iifgroup ");
	put_groups(&o, e, cfg);
	put(&o, " oifgroup ");
	put_groups(&o, e, cfg);
	put(&o, " drop\n    iifgroup ");
	put_groups(&o, e, cfg);
	put(&o, " ip saddr != %s drop\n", net);
	for (size_t i = 0; i < cfg->n_profiles; i++)
		if (is_egress(&cfg->profiles[i]))
			put(&o, "    iifgroup 0x%08x jump p%zu_out\n",
			    egress_group(e, i), i);
	/* A pair of ours whose group is no profile's (a sandbox adopted
	 * from a daemon whose profiles were ordered otherwise): nothing out,
	 * rather than everything. Towards a slot: replies only. */
	put(&o,
	    "    iifname \"%s*\" drop\n"
	    "    oifname \"%s*\" ct state established,related accept\n"
	    "    oifname \"%s*\" drop\n  }\n",
	    ifp, ifp, ifp);
	put(&o, "  chain input {\n    type filter hook input priority filter "
		"- 10; policy accept;\n");
	for (size_t i = 0; i < cfg->n_profiles; i++)
		if (is_egress(&cfg->profiles[i]))
			put(&o, "    iifgroup 0x%08x jump p%zu_in\n",
			    egress_group(e, i), i);
	put(&o, "    iifname \"%s*\" drop\n  }\n", ifp);
	put(&o,
	    "  chain postrouting {\n    type nat hook postrouting priority "
	    "srcnat; policy accept;\n    ip saddr %s ip daddr != %s "
	    "masquerade\n  }\n}\n",
	    net, net);
	return o.full ? -1 : 0;
}
