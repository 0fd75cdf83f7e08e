#include "store/nixbase32.h"

#include <string.h>

static const char alphabet[] = SP_NIXBASE32_ALPHABET;

int sp_nixbase32_encode(const uint8_t *in, size_t len, char *out, size_t outsize)
{
	size_t n = sp_nixbase32_len(len);

	if (outsize < n + 1)
		return -1;
	/* Character n counts from the end; digit n is the 5 bits starting
	 * at bit n*5 of the hash read as one little-endian number. */
	for (size_t k = 0; k < n; k++) {
		size_t b = (n - 1 - k) * 5;
		size_t i = b / 8;
		unsigned int j = b % 8;
		unsigned int c = in[i] >> j;

		if (i + 1 < len)
			c |= (unsigned int)in[i + 1] << (8 - j);
		out[k] = alphabet[c & 0x1f];
	}
	out[n] = '\0';
	return (int)n;
}

int sp_nixbase32_decode(const char *in, size_t inlen, uint8_t *out, size_t outlen)
{
	if (inlen != sp_nixbase32_len(outlen))
		return -1;
	memset(out, 0, outlen);
	for (size_t n = 0; n < inlen; n++) {
		const char *p;
		unsigned int digit;
		size_t b = n * 5;
		size_t i = b / 8;
		unsigned int j = b % 8;

		if (in[inlen - 1 - n] == '\0')
			return -1;
		p = strchr(alphabet, in[inlen - 1 - n]);
		if (!p)
			return -1;
		digit = (unsigned int)(p - alphabet);
		out[i] |= (uint8_t)(digit << j);
		if (i + 1 < outlen)
			out[i + 1] |= (uint8_t)(digit >> (8 - j));
		else if (digit >> (8 - j))
			return -1; /* bits beyond the last byte: not a canonical encoding */
	}
	return 0;
}
