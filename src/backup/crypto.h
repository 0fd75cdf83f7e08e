/* The repository's keys and the three things done with them: content
 * addresses (keyed BLAKE2b-256, so that an encrypted repository does not
 * reveal which known files it holds), sealing (XChaCha20-Poly1305 with a
 * random nonce; nothing when the repository is not encrypted) and the
 * passphrase's key (Argon2id).  All of it is libsodium. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define SP_BK_ID_LEN 32
#define SP_BK_KEY_LEN 32
#define SP_BK_SEAL_OVERHEAD 40 /* 24-byte nonce + 16-byte tag */

struct sp_bk_keys {
	bool encrypted;
	uint8_t enc[SP_BK_KEY_LEN];  /* sealing key (zero when not encrypted) */
	uint8_t id[SP_BK_KEY_LEN];   /* key of the content addresses */
	uint8_t gear[SP_BK_KEY_LEN]; /* seed of the chunker's table */
};

/* sodium_init(), once; fails only when libsodium cannot run. */
int sp_bk_crypto_init(struct sp_err *err);

/* OUT = keyed BLAKE2b-256 of DATA (the id key). */
void sp_bk_blob_id(const struct sp_bk_keys *keys, const void *data, size_t len, uint8_t out[SP_BK_ID_LEN]);

/* Unkeyed BLAKE2b-256, for file names (the name of a stored file is the
 * hash of its bytes as stored: a flipped byte is seen without a key). */
void sp_bk_hash(const void *data, size_t len, uint8_t out[SP_BK_ID_LEN]);

/* Bytes that sp_bk_seal writes for LEN bytes of plain text. */
size_t sp_bk_sealed_len(const struct sp_bk_keys *keys, size_t len);

/* OUT (sp_bk_sealed_len bytes) = nonce | XChaCha20-Poly1305(PLAIN) with
 * additional data AD, or a copy of PLAIN when not encrypted. */
void sp_bk_seal(const struct sp_bk_keys *keys, const void *plain, size_t len, const void *ad, size_t adlen,
		uint8_t *out);

/* The reverse; OUT holds at least LEN bytes, *OUTLEN gets the plain
 * length.  Returns -1 (no message: the caller knows what it read) when the
 * tag does not match or LEN is too short. */
int sp_bk_open(const struct sp_bk_keys *keys, const uint8_t *sealed, size_t len, const void *ad, size_t adlen,
	       uint8_t *out, size_t *outlen);

/* Hex of N bytes into OUT (2N+1 bytes), and back (-1 when not N bytes of
 * lower-case hex). */
void sp_bk_hex(const uint8_t *in, size_t n, char *out);
int sp_bk_unhex(const char *hex, uint8_t *out, size_t n);
