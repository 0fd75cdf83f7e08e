/* The NAR hash of a path: SHA-256 of Nix's archive serialisation
 * ("nix-archive-1"), computed as the archive is produced, so that nothing
 * but one read buffer is ever held in memory, and equal to what
 * `nix-store -q --hash PATH` prints for a store path ("sha256:<base32>").
 *
 * The walk never follows a symlink below PATH (every open is relative to
 * its directory's descriptor, with O_NOFOLLOW), and PATH itself is not
 * followed when it is a symlink: it is archived as a symlink, as Nix does.
 *
 * The archive, as Nix writes it (nix/src/libutil/archive.cc).  Every
 * string is its length as a little-endian u64, its bytes, then zero bytes
 * up to a multiple of 8; a file's contents are such a string too:
 *
 *   "nix-archive-1" NODE
 *   NODE = "(" "type" "regular" ["executable" ""] "contents" BYTES ")"
 *        | "(" "type" "symlink" "target" TARGET ")"
 *        | "(" "type" "directory" ENTRY* ")"
 *   ENTRY = "entry" "(" "name" NAME "node" NODE ")"
 *
 * with a directory's entries in byte order of their names (strcmp), and
 * "executable" when the owner's execute bit (S_IXUSR) is set: that is
 * Nix's test, so a file with only group or other execute bits is a plain
 * file in the archive and in the listing below.  Other file types
 * (devices, fifos, sockets) cannot be archived and are errors.
 *
 * The file list.  To say which file changed when a NAR hash differs, the
 * same walk can report every entry; sp_nar_listing() writes them as text,
 * one line per entry, fields separated by one tab:
 *
 *   TYPE \t MODE \t SIZE \t HASH \t PATH \n
 *
 *   TYPE  f (regular file), x (executable file: S_IXUSR), d (directory),
 *         l (symlink)
 *   MODE  the permission bits, st_mode & 07777, in octal ("0555")
 *   SIZE  bytes of content (f, x), bytes of the target (l), 0 (d)
 *   HASH  f, x: SHA-256 of the content in lowercase hex; l: the target;
 *         d: "-"
 *   PATH  relative to the walked path, "." for the path itself
 *
 * PATH and a symlink's target are escaped so that lines and fields stay
 * whole: backslash, tab and newline are written \\, \t and \n; every other
 * byte is itself.  The lines are in the archive's order, which is the
 * order of sp_listing_pathcmp(): "." first, then paths compared component
 * by component in byte order, so a directory is followed by everything
 * under it before its next sibling ("a", "a/b", "a-c"). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

/* "sha256:" + 52 base-32 characters + NUL */
#define SP_NAR_HASH_STRSIZE (7 + 52 + 1)

struct sp_nar_stats {
	uint64_t files;    /* regular files (executable or not) */
	uint64_t dirs;
	uint64_t symlinks;
	uint64_t bytes;    /* bytes of file content read */
	uint64_t nar_size; /* size of the archive (what Nix calls narSize) */
};

struct sp_nar_entry {
	const char *path;   /* relative to the walked path; "." for itself */
	char type;          /* 'f', 'x', 'd' or 'l' */
	unsigned int mode;  /* st_mode & 07777 */
	uint64_t size;      /* content (f, x), target length (l), 0 (d) */
	uint8_t sha256[32]; /* of the content (f, x); zeros otherwise */
	const char *target; /* (l); NULL otherwise */
};

/* Called once per entry, in the archive's order (a directory before what
 * it holds).  Returns 0 to go on, or -1 having filled ERR to stop the
 * walk, which then returns -1. */
typedef int (*sp_nar_walk_fn)(const struct sp_nar_entry *e, void *arg,
			      struct sp_err *err);

/* Computes the NAR hash of PATH, relative to DIRFD (AT_FDCWD, or ignored
 * when PATH is absolute), into OUT.  STATS may be NULL; it is zeroed
 * first. */
