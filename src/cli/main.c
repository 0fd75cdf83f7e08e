#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/proctitle.h"
#include "util/shown.h"

#ifndef SPECTRUM_VERSION
#define SPECTRUM_VERSION "unknown"
#endif

/* Takes "--opt VALUE" or "--opt=VALUE"; advances *I past what it used. */
static const char *option_value(int argc, char **argv, int *i, const char *opt)
{
	size_t n = strlen(opt);

	if (strncmp(argv[*i], opt, n) == 0 && argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (strcmp(argv[*i], opt) == 0 && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

int main(int argc, char **argv)
{
	struct sp_cli cli = { 0 };
	struct sp_err err = { 0 };
	const struct sp_command *cmd;
	int i, r;

	sp_proctitle_init(argc, argv);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *v;
		if (sp_is_help(argv[i])) {
			sp_usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("spectrum %s\n", SPECTRUM_VERSION);
			return 0;
		}
		if ((v = option_value(argc, argv, &i, "--state-dir"))) {
			cli.state_dir = v;
		} else if ((v = option_value(argc, argv, &i, "--run-dir"))) {
			cli.run_dir = v;
		} else {
			fprintf(stderr, "spectrum: %s: unknown option (see spectrum --help)\n", argv[i]);
			return 2;
		}
	}
	if (i >= argc) {
		sp_usage(stderr);
		return 2;
	}
	cmd = sp_command_find(argv[i]);
	if (!cmd) {
		fprintf(stderr, "spectrum: %s: unknown command (see spectrum --help)\n", argv[i]);
		return 2;
	}
	if (i + 1 < argc && sp_is_help(argv[i + 1])) {
		sp_command_usage(cmd, stdout);
		return 0;
	}
	if (!cmd->fn) {
		fprintf(stderr, "spectrum: %s: not implemented yet\n", cmd->name);
		return 2;
	}
	r = cmd->fn(&cli, argc - i, argv + i, &err);
	if (r < 0) {
		/* Messages carry names and words an instance chose (its file
		 * names, its guest's errors): escaped, on one line. */
		char shown[sizeof err.msg * 4];
		fprintf(stderr, "spectrum: %s\n", sp_shown(shown, sizeof shown, err.msg));
		return err.kind == SP_ERR_USAGE ? 2 : 1;
	}
	return r;
}
