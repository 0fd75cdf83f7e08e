/* `generations`, `rollback`, `diff [A B]`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/integrity.h"
#include "config/diff.h"
#include "store/generation.h"
#include "util/cleanup.h"

int sp_cmd_generations(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	struct sp_store store;
	unsigned *nums = NULL, cur = 0;
	size_t n = 0;
	int ret = -1;

	(void)argv;
	if (argc > 1)
		return sp_fail(err, SP_ERR_USAGE, "generations: unexpected argument %s", argv[1]);
	if (sp_store_open(cli->state_dir, cli->run_dir, &store, err) < 0)
		return -1;
	if (sp_gen_current(&store, &cur, err) < 0 || sp_gen_list(&store, &nums, &n, err) < 0)
		goto out;
	if (!n)
		printf("no generations yet: `spectrum switch FILE` makes the first\n");
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *created = NULL, *source = NULL;
		struct sp_config cfg = { 0 };
		char when[64] = "?";
		struct sp_err e2 = { 0 };

		if (sp_gen_read(&store, nums[i], SP_GEN_CREATED, &created, NULL, &e2) == 0) {
			time_t t = (time_t)strtoll(created, NULL, 10);
			struct tm tm;
			strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
		}
		if (sp_gen_read(&store, nums[i], SP_GEN_SOURCE, &source, NULL, &e2) < 0)
			source = strdup("?");
		if (sp_cli_load_generation(&store, nums[i], &cfg, &e2) < 0) {
			printf("%5u %s  %s  (unreadable: %s)\n", nums[i], nums[i] == cur ? "*" : " ", when, e2.msg);
			continue;
		}
		printf("%5u %s  %s  %zu instance%s  %s\n", nums[i], nums[i] == cur ? "*" : " ", when, cfg.n_instances,
		       cfg.n_instances == 1 ? " " : "s", source ? source : "?");
		sp_config_free(&cfg);
	}
	ret = 0;
out:
	free(nums);
	sp_store_close(&store);
	return ret;
}

static int show_diff(const struct sp_store *store, unsigned a, unsigned b, bool plan, struct sp_err *err)
{
	struct sp_config ca = { 0 }, cb = { 0 };
	struct sp_instance_diff *d = NULL;
	size_t n = 0;
	int ret = -1;

	if (sp_cli_load_generation(store, a, &ca, err) < 0 || sp_cli_load_generation(store, b, &cb, err) < 0 ||
	    sp_config_diff(&ca, &cb, &d, &n, err) < 0)
		goto out;
	sp_print_diff(d, n, plan);
	ret = 0;
out:
	sp_config_diff_free(d, n);
	sp_config_free(&ca);
	sp_config_free(&cb);
	return ret;
}

int sp_cmd_rollback(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	struct sp_store store;
	unsigned *nums = NULL, cur = 0, prev = 0;
	size_t n = 0;
	int ret = -1;

	if (argc > 1)
		return sp_fail(err, SP_ERR_USAGE, "rollback: unexpected argument %s", argv[1]);
	if (sp_store_open(cli->state_dir, cli->run_dir, &store, err) < 0)
		return -1;
	if (sp_gen_current(&store, &cur, err) < 0 || sp_gen_list(&store, &nums, &n, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (nums[i] < cur)
			prev = nums[i];
	if (!cur || !prev) {
		sp_fail(err, SP_ERR_RUNTIME, "rollback: no generation before %s", cur ? "the current one" : "none");
		goto out;
	}
	/* Checked before it is made current: a rollback to something
	 * unreadable would leave nothing usable in force. */
	{
		struct sp_config c = { 0 };
		if (sp_cli_load_generation(&store, prev, &c, err) < 0)
			goto out;
		sp_config_free(&c);
	}
	if (sp_gen_set_current(&store, prev, err) < 0)
		goto out;
	printf("generation %u is current (it was %u)\n", prev, cur);
	ret = show_diff(&store, cur, prev, true, err);
	if (ret == 0)
		printf("(rollback changes the generation only: `spectrum switch` with no FILE, or start/stop/restart, "
		       "carries it out)\n");
out:
	free(nums);
	sp_store_close(&store);
	return ret;
}

static int parse_gen(const char *s, unsigned *n, struct sp_err *err)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v == 0 || v > 1000000000ul)
		return sp_fail(err, SP_ERR_USAGE, "diff: %s: expected a generation number", s);
	*n = (unsigned)v;
	return 0;
}

int sp_cmd_diff(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	struct sp_store store;
	unsigned *nums = NULL, cur = 0, a = 0, b = 0;
	size_t n = 0;
	int ret = -1;

	if (argc != 1 && argc != 3)
		return sp_fail(err, SP_ERR_USAGE, "diff: expected no argument or two generation numbers");
	if (argc == 3 && (parse_gen(argv[1], &a, err) < 0 || parse_gen(argv[2], &b, err) < 0))
		return -1;
	if (sp_store_open(cli->state_dir, cli->run_dir, &store, err) < 0)
		return -1;
	if (sp_gen_current(&store, &cur, err) < 0 || sp_gen_list(&store, &nums, &n, err) < 0)
		goto out;
	if (argc == 1) {
		/* The current generation against the one before it. */
		b = cur;
		for (size_t i = 0; i < n; i++)
			if (nums[i] < cur)
				a = nums[i];
		if (!a) {
			sp_fail(err, SP_ERR_RUNTIME, "diff: no generation before the current one (%u)", cur);
			goto out;
		}
	}
	printf("from generation %u to generation %u:\n", a, b);
	ret = show_diff(&store, a, b, false, err);
out:
	free(nums);
	sp_store_close(&store);
	return ret;
}
