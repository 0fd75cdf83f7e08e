/* Recording (at switch) and checking (at verify) that the software of an
 * instance is exactly what was switched to.
 *
 * Per store path a generation records its file list (in listings: every
 * file with its mode, size and SHA-256, from the same pass that computes
 * the NAR hash) and a stamp (stamps: how many entries and the newest
 * ctime).  `verify --full` recomputes the NAR hash and, when it differs,
 * names each file that changed; the fast mode trusts a path whose stamp is
 * unchanged (ctime cannot be set from user space: any write or chmod
 * moves it) and checks the others in full.  For "host" software the
 * generation records a manifest of /usr (store/manifest.h), reused from
 * the previous generation or the host-wide cache so that only changed
 * files are read again. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/integrity.h"
#include "store/manifest.h"
#include "store/nar.h"
#include "util/cleanup.h"
#include "util/sha256.h"
#include "util/strv.h"

#define HOST_CACHE_DIR "/var/cache/spectrum"
#define HOST_CACHE HOST_CACHE_DIR "/host-manifest"

struct stamp {
	uint64_t entries;
	int64_t newest_ctime_ns;
};

static int64_t ctime_ns(const struct stat *st)
{
	return (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

/* Metadata only: no file is read. */
static int stamp_walk(int dir, const char *name, struct stamp *s)
{
	struct stat st;
	struct dirent *e;
	DIR *d;
	int fd;

	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	s->entries++;
	if (ctime_ns(&st) > s->newest_ctime_ns)
		s->newest_ctime_ns = ctime_ns(&st);
	if (!S_ISDIR(st.st_mode))
		return 0;
	fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (stamp_walk(dirfd(d), e->d_name, s) < 0) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

static int stamp_of(const char *path, struct stamp *s, struct sp_err *err)
{
	memset(s, 0, sizeof *s);
	if (stamp_walk(AT_FDCWD, path, s) < 0)
		return sp_fail_errno(err, errno, "%s", path);
	return 0;
}

/* Every store path of every instance's closure, each once. */
static int union_closure(const struct sp_config *cfg, const struct sp_nix_db *db, char ***all, struct sp_err *err)
{
	*all = NULL;
	for (size_t i = 0; i < cfg->n_instances; i++) {
		char **paths = NULL;
		if (sp_nixdb_closure(db, cfg->instances[i].store_paths, &paths, err) < 0)
			return -1;
		for (size_t k = 0; paths && paths[k]; k++)
			if (!sp_strv_contains(*all, paths[k]) && sp_strv_push(all, paths[k]) < 0) {
				sp_strv_free(paths);
				return sp_fail_errno(err, ENOMEM, "closure");
			}
		sp_strv_free(paths);
	}
	return 0;
}

/* A line of a "PATH\tFIELDS" text, without the path, or NULL. */
static const char *lookup(const char *text, const char *path)
{
	size_t n = strlen(path);

	for (const char *p = text; p && *p;) {
		if (strncmp(p, path, n) == 0 && p[n] == '\t')
			return p + n + 1;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

/* The file list of PATH in a generation's listings ("=STOREPATH" lines
 * heading each one), malloc'ed, or NULL. */
static char *section(const char *text, const char *path)
{
	size_t n = strlen(path);
	const char *p = text, *start, *end;

	/* Listing lines start with their type (f, x, d, l), never "=". */
	while (p && *p && !(p[0] == '=' && strncmp(p + 1, path, n) == 0 && p[n + 1] == '\n')) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (!p || !*p)
		return NULL;
	start = p + n + 2;
	end = start;
	while (*end && *end != '=') {
		const char *nl = strchr(end, '\n');
		end = nl ? nl + 1 : end + strlen(end);
	}
	return strndup(start, (size_t)(end - start));
}

static int record_path(const char *path, const struct sp_nix_db *db, const char *prev_listings,
		       const char *prev_stamps, FILE *listings, FILE *stamps, struct sp_err *err)
{
	cleanup_free char *listing = NULL;
	char hex[65];
	const struct sp_nix_path *np = sp_nixdb_find(db, path);
	const char *old_stamp = prev_stamps ? lookup(prev_stamps, path) : NULL;
	struct stamp st;
	uint8_t hash[32];

	/* Store paths never change: what the previous generation recorded
	 * for the same path is taken over (verify checks it against the
	 * disk either way). */
	if (old_stamp && prev_listings && (listing = section(prev_listings, path))) {
		fprintf(stamps, "%s\t%.*s\n", path, (int)strcspn(old_stamp, "\n"), old_stamp);
		fprintf(listings, "=%s\n%s", path, listing);
		return 0;
	}
	if (sp_nar_listing(AT_FDCWD, path, &listing, hash, NULL, err) < 0)
		return sp_err_wrap(err, "record %s", path);
	sp_hex(hash, 32, hex);
	if (!np || strcmp(hex, np->hash) != 0)
		return sp_fail(err, SP_ERR_RUNTIME,
			       "%s: its contents do not match the Nix database (sha256 %s, registered %s): "
			       "the store is damaged; run nix-store --verify --check-contents",
			       path, hex, np ? np->hash : "nothing");
	if (stamp_of(path, &st, err) < 0)
		return -1;
	fprintf(stamps, "%s\t%" PRIu64 "\t%" PRId64 "\n", path, st.entries, st.newest_ctime_ns);
	fprintf(listings, "=%s\n%s", path, listing);
	return 0;
}

/* The previous manifest, to reuse hashes from: the previous generation's,
 * else the host-wide cache. */
static char *previous_manifest(const struct sp_store *store, unsigned prev)
{
	struct sp_err ignored;
	char *text = NULL;
	FILE *f;
	size_t cap = 0;
	ssize_t n;

	if (prev && sp_gen_read(store, prev, SP_GEN_MANIFEST, &text, NULL, &ignored) == 0)
		return text;
	f = fopen(HOST_CACHE, "re");
	if (!f)
		return NULL;
	n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	if (n <= 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* What a switch killed while writing the cache left behind. */
static void remove_stale_temporaries(void)
{
	DIR *d = opendir(HOST_CACHE_DIR);
	struct dirent *e;
	struct stat st;

	while (d && (e = readdir(d)))
		if (strncmp(e->d_name, ".host-manifest-", 15) == 0 &&
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_mtime < time(NULL) - 600)
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
}

/* The cache is only an optimisation: failing to write it is no error. */
static void update_cache(const char *manifest)
{
	char tmp[] = HOST_CACHE_DIR "/.host-manifest-XXXXXX";
	size_t len = strlen(manifest);
	int fd;

	if (mkdir(HOST_CACHE_DIR, 0700) < 0 && errno != EEXIST)
		return;
	remove_stale_temporaries();
	fd = mkstemp(tmp);
	if (fd < 0)
		return;
	if (write(fd, manifest, len) != (ssize_t)len || fsync(fd) < 0) {
		close(fd);
		unlink(tmp);
		return;
	}
	close(fd);
	if (rename(tmp, HOST_CACHE) < 0)
		unlink(tmp);
}

static int record_host(const struct sp_store *store, unsigned prev, struct sp_gen_writer *w, struct sp_err *err)
{
	cleanup_free char *previous = previous_manifest(store, prev);
	cleanup_free char *manifest = NULL;
	struct sp_manifest_opts opts = { .root = "/", .previous = previous };

	if (sp_manifest_string(&opts, &manifest, NULL, err) < 0)
		return sp_err_wrap(err, "manifest of the host's /usr");
	update_cache(manifest);
	return sp_gen_write(w, SP_GEN_MANIFEST, manifest, strlen(manifest), err);
}

int sp_integrity_record(const struct sp_store *store, unsigned prev, struct sp_gen_writer *w,
			const struct sp_config *cfg, const struct sp_nix_db *db, struct sp_err *err)
{
	cleanup_free char *prev_stamps = NULL, *prev_listings = NULL, *stamps_text = NULL, *listings_text = NULL;
	char **all = NULL;
	size_t stamps_len = 0, listings_len = 0;
	FILE *stamps = NULL, *listings = NULL;
	bool host = false;
	int ret = -1;

	if (prev) {
		struct sp_err ignored;
		if (sp_gen_read(store, prev, SP_GEN_STAMPS, &prev_stamps, NULL, &ignored) < 0)
			prev_stamps = NULL;
		if (sp_gen_read(store, prev, SP_GEN_LISTINGS, &prev_listings, NULL, &ignored) < 0)
			prev_listings = NULL;
	}
	/* One file each, not one per store path: every file of a
	 * generation costs an fsync. */
	stamps = open_memstream(&stamps_text, &stamps_len);
	listings = open_memstream(&listings_text, &listings_len);
	if (!stamps || !listings) {
		sp_fail_errno(err, errno, "record");
		goto out;
	}
	if (union_closure(cfg, db, &all, err) < 0)
		goto out;
	for (size_t i = 0; all && all[i]; i++)
		if (record_path(all[i], db, prev_listings, prev_stamps, listings, stamps, err) < 0)
			goto out;
	if (fclose(stamps) != 0 || fclose(listings) != 0) {
		stamps = listings = NULL;
		sp_fail_errno(err, errno, "record");
		goto out;
	}
	stamps = listings = NULL;
	if (sp_gen_write(w, SP_GEN_STAMPS, stamps_text ? stamps_text : "", stamps_len, err) < 0 ||
	    sp_gen_write(w, SP_GEN_LISTINGS, listings_text ? listings_text : "", listings_len, err) < 0)
		goto out;
	for (size_t i = 0; i < cfg->n_instances; i++)
		host |= cfg->instances[i].software_host;
	if (host && record_host(store, prev, w, err) < 0)
		goto out;
	ret = 0;
out:
	if (stamps)
		fclose(stamps);
	if (listings)
		fclose(listings);
	sp_strv_free(all);
	return ret;
}

/* ---- verify ---- */

struct report {
	const char *prefix;
	size_t problems;
};

static void say_problem(const char *path, const char *what, void *arg)
{
	struct report *r = arg;

	printf("    %s%s%s: %s\n", r->prefix, r->prefix[0] ? "/" : "", path, what);
	r->problems++;
}

/* Checks one store path; returns the number of problems, -1 on error. */
static long check_path(const struct sp_store *store, unsigned gen, const char *path, const char *recorded_hash,
		       const struct sp_nix_db *now, const char *stamps, bool full, struct sp_err *err)
{
	const struct sp_nix_path *np = sp_nixdb_find(now, path);
	const char *st_line = lookup(stamps, path);
	cleanup_free char *recorded = NULL, *current = NULL;
	struct report r = { .prefix = path };
	char hex[65];
	uint8_t hash[32];

	if (access(path, F_OK) < 0) {
		printf("    %s: missing from the store\n", path);
		return 1;
	}
	if (!np || strcmp(np->hash, recorded_hash) != 0) {
		printf("    %s: the Nix database now registers %s, the generation recorded %s\n", path,
		       np ? np->hash : "nothing", recorded_hash);
		r.problems++;
	}
	if (!full && st_line) {
		struct stamp s;
		uint64_t entries;
		int64_t newest;
		if (sscanf(st_line, "%" SCNu64 "\t%" SCNd64, &entries, &newest) == 2 && stamp_of(path, &s, err) == 0 &&
		    s.entries == entries && s.newest_ctime_ns == newest)
			return (long)r.problems; /* unchanged metadata: trusted */
	}
	/* The hash alone first: the file list is only needed to name what
	 * changed, and building it costs more than the hash. */
	if (sp_nar_hash(AT_FDCWD, path, hash, NULL, err) < 0)
		return -1;
	sp_hex(hash, 32, hex);
	if (strcmp(hex, recorded_hash) == 0)
		return (long)r.problems;
	if (sp_nar_listing(AT_FDCWD, path, &current, hash, NULL, err) < 0)
		return -1;
	{
		cleanup_free char *all = NULL;
		if (sp_gen_read(store, gen, SP_GEN_LISTINGS, &all, NULL, err) < 0)
			return -1;
		recorded = section(all, path);
		if (!recorded)
			return sp_fail(err, SP_ERR_RUNTIME, "generation %u: no file list recorded for %s", gen, path);
	}
	if (sp_nar_listing_diff_all(recorded, current, say_problem, &r, err) < 0)
		return -1;
	if (r.problems == 0) {
		printf("    %s: NAR hash %s differs from the recorded one\n", path, hex);
		r.problems++;
	}
	return (long)r.problems;
}

int sp_integrity_verify(const struct sp_store *store, unsigned gen, const struct sp_config *cfg,
			char *const *names, bool full, size_t *problems, struct sp_err *err)
{
	cleanup_free char *closure = NULL, *hashes = NULL, *stamps = NULL, *manifest = NULL;
	struct sp_nix_db now = { 0 };
	char **paths = NULL, **done = NULL;
	long *found = NULL;
	bool host_done = false;
	long host_problems = 0;
	int ret = -1;

	*problems = 0;
	if (sp_gen_read(store, gen, SP_GEN_CLOSURE, &closure, NULL, err) < 0 ||
	    sp_gen_read(store, gen, SP_GEN_HASHES, &hashes, NULL, err) < 0 ||
	    sp_gen_read(store, gen, SP_GEN_STAMPS, &stamps, NULL, err) < 0)
		return -1;
	/* What the Nix database says now, in one question. */
	for (const char *p = hashes; *p;) {
		size_t n = strcspn(p, "\t\n");
		char path[512];
		snprintf(path, sizeof path, "%.*s", (int)n, p);
		if (access(path, F_OK) == 0 && sp_strv_push(&paths, path) < 0)
			goto nomem;
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
	if (paths && sp_nixdb_query(paths, &now, err) < 0)
		goto out;

	for (size_t i = 0; i < cfg->n_instances; i++) {
		const struct sp_instance *inst = &cfg->instances[i];
		size_t mine = 0, count = 0;
		bool wanted = !names || !names[0];

		for (size_t k = 0; names && names[k]; k++)
			wanted |= strcmp(names[k], inst->name) == 0;
		if (!wanted)
			continue;
		printf("%s:\n", inst->name);
		for (const char *p = closure; *p;) {
			size_t n = strcspn(p, "\t");
			char path[512];
			const char *h;
			long k;
			if (strncmp(p, inst->name, n) == 0 && inst->name[n] == '\0') {
				const char *sp = p + n + 1;
				size_t m = strcspn(sp, "\n");
				snprintf(path, sizeof path, "%.*s", (int)m, sp);
				count++;
				/* Each store path is checked once, whatever
				 * number of instances share it. */
				for (k = 0; done && done[k] && strcmp(done[k], path) != 0; k++)
					;
				if (done && done[k]) {
					mine += (size_t)found[k];
				} else {
					long *nf;
					h = lookup(hashes, path);
					if (!h) {
						sp_fail(err, SP_ERR_RUNTIME, "generation %u: no hash recorded for %s", gen, path);
						goto out;
					}
					char hh[65];
					snprintf(hh, sizeof hh, "%.64s", h);
					long r = check_path(store, gen, path, hh, &now, stamps, full, err);
					if (r < 0)
						goto out;
					nf = realloc(found, (sp_strv_len(done) + 1) * sizeof *nf);
					if (!nf || sp_strv_push(&done, path) < 0) {
						free(nf ? nf : NULL);
						goto nomem;
					}
					found = nf;
					found[sp_strv_len(done) - 1] = r;
					mine += (size_t)r;
				}
			}
			p = strchr(p, '\n');
			if (!p)
				break;
			p++;
		}
		if (inst->software_host) {
			if (!host_done) {
				struct report r = { .prefix = "" };
				struct sp_manifest_stats ms;
				if (sp_gen_read(store, gen, SP_GEN_MANIFEST, &manifest, NULL, err) < 0)
					goto out;
				host_problems = sp_manifest_verify(manifest, "/", NULL, full, say_problem, &r, &ms, err);
				if (host_problems < 0)
					goto out;
				host_done = true;
			}
			mine += (size_t)host_problems;
		}
		printf("  %s: %zu store path%s%s\n", mine ? "FAILED" : "ok", count, count == 1 ? "" : "s",
		       inst->software_host ? " and the host's /usr" : "");
		*problems += mine;
	}
	ret = 0;
	goto out;
nomem:
	sp_fail_errno(err, ENOMEM, "verify");
out:
	free(found);
	sp_strv_free(done);
	sp_strv_free(paths);
	sp_nixdb_free(&now);
	return ret;
}
