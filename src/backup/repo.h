/* A backup repository: a directory (an external disk, say) holding
 *
 *   config            format, id, encryption, the sealed keys (plain JSON)
 *   lock              flock()ed: shared to read, exclusive to write
 *   snapshots/HASH    one sealed JSON file per snapshot
 *   index/HASH        sealed lists of which blob is where
 *   packs/HH/HASH     blobs, sealed one by one, and a sealed list of them
 *   tmp/              files being written; what is here after a crash is
 *                     left over, and removed by the next writer
 *
 * HASH is the BLAKE2b-256 of the file's bytes as stored.  Every file is
 * written in tmp/, fsync'ed, renamed into place and its directory
 * fsync'ed: a file under its name is complete.  A snapshot file is
 * written only after every blob it needs is in an index file, so a backup
 * killed at any point leaves the earlier snapshots whole. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/crypto.h"
#include "util/err.h"

#define SP_BK_FORMAT 1

struct sp_bk_repo {
	char *path;
	int dirfd;
	int lockfd;
	bool exclusive;
	char id[2 * 16 + 1];
	struct sp_bk_keys keys;
};

/* How to get the passphrase when one is needed: FILE (first line), else
 * $SPECTRUM_PASSPHRASE, else a prompt on /dev/tty (twice when NEW). */
struct sp_bk_pass_source {
	const char *file;
	bool no_cache; /* ask even when `backup unlock' cached the keys */
};

/* Makes a new repository in PATH (created, or an empty directory). */
int sp_bk_repo_init(const char *path, bool encrypt, const struct sp_bk_pass_source *pass, struct sp_err *err);

/* Opens PATH, reads its config, asks for the passphrase if encrypted and
 * unseals the keys, and takes the lock (EXCLUSIVE or shared; waits). */
int sp_bk_repo_open(const char *path, bool exclusive, const struct sp_bk_pass_source *pass,
		    struct sp_bk_repo *repo, struct sp_err *err);
void sp_bk_repo_close(struct sp_bk_repo *repo);

/* `backup unlock`: keeps the repository's keys (not the passphrase) in
 * the kernel's keyring of the calling user for SECONDS, so that scheduled
 * backups do not derive them from the passphrase each time (Argon2id
 * costs ~0.6 s by design).  Processes of the same user can read them
 * there; instances cannot (seccomp refuses keyctl and add_key, and their
 * user ids are others).  `backup lock` removes them at once. */
int sp_bk_repo_unlock(struct sp_bk_repo *repo, unsigned seconds, struct sp_err *err);
int sp_bk_repo_lock(const char *path, bool *was_unlocked, struct sp_err *err);

/* The kinds of files besides packs. */
#define SP_BK_KIND_SNAPSHOT "snapshots"
#define SP_BK_KIND_INDEX "index"

/* Seals PLAIN (additional data: KIND), stores it under KIND/ with the
 * hash of its stored bytes as name (written to NAME_OUT, 65 bytes). */
int sp_bk_repo_put(struct sp_bk_repo *repo, const char *kind, const void *plain, size_t len, char *name_out,
		   struct sp_err *err);

/* Reads KIND/NAME, checks that its bytes hash to NAME and unseals it.
 * *DAMAGED (when not NULL) is set when it exists but fails a check. */
int sp_bk_repo_get(struct sp_bk_repo *repo, const char *kind, const char *name, uint8_t **plain, size_t *len,
		   bool *damaged, struct sp_err *err);

/* The names in KIND/ (or of every pack, for "packs"), sorted; NULL-terminated. */
int sp_bk_repo_list(struct sp_bk_repo *repo, const char *kind, char ***names, struct sp_err *err);

int sp_bk_repo_remove(struct sp_bk_repo *repo, const char *kind, const char *name, struct sp_err *err);

/* fsyncs KIND/: removals in it are on disk (prune orders them so). */
int sp_bk_repo_sync(struct sp_bk_repo *repo, const char *kind, struct sp_err *err);

/* Creates a file in tmp/ for writing; its name goes to TMPNAME (64 bytes). */
int sp_bk_repo_tmpfile(struct sp_bk_repo *repo, char *tmpname, struct sp_err *err);

/* fsync()s FD, renames tmp/TMPNAME to KIND/NAME (packs/HH/NAME for
 * "packs"), fsyncs the directory. Closes FD. */
int sp_bk_repo_commit(struct sp_bk_repo *repo, int fd, const char *tmpname, const char *kind, const char *name,
		      struct sp_err *err);

/* Removes what tmp/ holds (needs the exclusive lock); returns how many. */
int sp_bk_repo_clean_tmp(struct sp_bk_repo *repo, struct sp_err *err);
