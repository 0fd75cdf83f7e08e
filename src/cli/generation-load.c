/* Loading the configuration of a generation, for the commands that act on
 * what is in force (run and inspect without --config, diff, verify). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "store/generation.h"

int sp_cli_load_generation(const struct sp_store *store, unsigned n, struct sp_config *cfg, struct sp_err *err)
{
	char *text = NULL, name[64];
	size_t len;
	int r;

	if (sp_gen_read(store, n, SP_GEN_CONFIG, &text, &len, err) < 0)
		return -1;
	snprintf(name, sizeof name, "generation %u", n);
	r = sp_config_parse(text, len, name, cfg, err);
	if (r == 0) {
		cfg->json = text;
		text = NULL;
	}
	free(text);
	return r;
}

int sp_cli_load_current(const struct sp_cli *cli, struct sp_config *cfg, unsigned *number, struct sp_err *err)
{
	struct sp_store store;
	unsigned n = 0;
	int r = -1;

	if (sp_store_open(cli->state_dir, cli->run_dir, &store, err) < 0)
		return -1;
	if (sp_gen_current(&store, &n, err) < 0)
		goto out;
	if (!n) {
		sp_fail(err, SP_ERR_USAGE, "no configuration: run `spectrum switch FILE` first, or pass --config FILE");
		goto out;
	}
	r = sp_cli_load_generation(&store, n, cfg, err);
	if (number)
		*number = n;
out:
	sp_store_close(&store);
	return r;
}
