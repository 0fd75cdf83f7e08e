/* libFuzzer target for the configuration parser.  Besides the sanitizers'
 * findings, it checks the promises of sp_config_parse(): an error is one
 * line naming the file, of kind usage (or run-time for a failed
 * allocation), with the model left empty; a success gives instances with
 * the required parts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/model.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_success(const struct sp_config *cfg)
{
	if (cfg->n_instances == 0 || strcmp(cfg->file, "fuzz.json") != 0)
		abort();
	for (size_t i = 0; i < cfg->n_instances; i++) {
		const struct sp_instance *inst = &cfg->instances[i];

		if (!sp_name_valid(inst->name) || sp_config_find(cfg, inst->name) != inst)
			abort();
		if (!inst->store_paths || !inst->command || !inst->command[0])
			abort();
		if (!inst->store_paths[0] && !inst->software_host)
			abort();
		for (size_t j = 0; j < inst->n_data; j++)
			if (!inst->data[j].path || inst->data[j].at[0] != '/')
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_config cfg;
	struct sp_err err = { 0 };
	char *text;
	uint64_t bytes;

	if (sp_config_parse((const char *)data, size, "fuzz.json", &cfg, &err) == 0) {
		check_success(&cfg);
	} else {
		if (strchr(err.msg, '\n') || strncmp(err.msg, "fuzz.json", 9) != 0)
			abort();
		if (err.kind != SP_ERR_USAGE && err.kind != SP_ERR_RUNTIME)
			abort();
		if (cfg.instances || cfg.n_instances || cfg.file)
			abort();
	}
	sp_config_free(&cfg);

	/* The same bytes as a size, for the hand-written number parser. */
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	sp_parse_size(text, &bytes);
	free(text);
	return 0;
}
