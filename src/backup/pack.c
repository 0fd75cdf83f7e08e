/* Writing packs and reading their blobs and trailers.  Everything read
 * here may be damaged or hostile: lengths are checked before use, and a
 * blob is only handed out once its id matches its content. */
#include "backup/pack.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zstd.h>

#include "backup/bytes.h"
#include "util/cleanup.h"

#define MAGIC_LEN 8
#define TRAILER_MAGIC "SPBKTL01"
#define LOC_LEN (1 + SP_BK_ID_LEN + 4 + 4 + 4)
#define ZSTD_LEVEL 3
/* The number of blobs one trailer may list: far more than a pack of
 * SP_BK_PACK_TARGET bytes holds, few enough to bound what a hostile
 * length can make us allocate. */
#define TRAILER_MAX_BLOBS (1u << 20)
/* ... and so the largest trailer: checked before its bytes are
 * allocated (a forged length would otherwise ask for 4 GiB). */
#define TRAILER_MAX_LEN ((uint64_t)MAGIC_LEN + 4 + (uint64_t)TRAILER_MAX_BLOBS * LOC_LEN + SP_BK_SEAL_OVERHEAD)

struct sp_bk_pack_writer {
	struct sp_bk_repo *repo;
	int fd;
	char tmpname[64];
	crypto_generichash_state hash;
	size_t size;
	struct sp_bk_blob_loc *locs;
	size_t n, cap;
	ZSTD_CCtx *zc;
};

static void blob_ad(uint8_t type, const uint8_t id[SP_BK_ID_LEN], uint8_t ad[1 + SP_BK_ID_LEN])
{
	ad[0] = type;
	memcpy(ad + 1, id, SP_BK_ID_LEN);
}

static int emit(struct sp_bk_pack_writer *w, const void *buf, size_t len, struct sp_err *err)
{
	if (sp_bk_write_all(w->fd, buf, len) < 0)
		return sp_fail_errno(err, errno, "%s/%s", w->repo->path, w->tmpname);
	crypto_generichash_update(&w->hash, buf, len);
	w->size += len;
	return 0;
}

int sp_bk_pack_writer_new(struct sp_bk_repo *repo, struct sp_bk_pack_writer **out, struct sp_err *err)
{
	struct sp_bk_pack_writer *w = calloc(1, sizeof *w);

	if (w == NULL)
		return sp_fail_errno(err, ENOMEM, "pack");
	w->repo = repo;
	w->fd = sp_bk_repo_tmpfile(repo, w->tmpname, err);
	if (w->fd < 0) {
		free(w);
		return -1;
	}
	crypto_generichash_init(&w->hash, NULL, 0, SP_BK_ID_LEN);
	w->zc = ZSTD_createCCtx();
	if (w->zc == NULL || emit(w, SP_BK_PACK_MAGIC, MAGIC_LEN, err) < 0) {
		if (w->zc == NULL)
			sp_fail_errno(err, ENOMEM, "zstd");
		sp_bk_pack_writer_abort(w);
		return -1;
	}
	*out = w;
	return 0;
}

size_t sp_bk_pack_writer_size(const struct sp_bk_pack_writer *w)
{
	return w->size;
}

size_t sp_bk_pack_writer_count(const struct sp_bk_pack_writer *w)
{
	return w->n;
}

int sp_bk_blob_encode(const struct sp_bk_keys *keys, void *zctx, uint8_t type, const uint8_t id[SP_BK_ID_LEN],
		      const void *plain, size_t len, uint8_t **stored, size_t *stored_len, struct sp_err *err)
{
	size_t bound = ZSTD_compressBound(len) + 1, zlen, slen;
	cleanup_free uint8_t *z = NULL;
	uint8_t ad[1 + SP_BK_ID_LEN], *out;

	if (len > SP_BK_BLOB_MAX)
		return sp_fail(err, SP_ERR_RUNTIME, "blob of %zu bytes: larger than a blob may be", len);
	z = malloc(bound > len + 1 ? bound : len + 1);
	if (z == NULL)
		return sp_fail_errno(err, ENOMEM, "blob");
	zlen = ZSTD_compressCCtx(zctx, z + 1, bound - 1, plain, len, ZSTD_LEVEL);
	if (!ZSTD_isError(zlen) && zlen < len) {
		z[0] = 1;
		zlen += 1;
	} else {
		/* Incompressible: stored as it is. */
		z[0] = 0;
		memcpy(z + 1, plain, len);
		zlen = len + 1;
	}
	if (!keys->encrypted) {
		*stored = steal_ptr(&z);
		*stored_len = zlen;
		return 0;
	}
	slen = sp_bk_sealed_len(keys, zlen);
	out = malloc(slen);
	if (out == NULL)
		return sp_fail_errno(err, ENOMEM, "blob");
	blob_ad(type, id, ad);
	sp_bk_seal(keys, z, zlen, ad, sizeof ad, out);
	*stored = out;
	*stored_len = slen;
	return 0;
}

