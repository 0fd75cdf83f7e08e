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

/* A bridge NAME. */
int sp_nl_bridge_add(struct sp_nl *nl, const char *name, struct sp_err *err);

/* Makes NAME a port of bridge MASTER ("" or NULL: of none). */
int sp_nl_link_set_master(struct sp_nl *nl, const char *name, const char *master, struct sp_err *err);

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
