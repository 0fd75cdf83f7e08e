#include "net/addr.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t oui[3] = { 0x0a, 0xb3, 0xec };

/* FNV-1a, 64 bits: stable across builds and machines, which a MAC must
 * be; not a secret. */
static uint64_t fnv1a(const char *s, unsigned attempt)
{
	uint64_t h = 0xcbf29ce484222325u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3u;
	}
	for (int i = 0; i < 4; i++) {
		h ^= (attempt >> (8 * i)) & 0xff;
		h *= 0x100000001b3u;
	}
	return h;
}

void sp_net_mac_for(const char *name, unsigned attempt, uint8_t mac[6])
{
	uint64_t h = fnv1a(name, attempt);

	memcpy(mac, oui, sizeof oui);
	/* Fold the high bits in: FNV's low bits alone mix less. */
	h ^= h >> 32;
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

static bool reserved(const uint8_t mac[6])
{
	unsigned xy = (unsigned)mac[4] << 8 | mac[5];

	return xy == 0 || xy == 1 || xy == 0xffff;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

int sp_net_assign(char *const *names, size_t n, uint8_t (*macs)[6])
{
	/* 65536 addresses: a bitmap of the ones taken. */
	uint8_t *taken = calloc(65536 / 8, 1);
	char *const **order = calloc(n ? n : 1, sizeof *order);
	int ret = -1;

	if (taken == NULL || order == NULL)
		goto out;
	for (size_t i = 0; i < n; i++)
		order[i] = &names[i];
	qsort(order, n, sizeof *order, name_cmp);
	for (size_t k = 0; k < n; k++) {
		size_t i = (size_t)(order[k] - names);
		unsigned attempt = 0;

		for (;; attempt++) {
			unsigned xy;

			if (attempt > 1000000)
				goto out;
			sp_net_mac_for(names[i], attempt, macs[i]);
			xy = (unsigned)macs[i][4] << 8 | macs[i][5];
			if (!reserved(macs[i]) && !(taken[xy / 8] & (1u << (xy % 8)))) {
				taken[xy / 8] |= (uint8_t)(1u << (xy % 8));
				break;
			}
		}
	}
	ret = 0;
out:
	free(taken);
	free(order);
	return ret;
}

void sp_net_addr_of(const uint8_t mac[6], char *out)
{
	snprintf(out, 16, "100.64.%u.%u", mac[4], mac[5]);
}

void sp_net_mac_text(const uint8_t mac[6], char *out)
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}
