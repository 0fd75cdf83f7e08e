/* The backup format's pure parts, without a repository: chunk cuts, tree
 * and snapshot encodings, and which snapshots prune keeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "backup/chunker.h"
#include "backup/crypto.h"
#include "backup/progress.h"
#include "backup/snapshot.h"
#include "backup/tree.h"
#include "util/strv.h"

#define MIB (1024u * 1024)
#define DATA_LEN (32 * MIB)

/* The same "random" bytes on every run: a failure can be replayed. */
static uint8_t *random_bytes(size_t len, uint8_t tag)
{
	uint8_t seed[randombytes_SEEDBYTES] = { tag };
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	randombytes_buf_deterministic(buf, len, seed);
	return buf;
}

struct cuts {
	size_t *len;
	uint8_t (*id)[SP_BK_ID_LEN];
	size_t n;
};

static void chunk_all(const uint8_t seed[32], const uint8_t *buf, size_t len, struct cuts *out)
{
	static const struct sp_bk_keys keys = { .id = { 1, 2, 3 } };
	struct sp_bk_chunker c;
	size_t cap = len / SP_BK_CHUNK_MIN + 2;

	sp_bk_chunker_init(&c, seed);
	out->len = calloc(cap, sizeof *out->len);
	out->id = calloc(cap, sizeof *out->id);
	out->n = 0;
	assert_non_null(out->len);
	assert_non_null(out->id);
	for (size_t pos = 0; pos < len;) {
		size_t n = sp_bk_chunk_next(&c, buf + pos, len - pos);

		assert_true(n > 0);
		assert_true(out->n < cap);
		out->len[out->n] = n;
		sp_bk_blob_id(&keys, buf + pos, n, out->id[out->n]);
		out->n++;
		pos += n;
	}
}

static void cuts_free(struct cuts *c)
{
	free(c->len);
	free(c->id);
}

static bool same_cuts(const struct cuts *a, const struct cuts *b)
{
	return a->n == b->n && memcmp(a->len, b->len, a->n * sizeof *a->len) == 0;
}

static const uint8_t seed_a[32] = { 0x5e, 0xed, 'a' };
static const uint8_t seed_b[32] = { 0x5e, 0xed, 'b' };

static void test_chunker_sizes(void **ctx)
{
	uint8_t *buf = random_bytes(DATA_LEN, 1);
	struct cuts a, b;
	size_t total = 0;

	(void)ctx;
	chunk_all(seed_a, buf, DATA_LEN, &a);
	chunk_all(seed_a, buf, DATA_LEN, &b);
	assert_true(same_cuts(&a, &b));
	for (size_t i = 0; i < a.n; i++) {
		if (i + 1 < a.n)
			assert_true(a.len[i] >= SP_BK_CHUNK_MIN);
		assert_true(a.len[i] <= SP_BK_CHUNK_MAX);
		total += a.len[i];
	}
	assert_int_equal(total, DATA_LEN);
	/* Normalized chunking puts the mean a little above the average
	 * (about 590 KiB here); far from it, the masks are wrong. */
	assert_true(DATA_LEN / a.n > SP_BK_CHUNK_AVG * 3 / 4);
	assert_true(DATA_LEN / a.n < SP_BK_CHUNK_AVG * 3 / 2);
	cuts_free(&a);
	cuts_free(&b);
	free(buf);
}

static void test_chunker_short_input(void **ctx)
{
	uint8_t *buf = random_bytes(SP_BK_CHUNK_MAX + 1, 2);
	uint8_t zeros[64] = { 0 };
	struct sp_bk_chunker c;
	size_t n;

	(void)ctx;
	sp_bk_chunker_init(&c, seed_a);
	assert_int_equal(sp_bk_chunk_next(&c, zeros, 0), 0);
	assert_int_equal(sp_bk_chunk_next(&c, zeros, sizeof zeros), sizeof zeros);
	assert_int_equal(sp_bk_chunk_next(&c, buf, SP_BK_CHUNK_MIN), SP_BK_CHUNK_MIN);
	n = sp_bk_chunk_next(&c, buf, SP_BK_CHUNK_MAX + 1);
	assert_true(n > SP_BK_CHUNK_MIN && n <= SP_BK_CHUNK_MAX);
	free(buf);

	/* No cut point in zeros (the hash of a run settles on one value):
	 * the maximum, or everything when less is given. */
	buf = calloc(1, SP_BK_CHUNK_MAX + 1);
	assert_non_null(buf);
	n = sp_bk_chunk_next(&c, buf, SP_BK_CHUNK_MAX + 1);
	assert_true(n > SP_BK_CHUNK_MIN && n <= SP_BK_CHUNK_MAX);
	if (n == SP_BK_CHUNK_MAX)
		assert_int_equal(sp_bk_chunk_next(&c, buf, SP_BK_CHUNK_MAX - 1), SP_BK_CHUNK_MAX - 1);
	free(buf);
}

static void test_chunker_seed(void **ctx)
{
	uint8_t *buf = random_bytes(DATA_LEN, 3);
	struct sp_bk_chunker c1, c2;
	struct cuts a, b;

	(void)ctx;
	sp_bk_chunker_init(&c1, seed_a);
	sp_bk_chunker_init(&c2, seed_a);
	assert_memory_equal(c1.gear, c2.gear, sizeof c1.gear);
	sp_bk_chunker_init(&c2, seed_b);
	assert_memory_not_equal(c1.gear, c2.gear, sizeof c1.gear);

	chunk_all(seed_a, buf, DATA_LEN, &a);
	chunk_all(seed_b, buf, DATA_LEN, &b);
	assert_false(same_cuts(&a, &b));
	/* Not even the first cut: it is the seed that places them. */
	assert_int_not_equal(a.len[0], b.len[0]);
	cuts_free(&a);
	cuts_free(&b);
	free(buf);
}

