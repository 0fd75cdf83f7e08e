/* One request at a time, each acknowledged (NLM_F_ACK) before the next:
 * an error comes back as the errno of the very request that failed. */
#include "net/netlink.h"

#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct sp_nl {
	struct mnl_socket *sock;
	unsigned portid;
	unsigned seq;
	char buf[8192]; /* MNL_SOCKET_BUFFER_SIZE at most */
};

int sp_nl_open(struct sp_nl **out, struct sp_err *err)
{
	struct sp_nl *nl = calloc(1, sizeof *nl);

	if (nl == NULL)
		return sp_fail_errno(err, ENOMEM, "netlink");
	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (nl->sock == NULL || mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;

		if (nl->sock != NULL)
			mnl_socket_close(nl->sock);
		free(nl);
		return sp_fail_errno(err, e, "netlink socket");
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (unsigned)time(NULL);
	*out = nl;
	return 0;
}

void sp_nl_close(struct sp_nl *nl)
{
	if (nl == NULL)
		return;
	mnl_socket_close(nl->sock);
	free(nl);
}

static struct nlmsghdr *start(struct sp_nl *nl, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *h = mnl_nlmsg_put_header(nl->buf);

	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	h->nlmsg_seq = ++nl->seq;
	return h;
}

/* Sends H and waits for its acknowledgement; -1 with errno on a refusal. */
static int talk(struct sp_nl *nl, struct nlmsghdr *h)
{
	unsigned seq = h->nlmsg_seq;
	ssize_t n;

	if (mnl_socket_sendto(nl->sock, h, h->nlmsg_len) < 0)
		return -1;
	for (;;) {
		int r;

		n = mnl_socket_recvfrom(nl->sock, nl->buf, sizeof nl->buf);
		if (n < 0)
			return -1;
		r = mnl_cb_run(nl->buf, (size_t)n, seq, nl->portid, NULL, NULL);
		if (r <= MNL_CB_STOP)
			return r < 0 ? -1 : 0;
	}
}

static int index_of(const char *name, struct sp_err *err)
{
	unsigned i = if_nametoindex(name);

	if (i == 0)
		return sp_fail_errno(err, errno, "link %s", name);
	return (int)i;
}

static struct ifinfomsg *link_msg(struct nlmsghdr *h, int index)
{
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof *ifi);

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	return ifi;
}

