/* Generations of the configuration (DESIGN.md, "The central store"):
 * generations/N/ holds everything one evaluated configuration needs, and
 * `current` names the one in force.  A generation is written completely
 * under a temporary name, fsynced, renamed into place, and only then made
 * current by renaming a new symlink over `current`: a crash at any point
 * leaves the previous generation in force and complete. */
#pragma once

#include <stddef.h>
#include <time.h>

#include "store/store.h"
#include "util/err.h"

/* The files of a generation. */
#define SP_GEN_CONFIG "config.json"   /* the configuration, as JSON */
#define SP_GEN_SOURCE "source"        /* the file it was made from */
#define SP_GEN_CREATED "created"      /* seconds since the epoch */
#define SP_GEN_CLOSURE "closure"      /* "INSTANCE\tSTOREPATH" lines */
#define SP_GEN_HASHES "hashes"        /* "STOREPATH\tHEX-NAR-SHA256\tREFS" lines */
#define SP_GEN_LISTINGS "listings"    /* per store path: "=STOREPATH" then its file list */
#define SP_GEN_MANIFEST "host-manifest" /* what "host" software instances see */
#define SP_GEN_STAMPS "stamps"        /* "STOREPATH\tENTRIES\tNEWEST-CTIME-NS" lines */

struct sp_gen_writer {
	unsigned number;
	int dirfd;     /* of the temporary directory */
	char tmp[64];  /* its name in generations/ */
};

/* The current generation's number, 0 when there is none. */
int sp_gen_current(const struct sp_store *store, unsigned *number, struct sp_err *err);

/* All generations, ascending.  *NUMBERS is malloc'ed. */
int sp_gen_list(const struct sp_store *store, unsigned **numbers, size_t *count, struct sp_err *err);

/* Reads file NAME of generation N (NUL-terminated, malloc'ed). */
int sp_gen_read(const struct sp_store *store, unsigned n, const char *name, char **text, size_t *len,
		struct sp_err *err);

/* Starts generation max+1 in a temporary directory, after removing what
 * an interrupted switch left there. */
int sp_gen_begin(const struct sp_store *store, struct sp_gen_writer *w, struct sp_err *err);

/* Writes NAME (may contain one '/', for listings/X) in the new generation,
 * durably. */
int sp_gen_write(struct sp_gen_writer *w, const char *name, const char *data, size_t len,
		 struct sp_err *err);

/* Makes the new generation complete (fsync, rename into place). */
int sp_gen_commit(const struct sp_store *store, struct sp_gen_writer *w, struct sp_err *err);

/* Abandons the new generation (on an error). */
void sp_gen_abort(const struct sp_store *store, struct sp_gen_writer *w);

/* Makes generation N current, atomically. */
int sp_gen_set_current(const struct sp_store *store, unsigned n, struct sp_err *err);
