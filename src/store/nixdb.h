/* What the Nix database says about store paths: their NAR hashes and
 * references, read with `nix-store --dump-db` (one call per level of the
 * reference graph, not one per path), from which closures are computed
 * here. */
#pragma once

#include <stddef.h>

#include "util/err.h"

struct sp_nix_path {
	char *path;
	char hash[65]; /* hex SHA-256 of the NAR, as registered */
	char **refs;   /* NULL-terminated */
};

struct sp_nix_db {
	struct sp_nix_path *p;
	size_t n;
};

/* Adds what TEXT records ("PATH\tHEX\tREF REF..." lines, as
 * sp_nixdb_format writes them): store paths never change, so what an
 * earlier generation learnt need not be asked again. */
int sp_nixdb_load(struct sp_nix_db *db, const char *text, struct sp_err *err);

/* The lines of every path of DB that is in ONLY (all when NULL),
 * malloc'ed. */
char *sp_nixdb_format(const struct sp_nix_db *db, char *const *only);

/* Registers ROOTS and everything they reference, transitively, asking
 * Nix only about what DB does not know yet. */
int sp_nixdb_query(char *const *roots, struct sp_nix_db *db, struct sp_err *err);

const struct sp_nix_path *sp_nixdb_find(const struct sp_nix_db *db, const char *path);

/* The closure of ROOTS (which must have been queried), each path once,
 * roots first.  *OUT is a NULL-terminated malloc'ed vector. */
int sp_nixdb_closure(const struct sp_nix_db *db, char *const *roots, char ***out, struct sp_err *err);

void sp_nixdb_free(struct sp_nix_db *db);
