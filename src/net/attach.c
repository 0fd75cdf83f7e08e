#include "net/attach.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/addr.h"
#include "net/netlink.h"
#include "net/netns.h"
#include "net/nft.h"
#include "net/rules.h"
#include "util/cleanup.h"
#include "util/fnv.h"
#include "util/strv.h"

/* Uplinks take /30s of 100.65.0.0/16: .1 the host, .2 the provider. */
#define UPLINK_NET 0x64410000u
#define UPLINK_SLOTS 16384u

struct uplink {
	char link[SP_LINK_NAME_MAX]; /* the host's end */
	char table[32];
	uint32_t host, provider;     /* host byte order */
	char subnet[24];
};

static void uplink_names(const struct sp_plan *plan, struct uplink *u)
{
	uint32_t h = sp_fnv1a32(plan->id);

	snprintf(u->link, sizeof u->link, "spu-%08x", h);
	snprintf(u->table, sizeof u->table, "spectrum-up-%08x", h);
}

/* True when an address of this namespace lies in the /30 at NET. */
static bool slot_taken(const struct ifaddrs *list, uint32_t net)
{
	for (const struct ifaddrs *a = list; a; a = a->ifa_next)
		if (a->ifa_addr && a->ifa_addr->sa_family == AF_INET &&
		    (ntohl(((const struct sockaddr_in *)a->ifa_addr)->sin_addr.s_addr) & ~3u) == net)
			return true;
	return false;
}

/* The first free /30 from the one the instance's id picks: stable for a
 * provider, different for two (unless they collide, then the next). */
static int uplink_slot(const struct sp_plan *plan, struct uplink *u, struct sp_err *err)
{
	struct ifaddrs *list;
	uint32_t start = sp_fnv1a32(plan->id) % UPLINK_SLOTS;
	struct in_addr in;
	char text[INET_ADDRSTRLEN];

	if (getifaddrs(&list) < 0)
		return sp_fail_errno(err, errno, "list the host's addresses");
	for (uint32_t k = 0; k < UPLINK_SLOTS; k++) {
		uint32_t net = UPLINK_NET + ((start + k) % UPLINK_SLOTS) * 4;

		if (!slot_taken(list, net)) {
			freeifaddrs(list);
			u->host = net + 1;
			u->provider = net + 2;
			in.s_addr = htonl(net);
			inet_ntop(AF_INET, &in, text, sizeof text);
			snprintf(u->subnet, sizeof u->subnet, "%s/30", text);
			return 0;
		}
	}
	freeifaddrs(list);
	return sp_fail(err, SP_ERR_RUNTIME, "no free uplink address in 100.65.0.0/16");
}

static struct in_addr in_of(uint32_t host_order)
{
	return (struct in_addr){ htonl(host_order) };
}

static struct in_addr in_text(const char *text)
{
	struct in_addr in = { 0 };

	inet_pton(AF_INET, text, &in);
	return in;
}

/* Runs the script BUILT (malloc'ed, NULL on ENOMEM) and frees it. */
static int nft(const char *what, char *built, struct sp_err *err)
{
	int r;

	if (!built)
		return sp_fail_errno(err, ENOMEM, "%s", what);
	r = sp_nft_run(what, built, err);
	free(built);
	return r;
}

/* Both scripts as one transaction: the old rules (of a crashed run) go
 * and the new ones come in one step. */
static char *replace(char *del, char *add)
{
	char *both = del && add ? sp_printf("%s%s", del, add) : NULL;

	free(del);
	free(add);
	return both;
}

static const uint8_t bridge_mac[6] = { 0x0a, 0xb3, 0xec, 0x00, 0x00, 0x01 };

