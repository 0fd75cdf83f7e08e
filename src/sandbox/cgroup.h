/* Resource limits through cgroups: v2 where its controllers are enabled,
 * v1 where the controllers are only there (hybrid hosts).  Both backends
 * sit behind one small interface; callers do not know which one runs.
 *
 * Each instance gets "spectrum/NAME" in every hierarchy it uses, beneath
 * the cgroup the engine itself runs in (so that a host which confines
 * Spectrum confines its instances too). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "plan/plan.h"
#include "util/err.h"

struct sp_cgroup;

/* What the host offers, for `check`. */
struct sp_cgroup_support {
	bool v2_memory, v2_pids, v2_cpu;
	bool v1_memory, v1_pids, v1_cpu;
	char v2_mount[256]; /* "" when cgroup2 is not mounted */
};
void sp_cgroup_probe(struct sp_cgroup_support *out);

/* Creates the instance's cgroup(s) and writes the limits.  Fails with
 * "already running" when the cgroup exists and has processes; an empty
 * one left by a crash is removed and made anew. */
int sp_cgroup_create(const char *name, const struct sp_limits *limits,
		     struct sp_cgroup **cg, struct sp_err *err);

/* Moves PID into every hierarchy of the instance; SKIP_V2 when it was
 * cloned straight into the v2 cgroup already. */
int sp_cgroup_attach(struct sp_cgroup *cg, pid_t pid, bool skip_v2, struct sp_err *err);

/* A descriptor of the instance's v2 cgroup for clone3's CLONE_INTO_CGROUP,
 * or -1 when it has none.  Starting a process there costs nothing, while
 * moving it by writing cgroup.procs waits for an RCU grace period
 * (milliseconds, measured: most of the time `run` adds to a start). */
int sp_cgroup_v2_fd(const struct sp_cgroup *cg);

/* True when the kernel's OOM killer has killed a process of the cgroup. */
bool sp_cgroup_oom_killed(struct sp_cgroup *cg);

/* "v2" or "v1", and a few words on which controllers, for messages. */
const char *sp_cgroup_describe(const struct sp_cgroup *cg);

/* Kills every process left, waits (bounded) until none is, removes the
 * directories and frees CG.  Safe on NULL. */
void sp_cgroup_destroy(struct sp_cgroup *cg);

/* The same for an instance whose engine has died: used by the janitor
 * process.  Does nothing when there is no such cgroup. */
void sp_cgroup_cleanup_name(const char *name);

/* NAME below is the cgroup's name, as for sp_cgroup_create: the plan's
 * id, "INSTANCE.HASH" from sp_instance_id(), not the bare instance name. */

/* True when instance NAME has a cgroup with processes in it. */
bool sp_cgroup_name_running(const char *name);

/* Freezes (FROZEN true) or thaws every process of instance NAME, and
 * waits (at most about 5 s) until the kernel reports it done: cgroup2's
 * cgroup.freeze, or the v1 freezer on hosts without cgroup2.  A freeze
 * that does not complete is undone before the error returns.  Returns 0
 * and does nothing when NAME does not run.  The engine that supervises
 * NAME stays outside its cgroup and keeps running. */
int sp_cgroup_freeze_name(const char *name, bool frozen, struct sp_err *err);
