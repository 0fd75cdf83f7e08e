/* The encoding of a tree blob (all integers little-endian):
 *
 *   "SPBKTR01"                            8 bytes
 *   u32 count
 *   count entries, names strictly increasing in byte order:
 *     u8  type                            1 file, 2 dir, 3 symlink, 4 fifo,
 *                                         5 char device, 6 block device
 *     u16 name length, name               1..255 bytes, no '/', no NUL,
 *                                         not "." or ".."
 *     u32 mode                            permission bits, <= 07777
 *     u32 uid, u32 gid
 *     i64 mtime seconds, u32 nanoseconds  nanoseconds < 10^9
 *     i64 atime seconds, u32 nanoseconds
 *     i64 ctime seconds, u32 nanoseconds
 *     u64 size, u64 dev, u64 ino, u32 nlink
 *     file:      u32 n, n chunk ids       32 bytes each
 *                in "SPBKTR02": n × (32-byte id, u64 count >= 1),
 *                the id repeated count times in a row
 *     dir:       subtree id               32 bytes
 *     symlink:   u32 length, target       1..4096 bytes, no NUL
 *     char/block device: u64 rdev
 *     fifo:      nothing
 *     u32 xattr count, each:
 *       u16 name length, name             1..255 bytes, no NUL
 *       u32 value length, value           0..65536 bytes
 *   nothing after the last entry
 *
 * The second magic, "SPBKTR02", is written only for a tree with a
 * repeated chunk (a count above 1); every other tree keeps the first
 * encoding, and with it its id and the readers that know only it.
 *
 * The decoder refuses anything the encoder would not have written, so a
 * tree that decodes has exactly one encoding. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backup/pack.h"
#include "backup/tree.h"

#define TREE_MAGIC "SPBKTR01"
#define TREE_MAGIC_RUNS "SPBKTR02"
#define MAGIC_LEN 8
#define NAME_MAX_LEN 255
#define TARGET_MAX_LEN 4096
#define XATTR_VALUE_MAX (64u * 1024)

/* type, name length, a 1-byte name, mode, uid, gid, three times, size,
 * dev, ino, nlink, xattr count: the least an entry takes, which bounds
 * the count a buffer can claim before anything is allocated. */
#define ENTRY_MIN_LEN (1 + 2 + 1 + 3 * 4 + 3 * 12 + 3 * 8 + 4 + 4)
#define XATTR_MIN_LEN (2 + 1 + 4)

void sp_bk_node_free(struct sp_bk_node *node)
{
	free(node->name);
	free(node->target);
	free(node->chunks);
	free(node->repeat);
	for (size_t i = 0; i < node->n_xattrs; i++) {
		free(node->xattrs[i].name);
		free(node->xattrs[i].value);
	}
	free(node->xattrs);
	memset(node, 0, sizeof *node);
}

void sp_bk_tree_free(struct sp_bk_tree *tree)
{
	for (size_t i = 0; i < tree->n; i++)
		sp_bk_node_free(&tree->nodes[i]);
	free(tree->nodes);
	tree->nodes = NULL;
	tree->n = 0;
}

static bool valid_type(uint8_t type)
{
	return type >= SP_BK_NODE_FILE && type <= SP_BK_NODE_BLK;
}

/* What is wrong with N, or NULL.  Both directions use it, so that the
 * decoder accepts exactly what the encoder writes; the NULs that a C
 * string cannot hold are the decoder's own check. */
