/* The in-memory index: every blob id of the repository to its place.
 * Open addressing on the first 8 bytes of the id (ids are hashes, so
 * these are uniformly spread); entries stay in the order they came. */
#include "backup/index.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/bytes.h"
#include "backup/tree.h"
#include "util/cleanup.h"
#include "util/strv.h"

#define MAGIC "SPBKIX01"
#define MAGIC_LEN 8
#define LOC_LEN (1 + SP_BK_ID_LEN + 4 + 4 + 4)
#define EMPTY UINT32_MAX

struct table {
	uint32_t *slots;
	size_t cap; /* a power of two */
};

struct sp_bk_index {
	struct sp_bk_index_entry *entries;
	size_t n, cap;
	struct table blobs;
	uint8_t (*packs)[SP_BK_ID_LEN];
	size_t n_packs, cap_packs;
	struct table packtab;
	struct sp_bk_reader reader; /* for sp_bk_blob_load */
};

/* Where an id goes: SipHash of it under a key of this process.  Ids
 * come from files that may be forged; taken as they are, many ids that
 * share their first bytes would make every lookup a scan. */
static uint64_t key_of(const uint8_t *id)
{
	static uint8_t key[crypto_shorthash_KEYBYTES];
	static bool keyed;
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t k;

	if (!keyed) {
		if (sodium_init() < 0)
			abort();
		randombytes_buf(key, sizeof key);
		keyed = true;
	}
	crypto_shorthash(h, id, SP_BK_ID_LEN, key);
	memcpy(&k, h, sizeof k);
	return k;
}

/* The slot for ID in T: where it is, or the empty one where it would go. */
static size_t probe(const struct table *t, const uint8_t *id, const uint8_t *(*id_at)(const void *, uint32_t),
		    const void *ctx)
{
	size_t mask = t->cap - 1, i = (size_t)key_of(id) & mask;

	while (t->slots[i] != EMPTY && memcmp(id_at(ctx, t->slots[i]), id, SP_BK_ID_LEN) != 0)
		i = (i + 1) & mask;
	return i;
}

static const uint8_t *blob_id_at(const void *ctx, uint32_t i)
{
	return ((const struct sp_bk_index *)ctx)->entries[i].loc.id;
}

static const uint8_t *pack_id_at(const void *ctx, uint32_t i)
{
	return ((const struct sp_bk_index *)ctx)->packs[i];
}

/* Keeps T at most half full; aborts on allocation failure, like the
 * other small allocations of a command that cannot go on without them. */
static void table_reserve(struct table *t, size_t count, const uint8_t *(*id_at)(const void *, uint32_t),
			  const void *ctx)
{
	struct table nt;

	if (t->cap != 0 && count * 2 < t->cap)
		return;
	nt.cap = t->cap ? t->cap * 2 : 1024;
	nt.slots = malloc(nt.cap * sizeof *nt.slots);
	if (nt.slots == NULL)
		abort();
	memset(nt.slots, 0xff, nt.cap * sizeof *nt.slots);
	for (size_t i = 0; i < t->cap; i++) {
		if (t->slots[i] != EMPTY)
			nt.slots[probe(&nt, id_at(ctx, t->slots[i]), id_at, ctx)] = t->slots[i];
	}
	free(t->slots);
	*t = nt;
}

struct sp_bk_index *sp_bk_index_new(void)
{
	struct sp_bk_index *idx = calloc(1, sizeof *idx);

	if (idx == NULL)
		abort();
	idx->reader.fd = -1;
	table_reserve(&idx->blobs, 0, blob_id_at, idx);
	table_reserve(&idx->packtab, 0, pack_id_at, idx);
	return idx;
}

void sp_bk_index_free(struct sp_bk_index *idx)
{
	if (idx == NULL)
		return;
	sp_bk_reader_close(&idx->reader);
	free(idx->entries);
	free(idx->blobs.slots);
	free(idx->packs);
	free(idx->packtab.slots);
	free(idx);
}

