/* Content-defined chunking (FastCDC with normalized chunking): cut
 * points depend on the bytes around them, so data that shifts by an
 * insertion still cuts at the same places and deduplicates.  The gear
 * table is derived from a per-repository seed, so that chunk sizes do not
 * reveal known files in an encrypted repository. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SP_BK_CHUNK_MIN (128u * 1024)
#define SP_BK_CHUNK_AVG (512u * 1024)
#define SP_BK_CHUNK_MAX (2048u * 1024)

struct sp_bk_chunker {
	uint64_t gear[256];
};

void sp_bk_chunker_init(struct sp_bk_chunker *c, const uint8_t seed[32]);

/* The length of the next chunk of BUF[0..LEN): LEN itself when LEN <=
 * SP_BK_CHUNK_MIN, never more than SP_BK_CHUNK_MAX.  When fewer than
 * SP_BK_CHUNK_MAX bytes are given and no cut point is found, returns LEN:
 * the caller gives at least SP_BK_CHUNK_MAX bytes unless at the end of
 * the file. */
size_t sp_bk_chunk_next(const struct sp_bk_chunker *c, const uint8_t *buf, size_t len);