static int provider_inside(const struct sp_plan *plan, struct sp_err *err)
{
	struct sp_nl *nl = NULL;
	int r = -1;

	/* Bridged frames go through the bridge table only, not through the
	 * inet hooks too (br_netfilter, where it is loaded). */
	if (sp_net_sysctl("bridge/bridge-nf-call-iptables", "0", true, err) < 0 ||
	    sp_net_sysctl("bridge/bridge-nf-call-ip6tables", "0", true, err) < 0 ||
	    sp_net_sysctl("bridge/bridge-nf-call-arptables", "0", true, err) < 0 ||
	    sp_net_sysctl("ipv6/conf/default/disable_ipv6", "1", true, err) < 0 ||
	    sp_net_sysctl("ipv6/conf/all/disable_ipv6", "1", true, err) < 0)
		return -1;
	if (nft("the provider's table", replace(sp_nft_fresh("inet", "spectrum"), sp_nft_provider(&plan->net)),
		err) < 0)
		return -1;
	if (sp_nl_open(&nl, err) < 0)
		return -1;
	/* A MAC of its own, which no client has (their last two bytes are
	 * never 00:01): otherwise the bridge takes its lowest port's, and its
	 * clients' gateway changes as clients come and go. */
	if (sp_nl_bridge_add(nl, SP_NET_BRIDGE, err) < 0 || sp_nl_link_set_mac(nl, SP_NET_BRIDGE, bridge_mac, err) < 0 ||
	    sp_nl_addr_add(nl, SP_NET_BRIDGE, in_text(SP_NET_PROVIDER_ADDR), SP_NET_PREFIX_LEN, err) < 0 ||
	    sp_nl_link_set_up(nl, SP_NET_BRIDGE, true, err) < 0)
		goto out;
	if (sp_net_sysctl("ipv4/ip_forward", "1", false, err) < 0)
		goto out;
	r = 0;
out:
	sp_nl_close(nl);
	return r;
}

/* Uplinks need the host to forward.  Where it did not, Spectrum turns
 * forwarding on together with a guard table that forwards nothing but
 * the uplinks' traffic, and turns both off with the last uplink; where it
 * did, it leaves the host's own routing alone.  Engines take turns. */
#define UPLINK_LOCK "/run/spectrum-uplink.lock"

static int host_lock(void)
{
	int fd = open(UPLINK_LOCK, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd >= 0)
		while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
			;
	return fd;
}

static bool host_forwards(void)
{
	char c = '0';
	int fd = open("/proc/sys/net/ipv4/ip_forward", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (read(fd, &c, 1) != 1)
			c = '0';
		close(fd);
	}
	return c == '1';
}

static bool guard_present(void)
{
	struct sp_err ignored = { 0 };

	return sp_nft_run("guard", "list table ip " SP_NFT_GUARD "\n", &ignored) == 0;
}

static int forwarding_on(struct sp_err *err)
{
	bool guarded = guard_present();

	if (host_forwards() && !guarded)
		return 0;
	if (!guarded && nft("the host's forwarding guard", sp_nft_forward_guard(), err) < 0)
		return -1;
	return sp_net_sysctl("ipv4/ip_forward", "1", false, err);
}

/* After LINK is gone: the last uplink turns forwarding off again. */
static void forwarding_off_unless_used(void)
{
	struct sp_err ignored = { 0 };
	struct if_nameindex *links = if_nameindex();
	bool used = false;

	for (struct if_nameindex *l = links; l && l->if_name; l++)
		used |= strncmp(l->if_name, "spu-", 4) == 0;
	if (links)
		if_freenameindex(links);
	if (used || !guard_present())
		return;
	sp_net_sysctl("ipv4/ip_forward", "0", false, &ignored);
	nft("remove the host's forwarding guard", sp_nft_delete("ip", SP_NFT_GUARD), &ignored);
}

