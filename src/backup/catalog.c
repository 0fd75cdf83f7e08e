/* What a repository holds: its snapshots, the manifest that lists them,
 * what the store last saw of it, and the leftovers of an interrupted
 * backup. */
#include "backup/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "backup/bytes.h"
#include "backup/index.h"
#include "backup/tree.h"
#include "util/cleanup.h"
#include "util/strv.h"

#define MANIFEST_MAX_SNAPSHOTS (1u << 20)
#define STATE_MAX (16u * 1024)

void sp_bk_snapshots_free(struct sp_bk_snapshot *snaps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sp_bk_snapshot_free(&snaps[i]);
	free(snaps);
}

void sp_bk_catalog_free(struct sp_bk_catalog *c)
{
	sp_strv_free(c->damaged);
	sp_strv_free(c->missing);
	sp_strv_free(c->unlisted);
	sp_strv_free(c->ids);
	sp_strv_free(c->manifests);
	memset(c, 0, sizeof *c);
}

bool sp_bk_catalog_tampered(const struct sp_bk_catalog *c)
{
	return c->missing != NULL || c->unlisted != NULL || c->rollback[0] != '\0';
}

/* ---- The manifest ----
 *
 * manifests/HASH: sealed JSON {"counter": N, "time": S, "nsec": NS,
 * "snapshots": [ids]}.  Every create and prune writes one with the
 * counter one higher than the newest there, listing every snapshot the
 * repository then holds, and removes the older ones.  Sealed, it cannot
 * be forged without the keys: a snapshot file deleted is one the
 * manifest lists and that is not there; one put back after a prune is
 * not listed. */

struct manifest {
	uint64_t counter;
	int64_t time;
	uint32_t nsec;
	char **ids; /* sorted */
};

static int strv_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool sorted_has(char *const *v, size_t n, const char *s)
{
	return n > 0 && bsearch(&s, v, n, sizeof *v, strv_cmp) != NULL;
}

static int decode_manifest(const uint8_t *buf, size_t len, struct manifest *m)
{
	json_t *root = json_loadb((const char *)buf, len, 0, NULL), *list, *v;
	json_int_t counter, t, nsec;
	size_t i;
	int ret = -1;

	memset(m, 0, sizeof *m);
	if (root == NULL)
		return -1;
	if (json_unpack(root, "{s:I, s:I, s:I, s:o}", "counter", &counter, "time", &t, "nsec", &nsec, "snapshots",
			&list) < 0 || counter < 1 || nsec < 0 || nsec >= 1000000000 || !json_is_array(list) ||
	    json_array_size(list) > MANIFEST_MAX_SNAPSHOTS)
		goto out;
	m->ids = calloc(json_array_size(list) + 1, sizeof *m->ids);
	if (m->ids == NULL)
		goto out;
	json_array_foreach(list, i, v) {
		uint8_t raw[SP_BK_ID_LEN];

		if (!json_is_string(v) || sp_bk_unhex(json_string_value(v), raw, sizeof raw) < 0)
			goto out;
		m->ids[i] = strdup(json_string_value(v));
		if (m->ids[i] == NULL)
			goto out;
	}
	qsort(m->ids, i, sizeof *m->ids, strv_cmp);
	m->counter = (uint64_t)counter;
	m->time = (int64_t)t;
	m->nsec = (uint32_t)nsec;
	ret = 0;
out:
	if (ret < 0) {
		sp_strv_free(m->ids);
		m->ids = NULL;
	}
	json_decref(root);
	return ret;
}

/* The newest manifest of REPO into M (counter 0 when there is none);
 * every manifest file's name into C->manifests. */
static int load_manifest(struct sp_bk_repo *repo, struct sp_bk_catalog *c, struct manifest *m, struct sp_err *err)
{
	memset(m, 0, sizeof *m);
	if (sp_bk_repo_list(repo, SP_BK_KIND_MANIFEST, &c->manifests, err) < 0)
		return -1;
	for (size_t i = 0; c->manifests[i] != NULL; i++) {
		cleanup_free uint8_t *plain = NULL;
		struct manifest one;
		struct sp_err e;
		size_t len;

		if (sp_bk_repo_get(repo, SP_BK_KIND_MANIFEST, c->manifests[i], &plain, &len, NULL, &e) < 0 ||
		    decode_manifest(plain, len, &one) < 0) {
			c->damaged_manifests++;
			continue;
		}
		if (one.counter > m->counter) {
			sp_strv_free(m->ids);
			*m = one;
			snprintf(c->manifest, sizeof c->manifest, "%s", c->manifests[i]);
		} else {
			sp_strv_free(one.ids);
		}
	}
	c->counter = m->counter;
	return 0;
}

