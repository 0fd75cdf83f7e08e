#include "net/attach.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
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

/* Policy routing in a provider: a client to a peer (RULE_PEER) before
 * nothing from one client to another (RULE_ISOLATE). */
#define RULE_PEER 10000u
#define RULE_ISOLATE 10001u
/* On the host: nothing from an uplink to where its table refuses. */
#define RULE_UPLINK 10002u

/* What a namespace's IPv4 takes from others, set rather than inherited
 * from the host: no redirects taken or sent, no source routes. */
static int quiet_ipv4(struct sp_err *err)
{
	static const char *const off[] = { "accept_redirects", "secure_redirects", "send_redirects",
					   "accept_source_route" };
	char path[64];

	for (size_t i = 0; i < sizeof off / sizeof off[0]; i++)
		for (int k = 0; k < 2; k++) {
			snprintf(path, sizeof path, "ipv4/conf/%s/%s", k ? "default" : "all", off[i]);
			if (sp_net_sysctl(path, "0", false, err) < 0)
				return -1;
		}
	return 0;
}

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
	    sp_net_sysctl("ipv6/conf/all/disable_ipv6", "1", true, err) < 0 || quiet_ipv4(err) < 0)
		return -1;
	if (nft("the provider's table", replace(sp_nft_fresh("inet", "spectrum"), sp_nft_provider(&plan->net)),
		err) < 0)
		return -1;
	if (sp_nl_open(&nl, err) < 0)
		return -1;
	/* The kernel's own line between clients, which holds while the
	 * namespace dies and its nftables hooks are already gone: nothing
	 * that came in on the bridge is routed back to a client, but to a
	 * declared peer (client_rules; the local table, rule 0, comes
	 * first: the provider's own address and the broadcast stay local). */
	if (sp_nl_rule(nl, true, &(struct sp_nl_rule){ .iif = SP_NET_BRIDGE, .dst = in_text("100.64.0.0"),
						       .dst_len = SP_NET_PREFIX_LEN, .priority = RULE_ISOLATE,
						       .prohibit = true },
		       err) < 0)
		goto out;
	/* A MAC of its own, which no client has (their last two bytes are
	 * never 00:01): otherwise the bridge takes its lowest port's, and its
	 * clients' gateway changes as clients come and go. */
	if (sp_nl_bridge_add(nl, SP_NET_BRIDGE, err) < 0 || sp_nl_link_set_mac(nl, SP_NET_BRIDGE, bridge_mac, err) < 0 ||
	    sp_nl_addr_add(nl, SP_NET_BRIDGE, in_text(SP_NET_PROVIDER_ADDR), SP_NET_PREFIX_LEN, err) < 0)
		goto out;
	/* Clients' ports are isolated, so a client reaches a peer through
	 * the provider: it answers their ARP requests for each other
	 * (RFC 3069's private VLAN proxy ARP) at once, and routes back out
	 * of the bridge without telling them the shorter way. */
	if (sp_net_sysctl("ipv4/conf/" SP_NET_BRIDGE "/proxy_arp_pvlan", "1", false, err) < 0 ||
	    sp_net_sysctl("ipv4/neigh/" SP_NET_BRIDGE "/proxy_delay", "0", false, err) < 0 ||
	    sp_net_sysctl("ipv4/conf/" SP_NET_BRIDGE "/send_redirects", "0", false, err) < 0 ||
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

/* A failed look-up counts as absent: what follows puts the table back
 * (or cuts the uplink), never leaves the host open on an error. */
static bool guard_present(void)
{
	return sp_nft_table_exists(SP_NFT_GUARD) == 1;
}

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/* Where Spectrum records that it turned forwarding on in this network
 * namespace (the host's, or a test's stand-in): a file named by the
 * namespace's cookie, which the kernel never gives twice.  Not the guard
 * table itself: a host's firewall reload (`flush ruleset`) removes it
 * and leaves forwarding on. */
static int forward_record(char *path, size_t size, struct sp_err *err)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof cookie;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return sp_fail_errno(err, e, "identify the host's network namespace");
	}
	close(fd);
	snprintf(path, size, UPLINK_LOCK ".forwarding-%llu", (unsigned long long)cookie);
	return 0;
}

