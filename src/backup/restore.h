/* Writing a snapshot's tree back to disk. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backup/index.h"
#include "backup/progress.h"
#include "backup/repo.h"
#include "util/err.h"

/* What a restore of a store leaves out, because nothing an instance can
 * write has it and a forged (or stolen-key) repository would use it to
 * give a local user root: setuid/setgid bits (cleared), device nodes
 * (not made), and every extended attribute outside user.* (security.*
 * holds file capabilities and SELinux labels, trusted.* overlayfs and
 * other root-only state, system.* POSIX ACLs that could let others in).
 * The attributes are counted by name, the first few names kept. */
#define SP_BK_DROPPED_NAMES 4
struct sp_bk_dropped {
	uint64_t setid;   /* entries whose setuid/setgid bits were cleared */
	uint64_t devices; /* character and block devices not made */
	uint64_t xattrs;  /* attributes left out, all names */
	struct {
		char name[256];
		uint64_t n;
	} names[SP_BK_DROPPED_NAMES];
	size_t n_names;
};

/* One line saying what D counts ("dropped 3 things a store never holds:
 * 1 setuid/setgid mode, 1 device node, 1 security.capability
 * attribute"), names escaped as util/shown.h says; "" when D
 * counts nothing. */
void sp_bk_dropped_describe(const struct sp_bk_dropped *d, char *buf, size_t size);

/* What a restore may write at most, and what it has written: a snapshot
 * says how many entries and bytes it holds, and a restore of it that
 * goes beyond (a hostile repository can make one small subtree appear a
 * million times) stops.  Shared across the calls of one restore, with
 * how it writes: who owns what it makes, the mode of the directories at
 * the top of the tree, and what it leaves out. */
struct sp_bk_restore_budget {
	struct sp_bk_progress *progress; /* may be NULL */
	uint64_t max_entries, max_bytes; /* always limits: 0 allows nothing */
	uint64_t entries, bytes;
	/* Every entry is owned by them (when root), whatever the snapshot
	 * says: files in a store have one owner on disk, the store's. */
	uid_t owner_uid;
	gid_t owner_gid;
	mode_t top_dir_mode;      /* directories directly in the tree's root; 0: as recorded */
	struct sp_bk_dropped dropped;
};

/* Sets BUDGET's limits from a snapshot's own counts (a little more than
 * they say; capped by absolute ceilings, since a forged snapshot claims
 * what it likes).  Counts whose sum or margin overflows are an error. */
int sp_bk_restore_budget_set(struct sp_bk_restore_budget *budget, uint64_t files, uint64_t dirs, uint64_t bytes,
			     struct sp_err *err);

/* Restores the tree TREE into the directory DIRFD, which must be empty.
 * Every entry is made relative to its parent's descriptor, with
 * O_NOFOLLOW/O_EXCL, so nothing a snapshot holds (a symlink, "..") can
 * make it write outside DIRFD.  Restores contents (all-zero runs of 4 KiB
 * and more as holes: sparse files stay sparse), modes with the sticky
 * bit, times (directories after their contents), user.* extended
 * attributes, hard links (nodes of one dev+ino within the snapshot
 * become links of one file), symlinks and fifos; every entry owned by
 * BUDGET's owner.  What a store never holds (struct sp_bk_dropped) is
 * left out and counted in BUDGET.  WHERE names the directory in
 * messages.  It does not sync: the caller does where it matters (before
 * an in-place swap). */
int sp_bk_restore_tree(struct sp_bk_repo *repo, const struct sp_bk_index *idx, const uint8_t tree[SP_BK_ID_LEN],
		       int dirfd, const char *where, struct sp_bk_restore_budget *budget, struct sp_err *err);

/* The id of the directory at PATH ("state/writer-work", "" for the root)
 * beneath the root tree ROOT.  -1 with "no PATH in the snapshot" when it
 * is not there or not a directory. */
int sp_bk_tree_lookup(struct sp_bk_repo *repo, const struct sp_bk_index *idx, const uint8_t root[SP_BK_ID_LEN],
		      const char *path, uint8_t out[SP_BK_ID_LEN], struct sp_err *err);
