/* `backup init|create|list|restore|verify|prune`: parsing and printing;
 * the work is in src/backup. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/backup.h"
#include "cli/cli.h"
#include "config/model.h"
#include "store/store.h"
#include "util/cleanup.h"
#include "util/strv.h"

struct backup_args {
	const char *repo;
	struct sp_bk_pass_source pass;
	bool encrypt, live, quiet, json, read_data, dry_run;
	char **instances;
	const char *to;
	struct sp_bk_keep_policy keep;
	unsigned unlock_seconds;
	char **rest; /* operands */
};

enum {
	OPT_REPO = 256, OPT_PASSFILE, OPT_ENCRYPT, OPT_INSTANCE, OPT_LIVE, OPT_QUIET, OPT_JSON, OPT_READ_DATA,
	OPT_TO, OPT_DRY_RUN, OPT_KEEP_LAST, OPT_KEEP_HOURLY, OPT_KEEP_DAILY, OPT_KEEP_WEEKLY, OPT_KEEP_MONTHLY,
	OPT_KEEP_YEARLY, OPT_FOR,
};

static const struct option long_opts[] = {
	{ "repo", required_argument, NULL, OPT_REPO },
	{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
	{ "encrypt", no_argument, NULL, OPT_ENCRYPT },
	{ "instance", required_argument, NULL, OPT_INSTANCE },
	{ "live", no_argument, NULL, OPT_LIVE },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "read-data", no_argument, NULL, OPT_READ_DATA },
	{ "to", required_argument, NULL, OPT_TO },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "keep-last", required_argument, NULL, OPT_KEEP_LAST },
	{ "keep-hourly", required_argument, NULL, OPT_KEEP_HOURLY },
	{ "keep-daily", required_argument, NULL, OPT_KEEP_DAILY },
	{ "keep-weekly", required_argument, NULL, OPT_KEEP_WEEKLY },
	{ "keep-monthly", required_argument, NULL, OPT_KEEP_MONTHLY },
	{ "keep-yearly", required_argument, NULL, OPT_KEEP_YEARLY },
	{ "for", required_argument, NULL, OPT_FOR },
	{ NULL, 0, NULL, 0 },
};

/* Which options each subcommand takes. */
static const struct {
	const char *name;
	const int *opts;
} allowed[] = {
	{ "init", (const int[]){ OPT_REPO, OPT_PASSFILE, OPT_ENCRYPT, 0 } },
	{ "create", (const int[]){ OPT_REPO, OPT_PASSFILE, OPT_INSTANCE, OPT_LIVE, OPT_QUIET, 0 } },
	{ "list", (const int[]){ OPT_REPO, OPT_PASSFILE, OPT_JSON, 0 } },
	{ "restore", (const int[]){ OPT_REPO, OPT_PASSFILE, OPT_INSTANCE, OPT_TO, OPT_QUIET, 0 } },
	{ "verify", (const int[]){ OPT_REPO, OPT_PASSFILE, OPT_READ_DATA, OPT_QUIET, 0 } },
	{ "unlock", (const int[]){ OPT_REPO, OPT_PASSFILE, OPT_FOR, 0 } },
	{ "lock", (const int[]){ OPT_REPO, 0 } },
	{ "prune", (const int[]){ OPT_REPO, OPT_PASSFILE, OPT_DRY_RUN, OPT_KEEP_LAST, OPT_KEEP_HOURLY,
				  OPT_KEEP_DAILY, OPT_KEEP_WEEKLY, OPT_KEEP_MONTHLY, OPT_KEEP_YEARLY, 0 } },
};

static bool takes(const char *sub, int opt)
{
	for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++) {
		if (strcmp(allowed[i].name, sub) != 0)
			continue;
		for (const int *o = allowed[i].opts; *o; o++)
			if (*o == opt)
				return true;
	}
	return false;
}

static int count_arg(const char *opt, const char *arg, unsigned *out, struct sp_err *err)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || v == 0 || v > 100000 || arg[0] == '-')
		return sp_fail(err, SP_ERR_USAGE, "backup prune: %s: expected a positive count, not `%s'", opt, arg);
	*out = (unsigned)v;
	return 0;
}

