#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

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