/* The table must not change between versions or machines: a new table
 * would cut every file anew and deduplicate nothing with older
 * snapshots.  The values come from a separate ChaCha20 (in Python),
 * not from this code. */
static void test_chunker_stable(void **ctx)
{
	static const uint8_t zero_seed[32];
	struct sp_bk_chunker c;

	(void)ctx;
	sp_bk_chunker_init(&c, zero_seed);
	assert_int_equal(c.gear[0], UINT64_C(0x3c0bc1a04b3c5254));
	assert_int_equal(c.gear[255], UINT64_C(0xcae83bf977b1c063));
}

static size_t shared_chunks(const struct cuts *a, const struct cuts *b)
{
	size_t shared = 0;

	for (size_t i = 0; i < a->n; i++)
		for (size_t j = 0; j < b->n; j++)
			if (memcmp(a->id[i], b->id[j], SP_BK_ID_LEN) == 0) {
				shared++;
				break;
			}
	return shared;
}

/* Chunks of 32 MiB that the insertion of 1 MiB in its middle loses. */
static size_t chunks_lost(uint8_t tag, size_t *n)
{
	uint8_t *buf = random_bytes(DATA_LEN, tag);
	uint8_t *ins = random_bytes(MIB, tag + 100);
	uint8_t *edited = malloc(DATA_LEN + MIB);
	struct cuts a, b;
	size_t lost;

	assert_non_null(edited);
	memcpy(edited, buf, DATA_LEN / 2);
	memcpy(edited + DATA_LEN / 2, ins, MIB);
	memcpy(edited + DATA_LEN / 2 + MIB, buf + DATA_LEN / 2, DATA_LEN / 2);
	chunk_all(seed_a, buf, DATA_LEN, &a);
	chunk_all(seed_a, edited, DATA_LEN + MIB, &b);
	lost = a.n - shared_chunks(&a, &b);
	*n = a.n;
	cuts_free(&a);
	cuts_free(&b);
	free(buf);
	free(ins);
	free(edited);
	return lost;
}

/* Only the chunk the insertion falls into and the few after it, until
 * the cuts fall into step again, are new.  How many varies: normalized
 * chunking takes longer to fall into step than plain CDC (usually 1 to
 * 3 chunks, sometimes 6 or more), so this asserts the mean over
 * several inputs and only a loose bound on each. */
static void test_chunker_insertion(void **ctx)
{
	size_t total = 0, n;

	(void)ctx;
	for (uint8_t tag = 10; tag < 18; tag++) {
		size_t lost = chunks_lost(tag, &n);

		print_message("insertion: %zu of %zu chunks lost\n", lost, n);
		assert_true(lost >= 1);
		assert_true(lost <= 12);
		total += lost;
	}
	assert_true(total <= 8 * 3);
}

/* Trees */

static const uint8_t id_a[SP_BK_ID_LEN] = { 0xaa, 1 };
static const uint8_t id_b[SP_BK_ID_LEN] = { 0xbb, 2 };

static void fill_node(struct sp_bk_node *n, uint8_t type, const char *name)
{
	memset(n, 0, sizeof *n);
	n->type = type;
	n->name = strdup(name);
	assert_non_null(n->name);
	n->mode = 0644;
	n->uid = 1000;
	n->gid = 100;
	n->mtime_sec = 1795000000;
	n->mtime_nsec = 123456789;
	n->atime_sec = -5;
	n->atime_nsec = 999999999;
	n->ctime_sec = INT64_MAX;
	n->ctime_nsec = 0;
	n->dev = 0x803;
	n->ino = UINT64_MAX - 7;
	n->nlink = 1;
}

/* Every type, given out of order, with extended attributes on two. */
static void make_tree(struct sp_bk_tree *t)
{
	struct sp_bk_node *n;

	t->n = 6;
	t->nodes = calloc(t->n, sizeof *t->nodes);
	assert_non_null(t->nodes);

	n = &t->nodes[0];
	fill_node(n, SP_BK_NODE_FILE, "zeta.txt");
	n->size = 3 * MIB;
	n->n_chunks = 2;
	n->chunks = malloc(2 * SP_BK_ID_LEN);
	assert_non_null(n->chunks);
	memcpy(n->chunks[0], id_a, SP_BK_ID_LEN);
	memcpy(n->chunks[1], id_b, SP_BK_ID_LEN);
	n->nlink = 2;
	n->n_xattrs = 2;
	n->xattrs = calloc(2, sizeof *n->xattrs);
	assert_non_null(n->xattrs);
	n->xattrs[0].name = strdup("user.comment");
	n->xattrs[0].value = (uint8_t *)strdup("hello");
	n->xattrs[0].len = 5;
	n->xattrs[1].name = strdup("security.empty");
	n->xattrs[1].value = NULL;
	n->xattrs[1].len = 0;

	n = &t->nodes[1];
	fill_node(n, SP_BK_NODE_DIR, "Documents");
	n->mode = 01777;
	memcpy(n->subtree, id_b, SP_BK_ID_LEN);
	n->n_xattrs = 1;
	n->xattrs = calloc(1, sizeof *n->xattrs);
	assert_non_null(n->xattrs);
	n->xattrs[0].name = strdup("system.posix_acl_default");
	n->xattrs[0].len = 300;
	n->xattrs[0].value = malloc(300);
	assert_non_null(n->xattrs[0].value);
	for (size_t i = 0; i < 300; i++)
		n->xattrs[0].value[i] = (uint8_t)i;

	fill_node(&t->nodes[2], SP_BK_NODE_SYMLINK, "link");
	t->nodes[2].mode = 0777;
	t->nodes[2].target = strdup("../elsewhere/x");

	fill_node(&t->nodes[3], SP_BK_NODE_FIFO, "fifo");
	fill_node(&t->nodes[4], SP_BK_NODE_CHR, "null");
	t->nodes[4].rdev = 0x103;
	fill_node(&t->nodes[5], SP_BK_NODE_BLK, "\xc3\xa9t\xc3\xa9 disk"); /* "été disk" */
	t->nodes[5].mode = 06755;
	t->nodes[5].rdev = UINT64_MAX;
}

