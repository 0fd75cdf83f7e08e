/* `switch [FILE]`: evaluate, validate, build, record a generation, make it
 * current, and say what changes for each instance.  Nothing stored or
 * running is touched until the configuration has evaluated, validated and
 * built; a crash at any point leaves the previous generation in force. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/integrity.h"
#include "config/diff.h"
#include "store/generation.h"
#include "store/nixdb.h"
#include "supervise/supervise.h"
#include "util/cleanup.h"
#include "util/nixenv.h"
#include "util/strv.h"

#define GC_ROOTS "/nix/var/nix/gcroots/spectrum"

/* Every store path of every instance, each once. */
static char **all_software(const struct sp_config *cfg)
{
	char **v = NULL;

	for (size_t i = 0; i < cfg->n_instances; i++)
		for (size_t k = 0; cfg->instances[i].store_paths && cfg->instances[i].store_paths[k]; k++)
			if (!sp_strv_contains(v, cfg->instances[i].store_paths[k]))
				sp_strv_push(&v, cfg->instances[i].store_paths[k]);
	return v;
}

struct text {
	char *s;
	size_t len;
};

__attribute__((format(printf, 2, 3)))
static int append(struct text *t, const char *fmt, ...)
{
	va_list ap;
	char *line;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	char *ns = realloc(t->s, t->len + (size_t)n + 1);
	if (!ns) {
		free(line);
		return -1;
	}
	memcpy(ns + t->len, line, (size_t)n + 1);
	t->s = ns;
	t->len += (size_t)n;
	free(line);
	return 0;
}

/* The closure of each instance and the registered hash of each path. */
static int record_closures(struct sp_gen_writer *w, const struct sp_config *cfg, const struct sp_nix_db *db,
			   struct sp_err *err)
{
	struct text closure = { 0 }, hashes = { 0 };
	char **all = NULL;
	int ret = -1;

	for (size_t i = 0; i < cfg->n_instances; i++) {
		char **paths = NULL;
		if (sp_nixdb_closure(db, cfg->instances[i].store_paths, &paths, err) < 0)
			goto out;
		for (size_t k = 0; paths && paths[k]; k++)
			if (append(&closure, "%s\t%s\n", cfg->instances[i].name, paths[k]) < 0 ||
			    (!sp_strv_contains(all, paths[k]) && sp_strv_push(&all, paths[k]) < 0)) {
				sp_strv_free(paths);
				goto nomem;
			}
		sp_strv_free(paths);
	}
	/* Only this generation's paths: what earlier ones knew was only
	 * there to spare questions to Nix. */
	hashes.s = sp_nixdb_format(db, all ? all : (char *[]){ NULL });
	if (!hashes.s)
		goto nomem;
	hashes.len = strlen(hashes.s);
	if (sp_gen_write(w, SP_GEN_CLOSURE, closure.s ? closure.s : "", closure.len, err) < 0 ||
	    sp_gen_write(w, SP_GEN_HASHES, hashes.s, hashes.len, err) < 0)
		goto out;
	ret = 0;
	goto out;
nomem:
	sp_fail_errno(err, ENOMEM, "record closures");
out:
	sp_strv_free(all);
	free(closure.s);
	free(hashes.s);
	return ret;
}

/* GC roots: /nix/var/nix/gcroots/spectrum/STORE/N/K -> each top-level
 * store path of generation N, made before the generation exists, so that
 * nothing a complete generation uses can be collected. */
static void roots_dir(const struct sp_store *store, char *buf, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (const char *p = store->root; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ull;
	}
	snprintf(buf, n, GC_ROOTS "/%016llx", (unsigned long long)h);
}

static int mkdir_p(const char *path, struct sp_err *err)
{
	char buf[4096];

	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return sp_fail_errno(err, errno, "create %s", buf);
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return sp_fail_errno(err, errno, "create %s", buf);
	return 0;
}

static void remove_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[1024];

	while (d && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
		if (e->d_type == DT_DIR)
			remove_dir(sub);
		else
			unlink(sub);
	}
	if (d)
		closedir(d);
	rmdir(path);
}

/* Roots of generations that are gone (a store removed, a generation
 * deleted by hand) would keep their software forever: each roots
 * directory names its store, and is pruned when that store or
 * generation no longer exists. */