static int uplink_host_side(const struct sp_plan *plan, const struct uplink *u, int netns, struct sp_err *err)
{
	struct sp_nl *nl = NULL;
	int r = -1;

	if (sp_nl_open(&nl, err) < 0)
		return -1;
	if (sp_nl_link_del(nl, u->link, err) < 0 ||
	    sp_nl_veth_add(nl, u->link, SP_NET_UPLINK, netns, err) < 0 ||
	    sp_nl_addr_add(nl, u->link, in_of(u->host), 30, err) < 0 ||
	    sp_nl_link_set_up(nl, u->link, true, err) < 0)
		goto out;
	if (nft("the host's uplink table",
		replace(sp_nft_fresh("ip", u->table), sp_nft_uplink(u->table, u->link, u->subnet)), err) < 0)
		goto out;
	r = forwarding_on(err);
out:
	(void)plan;
	sp_nl_close(nl);
	return r;
}

static int uplink_inside(const struct uplink *u, struct sp_err *err)
{
	struct sp_nl *nl = NULL;
	int r = -1;

	if (sp_nl_open(&nl, err) < 0)
		return -1;
	if (sp_nl_addr_add(nl, SP_NET_UPLINK, in_of(u->provider), 30, err) < 0 ||
	    sp_nl_link_set_up(nl, SP_NET_UPLINK, true, err) < 0 ||
	    sp_nl_route_default(nl, in_of(u->host), err) < 0)
		goto out;
	r = 0;
out:
	sp_nl_close(nl);
	return r;
}

int sp_net_provider_up(const struct sp_plan *plan, int netns, struct sp_err *err)
{
	struct uplink u;
	int saved, r, lock;

	if (sp_netns_enter(netns, &saved, err) < 0)
		goto fail;
	r = provider_inside(plan, err);
	sp_netns_leave(saved);
	if (r < 0)
		goto fail;
	if (plan->net.uplink != SP_UPLINK_HOST)
		return 0;
	uplink_names(plan, &u);
	lock = host_lock();
	r = uplink_slot(plan, &u, err) < 0 ? -1 : uplink_host_side(plan, &u, netns, err);
	if (lock >= 0)
		close(lock);
	if (r < 0)
		goto fail_uplink;
	if (sp_netns_enter(netns, &saved, err) < 0)
		goto fail_uplink;
	r = uplink_inside(&u, err);
	sp_netns_leave(saved);
	if (r < 0)
		goto fail_uplink;
	return 0;
fail_uplink:
	sp_net_provider_down(plan);
fail:
	return sp_err_wrap(err, "network of provider %s", plan->name);
}

void sp_net_provider_down(const struct sp_plan *plan)
{
	struct sp_err ignored = { 0 };
	struct sp_nl *nl = NULL;
	struct uplink u;
	int lock;

	if (plan->net.role != SP_NET_ROLE_PROVIDER || plan->net.uplink != SP_UPLINK_HOST)
		return;
	uplink_names(plan, &u);
	lock = host_lock();
	if (sp_nl_open(&nl, &ignored) == 0) {
		sp_nl_link_del(nl, u.link, &ignored);
		sp_nl_close(nl);
	}
	nft("remove the host's uplink table", sp_nft_delete("ip", u.table), &ignored);
	forwarding_off_unless_used();
	if (lock >= 0)
		close(lock);
}

static int client_in_provider(const struct sp_plan *plan, int client_netns, struct sp_err *err)
{
	const struct sp_plan_net *net = &plan->net;
	cleanup_free char *table = sp_printf("spectrum-%s", net->port);
	struct sp_nl *nl = NULL;
	int r = -1;

	if (!table)
		return sp_fail_errno(err, ENOMEM, "net");
	if (nft("the client's tables in its provider",
		replace(sp_nft_fresh("bridge inet", table), sp_nft_client(net)), err) < 0)
		return -1;
	if (sp_nl_open(&nl, err) < 0)
		return -1;
	if (sp_nl_link_del(nl, net->port, err) < 0 ||
	    sp_nl_veth_add(nl, net->port, "eth0", client_netns, err) < 0 ||
	    sp_nl_link_set_master(nl, net->port, SP_NET_BRIDGE, err) < 0 ||
	    sp_nl_link_set_up(nl, net->port, true, err) < 0)
		goto out;
	r = 0;
out:
	sp_nl_close(nl);
	return r;
}

