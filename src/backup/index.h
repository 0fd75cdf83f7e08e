/* Which blob is where: the index files of a repository in one hash
 * table, and the encoding of one index file:
 *
 *   plain text: "SPBKIX01", u32 number of packs, then per pack its 32-byte
 *   hash, u32 number of blobs, and per blob: u8 type, 32-byte id, u32
 *   offset, u32 stored length, u32 raw length.  Little-endian. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/pack.h"
#include "backup/repo.h"
#include "util/err.h"

struct sp_bk_index;

struct sp_bk_index_entry {
	struct sp_bk_blob_loc loc;
	uint32_t pack; /* number of its pack in the index */
};

struct sp_bk_index *sp_bk_index_new(void);
void sp_bk_index_free(struct sp_bk_index *idx);

/* The number of pack NAME in IDX (added if new). */
uint32_t sp_bk_index_pack(struct sp_bk_index *idx, const uint8_t name[SP_BK_ID_LEN]);
const uint8_t *sp_bk_index_pack_name(const struct sp_bk_index *idx, uint32_t pack);
size_t sp_bk_index_pack_count(const struct sp_bk_index *idx);

/* Adds a blob; a blob already there keeps its first place. */
void sp_bk_index_add(struct sp_bk_index *idx, uint32_t pack, const struct sp_bk_blob_loc *loc);
const struct sp_bk_index_entry *sp_bk_index_find(const struct sp_bk_index *idx, const uint8_t id[SP_BK_ID_LEN]);
size_t sp_bk_index_count(const struct sp_bk_index *idx);
/* Entry I (0 <= I < count), in the order they were added. */
const struct sp_bk_index_entry *sp_bk_index_at(const struct sp_bk_index *idx, size_t i);

/* One index file's plain text for packs [FIRST, END) of IDX. */
int sp_bk_index_encode(const struct sp_bk_index *idx, uint32_t first, uint32_t end, uint8_t **out, size_t *len,
		       struct sp_err *err);
/* Adds what one index file's plain text lists to IDX. */
int sp_bk_index_decode(const uint8_t *buf, size_t len, struct sp_bk_index *idx, struct sp_err *err);

struct sp_bk_index_load_report {
	char **damaged_index;   /* index files that failed a check (NULL-terminated) */
	char **recovered_packs; /* packs no good index lists, read from their trailers */
	char **unreadable_packs;/* packs no good index lists whose trailer failed too */
	char **index_files;     /* every good index file */
};
void sp_bk_index_load_report_free(struct sp_bk_index_load_report *r);

/* Loads every index file of REPO, then the trailer of every pack that no
 * good index file lists (a damaged index loses nothing; a pack left by a
 * killed backup is found too).  REPORT may be NULL. */
int sp_bk_index_load(struct sp_bk_repo *repo, struct sp_bk_index *idx, struct sp_bk_index_load_report *report,
		     struct sp_err *err);

/* Finishes pack writer W (sp_bk_pack_writer_finish) and adds the pack
 * and its blobs to IDX.  Frees W in every case. */
int sp_bk_pack_finish_into(struct sp_bk_pack_writer *w, struct sp_bk_index *idx, struct sp_err *err);

/* An open pack, kept between reads: a restore reads chunks in order.
 * One per thread (the index keeps one for sp_bk_blob_load). */
struct sp_bk_reader {
	int fd;        /* -1: none open */
	uint32_t pack;
};

/* Reads, unseals, decompresses and checks blob ID through READER. */
int sp_bk_blob_read(struct sp_bk_repo *repo, const struct sp_bk_index *idx, struct sp_bk_reader *reader,
		    const uint8_t id[SP_BK_ID_LEN], uint8_t type, uint8_t **plain, size_t *len, struct sp_err *err);
void sp_bk_reader_close(struct sp_bk_reader *reader);

/* The directory listing ID: loaded, checked and decoded (errors name it). */
struct sp_bk_tree;
int sp_bk_tree_load(struct sp_bk_repo *repo, const struct sp_bk_index *idx, const uint8_t id[SP_BK_ID_LEN],
		    struct sp_bk_tree *tree, struct sp_err *err);

/* Reads, unseals, decompresses and checks blob ID. */
int sp_bk_blob_load(struct sp_bk_repo *repo, const struct sp_bk_index *idx, const uint8_t id[SP_BK_ID_LEN],
		    uint8_t type, uint8_t **plain, size_t *len, struct sp_err *err);
