/* libFuzzer target: the readers of what a generation records (file lists,
 * host manifests, the recorded Nix database).  `verify` reads them back
 * from disk, where a damaged or hostile file must give an error, never a
 * crash.  The input is split at the first NUL into two texts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/manifest.h"
#include "store/nar.h"
#include "store/nixdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ignore(const char *path, const char *what, void *arg)
{
	(void)path;
	(void)what;
	(*(size_t *)arg)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 2);
	const char *a, *b;
	struct sp_err err;
	struct sp_nix_db db = { 0 };
	size_t n = 0;
	char first[256];

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	text[size + 1] = '\0';
	a = text;
	b = text + strlen(text) + 1;
	if (b > text + size)
		b = "";
	sp_nar_listing_diff_all(a, b, ignore, &n, &err);
	sp_nar_listing_diff(a, b, first, sizeof first);
	sp_manifest_diff(a, b, ignore, &n, &err);
	if (sp_nixdb_load(&db, a, &err) == 0) {
		char *again = sp_nixdb_format(&db, NULL);
		char **closure = NULL;
		char *roots[2] = { db.n ? db.p[0].path : NULL, NULL };
		if (roots[0] && sp_nixdb_closure(&db, roots, &closure, &err) == 0) {
			for (size_t i = 0; closure && closure[i]; i++)
				free(closure[i]);
			free(closure);
		}
		free(again);
	}
	sp_nixdb_free(&db);
	free(text);
	return 0;
}
