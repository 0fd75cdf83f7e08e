/* nftables through libnftables, in the network namespace the calling
 * thread is in (enter one with net/netns.h first).  A script is one
 * transaction: all of it applies, or none. */
#pragma once

#include "util/err.h"

/* Runs SCRIPT (nft syntax); the error names WHAT and nft's first line. */
int sp_nft_run(const char *what, const char *script, struct sp_err *err);
/* The same, with nft's output in *OUTPUT (malloc'ed; NULL on error). */
int sp_nft_query(const char *what, const char *script, char **output, struct sp_err *err);

/* Closing the netlink socket of a transaction waits for the kernel to
 * release it (an RCU barrier, ~10 ms): sp_nft_run leaves that to a thread,
 * off the path of an instance's start.  Waits for those threads. */
void sp_nft_settle(void);

/* Whether the table "ip NAME" is there: 1 or 0 (-1 when the kernel could
 * not be asked).  One netlink request, no ruleset cache: cheap enough for
 * a check every second. */
int sp_nft_table_exists(const char *name);

/* A netlink socket of this namespace's nftables changes (-1 when none
 * could be made): readable as soon as any table changes, a flush of the
 * ruleset too.  sp_nft_watch_drain() reads what is there, unread
 * (or a timerfd's count). */
int sp_nft_watch(void);
void sp_nft_watch_drain(int fd);
