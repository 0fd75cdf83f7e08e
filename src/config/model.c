/* The model's lifetime: freeing it, and looking up an instance. */
#include <stdlib.h>
#include <string.h>

#include "config/model.h"

static void free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static void free_instance(struct sp_instance *inst)
{
	free(inst->name);
	free(inst->vm.kernel);
	free_strv(inst->store_paths);
	free_strv(inst->command);
	for (size_t i = 0; i < inst->n_data; i++) {
		free(inst->data[i].path);
		free(inst->data[i].at);
	}
	free(inst->data);
	for (size_t i = 0; i < inst->n_env; i++) {
		free(inst->env[i].key);
		free(inst->env[i].value);
	}
	free(inst->env);
	free(inst->net.provider);
	for (size_t i = 0; i < inst->net.n_peers; i++)
		free(inst->net.peers[i].name);
	free(inst->net.peers);
	free(inst->net.allow);
}

void sp_config_free(struct sp_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_instances; i++)
		free_instance(&cfg->instances[i]);
	free(cfg->instances);
	free(cfg->file);
	free(cfg->json);
	free_strv(cfg->derivations);
	memset(cfg, 0, sizeof *cfg);
}

const struct sp_instance *sp_config_find(const struct sp_config *cfg, const char *name)
{
	if (!cfg || !name)
		return NULL;
	for (size_t i = 0; i < cfg->n_instances; i++)
		if (cfg->instances[i].name && strcmp(cfg->instances[i].name, name) == 0)
			return &cfg->instances[i];
	return NULL;
}