static const char *node_problem(const struct sp_bk_node *n)
{
	size_t len;

	if (!valid_type(n->type))
		return "bad type";
	if (!n->name || n->name[0] == '\0')
		return "empty name";
	len = strlen(n->name);
	if (len > NAME_MAX_LEN)
		return "name longer than 255 bytes";
	if (strcmp(n->name, ".") == 0 || strcmp(n->name, "..") == 0)
		return "name is . or ..";
	if (strchr(n->name, '/'))
		return "name contains /";
	if (n->mode > 07777)
		return "mode beyond 07777";
	if (n->mtime_nsec >= 1000000000 || n->atime_nsec >= 1000000000 || n->ctime_nsec >= 1000000000)
		return "nanoseconds beyond 999999999";
	switch ((enum sp_bk_node_type)n->type) {
	case SP_BK_NODE_FILE:
		if (n->n_chunks > SP_BK_BLOB_MAX / SP_BK_ID_LEN)
			return "too many chunks";
		if (n->n_chunks > 0 && !n->chunks)
			return "no chunk list";
		for (size_t i = 0; n->repeat && i < n->n_chunks; i++)
			if (n->repeat[i] == 0)
				return "chunk repeated 0 times";
		break;
	case SP_BK_NODE_SYMLINK:
		if (!n->target || n->target[0] == '\0')
			return "empty symlink target";
		if (strlen(n->target) > TARGET_MAX_LEN)
			return "symlink target longer than 4096 bytes";
		break;
	case SP_BK_NODE_DIR:
	case SP_BK_NODE_FIFO:
	case SP_BK_NODE_CHR:
	case SP_BK_NODE_BLK:
		break;
	}
	if (n->n_xattrs > SP_BK_BLOB_MAX / XATTR_MIN_LEN)
		return "too many extended attributes";
	if (n->n_xattrs > 0 && !n->xattrs)
		return "no extended attribute list";
	for (size_t i = 0; i < n->n_xattrs; i++) {
		const struct sp_bk_xattr *x = &n->xattrs[i];

		if (!x->name || x->name[0] == '\0')
			return "empty extended attribute name";
		if (strlen(x->name) > NAME_MAX_LEN)
			return "extended attribute name longer than 255 bytes";
		if (x->len > XATTR_VALUE_MAX)
			return "extended attribute value longer than 64 KiB";
		if (x->len > 0 && !x->value)
			return "no extended attribute value";
	}
	return NULL;
}

/* Whether N has a chunk that comes more than once in a row. */
static bool has_run(const struct sp_bk_node *n)
{
	for (size_t i = 0; n->type == SP_BK_NODE_FILE && n->repeat && i < n->n_chunks; i++)
		if (n->repeat[i] > 1)
			return true;
	return false;
}

/* The bytes N takes (RUNS: in the second encoding), or SIZE_MAX beyond
 * SP_BK_BLOB_MAX.  node_problem() bounds each term below SP_BK_BLOB_MAX,
 * so checking after each keeps even a 32-bit size_t from wrapping. */
static size_t node_len(const struct sp_bk_node *n, bool runs)
{
	size_t len = ENTRY_MIN_LEN - 1 + strlen(n->name);

	switch ((enum sp_bk_node_type)n->type) {
	case SP_BK_NODE_FILE:
		if (n->n_chunks > SP_BK_BLOB_MAX / (SP_BK_ID_LEN + 8))
			return SIZE_MAX;
		len += 4 + n->n_chunks * (SP_BK_ID_LEN + (runs ? 8 : 0));
		break;
	case SP_BK_NODE_DIR:
		len += SP_BK_ID_LEN;
		break;
	case SP_BK_NODE_SYMLINK:
		len += 4 + strlen(n->target);
		break;
	case SP_BK_NODE_CHR:
	case SP_BK_NODE_BLK:
		len += 8;
		break;
	case SP_BK_NODE_FIFO:
		break;
	}
	for (size_t i = 0; i < n->n_xattrs && len <= SP_BK_BLOB_MAX; i++)
		len += 2 + strlen(n->xattrs[i].name) + 4 + n->xattrs[i].len;
	return len <= SP_BK_BLOB_MAX ? len : SIZE_MAX;
}

static uint8_t *put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	return p + 2;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + 4;
}

static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + 8;
}

static uint8_t *put_bytes(uint8_t *p, const void *b, size_t n)
{
	if (n > 0)
		memcpy(p, b, n);
	return p + n;
}

