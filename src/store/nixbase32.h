/* Nix's base-32: the encoding of hashes in store paths and in
 * `nix-store -q --hash` ("sha256:<52 chars>").  It is not RFC 4648: the
 * alphabet omits e, o, u and t (so that no word is spelt by accident),
 * and the bits are taken from the end of the hash, least significant
 * first, so the first character holds the hash's last (high) bits. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SP_NIXBASE32_ALPHABET "0123456789abcdfghijklmnpqrsvwxyz"

/* Length of the encoding of LEN bytes: ceil(LEN * 8 / 5), 52 for 32. */
static inline size_t sp_nixbase32_len(size_t len)
{
	return len == 0 ? 0 : (len * 8 - 1) / 5 + 1;
}

/* Writes the encoding of IN[0..LEN) and a NUL into OUT.  Returns the
 * number of characters (without the NUL), or -1 when OUTSIZE is too
 * small for them and the NUL. */
int sp_nixbase32_encode(const uint8_t *in, size_t len, char *out, size_t outsize);

/* Decodes IN[0..INLEN) into exactly OUTLEN bytes.  Returns 0, or -1 when
 * INLEN is not sp_nixbase32_len(OUTLEN), a character is outside the
 * alphabet, or the encoding has bits set beyond OUTLEN bytes. */
int sp_nixbase32_decode(const char *in, size_t inlen, uint8_t *out, size_t outlen);