static void assert_nodes_equal(const struct sp_bk_node *a, const struct sp_bk_node *b)
{
	assert_int_equal(a->type, b->type);
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->gid, b->gid);
	assert_int_equal(a->mtime_sec, b->mtime_sec);
	assert_int_equal(a->atime_sec, b->atime_sec);
	assert_int_equal(a->ctime_sec, b->ctime_sec);
	assert_int_equal(a->mtime_nsec, b->mtime_nsec);
	assert_int_equal(a->atime_nsec, b->atime_nsec);
	assert_int_equal(a->ctime_nsec, b->ctime_nsec);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->dev, b->dev);
	assert_int_equal(a->ino, b->ino);
	assert_int_equal(a->nlink, b->nlink);
	switch ((enum sp_bk_node_type)a->type) {
	case SP_BK_NODE_FILE:
		assert_int_equal(a->n_chunks, b->n_chunks);
		assert_memory_equal(a->chunks, b->chunks, a->n_chunks * SP_BK_ID_LEN);
		break;
	case SP_BK_NODE_DIR:
		assert_memory_equal(a->subtree, b->subtree, SP_BK_ID_LEN);
		break;
	case SP_BK_NODE_SYMLINK:
		assert_string_equal(a->target, b->target);
		break;
	case SP_BK_NODE_CHR:
	case SP_BK_NODE_BLK:
		assert_int_equal(a->rdev, b->rdev);
		break;
	case SP_BK_NODE_FIFO:
		break;
	}
	assert_int_equal(a->n_xattrs, b->n_xattrs);
	for (size_t i = 0; i < a->n_xattrs; i++) {
		assert_string_equal(a->xattrs[i].name, b->xattrs[i].name);
		assert_int_equal(a->xattrs[i].len, b->xattrs[i].len);
		if (a->xattrs[i].len > 0)
			assert_memory_equal(a->xattrs[i].value, b->xattrs[i].value, a->xattrs[i].len);
	}
}