static uint8_t *put_node(uint8_t *p, const struct sp_bk_node *n, bool runs)
{
	size_t name_len = strlen(n->name);

	*p++ = n->type;
	p = put_u16(p, (uint16_t)name_len);
	p = put_bytes(p, n->name, name_len);
	p = put_u32(p, n->mode);
	p = put_u32(p, n->uid);
	p = put_u32(p, n->gid);
	p = put_u64(p, (uint64_t)n->mtime_sec);
	p = put_u32(p, n->mtime_nsec);
	p = put_u64(p, (uint64_t)n->atime_sec);
	p = put_u32(p, n->atime_nsec);
	p = put_u64(p, (uint64_t)n->ctime_sec);
	p = put_u32(p, n->ctime_nsec);
	p = put_u64(p, n->size);
	p = put_u64(p, n->dev);
	p = put_u64(p, n->ino);
	p = put_u32(p, n->nlink);
	switch ((enum sp_bk_node_type)n->type) {
	case SP_BK_NODE_FILE:
		p = put_u32(p, (uint32_t)n->n_chunks);
		if (!runs) {
			p = put_bytes(p, n->chunks, n->n_chunks * SP_BK_ID_LEN);
			break;
		}
		for (size_t i = 0; i < n->n_chunks; i++) {
			p = put_bytes(p, n->chunks[i], SP_BK_ID_LEN);
			p = put_u64(p, n->repeat ? n->repeat[i] : 1);
		}
		break;
	case SP_BK_NODE_DIR:
		p = put_bytes(p, n->subtree, SP_BK_ID_LEN);
		break;
	case SP_BK_NODE_SYMLINK: {
		size_t tlen = strlen(n->target);

		p = put_u32(p, (uint32_t)tlen);
		p = put_bytes(p, n->target, tlen);
		break;
	}
	case SP_BK_NODE_CHR:
	case SP_BK_NODE_BLK:
		p = put_u64(p, n->rdev);
		break;
	case SP_BK_NODE_FIFO:
		break;
	}
	p = put_u32(p, (uint32_t)n->n_xattrs);
	for (size_t i = 0; i < n->n_xattrs; i++) {
		const struct sp_bk_xattr *x = &n->xattrs[i];
		size_t xlen = strlen(x->name);

		p = put_u16(p, (uint16_t)xlen);
		p = put_bytes(p, x->name, xlen);
		p = put_u32(p, (uint32_t)x->len);
		p = put_bytes(p, x->value, x->len);
	}
	return p;
}

static int cmp_node_name(const void *a, const void *b)
{
	const struct sp_bk_node *x = a, *y = b;

	return strcmp(x->name, y->name);
}

int sp_bk_tree_encode(struct sp_bk_tree *tree, uint8_t **out, size_t *len, struct sp_err *err)
{
	size_t total = MAGIC_LEN + 4;
	uint8_t *buf, *p;
	bool runs = false;

	if (tree->n > UINT32_MAX)
		return sp_fail(err, SP_ERR_RUNTIME, "tree: %zu entries: too many", tree->n);
	/* Checked before sorting: the names must be there to sort by, and
	 * the entry numbers in messages are the caller's. */
	for (size_t i = 0; i < tree->n; i++) {
		const char *problem = node_problem(&tree->nodes[i]);

		if (problem)
			return sp_fail(err, SP_ERR_RUNTIME, "tree: entry %zu: %s", i, problem);
		runs = runs || has_run(&tree->nodes[i]);
	}
	if (tree->n > 1)
		qsort(tree->nodes, tree->n, sizeof *tree->nodes, cmp_node_name);
	for (size_t i = 0; i < tree->n; i++) {
		size_t nlen = node_len(&tree->nodes[i], runs);

		if (i > 0 && strcmp(tree->nodes[i - 1].name, tree->nodes[i].name) == 0)
			return sp_fail(err, SP_ERR_RUNTIME, "tree: two entries of one name");
		if (nlen > SP_BK_BLOB_MAX - total)
			return sp_fail(err, SP_ERR_RUNTIME, "tree: %zu entries: larger than %u bytes", tree->n,
				       SP_BK_BLOB_MAX);
		total += nlen;
	}

	buf = malloc(total);
	if (!buf)
		return sp_fail_errno(err, ENOMEM, "tree: %zu bytes", total);
	p = put_bytes(buf, runs ? TREE_MAGIC_RUNS : TREE_MAGIC, MAGIC_LEN);
	p = put_u32(p, (uint32_t)tree->n);
	for (size_t i = 0; i < tree->n; i++)
		p = put_node(p, &tree->nodes[i], runs);
	/* node_len() and put_node() must agree; a mismatch is a bug here,
	 * not bad input. */
	if ((size_t)(p - buf) != total)
		abort();
	*out = buf;
	*len = total;
	return 0;
}

/* The decoder's view of the bytes not read yet. */
struct reader {
	const uint8_t *p;
	size_t left;
};

static bool get_bytes(struct reader *r, size_t n, const uint8_t **out)
{
	if (n > r->left)
		return false;
	*out = r->p;
	r->p += n;
	r->left -= n;
	return true;
}

static bool get_u8(struct reader *r, uint8_t *v)
{
	const uint8_t *b;

	if (!get_bytes(r, 1, &b))
		return false;
	*v = b[0];
	return true;
}

static bool get_u16(struct reader *r, uint16_t *v)
{
	const uint8_t *b;

	if (!get_bytes(r, 2, &b))
		return false;
	*v = (uint16_t)(b[0] | b[1] << 8);
	return true;
}

static bool get_u32(struct reader *r, uint32_t *v)
{
	const uint8_t *b;

	if (!get_bytes(r, 4, &b))
		return false;
	*v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	return true;
}

