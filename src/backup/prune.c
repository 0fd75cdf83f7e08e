/* Forgetting snapshots and collecting what only they used.
 *
 * Order, so that a prune killed at any point loses nothing kept:
 * 1. the blobs the kept snapshots use are marked (a damaged repository
 *    stops here: nothing is removed from one that verify would fault);
 * 2. the used blobs of packs that also hold unused ones are copied into
 *    new packs;
 * 3. one new index file lists every pack that stays and the new ones;
 * 4. a new manifest without the forgotten snapshots, then their files
 *    are removed;
 * 5. the old index files, then the packs that were emptied or copied.
 * Until 3 the old indexes are whole; after it the new one is.  A
 * forgotten snapshot whose file outlives a prune killed after 4 is one
 * the manifest does not list: never used again, reported, and removed by
 * the next prune. */
#include "backup/backup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/index.h"
#include "backup/pack.h"
#include "backup/tree.h"
#include "util/cleanup.h"
#include "util/strv.h"

/* The listings held in memory along one path (each directory above the
 * one being walked keeps its own), as restore bounds them: a forged
 * chain of 64 MiB trees 1024 deep would otherwise take 64 GiB. */
#define HELD_MAX (UINT64_C(256) << 20)

/* Marks tree ID and all it uses; HELD: bytes of the listings above it. */
static int mark_tree(struct sp_bk_repo *repo, const struct sp_bk_index *idx, struct sp_bk_index *used,
		     const uint8_t id[SP_BK_ID_LEN], unsigned depth, uint64_t held, struct sp_err *err)
{
	struct sp_bk_tree tree = { 0 };
	struct sp_bk_blob_loc loc = { .type = SP_BK_BLOB_TREE };
	const struct sp_bk_index_entry *e = sp_bk_index_find(idx, id);
	uint64_t size = e != NULL ? e->loc.raw_len : 0; /* none: the load fails */
	int ret = -1;

	if (sp_bk_index_find(used, id) != NULL)
		return 0;
	if (depth > 1024)
		return sp_fail(err, SP_ERR_RUNTIME, "trees nested deeper than 1024");
	if (size > HELD_MAX - held)
		return sp_fail(err, SP_ERR_RUNTIME,
			       "the listings down to here take more than %llu MiB together (a damaged or forged repository)",
			       (unsigned long long)(HELD_MAX >> 20));
	if (sp_bk_tree_load(repo, idx, id, &tree, err) < 0)
		return -1;
	memcpy(loc.id, id, SP_BK_ID_LEN);
	sp_bk_index_add(used, 0, &loc);
	for (size_t i = 0; i < tree.n; i++) {
		const struct sp_bk_node *node = &tree.nodes[i];

		if (node->type == SP_BK_NODE_DIR) {
			if (mark_tree(repo, idx, used, node->subtree, depth + 1, held + size, err) < 0)
				goto out;
			continue;
		}
		for (size_t k = 0; k < node->n_chunks; k++) {
			struct sp_bk_blob_loc c = { .type = SP_BK_BLOB_DATA };

			if (sp_bk_index_find(idx, node->chunks[k]) == NULL) {
				sp_fail(err, SP_ERR_RUNTIME, "%s: a chunk is missing", node->name);
				goto out;
			}
			memcpy(c.id, node->chunks[k], SP_BK_ID_LEN);
			sp_bk_index_add(used, 0, &c);
		}
	}
	ret = 0;
out:
	sp_bk_tree_free(&tree);
	return ret;
}

int sp_bk_mark_used(struct sp_bk_repo *repo, const struct sp_bk_index *idx, struct sp_bk_index *used,
		    const uint8_t root[SP_BK_ID_LEN], struct sp_err *err)
{
	return mark_tree(repo, idx, used, root, 0, 0, err);
}

/* True when STORE has a record of repository ID (it backs up there). */
static bool store_knows(const char *store, const char *id)
{
	cleanup_free char *path = NULL;

	if (store == NULL || asprintf(&path, "%s/.backup/%s", store, id) < 0) {
		path = NULL;
		return false;
	}
	return access(path, F_OK) == 0;
}

struct repack {
	struct sp_bk_repo *repo;
	struct sp_bk_index *out; /* the new index */
	struct sp_bk_pack_writer *w[3]; /* by blob type */
	uint32_t first_new;
};

static int repack_finish(struct repack *r, uint8_t type, struct sp_err *err)
{
	if (r->w[type] == NULL)
		return 0;
	return sp_bk_pack_finish_into(steal_ptr(&r->w[type]), r->out, err);
}

static int repack_blob(struct repack *r, const struct sp_bk_index *idx, const struct sp_bk_index_entry *e,
		       struct sp_err *err)
{
	cleanup_free uint8_t *plain = NULL;
	size_t len;
	uint8_t type = e->loc.type;

