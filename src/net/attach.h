/* The engine's side of compartment networking (DESIGN.md, "Networking"),
 * done from the host, as root, before the instance's command runs: the
 * instance itself has no capability over its network.
 *
 * A provider gets, in its namespace, the bridge SP_NET_BRIDGE at
 * 100.64.0.1/16, IPv4 forwarding, no IPv6, and its nftables table; with
 * "uplink": "host", a veth from the host's namespace (the one the engine
 * runs in) to its SP_NET_UPLINK, in 100.65.0.0/16, with NAT on both sides.
 * A client gets eth0, the peer of its port on the provider's bridge, with
 * its MAC, address and default route; its tables in the provider are made
 * before its port, so no frame of it passes unfiltered.
 *
 * Everything made is named from the plan alone, so removal needs no
 * record: the `down` functions work from a crashed engine's janitor, and
 * are harmless twice. */
#pragma once

#include <sys/types.h>

#include "plan/plan.h"
#include "util/err.h"

int sp_net_provider_up(const struct sp_plan *plan, int netns, struct sp_err *err);

/* What of a provider outlives its namespace: the host's end of the
 * uplink and the host's table. */
void sp_net_provider_down(const struct sp_plan *plan);

/* Before a provider's namespace can die (NETNS holds it): no forwarding
 * and no bridge any more, so that its clients cannot meet in the moment
 * when the kernel has removed the namespace's nftables hooks but not yet
 * its links. */
void sp_net_provider_cut(int netns);

/* While a provider with an uplink runs: restores the host's tables of it
 * (its uplink table, and the forwarding guard where Spectrum turned
 * forwarding on) when they are gone (a firewall reload flushed them),
 * or else removes the uplink.  0: all there; 1: restored; -1: removed. */
int sp_net_provider_check(const struct sp_plan *plan, struct sp_err *err);

/* OWNER: the host pid of the client's PID 1, recorded on its port.  A
 * port name or address that another running instance has on that
 * provider (another configuration's) is refused.
 * PING_GID: the host gid of the instance's user, who may then send ICMP
 * echo requests without a capability (ping_group_range, as Docker does). */
int sp_net_client_up(const struct sp_plan *plan, int provider_netns, int client_netns, pid_t owner,
		     gid_t ping_gid, struct sp_err *err);

/* Removes the client's tables, set elements and routing rules from
 * PROVIDER_NETNS; its port goes with its namespace. */
void sp_net_client_down(const struct sp_plan *plan, int provider_netns);
