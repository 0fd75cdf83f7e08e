/* A small process outside the instance that outlives a crashed engine and
 * removes what the kernel does not: the instance's cgroups.  (Mounts and
 * namespaces go with the instance's last process; the uid lease is an
 * flock that goes with the engine.)  In the manner of Spectrum OS's
 * run-spectrum-vm watcher. */
#pragma once

#include <sys/types.h>

#include "util/err.h"

struct sp_janitor {
	pid_t pid; /* in the janitor's own copy: 0 */
	/* The engine's end: closing it without "done" means the engine
	 * died.  In the janitor's copy: what sp_janitor_hold sent, or -1. */
	int fd;
};

int sp_janitor_start(const char *name, struct sp_janitor *j, struct sp_err *err);

/* An engine takes the instance's lock before it makes the cgroups, and
 * its janitor holds it until its cleanup is done: an engine started right
 * after one was killed (s6 restarts at once) waits for that cleanup
 * instead of racing it for the same cgroup.  Waits up to 10 s.  The lock
 * is a file in SP_ID_LOCK_DIR. */
int sp_janitor_lock(const char *name, int *fd, struct sp_err *err);

/* The same as sp_janitor_start, and the janitor keeps LOCK_FD (from
 * sp_janitor_lock, or -1) open until it is done; when the engine dies it
 * also removes each directory of REMOVE (NULL-terminated absolute paths;
 * see util/rmtree.h) after the cgroups, when nothing of the instance runs
 * any more. */
int sp_janitor_start_with(const char *name, const char *const *remove, int lock_fd, struct sp_janitor *j,
			  struct sp_err *err);

/* What else a dead engine leaves: HOOK(ARG) runs in the janitor (a fork
 * of the engine: ARG is its copy) after the cgroups are gone, e.g. the
 * links and rules of the instance's network. */
struct sp_janitor_hook {
	void (*fn)(const void *arg);
	const void *arg;
};

int sp_janitor_start_hook(const char *name, const char *const *remove, int lock_fd,
			  const struct sp_janitor_hook *hook, struct sp_janitor *j, struct sp_err *err);

/* Sends FD to the janitor, which keeps it open until its cleanup is done,
 * e.g. a provider's network namespace, kept alive after a crash until the
 * hook has cut its clients apart (net/attach.h).  A later one replaces
 * it.  No janitor: nothing is sent. */
int sp_janitor_hold(struct sp_janitor *j, int fd, struct sp_err *err);

/* In the janitor's hook (J: its copy of the engine's): the descriptor
 * held, or -1.  In the engine it is always -1. */
int sp_janitor_held(const struct sp_janitor *j);

/* The engine cleaned up itself: the janitor exits without doing anything. */
void sp_janitor_dismiss(struct sp_janitor *j);
