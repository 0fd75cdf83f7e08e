/* The nftables rules of compartment networking, as text (nft syntax):
 * built from the plan alone, with no system call, so that unit tests read
 * them and `nft -f` would take them.  Every table is Spectrum's own, named
 * so that removing one removes exactly what was added.
 *
 * In a provider's namespace:
 *   inet spectrum          nothing new from elsewhere into the clients'
 *                          bridge; NAT to the uplink
 *   bridge spectrum-PORT   a client's frames carry its own MAC and
 *                          address (no spoofing, IPv4 and ARP only), and
 *                          reach no other client but its declared peers
 *   inet spectrum-PORT     its egress policy ("allow")
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
char *sp_nft_uplink(const char *table, const char *link, const char *subnet);

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
