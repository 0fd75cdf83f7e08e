#include <openssl/evp.h>

#include "util/sha256.h"

int sp_sha256_init(struct sp_sha256 *s)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	s->ctx = c;
	if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(c);
		s->ctx = NULL;
		return -1;
	}
	return 0;
}

void sp_sha256_update(struct sp_sha256 *s, const void *data, size_t len)
{
	if (s->ctx)
		EVP_DigestUpdate(s->ctx, data, len);
}

void sp_sha256_final(struct sp_sha256 *s, uint8_t out[32])
{
	unsigned int n = 32;

	if (s->ctx)
		EVP_DigestFinal_ex(s->ctx, out, &n);
	sp_sha256_free(s);
}

void sp_sha256_free(struct sp_sha256 *s)
{
	EVP_MD_CTX_free(s->ctx);
	s->ctx = NULL;
}

void sp_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}
