/* What every engine (container, VM) and `exec` do alike around a running
 * command: the signals they relay, and the announcement that it runs. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

/* Blocks SIGCHLD, SIGWINCH and the signals relayed to the command
 * (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2), saving the old
 * mask in OLD, and returns a signalfd for them (-1 with errno). */
int sp_relay_signals_block(sigset_t *old);

/* The command runs: writes PID to PIDFILE atomically (when PIDFILE is not
 * NULL; *WRITTEN says whether it was), and writes a newline to *NOTIFY_FD
 * and closes it (s6's readiness; when it is >= 0). */
void sp_runtime_announce(const char *pidfile, pid_t pid, bool *written, int *notify_fd);
