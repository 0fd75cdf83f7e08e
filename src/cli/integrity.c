/* Recording and checking the integrity of instances' software. */
#include "cli/integrity.h"

int sp_integrity_record(const struct sp_store *store, unsigned prev, struct sp_gen_writer *w,
			const struct sp_config *cfg, const struct sp_nix_db *db, struct sp_err *err)
{
	(void)store;
	(void)prev;
	(void)w;
	(void)cfg;
	(void)db;
	(void)err;
	return 0;
}
