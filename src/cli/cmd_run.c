#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "plan/plan.h"
#include "sandbox/cgroup.h"
#include "sandbox/engine.h"
#include "store/store.h"
#include "util/shown.h"

int sp_cmd_run(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	const char *config = NULL, *name = NULL;
	char **command = NULL;
	struct sp_config cfg = { 0 };
	const struct sp_instance *inst;
	struct sp_store store;
	struct sp_plan plan;
	struct sp_run_result res;
	const char *term = NULL;
	struct sp_run_opts opts = { .notify_fd = -1 };
	const struct sp_engine *engine;
	int i, status = -1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			command = argv + i + 1;
			break;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			config = argv[i] + 9;
		} else if (strcmp(argv[i], "--notify-fd") == 0 && i + 1 < argc) {
			char *end;
			long fd = strtol(argv[++i], &end, 10);
			if (*end || fd < 3 || fd > 1024 || fcntl((int)fd, F_GETFD) < 0)
				return sp_fail(err, SP_ERR_USAGE, "run: --notify-fd %s: expected an open descriptor >= 3",
					       argv[i]);
			opts.notify_fd = (int)fd;
		} else if (argv[i][0] == '-') {
			return sp_fail(err, SP_ERR_USAGE, "run: %s: unknown option (see spectrum run --help)", argv[i]);
		} else if (!name) {
			name = argv[i];
		} else {
			return sp_fail(err, SP_ERR_USAGE, "run: %s: unexpected argument (a command goes after --)",
				       argv[i]);
		}
	}
	if (!name)
		return sp_fail(err, SP_ERR_USAGE, "run: missing instance name (see spectrum run --help)");
	if (command && !command[0])
		return sp_fail(err, SP_ERR_USAGE, "run: nothing after --");
	if (sp_cli_instance(cli, config, name, &cfg, &inst, err) < 0)
		return -1;
	if (sp_store_open(cli->state_dir, cli->run_dir, &store, err) < 0)
		goto out_cfg;
	if (isatty(0) || isatty(1) || isatty(2))
		term = getenv("TERM");
	if (sp_plan_build(inst, &store, command, term, &plan, err) < 0) {
		sp_err_wrap(err, "%s", name);
		goto out_store;
	}
	/* A second engine would wait on the first one's lock and then
	 * blame a cleanup: say what is going on, at once. */
	if (sp_cgroup_name_running(plan.id)) {
		sp_fail(err, SP_ERR_RUNTIME,
			"%s: already running (started by spectrum start or another spectrum run); "
			"spectrum exec %s -- CMD runs a command inside it",
			name, name);
		goto out_plan;
	}
	/* Flush before the engine forks, or buffered output is doubled. */
	fflush(NULL);
	engine = plan.isolation == SP_ISOLATION_VM ? &sp_vm_engine : &sp_container_engine;
	if (engine->run(&plan, &store, &opts, &res, err) < 0) {
		sp_err_wrap(err, "%s", name);
		goto out_plan;
	}
	if (!res.started && res.message[0]) {
		/* For a VM, the guest's words: escaped, on one line. */
		char shown[sizeof res.message * 4];
		fprintf(stderr, "spectrum: %s: %s\n", name, sp_shown(shown, sizeof shown, res.message));
	}
	if (WIFEXITED(res.status)) {
		status = WEXITSTATUS(res.status);
	} else if (WIFSIGNALED(res.status)) {
		status = 128 + WTERMSIG(res.status);
		if (res.oom_killed) {
			char lim[32];
			sp_format_size(plan.limits.memory_bytes, lim, sizeof lim);
			fprintf(stderr, "spectrum: %s: killed: out of memory (limit %s)\n", name, lim);
		}
	} else {
		status = 1;
	}
out_plan:
	sp_plan_free(&plan);
out_store:
	sp_store_close(&store);
out_cfg:
	sp_config_free(&cfg);
	return status;
}
