/* The last steps of confinement, shared by an instance's PID 1 (child.c)
 * and by `spectrum exec` (join.c), so that both end in exactly the same
 * state. */
#pragma once

#include <sys/types.h>

#include "plan/plan.h"
#include "util/err.h"

/* setgroups(0) and every uid and gid set to UID/GID. */
int sp_become(uid_t uid, gid_t gid, struct sp_err *err);

/* RLIMIT_NOFILE of PLAN, soft and hard, for the caller, whose children
 * inherit it.  Above the caller's hard limit it needs CAP_SYS_RESOURCE
 * of the host, which a process in the instance's user namespace never
 * has: sp_confine_files_room() raises the engine's own limit first. */
int sp_confine_files(const struct sp_plan *plan, struct sp_err *err);

/* Raises the caller's RLIMIT_NOFILE to PLAN's when it is lower; never
 * lowers it (the engine keeps its descriptors). */
int sp_confine_files_room(const struct sp_plan *plan, struct sp_err *err);

/* Every privilege, in the one order that works: the bounding set while
 * CAP_SETPCAP is still there, then the ids of PLAN (which empties the
 * permitted set), a check that every capability set is empty,
 * no_new_privs, and not dumpable (nothing of the instance may ptrace the
 * caller before it execs). */
int sp_confine_privileges(const struct sp_plan *plan, struct sp_err *err);

/* Landlock, then the seccomp filter: after them, no mount, no new
 * namespace, no write outside PLAN's writable places. */
int sp_confine_filters(const struct sp_plan *plan, struct sp_err *err);
