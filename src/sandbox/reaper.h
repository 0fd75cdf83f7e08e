/* PID 1 of an instance: starts the command, forwards signals to it, reaps
 * every orphan, and reports the command's exit status to the engine. */
#pragma once

#include <stdbool.h>
#include <stdnoreturn.h>

#include "plan/plan.h"

/* Runs fully confined, after every privilege is gone.  SLAVE is the pty
 * slave (or -1), installed on the descriptors that TTY marks.  Signals
 * are already blocked.  Never returns. */
noreturn void sp_reaper_main(const struct sp_plan *plan, int report, int slave, const bool tty[3]);