int sp_bk_pack_writer_append(struct sp_bk_pack_writer *w, uint8_t type, const uint8_t id[SP_BK_ID_LEN],
			     const uint8_t *stored, size_t stored_len, size_t raw_len, struct sp_err *err)
{
	struct sp_bk_blob_loc *loc;

	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		struct sp_bk_blob_loc *l = realloc(w->locs, cap * sizeof *l);

		if (l == NULL)
			return sp_fail_errno(err, ENOMEM, "pack");
		w->locs = l;
		w->cap = cap;
	}
	loc = &w->locs[w->n];
	memcpy(loc->id, id, SP_BK_ID_LEN);
	loc->type = type;
	loc->offset = (uint32_t)w->size;
	loc->stored_len = (uint32_t)stored_len;
	loc->raw_len = (uint32_t)raw_len;
	if (emit(w, stored, stored_len, err) < 0)
		return -1;
	w->n++;
	return 0;
}

int sp_bk_pack_writer_add(struct sp_bk_pack_writer *w, uint8_t type, const uint8_t id[SP_BK_ID_LEN],
			  const void *plain, size_t len, struct sp_err *err)
{
	cleanup_free uint8_t *stored = NULL;
	size_t slen;

	if (sp_bk_blob_encode(&w->repo->keys, w->zc, type, id, plain, len, &stored, &slen, err) < 0)
		return -1;
	return sp_bk_pack_writer_append(w, type, id, stored, slen, len, err);
}

void sp_bk_pack_writer_abort(struct sp_bk_pack_writer *w)
{
	if (w == NULL)
		return;
	if (w->fd >= 0) {
		close(w->fd);
		unlinkat(w->repo->dirfd, w->tmpname, 0);
	}
	ZSTD_freeCCtx(w->zc);
	free(w->locs);
	free(w);
}

int sp_bk_pack_writer_finish(struct sp_bk_pack_writer *w, char *name, struct sp_bk_blob_loc **locs, size_t *n,
			     struct sp_err *err)
{
	size_t plen = MAGIC_LEN + 4 + w->n * LOC_LEN, slen = sp_bk_sealed_len(&w->repo->keys, plen);
	cleanup_free uint8_t *plain = malloc(plen);
	cleanup_free uint8_t *sealed = malloc(slen + 4);
	uint8_t hash[SP_BK_ID_LEN], *p;
	int fd;

	if (plain == NULL || sealed == NULL) {
		sp_bk_pack_writer_abort(w);
		return sp_fail_errno(err, ENOMEM, "pack");
	}
	memcpy(plain, TRAILER_MAGIC, MAGIC_LEN);
	sp_bk_put32(plain + MAGIC_LEN, (uint32_t)w->n);
	p = plain + MAGIC_LEN + 4;
	for (size_t i = 0; i < w->n; i++, p += LOC_LEN) {
		p[0] = w->locs[i].type;
		memcpy(p + 1, w->locs[i].id, SP_BK_ID_LEN);
		sp_bk_put32(p + 1 + SP_BK_ID_LEN, w->locs[i].offset);
		sp_bk_put32(p + 5 + SP_BK_ID_LEN, w->locs[i].stored_len);
		sp_bk_put32(p + 9 + SP_BK_ID_LEN, w->locs[i].raw_len);
	}
	sp_bk_seal(&w->repo->keys, plain, plen, "trailer", 7, sealed);
	sp_bk_put32(sealed + slen, (uint32_t)slen);
	if (emit(w, sealed, slen + 4, err) < 0) {
		sp_bk_pack_writer_abort(w);
		return -1;
	}
	crypto_generichash_final(&w->hash, hash, sizeof hash);
	sp_bk_hex(hash, sizeof hash, name);
	fd = w->fd;
	w->fd = -1;
	if (sp_bk_repo_commit(w->repo, fd, w->tmpname, "packs", name, err) < 0) {
		sp_bk_pack_writer_abort(w);
		return -1;
	}
	*locs = steal_ptr(&w->locs);
	*n = w->n;
	sp_bk_pack_writer_abort(w);
	return 0;
}

