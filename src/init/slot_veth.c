/* SPDX-License-Identifier: Apache-2.0 */
/* slot_veth.c - a network: egress slot generation's veth pair, made with
 * rtnetlink (libmnl) by the child that makes the generation's namespaces
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

#ifdef SLOTBOX_HAVE_EGRESS
#include <libmnl/libmnl.h>

#define NL_BUF 8192 /* one request or ack; MNL_SOCKET_BUFFER_SIZE is a VLA */

static void close_nl(struct mnl_socket **nl)
{
	if (*nl)
		mnl_socket_close(*nl);
}

static struct mnl_socket *nl_open(void)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	if (nl && mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int saved = errno;
		mnl_socket_close(nl);
		errno = saved;
		return NULL;
	}
	return nl;
}

/* Send one request and wait for its ack; -1 with the kernel's errno. */
static int nl_talk(struct mnl_socket *nl, struct nlmsghdr *nlh)
{
	static unsigned seq;
	char buf[NL_BUF];

	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++seq;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
	if (n < 0)
		return -1;
	return mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq,
			  mnl_socket_get_portid(nl), NULL, NULL) < 0
		       ? -1
		       : 0;
}

static struct nlmsghdr *link_msg(char *buf, uint16_t type, uint16_t flags,
				 const char *name)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof *ifm);
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	return nlh;
}

/* The pair, the host end up: host in the caller's socket's namespace
 * (nl), "eth0" in the namespace of nsfd (down: the kernel cannot bring a
 * peer up before the pair is linked, ENOTCONN). */
static int veth_add(struct mnl_socket *nl, const char *host, uint32_t group,
		    int nsfd)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh =
		link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, host);
	struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	ifm->ifi_flags = ifm->ifi_change = IFF_UP;
	mnl_attr_put_u32(nlh, IFLA_GROUP, group);
	struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	struct nlattr *peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	struct ifinfomsg *pifm = mnl_nlmsg_get_payload_tail(nlh);
	memset(pifm, 0, MNL_ALIGN(sizeof *pifm));
	pifm->ifi_family = AF_UNSPEC;
	nlh->nlmsg_len += MNL_ALIGN(sizeof *pifm);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, "eth0");
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)nsfd);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nl_talk(nl, nlh);
}

static int addr_add(struct mnl_socket *nl, unsigned index, uint32_t addr)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWADDR;
	nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof *ifa);
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = 31;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = index;
	uint32_t be = htonl(addr);
	mnl_attr_put(nlh, IFA_LOCAL, sizeof be, &be);
	mnl_attr_put(nlh, IFA_ADDRESS, sizeof be, &be);
	return nl_talk(nl, nlh);
}

static int default_route(struct mnl_socket *nl, unsigned index, uint32_t gw)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWROUTE;
	nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof *rtm);
	rtm->rtm_family = AF_INET;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_BOOT;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	uint32_t be = htonl(gw);
	mnl_attr_put(nlh, RTA_GATEWAY, sizeof be, &be);
	mnl_attr_put_u32(nlh, RTA_OIF, index);
	return nl_talk(nl, nlh);
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
	__attribute__((cleanup(close_nl))) struct mnl_socket *hnl = nl_open();
	_cleanup_fd_ int hs = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (!hnl || hs < 0 || unshare(flags) < 0)
		return -1;
	__attribute__((cleanup(close_nl))) struct mnl_socket *snl = nl_open();
	fds[0] = open("/proc/self/ns/ipc", O_RDONLY | O_CLOEXEC);
	fds[1] = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (!snl || fds[0] < 0 || fds[1] < 0)
		return -1;
	char buf[NL_BUF];
	if (nl_talk(hnl, link_msg(buf, RTM_DELLINK, 0, host)) < 0 &&
	    errno != ENODEV)
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

#else

int slot_veth_make(const struct init_cfg *cfg, int slot, int flags, int fds[2])
{
	(void)cfg;
	(void)slot;
	(void)flags;
	fds[0] = fds[1] = -1;
	errno = ENOTSUP;
	return -1;
}

#endif
