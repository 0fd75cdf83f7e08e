/* Decoding chunks ahead of a restore: a thread reads, unseals,
 * decompresses and checks the chunks the restore asked for while it
 * writes the ones before (on two cores, a restore is then bound by the
 * slower of the two, not by their sum).  Requests and results are kept
 * by id, so the order of use need not be the order of asking. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/index.h"
#include "backup/repo.h"
#include "util/err.h"

struct sp_bk_prefetch;

/* NULL when no thread can be started: sp_bk_prefetch_get then decodes
 * in the caller. */
struct sp_bk_prefetch *sp_bk_prefetch_start(struct sp_bk_repo *repo, const struct sp_bk_index *idx);

/* Asks for chunk ID (RAW_LEN bytes) to be decoded; false when the window
 * (bytes and slots asked for but not taken yet) is full. */
bool sp_bk_prefetch_ask(struct sp_bk_prefetch *p, const uint8_t id[SP_BK_ID_LEN], size_t raw_len);

/* Chunk ID, decoded: from an earlier ask (waiting for it if need be), or
 * decoded here.  The caller frees *PLAIN. */
int sp_bk_prefetch_get(struct sp_bk_prefetch *p, struct sp_bk_repo *repo, const struct sp_bk_index *idx,
		       const uint8_t id[SP_BK_ID_LEN], uint8_t **plain, size_t *len, struct sp_err *err);

void sp_bk_prefetch_stop(struct sp_bk_prefetch *p);
