/* The in-guest agent, PID 1 of every VM instance: the parts shared by
 * agent.c (boot, plan, setup, power off) and relay.c (the command and its
 * input and output).  libc only: the agent is linked statically. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "guest/proto.h"

struct agent {
	int console;     /* where messages go: the kernel's console, the host's log */
	int port;        /* the control port (non-blocking), -1 before it is found */
	bool host_gone;  /* the port's host end closed: a write would never end */
	struct sp_frame_reader in; /* bytes from the host; may hold frames after 'P' */
	struct sp_guest_plan plan;
	size_t n_mounted; /* plan.mounts[0..n) are mounted */
	size_t n_tmpfs;   /* plan.tmpfs[0..n) are mounted */
};

/* "spectrum-agent: MESSAGE" on the console. */
__attribute__((format(printf, 2, 3)))
void agent_log(struct agent *a, const char *fmt, ...);

/* One frame to the host.  -1 once the host has gone, which is then
 * remembered: nothing more is sent. */
int agent_send(struct agent *a, char type, const void *payload, size_t len);

/* Setup failed: 'E' with the one-line reason to the host and the console,
 * then power off. */
__attribute__((format(printf, 2, 3), noreturn))
void agent_fail(struct agent *a, const char *fmt, ...);

/* Unmounts what the plan mounted and powers the machine off.  PID 1 never
 * exits (the kernel would panic), so every path ends here. */
__attribute__((noreturn))
void agent_power_off(struct agent *a);

/* CLOCK_MONOTONIC in milliseconds, for deadlines. */
long agent_now_ms(void);

/* The signals the agent ignores (the host stops the command with 'k',
 * never by signalling PID 1): the command gets them back as SIG_DFL. */
extern const int agent_ignored_signals[];
extern const size_t agent_n_ignored_signals;

/* relay.c: starts the plan's command and relays its input and output
 * until it ends; then ends every other process and sends 'x'.  Returns
 * only to power off; a command that cannot start ends in agent_fail. */
void agent_run(struct agent *a);

/* ---- command.c: the command's namespaces and confinement ---- */

/* What failed in the command's first process before the exec, for the
 * 'E' frame. */
enum agent_step {
	STEP_SETSID, STEP_TTY, STEP_STDIO, STEP_VIEW, STEP_NET, STEP_CAPS, STEP_GROUPS, STEP_GID, STEP_UID,
	STEP_NNP, STEP_LANDLOCK, STEP_SECCOMP, STEP_FORK, STEP_CHDIR, STEP_EXEC, STEP_N
};

struct agent_child_report {
	int step;
	int err;
};

struct agent_child_fds {
	int stdio[3]; /* the command's ends: three pipe ends, or the slave thrice */
	int report;   /* the write end of the CLOEXEC report pipe: end of file once the command runs */
	int status;   /* the write end of the status pipe: the command's wait status, at its end */
};

/* fork() into new pid, mount, ipc, uts, cgroup and network namespaces:
 * the child is PID 1 there.  As fork: 0 in the child, -1 with errno. */
pid_t agent_clone_command(void);

/* In that child: sets up the command's view and confinement, starts the
 * command as PID 2 and reaps until it ends; then its wait status goes to
 * FDS->status and the child exits.  A failure goes to FDS->report. */
__attribute__((noreturn))
void agent_command_main(const struct sp_guest_plan *p, const struct agent_child_fds *fds);

__attribute__((noreturn))
void agent_child_fail(int report, enum agent_step step, int err);