/* The number of pack NAME, or EMPTY when IDX has none. */
static uint32_t find_pack(const struct sp_bk_index *idx, const uint8_t name[SP_BK_ID_LEN])
{
	return idx->packtab.slots[probe(&idx->packtab, name, pack_id_at, idx)];
}

uint32_t sp_bk_index_pack(struct sp_bk_index *idx, const uint8_t name[SP_BK_ID_LEN])
{
	size_t slot;

	table_reserve(&idx->packtab, idx->n_packs + 1, pack_id_at, idx);
	slot = probe(&idx->packtab, name, pack_id_at, idx);
	if (idx->packtab.slots[slot] != EMPTY)
		return idx->packtab.slots[slot];
	if (idx->n_packs == idx->cap_packs) {
		size_t cap = idx->cap_packs ? 2 * idx->cap_packs : 64;
		void *p = realloc(idx->packs, cap * sizeof *idx->packs);

		if (p == NULL)
			abort();
		idx->packs = p;
		idx->cap_packs = cap;
	}
	memcpy(idx->packs[idx->n_packs], name, SP_BK_ID_LEN);
	idx->packtab.slots[slot] = (uint32_t)idx->n_packs;
	return (uint32_t)idx->n_packs++;
}

const uint8_t *sp_bk_index_pack_name(const struct sp_bk_index *idx, uint32_t pack)
{
	return pack < idx->n_packs ? idx->packs[pack] : NULL;
}

size_t sp_bk_index_pack_count(const struct sp_bk_index *idx)
{
	return idx->n_packs;
}

void sp_bk_index_add(struct sp_bk_index *idx, uint32_t pack, const struct sp_bk_blob_loc *loc)
{
	size_t slot;

	table_reserve(&idx->blobs, idx->n + 1, blob_id_at, idx);
	slot = probe(&idx->blobs, loc->id, blob_id_at, idx);
	if (idx->blobs.slots[slot] != EMPTY)
		return;
	if (idx->n == idx->cap) {
		size_t cap = idx->cap ? 2 * idx->cap : 1024;
		void *p = realloc(idx->entries, cap * sizeof *idx->entries);

		if (p == NULL)
			abort();
		idx->entries = p;
		idx->cap = cap;
	}
	idx->entries[idx->n].loc = *loc;
	idx->entries[idx->n].pack = pack;
	idx->blobs.slots[slot] = (uint32_t)idx->n++;
}

const struct sp_bk_index_entry *sp_bk_index_find(const struct sp_bk_index *idx, const uint8_t id[SP_BK_ID_LEN])
{
	size_t slot = probe(&idx->blobs, id, blob_id_at, idx);

	return idx->blobs.slots[slot] == EMPTY ? NULL : &idx->entries[idx->blobs.slots[slot]];
}

size_t sp_bk_index_count(const struct sp_bk_index *idx)
{
	return idx->n;
}

const struct sp_bk_index_entry *sp_bk_index_at(const struct sp_bk_index *idx, size_t i)
{
	return i < idx->n ? &idx->entries[i] : NULL;
}

int sp_bk_index_encode(const struct sp_bk_index *idx, uint32_t first, uint32_t end, uint8_t **out, size_t *len,
		       struct sp_err *err)
{
	size_t npacks = end - first, size = MAGIC_LEN + 4, *count, *at;
	uint8_t *buf, *p;

