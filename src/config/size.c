#include <stdint.h>

#include "config/model.h"

/* The shift for a binary suffix letter, or 0 when C is not one. */
static unsigned suffix_shift(char c)
{
	switch (c) {
	case 'k':
	case 'K':
		return 10;
	case 'm':
	case 'M':
		return 20;
	case 'g':
	case 'G':
		return 30;
	case 't':
	case 'T':
		return 40;
	default:
		return 0;
	}
}

/* Digits only, checked by hand: strtoull would accept leading blanks, a
 * sign and hexadecimal, none of which belongs in a configuration. */
int sp_parse_size(const char *text, uint64_t *bytes)
{
	const char *p = text;
	uint64_t n = 0;
	unsigned shift;

	if (!text || !(*p >= '0' && *p <= '9'))
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned digit = (unsigned)(*p - '0');

		if (n > (UINT64_MAX - digit) / 10)
			return -1;
		n = n * 10 + digit;
	}

	shift = suffix_shift(*p);
	if (shift != 0) {
		p++;
		/* "256M", "256MB" and "256MiB" all mean 256 << 20. */
		if (p[0] == 'i' && p[1] == 'B')
			p += 2;
		else if (p[0] == 'B')
			p++;
	} else if (p[0] == 'B') {
		p++; /* "512B": plain bytes */
	}
	if (*p != '\0')
		return -1;
	if (n > (UINT64_MAX >> shift))
		return -1;
	*bytes = n << shift;
	return 0;
}
