/* The command line: one binary, subcommands, errors printed once here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config/model.h"
#include "util/err.h"

struct sp_cli {
	const char *state_dir; /* NULL: SPECTRUM_STATE_DIR or the default */
	const char *run_dir;
};

struct sp_command {
	const char *name;
	int (*fn)(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err);
	const char *synopsis;
	const char *help; /* NULL: not implemented yet */
};

/* Exit status of a command: 0, or that of the instance for run. */
int sp_cmd_run(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err);
int sp_cmd_check(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err);
int sp_cmd_inspect(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err);

const struct sp_command *sp_commands(void);
const struct sp_command *sp_command_find(const char *name);
void sp_usage(FILE *out);
void sp_command_usage(const struct sp_command *cmd, FILE *out);

/* True when ARG is -h or --help. */
bool sp_is_help(const char *arg);

/* Loads FILE, or the current generation when FILE is NULL, and finds NAME
 * in it, with errors that name both. */
int sp_cli_instance(const struct sp_cli *cli, const char *file, const char *name, struct sp_config *cfg,
		    const struct sp_instance **inst, struct sp_err *err);

struct sp_store;
/* The configuration recorded in generation N / in the current one. */
int sp_cli_load_generation(const struct sp_store *store, unsigned n, struct sp_config *cfg, struct sp_err *err);
int sp_cli_load_current(const struct sp_cli *cli, struct sp_config *cfg, unsigned *number, struct sp_err *err);

/* nix-store --realise of CFG's derivations, when it has any. */
int sp_cli_realise(const struct sp_config *cfg, struct sp_err *err);

int sp_cmd_switch(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err);
int sp_cmd_generations(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err);
int sp_cmd_rollback(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err);
int sp_cmd_diff(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err);
int sp_cmd_verify(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err);
int sp_cmd_exec(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err);
int sp_cmd_start(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err);
int sp_cmd_stop(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err);
int sp_cmd_restart(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err);
int sp_cmd_list(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err);
int sp_cmd_logs(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err);
int sp_cmd_backup(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err);

/* "256M" for 268435456, for messages and tables. */
void sp_format_size(unsigned long long bytes, char *buf, size_t size);
