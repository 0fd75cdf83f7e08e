/* exec NAME -- CMD... (issue 4: not built yet). */
#include "cli/cli.h"

int sp_cmd_exec(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	(void)cli, (void)argc, (void)argv;
	return sp_fail(err, SP_ERR_USAGE, "exec: not implemented yet");
}