static bool get_u64(struct reader *r, uint64_t *v)
{
	const uint8_t *b;

	if (!get_bytes(r, 8, &b))
		return false;
	*v = 0;
	for (int i = 0; i < 8; i++)
		*v |= (uint64_t)b[i] << (8 * i);
	return true;
}

static bool get_i64(struct reader *r, int64_t *v)
{
	uint64_t u;

	if (!get_u64(r, &u))
		return false;
	*v = (int64_t)u;
	return true;
}

/* A string of LEN bytes as a NUL-terminated copy in *OUT; NULL, or what
 * is wrong (ON_NUL when a NUL inside would cut it short). */
static const char *get_string(struct reader *r, size_t len, char **out, const char *on_nul)
{
	const uint8_t *b;

	if (!get_bytes(r, len, &b))
		return "truncated";
	if (memchr(b, '\0', len))
		return on_nul;
	*out = malloc(len + 1);
	if (!*out)
		return "out of memory";
	memcpy(*out, b, len);
	(*out)[len] = '\0';
	return NULL;
}

/* Reads one entry into N; returns NULL or what is wrong.  What has been
 * allocated stays in N for the caller to free. */
static const char *get_node(struct reader *r, struct sp_bk_node *n, bool runs)
{
	uint16_t name_len;
	uint32_t count;
	const char *problem;

	if (!get_u8(r, &n->type))
		return "truncated";
	if (!valid_type(n->type))
		return "bad type";
	if (!get_u16(r, &name_len))
		return "truncated";
	if (name_len == 0)
		return "empty name";
	if (name_len > NAME_MAX_LEN)
		return "name longer than 255 bytes";
	problem = get_string(r, name_len, &n->name, "name contains NUL");
	if (problem)
		return problem;
	if (!get_u32(r, &n->mode) || !get_u32(r, &n->uid) || !get_u32(r, &n->gid) ||
	    !get_i64(r, &n->mtime_sec) || !get_u32(r, &n->mtime_nsec) ||
	    !get_i64(r, &n->atime_sec) || !get_u32(r, &n->atime_nsec) ||
	    !get_i64(r, &n->ctime_sec) || !get_u32(r, &n->ctime_nsec) ||
	    !get_u64(r, &n->size) || !get_u64(r, &n->dev) || !get_u64(r, &n->ino) || !get_u32(r, &n->nlink))
		return "truncated";

	switch ((enum sp_bk_node_type)n->type) {
	case SP_BK_NODE_FILE: {
		const uint8_t *ids;

		size_t each = SP_BK_ID_LEN + (runs ? 8 : 0);

		if (!get_u32(r, &count))
			return "truncated";
		/* Divided, not multiplied: COUNT is the input's. */
		if (count > r->left / each)
			return "truncated chunk list";
		if (runs && count > 0) {
			n->chunks = malloc((size_t)count * SP_BK_ID_LEN);
			n->repeat = malloc((size_t)count * sizeof *n->repeat);
			if (!n->chunks || !n->repeat)
				return "out of memory";
			n->n_chunks = count;
			for (uint32_t i = 0; i < count; i++) {
				if (!get_bytes(r, SP_BK_ID_LEN, &ids) || !get_u64(r, &n->repeat[i]))
					return "truncated chunk list";
				memcpy(n->chunks[i], ids, SP_BK_ID_LEN);
				if (n->repeat[i] == 0)
					return "chunk repeated 0 times";
			}
			/* Only the repeated need the list (as the encoder
			 * holds it): decoding and encoding again give the same
			 * bytes either way. */
			if (!has_run(n)) {
				free(n->repeat);
				n->repeat = NULL;
			}
			break;
		}
		if (!get_bytes(r, (size_t)count * SP_BK_ID_LEN, &ids))
			return "truncated chunk list";
		if (count > 0) {
			n->chunks = malloc((size_t)count * SP_BK_ID_LEN);
			if (!n->chunks)
				return "out of memory";
			memcpy(n->chunks, ids, (size_t)count * SP_BK_ID_LEN);
		}
		n->n_chunks = count;
		break;
	}
	case SP_BK_NODE_DIR: {
		const uint8_t *id;

		if (!get_bytes(r, SP_BK_ID_LEN, &id))
			return "truncated";
		memcpy(n->subtree, id, SP_BK_ID_LEN);
		break;
	}
	case SP_BK_NODE_SYMLINK:
		if (!get_u32(r, &count))
			return "truncated";
		if (count == 0)
			return "empty symlink target";
		if (count > TARGET_MAX_LEN)
			return "symlink target longer than 4096 bytes";
		problem = get_string(r, count, &n->target, "symlink target contains NUL");
		if (problem)
			return problem;
		break;
	case SP_BK_NODE_CHR:
	case SP_BK_NODE_BLK:
		if (!get_u64(r, &n->rdev))
			return "truncated";
		break;
	case SP_BK_NODE_FIFO:
		break;
	}

	if (!get_u32(r, &count))
		return "truncated";
	if (count > r->left / XATTR_MIN_LEN)
		return "truncated extended attributes";
	if (count > 0) {
		n->xattrs = calloc(count, sizeof *n->xattrs);
		if (!n->xattrs)
			return "out of memory";
	}
	for (uint32_t i = 0; i < count; i++) {
		struct sp_bk_xattr *x = &n->xattrs[i];
		uint32_t value_len;
		const uint8_t *value;

		/* Counted as it fills, so that the caller frees only what is
		 * there. */
		n->n_xattrs = i + 1;
		if (!get_u16(r, &name_len))
			return "truncated";
		if (name_len == 0)
			return "empty extended attribute name";
		if (name_len > NAME_MAX_LEN)
			return "extended attribute name longer than 255 bytes";
		problem = get_string(r, name_len, &x->name, "extended attribute name contains NUL");
		if (problem)
			return problem;
		if (!get_u32(r, &value_len))
			return "truncated";
		if (value_len > XATTR_VALUE_MAX)
			return "extended attribute value longer than 64 KiB";
		if (!get_bytes(r, value_len, &value))
			return "truncated";
		/* Never NULL, even when empty: one less case for its users. */
		x->value = malloc(value_len + 1);
		if (!x->value)
			return "out of memory";
		memcpy(x->value, value, value_len);
		x->len = value_len;
	}
	return node_problem(n);
}