int sp_nar_hash(int dirfd, const char *path, uint8_t out[32],
		struct sp_nar_stats *stats, struct sp_err *err);

/* The same walk, calling FN for every entry, with the SHA-256 of every
 * file's content.  NAR_HASH, when not NULL, receives the NAR hash of the
 * same pass (each file is read once).  STATS may be NULL. */
int sp_nar_walk(int dirfd, const char *path, uint8_t nar_hash[32],
		sp_nar_walk_fn fn, void *arg, struct sp_nar_stats *stats,
		struct sp_err *err);

/* The file list of PATH (format above) in a new string for the caller to
 * free(), with the NAR hash of the same pass in NAR_HASH (may be NULL). */
int sp_nar_listing(int dirfd, const char *path, char **out,
		   uint8_t nar_hash[32], struct sp_nar_stats *stats,
		   struct sp_err *err);

/* Writes one line of the file list for E to F. */
void sp_nar_listing_line(FILE *f, const struct sp_nar_entry *e);

/* Compares two file lists.  Returns 0 when they are equal, 1 when they
 * differ, with the first difference in FIRST_DIFFERENCE (N bytes, may be
 * 0) in words, the path first:
 *
 *   "usr/bin/x: content changed"        size or SHA-256 differs
 *   "usr/bin/x: mode changed"           permission bits or f <-> x
 *   "usr/bin/x: symlink target changed"
 *   "usr/bin/x: type changed"           e.g. a file became a directory
 *   "usr/bin/x: added" / ": removed"    only in CURRENT / only in RECORDED
 *
 * and -1 when either text is not a file list (FIRST_DIFFERENCE says which
 * line). */
int sp_nar_listing_diff(const char *recorded, const char *current,
			char *first_difference, size_t n);

/* Every difference, in path order: REPORT(path, what, arg) with WHAT one
 * of the words above ("content changed", "added", ...).  Returns the
 * number of differences, or -1 (with the reason in ERR) when a text is
 * not a file list. */
typedef void (*sp_listing_report_fn)(const char *path, const char *what, void *arg);
int sp_nar_listing_diff_all(const char *recorded, const char *current,
			    sp_listing_report_fn report, void *arg,
			    struct sp_err *err);

/* "sha256:<base32>", as `nix-store -q --hash` prints it.  N must be at
 * least SP_NAR_HASH_STRSIZE; returns -1 otherwise. */
int sp_nar_hash_format(const uint8_t hash[32], char *out, size_t n);

/* Reads "sha256:<52 base-32 chars>" (nix-store -q --hash) or
 * "sha256:<64 hex chars>" (the form in Nix's database, ValidPaths.hash).
 * Returns 0, or -1 when S is neither. */
int sp_nar_hash_parse(const char *s, uint8_t out[32]);

/* Shared with manifest.c. */

/* Orders paths as the archive does: "." first, then component by
 * component in byte order.  Returns <0, 0, >0 as strcmp. */
int sp_listing_pathcmp(const char *a, const char *b);

/* Writes S to F with backslash, tab and newline escaped. */
void sp_listing_escape(FILE *f, const char *s);

/* Undoes sp_listing_escape() in place.  Returns S, or NULL when S holds a
 * backslash that is not one of the three escapes. */
char *sp_listing_unescape(char *s);

/* Reads the next SIZE bytes of FD (a regular file just opened) in chunks
 * of BUFSIZE through BUF, and feeds them to a SHA-256 whose result goes
 * to OUT (when not NULL) and to NAR (when not NULL: a
 * struct sp_sha256 *, void here to keep sodium.h out of this
 * header).  A file shorter or longer than SIZE (changed while being read)
 * is an error naming WHAT. */
int sp_sha256_fd(int fd, uint64_t size, uint8_t *buf, size_t bufsize,
		 uint8_t out[32], void *nar, const char *what,
		 struct sp_err *err);
