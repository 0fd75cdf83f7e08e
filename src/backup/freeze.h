/* Running instances, as a backup sees them: is one running (a restore
 * must not replace its home under it), and freezing one while its home
 * is read, so that the snapshot holds one moment of it. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "util/err.h"

/* True when instance NAME of the store STORE (its absolute path) runs. */
bool sp_bk_instance_running(const char *store, const char *name);

/* A process that thaws the instance if the backup dies while it is
 * frozen (SIGKILL included): it waits for its end of a pipe to close. */
struct sp_bk_freeze {
	pid_t pid;
	int fd;
	char *id; /* the instance's cgroup name */
};

/* Freezes instance NAME when it runs (cgroup freezer), else does nothing. */
int sp_bk_freeze(const char *store, const char *name, struct sp_bk_freeze *f, struct sp_err *err);

/* Thaws what sp_bk_freeze froze; safe when it froze nothing. */
void sp_bk_thaw(struct sp_bk_freeze *f);