int sp_bk_manifest_write(struct sp_bk_repo *repo, const struct sp_bk_catalog *c, char *const *ids, char *name_out,
			 struct sp_err *err)
{
	json_t *root = NULL, *list = json_array();
	cleanup_free char *text = NULL;
	struct timespec now;
	int ret = -1;

	clock_gettime(CLOCK_REALTIME, &now);
	for (size_t i = 0; ids != NULL && ids[i] != NULL; i++) {
		if (list == NULL || json_array_append_new(list, json_string(ids[i])) < 0)
			goto nomem;
	}
	root = json_pack("{s:I, s:I, s:I, s:O}", "counter", (json_int_t)(c->counter + 1), "time", (json_int_t)now.tv_sec,
			 "nsec", (json_int_t)now.tv_nsec, "snapshots", list);
	if (root == NULL || (text = json_dumps(root, JSON_COMPACT)) == NULL)
		goto nomem;
	if (sp_bk_repo_put(repo, SP_BK_KIND_MANIFEST, text, strlen(text), name_out, err) < 0)
		goto out;
	/* The older ones go once the new one is on disk: killed between,
	 * the highest counter wins. */
	for (size_t i = 0; c->manifests != NULL && c->manifests[i] != NULL; i++) {
		if (strcmp(c->manifests[i], name_out) != 0 &&
		    sp_bk_repo_remove(repo, SP_BK_KIND_MANIFEST, c->manifests[i], err) < 0)
			goto out;
	}
	if (sp_bk_repo_sync(repo, SP_BK_KIND_MANIFEST, err) < 0)
		goto out;
	ret = 0;
	goto out;
nomem:
	sp_fail_errno(err, ENOMEM, "manifest");
out:
	json_decref(list);
	json_decref(root);
	return ret;
}

/* ---- What the store last saw of a repository: STORE/.backup/ID ----
 *
 * {"encrypted": true, "format": 2, "counter": N, "manifest": "HASH"}.
 * An empty file is what spectrum wrote before (an encrypted repository,
 * nothing else known).  Written only by create and prune (and by them
 * only when the store is theirs); read by every command that has a
 * store. */

struct store_state {
	bool known, encrypted;
	int format;
	uint64_t counter;
	char manifest[2 * SP_BK_ID_LEN + 1];
};

