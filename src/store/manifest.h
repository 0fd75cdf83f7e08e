/* The manifest of what an instance with `software: "host"` sees of the
 * host: the tree under /usr and /etc/ld.so.cache, recorded by `switch` and
 * checked by `verify`.
 *
 * A manifest is text, one line per entry, fields separated by one tab:
 *
 *   PATH \t MODE \t SIZE \t SHA256 \t MTIME_NS \t CTIME_NS \t INO \n
 *
 *   PATH      relative to the root ("usr/bin/ls"), escaped as in a file
 *             list (nar.h: backslash, tab, newline as \\, \t, \n)
 *   MODE      st_mode in octal, file type included (100755, 40755, 120777)
 *   SIZE      bytes of content (regular file), of the target (symlink),
 *             0 otherwise
 *   SHA256    regular file: SHA-256 of the content, lowercase hex;
 *             symlink: the target, escaped; otherwise "-"
 *   MTIME_NS, CTIME_NS   st_mtim and st_ctim in nanoseconds since the epoch
 *   INO       st_ino
 *
 * The lines are sorted by sp_listing_pathcmp() (component by component in
 * byte order: a directory, then everything under it).  The last three
 * fields are not compared by verify: they only let the fast mode trust an
 * entry whose size, mtime, ctime and inode are all unchanged (ctime cannot
 * be set from user space, so a write or chmod always moves it).
 *
 * Each listed path is walked without following symlinks and without
 * crossing into another filesystem: a mount point below it is listed (as
 * the directory it shows) but not entered.  Nothing else is skipped; a
 * file that cannot be read, even by root, is an error.  The listed paths
 * must not contain each other. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

/* What an instance with `software: "host"` sees, relative to "/". */
extern const char *const sp_manifest_host_paths[];

struct sp_manifest_opts {
	const char *root;          /* "/" for the host */
	const char *const *paths;  /* relative to root, NULL-terminated;
				    * NULL means sp_manifest_host_paths.  A
				    * path that does not exist has no lines. */
	const char *previous;      /* an earlier manifest, or NULL */
	bool full;                 /* rehash every file, ignore PREVIOUS */
};

struct sp_manifest_stats {
	uint64_t entries;      /* lines */
	uint64_t files;        /* regular files */
	uint64_t hashed_files; /* of which read and hashed */
	uint64_t hashed_bytes;
	uint64_t reused;       /* of which the hash came from PREVIOUS */
};

/* Writes the manifest to OUT.  Without FULL, a regular file whose size,
 * mtime, ctime and inode equal its line in PREVIOUS keeps that line's
 * hash without being read.  STATS may be NULL. */
int sp_manifest_write(const struct sp_manifest_opts *opts, FILE *out,
		      struct sp_manifest_stats *stats, struct sp_err *err);

/* The same, into a new string for the caller to free(). */
int sp_manifest_string(const struct sp_manifest_opts *opts, char **out,
		       struct sp_manifest_stats *stats, struct sp_err *err);

/* REPORT(path, what, arg) for each difference; WHAT is "content changed",
 * "mode changed" (permission bits), "type changed", "symlink target
 * changed", "added" or "removed". */
typedef void (*sp_manifest_report_fn)(const char *path, const char *what,
				      void *arg);

/* Compares ROOT (its PATHS, NULL for sp_manifest_host_paths) with the
 * manifest RECORDED and reports every difference, in path order.  Without
 * FULL, files whose metadata is unchanged are trusted (not read).
 * Returns the number of differences (0: all as recorded), or -1. */
int sp_manifest_verify(const char *recorded, const char *root,
		       const char *const *paths, bool full,
		       sp_manifest_report_fn report, void *arg,
		       struct sp_manifest_stats *stats, struct sp_err *err);

/* Compares two manifests as sp_manifest_verify() does.  Returns the
 * number of differences, or -1 when a text is not a manifest. */
int sp_manifest_diff(const char *recorded, const char *current,
		     sp_manifest_report_fn report, void *arg,
		     struct sp_err *err);