static void prune_roots(void)
{
	DIR *top = opendir(GC_ROOTS);
	struct dirent *e;

	while (top && (e = readdir(top))) {
		char dir[512], owner[4096] = "", gen[4600];
		struct dirent *g;
		DIR *d;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof dir, GC_ROOTS "/%s", e->d_name);
		snprintf(gen, sizeof gen, "%s/store", dir);
		f = fopen(gen, "re");
		if (!f)
			continue; /* not ours, or being made: leave it */
		if (!fgets(owner, sizeof owner, f))
			owner[0] = '\0';
		fclose(f);
		owner[strcspn(owner, "\n")] = '\0';
		snprintf(gen, sizeof gen, "%s/generations", owner);
		if (!owner[0] || access(gen, F_OK) < 0) {
			remove_dir(dir);
			continue;
		}
		d = opendir(dir);
		while (d && (g = readdir(d))) {
			if (g->d_name[0] < '1' || g->d_name[0] > '9')
				continue;
			snprintf(gen, sizeof gen, "%s/generations/%s", owner, g->d_name);
			if (access(gen, F_OK) < 0) {
				char sub[1024];
				snprintf(sub, sizeof sub, "%s/%s", dir, g->d_name);
				remove_dir(sub);
			}
		}
		if (d)
			closedir(d);
	}
	if (top)
		closedir(top);
}

static int add_roots(const struct sp_store *store, unsigned gen, char *const *paths, struct sp_err *err)
{
	char dir[512], link[600];
	FILE *f;

	roots_dir(store, dir, sizeof dir);
	if (mkdir_p(dir, err) < 0)
		return sp_err_wrap(err, "GC roots");
	snprintf(link, sizeof link, "%s/store", dir);
	f = fopen(link, "we");
	if (!f || fprintf(f, "%s\n", store->root) < 0 || fclose(f) != 0)
		return sp_fail_errno(err, errno, "write %s", link);
	snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/%u", gen);
	if (mkdir_p(dir, err) < 0)
		return sp_err_wrap(err, "GC roots");
	for (size_t i = 0; paths && paths[i]; i++) {
		snprintf(link, sizeof link, "%s/%zu", dir, i);
		unlink(link);
		if (symlink(paths[i], link) < 0)
			return sp_fail_errno(err, errno, "GC root %s", link);
	}
	return 0;
}

static const char *verb(const struct sp_instance_diff *d)
{
	switch (d->kind) {
	case SP_DIFF_ADDED:
		return d->autostart ? "would start (new)" : "new, not started (autostart is off)";
	case SP_DIFF_REMOVED:
		return "would stop (removed)";
	case SP_DIFF_CHANGED:
		return d->needs_restart ? "would restart" : "changed, no restart needed";
	case SP_DIFF_SAME:
		return "unchanged";
	}
	return "?";
}

void sp_print_diff(const struct sp_instance_diff *d, size_t n, bool plan)
{
	for (size_t i = 0; i < n; i++) {
		const char *what = plan ? verb(&d[i])
			: d[i].kind == SP_DIFF_ADDED ? "added"
			: d[i].kind == SP_DIFF_REMOVED ? "removed"
			: d[i].kind == SP_DIFF_CHANGED ? "changed" : "unchanged";
		printf("  %-20s %s\n", d[i].name, what);
		for (size_t k = 0; d[i].changes && d[i].changes[k]; k++)
			printf("  %-20s   - %s\n", "", d[i].changes[k]);
	}
}

/* Once supervision is in use for the run directory (its s6-svscan runs),
 * the switch is carried out: new autostart instances start, removed ones
 * stop, changed ones that need it restart; otherwise it says what would. */
static int reconcile(const struct sp_store *store, const struct sp_config *cfg, const struct sp_instance_diff *diff,
		     size_t ndiff, struct sp_err *err)
{
	struct sp_sv_outcome *done = NULL;
	struct sp_sv sv;
	const char *failed = NULL;
	int ret = -1;

	if (sp_sv_init(&sv, store, err) < 0)
		return -1;
	if (!sp_sv_active(&sv)) {
		sp_print_diff(diff, ndiff, true);
		printf("(supervision is not in use for %s: nothing was started, stopped or restarted;\n"
		       " `spectrum start NAME` starts it)\n", store->run_dir);
		ret = 0;
		goto out;
	}
	if (sp_sv_reconcile(&sv, cfg, diff, ndiff, &done, err) < 0) {
		sp_err_wrap(err, "switch");
		goto out;
	}
	for (size_t i = 0; i < ndiff; i++) {
		printf("  %-20s %s\n", done[i].name, done[i].what);
		for (size_t k = 0; diff[i].changes && diff[i].changes[k]; k++)
			printf("  %-20s   - %s\n", "", diff[i].changes[k]);
		if (done[i].failed && !failed)
			failed = done[i].name;
	}
	if (failed) {
		sp_fail(err, SP_ERR_RUNTIME, "switch: the generation is current, but %s could not be brought in line",
			failed);
		goto out;
	}
	ret = 0;
out:
	free(done);
	sp_sv_fini(&sv);
	return ret;
}