int sp_nl_veth_add(struct sp_nl *nl, const char *name, const char *peer, int netns_fd, struct sp_err *err)
{
	struct nlmsghdr *h = start(nl, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct nlattr *linkinfo, *data, *peerinfo;
	struct ifinfomsg *pi;

	link_msg(h, 0);
	mnl_attr_put_strz(h, IFLA_IFNAME, name);
	linkinfo = mnl_attr_nest_start(h, IFLA_LINKINFO);
	mnl_attr_put_strz(h, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(h, IFLA_INFO_DATA);
	peerinfo = mnl_attr_nest_start(h, VETH_INFO_PEER);
	/* The peer's own ifinfomsg comes first in its nest. */
	pi = mnl_nlmsg_put_extra_header(h, sizeof *pi);
	pi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(h, IFLA_IFNAME, peer);
	if (netns_fd >= 0)
		mnl_attr_put_u32(h, IFLA_NET_NS_FD, (uint32_t)netns_fd);
	mnl_attr_nest_end(h, peerinfo);
	mnl_attr_nest_end(h, data);
	mnl_attr_nest_end(h, linkinfo);
	if (talk(nl, h) < 0)
		return sp_fail_errno(err, errno, "make veth %s/%s", name, peer);
	return 0;
}

int sp_nl_bridge_add(struct sp_nl *nl, const char *name, struct sp_err *err)
{
	struct nlmsghdr *h = start(nl, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct nlattr *linkinfo, *data;

	link_msg(h, 0);
	mnl_attr_put_strz(h, IFLA_IFNAME, name);
	linkinfo = mnl_attr_nest_start(h, IFLA_LINKINFO);
	mnl_attr_put_strz(h, IFLA_INFO_KIND, "bridge");
	data = mnl_attr_nest_start(h, IFLA_INFO_DATA);
	/* No IGMP snooping: a client that joins more groups than the
	 * multicast database holds would turn it off for every port (and
	 * its clients' ports are isolated anyway, see below). */
	mnl_attr_put_u8(h, IFLA_BR_MCAST_SNOOPING, 0);
	mnl_attr_nest_end(h, data);
	mnl_attr_nest_end(h, linkinfo);
	if (talk(nl, h) < 0)
		return sp_fail_errno(err, errno, "make bridge %s", name);
	return 0;
}

/* RTM_NEWLINK on an existing link, with what ADD puts in. */
static int set_link(struct sp_nl *nl, const char *name, const char *what,
		    void (*add)(struct nlmsghdr *h, struct ifinfomsg *ifi, const void *arg), const void *arg,
		    struct sp_err *err)
{
	int index = index_of(name, err);
	struct nlmsghdr *h;

	if (index < 0)
		return -1;
	h = start(nl, RTM_NEWLINK, 0);
	add(h, link_msg(h, index), arg);
	if (talk(nl, h) < 0)
		return sp_fail_errno(err, errno, "%s: %s", name, what);
	return 0;
}

static void put_master(struct nlmsghdr *h, struct ifinfomsg *ifi, const void *arg)
{
	(void)ifi;
	mnl_attr_put_u32(h, IFLA_MASTER, *(const uint32_t *)arg);
}

int sp_nl_link_set_master(struct sp_nl *nl, const char *name, const char *master, struct sp_err *err)
{
	uint32_t m = 0;

	if (master != NULL && master[0] != '\0') {
		int i = index_of(master, err);

		if (i < 0)
			return -1;
		m = (uint32_t)i;
	}
	return set_link(nl, name, "set master", put_master, &m, err);
}

static void put_isolated(struct nlmsghdr *h, struct ifinfomsg *ifi, const void *arg)
{
	struct nlattr *linkinfo, *data;

	(void)ifi;
	(void)arg;
	linkinfo = mnl_attr_nest_start(h, IFLA_LINKINFO);
	mnl_attr_put_strz(h, IFLA_INFO_SLAVE_KIND, "bridge");
	data = mnl_attr_nest_start(h, IFLA_INFO_SLAVE_DATA);
	mnl_attr_put_u8(h, IFLA_BRPORT_ISOLATED, 1);
	mnl_attr_nest_end(h, data);
	mnl_attr_nest_end(h, linkinfo);
}

int sp_nl_port_isolate(struct sp_nl *nl, const char *name, struct sp_err *err)
{
	return set_link(nl, name, "isolate the bridge port", put_isolated, NULL, err);
}

static void put_alias(struct nlmsghdr *h, struct ifinfomsg *ifi, const void *arg)
{
	(void)ifi;
	mnl_attr_put_strz(h, IFLA_IFALIAS, arg);
}

int sp_nl_link_set_alias(struct sp_nl *nl, const char *name, const char *alias, struct sp_err *err)
{
	return set_link(nl, name, "set alias", put_alias, alias, err);
}

static void put_netns(struct nlmsghdr *h, struct ifinfomsg *ifi, const void *arg)
{
	(void)ifi;
	mnl_attr_put_u32(h, IFLA_NET_NS_FD, (uint32_t)*(const int *)arg);
}

int sp_nl_link_set_netns(struct sp_nl *nl, const char *name, int netns_fd, struct sp_err *err)
{
	return set_link(nl, name, "move to another network namespace", put_netns, &netns_fd, err);
}

static void put_mac(struct nlmsghdr *h, struct ifinfomsg *ifi, const void *arg)
{
	(void)ifi;
	mnl_attr_put(h, IFLA_ADDRESS, 6, arg);
}

int sp_nl_link_set_mac(struct sp_nl *nl, const char *name, const uint8_t mac[6], struct sp_err *err)
{
	return set_link(nl, name, "set MAC address", put_mac, mac, err);
}

static void put_up(struct nlmsghdr *h, struct ifinfomsg *ifi, const void *arg)
{
	(void)h;
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = *(const bool *)arg ? IFF_UP : 0;
}

int sp_nl_link_set_up(struct sp_nl *nl, const char *name, bool up, struct sp_err *err)
{
	return set_link(nl, name, up ? "set up" : "set down", put_up, &up, err);
}

int sp_nl_link_del(struct sp_nl *nl, const char *name, struct sp_err *err)
{
	unsigned index = if_nametoindex(name);
	struct nlmsghdr *h;

	if (index == 0)
		return 0;
	h = start(nl, RTM_DELLINK, 0);
	link_msg(h, (int)index);
	if (talk(nl, h) < 0 && errno != ENODEV)
		return sp_fail_errno(err, errno, "remove link %s", name);
	return 0;
}

int sp_nl_addr_add(struct sp_nl *nl, const char *name, struct in_addr addr, unsigned prefix, struct sp_err *err)
{
	int index = index_of(name, err);
	struct nlmsghdr *h;
	struct ifaddrmsg *ifa;

	if (index < 0)
		return -1;
	if (prefix > 32)
		return sp_fail(err, SP_ERR_USAGE, "%s: prefix /%u: expected at most 32", name, prefix);
	h = start(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
	ifa = mnl_nlmsg_put_extra_header(h, sizeof *ifa);
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (uint8_t)prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned)index;
	mnl_attr_put(h, IFA_LOCAL, sizeof addr, &addr);
	mnl_attr_put(h, IFA_ADDRESS, sizeof addr, &addr);
	if (talk(nl, h) < 0)
		return sp_fail_errno(err, errno, "%s: add address", name);
	return 0;
}

int sp_nl_route_default(struct sp_nl *nl, struct in_addr gateway, struct sp_err *err)
{
	struct nlmsghdr *h = start(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
	struct rtmsg *rt = mnl_nlmsg_put_extra_header(h, sizeof *rt);

	rt->rtm_family = AF_INET;
	rt->rtm_dst_len = 0;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_STATIC;
	rt->rtm_scope = RT_SCOPE_UNIVERSE;
	rt->rtm_type = RTN_UNICAST;
	mnl_attr_put(h, RTA_GATEWAY, sizeof gateway, &gateway);
	if (talk(nl, h) < 0)
		return sp_fail_errno(err, errno, "add default route");
	return 0;
}

struct link_walk {
	void (*fn)(void *arg, const char *name, const char *alias);
	void *arg;
};

static int link_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(a);

	if ((type == IFLA_IFNAME || type == IFLA_IFALIAS) && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		tb[type] = a;
	return MNL_CB_OK;
}

static int link_entry(const struct nlmsghdr *h, void *data)
{
	const struct nlattr *tb[IFLA_MAX + 1] = { 0 };
	struct link_walk *w = data;

	mnl_attr_parse(h, sizeof(struct ifinfomsg), link_attr, tb);
	if (tb[IFLA_IFNAME])
		w->fn(w->arg, mnl_attr_get_str(tb[IFLA_IFNAME]), tb[IFLA_IFALIAS] ? mnl_attr_get_str(tb[IFLA_IFALIAS]) : "");
	return MNL_CB_OK;
}

int sp_nl_links(struct sp_nl *nl, void (*fn)(void *arg, const char *name, const char *alias), void *arg,
		struct sp_err *err)
{
	struct nlmsghdr *h = start(nl, RTM_GETLINK, NLM_F_DUMP);
	struct link_walk w = { fn, arg };
	unsigned seq = h->nlmsg_seq;
	ssize_t n;
	int r;

	h->nlmsg_flags &= (uint16_t)~NLM_F_ACK;
	link_msg(h, 0);
	if (mnl_socket_sendto(nl->sock, h, h->nlmsg_len) < 0)
		return sp_fail_errno(err, errno, "list links");
	do {
		n = mnl_socket_recvfrom(nl->sock, nl->buf, sizeof nl->buf);
		if (n < 0)
			return sp_fail_errno(err, errno, "list links");
		r = mnl_cb_run(nl->buf, (size_t)n, seq, nl->portid, link_entry, &w);
	} while (r > MNL_CB_STOP);
	if (r < 0)
		return sp_fail_errno(err, errno, "list links");
	return 0;
}

int sp_nl_rule(struct sp_nl *nl, bool add, const struct sp_nl_rule *rule, struct sp_err *err)
{
	struct nlmsghdr *h = start(nl, add ? RTM_NEWRULE : RTM_DELRULE, add ? NLM_F_CREATE | NLM_F_EXCL : 0);
	struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(h, sizeof *frh);

	frh->family = AF_INET;
	frh->src_len = (uint8_t)rule->src_len;
	frh->dst_len = (uint8_t)rule->dst_len;
	frh->table = RT_TABLE_MAIN;
	frh->action = rule->prohibit ? FR_ACT_PROHIBIT : FR_ACT_TO_TBL;
	if (rule->prohibit)
		frh->table = RT_TABLE_UNSPEC;
	mnl_attr_put_u32(h, FRA_PRIORITY, rule->priority);
	mnl_attr_put_strz(h, FRA_IIFNAME, rule->iif);
	if (rule->src_len)
		mnl_attr_put(h, FRA_SRC, sizeof rule->src, &rule->src);
	if (rule->dst_len)
		mnl_attr_put(h, FRA_DST, sizeof rule->dst, &rule->dst);
	if (talk(nl, h) == 0)
		return 1;
	if (!(add ? errno == EEXIST : errno == ENOENT))
		return sp_fail_errno(err, errno, "%s a routing rule of %s", add ? "add" : "remove", rule->iif);
	return 0;
}
