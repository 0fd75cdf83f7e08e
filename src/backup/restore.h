/* Writing a snapshot's tree back to disk. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "backup/index.h"
#include "backup/progress.h"
#include "backup/repo.h"
#include "util/err.h"

/* What a restore may write at most, and what it has written: a snapshot
 * says how many entries and bytes it holds, and a restore of it that
 * goes beyond (a hostile repository can make one small subtree appear a
 * million times) stops.  Shared across the calls of one restore. */
struct sp_bk_restore_budget {
	struct sp_bk_progress *progress; /* may be NULL */
	uint64_t max_entries, max_bytes; /* 0: no limit */
	uint64_t entries, bytes;
};

/* Restores the tree TREE into the directory DIRFD, which must be empty.
 * Every entry is made relative to its parent's descriptor, with
 * O_NOFOLLOW/O_EXCL, so nothing a snapshot holds (a symlink, "..") can
 * make it write outside DIRFD.  Restores contents (all-zero runs of 4 KiB
 * and more as holes: sparse files stay sparse), modes with
 * setuid/setgid/sticky, owners (when root), times (directories after
 * their contents), extended attributes, hard links (nodes of one dev+ino
 * within the snapshot become links of one file), symlinks, fifos and
 * device nodes.  WHERE names the directory in messages.  It does not
 * sync: the caller does where it matters (before an in-place swap). */
int sp_bk_restore_tree(struct sp_bk_repo *repo, const struct sp_bk_index *idx, const uint8_t tree[SP_BK_ID_LEN],
		       int dirfd, const char *where, struct sp_bk_restore_budget *budget, struct sp_err *err);

/* The id of the directory at PATH ("state/writer-work", "" for the root)
 * beneath the root tree ROOT.  -1 with "no PATH in the snapshot" when it
 * is not there or not a directory. */
int sp_bk_tree_lookup(struct sp_bk_repo *repo, const struct sp_bk_index *idx, const uint8_t root[SP_BK_ID_LEN],
		      const char *path, uint8_t out[SP_BK_ID_LEN], struct sp_err *err);
