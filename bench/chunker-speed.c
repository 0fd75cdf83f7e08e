/* bench/chunker-speed: throughput of the backup chunker (content-defined
 * cuts) over 4 x 32 MiB of seeded random bytes.  A measurement, not a test
 * (it was one in tests/unit/test_backup.c that asserted nothing): a loaded
 * machine or a sanitizer build is slower and no less correct.  Built as
 * build/tests/unit/chunker-speed; run it on a quiet machine. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sodium.h>

#include "backup/chunker.h"

#define MIB (1024u * 1024)
#define DATA_LEN (32 * MIB)
#define ROUNDS 4

int main(void)
{
	static const uint8_t seed[32] = { 0x5e, 0xed, 'a' };
	uint8_t rseed[randombytes_SEEDBYTES] = { 6 };
	struct sp_bk_chunker c;
	struct timespec t0, t1;
	size_t n = 0;
	uint8_t *buf;
	double secs;

	if (sodium_init() < 0 || (buf = malloc(DATA_LEN)) == NULL)
		return 1;
	randombytes_buf_deterministic(buf, DATA_LEN, rseed);
	sp_bk_chunker_init(&c, seed);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int round = 0; round < ROUNDS; round++)
		for (size_t pos = 0; pos < DATA_LEN; n++)
			pos += sp_bk_chunk_next(&c, buf + pos, DATA_LEN - pos);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("chunker: %.0f MB/s (%zu chunks of %u MiB x %d)\n", ROUNDS * (double)DATA_LEN / secs / 1e6, n,
	       DATA_LEN / MIB, ROUNDS);
	free(buf);
	return 0;
}
