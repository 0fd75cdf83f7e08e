/* Landlock: limits the filesystem to the instance's own view, where the
 * kernel has it. */
#pragma once

#include "plan/plan.h"
#include "util/err.h"

/* The Landlock ABI version the kernel offers, 0 when it has none. */
int sp_landlock_abi(void);

/* Restricts the calling process, after pivot_root, to: read and execute
 * beneath "/", write beneath the home, the read-write grants, /tmp,
 * /dev/shm, and writing to the device files of /dev; never creating
 * device nodes.  The caller has set no_new_privs.  Returns 0 without
 * doing anything when the kernel has no Landlock (check/inspect say so). */
int sp_landlock_apply(const struct sp_plan *plan, struct sp_err *err);
