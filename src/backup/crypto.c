#include "backup/crypto.h"

#include <sodium.h>
#include <string.h>

int sp_bk_crypto_init(struct sp_err *err)
{
	if (sodium_init() < 0)
		return sp_fail(err, SP_ERR_RUNTIME, "libsodium cannot be initialised");
	return 0;
}

void sp_bk_blob_id(const struct sp_bk_keys *keys, const void *data, size_t len, uint8_t out[SP_BK_ID_LEN])
{
	crypto_generichash(out, SP_BK_ID_LEN, data, len, keys->id, sizeof keys->id);
}

void sp_bk_hash(const void *data, size_t len, uint8_t out[SP_BK_ID_LEN])
{
	crypto_generichash(out, SP_BK_ID_LEN, data, len, NULL, 0);
}

size_t sp_bk_sealed_len(const struct sp_bk_keys *keys, size_t len)
{
	return keys->encrypted ? len + SP_BK_SEAL_OVERHEAD : len;
}

void sp_bk_seal(const struct sp_bk_keys *keys, const void *plain, size_t len, const void *ad, size_t adlen,
		uint8_t *out)
{
	uint8_t *nonce = out;

	if (!keys->encrypted) {
		memmove(out, plain, len);
		return;
	}
	randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NULL, plain,
						   len, ad, adlen, NULL, nonce, keys->enc);
}

int sp_bk_open(const struct sp_bk_keys *keys, const uint8_t *sealed, size_t len, const void *ad, size_t adlen,
	       uint8_t *out, size_t *outlen)
{
	unsigned long long n = 0;

	if (!keys->encrypted) {
		memmove(out, sealed, len);
		*outlen = len;
		return 0;
	}
	if (len < SP_BK_SEAL_OVERHEAD)
		return -1;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &n, NULL,
						       sealed + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
						       len - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, ad, adlen,
						       sealed, keys->enc) != 0)
		return -1;
	*outlen = (size_t)n;
	return 0;
}

void sp_bk_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int sp_bk_unhex(const char *hex, uint8_t *out, size_t n)
{
	if (strlen(hex) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