static int forwarding_on(struct sp_err *err)
{
	char record[128];
	int fd;

	if (forward_record(record, sizeof record, err) < 0)
		return -1;
	if (access(record, F_OK) < 0) {
		if (host_forwards())
			return 0; /* the host's own routing: left alone */
		/* Recorded first: whatever happens next, the last uplink
		 * turns it off again. */
		fd = open(record, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return sp_fail_errno(err, errno, "record in %s", record);
		close(fd);
	}
	if (!guard_present() && nft("the host's forwarding guard", sp_nft_forward_guard(), err) < 0)
		return -1;
	return sp_net_sysctl("ipv4/ip_forward", "1", false, err);
}

/* After LINK is gone: the last uplink turns forwarding off again, when
 * Spectrum turned it on. */
static void forwarding_off_unless_used(void)
{
	struct sp_err ignored = { 0 };
	struct if_nameindex *links = if_nameindex();
	char record[128];
	bool used = false;

	for (struct if_nameindex *l = links; l && l->if_name; l++)
		used |= strncmp(l->if_name, "spu-", 4) == 0;
	if (links)
		if_freenameindex(links);
	if (used || forward_record(record, sizeof record, &ignored) < 0 || access(record, F_OK) < 0)
		return;
	sp_net_sysctl("ipv4/ip_forward", "0", false, &ignored);
	nft("remove the host's forwarding guard", sp_nft_delete("ip", SP_NFT_GUARD), &ignored);
	unlink(record);
}

/* The uplink table's refusals again as routing rules on the host (ADD,
 * or remove them): a firewall reload (`flush ruleset`) takes the table
 * but not these, so until the engine has put it back (within a second)
 * the host routes nothing from the provider to a private, shared,
 * link-local or multicast network. */
static int uplink_rules(struct sp_nl *nl, const char *link, bool add, struct sp_err *err)
{
	for (const char *p = SP_NET_UPLINK_DENIED; *p; p += strspn(p, ", ")) {
		struct sp_nl_rule r = { .iif = link, .priority = RULE_UPLINK, .prohibit = true };
		char net[INET_ADDRSTRLEN];
		int used = 0;

		if (sscanf(p, "%15[0-9.]/%u%n", net, &r.dst_len, &used) != 2 || used == 0 ||
		    inet_pton(AF_INET, net, &r.dst) != 1)
			return sp_fail(err, SP_ERR_RUNTIME, "uplink rules: bad prefix in \"%s\"", p);
		p += used;
		if (sp_nl_rule(nl, add, &r, err) < 0)
			return -1;
	}
	return 0;
}

static int uplink_host_side(const struct sp_plan *plan, const struct uplink *u, int netns, struct sp_err *err)
{
	struct sp_nl *nl = NULL;
	char v6[64];
	int r = -1;

	if (sp_nl_open(&nl, err) < 0)
		return -1;
	if (sp_nl_link_del(nl, u->link, err) < 0 ||
	    sp_nl_veth_add(nl, u->link, SP_NET_UPLINK, netns, err) < 0)
		goto out;
	/* Its tables are IPv4's: no IPv6 on the host's end either. */
	snprintf(v6, sizeof v6, "ipv6/conf/%s/disable_ipv6", u->link);
	if (sp_net_sysctl(v6, "1", true, err) < 0 ||
	    sp_nl_addr_add(nl, u->link, in_of(u->host), 30, err) < 0 || uplink_rules(nl, u->link, true, err) < 0 ||
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
		uplink_rules(nl, u.link, false, &ignored);
		sp_nl_close(nl);
	}
	nft("remove the host's uplink table", sp_nft_delete("ip", u.table), &ignored);
	forwarding_off_unless_used();
	if (lock >= 0)
		close(lock);
}

void sp_net_provider_cut(int netns)
{
	struct sp_err ignored = { 0 };
	struct sp_nl *nl = NULL;
	int saved;

	if (netns < 0 || sp_netns_enter(netns, &saved, &ignored) < 0)
		return;
	/* Nothing routed any more, then nothing bridged: what is left are
	 * unconnected ports, whatever the order the kernel then removes
	 * the namespace's hooks and links in. */
	sp_net_sysctl("ipv4/ip_forward", "0", false, &ignored);
	if (sp_nl_open(&nl, &ignored) == 0) {
		sp_nl_link_del(nl, SP_NET_BRIDGE, &ignored);
		sp_nl_close(nl);
	}
	sp_netns_leave(saved);
}

/* The subnet of LINK's address (the uplink's /30), from the host. */
static int uplink_subnet(struct uplink *u, struct sp_err *err)
{
	struct ifaddrs *list;
	int r = sp_fail(err, SP_ERR_RUNTIME, "%s has no address", u->link);

	if (getifaddrs(&list) < 0)
		return sp_fail_errno(err, errno, "list the host's addresses");
	for (const struct ifaddrs *a = list; a; a = a->ifa_next)
		if (a->ifa_addr && a->ifa_addr->sa_family == AF_INET && strcmp(a->ifa_name, u->link) == 0) {
			uint32_t net = ntohl(((const struct sockaddr_in *)a->ifa_addr)->sin_addr.s_addr) & ~3u;
			struct in_addr in = in_of(net);
			char text[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &in, text, sizeof text);
			snprintf(u->subnet, sizeof u->subnet, "%s/30", text);
			sp_err_clear(err);
			r = 0;
			break;
		}
	freeifaddrs(list);
	return r;
}

static bool host_tables_there(const struct uplink *u, const char *record)
{
	return sp_nft_table_exists(u->table) == 1 && (access(record, F_OK) < 0 || guard_present());
}

int sp_net_provider_check(const struct sp_plan *plan, struct sp_err *err)
{
	struct sp_err ignored = { 0 };
	struct sp_nl *nl = NULL;
	struct uplink u;
	char record[128];
	int lock, r = 0;

	if (plan->net.role != SP_NET_ROLE_PROVIDER || plan->net.uplink != SP_UPLINK_HOST)
		return 0;
	uplink_names(plan, &u);
	if (forward_record(record, sizeof record, err) < 0)
		return -1;
	if (if_nametoindex(u.link) == 0 || host_tables_there(&u, record))
		return 0;
	if (sp_nl_open(&nl, err) < 0)
		return -1;
	/* Cut at once, then restored (nftables takes far longer): the
	 * routing rules (uplink_rules) hold what is beyond the host, but
	 * nothing holds the host's own addresses meanwhile. */
	sp_nl_link_set_up(nl, u.link, false, &ignored);
	lock = host_lock();
	if (!host_tables_there(&u, record)) {
		bool restored = uplink_subnet(&u, err) == 0 &&
				nft("the host's uplink table",
				    replace(sp_nft_fresh("ip", u.table), sp_nft_uplink(u.table, u.link, u.subnet)),
				    err) == 0 &&
				(access(record, F_OK) < 0 || forwarding_on(err) == 0);

		r = restored ? 1 : -1;
	}
	if (r >= 0 && sp_nl_link_set_up(nl, u.link, true, err) < 0)
		r = -1;
	if (r < 0) {
		/* Not restored: no uplink rather than an open one. */
		sp_nl_link_del(nl, u.link, &ignored);
		uplink_rules(nl, u.link, false, &ignored);
		nft("remove the host's uplink table", sp_nft_delete("ip", u.table), &ignored);
		forwarding_off_unless_used();
	}
	if (lock >= 0)
		close(lock);
	sp_nl_close(nl);
	return r;
}

/* A client's port in its provider carries, as its alias, who made it:
 * "spectrum ID ADDRESS PID" (its instance id, address, and the host pid
 * of its PID 1).  Only root in the provider's namespace can set one. */
#define ALIAS_TAG "spectrum"

struct taken {
	const struct sp_plan *plan;
	char by[128]; /* the instance that holds the port or address */
	const char *what;
};

static void taken_by(void *arg, const char *name, const char *alias)
{
	struct taken *t = arg;
	const struct sp_plan_net *net = &t->plan->net;
	char tag[16], id[96], addr[16];
	int pid;

	if (t->by[0] || sscanf(alias, "%15s %95s %15s %d", tag, id, addr, &pid) != 4 || strcmp(tag, ALIAS_TAG) != 0)
		return;
	if (strcmp(id, t->plan->id) == 0 || (strcmp(name, net->port) != 0 && strcmp(addr, net->addr) != 0))
		return;
	/* A port whose client is gone goes with that client's namespace
	 * a moment later (or is replaced now). */
	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
		return;
	/* Printable: an instance id is [a-z0-9.-]. */
	for (char *c = id; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '.'))
			*c = '?';
	*strchrnul(id, '.') = '\0';
	snprintf(t->by, sizeof t->by, "%s", id);
	t->what = strcmp(name, net->port) == 0 ? "port" : "address";
}

