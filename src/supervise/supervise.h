/* Lifecycle through s6 (DESIGN.md, "Parts": supervise).
 *
 * Layout under the run directory:
 *
 *   RUN/s6/scan/NAME -> ../services/NAME   what s6-svscan watches
 *   RUN/s6/services/NAME/                  one s6 service directory per
 *                                          instance (service.c)
 *   RUN/s6/svscan.log                      s6-svscan's own output, when
 *                                          Spectrum started it (svscan.c)
 *
 * Each service's `run` execs `spectrum run --notify-fd 3 NAME` (readiness
 * through s6's notification-fd once the command has been exec'd); its
 * `finish` applies the restart policy with backoff and records the last
 * exit status; `log/run` is s6-log writing the store's log/NAME/.
 *
 * The command line talks to this interface only: it never builds an s6
 * command line.  s6 programs run through fork/exec (run.c), never a shell
 * of ours. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/model.h"
#include "store/store.h"
#include "util/err.h"

struct sp_sv {
	char *state_dir; /* the store's root */
	char *run_dir;
	char *base;      /* RUN/s6 */
	char *scan;      /* RUN/s6/scan */
	char *services;  /* RUN/s6/services */
	char *exe;       /* the spectrum binary that `run` execs */
};

/* Fills SV for STORE.  Creates nothing. */
int sp_sv_init(struct sp_sv *sv, const struct sp_store *store, struct sp_err *err);
void sp_sv_fini(struct sp_sv *sv);

/* ---- svscan.c: the s6-svscan of the run directory ---- */

/* True when an s6-svscan watches SV's scan directory. */
bool sp_sv_scan_running(const struct sp_sv *sv);

/* Supervision is in use for this run directory: an s6-svscan runs for it
 * (started by `start`, or by the host's init). */
bool sp_sv_active(const struct sp_sv *sv);

/* Starts s6-svscan on the scan directory, detached (its own session,
 * stdio to RUN/s6/svscan.log), unless one runs already; waits until it
 * is ready.  Serialised by a lock so that concurrent starts make one. */
int sp_sv_scan_ensure(const struct sp_sv *sv, struct sp_err *err);

/* Asks s6-svscan to stop every service and exit (s6-svscanctl -t). */
int sp_sv_scan_stop(const struct sp_sv *sv, struct sp_err *err);

/* ---- service.c: service directories ---- */

/* Writes (or refreshes) the service directory of INST, with a `down`
 * file so that nothing starts until asked, links it into the scan
 * directory and, when s6-svscan runs, waits until it supervises it. */
int sp_sv_install(const struct sp_sv *sv, const struct sp_instance *inst, struct sp_err *err);

/* True when NAME has a service directory. */
bool sp_sv_installed(const struct sp_sv *sv, const char *name);

/* Unlinks NAME from the scan directory, waits for its supervisors to
 * exit, and removes its service directory.  The service must be down. */
int sp_sv_uninstall(const struct sp_sv *sv, const char *name, struct sp_err *err);

/* The names that have a service directory (NULL-terminated, malloc'ed;
 * free with sp_strv_free). */
char **sp_sv_installed_names(const struct sp_sv *sv);

/* ---- control.c: up, down, status ---- */

enum sp_sv_state {
	SP_SV_DOWN,
	SP_SV_STARTING, /* its process runs, its command not yet */
	SP_SV_UP,       /* its command runs (ready) */
	SP_SV_FAILED,   /* its last run failed: down, or waiting to restart */
};

struct sp_sv_status {
	bool supervised;     /* a supervisor watches it */
	bool want_up;
	enum sp_sv_state state;
	pid_t pid;           /* host pid of the instance's PID 1, 0 if none */
	long long uptime;    /* seconds in the current state (up or down) */
	bool have_exit;      /* LAST_EXIT is known */
	int last_exit;       /* the last run's status, 128+N for signal N */
	unsigned failures;   /* consecutive failed runs (backoff) */
};

/* How long a start may take to be ready: a VM boots a kernel (seconds
 * under TCG, plus the one-time boot files and KVM probe on a new host). */
static inline unsigned sp_sv_start_timeout_ms(const struct sp_instance *inst)
{
	return inst->isolation == SP_ISOLATION_VM ? 120000 : 30000;
}

/* Starts NAME (its service directory must be installed and supervised)
 * and waits up to TIMEOUT_MS until it is ready.  A run that ends before
 * that fails with "exited with status N" and sets *EXIT_STATUS. */
int sp_sv_start(const struct sp_sv *sv, const char *name, unsigned timeout_ms, int *exit_status,
		struct sp_err *err);

/* Stops NAME: SIGTERM, SIGKILL after the service's timeout-kill; waits
 * until its run and finish are over, then until its cgroups are gone. */
int sp_sv_stop(const struct sp_sv *sv, const char *name, struct sp_err *err);

/* The status of NAME; an instance without a service directory is down. */
int sp_sv_status(const struct sp_sv *sv, const char *name, struct sp_sv_status *st, struct sp_err *err);

const char *sp_sv_state_name(enum sp_sv_state s);

/* ---- instance.c: what a running instance uses ---- */

/* Host pid of NAME's PID 1 from RUN/instances/NAME/pid, 0 when none. */
pid_t sp_sv_instance_pid(const struct sp_sv *sv, const char *name);

/* The host pid of the PID 1 of the provider a running client NAME is
 * linked to, or 0 when it is linked to none. */
pid_t sp_sv_instance_net_provider(const struct sp_sv *sv, const char *name);

/* Memory charged to the cgroup of PID (memory.current in v2, else
 * memory.usage_in_bytes in v1, else the sum of its processes' RSS).
 * False when it cannot be read. */
bool sp_sv_memory(pid_t pid, uint64_t *bytes);

/* The cgroup directories PID is in (NULL-terminated, malloc'ed), "/"
 * ones excepted: for checking that a stopped instance left none. */
char **sp_sv_cgroup_dirs(pid_t pid);

/* ---- run.c: running s6 programs ---- */

/* Runs ARGV (PATH lookup) with stdin from /dev/null, waits, and returns
 * its exit status (128+N for signal N), or -1 with ERR when it could not
 * run.  *OUT, when OUT is not NULL, receives its stdout (malloc'ed);
 * its stderr's first line goes into ERR_LINE when not NULL. */
int sp_sv_call(char *const argv[], char **out, char *err_line, size_t err_size, struct sp_err *err);

/* ---- reconcile.c: what `switch` does once supervision is in use ---- */

#include "config/diff.h"

struct sp_sv_outcome {
	const char *name;  /* points into the diff */
	char what[600];    /* "started (new)", "restarted", "unchanged", ... */
	bool failed;
};

/* Brings the supervised instances in line with CFG, the configuration
 * just made current, instance by instance along DIFF: starts new
 * autostart instances, stops and removes removed ones, restarts the
 * changed ones that need it and are running, refreshes the service
 * directories of changed ones, and leaves the others untouched.
 * *OUT (malloc'ed, N entries) says what was done; a failure for one
 * instance does not stop the others.  Returns -1 only when nothing
 * could be done. */
int sp_sv_reconcile(const struct sp_sv *sv, const struct sp_config *cfg, const struct sp_instance_diff *diff,
		    size_t n, struct sp_sv_outcome **out, struct sp_err *err);
