/* SPDX-License-Identifier: Apache-2.0 */
/* slot_veth.c - a network: egress slot generation's veth pair, made with
 * rtnetlink (rtnl.h) by the child that makes the generation's namespaces
 * (slot_ns_prepare), off the lease path.
 *
 * Link L = --egress-link + 4 * slot + (generation mod 4: a new pair then
 * seldom finds an old one of its name still being torn down, which makes
 * it wait for the kernel's RTNL and an RCU grace period) of the
 * daemon's egress /16 is a /31: the
 * host end "sb<K>x<L>" (daemon's network namespace, interface group of
 * the profile, which the daemon's nftables table filters on) holds
 * net + 2L, the slot end "eth0" net + 2L + 1 with a default route through
 * the host end. The pair goes with the generation's network namespace
 * (the kernel's asynchronous cleanup_net); one of the same name still
 * there (two generations back, or a crashed daemon's) is deleted first. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/netif.h"
#include "init/init.h"
#include "init/rtnl.h"

/* An ifinfomsg (AF_UNSPEC) then IFLA_IFNAME: the head of a link request,
 * and of a veth peer inside one. NULL when it did not fit (rtnl_talk then
 * refuses the request). */
static struct ifinfomsg *link_head(struct rtnl_msg *m, const char *name)
{
	struct ifinfomsg *ifm = rtnl_extra(m, sizeof *ifm);
	if (ifm)
		ifm->ifi_family = AF_UNSPEC;
	rtnl_put_strz(m, IFLA_IFNAME, name);
	return ifm;
}

/* The pair, the host end up: host in the caller's socket's namespace
 * (nl), "eth0" in the namespace of nsfd (down: the kernel cannot bring a
 * peer up before the pair is linked, ENOTCONN). */
static int veth_add(int nl, const char *host, uint32_t group, int nsfd)
{
	struct rtnl_msg m;
	rtnl_start(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifm = link_head(&m, host);
	if (ifm)
		ifm->ifi_flags = ifm->ifi_change = IFF_UP;
	rtnl_put_u32(&m, IFLA_GROUP, group);
	size_t info = rtnl_nest_start(&m, IFLA_LINKINFO);
	rtnl_put_strz(&m, IFLA_INFO_KIND, "veth");
	size_t data = rtnl_nest_start(&m, IFLA_INFO_DATA);
	size_t peer = rtnl_nest_start(&m, VETH_INFO_PEER);
	link_head(&m, "eth0");
	rtnl_put_u32(&m, IFLA_NET_NS_FD, (uint32_t)nsfd);
	rtnl_nest_end(&m, peer);
	rtnl_nest_end(&m, data);
	rtnl_nest_end(&m, info);
	return rtnl_talk(nl, &m);
}

static int addr_add(int nl, unsigned index, uint32_t addr)
{
	struct rtnl_msg m;
	rtnl_start(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
	struct ifaddrmsg *ifa = rtnl_extra(&m, sizeof *ifa);
	if (ifa) {
		ifa->ifa_family = AF_INET;
		ifa->ifa_prefixlen = 31;
		ifa->ifa_scope = RT_SCOPE_UNIVERSE;
		ifa->ifa_index = index;
	}
	uint32_t be = htonl(addr);
	rtnl_put(&m, IFA_LOCAL, &be, sizeof be);
	rtnl_put(&m, IFA_ADDRESS, &be, sizeof be);
	return rtnl_talk(nl, &m);
}

static int default_route(int nl, unsigned index, uint32_t gw)
{
	struct rtnl_msg m;
	rtnl_start(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
	struct rtmsg *rtm = rtnl_extra(&m, sizeof *rtm);
	if (rtm) {
		rtm->rtm_family = AF_INET;
		rtm->rtm_table = RT_TABLE_MAIN;
		rtm->rtm_protocol = RTPROT_BOOT;
		rtm->rtm_scope = RT_SCOPE_UNIVERSE;
		rtm->rtm_type = RTN_UNICAST;
	}
	uint32_t be = htonl(gw);
	rtnl_put(&m, RTA_GATEWAY, &be, sizeof be);
	rtnl_put_u32(&m, RTA_OIF, index);
	return rtnl_talk(nl, &m);
}

static int index_of(int sock, const char *name)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
	return ioctl(sock, SIOCGIFINDEX, &ifr) < 0 ? -1 : ifr.ifr_ifindex;
}

int slot_veth_make(const struct init_cfg *cfg, int slot, int flags, int fds[2])
{
	uint32_t link = cfg->egress_link + (uint32_t)slot;
	uint32_t host_addr = cfg->egress_net + 2 * link;
	char host[IFNAMSIZ];

	fds[0] = fds[1] = -1;
	if (link >= 32768) { /* past the /16 */
		errno = EADDRNOTAVAIL;
		return -1;
	}
	snprintf(host, sizeof host, "sb%ux%u", cfg->egress_instance, link);
	/* Opened here, these stay in the daemon's network namespace. */
	_cleanup_fd_ int hnl = rtnl_open();
	_cleanup_fd_ int hs = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (hnl < 0 || hs < 0 || unshare(flags) < 0)
		return -1;
	_cleanup_fd_ int snl = rtnl_open();
	fds[0] = open("/proc/self/ns/ipc", O_RDONLY | O_CLOEXEC);
	fds[1] = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (snl < 0 || fds[0] < 0 || fds[1] < 0)
		return -1;
	struct rtnl_msg del;
	rtnl_start(&del, RTM_DELLINK, 0);
	link_head(&del, host);
	if (rtnl_talk(hnl, &del) < 0 && errno != ENODEV)
		return -1;
	if (veth_add(hnl, host, cfg->egress_group, fds[1]) < 0)
		return -1;
	int hi = index_of(hs, host);
	unsigned si = if_nametoindex("eth0");
	if (hi < 0 || si == 0 || addr_add(hnl, (unsigned)hi, host_addr) < 0 ||
	    sb_link_up("eth0") < 0 || addr_add(snl, si, host_addr + 1) < 0 ||
	    default_route(snl, si, host_addr) < 0)
		return -1;
	return 0;
}
