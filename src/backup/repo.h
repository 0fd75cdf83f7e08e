/* A backup repository: a directory (an external disk, say) holding
 *
 *   config            format, id, encryption, the sealed keys and a MAC
 *                     of it all under the keys (plain JSON)
 *   lock              flock()ed: shared to read, exclusive to write
 *   snapshots/HASH    one sealed JSON file per snapshot
 *   index/HASH        sealed lists of which blob is where
 *   manifests/HASH    sealed list of the snapshots, with a counter that
 *                     every create and prune raises (rollback detection)
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

/* Format 2: the config carries a MAC, under the repository's keys, of
 * its security-relevant fields (format, id, encryption, KDF, sealed
 * keys).  Format 1 configs are still read; an encrypted one is rewritten
 * as format 2 by the next writer that knows the passphrase. */
#define SP_BK_FORMAT 2
#define SP_BK_REPO_ID_HEX 32

/* The floor of the Argon2id parameters a config may ask for: below it a
 * config is refused as forged (init writes 3 passes, 128 MiB). */
#define SP_BK_KDF_MIN_OPS 3u
#define SP_BK_KDF_MIN_MEM (64u * 1024 * 1024)

struct sp_bk_repo {
	char *path;
	int dirfd;
	int lockfd;
	bool exclusive;
	char id[SP_BK_REPO_ID_HEX + 1];
	int format;    /* of its config, as read */
	bool upgraded; /* its format 1 config was rewritten as format 2 by this open */
	/* The hash of the config's bytes as opened: the upgrade to format 2
	 * (after the lock, maybe long after) MACs only the config whose
	 * keys the passphrase opened, not one swapped in meanwhile. */
	uint8_t config_hash[SP_BK_ID_LEN];
	struct sp_bk_keys keys;
};

/* True when ID is a repository id: exactly 32 lower-case hex digits
 * (it is used in file names). */
bool sp_bk_repo_id_valid(const char *id);

#define SP_BK_KEYS_LEN (3 * SP_BK_KEY_LEN)

/* A config, as read: checked field by field (format, id, encryption,
 * Argon2id within the floor and the ceiling, hex of the right lengths,
 * a MAC at format 2 when encrypted), not yet authenticated. */
struct sp_bk_config {
	int format;
	char id[SP_BK_REPO_ID_HEX + 1];
	bool encrypted;
	long long ops, mem;                 /* Argon2id, when encrypted */
	char salt[2 * 16 + 1];              /* hex */
	char keys[2 * (SP_BK_KEYS_LEN + SP_BK_SEAL_OVERHEAD) + 1]; /* hex: sealed (or plain) keys */
	char mac[2 * SP_BK_ID_LEN + 1];     /* hex; "" when none */
};

/* Reads TEXT (LEN bytes, a config's) into CFG; errors name PATH. */
int sp_bk_config_decode(const char *path, const void *text, size_t len, struct sp_bk_config *cfg,
			struct sp_err *err);

/* The MAC of CFG's security fields under the 96 bytes of keys RAW, hex. */
void sp_bk_config_mac(const uint8_t raw[SP_BK_KEYS_LEN], const struct sp_bk_config *cfg,
		      char out[2 * SP_BK_ID_LEN + 1]);

/* How to get the passphrase when one is needed: FILE (first line), else
 * $SPECTRUM_PASSPHRASE, else a prompt on /dev/tty (twice when NEW). */
struct sp_bk_pass_source {
	const char *file;
	bool no_cache; /* ask even when `backup unlock' cached the keys */
	const char *new_file; /* `backup key passwd': the new one (else
			       * $SPECTRUM_NEW_PASSPHRASE, else a prompt) */
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
 * costs ~0.6 s by design).  Only a process that possesses the key (its
 * session keyring reaches the user keyring) may read it, not every
 * process of the user; instances cannot (seccomp refuses keyctl and
 * add_key, and their user ids are others).  Keys read back are checked
 * against the config's MAC before use.  `backup lock` removes them. */
int sp_bk_repo_unlock(struct sp_bk_repo *repo, unsigned seconds, struct sp_err *err);
int sp_bk_repo_lock(const char *path, bool *was_unlocked, struct sp_err *err);

/* `backup key passwd`: seals REPO's keys (open with the old passphrase,
 * exclusive) under a new passphrase (PASS->new_file, else
 * $SPECTRUM_NEW_PASSPHRASE, else asked twice) with fresh salt, and
 * replaces the config atomically.  The keys themselves do not change. */
int sp_bk_repo_passwd(struct sp_bk_repo *repo, const struct sp_bk_pass_source *pass, struct sp_err *err);

/* The kinds of files besides packs. */
#define SP_BK_KIND_SNAPSHOT "snapshots"
#define SP_BK_KIND_INDEX "index"
#define SP_BK_KIND_MANIFEST "manifests"

/* Seals PLAIN (additional data: KIND), stores it under KIND/ with the
 * hash of its stored bytes as name (written to NAME_OUT, 65 bytes). */
int sp_bk_repo_put(struct sp_bk_repo *repo, const char *kind, const void *plain, size_t len, char *name_out,
		   struct sp_err *err);

/* Reads KIND/NAME, checks that its bytes hash to NAME and unseals it.
 * *DAMAGED (when not NULL) is set when it exists but fails a check. */
int sp_bk_repo_get(struct sp_bk_repo *repo, const char *kind, const char *name, uint8_t **plain, size_t *len,
		   bool *damaged, struct sp_err *err);

/* The names in KIND/ (or of every pack, for "packs"), sorted; NULL-terminated.
 * A missing manifests/ (a repository made before it) lists nothing. */
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
