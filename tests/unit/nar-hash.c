/* nar-hash PATH...: prints "sha256:<base32> PATH" per path, as
 * `nix-store -q --hash` would for a store path.  For bench/verify and for
 * checking by hand; -l prints each path's file list instead. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/nar.h"

int main(int argc, char **argv)
{
	int status = 0, first = 1;
	int listing = argc > 1 && strcmp(argv[1], "-l") == 0;

	if (listing)
		first = 2;
	if (argc <= first) {
		fprintf(stderr, "usage: nar-hash [-l] PATH...\n");
		return 2;
	}
	for (int i = first; i < argc; i++) {
		struct sp_err err = { 0 };
		char text[SP_NAR_HASH_STRSIZE];
		uint8_t hash[32];
		char *list = NULL;
		int r;

		if (listing)
			r = sp_nar_listing(AT_FDCWD, argv[i], &list, hash, NULL, &err);
		else
			r = sp_nar_hash(AT_FDCWD, argv[i], hash, NULL, &err);
		if (r < 0) {
			fprintf(stderr, "nar-hash: %s\n", err.msg);
			status = 1;
			continue;
		}
		sp_nar_hash_format(hash, text, sizeof text);
		printf("%s %s\n", text, argv[i]);
		if (list)
			fputs(list, stdout);
		free(list);
	}
	return status;
}
