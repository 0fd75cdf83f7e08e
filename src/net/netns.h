/* Working inside another network namespace from the host: entered by the
 * calling thread for a few netlink requests, sysctl writes and nftables
 * transactions, then left.  Netlink sockets, /proc/sys/net and link names
 * all belong to the namespace the thread is in when they are opened. */
#pragma once

#include <stdbool.h>

#include "util/err.h"

/* Enters the network namespace of FD; *SAVED is where to come back to. */
int sp_netns_enter(int fd, int *saved, struct sp_err *err);

/* Back to SAVED (and closes it).  Failing to come back would leave the
 * engine working in an instance's namespace: it aborts instead. */
void sp_netns_leave(int saved);

/* Writes VALUE to /proc/sys/net/PATH of the current namespace.  When
 * OPTIONAL, a file the kernel does not have (no IPv6, no bridge
 * netfilter) is no error. */
int sp_net_sysctl(const char *path, const char *value, bool optional, struct sp_err *err);
