/* FNV-1a, 32 bits, of a string: stable names from names (instance ids,
 * id ranges, link names).  Not a secret and not collision-free: callers
 * handle collisions. */
#pragma once

#include <stdint.h>

static inline uint32_t sp_fnv1a32(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}