int sp_bk_tree_decode(const uint8_t *buf, size_t len, struct sp_bk_tree *tree, struct sp_err *err)
{
	struct reader r = { .p = buf, .left = len };
	struct sp_bk_tree t = { 0 };
	const uint8_t *magic;
	uint32_t count;
	bool runs, any_run = false;

	tree->nodes = NULL;
	tree->n = 0;
	if (len > SP_BK_BLOB_MAX)
		return sp_fail(err, SP_ERR_RUNTIME, "tree: %zu bytes, more than a blob holds", len);
	if (!get_bytes(&r, MAGIC_LEN, &magic) ||
	    (memcmp(magic, TREE_MAGIC, MAGIC_LEN) != 0 && memcmp(magic, TREE_MAGIC_RUNS, MAGIC_LEN) != 0))
		return sp_fail(err, SP_ERR_RUNTIME, "tree: not a tree (bad magic)");
	runs = memcmp(magic, TREE_MAGIC_RUNS, MAGIC_LEN) == 0;
	if (!get_u32(&r, &count))
		return sp_fail(err, SP_ERR_RUNTIME, "tree: truncated header");
	if (count > r.left / ENTRY_MIN_LEN)
		return sp_fail(err, SP_ERR_RUNTIME, "tree: %" PRIu32 " entries cannot fit in %zu bytes", count, len);
	if (count > 0) {
		t.nodes = calloc(count, sizeof *t.nodes);
		if (!t.nodes)
			return sp_fail_errno(err, ENOMEM, "tree: %" PRIu32 " entries", count);
	}
	for (uint32_t i = 0; i < count; i++) {
		struct sp_bk_node *n = &t.nodes[i];
		const char *problem;

		t.n = i + 1;
		problem = get_node(&r, n, runs);
		any_run = any_run || (!problem && has_run(n));
		if (!problem && i > 0) {
			int cmp = strcmp(t.nodes[i - 1].name, n->name);

			if (cmp == 0)
				problem = "name repeated";
			else if (cmp > 0)
				problem = "name not in order";
		}
		if (problem) {
			sp_bk_tree_free(&t);
			return sp_fail(err, SP_ERR_RUNTIME, "tree: entry %" PRIu32 ": %s", i, problem);
		}
	}
	if (r.left > 0) {
		sp_bk_tree_free(&t);
		return sp_fail(err, SP_ERR_RUNTIME, "tree: %zu bytes after the last entry", r.left);
	}
	/* The encoder writes the second form only for a repeated chunk. */
	if (runs && !any_run) {
		sp_bk_tree_free(&t);
		return sp_fail(err, SP_ERR_RUNTIME, "tree: %s without a repeated chunk", TREE_MAGIC_RUNS);
	}
	*tree = t;
	return 0;
}