	count = calloc(npacks + 1, sizeof *count);
	at = calloc(npacks + 1, sizeof *at);
	if (count == NULL || at == NULL) {
		free(count);
		free(at);
		return sp_fail_errno(err, ENOMEM, "index");
	}
	for (size_t i = 0; i < idx->n; i++) {
		if (idx->entries[i].pack >= first && idx->entries[i].pack < end)
			count[idx->entries[i].pack - first]++;
	}
	size += npacks * (SP_BK_ID_LEN + 4);
	for (size_t k = 0; k < npacks; k++)
		size += count[k] * LOC_LEN;
	buf = malloc(size);
	if (buf == NULL) {
		free(count);
		free(at);
		return sp_fail_errno(err, ENOMEM, "index");
	}
	memcpy(buf, MAGIC, MAGIC_LEN);
	sp_bk_put32(buf + MAGIC_LEN, (uint32_t)npacks);
	p = buf + MAGIC_LEN + 4;
	for (size_t k = 0; k < npacks; k++) {
		memcpy(p, idx->packs[first + k], SP_BK_ID_LEN);
		sp_bk_put32(p + SP_BK_ID_LEN, (uint32_t)count[k]);
		at[k] = (size_t)(p + SP_BK_ID_LEN + 4 - buf);
		p += SP_BK_ID_LEN + 4 + count[k] * LOC_LEN;
	}
	for (size_t i = 0; i < idx->n; i++) {
		const struct sp_bk_index_entry *e = &idx->entries[i];
		uint8_t *q;

		if (e->pack < first || e->pack >= end)
			continue;
		q = buf + at[e->pack - first];
		at[e->pack - first] += LOC_LEN;
		q[0] = e->loc.type;
		memcpy(q + 1, e->loc.id, SP_BK_ID_LEN);
		sp_bk_put32(q + 1 + SP_BK_ID_LEN, e->loc.offset);
		sp_bk_put32(q + 5 + SP_BK_ID_LEN, e->loc.stored_len);
		sp_bk_put32(q + 9 + SP_BK_ID_LEN, e->loc.raw_len);
	}
	free(count);
	free(at);
	*out = buf;
	*len = size;
	return 0;
}

int sp_bk_index_decode(const uint8_t *buf, size_t len, struct sp_bk_index *idx, struct sp_err *err)
{
	const uint8_t *p = buf + MAGIC_LEN + 4, *end = buf + len;
	uint32_t npacks;

	if (len < MAGIC_LEN + 4 || memcmp(buf, MAGIC, MAGIC_LEN) != 0)
		return sp_fail(err, SP_ERR_RUNTIME, "not an index (bad magic)");
	npacks = sp_bk_get32(buf + MAGIC_LEN);
	for (uint32_t k = 0; k < npacks; k++) {
		uint32_t nblobs, pack;

		if ((size_t)(end - p) < SP_BK_ID_LEN + 4)
			return sp_fail(err, SP_ERR_RUNTIME, "index: pack %u: beyond the end", k);
		nblobs = sp_bk_get32(p + SP_BK_ID_LEN);
		if ((size_t)(end - p - SP_BK_ID_LEN - 4) / LOC_LEN < nblobs)
			return sp_fail(err, SP_ERR_RUNTIME, "index: pack %u: %u blobs beyond the end", k, nblobs);
		pack = sp_bk_index_pack(idx, p);
		p += SP_BK_ID_LEN + 4;
		for (uint32_t i = 0; i < nblobs; i++, p += LOC_LEN) {
			struct sp_bk_blob_loc loc;

			loc.type = p[0];
			memcpy(loc.id, p + 1, SP_BK_ID_LEN);
			loc.offset = sp_bk_get32(p + 1 + SP_BK_ID_LEN);
			loc.stored_len = sp_bk_get32(p + 5 + SP_BK_ID_LEN);
			loc.raw_len = sp_bk_get32(p + 9 + SP_BK_ID_LEN);
			if ((loc.type != SP_BK_BLOB_DATA && loc.type != SP_BK_BLOB_TREE) || loc.offset < MAGIC_LEN ||
			    loc.stored_len < 1 || loc.stored_len > SP_BK_STORED_MAX || loc.raw_len > SP_BK_BLOB_MAX)
				return sp_fail(err, SP_ERR_RUNTIME, "index: pack %u, blob %u: bad type, place or length",
					       k, i);
			sp_bk_index_add(idx, pack, &loc);
		}
	}
	if (p != end)
		return sp_fail(err, SP_ERR_RUNTIME, "index: %zu bytes after its last pack", (size_t)(end - p));
	return 0;
}

