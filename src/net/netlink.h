/* rtnetlink over libmnl: the links, addresses and routes of compartment
 * networking, made with the kernel's own interface and no `ip` process.
 * A handle works in the network namespace it was opened in; interface
 * names are resolved there. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "util/err.h"

struct sp_nl;

int sp_nl_open(struct sp_nl **nl, struct sp_err *err);
void sp_nl_close(struct sp_nl *nl);

/* A veth pair NAME <-> PEER; PEER is made in the namespace of NETNS_FD
 * (a descriptor of /proc/PID/ns/net or /run/netns/X), or here when -1. */
int sp_nl_veth_add(struct sp_nl *nl, const char *name, const char *peer, int netns_fd, struct sp_err *err);

/* A bridge NAME, with no IGMP snooping. */
int sp_nl_bridge_add(struct sp_nl *nl, const char *name, struct sp_err *err);

/* Makes NAME a port of bridge MASTER ("" or NULL: of none). */
int sp_nl_link_set_master(struct sp_nl *nl, const char *name, const char *master, struct sp_err *err);

/* Isolates the bridge port NAME: the bridge forwards nothing between two
 * isolated ports, only to and from the bridge itself (the kernel's rule,
 * which holds with no netfilter hook at all). */
int sp_nl_port_isolate(struct sp_nl *nl, const char *name, struct sp_err *err);

/* NAME's alias (IFLA_IFALIAS): only root in the link's namespace sets it. */
int sp_nl_link_set_alias(struct sp_nl *nl, const char *name, const char *alias, struct sp_err *err);

/* FN(ARG, name, alias or "") for each link of the namespace. */
int sp_nl_links(struct sp_nl *nl, void (*fn)(void *arg, const char *name, const char *alias), void *arg,
		struct sp_err *err);

/* An IPv4 policy routing rule: packets that came in on IIF, from SRC/SRC_LEN
 * to DST/DST_LEN (a length 0: any), looked up in the main table, or
 * refused (PROHIBIT).  1: added or removed; 0: adding one that is there,
 * or removing one that is not (no error).  A removal matches on what RULE
 * gives (a length 0: any), so it may take any one of several. */
struct sp_nl_rule {
	const char *iif;
	struct in_addr src, dst;
	unsigned src_len, dst_len;
	uint32_t priority;
	bool prohibit;
};

int sp_nl_rule(struct sp_nl *nl, bool add, const struct sp_nl_rule *rule, struct sp_err *err);

/* Moves NAME into the namespace of NETNS_FD. */
int sp_nl_link_set_netns(struct sp_nl *nl, const char *name, int netns_fd, struct sp_err *err);

int sp_nl_link_set_mac(struct sp_nl *nl, const char *name, const uint8_t mac[6], struct sp_err *err);
int sp_nl_link_set_up(struct sp_nl *nl, const char *name, bool up, struct sp_err *err);

/* Removes NAME (and, for a veth, its peer wherever it is).  A link that
 * is not there is no error: removal is what cleanup does, twice at times. */
int sp_nl_link_del(struct sp_nl *nl, const char *name, struct sp_err *err);

/* ADDR/PREFIX on NAME. */
int sp_nl_addr_add(struct sp_nl *nl, const char *name, struct in_addr addr, unsigned prefix, struct sp_err *err);

/* The default route via GATEWAY. */
int sp_nl_route_default(struct sp_nl *nl, struct in_addr gateway, struct sp_err *err);
