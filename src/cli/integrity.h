/* What `switch` records so that `verify` can later tell that the software
 * of an instance is still exactly what was switched to: per store path,
 * its file list (to name what changed), and for "host" software a
 * manifest of /usr. */
#pragma once

#include <stdbool.h>

#include "config/diff.h"
#include "config/model.h"
#include "store/generation.h"
#include "store/nixdb.h"

/* Records into W what generation PREV (0: none) does not already hold
 * for the same paths. */
int sp_integrity_record(const struct sp_store *store, unsigned prev, struct sp_gen_writer *w,
			const struct sp_config *cfg, const struct sp_nix_db *db, struct sp_err *err);

/* Checks every store path of the instances NAMES (all when NULL or empty)
 * of generation GEN, and the host's /usr for "host" instances, printing
 * per instance "ok" or each file that changed.  FULL rehashes everything;
 * otherwise unchanged metadata is trusted.  *PROBLEMS counts differences. */
int sp_integrity_verify(const struct sp_store *store, unsigned gen, const struct sp_config *cfg,
			char *const *names, bool full, size_t *problems, struct sp_err *err);

void sp_print_diff(const struct sp_instance_diff *d, size_t n, bool plan);
