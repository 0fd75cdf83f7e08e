/* `backup init|create|list|restore|verify|prune`: parsing and printing;
 * the work is in src/backup. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "backup/backup.h"
#include "backup/restore.h"
#include "cli/cli.h"
#include "config/model.h"
#include "store/store.h"
#include "util/cleanup.h"
#include "util/strv.h"

struct backup_args {
	const char *repo;
	struct sp_bk_pass_source pass;
	bool encrypt, live, quiet, json, read_data, dry_run;
	bool allow_unencrypted; /* create: write in clear though this store was encrypted before */
	char **instances;
	const char *to;
	struct sp_bk_keep_policy keep;
	unsigned unlock_seconds;
	char **rest; /* operands */
};

enum {
	OPT_REPO = 256, OPT_PASSFILE, OPT_ENCRYPT, OPT_INSTANCE, OPT_LIVE, OPT_QUIET, OPT_JSON, OPT_READ_DATA,
	OPT_TO, OPT_DRY_RUN, OPT_KEEP_LAST, OPT_KEEP_HOURLY, OPT_KEEP_DAILY, OPT_KEEP_WEEKLY, OPT_KEEP_MONTHLY,
	OPT_KEEP_YEARLY, OPT_FOR, OPT_ALLOW_UNENCRYPTED, OPT_NEW_PASSFILE,
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
	{ "allow-unencrypted", no_argument, NULL, OPT_ALLOW_UNENCRYPTED },
	{ "new-passphrase-file", required_argument, NULL, OPT_NEW_PASSFILE },
	{ NULL, 0, NULL, 0 },
};