int sp_cmd_switch(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	const char *file = NULL;
	cleanup_free char *source = NULL, *old_source = NULL;
	struct sp_config cfg = { 0 }, old = { 0 };
	struct sp_nix_db db = { 0 };
	struct sp_gen_writer w = { .dirfd = -1 };
	struct sp_instance_diff *diff = NULL;
	struct sp_store store;
	char **software = NULL;
	unsigned cur = 0;
	size_t ndiff = 0;
	char created[32];
	int ret = -1;
	bool writing = false;

	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-')
			return sp_fail(err, SP_ERR_USAGE, "switch: %s: unknown option", argv[i]);
		if (file)
			return sp_fail(err, SP_ERR_USAGE, "switch: %s: unexpected argument", argv[i]);
		file = argv[i];
	}
	if (sp_store_open(cli->state_dir, cli->run_dir, &store, err) < 0)
		return -1;
	if (sp_gen_current(&store, &cur, err) < 0)
		goto out;
	if (cur) {
		if (sp_cli_load_generation(&store, cur, &old, err) < 0 ||
		    sp_gen_read(&store, cur, SP_GEN_SOURCE, &old_source, NULL, err) < 0)
			goto out;
		old_source[strcspn(old_source, "\n")] = '\0';
	}
	if (!file && !old_source) {
		sp_fail(err, SP_ERR_USAGE, "switch: no FILE given and no current generation to take it from");
		goto out;
	}
	if (!file)
		file = old_source;
	source = realpath(file, NULL);
	if (!source) {
		sp_fail_errno(err, errno, "%s", file);
		err->kind = SP_ERR_USAGE;
		goto out;
	}
	/* Evaluate, validate and build before anything is written. */
	if (sp_config_load(file, &cfg, err) < 0 || sp_cli_realise(&cfg, err) < 0)
		goto out;
	software = all_software(&cfg);
	if (cur) {
		cleanup_free char *known = NULL;
		if (sp_gen_read(&store, cur, SP_GEN_HASHES, &known, NULL, err) < 0 ||
		    sp_nixdb_load(&db, known, err) < 0)
			goto out;
	}
	if (software && sp_nixdb_query(software, &db, err) < 0)
		goto out;

	prune_roots();
	if (sp_gen_begin(&store, &w, err) < 0)
		goto out;
	writing = true;
	snprintf(created, sizeof created, "%lld\n", (long long)time(NULL));
	if (sp_gen_write(&w, SP_GEN_CONFIG, cfg.json, strlen(cfg.json), err) < 0 ||
	    sp_gen_write(&w, SP_GEN_SOURCE, source, strlen(source), err) < 0 ||
	    sp_gen_write(&w, SP_GEN_CREATED, created, strlen(created), err) < 0 ||
	    record_closures(&w, &cfg, &db, err) < 0 ||
	    sp_integrity_record(&store, cur, &w, &cfg, &db, err) < 0 ||
	    add_roots(&store, w.number, software, err) < 0 ||
	    sp_gen_commit(&store, &w, err) < 0)
		goto out;
	writing = false;
	if (sp_gen_set_current(&store, w.number, err) < 0)
		goto out;

	if (sp_config_diff(cur ? &old : NULL, &cfg, &diff, &ndiff, err) < 0)
		goto out;
	if (cur)
		printf("generation %u is current (it was %u), from %s\n", w.number, cur, source);
	else
		printf("generation %u is current (the first), from %s\n", w.number, source);
	ret = reconcile(&store, &cfg, diff, ndiff, err);
out:
	if (writing)
		sp_gen_abort(&store, &w);
	sp_config_diff_free(diff, ndiff);
	sp_strv_free(software);
	sp_nixdb_free(&db);
	sp_config_free(&cfg);
	sp_config_free(&old);
	sp_store_close(&store);
	return ret;
}