static void test_tree_round_trip(void **ctx)
{
	struct sp_bk_tree t = { 0 }, back = { 0 };
	struct sp_err err = { 0 };
	uint8_t *buf, *again;
	size_t len, len2;

	(void)ctx;
	make_tree(&t);
	assert_int_equal(sp_bk_tree_encode(&t, &buf, &len, &err), 0);
	/* Byte order: upper case before lower case, UTF-8 last. */
	assert_string_equal(t.nodes[0].name, "Documents");
	assert_string_equal(t.nodes[1].name, "fifo");
	assert_string_equal(t.nodes[5].name, "\xc3\xa9t\xc3\xa9 disk");
	assert_memory_equal(buf, "SPBKTR01\x06\0\0\0", 12);

	assert_int_equal(sp_bk_tree_decode(buf, len, &back, &err), 0);
	assert_int_equal(back.n, t.n);
	for (size_t i = 0; i < t.n; i++)
		assert_nodes_equal(&t.nodes[i], &back.nodes[i]);
	assert_non_null(back.nodes[4].xattrs[1].value); /* empty, not NULL */

	/* One tree, one encoding: what decodes encodes to the same bytes. */
	assert_int_equal(sp_bk_tree_encode(&back, &again, &len2, &err), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(again, buf, len);

	free(again);
	free(buf);
	sp_bk_tree_free(&back);
	sp_bk_tree_free(&t);
	sp_bk_tree_free(&t); /* safe twice: it zeroes */
}

/* A file whose chunk comes many times in a row (a hole) is one entry and
 * a count, in the second encoding; decoding and encoding again give the
 * same bytes; a tree without repeats keeps the first encoding. */
static void test_tree_runs(void **ctx)
{
	struct sp_bk_tree t = { 0 }, back = { 0 };
	struct sp_err err = { 0 };
	uint8_t *buf, *again;
	size_t len, len2;

	(void)ctx;
	t.nodes = calloc(1, sizeof *t.nodes);
	assert_non_null(t.nodes);
	t.n = 1;
	t.nodes[0].type = SP_BK_NODE_FILE;
	t.nodes[0].name = strdup("sparse");
	t.nodes[0].size = UINT64_C(15) << 40;
	t.nodes[0].n_chunks = 3;
	t.nodes[0].chunks = calloc(3, SP_BK_ID_LEN);
	t.nodes[0].repeat = calloc(3, sizeof *t.nodes[0].repeat);
	assert_non_null(t.nodes[0].chunks);
	assert_non_null(t.nodes[0].repeat);
	t.nodes[0].chunks[0][0] = 1;
	t.nodes[0].chunks[1][0] = 2;
	t.nodes[0].chunks[2][0] = 3;
	t.nodes[0].repeat[0] = 1;
	t.nodes[0].repeat[1] = 7864319;
	t.nodes[0].repeat[2] = 1;
	assert_int_equal(sp_bk_tree_encode(&t, &buf, &len, &err), 0);
	assert_memory_equal(buf, "SPBKTR02\x01\0\0\0", 12);
	assert_int_equal(sp_bk_tree_decode(buf, len, &back, &err), 0);
	assert_nodes_equal(&t.nodes[0], &back.nodes[0]);
	assert_non_null(back.nodes[0].repeat);
	assert_int_equal(back.nodes[0].repeat[1], 7864319);
	assert_int_equal(sp_bk_tree_encode(&back, &again, &len2, &err), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(again, buf, len);
	free(again);
	sp_bk_tree_free(&back);

	/* A count of 0 is refused both ways. */
	buf[len - 4 - 8 - SP_BK_ID_LEN - 8] = 0; /* the low byte of 7864319 (0x77ffff) */
	assert_int_equal(sp_bk_tree_decode(buf, len, &back, &err), 0);
	sp_bk_tree_free(&back);
	t.nodes[0].repeat[1] = 0;
	assert_int_equal(sp_bk_tree_encode(&t, &again, &len2, &err), -1);
	assert_non_null(strstr(err.msg, "repeated 0 times"));
	memset(buf + len - 4 - 8 - SP_BK_ID_LEN - 8, 0, 8);
	assert_int_equal(sp_bk_tree_decode(buf, len, &back, &err), -1);
	assert_non_null(strstr(err.msg, "repeated 0 times"));

	/* Every count 1: the first encoding, and the second is refused for
	 * it (one tree, one encoding). */
	t.nodes[0].repeat[1] = 1;
	assert_int_equal(sp_bk_tree_encode(&t, &again, &len2, &err), 0);
	assert_memory_equal(again, "SPBKTR01", 8);
	assert_int_equal(len2, len - 3 * 8);
	free(again);
	buf[len - 4 - 8 - SP_BK_ID_LEN - 8] = 1;
	assert_int_equal(sp_bk_tree_decode(buf, len, &back, &err), -1);
	assert_non_null(strstr(err.msg, "without a repeated chunk"));
	free(buf);
	sp_bk_tree_free(&t);
}

/* Backup takes a run of zeros of at least the chunk cut from zeros as
 * that chunk, repeated, without chunking it: true only because the cut
 * in zeros is the same whatever follows them and however many are left. */
static void test_chunker_zeros(void **ctx)
{
	uint8_t *zeros = calloc(1, 3 * SP_BK_CHUNK_MAX + 1);

	(void)ctx;
	assert_non_null(zeros);
	for (uint8_t tag = 0; tag < 16; tag++) {
		uint8_t *seed = random_bytes(32, tag);
		struct sp_bk_chunker c;
		size_t z;

		sp_bk_chunker_init(&c, seed);
		z = sp_bk_chunk_next(&c, zeros, SP_BK_CHUNK_MAX);
		assert_true(z > SP_BK_CHUNK_MIN);
		for (size_t len = z; len <= 3 * SP_BK_CHUNK_MAX; len += SP_BK_CHUNK_MAX / 3) {
			assert_int_equal(sp_bk_chunk_next(&c, zeros, len), z);
			zeros[len] = 0xa5; /* what follows the zeros does not matter */
			assert_int_equal(sp_bk_chunk_next(&c, zeros, len + 1), z);
			zeros[len] = 0;
		}
		free(seed);
	}
	free(zeros);
}

static void test_tree_empty(void **ctx)
{
	struct sp_bk_tree t = { 0 }, back = { 0 };
	struct sp_err err = { 0 };
	struct sp_bk_node zero = { 0 };
	uint8_t *buf;
	size_t len;

	(void)ctx;
	assert_int_equal(sp_bk_tree_encode(&t, &buf, &len, &err), 0);
	assert_int_equal(len, 12);
	assert_int_equal(sp_bk_tree_decode(buf, len, &back, &err), 0);
	assert_int_equal(back.n, 0);
	sp_bk_tree_free(&back);
	sp_bk_node_free(&zero);
	free(buf);
}

static void expect_encode_error(struct sp_bk_tree *t, const char *msg)
{
	struct sp_err err = { 0 };
	uint8_t *buf = NULL;
	size_t len;

	assert_int_equal(sp_bk_tree_encode(t, &buf, &len, &err), -1);
	assert_null(buf);
	if (!strstr(err.msg, msg))
		fail_msg("\"%s\" does not say \"%s\"", err.msg, msg);
	sp_bk_tree_free(t);
}

static void test_tree_encode_rejects(void **ctx)
{
	struct sp_bk_tree t;

	(void)ctx;
	make_tree(&t);
	free(t.nodes[3].name);
	t.nodes[3].name = strdup("link");
	expect_encode_error(&t, "two entries of one name");

	make_tree(&t);
	free(t.nodes[3].name);
	t.nodes[3].name = strdup("..");
	expect_encode_error(&t, "entry 3: name is . or ..");

	make_tree(&t);
	free(t.nodes[3].name);
	t.nodes[3].name = strdup("a/b");
	expect_encode_error(&t, "entry 3: name contains /");

	make_tree(&t);
	t.nodes[1].mode = 010000;
	expect_encode_error(&t, "entry 1: mode");

	make_tree(&t);
	t.nodes[2].target[0] = '\0';
	expect_encode_error(&t, "entry 2: empty symlink target");

	make_tree(&t);
	t.nodes[0].mtime_nsec = 1000000000;
	expect_encode_error(&t, "entry 0: nanoseconds");

	make_tree(&t);
	t.nodes[4].type = 7;
	expect_encode_error(&t, "entry 4: bad type");
}

/* The encoding of a tree of one or two FIFOs, named FIRST and SECOND. */
static uint8_t *encode_names(const char *first, const char *second, size_t *len)
{
	struct sp_bk_tree t = { 0 };
	struct sp_err err = { 0 };
	uint8_t *buf;

	t.n = second ? 2 : 1;
	t.nodes = calloc(t.n, sizeof *t.nodes);
	assert_non_null(t.nodes);
	fill_node(&t.nodes[0], SP_BK_NODE_FIFO, first);
	if (second)
		fill_node(&t.nodes[1], SP_BK_NODE_FIFO, second);
	assert_int_equal(sp_bk_tree_encode(&t, &buf, len, &err), 0);
	sp_bk_tree_free(&t);
	return buf;
}

/* Where the name of entry I starts in a tree of FIFOs without xattrs. */
static size_t name_at(size_t i, size_t name_len)
{
	const size_t entry = 1 + 2 + name_len + 12 + 36 + 24 + 4 + 4;

	return 12 + i * entry + 3;
}

static void expect_decode_error(const uint8_t *buf, size_t len, const char *msg)
{
	struct sp_bk_tree t = { .nodes = (void *)1, .n = 99 };
	struct sp_err err = { 0 };

	assert_int_equal(sp_bk_tree_decode(buf, len, &t, &err), -1);
	assert_null(t.nodes);
	assert_int_equal(t.n, 0);
	if (!strstr(err.msg, msg))
		fail_msg("\"%s\" does not say \"%s\"", err.msg, msg);
}

static void test_tree_decode_rejects(void **ctx)
{
	struct sp_bk_tree t = { 0 };
	struct sp_err err = { 0 };
	uint8_t *buf, *longer;
	size_t len;

	(void)ctx;
	make_tree(&t);
	assert_int_equal(sp_bk_tree_encode(&t, &buf, &len, &err), 0);
	sp_bk_tree_free(&t);

	/* Cut anywhere, it fails, and frees what it had (ASan says). */
	for (size_t cut = 0; cut < len; cut++) {
		struct sp_bk_tree part = { 0 };

		assert_int_equal(sp_bk_tree_decode(buf, cut, &part, &err), -1);
		assert_null(part.nodes);
	}
	expect_decode_error(buf, len - 1, "entry 5: truncated");
	expect_decode_error(buf, 11, "truncated header");

	longer = malloc(len + 1);
	assert_non_null(longer);
	memcpy(longer, buf, len);
	longer[len] = 0;
	expect_decode_error(longer, len + 1, "1 bytes after the last entry");
	free(longer);

	buf[0] = 'X';
	expect_decode_error(buf, len, "bad magic");
	buf[0] = 'S';
	buf[8] = 0xff; /* count */
	expect_decode_error(buf, len, "entries cannot fit");
	free(buf);

	buf = encode_names("ab", NULL, &len);
	memcpy(buf + name_at(0, 2), "..", 2);
	expect_decode_error(buf, len, "entry 0: name is . or ..");
	memcpy(buf + name_at(0, 2), "a/", 2);
	expect_decode_error(buf, len, "entry 0: name contains /");
	memcpy(buf + name_at(0, 2), "a\0", 2);
	expect_decode_error(buf, len, "entry 0: name contains NUL");
	memcpy(buf + name_at(0, 2), "ab", 2);
	buf[12] = 0;
	expect_decode_error(buf, len, "entry 0: bad type");
	buf[12] = SP_BK_NODE_FIFO;
	buf[name_at(0, 2) + 2 + 1] = 0x10; /* mode 010000 */
	expect_decode_error(buf, len, "entry 0: mode");
	free(buf);

	buf = encode_names("a", "b", &len);
	buf[name_at(0, 1)] = 'b';
	buf[name_at(1, 1)] = 'a';
	expect_decode_error(buf, len, "entry 1: name not in order");
	buf[name_at(0, 1)] = 'a';
	expect_decode_error(buf, len, "entry 1: name repeated");
	buf[name_at(1, 1)] = 'b';
	assert_int_equal(sp_bk_tree_decode(buf, len, &t, &err), 0);
	sp_bk_tree_free(&t);
	free(buf);
}

/* Snapshots */

static void make_snapshot(struct sp_bk_snapshot *s)
{
	memset(s, 0, sizeof *s);
	s->time = 1795667400; /* 2026-11-26T04:30:00Z */
	s->time_nsec = 123456789;
	s->host = strdup("laptop");
	s->source = strdup("/var/lib/spectrum");
	memcpy(s->tree, id_a, SP_BK_ID_LEN);
	s->full = false;
	s->instances = calloc(3, sizeof *s->instances);
	assert_non_null(s->instances);
	s->instances[0] = strdup("mail");
	s->instances[1] = strdup("web-2");
	s->parent = strdup("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
	s->files = 4567;
	s->dirs = 89;
	s->bytes = (uint64_t)1 << 40;
	s->added_bytes = 12345;
}

static void test_snapshot_round_trip(void **ctx)
{
	struct sp_bk_snapshot s, back;
	struct sp_err err = { 0 };
	char *json;
	size_t len;

	(void)ctx;
	make_snapshot(&s);
	assert_int_equal(sp_bk_snapshot_encode(&s, &json, &len, &err), 0);
	assert_int_equal(strlen(json), len);
	assert_non_null(strstr(json, "\"time\":\"2026-11-26T04:30:00.123456789Z\""));
	assert_non_null(strstr(json, "\"full\":false"));

	assert_int_equal(sp_bk_snapshot_decode("abc123", json, len, &back, &err), 0);
	assert_string_equal(back.id, "abc123");
	assert_int_equal(back.time, s.time);
	assert_int_equal(back.time_nsec, s.time_nsec);
	assert_string_equal(back.host, s.host);
	assert_string_equal(back.source, s.source);
	assert_memory_equal(back.tree, s.tree, SP_BK_ID_LEN);
	assert_false(back.full);
	assert_string_equal(back.instances[0], "mail");
	assert_string_equal(back.instances[1], "web-2");
	assert_null(back.instances[2]);
	assert_string_equal(back.parent, s.parent);
	assert_int_equal(back.files, s.files);
	assert_int_equal(back.dirs, s.dirs);
	assert_int_equal(back.bytes, s.bytes);
	assert_int_equal(back.added_bytes, s.added_bytes);
	/* Complete: no record of what was left out, in the JSON either. */
	assert_int_equal(back.skipped, 0);
	assert_null(back.skipped_paths);
	assert_null(strstr(json, "skipped"));
	sp_bk_snapshot_free(&back);
	free(json);

	/* Incomplete: the count, and the names as messages show them. */
	s.skipped = 1234;
	assert_int_equal(sp_strv_push(&s.skipped_paths, "state/mail/...d/d: deeper"), 0);
	assert_int_equal(sp_strv_push(&s.skipped_paths, "data/x\\x1b"), 0);
	assert_int_equal(sp_bk_snapshot_encode(&s, &json, &len, &err), 0);
	assert_int_equal(sp_bk_snapshot_decode("abc123", json, len, &back, &err), 0);
	assert_int_equal(back.skipped, 1234);
	assert_string_equal(back.skipped_paths[0], "state/mail/...d/d: deeper");
	assert_string_equal(back.skipped_paths[1], "data/x\\x1b");
	assert_null(back.skipped_paths[2]);
	sp_bk_snapshot_free(&back);
	free(json);
	sp_strv_free(s.skipped_paths);
	s.skipped_paths = NULL;
	s.skipped = 0;

	/* No parent, no instances, a time before the epoch. */
	free(s.parent);
	s.parent = NULL;
	free(s.instances[0]);
	free(s.instances[1]);
	s.instances[0] = NULL;
	s.full = true;
	s.time = -1;
	s.time_nsec = 1;
	assert_int_equal(sp_bk_snapshot_encode(&s, &json, &len, &err), 0);
	assert_non_null(strstr(json, "\"time\":\"1969-12-31T23:59:59.000000001Z\""));
	assert_non_null(strstr(json, "\"parent\":null"));
	assert_int_equal(sp_bk_snapshot_decode("x", json, len, &back, &err), 0);
	assert_int_equal(back.time, -1);
	assert_int_equal(back.time_nsec, 1);
	assert_true(back.full);
	assert_null(back.parent);
	assert_non_null(back.instances);
	assert_null(back.instances[0]);
	sp_bk_snapshot_free(&back);
	sp_bk_snapshot_free(&back); /* safe twice */
	free(json);
	sp_bk_snapshot_free(&s);
}

#define GOOD_TIME "\"time\":\"2026-11-26T04:30:00Z\""
#define GOOD_REST                                                                                              \
	"\"host\":\"h\",\"source\":\"/s\",\"tree\":"                                                           \
	"\"aa00000000000000000000000000000000000000000000000000000000000000\",\"full\":true,"                   \
	"\"instances\":[],\"parent\":null,\"files\":1,\"dirs\":2,\"bytes\":3,\"added_bytes\":4"

/* A good snapshot's JSON with its first FROM replaced by TO. */
static const char *good_but(const char *from, const char *to)
{
	static char buf[1024];
	const char *good = "{" GOOD_TIME "," GOOD_REST "}";
	const char *at = strstr(good, from);

	assert_non_null(at);
	snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
	return buf;
}

static void expect_snapshot_error(const char *json, const char *msg)
{
	struct sp_bk_snapshot s;
	struct sp_err err = { 0 };

	assert_int_equal(sp_bk_snapshot_decode("ID", json, strlen(json), &s, &err), -1);
	assert_null(s.host);
	assert_null(s.instances);
	if (!strstr(err.msg, msg))
		fail_msg("\"%s\" does not say \"%s\"", err.msg, msg);
}

static void test_snapshot_decode_errors(void **ctx)
{
	struct sp_bk_snapshot s;
	struct sp_err err = { 0 };
	const char *ok = "{" GOOD_TIME "," GOOD_REST ",\"unknown\":[1]}";

	(void)ctx;
	/* Not NUL-terminated: LEN says where it ends. */
	assert_int_equal(sp_bk_snapshot_decode("ID", ok, strlen(ok), &s, &err), 0);
	assert_int_equal(s.time_nsec, 0);
	sp_bk_snapshot_free(&s);

	expect_snapshot_error("{", "snapshot ID: line 1:");
	expect_snapshot_error("{" GOOD_TIME "," GOOD_REST ",\"skipped\":2}", "skipped_paths: expected");
	expect_snapshot_error("{" GOOD_TIME "," GOOD_REST ",\"skipped\":1,\"skipped_paths\":[\"a\",\"b\"]}",
			      "skipped_paths: expected");
	expect_snapshot_error("{" GOOD_TIME "," GOOD_REST ",\"skipped_paths\":[]}", "skipped: expected");
	expect_snapshot_error("[]", "snapshot ID: expected a JSON object");
	expect_snapshot_error("{" GOOD_REST "}", "snapshot ID: time: expected an RFC 3339 UTC time");
	expect_snapshot_error("{\"time\":\"2026-02-30T04:30:00Z\"," GOOD_REST "}", "snapshot ID: time: expected");
	expect_snapshot_error("{\"time\":\"2026-11-26T04:30:00+01:00\"," GOOD_REST "}", "time: expected");
	expect_snapshot_error("{\"time\":\"2026-11-26T04:30:00.Z\"," GOOD_REST "}", "time: expected");
	expect_snapshot_error("{\"time\":\"2026-11-26T04:30:00.1234567891Z\"," GOOD_REST "}", "time: expected");
	expect_snapshot_error("{\"time\":1," GOOD_REST "}", "time: expected");
	expect_snapshot_error("{" GOOD_TIME "," GOOD_REST ",\"host\":\"dup\"}", "snapshot ID: line 1:");
	expect_snapshot_error("{" GOOD_TIME ",\"host\":1,\"source\":\"/s\",\"tree\":\"00\",\"full\":true}",
			      "snapshot ID: host: expected a string");
	expect_snapshot_error("{" GOOD_TIME ",\"host\":\"a\\u0000b\",\"full\":true}", "snapshot ID: line 1:");
	expect_snapshot_error("{" GOOD_TIME ",\"host\":\"h\",\"source\":\"/s\",\"tree\":\"AA\",\"full\":true}",
			      "snapshot ID: tree: expected 64 lower-case hex digits");
	expect_snapshot_error("{" GOOD_TIME ",\"full\":1}", "snapshot ID: full: expected true or false");

	expect_snapshot_error(good_but("[]", "{}"), "snapshot ID: instances: expected an array of instance names");
	expect_snapshot_error(good_but("[]", "[\"Mail\"]"), "snapshot ID: instances: expected an array");
	expect_snapshot_error(good_but("[]", "[\"-mail\"]"), "instances: expected an array");
	expect_snapshot_error(good_but("[]", "[\"a\",\"a\"]"), "instances: expected each instance once");
	expect_snapshot_error(good_but("null", "1234"), "snapshot ID: parent: expected null or 64");
	expect_snapshot_error(good_but("null", "\"ab\""), "snapshot ID: parent: expected null or 64");
	expect_snapshot_error(good_but("\"files\":1", "\"files\":-1"),
			      "snapshot ID: files: expected a non-negative integer");
	expect_snapshot_error(good_but("\"bytes\":3", "\"bytes\":3.5"), "snapshot ID: bytes: expected");
	expect_snapshot_error(good_but(",\"added_bytes\":4", ""), "snapshot ID: added_bytes: expected");
	expect_snapshot_error(good_but("true", "\"true\""), "snapshot ID: full: expected true or false");
}

static void test_snapshot_encode_errors(void **ctx)
{
	struct sp_bk_snapshot s;
	struct sp_err err = { 0 };
	char *json = NULL;
	size_t len;

	(void)ctx;
	make_snapshot(&s);
	s.time_nsec = 1000000000;
	assert_int_equal(sp_bk_snapshot_encode(&s, &json, &len, &err), -1);
	assert_non_null(strstr(err.msg, "snapshot: time:"));
	s.time_nsec = 0;
	s.instances[1][0] = 'W';
	assert_int_equal(sp_bk_snapshot_encode(&s, &json, &len, &err), -1);
	assert_non_null(strstr(err.msg, "snapshot: instances: bad instance name"));
	s.instances[1][0] = 'w';
	s.host[0] = (char)0xff;
	assert_int_equal(sp_bk_snapshot_encode(&s, &json, &len, &err), -1);
	assert_non_null(strstr(err.msg, "snapshot: host:"));
	assert_null(json);
	sp_bk_snapshot_free(&s);
}

static void test_snapshots_sort(void **ctx)
{
	struct sp_bk_snapshot s[4] = {
		{ .id = "b", .time = 10, .time_nsec = 5 },
		{ .id = "a", .time = 10, .time_nsec = 5 },
		{ .id = "c", .time = 10, .time_nsec = 1 },
		{ .id = "d", .time = -3 },
	};

	(void)ctx;
	sp_bk_snapshots_sort(s, 4);
	assert_string_equal(s[0].id, "d");
	assert_string_equal(s[1].id, "c");
	assert_string_equal(s[2].id, "a");
	assert_string_equal(s[3].id, "b");
}

/* Keep policies, in a fixed zone with daylight saving time (no tzdata
 * needed): central Europe, which moved its clocks on 2026-03-29. */

static int64_t local_time(int year, int mon, int mday, int hour, int min)
{
	struct tm tm = { .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = mday,
			 .tm_hour = hour, .tm_min = min, .tm_isdst = -1 };

	return (int64_t)mktime(&tm);
}

static int setup_tz(void **ctx)
{
	(void)ctx;
	setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
	tzset();
	return 0;
}

static size_t count_kept(const bool *keep, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += keep[i];
	return k;
}

static void test_keep_daily(void **ctx)
{
	struct sp_bk_snapshot s[30] = { 0 };
	bool keep[30];
	struct sp_bk_keep_policy policy = { .last = 2, .daily = 7 };

	(void)ctx;
	/* 2026-03-15 to 2026-04-13, at noon, across the change of clocks. */
	for (int i = 0; i < 30; i++)
		s[i].time = local_time(2026, 3, 15 + i, 12, 0);
	assert_int_equal(s[29].time - s[0].time, 29 * 86400 - 3600);
	sp_bk_keep_select(s, 30, &policy, keep);
	assert_int_equal(count_kept(keep, 30), 7);
	for (int i = 0; i < 30; i++)
		assert_int_equal(keep[i], i >= 23);

	/* Four a day for 30 days: the newest of each of 7 days, and the
	 * last 2 (which share the newest day). */
	{
		struct sp_bk_snapshot m[120] = { 0 };
		bool k[120];

		for (int i = 0; i < 120; i++)
			m[i].time = local_time(2026, 3, 15 + i / 4, 6 * (i % 4), 30);
		sp_bk_keep_select(m, 120, &policy, k);
		assert_int_equal(count_kept(k, 120), 8);
		assert_true(k[119] && k[118]);
		for (int day = 23; day < 29; day++)
			assert_true(k[4 * day + 3]);
	}

	/* Nothing asked: everything kept. */
	memset(&policy, 0, sizeof policy);
	sp_bk_keep_select(s, 30, &policy, keep);
	assert_int_equal(count_kept(keep, 30), 30);

	/* More asked than there is. */
	policy.last = 100;
	sp_bk_keep_select(s, 30, &policy, keep);
	assert_int_equal(count_kept(keep, 30), 30);
	sp_bk_keep_select(s, 0, &policy, keep);
}

static void test_keep_hourly(void **ctx)
{
	struct sp_bk_snapshot s[12] = { 0 };
	bool keep[12];
	struct sp_bk_keep_policy policy = { .hourly = 3 };

	(void)ctx;
	/* Every 20 minutes from 10:00: hours 10, 11, 12, 13. */
	for (int i = 0; i < 12; i++)
		s[i].time = local_time(2026, 6, 1, 10 + i / 3, 20 * (i % 3));
	sp_bk_keep_select(s, 12, &policy, keep);
	assert_int_equal(count_kept(keep, 12), 3);
	assert_true(keep[11] && keep[8] && keep[5]);
}

static void test_keep_weekly_monthly_yearly(void **ctx)
{
	/* 2025-12-28 is a Sunday of ISO week 2025-W52; 2025-12-29 starts
	 * 2026-W01, which holds 2026-01-01 too. */
	struct sp_bk_snapshot s[5] = { 0 };
	bool keep[5];
	struct sp_bk_keep_policy policy = { .weekly = 2 };

	(void)ctx;
	s[0].time = local_time(2025, 12, 20, 12, 0); /* W51 */
	s[1].time = local_time(2025, 12, 27, 12, 0); /* W52 */
	s[2].time = local_time(2025, 12, 28, 12, 0); /* W52 */
	s[3].time = local_time(2025, 12, 29, 12, 0); /* 2026-W01 */
	s[4].time = local_time(2026, 1, 1, 12, 0);   /* 2026-W01 */
	sp_bk_keep_select(s, 5, &policy, keep);
	assert_false(keep[0] || keep[1] || keep[3]);
	assert_true(keep[2] && keep[4]);

	/* The newest of 2026 (and of its month), the newest of 2025. */
	policy = (struct sp_bk_keep_policy){ .monthly = 1, .yearly = 2 };
	sp_bk_keep_select(s, 5, &policy, keep);
	assert_false(keep[0] || keep[1] || keep[2]);
	assert_true(keep[3] && keep[4]);

	policy = (struct sp_bk_keep_policy){ .yearly = 5 };
	sp_bk_keep_select(s, 5, &policy, keep);
	assert_int_equal(count_kept(keep, 5), 2);

	/* The periods are local: 00:30 on January 1st here is still 2025 in
	 * UTC, where all five would share one year. */
	s[3].time = local_time(2026, 1, 1, 0, 30);
	s[4].time = local_time(2026, 1, 1, 0, 40);
	policy = (struct sp_bk_keep_policy){ .yearly = 2 };
	sp_bk_keep_select(s, 5, &policy, keep);
	assert_int_equal(count_kept(keep, 5), 2);
	assert_true(keep[2] && keep[4]);
}

static void test_progress_off(void **ctx)
{
	struct sp_bk_progress p;

	(void)ctx;
	sp_bk_progress_init(&p, "backing up", true);
	assert_false(p.on);
	sp_bk_progress_add(&p, 2, 1000);
	sp_bk_progress_add(&p, 1, 24);
	sp_bk_progress_add(NULL, 1, 1);
	assert_int_equal(p.files, 3);
	assert_int_equal(p.bytes, 1024);
	assert_true(sp_bk_progress_elapsed(&p) >= 0);
	sp_bk_progress_done(&p);
	sp_bk_progress_done(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunker_sizes),
		cmocka_unit_test(test_chunker_short_input),
		cmocka_unit_test(test_chunker_seed),
		cmocka_unit_test(test_chunker_stable),
		cmocka_unit_test(test_chunker_insertion),
		cmocka_unit_test(test_tree_round_trip),
		cmocka_unit_test(test_tree_runs),
		cmocka_unit_test(test_chunker_zeros),
		cmocka_unit_test(test_tree_empty),
		cmocka_unit_test(test_tree_encode_rejects),
		cmocka_unit_test(test_tree_decode_rejects),
		cmocka_unit_test(test_snapshot_round_trip),
		cmocka_unit_test(test_snapshot_decode_errors),
		cmocka_unit_test(test_snapshot_encode_errors),
		cmocka_unit_test(test_snapshots_sort),
		cmocka_unit_test_setup(test_keep_daily, setup_tz),
		cmocka_unit_test_setup(test_keep_hourly, setup_tz),
		cmocka_unit_test_setup(test_keep_weekly_monthly_yearly, setup_tz),
		cmocka_unit_test(test_progress_off),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