/* Which options each subcommand takes. */
static const struct {
	const char *name;
	const int *opts;
} allowed[] = {
	{ "init", (const int[]){ OPT_REPO, OPT_PASSFILE, OPT_ENCRYPT, 0 } },
	{ "create", (const int[]){ OPT_REPO, OPT_PASSFILE, OPT_INSTANCE, OPT_LIVE, OPT_QUIET, OPT_ALLOW_UNENCRYPTED, 0 } },
	{ "list", (const int[]){ OPT_REPO, OPT_PASSFILE, OPT_JSON, 0 } },
	{ "restore", (const int[]){ OPT_REPO, OPT_PASSFILE, OPT_INSTANCE, OPT_TO, OPT_QUIET, 0 } },
	{ "verify", (const int[]){ OPT_REPO, OPT_PASSFILE, OPT_READ_DATA, OPT_QUIET, 0 } },
	{ "unlock", (const int[]){ OPT_REPO, OPT_PASSFILE, OPT_FOR, 0 } },
	{ "lock", (const int[]){ OPT_REPO, 0 } },
	{ "repair", (const int[]){ OPT_REPO, OPT_PASSFILE, 0 } },
	{ "key", (const int[]){ OPT_REPO, OPT_PASSFILE, OPT_NEW_PASSFILE, 0 } },
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
		case OPT_ALLOW_UNENCRYPTED: a->allow_unencrypted = true; break;
		case OPT_NEW_PASSFILE: a->pass.new_file = optarg; break;
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

/* One line per entry a backup left out; both texts come escaped. */
static void print_skipped(void *ctx, const char *path, const char *why)
{
	(void)ctx;
	fflush(stdout);
	fprintf(stderr, "spectrum: backup create: skipped %s: %s\n", path, why);
}

/* The exit status of a snapshot saved without some entries (restic's). */
#define EXIT_INCOMPLETE 3

/* Prints what loading the snapshots found, one warning line each. */
static void warn_catalog(const char *sub, const struct sp_bk_catalog *c)
{
	char line[512];

	fflush(stdout);
	for (size_t i = 0; sp_bk_catalog_describe(c, i, line, sizeof line) == 0; i++)
		fprintf(stderr, "spectrum: backup %s: warning: %s\n", sub, line);
}

/* The store's state directory as the store code picks it, for the
 * commands that do not open the store (they only read STORE/.backup). */
static const char *store_dir(const struct sp_cli *cli)
{
	const char *env = getenv("SPECTRUM_STATE_DIR");

	if (cli->state_dir != NULL && cli->state_dir[0] != '\0')
		return cli->state_dir;
	return env != NULL && env[0] != '\0' ? env : SP_DEFAULT_STATE_DIR;
}

/* Before a create: never in clear where this store was encrypted
 * before, a repository this store has not written to is announced, and
 * deleted, put back or rolled back snapshots stop it.  CAT gets the
 * repository's snapshots for the manifest written after. */
static int guard_create(const struct backup_args *a, struct sp_bk_repo *repo, const char *store,
			struct sp_bk_catalog *cat, struct sp_err *err)
{
	struct sp_bk_snapshot *s = NULL;
	size_t n = 0;
	bool is_new;
	char line[512];

	if (sp_bk_check_encryption(repo, store, a->allow_unencrypted, &is_new, err) < 0)
		return -1;
	/* A passphrase was given: whoever runs this expects encryption,
	 * even from a store with no record yet (a config replaced before
	 * the first backup, or this store's records lost). */
	if (!repo->keys.encrypted && !a->allow_unencrypted &&
	    (a->pass.file != NULL || getenv("SPECTRUM_PASSPHRASE") != NULL))
		return sp_fail(err, SP_ERR_RUNTIME,
			       "%s: not encrypted, but a passphrase was given (a replaced config?): refusing to write in "
			       "clear (--allow-unencrypted if this is intended)",
			       repo->path);
	if (repo->upgraded)
		fprintf(stderr, "spectrum: backup create: %s: its config is now format %d (authenticated by the keys)\n",
			repo->path, SP_BK_FORMAT);
	if (is_new)
		fprintf(stderr, "spectrum: backup create: new repository %s at %s (first backup of this store there)%s\n",
			repo->id, repo->path, repo->keys.encrypted ? "" : ", NOT ENCRYPTED");
	if (sp_bk_catalog_load(repo, store, &s, &n, cat, err) < 0)
		return -1;
	sp_bk_snapshots_free(s, n);
	if (sp_bk_catalog_tampered(cat)) {
		for (size_t i = 0; sp_bk_catalog_describe(cat, i, line, sizeof line) == 0; i++) {
			if (strstr(line, "damaged") == NULL)
				break;
		}
		return sp_fail(err, SP_ERR_RUNTIME, "%s: refusing to back up there (`spectrum backup verify' says more)",
			       line);
	}
	warn_catalog("create", cat);
	return 0;
}

/* After a create: the manifest with the new snapshot, and the store's
 * record of the repository. */
static int record_create(struct sp_bk_repo *repo, const char *store, const struct sp_bk_catalog *cat,
			 const char *snap_id, struct sp_err *err)
{
	char **ids = NULL;
	char manifest[65];
	int ret = -1;

	for (size_t i = 0; cat->ids != NULL && cat->ids[i] != NULL; i++) {
		if (sp_strv_push(&ids, cat->ids[i]) != 0)
			goto nomem;
	}
	if (sp_strv_push(&ids, snap_id) != 0)
		goto nomem;
	if (sp_bk_manifest_write(repo, cat, ids, manifest, err) == 0) {
		struct sp_err e;

		ret = 0;
		/* The snapshot is saved: a store this user may not write to
		 * (a backup by another user) only loses the protection. */
		if (sp_bk_store_record(repo, store, cat->counter + 1, manifest, &e) < 0) {
			fflush(stdout);
			fprintf(stderr,
				"spectrum: backup create: warning: %s: the store keeps no record of this repository: "
				"its rollback and encryption checks are off\n",
				e.msg);
		}
	}
	sp_strv_free(ids);
	return ret;
nomem:
	sp_strv_free(ids);
	return sp_fail_errno(err, ENOMEM, "manifest");
}

static int do_create(const struct sp_cli *cli, struct backup_args *a, struct sp_bk_repo *repo, struct sp_err *err)
{
	struct sp_store store;
	struct sp_bk_create_opts opts = { .instances = a->instances, .live = a->live, .quiet = a->quiet,
					  .on_skip = print_skipped };
	struct sp_bk_snapshot snap;
	struct sp_bk_catalog cat = { 0 };
	char total[32], added[32];
	struct rlimit nofile;
	int ret = 0;

	/* The walk holds a descriptor per directory level (up to 1024
	 * deep): the soft limit, often 1024, would leave out the deepest. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	if (sp_store_open(cli->state_dir, cli->run_dir, &store, err) < 0)
		return -1;
	opts.store = store.root;
	if (guard_create(a, repo, store.root, &cat, err) < 0 || sp_bk_create(repo, &opts, &snap, err) < 0) {
		sp_bk_catalog_free(&cat);
		sp_store_close(&store);
		return sp_err_wrap(err, "backup create");
	}
	if (record_create(repo, store.root, &cat, snap.id, err) < 0) {
		sp_bk_catalog_free(&cat);
		sp_bk_snapshot_free(&snap);
		sp_store_close(&store);
		return sp_err_wrap(err, "backup create");
	}
	sp_bk_catalog_free(&cat);
	human(snap.bytes, total, sizeof total);
	human(snap.added_bytes, added, sizeof added);
	printf("snapshot %s saved: %llu files, %llu directories, %s; added %s to the repository\n", snap.id,
	       (unsigned long long)snap.files, (unsigned long long)snap.dirs, total, added);
	if (snap.skipped > 0) {
		fflush(stdout);
		fprintf(stderr,
			"spectrum: backup create: snapshot %.8s is incomplete: %llu entr%s could not be read consistently "
			"and %s left out (named above)\n",
			snap.id, (unsigned long long)snap.skipped, snap.skipped == 1 ? "y" : "ies",
			snap.skipped == 1 ? "was" : "were");
		ret = EXIT_INCOMPLETE;
	}
	sp_bk_snapshot_free(&snap);
	sp_store_close(&store);
	return ret;
}

static int do_list(const struct sp_cli *cli, struct backup_args *a, struct sp_bk_repo *repo, struct sp_err *err)
{
	struct sp_bk_snapshot *s = NULL;
	struct sp_bk_catalog cat;
	size_t n = 0;

	/* What is wrong is said, and the rest is listed. */
	if (sp_bk_catalog_load(repo, store_dir(cli), &s, &n, &cat, err) < 0)
		return sp_err_wrap(err, "backup list");
	warn_catalog("list", &cat);
	sp_bk_catalog_free(&cat);
	if (a->json) {
		json_t *arr = json_array();
		char *text;

		for (size_t i = 0; i < n; i++) {
			json_t *inst = json_array(), *skipped = json_array(), *o;
			char t[64];
			struct tm tm;
			time_t tt = (time_t)s[i].time;

			gmtime_r(&tt, &tm);
			strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm);
			for (size_t k = 0; s[i].instances && s[i].instances[k]; k++)
				json_array_append_new(inst, json_string(s[i].instances[k]));
			for (size_t k = 0; s[i].skipped_paths && s[i].skipped_paths[k]; k++)
				json_array_append_new(skipped, json_string(s[i].skipped_paths[k]));
			o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:o, s:I, s:I, s:I, s:I}", "id", s[i].id, "time", t,
				      "host", s[i].host, "source", s[i].source, "full", s[i].full, "instances", inst,
				      "files", (json_int_t)s[i].files, "dirs", (json_int_t)s[i].dirs, "bytes",
				      (json_int_t)s[i].bytes, "added_bytes", (json_int_t)s[i].added_bytes);
			/* Incomplete: entries left out because they could not be
			 * read consistently (the first 100 named). */
			json_object_set_new(o, "complete", json_boolean(s[i].skipped == 0));
			json_object_set_new(o, "skipped", json_integer((json_int_t)s[i].skipped));
			json_object_set_new(o, "skipped_paths", skipped);
			json_array_append_new(arr, o);
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
			printf("%-10.8s %-19s %-28s %8llu %10s %10s", s[i].id, t, of, (unsigned long long)s[i].files,
			       size, added);
			if (s[i].skipped > 0)
				printf("  incomplete: %llu skipped", (unsigned long long)s[i].skipped);
			putchar('\n');
		}
	}
	sp_bk_snapshots_free(s, n);
	return 0;
}