	if (sp_bk_blob_load(r->repo, idx, e->loc.id, type, &plain, &len, err) < 0)
		return -1;
	if (r->w[type] == NULL && sp_bk_pack_writer_new(r->repo, &r->w[type], err) < 0)
		return -1;
	if (sp_bk_pack_writer_add(r->w[type], type, e->loc.id, plain, len, err) < 0)
		return -1;
	if (sp_bk_pack_writer_size(r->w[type]) >= SP_BK_PACK_TARGET)
		return repack_finish(r, type, err);
	return 0;
}

int sp_bk_prune(struct sp_bk_repo *repo, const char *store, const struct sp_bk_keep_policy *policy, bool dry_run,
		FILE *out, struct sp_err *err)
{
	struct sp_bk_catalog cat = { 0 };
	char **ids = NULL;
	char manifest[2 * SP_BK_ID_LEN + 1];
	struct sp_bk_index *idx = NULL, *used = NULL;
	struct sp_bk_index_load_report rep = { 0 };
	struct repack r = { .repo = repo };
	struct sp_bk_snapshot *snaps = NULL;
	size_t n = 0, forgotten = 0, np;
	bool *keep = NULL;
	uint64_t *used_n = NULL, *total_n = NULL, freed = 0;
	size_t removed_packs = 0, repacked = 0;
	cleanup_free uint8_t *plain = NULL;
	char name[2 * SP_BK_ID_LEN + 1];
	size_t plen;
	int ret = -1;

	/* A dry run changes nothing, not even leftovers.  Nor does a prune
	 * of a repository whose snapshots were deleted or rolled back: the
	 * cleaning takes the packs of a deleted snapshot (with its index
	 * file) for leftovers, so it is refused first, while the snapshot
	 * file put back still finds them. */
	if (!dry_run) {
		bool tampered;

		if (sp_bk_catalog_load(repo, store, &snaps, &n, &cat, err) < 0)
			return -1;
		tampered = sp_bk_catalog_tampered(&cat);
		if (tampered) {
			char line[512];

			sp_bk_catalog_describe(&cat, 0, line, sizeof line);
			sp_fail(err, SP_ERR_RUNTIME, "%s; nothing removed (see `spectrum backup verify')", line);
		}
		sp_bk_snapshots_free(snaps, n);
		sp_bk_catalog_free(&cat);
		snaps = NULL;
		n = 0;
		if (tampered || sp_bk_clean_leftovers(repo, out, err) < 0)
			return -1;
	}
	idx = sp_bk_index_new();
	used = sp_bk_index_new();
	if (sp_bk_index_load(repo, idx, &rep, err) < 0 || sp_bk_catalog_load(repo, store, &snaps, &n, &cat, err) < 0)
		goto out;
	if (rep.damaged_index != NULL || rep.unreadable_packs != NULL || cat.damaged != NULL) {
		sp_fail(err, SP_ERR_RUNTIME, "the repository is damaged: see `spectrum backup verify'; nothing removed");
		goto out;
	}
	/* Packs in no index (a missing index file): `repair' first, so
	 * that what they hold is counted. */
	if (rep.recovered_packs != NULL) {
		sp_fail(err, SP_ERR_RUNTIME,
			"%zu pack%s in no index file: run `spectrum backup repair' first; nothing removed",
			sp_strv_len(rep.recovered_packs), sp_strv_len(rep.recovered_packs) == 1 ? " is" : "s are");
		goto out;
	}
	if (sp_bk_catalog_tampered(&cat)) {
		char line[512];

		sp_bk_catalog_describe(&cat, 0, line, sizeof line);
		sp_fail(err, SP_ERR_RUNTIME, "%s; nothing removed (see `spectrum backup verify')", line);
		goto out;
	}
	keep = calloc(n + 1, sizeof *keep);
	if (keep == NULL) {
		sp_fail_errno(err, ENOMEM, "prune");
		goto out;
	}
	sp_bk_keep_select(snaps, n, policy, keep);
	for (size_t i = 0; i < n; i++) {
		if (keep[i]) {
			if (mark_tree(repo, idx, used, snaps[i].tree, 0, 0, err) < 0) {
				sp_err_wrap(err, "snapshot %.8s is damaged (see `spectrum backup verify'); nothing removed",
					    snaps[i].id);
				goto out;
			}
		} else {
			forgotten++;
		}
	}

	np = sp_bk_index_pack_count(idx);
	used_n = calloc(np + 1, sizeof *used_n);
	total_n = calloc(np + 1, sizeof *total_n);
	if (used_n == NULL || total_n == NULL) {
		sp_fail_errno(err, ENOMEM, "prune");
		goto out;
	}
	for (size_t i = 0; i < sp_bk_index_count(idx); i++) {
		const struct sp_bk_index_entry *e = sp_bk_index_at(idx, i);

		total_n[e->pack]++;
		if (sp_bk_index_find(used, e->loc.id) != NULL)
			used_n[e->pack]++;
		else
			freed += e->loc.stored_len;
	}
	for (size_t p = 0; p < np; p++) {
		if (used_n[p] < total_n[p])
			removed_packs += used_n[p] == 0, repacked += used_n[p] != 0;
	}
	fprintf(out, "%s %zu of %zu snapshot%s; %s %zu pack%s, %s %zu; %.1f MiB %s\n",
		dry_run ? "would forget" : "forgetting", forgotten, n, n == 1 ? "" : "s",
		dry_run ? "would remove" : "removing", removed_packs, removed_packs == 1 ? "" : "s",
		dry_run ? "would repack" : "repacking", repacked, (double)freed / (1 << 20),
		dry_run ? "would be freed" : "freed");
	if (dry_run) {
		for (size_t i = 0; i < n; i++) {
			if (!keep[i])
				fprintf(out, "would forget snapshot %.8s\n", snaps[i].id);
		}
		ret = 0;
		goto out;
	}

	/* 2 and 3: the new index, with the packs that stay as they are. */
	r.out = sp_bk_index_new();
	for (size_t i = 0; i < sp_bk_index_count(idx); i++) {
		const struct sp_bk_index_entry *e = sp_bk_index_at(idx, i);

		if (used_n[e->pack] == total_n[e->pack])
			sp_bk_index_add(r.out, sp_bk_index_pack(r.out, sp_bk_index_pack_name(idx, e->pack)), &e->loc);
	}
	for (size_t i = 0; i < sp_bk_index_count(idx); i++) {
		const struct sp_bk_index_entry *e = sp_bk_index_at(idx, i);

		if (used_n[e->pack] != total_n[e->pack] && sp_bk_index_find(used, e->loc.id) != NULL &&
		    repack_blob(&r, idx, e, err) < 0)
			goto out;
	}
	if (repack_finish(&r, SP_BK_BLOB_DATA, err) < 0 || repack_finish(&r, SP_BK_BLOB_TREE, err) < 0)
		goto out;
	if (sp_bk_index_encode(r.out, 0, (uint32_t)sp_bk_index_pack_count(r.out), &plain, &plen, err) < 0 ||
	    sp_bk_repo_put(repo, SP_BK_KIND_INDEX, plain, plen, name, err) < 0)
		goto out;

	/* 4: the manifest first, so that a forgotten snapshot's file is
	 * never again taken for one (if it outlives a killed prune, or is
	 * put back), then the files.  5. */
	for (size_t i = 0; cat.ids != NULL && cat.ids[i] != NULL; i++) {
		bool forgotten_id = false;

		for (size_t k = 0; k < n && !forgotten_id; k++)
			forgotten_id = !keep[k] && strcmp(snaps[k].id, cat.ids[i]) == 0;
		if (!forgotten_id && sp_strv_push(&ids, cat.ids[i]) != 0) {
			sp_fail_errno(err, ENOMEM, "prune");
			goto out;
		}
	}
	if (sp_bk_manifest_write(repo, &cat, ids, manifest, err) < 0)
		goto out;
	if (store_knows(store, repo->id) && sp_bk_store_record(repo, store, cat.counter + 1, manifest, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (!keep[i] && sp_bk_repo_remove(repo, SP_BK_KIND_SNAPSHOT, snaps[i].id, err) < 0)
			goto out;
	}
	if (sp_bk_repo_sync(repo, SP_BK_KIND_SNAPSHOT, err) < 0)
		goto out;
	for (size_t i = 0; rep.index_files != NULL && rep.index_files[i] != NULL; i++) {
		if (strcmp(rep.index_files[i], name) != 0 &&
		    sp_bk_repo_remove(repo, SP_BK_KIND_INDEX, rep.index_files[i], err) < 0)
			goto out;
	}
	/* No old index may outlive, after a power cut, the packs it lists. */
	if (sp_bk_repo_sync(repo, SP_BK_KIND_INDEX, err) < 0)
		goto out;
	for (size_t p = 0; p < np; p++) {
		char pname[2 * SP_BK_ID_LEN + 1];

		if (used_n[p] == total_n[p])
			continue;
		sp_bk_hex(sp_bk_index_pack_name(idx, (uint32_t)p), SP_BK_ID_LEN, pname);
		if (sp_bk_repo_remove(repo, "packs", pname, err) < 0)
			goto out;
	}
	ret = 0;
out:
	for (int t = 0; t < 3; t++)
		sp_bk_pack_writer_abort(r.w[t]);
	sp_bk_index_free(r.out);
	sp_bk_index_load_report_free(&rep);
	sp_bk_snapshots_free(snaps, n);
	sp_bk_catalog_free(&cat);
	sp_strv_free(ids);
	sp_bk_index_free(idx);
	sp_bk_index_free(used);
	free(keep);
	free(used_n);
	free(total_n);
	return ret;
}