/* "90", "90s", "15m", "2h": at most a day. */
static int duration_arg(const char *arg, unsigned *out, struct sp_err *err)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (end != arg && arg[0] != '-' && !errno) {
		if (*end == 'm')
			v *= 60, end++;
		else if (*end == 'h')
			v *= 3600, end++;
		else if (*end == 's')
			end++;
		if (*end == '\0' && v > 0 && v <= 86400) {
			*out = (unsigned)v;
			return 0;
		}
	}
	return sp_fail(err, SP_ERR_USAGE, "backup unlock: --for %s: expected a duration of at most a day (90s, 15m, 2h)",
		       arg);
}

static int parse(const char *sub, int argc, char **argv, struct backup_args *a, struct sp_err *err)
{
	int c, idx;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", long_opts, &idx)) != -1) {
		if (c == '?' || c == ':')
			return sp_fail(err, SP_ERR_USAGE, "backup %s: %s: unknown option or missing value", sub,
				       argv[optind - 1]);
		if (!takes(sub, c))
			return sp_fail(err, SP_ERR_USAGE, "backup %s: --%s: not an option of it", sub,
				       long_opts[idx].name);
		switch (c) {
		case OPT_REPO: a->repo = optarg; break;
		case OPT_PASSFILE: a->pass.file = optarg; break;
		case OPT_ENCRYPT: a->encrypt = true; break;
		case OPT_LIVE: a->live = true; break;
		case OPT_QUIET: a->quiet = true; break;
		case OPT_JSON: a->json = true; break;
		case OPT_READ_DATA: a->read_data = true; break;
		case OPT_DRY_RUN: a->dry_run = true; break;
		case OPT_TO: a->to = optarg; break;
		case OPT_INSTANCE:
			if (!sp_name_valid(optarg))
				return sp_fail(err, SP_ERR_USAGE, "backup %s: --instance %s: not an instance name", sub,
					       optarg);
			if (sp_strv_push(&a->instances, optarg) < 0)
				return sp_fail_errno(err, ENOMEM, "backup");
			break;
		case OPT_FOR:
			if (duration_arg(optarg, &a->unlock_seconds, err) < 0)
				return -1;
			break;
		case OPT_KEEP_LAST: if (count_arg("--keep-last", optarg, &a->keep.last, err) < 0) return -1; break;
		case OPT_KEEP_HOURLY: if (count_arg("--keep-hourly", optarg, &a->keep.hourly, err) < 0) return -1; break;
		case OPT_KEEP_DAILY: if (count_arg("--keep-daily", optarg, &a->keep.daily, err) < 0) return -1; break;
		case OPT_KEEP_WEEKLY: if (count_arg("--keep-weekly", optarg, &a->keep.weekly, err) < 0) return -1; break;
		case OPT_KEEP_MONTHLY: if (count_arg("--keep-monthly", optarg, &a->keep.monthly, err) < 0) return -1; break;
		case OPT_KEEP_YEARLY: if (count_arg("--keep-yearly", optarg, &a->keep.yearly, err) < 0) return -1; break;
		}
	}
	a->rest = argv + optind;
	if (a->repo == NULL)
		a->repo = getenv("SPECTRUM_BACKUP_REPO");
	if (a->repo == NULL || a->repo[0] == '\0')
		return sp_fail(err, SP_ERR_USAGE, "backup %s: no repository: give --repo DIR or set SPECTRUM_BACKUP_REPO",
			       sub);
	return 0;
}

static void human(uint64_t bytes, char *buf, size_t size)
{
	if (bytes >= (1ull << 30))
		snprintf(buf, size, "%.2f GiB", (double)bytes / (1ull << 30));
	else if (bytes >= (1ull << 20))
		snprintf(buf, size, "%.1f MiB", (double)bytes / (1ull << 20));
	else if (bytes >= 1024)
		snprintf(buf, size, "%.1f KiB", (double)bytes / 1024);
	else
		snprintf(buf, size, "%llu B", (unsigned long long)bytes);
}

