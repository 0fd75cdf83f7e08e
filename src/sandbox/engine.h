/* The engine interface: what runs a plan.  The container engine and the
 * VM engine sit behind the same struct, so callers do not know which
 * isolation runs. */
#pragma once

#include <stdbool.h>

#include "plan/plan.h"
#include "store/store.h"
#include "util/err.h"

struct sp_run_result {
	int status;       /* the command's wait status */
	bool oom_killed;  /* killed by the OOM killer at the memory limit */
	bool started;     /* the command was exec'd */
	char message[1024]; /* why it could not be exec'd, when it could not */
};

struct sp_run_opts {
	/* When >= 0, a newline is written to it and it is closed once the
	 * command has been exec'd: s6's notification-fd readiness. */
	int notify_fd;
};

/* While an instance runs, its engine keeps RUN_DIR/instances/NAME/pid:
 * the host pid of the instance's PID 1, for `exec` and `list`. */
#define SP_RUNTIME_INSTANCES "instances"

struct sp_engine {
	const char *name;
	/* Runs PLAN in the foreground, stdio attached, until its command
	 * exits; forwards the usual signals. */
	int (*run)(const struct sp_plan *plan, const struct sp_store *store, const struct sp_run_opts *opts,
		   struct sp_run_result *res, struct sp_err *err);
};

extern const struct sp_engine sp_container_engine;
/* src/vm/engine.c */
extern const struct sp_engine sp_vm_engine;
