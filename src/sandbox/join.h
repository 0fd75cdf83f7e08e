/* `spectrum exec`: a command joins a running container instance.
 *
 * The host side finds the instance's PID 1 from RUN_DIR/instances/NAME/pid
 * and pins it (a /proc/PID descriptor, through which every namespace is
 * opened, so a recycled pid cannot be joined).  A helper process then
 * joins, as host root, every cgroup PID 1 is in, the user namespace
 * (becoming its root), and the mount, pid, network, ipc, uts and cgroup
 * namespaces; it forks the command as a child of `spectrum exec` itself
 * (CLONE_PARENT) and exits.  The command, now inside the pid namespace,
 * goes through the very confinement of the instance's own command
 * (child.c): RLIMIT_CORE 0, the slave of a pty made on the host side
 * when stdio is a terminal (pty.h), bounding set, uid/gid, every
 * capability, no_new_privs, Landlock (a domain of its own, so that the
 * instance's processes cannot ptrace it or open its /proc/PID/fd), seccomp;
 * then it closes every descriptor but 0, 1, 2 and execs with the plan's environment in the plan's directory.  The host
 * side relays the pty and the usual signals as `run` does (relay.c). */
#pragma once

#include <sys/types.h>

#include "plan/plan.h"
#include "sandbox/engine.h"
#include "store/store.h"
#include "util/err.h"

enum { SP_JOIN_NS = 7, SP_JOIN_NET = 3 }; /* user, mnt, pid, net (3), ipc, uts, cgroup */

struct sp_join_target {
	pid_t pid;          /* host pid of the instance's PID 1 */
	int proc;           /* /proc/PID, pinning that process */
	int ns[SP_JOIN_NS]; /* its namespaces, user first */
	int root;           /* its root directory, to check the mount namespace's */
	char *cgroups;      /* the text of /proc/PID/cgroup */
};

/* Finds the running instance NAME of STORE.  Fails with "NAME is not
 * running" (SP_ERR_RUNTIME) when the pid file is missing or stale: the
 * process is gone, is not the PID 1 of a pid namespace, shares our user
 * namespace, or is not in the cgroup "spectrum/ID" of this store's NAME. */
int sp_join_find(const struct sp_store *store, const char *name, struct sp_join_target *t, struct sp_err *err);

void sp_join_close(struct sp_join_target *t);

/* The pid NAME's engine recorded (RUN_DIR/instances/NAME/pid), unchecked;
 * -1 when there is none. */
pid_t sp_join_pid(const struct sp_store *store, const char *name);

/* Runs PLAN's argv inside T, stdio attached, until it exits; RES->status
 * is its wait status, RES->message says why it could not be exec'd.
 * Forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2.  Needs
 * root. */
int sp_join_run(const struct sp_plan *plan, const struct sp_join_target *t, struct sp_run_result *res,
		struct sp_err *err);
