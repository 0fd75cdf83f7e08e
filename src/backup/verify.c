/* Checking a repository.  Without --read-data: every index and snapshot
 * file against its name, every pack present and long enough, every tree
 * readable, every chunk of every file in the index.  With it: every pack
 * read whole and every blob in it opened and checked against its id.
 * Damage is reported where a user can act on it: which snapshot, which
 * file. */
#include "backup/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup/index.h"
#include "backup/pack.h"
#include "backup/progress.h"
#include "backup/tree.h"
#include "util/cleanup.h"
#include "util/strv.h"

/* A pack is closed past SP_BK_PACK_TARGET: at most that, one blob of
 * the largest stored size and a trailer.  Read whole, a larger file
 * would be an allocation an attacker chose. */
#define PACK_READ_MAX ((uint64_t)SP_BK_PACK_TARGET + SP_BK_STORED_MAX + (64u << 20))

struct verify {
	struct sp_bk_repo *repo;
	struct sp_bk_index *idx;
	struct sp_bk_index *bad;   /* blobs found damaged or missing */
	struct sp_bk_index *clean; /* trees whose whole subtree is sound */
	size_t *by_pack, *pack_start; /* entry numbers grouped by pack: pack P's
				       * are by_pack[pack_start[P] .. pack_start[P + 1]) */
	struct sp_bk_index *seen;  /* trees walked in this snapshot: a forged
				    * one may name one subtree a million times */
	FILE *out;
	const struct sp_bk_snapshot *snap;
	unsigned damaged_files;
	bool snap_damaged;
	struct sp_bk_progress progress;
};

static void mark(struct sp_bk_index *set, const uint8_t id[SP_BK_ID_LEN])
{
	struct sp_bk_blob_loc loc = { .type = SP_BK_BLOB_DATA };

	memcpy(loc.id, id, SP_BK_ID_LEN);
	sp_bk_index_add(set, 0, &loc);
}

