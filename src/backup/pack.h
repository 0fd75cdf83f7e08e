/* Pack files: many blobs in one file, so that a repository on a slow or
 * remote disk holds thousands of files, not millions.
 *
 *   "SPBKPK01"                      8 bytes
 *   blob, blob, ...                 each sealed on its own (additional
 *                                   data: type and id); its plain text is
 *                                   one byte 0 (raw) or 1 (zstd) and the
 *                                   bytes
 *   trailer                         sealed list of the blobs (type, id,
 *                                   offset, stored and raw length)
 *   u32 LE                          the trailer's stored length
 *
 * The index files say where each blob is; the trailers say it again, so
 * that a damaged index file loses nothing. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "backup/crypto.h"
#include "backup/repo.h"
#include "util/err.h"

#define SP_BK_PACK_MAGIC "SPBKPK01"
#define SP_BK_PACK_TARGET (16u * 1024 * 1024)
/* No blob (a chunk, or a tree) is larger: trees beyond it are refused. */
#define SP_BK_BLOB_MAX (64u * 1024 * 1024)
/* ... and none takes more than this stored (zstd's worst case for the
 * largest blob, a byte of encoding, the seal). */
#define SP_BK_STORED_MAX (SP_BK_BLOB_MAX + (1u << 20))

enum sp_bk_blob_type {
	SP_BK_BLOB_DATA = 1,
	SP_BK_BLOB_TREE = 2,
};

struct sp_bk_blob_loc {
	uint8_t id[SP_BK_ID_LEN];
	uint8_t type;
	uint32_t offset, stored_len, raw_len;
};

struct sp_bk_pack_writer;

int sp_bk_pack_writer_new(struct sp_bk_repo *repo, struct sp_bk_pack_writer **w, struct sp_err *err);

/* Compresses (when that makes it smaller), seals and appends one blob. */
int sp_bk_pack_writer_add(struct sp_bk_pack_writer *w, uint8_t type, const uint8_t id[SP_BK_ID_LEN],
			  const void *plain, size_t len, struct sp_err *err);

/* One blob as a pack holds it: compressed with zstd (ZCTX, a ZSTD_CCtx
 * of the caller's thread) when that makes it smaller, then sealed.
 * *STORED is malloc'ed.  Safe to call from several threads at once. */
int sp_bk_blob_encode(const struct sp_bk_keys *keys, void *zctx, uint8_t type, const uint8_t id[SP_BK_ID_LEN],
		      const void *plain, size_t len, uint8_t **stored, size_t *stored_len, struct sp_err *err);

/* Appends a blob that sp_bk_blob_encode made. */
int sp_bk_pack_writer_append(struct sp_bk_pack_writer *w, uint8_t type, const uint8_t id[SP_BK_ID_LEN],
			     const uint8_t *stored, size_t stored_len, size_t raw_len, struct sp_err *err);

/* Bytes written so far (the writer's owner finishes at SP_BK_PACK_TARGET). */
size_t sp_bk_pack_writer_size(const struct sp_bk_pack_writer *w);
size_t sp_bk_pack_writer_count(const struct sp_bk_pack_writer *w);

/* Writes the trailer and commits the pack under its hash (NAME, 65
 * bytes); *LOCS gets its blobs (malloc'ed). Frees W in every case. */
int sp_bk_pack_writer_finish(struct sp_bk_pack_writer *w, char *name, struct sp_bk_blob_loc **locs, size_t *n,
			     struct sp_err *err);

/* Removes the unfinished pack. Safe on NULL. */
void sp_bk_pack_writer_abort(struct sp_bk_pack_writer *w);

/* Unseals and decompresses one blob's STORED bytes (LOC->stored_len of
 * them) and checks its id.  -1 with a message on any mismatch. */
int sp_bk_blob_decode(const struct sp_bk_keys *keys, const struct sp_bk_blob_loc *loc, const uint8_t *stored,
		      uint8_t **plain, size_t *len, struct sp_err *err);

/* The blob list of a whole pack's bytes (its trailer), checked against
 * the pack's length. */
int sp_bk_pack_trailer_parse(const struct sp_bk_keys *keys, const uint8_t *pack, size_t len,
			     struct sp_bk_blob_loc **locs, size_t *n, struct sp_err *err);

/* Reads only the trailer of pack NAME (two preads). */
int sp_bk_pack_read_trailer(struct sp_bk_repo *repo, const char *name, struct sp_bk_blob_loc **locs, size_t *n,
			    struct sp_err *err);
