/* libFuzzer target: the host-guest wire (src/guest/proto.h).  The agent
 * reads frames and a plan from the host, the host reads frames from a
 * guest whose software may be hostile: neither may crash on any input.
 *
 * The first byte picks how the input is cut into pieces for the frame
 * reader (so frames arrive split at arbitrary places); every 'P' payload
 * and the whole input are parsed as plans; a plan that parses is encoded
 * again, and must parse back to itself and re-encode to the same bytes. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guest/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool strv_equal(char **a, char **b)
{
	size_t i = 0;

	for (; a && a[i] && b && b[i]; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return !(a && a[i]) && !(b && b[i]);
}

static bool plan_equal(const struct sp_guest_plan *a, const struct sp_guest_plan *b)
{
	if (strcmp(a->hostname, b->hostname) != 0 || a->uid != b->uid || a->gid != b->gid ||
	    strcmp(a->cwd, b->cwd) != 0 || a->tty != b->tty || !strv_equal(a->argv, b->argv) ||
	    !strv_equal(a->envp, b->envp) || !strv_equal(a->tmpfs, b->tmpfs) || a->n_mounts != b->n_mounts ||
	    a->n_links != b->n_links)
		return false;
	for (size_t i = 0; i < a->n_mounts; i++)
		if (strcmp(a->mounts[i].tag, b->mounts[i].tag) != 0 ||
		    strcmp(a->mounts[i].path, b->mounts[i].path) != 0 ||
		    a->mounts[i].readonly != b->mounts[i].readonly)
			return false;
	for (size_t i = 0; i < a->n_links; i++)
		if (strcmp(a->links[i].target, b->links[i].target) != 0 ||
		    strcmp(a->links[i].path, b->links[i].path) != 0)
			return false;
	return true;
}

/* Parses DATA; a plan that parses must survive encode and parse again. */
static void check_plan(const uint8_t *data, size_t len)
{
	struct sp_guest_plan p, q;
	uint8_t *enc = NULL, *enc2 = NULL;
	size_t enc_len, enc2_len;
	char why[256];

	if (sp_guest_plan_parse(data, len, &p, why, sizeof why) < 0) {
		/* A reason is always given, on one line. */
		if (why[0] == '\0' || strchr(why, '\n'))
			abort();
		return;
	}
	if (sp_guest_plan_encode(&p, &enc, &enc_len) < 0)
		abort();
	if (sp_guest_plan_parse(enc, enc_len, &q, why, sizeof why) < 0)
		abort();
	if (!plan_equal(&p, &q))
		abort();
	if (sp_guest_plan_encode(&q, &enc2, &enc2_len) < 0 || enc_len != enc2_len ||
	    memcmp(enc, enc2, enc_len) != 0)
		abort();
	free(enc);
	free(enc2);
	sp_guest_plan_free(&p);
	sp_guest_plan_free(&q);
}

/* Takes every whole frame out; false once the stream is bad. */
static bool drain(struct sp_frame_reader *r)
{
	const uint8_t *payload;
	size_t len;
	char type;
	int got;

	while ((got = sp_frame_next(r, &type, &payload, &len)) == 1) {
		if (len > SP_FRAME_MAX)
			abort();
		if (type == SP_FRAME_PLAN)
			check_plan(payload, len);
	}
	return got == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_frame_reader r = { 0 };
	size_t pos, step;
	uint8_t seed;

	check_plan(data, size);
	if (size == 0)
		return 0;
	/* Piece sizes from 1 to 64, varying along the input. */
	seed = data[0];
	data++;
	size--;
	for (pos = 0; pos < size; pos += step) {
		step = (size_t)(seed & 63) + 1;
		if (step > size - pos)
			step = size - pos;
		seed = (uint8_t)(seed * 37 + 11);
		if (sp_frame_feed(&r, data + pos, step) < 0)
			abort();
		if (!drain(&r))
			break;
	}
	sp_frame_reader_free(&r);
	return 0;
}