static void when(const struct sp_bk_snapshot *s, char *buf, size_t size)
{
	struct tm tm;
	time_t t = (time_t)s->time;

	localtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

static int do_create(const struct sp_cli *cli, struct backup_args *a, struct sp_bk_repo *repo, struct sp_err *err)
{
	struct sp_store store;
	struct sp_bk_create_opts opts = { .instances = a->instances, .live = a->live, .quiet = a->quiet };
	struct sp_bk_snapshot snap;
	char total[32], added[32];

	if (sp_store_open(cli->state_dir, cli->run_dir, &store, err) < 0)
		return -1;
	opts.store = store.root;
	if (sp_bk_check_encryption(repo, store.root, err) < 0 || sp_bk_create(repo, &opts, &snap, err) < 0) {
		sp_store_close(&store);
		return sp_err_wrap(err, "backup create");
	}
	human(snap.bytes, total, sizeof total);
	human(snap.added_bytes, added, sizeof added);
	printf("snapshot %s saved: %llu files, %llu directories, %s; added %s to the repository\n", snap.id,
	       (unsigned long long)snap.files, (unsigned long long)snap.dirs, total, added);
	sp_bk_snapshot_free(&snap);
	sp_store_close(&store);
	return 0;
}

static int do_list(struct backup_args *a, struct sp_bk_repo *repo, struct sp_err *err)
{
	struct sp_bk_snapshot *s = NULL;
	size_t n = 0;

	if (sp_bk_snapshots_load(repo, &s, &n, err) < 0)
		return sp_err_wrap(err, "backup list");
	if (a->json) {
		json_t *arr = json_array();
		char *text;

		for (size_t i = 0; i < n; i++) {
			json_t *inst = json_array();
			char t[64];
			struct tm tm;
			time_t tt = (time_t)s[i].time;

			gmtime_r(&tt, &tm);
			strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm);
			for (size_t k = 0; s[i].instances && s[i].instances[k]; k++)
				json_array_append_new(inst, json_string(s[i].instances[k]));
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:b, s:o, s:I, s:I, s:I, s:I}",
							     "id", s[i].id, "time", t, "host", s[i].host, "source",
							     s[i].source, "full", s[i].full, "instances", inst, "files",
							     (json_int_t)s[i].files, "dirs", (json_int_t)s[i].dirs,
							     "bytes", (json_int_t)s[i].bytes, "added_bytes",
							     (json_int_t)s[i].added_bytes));
		}
		text = json_dumps(arr, JSON_INDENT(2));
		if (text != NULL)
			puts(text);
		free(text);
		json_decref(arr);
	} else {
		printf("%-10s %-19s %-28s %8s %10s %10s\n", "ID", "TIME", "OF", "FILES", "SIZE", "ADDED");
		for (size_t i = 0; i < n; i++) {
			char t[32], size[32], added[32], of[64];

			when(&s[i], t, sizeof t);
			human(s[i].bytes, size, sizeof size);
			human(s[i].added_bytes, added, sizeof added);
			if (s[i].full) {
				snprintf(of, sizeof of, "all");
			} else {
				size_t len = 0;

				of[0] = '\0';
				for (size_t k = 0; s[i].instances && s[i].instances[k] && len < sizeof of; k++)
					len += (size_t)snprintf(of + len, sizeof of - len, "%s%s", k ? "," : "",
								s[i].instances[k]);
			}
			printf("%-10.8s %-19s %-28s %8llu %10s %10s\n", s[i].id, t, of, (unsigned long long)s[i].files,
			       size, added);
		}
	}
	sp_bk_snapshots_free(s, n);
	return 0;
}

static int do_restore(const struct sp_cli *cli, struct backup_args *a, struct sp_bk_repo *repo, struct sp_err *err)
{
	struct sp_bk_snapshot *s = NULL;
	struct sp_store store = { .root = NULL };
	struct sp_bk_restore_opts opts = { .to = a->to, .instances = a->instances, .quiet = a->quiet };
	size_t n = 0;
	int k, ret = -1;

	if (a->rest[0] == NULL || a->rest[1] != NULL)
		return sp_fail(err, SP_ERR_USAGE, "backup restore: expected one SNAPSHOT (an id, or \"latest\")");
	if (sp_bk_snapshots_load(repo, &s, &n, err) < 0)
		return sp_err_wrap(err, "backup restore");
	k = sp_bk_snapshot_pick(s, n, a->rest[0], err);
	if (k < 0) {
		sp_err_wrap(err, "backup restore");
		goto out;
	}
	if (a->to == NULL) {
		if (sp_store_open(cli->state_dir, cli->run_dir, &store, err) < 0)
			goto out;
		opts.store = store.root;
	}
	if (sp_bk_restore(repo, &s[k], &opts, err) < 0) {
		sp_err_wrap(err, "backup restore");
		goto out;
	}
	printf("restored snapshot %.8s%s%s to %s\n", s[k].id, a->instances ? " (" : "",
	       a->instances ? "chosen instances)" : "", a->to ? a->to : opts.store);
	ret = 0;
out:
	if (store.root != NULL)
		sp_store_close(&store);
	sp_bk_snapshots_free(s, n);
	return ret;
}