/* Another configuration's client may have the same port name (the same
 * MAC) or the same address on this provider: refused (-2), before
 * anything of the running one is touched. */
static int check_free(struct sp_nl *nl, const struct sp_plan *plan, struct sp_err *err)
{
	struct taken t = { .plan = plan };

	if (sp_nl_links(nl, taken_by, &t, err) < 0)
		return -1;
	if (t.by[0]) {
		sp_fail(err, SP_ERR_RUNTIME, "its %s %s is taken by %s, another instance of that provider", t.what,
			strcmp(t.what, "port") == 0 ? plan->net.port : plan->net.addr, t.by);
		return -2;
	}
	return 0;
}

/* What a previous holder of its address left in the provider when its
 * engine and janitor were both killed (nothing of Spectrum's then removes
 * it): its routes and its set elements to its peers, which are not this
 * one's.  Called with the address free (check_free, under the lock). */
static int forget_address(struct sp_nl *nl, const struct sp_plan_net *net, struct sp_err *err)
{
	struct sp_nl_rule any = { .iif = SP_NET_BRIDGE, .src = in_text(net->addr), .src_len = 32,
				  .priority = RULE_PEER };
	cleanup_free char *set = NULL, *stale = NULL;
	size_t len = 0, n = 0;
	int removed = 1, i;
	FILE *f;

	for (i = 0; i < 1024 && removed == 1; i++)
		removed = sp_nl_rule(nl, false, &any, err);
	if (removed < 0)
		return -1;
	/* Its routes and its elements are made together (client_in_provider):
	 * no route left, no element either, and no nft query on the path of
	 * every start. */
	if (i == 1)
		return 0;
	if (sp_nft_query("the provider's set of peers", "list set inet spectrum peers\n", &set, err) < 0)
		return -1;
	f = open_memstream(&stale, &len);
	if (!f)
		return sp_fail_errno(err, ENOMEM, "net");
	/* Its elements read "A . B" (nft's text, IPv4 only). */
	for (const char *p = set; *p; p++) {
		char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
		int used = 0;

		if ((p > set && (p[-1] == '.' || (p[-1] >= '0' && p[-1] <= '9'))) ||
		    sscanf(p, "%15[0-9.] . %15[0-9.]%n", a, b, &used) != 2 || used == 0)
			continue;
		if (strcmp(a, net->addr) == 0)
			fprintf(f, "%s %s . %s", n++ ? "," : "delete element inet spectrum peers {", a, b);
		p += used - 1;
	}
	if (n)
		fputs(" }\n", f);
	if (fclose(f) != 0)
		return sp_fail_errno(err, ENOMEM, "net");
	return n ? sp_nft_run("the provider's set of peers", stale, err) : 0;
}