int sp_bk_blob_decode(const struct sp_bk_keys *keys, const struct sp_bk_blob_loc *loc, const uint8_t *stored,
		      uint8_t **plain, size_t *len, struct sp_err *err)
{
	cleanup_free uint8_t *opened = malloc(loc->stored_len ? loc->stored_len : 1);
	cleanup_free uint8_t *out = malloc(loc->raw_len ? loc->raw_len : 1);
	uint8_t ad[1 + SP_BK_ID_LEN], id[SP_BK_ID_LEN];
	size_t olen = 0;

	if (opened == NULL || out == NULL)
		return sp_fail_errno(err, ENOMEM, "blob");
	blob_ad(loc->type, loc->id, ad);
	if (sp_bk_open(keys, stored, loc->stored_len, ad, sizeof ad, opened, &olen) < 0 || olen < 1)
		return sp_fail(err, SP_ERR_RUNTIME, "does not decrypt");
	if (opened[0] == 0) {
		if (olen - 1 != loc->raw_len)
			return sp_fail(err, SP_ERR_RUNTIME, "length differs from the index");
		memcpy(out, opened + 1, olen - 1);
	} else if (opened[0] == 1) {
		size_t r = ZSTD_decompress(out, loc->raw_len, opened + 1, olen - 1);

		if (ZSTD_isError(r) || r != loc->raw_len)
			return sp_fail(err, SP_ERR_RUNTIME, "does not decompress");
	} else {
		return sp_fail(err, SP_ERR_RUNTIME, "unknown encoding %u", opened[0]);
	}
	sp_bk_blob_id(keys, out, loc->raw_len, id);
	if (sodium_memcmp(id, loc->id, SP_BK_ID_LEN) != 0)
		return sp_fail(err, SP_ERR_RUNTIME, "content does not match its id");
	*plain = steal_ptr(&out);
	*len = loc->raw_len;
	return 0;
}

/* TAIL: the trailer's sealed bytes, TLEN of them, at the end of a pack
 * of PACK_LEN bytes (its last 4 bytes being TLEN). */
static int parse_trailer(const struct sp_bk_keys *keys, const uint8_t *tail, size_t tlen, uint64_t pack_len,
			 struct sp_bk_blob_loc **locs, size_t *n, struct sp_err *err)
{
	cleanup_free uint8_t *plain = malloc(tlen ? tlen : 1);
	uint64_t blobs_end = pack_len - 4 - tlen;
	size_t plen = 0;
	uint32_t count;
	struct sp_bk_blob_loc *v;
	const uint8_t *p;