static int read_state(const char *store, const char *id, struct store_state *st, struct sp_err *err)
{
	cleanup_free char *path = NULL;
	cleanup_fd int fd = -1;
	char buf[STATE_MAX + 1];
	ssize_t n;
	json_t *root;
	json_int_t format = 0, counter = 0;
	int enc = 0;
	const char *man = "";

	memset(st, 0, sizeof *st);
	if (store == NULL)
		return 0;
	if (!sp_bk_repo_id_valid(id))
		return sp_fail(err, SP_ERR_RUNTIME, "repository id `%.40s': not 32 hex digits", id);
	if (asprintf(&path, "%s/.backup/%s", store, id) < 0) {
		path = NULL;
		return sp_fail_errno(err, ENOMEM, "backup");
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	/* Not there, or not this user's to read (a store of root's listed
	 * by another user): no record to compare with. */
	if (fd < 0)
		return errno == ENOENT || errno == EACCES ? 0 : sp_fail_errno(err, errno, "%s", path);
	n = read(fd, buf, sizeof buf);
	if (n < 0)
		return sp_fail_errno(err, errno, "%s", path);
	st->known = true;
	if (n == 0) {
		st->encrypted = true;
		return 0;
	}
	root = json_loadb(buf, (size_t)n, 0, NULL);
	if (root == NULL || json_unpack(root, "{s:b, s:I, s:I, s:s}", "encrypted", &enc, "format", &format, "counter",
					&counter, "manifest", &man) < 0 || counter < 0 ||
	    (man[0] != '\0' && strlen(man) != 2 * SP_BK_ID_LEN)) {
		json_decref(root);
		/* Damaged: the safe reading is "it was encrypted". */
		st->encrypted = true;
		return 0;
	}
	st->encrypted = enc;
	st->format = (int)format;
	st->counter = (uint64_t)counter;
	snprintf(st->manifest, sizeof st->manifest, "%s", man);
	json_decref(root);
	return 0;
}

/* True when any repository this store wrote to was encrypted; its id to
 * WHICH. */
static bool store_ever_encrypted(const char *store, char which[SP_BK_REPO_ID_HEX + 1])
{
	cleanup_free char *dir = NULL;
	DIR *d;
	struct dirent *e;
	bool found = false;

	if (asprintf(&dir, "%s/.backup", store) < 0) {
		dir = NULL;
		return true; /* cannot tell: the safe answer */
	}
	d = opendir(dir);
	if (d == NULL)
		return errno != ENOENT;
	while (!found && (e = readdir(d)) != NULL) {
		struct store_state st;
		struct sp_err err;

		if (!sp_bk_repo_id_valid(e->d_name))
			continue;
		if (read_state(store, e->d_name, &st, &err) < 0 || st.encrypted) {
			snprintf(which, SP_BK_REPO_ID_HEX + 1, "%.32s", e->d_name);
			found = true;
		}
	}
	closedir(d);
	return found;
}

int sp_bk_store_record(const struct sp_bk_repo *repo, const char *store, uint64_t counter, const char *manifest,
		       struct sp_err *err)
{
	cleanup_free char *dir = NULL;
	cleanup_free char *path = NULL;
	cleanup_free char *tmp = NULL;
	cleanup_free char *text = NULL;
	int fd;

	if (!sp_bk_repo_id_valid(repo->id))
		return sp_fail(err, SP_ERR_RUNTIME, "repository id `%.40s': not 32 hex digits", repo->id);
	if (asprintf(&dir, "%s/.backup", store) < 0 || asprintf(&path, "%s/%s", dir, repo->id) < 0 ||
	    asprintf(&tmp, "%s/.%s.new", dir, repo->id) < 0 ||
	    asprintf(&text, "{\"encrypted\": %s, \"format\": %d, \"counter\": %llu, \"manifest\": \"%s\"}\n",
		     repo->keys.encrypted ? "true" : "false", repo->format, (unsigned long long)counter,
		     manifest != NULL ? manifest : "") < 0)
		return sp_fail_errno(err, ENOMEM, "backup");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return sp_fail_errno(err, errno, "%s", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return sp_fail_errno(err, errno, "%s", tmp);
	if (sp_bk_write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
		int e = errno;

		close(fd);
		unlink(tmp);
		return sp_fail_errno(err, e, "%s", tmp);
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		int e = errno;

		unlink(tmp);
		return sp_fail_errno(err, e, "%s", path);
	}
	return 0;
}

/* A store that has written to an encrypted repository never writes in
 * clear again without ALLOW_UNENCRYPTED: not to that repository (its
 * config swapped for one without encryption), nor to another one (the
 * encrypted repository moved aside and an unencrypted one made at its
 * place, with a new id).  A format 2 config seen once is never accepted
 * back at format 1 (the MAC stripped). */
int sp_bk_check_encryption(const struct sp_bk_repo *repo, const char *store, bool allow_unencrypted, bool *is_new,
			   struct sp_err *err)
{
	struct store_state st;
	char which[SP_BK_REPO_ID_HEX + 1] = "";

	if (read_state(store, repo->id, &st, err) < 0)
		return -1;
	*is_new = !st.known;
	if (!repo->keys.encrypted && !allow_unencrypted) {
		if (st.known && st.encrypted)
			return sp_fail(err, SP_ERR_RUNTIME,
				       "%s: this store wrote to repository %s encrypted, but its config now says it is "
				       "not (replaced?): refusing to write in clear (--allow-unencrypted if this is "
				       "intended)",
				       repo->path, repo->id);
		if (store_ever_encrypted(store, which))
			return sp_fail(err, SP_ERR_RUNTIME,
				       "%s: not encrypted, but this store has been backed up encrypted (repository %s): "
				       "refusing to write in clear (--allow-unencrypted if this is intended)",
				       repo->path, which[0] ? which : "?");
	}
	if (st.known && st.format >= 2 && repo->format < 2)
		return sp_fail(err, SP_ERR_RUNTIME,
			       "%s: its config went back to format %d, but this store saw format %d there (the MAC "
			       "stripped?): refusing to use it",
			       repo->path, repo->format, st.format);
	return 0;
}

/* Before anything reads or prunes REPO for STORE: what create checks,
 * for the same reason.  A repository whose config lost its encryption
 * (replaced by one its writer forged, with the same id and a manifest
 * counter above the record) would otherwise be restored into the store,
 * pruned, and its record rewritten as unencrypted, after which create
 * writes in clear.  PASS_GIVEN: a passphrase was given, so encryption
 * was expected even by a store with no record (a new machine).  The
 * message says what is wrong; the caller says what it does about it. */
int sp_bk_check_record(const struct sp_bk_repo *repo, const char *store, bool pass_given, struct sp_err *err)
{
	struct store_state st;

	if (read_state(store, repo->id, &st, err) < 0)
		return -1;
	if (!repo->keys.encrypted && st.known && st.encrypted)
		return sp_fail(err, SP_ERR_RUNTIME,
			       "%s: this store wrote to repository %s encrypted, but its config now says it is not "
			       "(replaced?)",
			       repo->path, repo->id);
	if (!repo->keys.encrypted && pass_given)
		return sp_fail(err, SP_ERR_RUNTIME, "%s: not encrypted, but a passphrase was given (a replaced config?)",
			       repo->path);
	if (st.known && st.format >= 2 && repo->format < 2)
		return sp_fail(err, SP_ERR_RUNTIME,
			       "%s: its config went back to format %d, but this store saw format %d there (the MAC "
			       "stripped?)",
			       repo->path, repo->format, st.format);
	return 0;
}

/* ---- Loading the snapshots ---- */

static int push(char ***v, const char *s, struct sp_err *err)
{
	if (sp_strv_push(v, s) != 0)
		return sp_fail_errno(err, ENOMEM, "snapshots");
	return 0;
}

static bool newer_than(const struct sp_bk_snapshot *s, const struct manifest *m)
{
	return s->time > m->time || (s->time == m->time && s->time_nsec > m->nsec);
}

int sp_bk_catalog_load(struct sp_bk_repo *repo, const char *store, struct sp_bk_snapshot **out, size_t *out_n,
		       struct sp_bk_catalog *c, struct sp_err *err)
{
	char **names = NULL;
	struct sp_bk_snapshot *v = NULL;
	struct manifest m = { 0 };
	struct store_state st;
	size_t n = 0, count, n_listed;
	int ret = -1;

	memset(c, 0, sizeof *c);
	if (load_manifest(repo, c, &m, err) < 0 || sp_bk_repo_list(repo, SP_BK_KIND_SNAPSHOT, &names, err) < 0)
		goto out;
	n_listed = sp_strv_len(m.ids);
	count = sp_strv_len(names);
	v = calloc(count + 1, sizeof *v);
	if (v == NULL) {
		sp_fail_errno(err, ENOMEM, "snapshots");
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		cleanup_free uint8_t *json = NULL;
		bool listed = m.counter == 0 || sorted_has(m.ids, n_listed, names[i]);
		bool damaged = false;
		struct sp_err e;
		size_t len;

		/* One damaged file does not take the others with it: it is
		 * skipped and reported (verify says more). */
		if (sp_bk_repo_get(repo, SP_BK_KIND_SNAPSHOT, names[i], &json, &len, &damaged, &e) < 0 ||
		    sp_bk_snapshot_decode(names[i], (const char *)json, len, &v[n], &e) < 0) {
			if (json == NULL && !damaged && e.errnum != 0 && e.errnum != ENOENT && e.errnum != EFBIG) {
				*err = e;
				goto out;
			}
			memset(&v[n], 0, sizeof v[n]);
			if (push(&c->damaged, names[i], err) < 0 || (listed && push(&c->ids, names[i], err) < 0))
				goto out;
			continue;
		}
		/* Not in the manifest: written by a create killed before its
		 * manifest (newer than it), or put back after a prune or
		 * from elsewhere (older): the latter is not used. */
		if (!listed && !newer_than(&v[n], &m)) {
			sp_bk_snapshot_free(&v[n]);
			memset(&v[n], 0, sizeof v[n]);
			if (push(&c->unlisted, names[i], err) < 0)
				goto out;
			continue;
		}
		if (push(&c->ids, names[i], err) < 0)
			goto out;
		n++;
	}
	for (size_t i = 0; i < n_listed; i++) {
		if (!sorted_has(names, count, m.ids[i]) && push(&c->missing, m.ids[i], err) < 0)
			goto out;
	}
	if (read_state(store, repo->id, &st, err) < 0)
		goto out;
	if (st.known && st.counter > m.counter)
		snprintf(c->rollback, sizeof c->rollback,
			 "its manifest is at %llu, behind the %llu this store saw there (snapshots deleted or the "
			 "repository rolled back)",
			 (unsigned long long)m.counter, (unsigned long long)st.counter);
	else if (st.known && st.counter == m.counter && st.counter > 0 && strcmp(st.manifest, c->manifest) != 0)
		snprintf(c->rollback, sizeof c->rollback,
			 "its manifest %.8s is not the %.8s this store saw there at %llu (replaced)", c->manifest,
			 st.manifest, (unsigned long long)st.counter);
	sp_bk_snapshots_sort(v, n);
	*out = steal_ptr(&v);
	*out_n = n;
	ret = 0;
out:
	if (ret < 0) {
		sp_bk_snapshots_free(v, n);
		sp_bk_catalog_free(c);
	}
	sp_strv_free(names);
	sp_strv_free(m.ids);
	return ret;
}

int sp_bk_snapshots_load(struct sp_bk_repo *repo, struct sp_bk_snapshot **out, size_t *out_n, struct sp_err *err)
{
	struct sp_bk_catalog c;

	if (sp_bk_catalog_load(repo, NULL, out, out_n, &c, err) < 0)
		return -1;
	sp_bk_catalog_free(&c);
	return 0;
}

/* Line I of the report: the damaged snapshot files, the missing, the
 * unlisted, then the rollback and the damaged manifests. */
int sp_bk_catalog_describe(const struct sp_bk_catalog *c, size_t i, char *buf, size_t size)
{
	size_t nd = sp_strv_len(c->damaged), nm = sp_strv_len(c->missing), nu = sp_strv_len(c->unlisted);

	if (i < nd) {
		snprintf(buf, size, "snapshot %.8s: its file is damaged: skipped", c->damaged[i]);
		return 0;
	}
	i -= nd;
	if (i < nm) {
		snprintf(buf, size, "snapshot %.8s: listed by the repository's manifest, but its file is gone (deleted?)",
			 c->missing[i]);
		return 0;
	}
	i -= nm;
	if (i < nu) {
		snprintf(buf, size,
			 "snapshot %.8s: not in the repository's manifest (a pruned or deleted snapshot put back?): not "
			 "used",
			 c->unlisted[i]);
		return 0;
	}
	i -= nu;
	if (c->rollback[0] != '\0') {
		if (i == 0) {
			snprintf(buf, size, "the repository was rolled back: %s", c->rollback);
			return 0;
		}
		i--;
	}
	if (c->damaged_manifests > 0 && i == 0) {
		snprintf(buf, size, "%zu manifest file%s damaged", c->damaged_manifests,
			 c->damaged_manifests == 1 ? " is" : "s are");
		return 0;
	}
	return -1;
}

int sp_bk_snapshot_pick(const struct sp_bk_snapshot *snaps, size_t n, const char *which, struct sp_err *err)
{
	size_t len = strlen(which);
	int found = -1;

	if (strcmp(which, "latest") == 0) {
		if (n == 0)
			return sp_fail(err, SP_ERR_RUNTIME, "the repository has no snapshot");
		return (int)n - 1;
	}
	if (len < 8 || len > 2 * SP_BK_ID_LEN || strspn(which, "0123456789abcdef") != len)
		return sp_fail(err, SP_ERR_USAGE,
			       "snapshot `%s': expected \"latest\" or at least 8 hex digits of its id", which);
	for (size_t i = 0; i < n; i++) {
		if (strncmp(snaps[i].id, which, len) != 0)
			continue;
		if (found >= 0)
			return sp_fail(err, SP_ERR_USAGE, "snapshot `%s': more than one id starts so", which);
		found = (int)i;
	}
	if (found < 0)
		return sp_fail(err, SP_ERR_RUNTIME, "snapshot `%s': no such snapshot", which);
	return found;
}

/* ---- Leftovers ---- */

/* Marks in USED every blob that a snapshot of REPO uses.  Fails (and
 * then nothing may be removed) when any snapshot cannot be read whole:
 * a damaged, unlisted or missing snapshot file, a tree that does not
 * load, a chunk that IDX does not have. */
static int mark_all(struct sp_bk_repo *repo, const struct sp_bk_index *idx, struct sp_bk_index *used,
		    struct sp_err *err)
{
	struct sp_bk_snapshot *snaps = NULL;
	struct sp_bk_catalog c;
	size_t n = 0;
	int ret = -1;

	if (sp_bk_catalog_load(repo, NULL, &snaps, &n, &c, err) < 0)
		return -1;
	if (c.damaged != NULL || c.unlisted != NULL || c.missing != NULL) {
		sp_fail(err, SP_ERR_RUNTIME, "a snapshot file is damaged, missing or not in the manifest");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (sp_bk_mark_used(repo, idx, used, snaps[i].tree, err) < 0)
			goto out;
	}
	ret = 0;
out:
	sp_bk_snapshots_free(snaps, n);
	sp_bk_catalog_free(&c);
	return ret;
}

int sp_bk_clean_leftovers(struct sp_bk_repo *repo, FILE *out, struct sp_err *err)
{
	struct sp_bk_index_load_report report;
	struct sp_bk_index *idx = sp_bk_index_new(), *used = NULL;
	size_t removed = 0, kept = 0, n_rec, first;
	bool *in_use = NULL;
	int tmp, ret = -1;

	tmp = sp_bk_repo_clean_tmp(repo, err);
	if (tmp < 0)
		goto out_idx;
	if (sp_bk_index_load(repo, idx, &report, err) < 0)
		goto out_idx;
	/* A pack that no index lists was written by a backup killed before
	 * its index, or its index file is damaged, or missing (deleted,
	 * lost, not copied).  Only the first kind is garbage, and the
	 * only proof is that no snapshot uses a blob of it: every snapshot
	 * is walked, with the index rebuilt from the trailers.  When any
	 * snapshot cannot be walked, nothing is removed.  Packs whose
	 * trailer fails stay too (verify reports them). */
	n_rec = sp_strv_len(report.recovered_packs);
	if (n_rec > 0) {
		struct sp_err e;

		/* Recovered packs are numbered last (index.h). */
		first = sp_bk_index_pack_count(idx) - n_rec;
		used = sp_bk_index_new();
		in_use = calloc(n_rec, sizeof *in_use);
		if (in_use == NULL) {
			sp_fail_errno(err, ENOMEM, "backup");
			goto out;
		}
		if (mark_all(repo, idx, used, &e) < 0) {
			kept = n_rec;
		} else {
			for (size_t i = 0; i < sp_bk_index_count(idx); i++) {
				const struct sp_bk_index_entry *en = sp_bk_index_at(idx, i);

				if (en->pack >= first && sp_bk_index_find(used, en->loc.id) != NULL)
					in_use[en->pack - first] = true;
			}
			for (size_t k = 0; k < n_rec; k++) {
				char name[2 * SP_BK_ID_LEN + 1];

				if (in_use[k]) {
					kept++;
					continue;
				}
				sp_bk_hex(sp_bk_index_pack_name(idx, (uint32_t)(first + k)), SP_BK_ID_LEN, name);
				if (sp_bk_repo_remove(repo, "packs", name, err) < 0)
					goto out;
				removed++;
			}
		}
	}
	if (out != NULL && (tmp > 0 || removed > 0))
		fprintf(out, "removed what an interrupted backup left: %d temporary file%s, %zu pack%s\n", tmp,
			tmp == 1 ? "" : "s", removed, removed == 1 ? "" : "s");
	if (out != NULL && kept > 0)
		fprintf(out, "kept %zu pack%s that no index lists (a snapshot may use them; `spectrum backup repair' lists "
			     "them again)\n",
			kept, kept == 1 ? "" : "s");
	ret = 0;
out:
	free(in_use);
	sp_bk_index_free(used);
	sp_bk_index_load_report_free(&report);
out_idx:
	sp_bk_index_free(idx);
	return ret;
}

/* ---- repair ---- */

int sp_bk_repair(struct sp_bk_repo *repo, FILE *out, struct sp_err *err)
{
	struct sp_bk_index_load_report rep = { 0 };
	struct sp_bk_index *idx = sp_bk_index_new(), *fresh = sp_bk_index_new();
	char **packs = NULL, **from_index = NULL, **found = NULL;
	cleanup_free uint8_t *plain = NULL;
	char name[2 * SP_BK_ID_LEN + 1];
	size_t plen, n_trailer = 0, n_index = 0, n_bad = 0, n_gone = 0, n_old = 0;
	int tmp, ret = -1;

	tmp = sp_bk_repo_clean_tmp(repo, err);
	if (tmp < 0 || sp_bk_index_load(repo, idx, &rep, err) < 0 || sp_bk_repo_list(repo, "packs", &packs, err) < 0)
		goto out;
	/* Each pack that is there, from its own trailer; from the index
	 * files only when its trailer fails; not at all when both fail. */
	for (size_t i = 0; packs[i] != NULL; i++) {
		struct sp_bk_blob_loc *locs = NULL;
		uint8_t raw[SP_BK_ID_LEN];
		size_t n = 0;
		struct sp_err e;
		uint32_t pack;

		if (sp_bk_pack_read_trailer(repo, packs[i], &locs, &n, &e) == 0) {
			sp_bk_unhex(packs[i], raw, sizeof raw);
			pack = sp_bk_index_pack(fresh, raw);
			for (size_t k = 0; k < n; k++)
				sp_bk_index_add(fresh, pack, &locs[k]);
			free(locs);
			n_trailer++;
			continue;
		}
		if (sp_strv_push(&from_index, packs[i]) != 0) {
			sp_fail_errno(err, ENOMEM, "repair");
			goto out;
		}
	}
	for (size_t i = 0; from_index != NULL && i < sp_bk_index_count(idx); i++) {
		const struct sp_bk_index_entry *e = sp_bk_index_at(idx, i);

		sp_bk_hex(sp_bk_index_pack_name(idx, e->pack), SP_BK_ID_LEN, name);
		if (!sp_strv_contains(from_index, name))
			continue;
		sp_bk_index_add(fresh, sp_bk_index_pack(fresh, sp_bk_index_pack_name(idx, e->pack)), &e->loc);
		if (!sp_strv_contains(found, name) && sp_strv_push(&found, name) != 0) {
			sp_fail_errno(err, ENOMEM, "repair");
			goto out;
		}
	}
	for (size_t i = 0; from_index != NULL && from_index[i] != NULL; i++) {
		if (sp_strv_contains(found, from_index[i])) {
			n_index++;
			continue;
		}
		fprintf(out, "pack %s: its trailer is damaged and no index file lists it: left as it is, in no index\n",
			from_index[i]);
		n_bad++;
	}
	for (size_t p = 0; p < sp_bk_index_pack_count(idx); p++) {
		sp_bk_hex(sp_bk_index_pack_name(idx, (uint32_t)p), SP_BK_ID_LEN, name);
		if (!sorted_has(packs, sp_strv_len(packs), name)) {
			fprintf(out, "pack %s: listed by an index file but not there: no longer listed\n", name);
			n_gone++;
		}
	}
	if (sp_bk_index_encode(fresh, 0, (uint32_t)sp_bk_index_pack_count(fresh), &plain, &plen, err) < 0 ||
	    sp_bk_repo_put(repo, SP_BK_KIND_INDEX, plain, plen, name, err) < 0)
		goto out;
	/* The new index is on disk before any old one goes. */
	for (size_t i = 0; rep.index_files != NULL && rep.index_files[i] != NULL; i++) {
		if (strcmp(rep.index_files[i], name) == 0)
			continue;
		if (sp_bk_repo_remove(repo, SP_BK_KIND_INDEX, rep.index_files[i], err) < 0)
			goto out;
		n_old++;
	}
	for (size_t i = 0; rep.damaged_index != NULL && rep.damaged_index[i] != NULL; i++) {
		if (sp_bk_repo_remove(repo, SP_BK_KIND_INDEX, rep.damaged_index[i], err) < 0)
			goto out;
		n_old++;
	}
	if (sp_bk_repo_sync(repo, SP_BK_KIND_INDEX, err) < 0)
		goto out;
	fprintf(out,
		"index rebuilt: %zu pack%s (%zu from their trailers, %zu from index files), %zu blobs; %zu old index "
		"file%s replaced; %zu pack%s unreadable, %zu missing\n",
		n_trailer + n_index, n_trailer + n_index == 1 ? "" : "s", n_trailer, n_index,
		sp_bk_index_count(fresh), n_old, n_old == 1 ? "" : "s", n_bad, n_bad == 1 ? "" : "s", n_gone);
	ret = 0;
out:
	sp_strv_free(packs);
	sp_strv_free(from_index);
	sp_strv_free(found);
	sp_bk_index_load_report_free(&rep);
	sp_bk_index_free(idx);
	sp_bk_index_free(fresh);
	return ret;
}
