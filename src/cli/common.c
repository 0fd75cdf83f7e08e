#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/cleanup.h"
#include "util/nixenv.h"
#include "util/strv.h"

int sp_cli_instance(const struct sp_cli *cli, const char *file, const char *name, struct sp_config *cfg,
		    const struct sp_instance **inst, struct sp_err *err)
{
	unsigned gen = 0;
	char where[64];

	if (!sp_name_valid(name))
		return sp_fail(err, SP_ERR_USAGE, "%s: not a valid instance name (expected [a-z0-9][a-z0-9-]{0,62})",
			       name);
	if (file ? sp_config_load(file, cfg, err) < 0 : sp_cli_load_current(cli, cfg, &gen, err) < 0)
		return -1;
	if (file && sp_cli_realise(cfg, err) < 0) {
		sp_config_free(cfg);
		return -1;
	}
	if (!file) {
		snprintf(where, sizeof where, "generation %u", gen);
		file = where;
	}
	*inst = sp_config_find(cfg, name);
	if (!*inst) {
		char have[512] = "";
		size_t len = 0;
		for (size_t i = 0; i < cfg->n_instances && len < sizeof have; i++)
			len += (size_t)snprintf(have + len, sizeof have - len, "%s%s", i ? ", " : "",
						cfg->instances[i].name);
		sp_fail(err, SP_ERR_USAGE, "%s: instances.%s: no such instance (the file declares: %s)", file,
			name, have[0] ? have : "none");
		sp_config_free(cfg);
		return -1;
	}
	return 0;
}

void sp_format_size(unsigned long long bytes, char *buf, size_t size)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (bytes >= 1024 && bytes % 1024 == 0 && u < 3) {
		bytes /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, size, "%llu", bytes);
	else
		snprintf(buf, size, "%llu%c", bytes, units[u]);
}

/* Builds the derivations a .nix configuration references (a no-op for
 * what is built already), so that `run --config X.nix` needs no switch. */
int sp_cli_realise(const struct sp_config *cfg, struct sp_err *err)
{
	char *const *drvs = cfg->derivations;
	char **argv = NULL;
	cleanup_free char *out = NULL;
	bool built = true;
	int r;

	if (!drvs || !drvs[0])
		return 0;
	/* Every output there already (the usual case of a switch that
	 * changes a grant): nothing to build, no nix-store to start. */
	for (size_t i = 0; i < cfg->n_instances && built; i++)
		for (size_t k = 0; cfg->instances[i].store_paths && cfg->instances[i].store_paths[k]; k++)
			built &= access(cfg->instances[i].store_paths[k], F_OK) == 0;
	if (built)
		return 0;
	if (sp_strv_push(&argv, "nix-store") < 0 || sp_strv_push(&argv, "--realise") < 0)
		goto nomem;
	for (size_t i = 0; drvs[i]; i++)
		if (sp_strv_push(&argv, drvs[i]) < 0)
			goto nomem;
	r = sp_capture(argv, SP_NIX_ENV, &out, err);
	sp_strv_free(argv);
	if (r < 0) {
		err->kind = SP_ERR_USAGE;
		return sp_err_wrap(err, "build the software");
	}
	return 0;
nomem:
	sp_strv_free(argv);
	return sp_fail_errno(err, ENOMEM, "build");
}

