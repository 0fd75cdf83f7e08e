/* libcrypto is loaded when a hash is first needed, not linked: only
 * switch and verify hash, and linking it made every `spectrum run` pay
 * for loading and relocating it (17,000 relocations: milliseconds, and
 * memory in each of an instance's three processes). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/sha256.h"

struct libcrypto {
	void *(*ctx_new)(void);
	void (*ctx_free)(void *);
	const void *(*sha256)(void);
	int (*init)(void *ctx, const void *md, void *engine);
	int (*update)(void *ctx, const void *data, size_t len);
	int (*final)(void *ctx, unsigned char *out, unsigned int *len);
};

static const struct libcrypto *libcrypto(void)
{
	/* The process's one copy of the library's entry points. */
	static struct libcrypto lc;
	static int state; /* 0 not tried, 1 loaded, -1 failed */
	void *h;

	if (state)
		return state > 0 ? &lc : NULL;
	state = -1;
	h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return NULL;
	*(void **)&lc.ctx_new = dlsym(h, "EVP_MD_CTX_new");
	*(void **)&lc.ctx_free = dlsym(h, "EVP_MD_CTX_free");
	*(void **)&lc.sha256 = dlsym(h, "EVP_sha256");
	*(void **)&lc.init = dlsym(h, "EVP_DigestInit_ex");
	*(void **)&lc.update = dlsym(h, "EVP_DigestUpdate");
	*(void **)&lc.final = dlsym(h, "EVP_DigestFinal_ex");
	if (!lc.ctx_new || !lc.ctx_free || !lc.sha256 || !lc.init || !lc.update || !lc.final)
		return NULL;
	state = 1;
	return &lc;
}

int sp_sha256_init(struct sp_sha256 *s)
{
	const struct libcrypto *lc = libcrypto();

	s->ctx = NULL;
	if (!lc)
		return -1;
	s->ctx = lc->ctx_new();
	if (!s->ctx || lc->init(s->ctx, lc->sha256(), NULL) != 1) {
		sp_sha256_free(s);
		return -1;
	}
	return 0;
}

void sp_sha256_update(struct sp_sha256 *s, const void *data, size_t len)
{
	if (s->ctx)
		libcrypto()->update(s->ctx, data, len);
}

void sp_sha256_final(struct sp_sha256 *s, uint8_t out[32])
{
	unsigned int n = 32;

	if (s->ctx)
		libcrypto()->final(s->ctx, out, &n);
	sp_sha256_free(s);
}

void sp_sha256_free(struct sp_sha256 *s)
{
	if (s->ctx)
		libcrypto()->ctx_free(s->ctx);
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
