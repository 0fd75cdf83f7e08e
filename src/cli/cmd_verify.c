/* `verify [--full] [NAME...]`: is each instance's software still what the
 * current generation recorded? */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/integrity.h"
#include "store/generation.h"

int sp_cmd_verify(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	struct sp_config cfg = { 0 };
	struct sp_store store;
	char **names = argv + 1;
	bool full = false;
	size_t problems = 0;
	unsigned gen = 0;
	int ret = -1, n = 0;

	/* Options first, then names: compact them in place. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--full") == 0)
			full = true;
		else if (argv[i][0] == '-')
			return sp_fail(err, SP_ERR_USAGE, "verify: %s: unknown option", argv[i]);
		else
			names[n++] = argv[i];
	}
	names[n] = NULL;
	if (sp_store_open(cli->state_dir, cli->run_dir, &store, err) < 0)
		return -1;
	if (sp_gen_current(&store, &gen, err) < 0)
		goto out;
	if (!gen) {
		sp_fail(err, SP_ERR_USAGE, "verify: no generation: run `spectrum switch FILE` first");
		goto out;
	}
	if (sp_cli_load_generation(&store, gen, &cfg, err) < 0)
		goto out;
	for (int i = 0; i < n; i++)
		if (!sp_config_find(&cfg, names[i])) {
			sp_fail(err, SP_ERR_USAGE, "verify: %s: no such instance in generation %u", names[i], gen);
			goto out;
		}
	printf("generation %u, %s check\n", gen, full ? "full" : "fast (unchanged metadata is trusted; --full rehashes)");
	if (sp_integrity_verify(&store, gen, &cfg, names, full, &problems, err) < 0)
		goto out;
	if (problems) {
		sp_fail(err, SP_ERR_RUNTIME, "verify: %zu difference%s from generation %u (above)", problems,
			problems == 1 ? "" : "s", gen);
		goto out;
	}
	ret = 0;
out:
	sp_config_free(&cfg);
	sp_store_close(&store);
	return ret;
}
