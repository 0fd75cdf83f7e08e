/* What `spectrum backup` does, one function a subcommand; the command
 * line (src/cli/cmd_backup.c) only parses and prints. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "backup/repo.h"
#include "backup/snapshot.h"
#include "util/err.h"

struct sp_bk_create_opts {
	const char *store;     /* the central store directory */
	char *const *instances;/* NULL: the whole store; else only state/NAME of these */
	bool live;             /* do not freeze running instances */
	bool quiet;            /* no progress line even on a terminal */
};

/* Takes a snapshot; SNAP gets it (with its id and figures).  REPO must be
 * open with the exclusive lock. */
int sp_bk_create(struct sp_bk_repo *repo, const struct sp_bk_create_opts *opts, struct sp_bk_snapshot *snap,
		 struct sp_err *err);

/* Every snapshot of REPO, oldest first.  A snapshot file that cannot be
 * read is an error naming it (verify says more). */
int sp_bk_snapshots_load(struct sp_bk_repo *repo, struct sp_bk_snapshot **snaps, size_t *n, struct sp_err *err);
void sp_bk_snapshots_free(struct sp_bk_snapshot *snaps, size_t n);

/* The snapshot WHICH names: "latest", a full id or a unique prefix of
 * at least 8 hex digits.  Returns its number in SNAPS. */
int sp_bk_snapshot_pick(const struct sp_bk_snapshot *snaps, size_t n, const char *which, struct sp_err *err);

struct sp_bk_restore_opts {
	const char *store;      /* in place into this store, when TO is NULL */
	const char *to;         /* a directory that does not exist or is empty */
	char *const *instances; /* NULL: all of it; else only state/NAME */
	bool quiet;
};

int sp_bk_restore(struct sp_bk_repo *repo, const struct sp_bk_snapshot *snap, const struct sp_bk_restore_opts *opts,
		  struct sp_err *err);

/* Checks the repository; prints one line per damaged thing to OUT.  Sets
 * *DAMAGED.  Fails only when it cannot check. */
int sp_bk_verify(struct sp_bk_repo *repo, bool read_data, bool quiet, FILE *out, bool *damaged, struct sp_err *err);

/* Forgets the snapshots POLICY does not keep and removes the data only
 * they used; prints what it removes to OUT.  DRY_RUN: only prints. */
int sp_bk_prune(struct sp_bk_repo *repo, const struct sp_bk_keep_policy *policy, bool dry_run, FILE *out,
		struct sp_err *err);

/* Refuses an unencrypted REPO that this STORE wrote to encrypted before
 * (a swapped config); records an encrypted one. */
int sp_bk_check_encryption(const struct sp_bk_repo *repo, const char *store, struct sp_err *err);

/* Removes files of an interrupted backup: tmp/, and packs that no index
 * lists (when no index file is damaged; otherwise their trailers are the
 * only record of where those blobs are, and they stay).  Prints what it
 * did to OUT when not NULL.  Needs the exclusive lock. */
int sp_bk_clean_leftovers(struct sp_bk_repo *repo, FILE *out, struct sp_err *err);