	if (plain == NULL)
		return sp_fail_errno(err, ENOMEM, "trailer");
	if (sp_bk_open(keys, tail, tlen, "trailer", 7, plain, &plen) < 0)
		return sp_fail(err, SP_ERR_RUNTIME, "trailer does not decrypt");
	if (plen < MAGIC_LEN + 4 || memcmp(plain, TRAILER_MAGIC, MAGIC_LEN) != 0)
		return sp_fail(err, SP_ERR_RUNTIME, "trailer: bad magic");
	count = sp_bk_get32(plain + MAGIC_LEN);
	if (count > TRAILER_MAX_BLOBS || (plen - MAGIC_LEN - 4) / LOC_LEN != count ||
	    (plen - MAGIC_LEN - 4) % LOC_LEN != 0)
		return sp_fail(err, SP_ERR_RUNTIME, "trailer: %u blobs do not fit its length", count);
	v = calloc(count ? count : 1, sizeof *v);
	if (v == NULL)
		return sp_fail_errno(err, ENOMEM, "trailer");
	p = plain + MAGIC_LEN + 4;
	for (uint32_t i = 0; i < count; i++, p += LOC_LEN) {
		v[i].type = p[0];
		memcpy(v[i].id, p + 1, SP_BK_ID_LEN);
		v[i].offset = sp_bk_get32(p + 1 + SP_BK_ID_LEN);
		v[i].stored_len = sp_bk_get32(p + 5 + SP_BK_ID_LEN);
		v[i].raw_len = sp_bk_get32(p + 9 + SP_BK_ID_LEN);
		if ((v[i].type != SP_BK_BLOB_DATA && v[i].type != SP_BK_BLOB_TREE) || v[i].offset < MAGIC_LEN ||
		    (uint64_t)v[i].offset + v[i].stored_len > blobs_end || v[i].stored_len < 1 ||
		    v[i].stored_len > SP_BK_STORED_MAX ||
		    v[i].raw_len > SP_BK_BLOB_MAX) {
			free(v);
			return sp_fail(err, SP_ERR_RUNTIME, "trailer: blob %u: bad type, place or length", i);
		}
	}
	*locs = v;
	*n = count;
	return 0;
}

int sp_bk_pack_trailer_parse(const struct sp_bk_keys *keys, const uint8_t *pack, size_t len,
			     struct sp_bk_blob_loc **locs, size_t *n, struct sp_err *err)
{
	uint32_t tlen;

	if (len < MAGIC_LEN + 4 || memcmp(pack, SP_BK_PACK_MAGIC, MAGIC_LEN) != 0)
		return sp_fail(err, SP_ERR_RUNTIME, "not a pack (bad magic)");
	tlen = sp_bk_get32(pack + len - 4);
	if ((uint64_t)tlen + 4 + MAGIC_LEN > len || tlen > TRAILER_MAX_LEN)
		return sp_fail(err, SP_ERR_RUNTIME, "trailer length %u beyond the pack", tlen);
	return parse_trailer(keys, pack + len - 4 - tlen, tlen, len, locs, n, err);
}

int sp_bk_pack_read_trailer(struct sp_bk_repo *repo, const char *name, struct sp_bk_blob_loc **locs, size_t *n,
			    struct sp_err *err)
{
	char path[160];
	cleanup_fd int fd = -1;
	cleanup_free uint8_t *tail = NULL;
	uint8_t head[MAGIC_LEN], lenbuf[4];
	struct stat st;
	uint32_t tlen;

	snprintf(path, sizeof path, "packs/%.2s/%s", name, name);
	/* O_NONBLOCK: a FIFO in packs/ must not block the open. */
	fd = openat(repo->dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0)
		return sp_fail_errno(err, errno, "%s/%s", repo->path, path);
	if (!S_ISREG(st.st_mode) || st.st_size < MAGIC_LEN + 4 || pread(fd, head, sizeof head, 0) != sizeof head ||
	    memcmp(head, SP_BK_PACK_MAGIC, MAGIC_LEN) != 0 ||
	    pread(fd, lenbuf, sizeof lenbuf, st.st_size - 4) != sizeof lenbuf)
		return sp_fail(err, SP_ERR_RUNTIME, "%s/%s: not a pack", repo->path, path);
	tlen = sp_bk_get32(lenbuf);
	if ((uint64_t)tlen + 4 + MAGIC_LEN > (uint64_t)st.st_size || tlen > TRAILER_MAX_LEN)
		return sp_fail(err, SP_ERR_RUNTIME, "%s/%s: trailer length beyond the pack", repo->path, path);
	tail = malloc(tlen ? tlen : 1);
	if (tail == NULL)
		return sp_fail_errno(err, ENOMEM, "trailer");
	if (pread(fd, tail, tlen, st.st_size - 4 - tlen) != (ssize_t)tlen)
		return sp_fail_errno(err, errno ? errno : EIO, "%s/%s", repo->path, path);
	if (parse_trailer(&repo->keys, tail, tlen, (uint64_t)st.st_size, locs, n, err) < 0)
		return sp_err_wrap(err, "%s/%s", repo->path, path);
	return 0;
}
