/* start, stop, restart, list, logs (issue 4: not built yet). */
#include "cli/cli.h"

static int not_yet(const char *what, struct sp_err *err)
{
	return sp_fail(err, SP_ERR_USAGE, "%s: not implemented yet", what);
}

int sp_cmd_start(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	(void)cli, (void)argc, (void)argv;
	return not_yet("start", err);
}

int sp_cmd_stop(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	(void)cli, (void)argc, (void)argv;
	return not_yet("stop", err);
}

int sp_cmd_restart(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	(void)cli, (void)argc, (void)argv;
	return not_yet("restart", err);
}

int sp_cmd_list(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	(void)cli, (void)argc, (void)argv;
	return not_yet("list", err);
}

int sp_cmd_logs(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	(void)cli, (void)argc, (void)argv;
	return not_yet("logs", err);
}
