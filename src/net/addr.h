/* The addresses of compartment networking (DESIGN.md, "Networking"): a
 * client's MAC has the OUI 0A:B3:EC and three bytes from its instance
 * name; its IPv4 address is 100.64.X.Y/16 with X and Y the MAC's last two
 * bytes; the provider is 100.64.0.1.  Plain computation, no system call:
 * the plan and `inspect` use it, and it is unit-tested. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SP_NET_PREFIX_LEN 16
#define SP_NET_PROVIDER_ADDR "100.64.0.1"

/* The bridge in a provider, its clients' default gateway, and its link
 * to the host (uplink "host"). */
#define SP_NET_BRIDGE "sp-clients"
#define SP_NET_UPLINK "uplink0"

/* The MAC NAME gets at ATTEMPT (0 first; a later one after a collision). */
void sp_net_mac_for(const char *name, unsigned attempt, uint8_t mac[6]);

/* MACs for the N clients NAMES of one provider, none colliding and none
 * whose address is reserved (100.64.0.0, .0.1, .255.255): names are taken
 * in byte order, each at its first free attempt, so a name keeps its MAC
 * unless a name before it in that order takes it.  Returns 0, or -1 when
 * no free address is left (more than 65533 clients). */
int sp_net_assign(char *const *names, size_t n, uint8_t (*macs)[6]);

/* "100.64.X.Y" of MAC (OUT: at least 16 bytes). */
void sp_net_addr_of(const uint8_t mac[6], char *out);

/* "0a:b3:ec:xx:yy:zz" (OUT: at least 18 bytes). */
void sp_net_mac_text(const uint8_t mac[6], char *out);