static void snap_label(const struct sp_bk_snapshot *s, char *buf, size_t size)
{
	struct tm tm;
	time_t t = (time_t)s->time;

	gmtime_r(&t, &tm);
	snprintf(buf, size, "snapshot %.8s %04d-%02d-%02d %02d:%02d:%02dZ", s->id, tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void report(struct verify *v, const char *path, const char *what)
{
	char label[64];

	snap_label(v->snap, label, sizeof label);
	fprintf(v->out, "%s: %s: %s\n", label, path[0] ? path : "/", what);
	v->damaged_files++;
	v->snap_damaged = true;
}

static const char *pack_of(struct verify *v, const uint8_t *id, char *buf)
{
	const struct sp_bk_index_entry *e = sp_bk_index_find(v->idx, id);

	if (e == NULL)
		return "none";
	sp_bk_hex(sp_bk_index_pack_name(v->idx, e->pack), SP_BK_ID_LEN, buf);
	buf[12] = '\0';
	return buf;
}

/* The listings held in memory along one path, bounded as restore
 * bounds them (a forged chain of 64 MiB trees would take 64 GiB). */
#define HELD_MAX (UINT64_C(256) << 20)

/* Walks tree ID at PATH; returns true when all of it is sound.  HELD:
 * bytes of the listings above it. */
static bool walk(struct verify *v, const uint8_t id[SP_BK_ID_LEN], char *path, size_t pathlen, unsigned depth,
		 uint64_t held)
{
	struct sp_bk_tree tree = { 0 };
	struct sp_err err;
	bool sound = true;
	char pk[2 * SP_BK_ID_LEN + 1];
	const struct sp_bk_index_entry *te = sp_bk_index_find(v->idx, id);
	uint64_t size = te != NULL ? te->loc.raw_len : 0; /* none: the load fails */
	bool too_big = size > HELD_MAX - held;

	if (sp_bk_index_find(v->clean, id) != NULL)
		return true;
	if (sp_bk_index_find(v->seen, id) != NULL)
		return false; /* unsound, and reported where it was first met */
	mark(v->seen, id);
	if (depth > 1024 || too_big || sp_bk_index_find(v->bad, id) != NULL ||
	    sp_bk_tree_load(v->repo, v->idx, id, &tree, &err) < 0) {
		char what[1200];

		if (sp_bk_index_find(v->bad, id) != NULL)
			snprintf(what, sizeof what, "directory listing damaged (pack %s): everything in it is lost",
				 pack_of(v, id, pk));
		else
			snprintf(what, sizeof what, "directory listing %s: everything in it is lost",
				 depth > 1024 ? "too deep"
				 : too_big    ? "beyond the 256 MiB that the listings along one path may take"
					      : err.msg);
		report(v, path, what);
		mark(v->bad, id);
		return false;
	}
	for (size_t i = 0; i < tree.n; i++) {
		const struct sp_bk_node *node = &tree.nodes[i];
		size_t sub = pathlen;

		sub += (size_t)snprintf(path + pathlen, 4096 - pathlen, "%s%s", pathlen ? "/" : "", node->name);
		if (sub >= 4096)
			sub = 4095;
		if (node->type == SP_BK_NODE_DIR) {
			sound &= walk(v, node->subtree, path, sub, depth + 1, held + size);
		} else if (node->type == SP_BK_NODE_FILE) {
			size_t bad = 0, first = 0;

			for (size_t k = 0; k < node->n_chunks; k++) {
				const struct sp_bk_index_entry *e = sp_bk_index_find(v->idx, node->chunks[k]);

				if (e == NULL || e->loc.type != SP_BK_BLOB_DATA ||
				    sp_bk_index_find(v->bad, node->chunks[k]) != NULL) {
					if (bad++ == 0)
						first = k;
				}
			}
			if (bad > 0) {
				char what[256];

				snprintf(what, sizeof what, "%zu of its %zu chunks %s (first: chunk %zu, pack %s)", bad,
					 node->n_chunks,
					 sp_bk_index_find(v->idx, node->chunks[first]) == NULL ? "missing" : "damaged",
					 first + 1, pack_of(v, node->chunks[first], pk));
				report(v, path, what);
				sound = false;
			}
			sp_bk_progress_add(&v->progress, 1, 0);
		}
		path[pathlen] = '\0';
	}
	sp_bk_tree_free(&tree);
	if (sound)
		mark(v->clean, id);
	return sound;
}

/* Reads pack NAME whole; marks the blobs of it that fail as bad. */
static int read_pack(struct verify *v, uint32_t pack, unsigned *problems, struct sp_err *err)
{
	char name[2 * SP_BK_ID_LEN + 1], path[160];
	uint8_t hash[SP_BK_ID_LEN];
	cleanup_free uint8_t *buf = NULL;
	cleanup_fd int fd = -1;
	struct stat st;
	size_t got = 0, bad = 0, total = 0;

	sp_bk_hex(sp_bk_index_pack_name(v->idx, pack), SP_BK_ID_LEN, name);
	snprintf(path, sizeof path, "packs/%.2s/%s", name, name);
	/* O_NONBLOCK: a FIFO put there must not block the open. */
	fd = openat(v->repo->dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (errno != ENOENT)
			return sp_fail_errno(err, errno, "%s/%s", v->repo->path, path);
		st.st_size = 0;
	} else if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > PACK_READ_MAX) {
		if (!S_ISREG(st.st_mode))
			fprintf(v->out, "pack %s: not a regular file: not read\n", name);
		else
			fprintf(v->out, "pack %s: %lld bytes, larger than any pack spectrum writes: not read\n", name,
				(long long)st.st_size);
		++*problems;
		for (size_t k = v->pack_start[pack]; k < v->pack_start[pack + 1]; k++)
			mark(v->bad, sp_bk_index_at(v->idx, v->by_pack[k])->loc.id);
		return 0;
	} else {
		buf = malloc((size_t)st.st_size + 1);
		if (buf == NULL)
			return sp_fail_errno(err, ENOMEM, "%s", path);
		while (got < (size_t)st.st_size) {
			ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return sp_fail_errno(err, r < 0 ? errno : EIO, "%s/%s", v->repo->path, path);
			got += (size_t)r;
		}
	}
	sp_bk_progress_add(&v->progress, 0, got);
	for (size_t k = v->pack_start[pack]; k < v->pack_start[pack + 1]; k++) {
		const struct sp_bk_index_entry *e = sp_bk_index_at(v->idx, v->by_pack[k]);
		cleanup_free uint8_t *plain = NULL;
		size_t len;
		struct sp_err e2;

		total++;
		if (buf == NULL || (uint64_t)e->loc.offset + e->loc.stored_len > got ||
		    sp_bk_blob_decode(&v->repo->keys, &e->loc, buf + e->loc.offset, &plain, &len, &e2) < 0) {
			mark(v->bad, e->loc.id);
			bad++;
		}
	}
	if (buf == NULL) {
		fprintf(v->out, "pack %s: missing (%zu blobs)\n", name, total);
		++*problems;
		return 0;
	}
	sp_bk_hash(buf, got, hash);
	sp_bk_hex(hash, sizeof hash, path);
	if (strcmp(path, name) != 0 || bad > 0) {
		struct sp_bk_blob_loc *locs = NULL;
		size_t n = 0;
		struct sp_err e2;
		bool trailer_ok = sp_bk_pack_trailer_parse(&v->repo->keys, buf, got, &locs, &n, &e2) == 0;

		free(locs);
		fprintf(v->out, "pack %s: damaged: %zu of its %zu blobs fail their check%s\n", name, bad, total,
			trailer_ok ? "" : "; its trailer is damaged too");
		++*problems;
	}
	return 0;
}

/* Groups the index's entries by pack (a counting sort), so that each
 * pack's are found without a pass over all of them. */
static int group_by_pack(struct verify *v)
{
	size_t np = sp_bk_index_pack_count(v->idx), n = sp_bk_index_count(v->idx);

	v->pack_start = calloc(np + 2, sizeof *v->pack_start);
	v->by_pack = calloc(n + 1, sizeof *v->by_pack);
	if (v->pack_start == NULL || v->by_pack == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		v->pack_start[sp_bk_index_at(v->idx, i)->pack + 2]++;
	for (size_t p = 2; p < np + 2; p++)
		v->pack_start[p] += v->pack_start[p - 1];
	for (size_t i = 0; i < n; i++)
		v->by_pack[v->pack_start[sp_bk_index_at(v->idx, i)->pack + 1]++] = i;
	return 0;
}

static int check_pack_sizes(struct verify *v, unsigned *problems)
{
	size_t np = sp_bk_index_pack_count(v->idx);
	uint64_t *need = calloc(np + 1, sizeof *need);

	if (need == NULL)
		return -1;
	for (size_t i = 0; i < sp_bk_index_count(v->idx); i++) {
		const struct sp_bk_index_entry *e = sp_bk_index_at(v->idx, i);
		uint64_t end = (uint64_t)e->loc.offset + e->loc.stored_len;

		if (end > need[e->pack])
			need[e->pack] = end;
	}
	for (uint32_t p = 0; p < np; p++) {
		char name[2 * SP_BK_ID_LEN + 1], path[160];
		struct stat st;

		sp_bk_hex(sp_bk_index_pack_name(v->idx, p), SP_BK_ID_LEN, name);
		snprintf(path, sizeof path, "packs/%.2s/%s", name, name);
		if (fstatat(v->repo->dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 || (uint64_t)st.st_size < need[p]) {
			fprintf(v->out, "pack %s: %s\n", name, errno == ENOENT ? "missing" : "shorter than its index says");
			++*problems;
			for (size_t k = v->pack_start[p]; k < v->pack_start[p + 1]; k++)
				mark(v->bad, sp_bk_index_at(v->idx, v->by_pack[k])->loc.id);
		}
	}
	free(need);
	return 0;
}

int sp_bk_verify(struct sp_bk_repo *repo, const char *store, bool read_data, bool quiet, FILE *out, bool *damaged,
		 struct sp_err *err)
{
	struct verify v = { .repo = repo, .out = out };
	struct sp_bk_index_load_report rep = { 0 };
	struct sp_bk_catalog cat = { 0 };
	struct sp_bk_snapshot *snaps = NULL;
	size_t n_snaps = 0, n_files;
	unsigned problems = 0, damaged_snaps = 0;
	char line[512];
	int ret = -1;

	/* A check changes nothing: what a killed backup left is removed by
	 * the next create or prune, only once proven unused. */
	*damaged = false;
	v.idx = sp_bk_index_new();
	v.bad = sp_bk_index_new();
	v.clean = sp_bk_index_new();
	sp_bk_progress_init(&v.progress, "verifying", quiet);
	if (sp_bk_index_load(repo, v.idx, &rep, err) < 0)
		goto out;
	for (size_t i = 0; rep.damaged_index != NULL && rep.damaged_index[i] != NULL; i++) {
		fprintf(out, "index %s: damaged%s\n", rep.damaged_index[i],
			rep.recovered_packs != NULL ? " (what it listed was found again in the packs' trailers)" : "");
		problems++;
	}
	for (size_t i = 0; rep.unreadable_packs != NULL && rep.unreadable_packs[i] != NULL; i++) {
		fprintf(out, "pack %s: in no index, and its trailer is damaged\n", rep.unreadable_packs[i]);
		problems++;
	}
	/* Not damage by itself (a killed backup leaves such packs), but
	 * said: with index files missing, it is how their packs are found. */
	if (rep.recovered_packs != NULL)
		fprintf(out, "%zu pack%s in no index file, read from %s trailer%s (`spectrum backup repair' lists them "
			     "again)\n",
			sp_strv_len(rep.recovered_packs), sp_strv_len(rep.recovered_packs) == 1 ? "" : "s",
			sp_strv_len(rep.recovered_packs) == 1 ? "its" : "their",
			sp_strv_len(rep.recovered_packs) == 1 ? "" : "s");
	if (group_by_pack(&v) < 0 || check_pack_sizes(&v, &problems) < 0) {
		sp_fail_errno(err, ENOMEM, "verify");
		goto out;
	}
	if (read_data) {
		for (uint32_t p = 0; p < sp_bk_index_pack_count(v.idx); p++) {
			if (read_pack(&v, p, &problems, err) < 0)
				goto out;
		}
	}

	/* Snapshots one by one: a damaged one does not hide the others;
	 * deleted, put back or rolled back ones are damage too. */
	if (sp_bk_catalog_load(repo, store, &snaps, &n_snaps, &cat, err) < 0)
		goto out;
	for (size_t i = 0; sp_bk_catalog_describe(&cat, i, line, sizeof line) == 0; i++) {
		fprintf(out, "%s\n", line);
		problems++;
	}
	damaged_snaps += (unsigned)(sp_strv_len(cat.damaged) + sp_strv_len(cat.missing) + sp_strv_len(cat.unlisted));
	n_files = n_snaps + sp_strv_len(cat.damaged) + sp_strv_len(cat.missing) + sp_strv_len(cat.unlisted);
	sp_bk_snapshots_sort(snaps, n_snaps);
	for (size_t i = 0; i < n_snaps; i++) {
		char path[4096] = "";

		v.snap = &snaps[i];
		v.snap_damaged = false;
		sp_bk_index_free(v.seen);
		v.seen = sp_bk_index_new();
		walk(&v, snaps[i].tree, path, 0, 0, 0);
		if (v.snap_damaged)
			damaged_snaps++;
	}
	sp_bk_progress_done(&v.progress);
	if (problems > 0 || damaged_snaps > 0) {
		*damaged = true;
		fprintf(out, "damage: %u of %zu snapshots, %u files or directories in them; %u damaged repository file%s\n",
			damaged_snaps, n_files, v.damaged_files, problems, problems == 1 ? "" : "s");
	} else {
		fprintf(out, "no damage: %zu snapshot%s, %zu packs, %zu blobs%s\n", n_snaps, n_snaps == 1 ? "" : "s",
			sp_bk_index_pack_count(v.idx), sp_bk_index_count(v.idx),
			read_data ? " read and checked" : " indexed (add --read-data to read them)");
	}
	ret = 0;
out:
	sp_bk_progress_done(&v.progress);
	sp_bk_index_load_report_free(&rep);
	sp_bk_snapshots_free(snaps, n_snaps);
	sp_bk_catalog_free(&cat);
	sp_bk_index_free(v.idx);
	sp_bk_index_free(v.bad);
	sp_bk_index_free(v.clean);
	sp_bk_index_free(v.seen);
	free(v.by_pack);
	free(v.pack_start);
	return ret;
}
