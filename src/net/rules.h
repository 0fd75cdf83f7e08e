/* The nftables rules of compartment networking, as text (nft syntax):
 * built from the plan alone, with no system call, so that unit tests read
 * them and `nft -f` would take them.  Every table is Spectrum's own, named
 * so that removing one removes exactly what was added.
 *
 * In a provider's namespace:
 *   inet spectrum          nothing new from elsewhere into the clients'
 *                          bridge; between clients only what its set
 *                          "peers" holds (the clients add their pairs);
 *                          NAT to the uplink
 *   bridge spectrum-PORT   a client's frames carry its own MAC and
 *                          address (no spoofing, IPv4 and ARP only), and
 *                          are forwarded to no other port (its port is
 *                          isolated too: peers meet through the
 *                          provider's routing)
 *   inet spectrum-PORT     its egress policy ("allow"), its peers
 *                          excepted; a bound on its tracked connections
 * On the host, for a provider with "uplink": "host":
 *   ip spectrum-up-HASH    NAT of the provider's link out of the host;
 *                          nothing new into it, nothing from it to the
 *                          host itself or to private, shared, link-local
 *                          or reserved addresses (the internet only)
 *   ip spectrum-forward    while Spectrum keeps IPv4 forwarding on for its
 *                          uplinks on a host that had it off: nothing else
 *                          is forwarded
 * Base chains of one hook all see a packet, and a drop in any is final, so
 * each client's tables only ever drop its own traffic. */
#pragma once

#include "plan/plan.h"

/* malloc'ed scripts; NULL on ENOMEM. */
char *sp_nft_provider(const struct sp_plan_net *net);
char *sp_nft_client(const struct sp_plan_net *net);
/* What sp_nft_client added: its tables and its elements of the provider's
 * set of peers, present or not. */
char *sp_nft_client_remove(const struct sp_plan_net *net);

/* New connections a client may have tracked at once in its provider. */
#define SP_NET_CONN_MAX 8192u
char *sp_nft_uplink(const char *table, const char *link, const char *subnet);
/* Where an uplink's table refuses to forward (attach.c says it again as
 * routing rules, which outlive a firewall reload). */
#define SP_NET_UPLINK_DENIED                                                                 \
	"0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, 172.16.0.0/12, " \
	"192.0.0.0/24, 192.168.0.0/16, 198.18.0.0/15, 224.0.0.0/3"

#define SP_NFT_GUARD "spectrum-forward"
char *sp_nft_forward_guard(void);

/* Removes the tables of FAMILY NAME (a space-separated list of families),
 * present or not. */
char *sp_nft_delete(const char *families, const char *name);

/* Empties the tables of FAMILY NAME, making them when they are not there:
 * what a crashed run left is replaced in the same transaction as the new
 * rules are added.  (Not "delete": the kernel then waits for an RCU grace
 * period when the socket closes, ~10 ms of every start.) */
char *sp_nft_fresh(const char *families, const char *name);
