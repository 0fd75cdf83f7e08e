/* The instance side of the container engine: runs in the new namespaces,
 * builds the filesystem, drops every privilege in order, and becomes the
 * instance's PID 1. */
#pragma once

#include <stdbool.h>
#include <stdnoreturn.h>

#include "plan/plan.h"
#include "sandbox/mounts.h"

struct sp_child_args {
	const struct sp_plan *plan;
	const struct sp_prepared *prepared;
	int report; /* to the engine: errors, the exit status */
	int go;     /* the engine writes 'g' once the id maps are set, 'a' once
		       every cgroup is joined */
	int pty_slave; /* the slave of the pty the engine made (pty.h), or -1 */
	bool tty[3];
};

noreturn void sp_child_main(const struct sp_child_args *a);