static int do_restore(const struct sp_cli *cli, struct backup_args *a, struct sp_bk_repo *repo, struct sp_err *err)
{
	struct sp_bk_snapshot *s = NULL;
	struct sp_store store = { .root = NULL };
	struct sp_bk_dropped dropped = { 0 };
	struct sp_bk_restore_opts opts = { .to = a->to, .instances = a->instances, .quiet = a->quiet,
					   .dropped = &dropped };
	struct sp_bk_catalog cat;
	char what[1024];
	size_t n = 0;
	int k, ret = -1;

	if (a->rest[0] == NULL || a->rest[1] != NULL)
		return sp_fail(err, SP_ERR_USAGE, "backup restore: expected one SNAPSHOT (an id, or \"latest\")");
	if (sp_bk_catalog_load(repo, store_dir(cli), &s, &n, &cat, err) < 0)
		return sp_err_wrap(err, "backup restore");
	/* "latest" is not what it says when snapshots were deleted or
	 * rolled back: refused; a snapshot named by its id is restored. */
	if (sp_bk_catalog_tampered(&cat) && strcmp(a->rest[0], "latest") == 0) {
		for (size_t i = 0; sp_bk_catalog_describe(&cat, i, what, sizeof what) == 0; i++) {
			if (strstr(what, "damaged") == NULL)
				break;
		}
		sp_fail(err, SP_ERR_RUNTIME,
			"backup restore: %s: \"latest\" cannot be trusted (name a snapshot by its id; `spectrum backup "
			"verify' says more)",
			what);
		sp_bk_catalog_free(&cat);
		goto out;
	}
	warn_catalog("restore", &cat);
	sp_bk_catalog_free(&cat);
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
	/* Not an error (exit 0): the store has all it can hold.  Said even
	 * with --quiet: it means the snapshot was forged or the store was
	 * changed by hand as root. */
	sp_bk_dropped_describe(&dropped, what, sizeof what);
	if (what[0] != '\0') {
		fflush(stdout);
		fprintf(stderr, "spectrum: backup restore: %s\n", what);
	}
	ret = 0;
out:
	if (store.root != NULL)
		sp_store_close(&store);
	sp_bk_snapshots_free(s, n);
	return ret;
}

