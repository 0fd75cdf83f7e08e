/* The container engine's side of an instance's network (net/attach.h does
 * the links and rules): finding a client's provider, linking the client
 * before its command runs, linking it again when its provider has been
 * restarted, recording which provider it is linked to (for `list`), and
 * removing what the instance leaves. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "plan/plan.h"
#include "store/store.h"
#include "util/err.h"

/* RUN_DIR/instances/NAME/net: the host pid of the provider's PID 1 that a
 * client is linked to, while it is. */
#define SP_RUNTIME_NET "net"

struct sp_engine_net {
	const struct sp_plan *plan;
	const struct sp_store *store;
	pid_t child;      /* the instance's PID 1 */
	gid_t host_gid;   /* its user's gid on the host */
	pid_t provider;   /* the provider a client is linked to; 0: none */
	int timer;        /* a client's: when to look at its provider again */
	bool said;        /* a failed relink was reported */
};

/* Before the command runs.  A client whose provider does not run fails. */
int sp_engine_net_up(struct sp_engine_net *n, struct sp_err *err);

/* For a client: a descriptor that becomes readable every second, when
 * sp_engine_net_tick() relinks it if its provider was restarted; -1 for
 * other instances (or when no timer could be made). */
int sp_engine_net_timer(struct sp_engine_net *n);
void sp_engine_net_tick(struct sp_engine_net *n);

/* After the instance: also the janitor's hook (ARG: a struct
 * sp_engine_net, of which only plan and store are used). */
void sp_engine_net_down(const void *arg);
void sp_engine_net_close(struct sp_engine_net *n);
