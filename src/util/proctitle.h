/* What /proc/PID/cmdline shows.  The instance's PID 1 is a copy of the
 * engine, whose command line names host paths (the binary, the config,
 * the state directory); it is overwritten before the command starts. */
#pragma once

/* Remembers where the kernel put argv; call first thing in main. */
void sp_proctitle_init(int argc, char **argv);

/* Replaces the whole argument area with TITLE (truncated to fit). */
void sp_proctitle_set(const char *title);