/* Its routes to its peers through the provider (see RULE_ISOLATE). */
static int client_rules(struct sp_nl *nl, const struct sp_plan_net *net, bool add, struct sp_err *err)
{
	for (size_t i = 0; i < net->n_peers; i++) {
		struct sp_nl_rule r = { .iif = SP_NET_BRIDGE, .src = in_text(net->addr), .src_len = 32,
					.dst = in_text(net->peers[i].addr), .dst_len = 32, .priority = RULE_PEER };

		if (sp_nl_rule(nl, add, &r, err) < 0)
			return -1;
	}
	return 0;
}

static int client_in_provider(const struct sp_plan *plan, int client_netns, pid_t owner, struct sp_err *err)
{
	const struct sp_plan_net *net = &plan->net;
	cleanup_free char *table = sp_printf("spectrum-%s", net->port);
	char alias[160];
	struct sp_nl *nl = NULL;
	int r = -1, lock;

	if (!table)
		return sp_fail_errno(err, ENOMEM, "net");
	if (sp_nl_open(&nl, err) < 0)
		return -1;
	/* The check and the port it admits as one step: two configurations'
	 * clients with one port name, linked at the same moment, would both
	 * pass it, and the later one delete the earlier one's port. */
	lock = host_lock();
	r = check_free(nl, plan, err);
	if (r < 0)
		goto out; /* -2: nothing of it made, nothing to remove */
	r = -1;
	if (forget_address(nl, net, err) < 0)
		goto out;
	if (nft("the client's tables in its provider",
		replace(sp_nft_fresh("bridge inet", table), sp_nft_client(net)), err) < 0)
		goto out;
	snprintf(alias, sizeof alias, ALIAS_TAG " %s %s %d", plan->id, net->addr, (int)owner);
	/* Isolated before it is up: not one frame of it is ever bridged to
	 * another client's port. */
	if (client_rules(nl, net, true, err) < 0 || sp_nl_link_del(nl, net->port, err) < 0 ||
	    sp_nl_veth_add(nl, net->port, "eth0", client_netns, err) < 0 ||
	    sp_nl_link_set_alias(nl, net->port, alias, err) < 0 ||
	    sp_nl_link_set_master(nl, net->port, SP_NET_BRIDGE, err) < 0 ||
	    sp_nl_port_isolate(nl, net->port, err) < 0 || sp_nl_link_set_up(nl, net->port, true, err) < 0)
		goto out;
	r = 0;
out:
	if (lock >= 0)
		close(lock);
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

int sp_net_client_up(const struct sp_plan *plan, int provider_netns, int client_netns, pid_t owner,
		     gid_t ping_gid, struct sp_err *err)
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
	if (r == 0)
		r = quiet_ipv4(err);
	sp_netns_leave(saved);
	if (r < 0)
		goto fail;
	if (sp_netns_enter(provider_netns, &saved, err) < 0)
		goto fail;
	r = client_in_provider(plan, client_netns, owner, err);
	sp_netns_leave(saved);
	if (r == -2)
		goto fail;
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
	struct sp_nl *nl = NULL;
	int saved;

	if (plan->net.role != SP_NET_ROLE_CLIENT || provider_netns < 0 ||
	    sp_netns_enter(provider_netns, &saved, &ignored) < 0)
		return;
	if (sp_nl_open(&nl, &ignored) == 0) {
		int lock = host_lock(); /* as client_in_provider */

		/* Its names are another running instance's (a refused link):
		 * theirs, not to be removed. */
		if (check_free(nl, plan, &ignored) != -2) {
			nft("remove the client's tables", sp_nft_client_remove(&plan->net), &ignored);
			client_rules(nl, &plan->net, false, &ignored);
		}
		if (lock >= 0)
			close(lock);
		sp_nl_close(nl);
	}
	sp_netns_leave(saved);
}
