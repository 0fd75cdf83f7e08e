/* The instance's filesystem, built inside its own mount namespace from
 * the plan: a tmpfs root, the detached mounts prepared on the host side
 * moved into place, generated files, /proc, /dev; then pivot_root. */
#pragma once

#include <stdbool.h>

#include "plan/plan.h"
#include "util/err.h"

/* What the host side prepared for mount I of the plan: a detached mount
 * (fd >= 0) for binds, home, grants and devices, and whether its source
 * is a directory. */
struct sp_prepared {
	int fd;
	bool is_dir;
	bool skip; /* optional and absent on this host */
};

/* Runs in the child, as root of its user namespace, before any privilege
 * is dropped.  On return the process's root and cwd are the instance's
 * "/", and the host's tree is detached. */
int sp_mounts_setup(const struct sp_plan *plan, const struct sp_prepared *prep, struct sp_err *err);
