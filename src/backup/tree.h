/* A directory of a snapshot, as one blob: its entries sorted by name,
 * each with its metadata and either its content (a list of chunk ids),
 * its subtree's id, or its link target.  Encoding is binary,
 * little-endian, documented in doc/backup-format.md; decoding checks
 * everything (it reads what a damaged or hostile repository holds). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "backup/crypto.h"
#include "util/err.h"

enum sp_bk_node_type {
	SP_BK_NODE_FILE = 1,
	SP_BK_NODE_DIR = 2,
	SP_BK_NODE_SYMLINK = 3,
	SP_BK_NODE_FIFO = 4,
	SP_BK_NODE_CHR = 5,
	SP_BK_NODE_BLK = 6,
};

struct sp_bk_xattr {
	char *name;      /* NUL-terminated, non-empty */
	uint8_t *value;
	size_t len;
};

struct sp_bk_node {
	uint8_t type;    /* enum sp_bk_node_type */
	char *name;      /* one path component: not "", ".", "..", no '/' */
	uint32_t mode;   /* permission bits incl. setuid/setgid/sticky (07777) */
	uint32_t uid, gid;
	int64_t mtime_sec, atime_sec, ctime_sec;
	uint32_t mtime_nsec, atime_nsec, ctime_nsec;
	uint64_t size;   /* files: bytes; others 0 */
	uint64_t dev, ino; /* hard links: same dev+ino within a snapshot */
	uint32_t nlink;
	uint64_t rdev;   /* CHR/BLK */
	char *target;    /* SYMLINK: its target, non-empty */
	uint8_t subtree[SP_BK_ID_LEN];  /* DIR */
	uint8_t (*chunks)[SP_BK_ID_LEN]; /* FILE: its content, in order */
	size_t n_chunks;
	/* FILE: NULL when each chunk comes once; else chunks[i] comes
	 * repeat[i] >= 1 times in a row (a sparse file's hole is one id
	 * repeated millions of times, kept as one entry). */
	uint64_t *repeat;
	struct sp_bk_xattr *xattrs;
	size_t n_xattrs;
};

struct sp_bk_tree {
	struct sp_bk_node *nodes;
	size_t n;
};

/* Sorts the nodes by name (byte order) and encodes them.  Fails on two
 * nodes of one name or an invalid node.  A tree with a repeated chunk
 * (some repeat[i] > 1) is written in the second encoding, "SPBKTR02";
 * every other tree in the first, as before. */
int sp_bk_tree_encode(struct sp_bk_tree *tree, uint8_t **out, size_t *len, struct sp_err *err);

/* Decodes BUF.  Fails, with what is wrong, on anything that
 * sp_bk_tree_encode would not have written: bad type or name, names not
 * strictly increasing, lengths beyond the buffer, trailing bytes. */
int sp_bk_tree_decode(const uint8_t *buf, size_t len, struct sp_bk_tree *tree, struct sp_err *err);

void sp_bk_node_free(struct sp_bk_node *node);
void sp_bk_tree_free(struct sp_bk_tree *tree);