static const char *const subcommands[] = { "init", "create", "list", "restore", "verify", "prune", "unlock", "lock",
					   "repair", "key", NULL };

int sp_cmd_backup(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	struct backup_args a = { 0 };
	struct sp_bk_repo repo;
	const char *sub = argc > 1 ? argv[1] : NULL;
	bool exclusive;
	int ret = -1;

	if (sub == NULL || !sp_strv_contains((char *const *)subcommands, sub))
		return sp_fail(err, SP_ERR_USAGE,
			       "backup: expected init, create, list, restore, verify, prune, repair, unlock, lock or key%s%s",
			       sub ? ", not " : "", sub ? sub : "");
	if (parse(sub, argc - 1, argv + 1, &a, err) < 0)
		goto out;
	if (strcmp(sub, "key") == 0 && (a.rest[0] == NULL || strcmp(a.rest[0], "passwd") != 0 || a.rest[1] != NULL)) {
		sp_fail(err, SP_ERR_USAGE, "backup key: expected `passwd'");
		goto out;
	}
	if (strcmp(sub, "restore") != 0 && strcmp(sub, "key") != 0 && a.rest[0] != NULL) {
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
	/* Writers take the repository alone (unlock too: it may upgrade
	 * the config to format 2, whose MAC checks the cached keys); list,
	 * restore and verify, which change nothing, share it. */
	exclusive = strcmp(sub, "list") != 0 && strcmp(sub, "restore") != 0 && strcmp(sub, "verify") != 0 &&
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
	/* unlock and key passwd check the passphrase, even when the keys
	 * are cached. */
	a.pass.no_cache = strcmp(sub, "unlock") == 0 || strcmp(sub, "key") == 0;
	if (sp_bk_repo_open(a.repo, exclusive, &a.pass, &repo, err) < 0) {
		sp_err_wrap(err, "backup %s", sub);
		goto out;
	}
	/* The store's record guards readers and prune as it guards create:
	 * a forged unencrypted repository with this id would otherwise be
	 * restored, or pruned and the record rewritten as unencrypted. */
	if ((strcmp(sub, "restore") == 0 || strcmp(sub, "verify") == 0 || strcmp(sub, "prune") == 0) &&
	    sp_bk_check_record(&repo, store_dir(cli), a.pass.file != NULL || getenv("SPECTRUM_PASSPHRASE") != NULL,
			       err) < 0) {
		size_t len = strlen(err->msg);

		snprintf(err->msg + len, sizeof err->msg - len, ": refusing to use it");
		sp_err_wrap(err, "backup %s", sub);
		sp_bk_repo_close(&repo);
		goto out;
	}
	/* list shows what is there, and says it. */
	if (strcmp(sub, "list") == 0) {
		struct sp_err e;

		if (sp_bk_check_record(&repo, store_dir(cli),
				       a.pass.file != NULL || getenv("SPECTRUM_PASSPHRASE") != NULL, &e) < 0)
			fprintf(stderr, "spectrum: backup list: warning: %s: listed all the same, not to be restored\n",
				e.msg);
	}
	if (strcmp(sub, "create") == 0) {
		ret = do_create(cli, &a, &repo, err);
	} else if (strcmp(sub, "list") == 0) {
		ret = do_list(cli, &a, &repo, err);
	} else if (strcmp(sub, "restore") == 0) {
		ret = do_restore(cli, &a, &repo, err);
	} else if (strcmp(sub, "verify") == 0) {
		bool damaged;

		ret = sp_bk_verify(&repo, store_dir(cli), a.read_data, a.quiet, stdout, &damaged, err);
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
	} else if (strcmp(sub, "repair") == 0) {
		ret = sp_bk_repair(&repo, stdout, err);
		if (ret < 0)
			sp_err_wrap(err, "backup repair");
	} else if (strcmp(sub, "key") == 0) {
		ret = sp_bk_repo_passwd(&repo, &a.pass, err);
		if (ret < 0)
			sp_err_wrap(err, "backup key passwd");
		else
			printf("%s: the keys are sealed under the new passphrase (the old one no longer opens them)\n",
			       a.repo);
	} else {
		ret = sp_bk_prune(&repo, store_dir(cli), &a.keep, a.dry_run, stdout, err);
		if (ret < 0)
			sp_err_wrap(err, "backup prune");
	}
	sp_bk_repo_close(&repo);
out:
	sp_strv_free(a.instances);
	return ret;
}
