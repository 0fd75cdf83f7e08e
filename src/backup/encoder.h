/* Compressing and sealing blobs on other threads while a backup reads,
 * cuts and hashes: zstd and XChaCha20-Poly1305 are most of a first
 * backup's work, and on two cores they then run beside the rest.  Blobs
 * come back in any order: a pack's blobs need none. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/crypto.h"
#include "util/err.h"

struct sp_bk_encoder;

struct sp_bk_encoded {
	uint8_t type;
	uint8_t id[SP_BK_ID_LEN];
	uint8_t *stored; /* malloc'ed: the caller frees it */
	size_t stored_len, raw_len;
};

/* NULL when no thread can be started (the caller then encodes itself). */
struct sp_bk_encoder *sp_bk_encoder_start(const struct sp_bk_keys *keys);

/* Hands a copy of PLAIN over: 0; or 1 when the queue is full (then take
 * one, waiting, and submit again). */
int sp_bk_encoder_submit(struct sp_bk_encoder *e, uint8_t type, const uint8_t id[SP_BK_ID_LEN], const void *plain,
			 size_t len, struct sp_err *err);

/* One encoded blob: 1 when OUT got one, 0 when none is ready (or, with
 * WAIT, none is left at all), -1 when encoding one failed. */
int sp_bk_encoder_take(struct sp_bk_encoder *e, bool wait, struct sp_bk_encoded *out, struct sp_err *err);

void sp_bk_encoder_stop(struct sp_bk_encoder *e);
