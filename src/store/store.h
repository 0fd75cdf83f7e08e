/* The central store (DESIGN.md, "The central store"): its layout on disk,
 * the private home of each instance, and the safe resolution of data
 * grants beneath data/. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "util/err.h"

#define SP_DEFAULT_STATE_DIR "/var/lib/spectrum"
#define SP_DEFAULT_RUN_DIR "/run/spectrum"

struct sp_store {
	char *root;    /* absolute */
	char *run_dir; /* absolute */
	int root_fd;   /* O_PATH|O_DIRECTORY of root */
	int data_fd;   /* O_PATH|O_DIRECTORY of root/data */
	int state_fd;  /* O_PATH|O_DIRECTORY of root/state */
	uid_t owner_uid; /* who owns the files in the store on disk */
	gid_t owner_gid;
};

/* Chooses the directories: the argument when not NULL, else
 * SPECTRUM_STATE_DIR / SPECTRUM_RUN_DIR, else the defaults.  Creates the
 * layout (data/ state/ generations/ log/) with safe permissions when it is
 * missing, and opens it. */
int sp_store_open(const char *state_dir, const char *run_dir,
		  struct sp_store *store, struct sp_err *err);

void sp_store_close(struct sp_store *store);

/* Creates (if needed) state/NAME/ and returns an O_PATH|O_DIRECTORY
 * descriptor of it, opened without following any symlink. */
int sp_store_home(const struct sp_store *store, const char *name, int *fd,
		  struct sp_err *err);

/* Resolves RELPATH beneath data/ with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS): no component may be a
 * symlink or "..", so nothing outside data/ can be reached, and the
 * descriptor returned is what gets mounted (no race between check and
 * mount).  A missing path is created as a directory.  *IS_DIR tells
 * whether it is a directory (else a regular file). */
int sp_store_open_grant(const struct sp_store *store, const char *relpath,
			int *fd, bool *is_dir, struct sp_err *err);

/* Opens or creates the directory RELPATH beneath DIRFD, component by
 * component, never following symlinks.  Used for mount points inside a
 * home, which the instance itself controls. */
int sp_mkdir_beneath(int dirfd, const char *relpath, mode_t mode, int *fd,
		     struct sp_err *err);

/* Makes sure RELPATH beneath DIRFD is a regular file (creating it empty,
 * and its parents, when missing), never following a symlink; anything
 * else there (a fifo, a device, a symlink) is refused.  For the mount
 * points of file grants. */
int sp_mkfile_beneath(int dirfd, const char *relpath, struct sp_err *err);