static int client_inside(const struct sp_plan *plan, struct sp_err *err)
{
	const struct sp_plan_net *net = &plan->net;
	struct sp_nl *nl = NULL;
	int r = -1;

	if (sp_nl_open(&nl, err) < 0)
		return -1;
	if (sp_nl_link_set_mac(nl, "eth0", net->mac, err) < 0 ||
	    sp_nl_addr_add(nl, "eth0", in_text(net->addr), SP_NET_PREFIX_LEN, err) < 0 ||
	    sp_nl_link_set_up(nl, "eth0", true, err) < 0 ||
	    sp_nl_route_default(nl, in_text(SP_NET_PROVIDER_ADDR), err) < 0)
		goto out;
	r = 0;
out:
	sp_nl_close(nl);
	return r;
}

static void remove_port(const struct sp_plan *plan, int provider_netns)
{
	struct sp_err ignored = { 0 };
	struct sp_nl *nl = NULL;
	int saved;

	if (sp_netns_enter(provider_netns, &saved, &ignored) < 0)
		return;
	if (sp_nl_open(&nl, &ignored) == 0) {
		sp_nl_link_del(nl, plan->net.port, &ignored);
		sp_nl_close(nl);
	}
	sp_netns_leave(saved);
}

int sp_net_client_up(const struct sp_plan *plan, int provider_netns, int client_netns, gid_t ping_gid,
		     struct sp_err *err)
{
	char range[32];
	int saved, r;

	/* No IPv6 on links made from now on: the filters are IPv4's.  The
	 * range is in the writer's ids, the host's. */
	snprintf(range, sizeof range, "%u %u", (unsigned)ping_gid, (unsigned)ping_gid);
	if (sp_netns_enter(client_netns, &saved, err) < 0)
		goto fail;
	r = sp_net_sysctl("ipv6/conf/default/disable_ipv6", "1", true, err);
	if (r == 0)
		r = sp_net_sysctl("ipv4/ping_group_range", range, false, err);
	sp_netns_leave(saved);
	if (r < 0)
		goto fail;
	if (sp_netns_enter(provider_netns, &saved, err) < 0)
		goto fail;
	r = client_in_provider(plan, client_netns, err);
	sp_netns_leave(saved);
	if (r < 0)
		goto fail_down;
	if (sp_netns_enter(client_netns, &saved, err) < 0)
		goto fail_down;
	r = client_inside(plan, err);
	sp_netns_leave(saved);
	if (r < 0)
		goto fail_down;
	return 0;
fail_down:
	/* The port goes too, at once: a client being linked again (its
	 * provider restarted) runs on, and must not keep a port without
	 * its rules. */
	remove_port(plan, provider_netns);
	sp_net_client_down(plan, provider_netns);
fail:
	return sp_err_wrap(err, "network of %s (provider %s)", plan->name, plan->net.provider);
}

/* The port is not removed here: it goes with the client's namespace,
 * whose last process has gone, and removing a link waits for the kernel
 * (~15 ms of every stop).  A port still there (the kernel frees namespaces
 * a moment later) is removed by the next start before it makes its own. */
void sp_net_client_down(const struct sp_plan *plan, int provider_netns)
{
	struct sp_err ignored = { 0 };
	cleanup_free char *table = sp_printf("spectrum-%s", plan->net.port);
	int saved;

	if (plan->net.role != SP_NET_ROLE_CLIENT || provider_netns < 0 || !table ||
	    sp_netns_enter(provider_netns, &saved, &ignored) < 0)
		return;
	nft("remove the client's tables", sp_nft_delete("bridge inet", table), &ignored);
	sp_netns_leave(saved);
}
