/* nftables through libnftables, in the network namespace the calling
 * thread is in (enter one with net/netns.h first).  A script is one
 * transaction: all of it applies, or none. */
#pragma once

#include "util/err.h"

/* Runs SCRIPT (nft syntax); the error names WHAT and nft's first line. */
int sp_nft_run(const char *what, const char *script, struct sp_err *err);

/* Closing the netlink socket of a transaction waits for the kernel to
 * release it (an RCU barrier, ~10 ms): sp_nft_run leaves that to a thread,
 * off the path of an instance's start.  Waits for those threads. */
void sp_nft_settle(void);