static const char *const subcommands[] = { "init", "create", "list", "restore", "verify", "prune", "unlock", "lock",
					   NULL };

int sp_cmd_backup(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	struct backup_args a = { 0 };
	struct sp_bk_repo repo;
	const char *sub = argc > 1 ? argv[1] : NULL;
	bool exclusive;
	int ret = -1;

	if (sub == NULL || !sp_strv_contains((char *const *)subcommands, sub))
		return sp_fail(err, SP_ERR_USAGE, "backup: expected init, create, list, restore, verify, prune, unlock or lock%s%s",
			       sub ? ", not " : "", sub ? sub : "");
	if (parse(sub, argc - 1, argv + 1, &a, err) < 0)
		goto out;
	if (strcmp(sub, "restore") != 0 && a.rest[0] != NULL) {
		sp_fail(err, SP_ERR_USAGE, "backup %s: unexpected `%s'", sub, a.rest[0]);
		goto out;
	}
	if (strcmp(sub, "init") == 0) {
		if (sp_bk_repo_init(a.repo, a.encrypt, &a.pass, err) < 0) {
			sp_err_wrap(err, "backup init");
			goto out;
		}
		printf("repository made in %s (%s)\n", a.repo,
		       a.encrypt ? "encrypted: without the passphrase nothing in it can be read" : "not encrypted");
		ret = 0;
		goto out;
	}
	if (strcmp(sub, "prune") == 0 && !a.keep.last && !a.keep.hourly && !a.keep.daily && !a.keep.weekly &&
	    !a.keep.monthly && !a.keep.yearly) {
		sp_fail(err, SP_ERR_USAGE, "backup prune: say what to keep (--keep-last N, --keep-daily N, ...)");
		goto out;
	}
	/* Writers (and verify, which removes what a killed backup left)
	 * take the repository alone; list and restore share it. */
	exclusive = strcmp(sub, "list") != 0 && strcmp(sub, "restore") != 0 && strcmp(sub, "unlock") != 0 &&
		    strcmp(sub, "lock") != 0;
	if (strcmp(sub, "lock") == 0) {
		bool was;

		if (sp_bk_repo_lock(a.repo, &was, err) < 0) {
			sp_err_wrap(err, "backup lock");
			goto out;
		}
		printf("%s: %s\n", a.repo, was ? "locked (its keys are no longer in the kernel keyring)" : "was not unlocked");
		ret = 0;
		goto out;
	}
	/* unlock checks the passphrase, even when the keys are cached. */
	a.pass.no_cache = strcmp(sub, "unlock") == 0;
	if (sp_bk_repo_open(a.repo, exclusive, &a.pass, &repo, err) < 0) {
		sp_err_wrap(err, "backup %s", sub);
		goto out;
	}
	if (strcmp(sub, "create") == 0) {
		ret = do_create(cli, &a, &repo, err);
	} else if (strcmp(sub, "list") == 0) {
		ret = do_list(&a, &repo, err);
	} else if (strcmp(sub, "restore") == 0) {
		ret = do_restore(cli, &a, &repo, err);
	} else if (strcmp(sub, "verify") == 0) {
		bool damaged;

		ret = sp_bk_verify(&repo, a.read_data, a.quiet, stdout, &damaged, err);
		if (ret < 0)
			sp_err_wrap(err, "backup verify");
		else if (damaged)
			ret = sp_fail(err, SP_ERR_RUNTIME, "backup verify: the repository is damaged (above)");
	} else if (strcmp(sub, "unlock") == 0) {
		unsigned secs = a.unlock_seconds ? a.unlock_seconds : 900;

		ret = sp_bk_repo_unlock(&repo, secs, err);
		if (ret < 0)
			sp_err_wrap(err, "backup unlock");
		else
			printf("%s: unlocked for %u s: its keys are in this user's kernel keyring (`spectrum backup lock' removes "
			       "them)\n", a.repo, secs);
	} else {
		ret = sp_bk_prune(&repo, &a.keep, a.dry_run, stdout, err);
		if (ret < 0)
			sp_err_wrap(err, "backup prune");
	}
	sp_bk_repo_close(&repo);
out:
	sp_strv_free(a.instances);
	return ret;
}