void sp_bk_index_load_report_free(struct sp_bk_index_load_report *r)
{
	sp_strv_free(r->damaged_index);
	sp_strv_free(r->recovered_packs);
	sp_strv_free(r->unreadable_packs);
	sp_strv_free(r->index_files);
	memset(r, 0, sizeof *r);
}

static int push(char ***v, const char *s, struct sp_err *err)
{
	size_t n = 0;
	char **nv;

	while (*v != NULL && (*v)[n] != NULL)
		n++;
	nv = realloc(*v, (n + 2) * sizeof *nv);
	if (nv == NULL)
		return sp_fail_errno(err, ENOMEM, "index");
	nv[n] = strdup(s);
	nv[n + 1] = NULL;
	*v = nv;
	return nv[n] == NULL ? sp_fail_errno(err, ENOMEM, "index") : 0;
}

int sp_bk_index_load(struct sp_bk_repo *repo, struct sp_bk_index *idx, struct sp_bk_index_load_report *report,
		     struct sp_err *err)
{
	struct sp_bk_index_load_report local = { 0 };
	struct sp_bk_index_load_report *r = report != NULL ? report : &local;
	char **files = NULL, **packs = NULL;
	int ret = -1;

	memset(r, 0, sizeof *r);
	if (sp_bk_repo_list(repo, SP_BK_KIND_INDEX, &files, err) < 0)
		goto out;
	for (size_t i = 0; files[i] != NULL; i++) {
		cleanup_free uint8_t *plain = NULL;
		struct sp_bk_index *one = sp_bk_index_new();
		struct sp_err e;
		bool damaged;
		size_t len;
		int ok;

		/* Decoded on its own first: a damaged file adds nothing. */
		ok = sp_bk_repo_get(repo, SP_BK_KIND_INDEX, files[i], &plain, &len, &damaged, &e) == 0 &&
		     sp_bk_index_decode(plain, len, one, &e) == 0;
		if (ok) {
			for (size_t k = 0; k < one->n; k++)
				sp_bk_index_add(idx, sp_bk_index_pack(idx, one->packs[one->entries[k].pack]),
						&one->entries[k].loc);
			/* Packs listed with no blobs still count as listed. */
			for (size_t k = 0; k < one->n_packs; k++)
				sp_bk_index_pack(idx, one->packs[k]);
		}
		sp_bk_index_free(one);
		if (!ok && !damaged && e.errnum != 0) {
			*err = e;
			goto out;
		}
		if (push(ok ? &r->index_files : &r->damaged_index, files[i], err) < 0)
			goto out;
	}
	if (sp_bk_repo_list(repo, "packs", &packs, err) < 0)
		goto out;
	for (size_t i = 0; packs[i] != NULL; i++) {
		uint8_t name[SP_BK_ID_LEN];
		struct sp_bk_blob_loc *locs = NULL;
		size_t n = 0;
		uint32_t pack;
		struct sp_err e;

		if (sp_bk_unhex(packs[i], name, sizeof name) < 0 || find_pack(idx, name) != EMPTY)
			continue;
		/* Numbered only once its trailer is read: the packs
		 * found this way are exactly the last ones. */
		if (sp_bk_pack_read_trailer(repo, packs[i], &locs, &n, &e) < 0) {
			if (push(&r->unreadable_packs, packs[i], err) < 0)
				goto out;
			continue;
		}
		pack = sp_bk_index_pack(idx, name);
		for (size_t k = 0; k < n; k++)
			sp_bk_index_add(idx, pack, &locs[k]);
		free(locs);
		if (push(&r->recovered_packs, packs[i], err) < 0)
			goto out;
	}
	ret = 0;
out:
	sp_strv_free(files);
	sp_strv_free(packs);
	if (report == NULL)
		sp_bk_index_load_report_free(&local);
	return ret;
}

