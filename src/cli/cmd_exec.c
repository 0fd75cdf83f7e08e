/* exec [--config FILE] NAME -- CMD...: runs CMD inside the running
 * instance NAME, in its namespaces and cgroups and under the very
 * confinement of its own command (sandbox/join.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "plan/plan.h"
#include "sandbox/join.h"
#include "store/store.h"
#include "util/shown.h"

int sp_cmd_exec(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	const char *config = NULL, *name = NULL, *term = NULL;
	char **command = NULL;
	struct sp_config cfg = { 0 };
	const struct sp_instance *inst;
	struct sp_join_target target;
	struct sp_store store;
	struct sp_plan plan;
	struct sp_run_result res;
	int i, status = -1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			command = argv + i + 1;
			break;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			config = argv[i] + 9;
		} else if (argv[i][0] == '-') {
			return sp_fail(err, SP_ERR_USAGE, "exec: %s: unknown option (see spectrum exec --help)",
				       argv[i]);
		} else if (!name) {
			name = argv[i];
		} else {
			return sp_fail(err, SP_ERR_USAGE, "exec: %s: unexpected argument (the command goes after --)",
				       argv[i]);
		}
	}
	if (!name)
		return sp_fail(err, SP_ERR_USAGE, "exec: missing instance name (see spectrum exec --help)");
	if (!command || !command[0])
		return sp_fail(err, SP_ERR_USAGE, "exec: missing command: spectrum exec NAME -- CMD...");
	if (sp_cli_instance(cli, config, name, &cfg, &inst, err) < 0)
		return -1;
	if (inst->isolation == SP_ISOLATION_VM) {
		sp_fail(err, SP_ERR_USAGE,
			"exec: %s is a VM instance: joining a running guest is not built yet (`spectrum run %s -- CMD` boots one)",
			name, name);
		goto out_cfg;
	}
	if (sp_store_open(cli->state_dir, cli->run_dir, &store, err) < 0)
		goto out_cfg;
	if (sp_join_find(&store, name, &target, err) < 0) {
		sp_err_wrap(err, "exec");
		goto out_store;
	}
	if (isatty(0) || isatty(1) || isatty(2))
		term = getenv("TERM");
	if (sp_plan_build(inst, &store, command, term, &plan, err) < 0) {
		sp_err_wrap(err, "%s", name);
		goto out_target;
	}
	/* Flush before the engine forks, or buffered output is doubled. */
	fflush(NULL);
	if (sp_join_run(&plan, &target, &res, err) < 0) {
		sp_err_wrap(err, "exec: %s", name);
		goto out_plan;
	}
	if (!res.started && res.message[0]) {
		char shown[sizeof res.message * 4];
		fprintf(stderr, "spectrum: exec: %s: %s\n", name, sp_shown(shown, sizeof shown, res.message));
	}
	if (WIFEXITED(res.status))
		status = WEXITSTATUS(res.status);
	else if (WIFSIGNALED(res.status))
		status = 128 + WTERMSIG(res.status);
	else
		status = 1;
out_plan:
	sp_plan_free(&plan);
out_target:
	sp_join_close(&target);
out_store:
	sp_store_close(&store);
out_cfg:
	sp_config_free(&cfg);
	return status;
}
