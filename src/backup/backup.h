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
	/* Called for each entry left out because it could not be read
	 * consistently (changed, vanished, unreadable, too deep): PATH is
	 * relative to the store, its control characters escaped and, when
	 * long, its start cut off ("..." then the end); WHY says what went
	 * wrong.  Both are safe to print.  May be NULL. */
	void (*on_skip)(void *ctx, const char *path, const char *why);
	void *ctx;
};

/* Takes a snapshot; SNAP gets it (with its id and figures).  An entry
 * that cannot be read consistently is left out, not an error: the
 * snapshot is saved without it and SNAP->skipped counts it.  REPO must
 * be open with the exclusive lock. */
int sp_bk_create(struct sp_bk_repo *repo, const struct sp_bk_create_opts *opts, struct sp_bk_snapshot *snap,
		 struct sp_err *err);

/* What loading the snapshots found wrong (the command line prints it,
 * one line each: sp_bk_catalog_describe). */
struct sp_bk_catalog {
	char **damaged;   /* snapshot files that fail a check: skipped */
	char **missing;   /* listed by the manifest, no file (deleted?) */
	char **unlisted;  /* files the manifest does not list, older than it
			   * (put back after a prune?): skipped */
	char rollback[256]; /* "" or why the manifest is older than the one
			     * the store saw last */
	size_t damaged_manifests;
	uint64_t counter;   /* of the newest manifest; 0: none */
	char manifest[2 * SP_BK_ID_LEN + 1]; /* its name, "" when none */
	char **manifests;   /* every manifest file */
	char **ids;         /* what the next manifest lists (with the new
			     * snapshot, less what prune forgets) */
};

/* Every readable snapshot of REPO that its manifest lists (or that is
 * newer than it: a create killed before writing its manifest), oldest
 * first; what is wrong goes to C.  With STORE (may be NULL), what
 * STORE/.backup/ID last saw of the repository is compared: a manifest
 * behind it is a rollback. */
int sp_bk_catalog_load(struct sp_bk_repo *repo, const char *store, struct sp_bk_snapshot **snaps, size_t *n,
		       struct sp_bk_catalog *c, struct sp_err *err);
void sp_bk_catalog_free(struct sp_bk_catalog *c);
/* Deleted, put back or rolled back snapshots (not mere damage). */
bool sp_bk_catalog_tampered(const struct sp_bk_catalog *c);
/* Line I of what C found, into BUF; -1 after the last. */
int sp_bk_catalog_describe(const struct sp_bk_catalog *c, size_t i, char *buf, size_t size);

/* Writes a manifest listing IDS with C's counter + 1 and removes the
 * older ones; its name to NAME_OUT (65 bytes).  Exclusive lock. */
int sp_bk_manifest_write(struct sp_bk_repo *repo, const struct sp_bk_catalog *c, char *const *ids, char *name_out,
			 struct sp_err *err);

/* sp_bk_catalog_load without a store, its report dropped. */
int sp_bk_snapshots_load(struct sp_bk_repo *repo, struct sp_bk_snapshot **snaps, size_t *n, struct sp_err *err);
void sp_bk_snapshots_free(struct sp_bk_snapshot *snaps, size_t n);

/* The snapshot WHICH names: "latest", a full id or a unique prefix of
 * at least 8 hex digits.  Returns its number in SNAPS. */
int sp_bk_snapshot_pick(const struct sp_bk_snapshot *snaps, size_t n, const char *which, struct sp_err *err);

struct sp_bk_dropped;

/* A restore writes a store: every entry owned by the store's owner (in
 * place) or by the caller (--to), the top directories 0700, and nothing
 * a store never holds (setuid/setgid bits, device nodes, attributes
 * outside user.*: see struct sp_bk_dropped). */
struct sp_bk_restore_opts {
	const char *store;      /* in place into this store, when TO is NULL */
	const char *to;         /* a directory that does not exist or is empty */
	char *const *instances; /* NULL: all of it; else only state/NAME */
	bool quiet;
	struct sp_bk_dropped *dropped; /* out, may be NULL: what was left out (backup/restore.h) */
};

int sp_bk_restore(struct sp_bk_repo *repo, const struct sp_bk_snapshot *snap, const struct sp_bk_restore_opts *opts,
		  struct sp_err *err);

/* Checks the repository; prints one line per damaged thing to OUT.  Sets
 * *DAMAGED.  Fails only when it cannot check.  Changes nothing.  STORE
 * (may be NULL): compared with what it last saw (sp_bk_catalog_load). */
int sp_bk_verify(struct sp_bk_repo *repo, const char *store, bool read_data, bool quiet, FILE *out, bool *damaged,
		 struct sp_err *err);

/* Forgets the snapshots POLICY does not keep and removes the data only
 * they used; prints what it removes to OUT.  DRY_RUN: only prints, and
 * changes nothing.  Refuses a repository whose snapshots were tampered
 * with.  STORE (may be NULL): its record of the repository follows the
 * new manifest when it had one. */
int sp_bk_prune(struct sp_bk_repo *repo, const char *store, const struct sp_bk_keep_policy *policy, bool dry_run,
		FILE *out, struct sp_err *err);

/* Before restore, verify and prune: refuses an unencrypted REPO that
 * STORE's record says was encrypted, or for which a passphrase was given
 * (PASS_GIVEN), and a config back at format 1 after format 2. */
int sp_bk_check_record(const struct sp_bk_repo *repo, const char *store, bool pass_given, struct sp_err *err);

/* Before a create: refuses to write STORE in clear to an unencrypted
 * REPO when STORE was ever backed up encrypted (to REPO or to any other
 * repository), unless ALLOW_UNENCRYPTED; refuses a config that went back
 * to format 1 after STORE saw format 2.  *IS_NEW: STORE has never
 * written to REPO (the caller says so). */
int sp_bk_check_encryption(const struct sp_bk_repo *repo, const char *store, bool allow_unencrypted, bool *is_new,
			   struct sp_err *err);

/* Records in STORE/.backup/ID what STORE last saw of REPO: encryption,
 * config format, manifest COUNTER and name. */
int sp_bk_store_record(const struct sp_bk_repo *repo, const char *store, uint64_t counter, const char *manifest,
		       struct sp_err *err);

/* Removes files of an interrupted backup: tmp/, and packs that no index
 * lists only when no snapshot uses a blob of them (every snapshot is
 * walked; when one cannot be, nothing is removed).  Prints what it did
 * to OUT when not NULL.  Needs the exclusive lock. */
int sp_bk_clean_leftovers(struct sp_bk_repo *repo, FILE *out, struct sp_err *err);

/* `backup repair`: one new index file built from every pack's trailer
 * (from the old index files for a pack whose trailer fails), then the
 * old index files removed.  Prints what it did to OUT. */
int sp_bk_repair(struct sp_bk_repo *repo, FILE *out, struct sp_err *err);

/* Marks in USED (an index used as a set) the blobs of tree ROOT and
 * everything below it; fails on a tree that does not load or a chunk
 * IDX lacks. */
struct sp_bk_index;
int sp_bk_mark_used(struct sp_bk_repo *repo, const struct sp_bk_index *idx, struct sp_bk_index *used,
		    const uint8_t root[SP_BK_ID_LEN], struct sp_err *err);
