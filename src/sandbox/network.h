/* The container engine's side of an instance's network (net/attach.h does
 * the links and rules): finding a client's provider, linking the client
 * before its command runs, linking it again when its provider has been
 * restarted, recording which provider it is linked to (for `list`), and
 * removing what the instance leaves. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "plan/plan.h"
#include "sandbox/janitor.h"
#include "store/store.h"
#include "util/err.h"

/* RUN_DIR/instances/NAME/net: the host pid of the provider's PID 1 that a
 * client is linked to, while it is. */
#define SP_RUNTIME_NET "net"

struct sp_engine_net {
	const struct sp_plan *plan;
	const struct sp_store *store;
	struct sp_janitor *janitor; /* holds a provider's namespace too; or NULL */
	pid_t child;      /* the instance's PID 1 */
	gid_t host_gid;   /* its user's gid on the host */
	pid_t provider;   /* the provider a client is linked to; 0: none */
	int timer;        /* when to look at the provider (or the host's tables) again */
	bool said;        /* a failed relink (or a restore) was reported */
	/* Valid when HAS_NETNS: a provider's own namespace, held until its
	 * clients are cut apart (sp_net_provider_cut); a client's socket in
	 * its own, which sees whether its link is still there. */
	bool has_netns;
	int netns;
	bool has_sock;
	int sock;
};

/* Before the command runs.  A client whose provider does not run fails. */
int sp_engine_net_up(struct sp_engine_net *n, struct sp_err *err);

/* For a client: a descriptor that becomes readable every second, when
 * sp_engine_net_tick() relinks it if its provider was restarted or its
 * link has gone; for a provider with an uplink, when it looks at the
 * host's tables of it (sp_net_provider_check); -1 for other instances
 * (or when no timer could be made). */
int sp_engine_net_timer(struct sp_engine_net *n);
void sp_engine_net_tick(struct sp_engine_net *n);

/* After the instance, once: also the janitor's hook (ARG: a struct
 * sp_engine_net, of which plan, store and janitor are used).  A
 * provider's namespace is let go here, after its clients are cut. */
void sp_engine_net_down(const void *arg);
void sp_engine_net_close(struct sp_engine_net *n);