int sp_bk_pack_finish_into(struct sp_bk_pack_writer *w, struct sp_bk_index *idx, struct sp_err *err)
{
	struct sp_bk_blob_loc *locs = NULL;
	char name[2 * SP_BK_ID_LEN + 1];
	uint8_t raw[SP_BK_ID_LEN];
	uint32_t pack;
	size_t n;

	if (sp_bk_pack_writer_finish(w, name, &locs, &n, err) < 0)
		return -1;
	sp_bk_unhex(name, raw, sizeof raw);
	pack = sp_bk_index_pack(idx, raw);
	for (size_t i = 0; i < n; i++)
		sp_bk_index_add(idx, pack, &locs[i]);
	free(locs);
	return 0;
}

int sp_bk_blob_read(struct sp_bk_repo *repo, const struct sp_bk_index *idx, struct sp_bk_reader *reader,
		    const uint8_t id[SP_BK_ID_LEN], uint8_t type, uint8_t **plain, size_t *len, struct sp_err *err)
{
	const struct sp_bk_index_entry *e = sp_bk_index_find(idx, id);
	cleanup_free uint8_t *stored = NULL;
	char name[2 * SP_BK_ID_LEN + 1], path[160];
	ssize_t r;

	if (e == NULL)
		return sp_fail(err, SP_ERR_RUNTIME, "missing from the repository");
	if (e->loc.type != type)
		return sp_fail(err, SP_ERR_RUNTIME, "is a %s, not a %s", e->loc.type == SP_BK_BLOB_TREE ? "tree" : "chunk",
			       type == SP_BK_BLOB_TREE ? "tree" : "chunk");
	sp_bk_hex(idx->packs[e->pack], SP_BK_ID_LEN, name);
	if (reader->fd < 0 || reader->pack != e->pack) {
		sp_bk_reader_close(reader);
		snprintf(path, sizeof path, "packs/%.2s/%s", name, name);
		/* O_NONBLOCK: a fifo planted as a pack fails the pread
		 * (ESPIPE) instead of hanging the open. */
		reader->fd = openat(repo->dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (reader->fd < 0)
			return sp_fail_errno(err, errno, "pack %.12s", name);
		reader->pack = e->pack;
	}
	stored = malloc(e->loc.stored_len);
	if (stored == NULL)
		return sp_fail_errno(err, ENOMEM, "blob");
	r = pread(reader->fd, stored, e->loc.stored_len, e->loc.offset);
	if (r != (ssize_t)e->loc.stored_len)
		return r < 0 ? sp_fail_errno(err, errno, "pack %.12s", name)
			     : sp_fail(err, SP_ERR_RUNTIME, "pack %.12s is shorter than its index says", name);
	if (sp_bk_blob_decode(&repo->keys, &e->loc, stored, plain, len, err) < 0)
		return sp_err_wrap(err, "pack %.12s at %u", name, e->loc.offset);
	return 0;
}

void sp_bk_reader_close(struct sp_bk_reader *reader)
{
	if (reader->fd >= 0)
		close(reader->fd);
	reader->fd = -1;
}

int sp_bk_blob_load(struct sp_bk_repo *repo, const struct sp_bk_index *cidx, const uint8_t id[SP_BK_ID_LEN],
		    uint8_t type, uint8_t **plain, size_t *len, struct sp_err *err)
{
	/* Only the index's reader changes: reading is logically const. */
	struct sp_bk_index *idx = (struct sp_bk_index *)cidx;

	return sp_bk_blob_read(repo, idx, &idx->reader, id, type, plain, len, err);
}

int sp_bk_tree_load(struct sp_bk_repo *repo, const struct sp_bk_index *idx, const uint8_t id[SP_BK_ID_LEN],
		    struct sp_bk_tree *tree, struct sp_err *err)
{
	cleanup_free uint8_t *buf = NULL;
	char hex[2 * SP_BK_ID_LEN + 1];
	size_t len;

	if (sp_bk_blob_load(repo, idx, id, SP_BK_BLOB_TREE, &buf, &len, err) < 0 ||
	    sp_bk_tree_decode(buf, len, tree, err) < 0) {
		sp_bk_hex(id, SP_BK_ID_LEN, hex);
		return sp_err_wrap(err, "tree %.12s", hex);
	}
	return 0;
}
