/* Writing a snapshot's tree back to disk.
 *
 * The repository may be damaged or hostile: a tree can hold any entry of
 * any type, with any link target, in any order a decoder accepts.  A
 * restore that resolved paths would let it write outside the target ("a"
 * a symlink to /etc, then "a/passwd"), so nothing here resolves a path
 * through anything the snapshot made:
 *
 *  - An entry is made by one *at call on its parent's descriptor, with a
 *    single component (tree_decode refuses "", ".", ".." and '/'), and
 *    with O_EXCL/O_NOFOLLOW: an entry already there, or a symlink in its
 *    place, fails the call instead of being followed or reused.
 *  - A directory is entered only through the descriptor of the one just
 *    made (O_DIRECTORY|O_NOFOLLOW); symlinks are made, never opened.
 *  - Metadata goes through the entry's own descriptor (files,
 *    directories) or through *at calls that do not follow (symlinks,
 *    fifos, devices, which are not opened: opening a device can act).
 *  - Descriptors do not pile up with depth: a directory's is closed while
 *    a subdirectory is restored, and opened again through that
 *    subdirectory's "..", checked to be the same device and inode.
 *  - A hard link's first copy is reached again from the restore root by
 *    openat(O_PATH|O_DIRECTORY|O_NOFOLLOW) through the directories made
 *    here, and the link is checked to be the inode made then.  When
 *    linking is refused, the entry becomes a copy of its own.
 *  - New directories stay 0700 until their contents are done, so nobody
 *    else enters them meanwhile; a directory's metadata comes after its
 *    contents (its mtime sticks, its mode cannot lock us out).
 *  - Depth is bounded, so a hostile tree ends in an error, not at the
 *    end of the stack; names in messages are shown escaped (util/shown.h).
 *
 * What is restored is a store's, and a store never holds what would give
 * a local user more than the store's owner has (struct sp_bk_dropped):
 * no setuid/setgid bit, no device node, no attribute outside user.*, no
 * owner but the store's, no top directory others can enter.  A snapshot
 * saying otherwise is forged (or the store was changed by hand as root):
 * what it says there is left out and counted, whatever the repository's
 * encryption (a stolen passphrase must not become root).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backup/chunker.h"
#include "backup/prefetch.h"
#include "backup/restore.h"
#include "backup/tree.h"
#include "util/cleanup.h"
#include "util/relpath.h"
#include "util/shown.h"

/* create never writes a directory deeper than 1024 beneath the store's
 * top (MAX_DEPTH in create.c, and before it an error): a deeper tree is
 * forged.  Each level costs its stack frames, about 250 bytes: 1100 fit
 * even a 1 MiB stack, where 4096 ended in SIGSEGV. */
#define DEPTH_MAX 1100
/* Each directory above the one being restored keeps its listing in
 * memory (its entries are not all done).  A forged snapshot nests
 * listings of 64 MiB each (compressed, they take little room in the
 * repository) 1100 deep: 70 GiB of listings, more decoded.  So the
 * listings along one path are bounded, checked before one is decoded:
 * four of the largest, nested, still pass; a real store nests none. */
#define HELD_MAX (UINT64_C(256) << 20)
/* Whole blocks of zeros, aligned in the file, are left as holes. */
#define HOLE_BLOCK 4096
/* The longest path a message shows, in bytes of the name; its end is
 * kept, it names the entry.  Escaped (util/shown.h), a byte takes at
 * most 4 characters. */
#define SHOWN_MAX 300
#define SHOWN_BUF (4 * SHOWN_MAX + 8)

/* The first copy of a node that has more than one link. */
struct link {
	uint64_t dev, ino; /* in the snapshot */
	uint8_t type;
	char *path;        /* relative to the restore root */
	dev_t st_dev;      /* what was made */
	ino_t st_ino;
};

/* The next chunk to ask for in a directory's listing: node AN, chunk AC. */
struct ahead {
	const struct sp_bk_tree *tree;
	size_t an, ac;
};

struct restore {
	struct sp_bk_repo *repo;
	const struct sp_bk_index *idx;
	struct sp_bk_progress *progress;
	struct sp_bk_restore_budget *budget;
	struct sp_bk_prefetch *pf; /* decodes the chunks of the next files */
	struct ahead *ahead;       /* how far the directory being done has asked */
	uid_t uid;   /* who we are: what a file we make is owned by */
	gid_t gid;   /* (gid_t)-1: unknown (a setgid directory decides) */
	bool owned;  /* what we make is already the owner's: no chown */
	mode_t umask;
	int rootfd;
	bool root;
	unsigned depth;
	uint64_t held; /* bytes of the listings loaded along the path */
	struct sp_relpath path; /* the entry being restored, relative to WHERE */
	void *links;       /* tsearch() tree of struct link */
	char shown[SHOWN_BUF];
};

/* S for a message, escaped as util/shown.h says (C0 and C1 controls,
 * bidi overrides, bytes that are not UTF-8: a hostile name's way to
 * rewrite the terminal); a long S keeps its last SHOWN_MAX bytes, from
 * the start of a character.  BUF holds SHOWN_BUF bytes. */
static const char *shown(const char *s, char *buf, size_t size)
{
	size_t len = strlen(s), o = 0;

	if (len > SHOWN_MAX) {
		s += len - SHOWN_MAX;
		for (int k = 0; k < 3 && ((unsigned char)*s & 0xc0) == 0x80; k++)
			s++;
		memcpy(buf, "...", 3);
		o = 3;
	}
	sp_shown(buf + o, size - o, s);
	return buf;
}

/* Puts the path of the entry being restored before the message. */
static int at(struct restore *r, struct sp_err *err)
{
	return sp_err_wrap(err, "%s", shown(r->path.s, r->shown, sizeof r->shown));
}

static int path_push(struct restore *r, const char *name, size_t *old, struct sp_err *err)
{
	if (sp_relpath_push(&r->path, name, old) < 0)
		return sp_fail_errno(err, ENOMEM, "path");
	return 0;
}

static void path_pop(struct restore *r, size_t old)
{
	sp_relpath_pop(&r->path, old);
}

/* ---- Contents ---- */

static bool is_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t pos)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)pos);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		pos += (uint64_t)w;
	}
	return 0;
}

/* Writes BUF at POS but for its all-zero blocks.  The file is new, so
 * what is not written reads as zeros: whole blocks are holes, and a
 * partial one at either end (its block goes on in the next chunk) is
 * filled by the file system when the rest of its block is written. */
/* *TAIL_HOLE: whether BUF's last block was left a hole (the file's size
 * then needs setting, if it is the last). */
static int write_sparse(int fd, const uint8_t *buf, size_t len, uint64_t pos, bool *tail_hole)
{
	size_t start = 0, i = 0;

	while (i < len) {
		size_t n = HOLE_BLOCK - (size_t)((pos + i) % HOLE_BLOCK);

		if (n > len - i)
			n = len - i;
		if (is_zero(buf + i, n)) {
			if (write_all(fd, buf + start, i - start, pos + start) < 0)
				return -1;
			start = i + n;
		}
		i += n;
	}
	*tail_hole = start == len && len > 0;
	return write_all(fd, buf + start, len - start, pos + start);
}

/* Asks the prefetcher for the chunks of the files from node *AN, chunk
 * *AC, on, as far as its window goes.  Hard-linked files are left out:
 * they may be linked instead of written. */
static void ask_ahead(struct restore *r)
{
	const struct sp_bk_tree *tree;
	size_t *an, *ac;

	if (r->pf == NULL || r->ahead == NULL)
		return;
	tree = r->ahead->tree;
	an = &r->ahead->an;
	ac = &r->ahead->ac;
	for (; *an < tree->n; (*an)++, *ac = 0) {
		const struct sp_bk_node *node = &tree->nodes[*an];

		if (node->type != SP_BK_NODE_FILE || node->nlink > 1)
			continue;
		for (; *ac < node->n_chunks; (*ac)++) {
			const struct sp_bk_index_entry *e = sp_bk_index_find(r->idx, node->chunks[*ac]);

			if (e != NULL && !sp_bk_prefetch_ask(r->pf, node->chunks[*ac], e->loc.raw_len))
				return;
		}
	}
}

static int write_content(struct restore *r, int fd, const struct sp_bk_node *node, struct sp_err *err)
{
	uint64_t pos = 0;
	bool tail_hole = false;

	for (size_t i = 0; i < node->n_chunks; i++) {
		cleanup_free uint8_t *buf = NULL;
		/* A chunk that comes TIMES times in a row (a hole of a sparse
		 * file, mostly) is decoded once. */
		uint64_t times = node->repeat != NULL ? node->repeat[i] : 1;
		size_t len;

		if (sp_bk_prefetch_get(r->pf, r->repo, r->idx, node->chunks[i], &buf, &len, err) < 0)
			return sp_err_wrap(err, "chunk %zu of %zu", i + 1, node->n_chunks);
		ask_ahead(r);
		/* Stop before writing more than the snapshot says: a hostile
		 * tree could otherwise fill the disk.  Divided, not
		 * multiplied: TIMES is the tree's. */
		if (len > node->size - pos || (len > 0 && times > (node->size - pos) / len))
			return sp_fail(err, SP_ERR_RUNTIME, "content is more than the %" PRIu64 " bytes the snapshot says",
				       node->size);
		/* The chunker cuts nothing shorter but a file's last chunk,
		 * which comes once: a short chunk repeated is forged, to make
		 * one write call per few bytes. */
		if (times > 1 && len < SP_BK_CHUNK_MIN)
			return sp_fail(err, SP_ERR_RUNTIME,
				       "chunk %zu of %zu: %zu bytes repeated %" PRIu64
				       " times: a chunk is never repeated below %u bytes (a damaged or forged repository)",
				       i + 1, node->n_chunks, len, times, SP_BK_CHUNK_MIN);
		/* LEN * TIMES is bounded by the size above, the sum is not: a
		 * total that wrapped would pass every limit. */
		if (__builtin_add_overflow(r->budget->bytes, len * times, &r->budget->bytes) ||
		    r->budget->bytes > r->budget->max_bytes)
			return sp_fail(err, SP_ERR_RUNTIME,
				       "the snapshot holds more than the %" PRIu64 " bytes it says (a damaged or forged repository)",
				       r->budget->max_bytes);
		/* Zeros repeated are a hole: nothing to write. */
		if (times > 1 && len > 0 && is_zero(buf, len)) {
			pos += len * times;
			tail_hole = true;
			if (r->progress)
				sp_bk_progress_add(r->progress, 0, len * times);
			continue;
		}
		for (uint64_t k = 0; k < times; k++) {
			if (write_sparse(fd, buf, len, pos, &tail_hole) < 0)
				return sp_fail_errno(err, errno, "chunk %zu of %zu: write", i + 1, node->n_chunks);
			pos += len;
			if (r->progress)
				sp_bk_progress_add(r->progress, 0, len);
		}
	}
	if (pos != node->size)
		return sp_fail(err, SP_ERR_RUNTIME, "content is %" PRIu64 " bytes, snapshot says %" PRIu64, pos,
			       node->size);
	/* The size, for a trailing hole that was never written. */
	if (tail_hole && ftruncate(fd, (off_t)node->size) < 0)
		return sp_fail_errno(err, errno, "set size");
	return 0;
}

/* ---- Metadata ---- */

static void node_times(const struct sp_bk_node *node, struct timespec ts[2])
{
	ts[0] = (struct timespec){ .tv_sec = node->atime_sec, .tv_nsec = node->atime_nsec };
	ts[1] = (struct timespec){ .tv_sec = node->mtime_sec, .tv_nsec = node->mtime_nsec };
}

/* Only user.* attributes: see struct sp_bk_dropped.  The others are
 * counted, by name. */
static bool xattr_kept(struct restore *r, const char *name)
{
	struct sp_bk_dropped *d = &r->budget->dropped;
	size_t i;

	if (strncmp(name, "user.", 5) == 0)
		return true;
	d->xattrs++;
	for (i = 0; i < d->n_names; i++) {
		if (strcmp(d->names[i].name, name) == 0)
			break;
	}
	if (i == d->n_names && i < SP_BK_DROPPED_NAMES) {
		snprintf(d->names[i].name, sizeof d->names[i].name, "%s", name);
		d->n_names++;
	}
	if (i < d->n_names)
		d->names[i].n++;
	return false;
}

/* The mode NODE gets: no setuid/setgid (counted), and the forced mode
 * of a directory at the top of the tree. */
static mode_t node_mode(struct restore *r, const struct sp_bk_node *node)
{
	mode_t mode = node->mode & 07777;

	if (mode & (S_ISUID | S_ISGID)) {
		r->budget->dropped.setid++;
		mode &= ~(mode_t)(S_ISUID | S_ISGID);
	}
	if (node->type == SP_BK_NODE_DIR && r->depth == 0 && r->budget->top_dir_mode != 0)
		mode = r->budget->top_dir_mode;
	return mode;
}

/* Owner first: a chown clears mode bits and attributes set before it,
 * so they come after it.  The mode before the times only so that the
 * times are the last change. */
static int set_meta_fd(struct restore *r, int fd, const struct sp_bk_node *node, struct sp_err *err)
{
	struct timespec ts[2];
	mode_t mode = node_mode(r, node);

	/* A file restore_file made has its final permission bits already
	 * (less the umask): only what differs costs a call (a restore of
	 * many small files is mostly such calls). */
	bool made = node->type == SP_BK_NODE_FILE;

	if (r->root && !r->owned && fchown(fd, r->budget->owner_uid, r->budget->owner_gid) < 0)
		return sp_fail_errno(err, errno, "set owner %ju:%ju", (uintmax_t)r->budget->owner_uid,
				     (uintmax_t)r->budget->owner_gid);
	for (size_t i = 0; i < node->n_xattrs; i++) {
		const struct sp_bk_xattr *x = &node->xattrs[i];
		char name[SHOWN_BUF];

		if (!xattr_kept(r, x->name))
			continue;
		if (fsetxattr(fd, x->name, x->value, x->len, 0) < 0)
			return sp_fail_errno(err, errno, "set extended attribute %s", shown(x->name, name, sizeof name));
	}
	if (!(made && (mode & 07000) == 0 && (mode & r->umask) == 0) && fchmod(fd, mode) < 0)
		return sp_fail_errno(err, errno, "set mode %04o", (unsigned)mode);
	node_times(node, ts);
	if (futimens(fd, ts) < 0)
		return sp_fail_errno(err, errno, "set times");
	return 0;
}

/* Symlinks, fifos and devices have no descriptor to write attributes
 * through: their name is looked up in DIRFD by way of /proc/self/fd, and
 * lsetxattr does not follow it.  The kernel keeps user.* to files and
 * directories, so a refusal here (or a file system without attributes
 * on such nodes) is no error: there is nothing the node could hold. */
static int set_xattrs_at(struct restore *r, int dirfd, const struct sp_bk_node *node, struct sp_err *err)
{
	cleanup_free char *path = NULL;

	if (node->n_xattrs == 0)
		return 0;
	if (asprintf(&path, "/proc/self/fd/%d/%s", dirfd, node->name) < 0) {
		path = NULL;
		return sp_fail_errno(err, ENOMEM, "extended attributes");
	}
	for (size_t i = 0; i < node->n_xattrs; i++) {
		const struct sp_bk_xattr *x = &node->xattrs[i];
		char name[SHOWN_BUF];

		if (!xattr_kept(r, x->name))
			continue;
		if (lsetxattr(path, x->name, x->value, x->len, 0) == 0)
			continue;
		if (errno == EPERM || errno == ENOTSUP)
			continue;
		return sp_fail_errno(err, errno, "set extended attribute %s (through /proc/self/fd)",
				     shown(x->name, name, sizeof name));
	}
	return 0;
}

/* As set_meta_fd, for a node named in DIRFD and never opened. */
static int set_meta_at(struct restore *r, int dirfd, const struct sp_bk_node *node, struct sp_err *err)
{
	struct timespec ts[2];
	mode_t mode;

	if (r->root && !r->owned &&
	    fchownat(dirfd, node->name, r->budget->owner_uid, r->budget->owner_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return sp_fail_errno(err, errno, "set owner %ju:%ju", (uintmax_t)r->budget->owner_uid,
				     (uintmax_t)r->budget->owner_gid);
	if (set_xattrs_at(r, dirfd, node, err) < 0)
		return -1;
	/* A symlink has no mode of its own. */
	if (node->type != SP_BK_NODE_SYMLINK) {
		mode = node_mode(r, node);
		if (fchmodat(dirfd, node->name, mode, AT_SYMLINK_NOFOLLOW) < 0)
			return sp_fail_errno(err, errno, "set mode %04o", (unsigned)mode);
	}
	node_times(node, ts);
	if (utimensat(dirfd, node->name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return sp_fail_errno(err, errno, "set times");
	return 0;
}

/* ---- Hard links ---- */

static int link_cmp(const void *a, const void *b)
{
	const struct link *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return 0;
}

static void link_free(void *p)
{
	struct link *l = p;

	free(l->path);
	free(l);
}

/* The directory holding PATH (relative to ROOTFD), reached through
 * directories only: a symlink on the way fails.  -1 when it cannot be. */
static int open_parent(int rootfd, const char *path)
{
	cleanup_free char *copy = strdup(path);
	char *slash, *part, *save = NULL;
	int fd;

	if (!copy)
		return -1;
	fd = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	slash = strrchr(copy, '/');
	if (fd < 0 || !slash)
		return fd;
	*slash = '\0';
	for (part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
		int next = openat(fd, part, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		close(fd);
		if (next < 0)
			return -1;
		fd = next;
	}
	return fd;
}

/* Makes NODE in DIRFD a link of its first copy, when there is one.  1 when
 * it did; 0 when NODE is to be restored as a copy of its own (the first,
 * or linking was refused: another file system, protected_hardlinks, a
 * mode that no longer lets us through). */
static int link_again(struct restore *r, int dirfd, const struct sp_bk_node *node, struct sp_err *err)
{
	struct link key = { .dev = node->dev, .ino = node->ino };
	struct link *const *found = tfind(&key, &r->links, link_cmp);
	const struct link *first;
	const char *last;
	struct stat st;
	int parent, rc;

	if (!found)
		return 0;
	first = *found;
	/* A damaged tree may give a file and a symlink one inode. */
	if (first->type != node->type)
		return 0;
	parent = open_parent(r->rootfd, first->path);
	if (parent < 0)
		return 0;
	last = strrchr(first->path, '/');
	last = last ? last + 1 : first->path;
	/* Flags 0: a symlink is linked itself, not followed. */
	rc = linkat(parent, last, dirfd, node->name, 0);
	close(parent);
	if (rc < 0)
		return 0;
	if (fstatat(dirfd, node->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return sp_fail_errno(err, errno, "check the link to %s", shown(first->path, r->shown, sizeof r->shown));
	if (st.st_dev != first->st_dev || st.st_ino != first->st_ino)
		return sp_fail(err, SP_ERR_RUNTIME, "link to %s: it is no longer the file restored there",
			       shown(first->path, r->shown, sizeof r->shown));
	if (r->progress && node->type == SP_BK_NODE_FILE)
		sp_bk_progress_add(r->progress, 1, 0);
	return 1;
}

/* Notes NODE, just made in DIRFD, as the first copy of its inode. */
static int remember_link(struct restore *r, int dirfd, const struct sp_bk_node *node, struct sp_err *err)
{
	struct link *const *slot;
	struct link *l;
	struct stat st;

	if (fstatat(dirfd, node->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return sp_fail_errno(err, errno, "stat");
	l = calloc(1, sizeof *l);
	if (!l)
		return sp_fail_errno(err, ENOMEM, "hard links");
	*l = (struct link){ .dev = node->dev, .ino = node->ino, .type = node->type, .path = strdup(r->path.s),
			    .st_dev = st.st_dev, .st_ino = st.st_ino };
	slot = l->path ? tsearch(l, &r->links, link_cmp) : NULL;
	if (!slot) {
		link_free(l);
		return sp_fail_errno(err, ENOMEM, "hard links");
	}
	/* One of another type came first (link_again refused it): it stays. */
	if (*slot != l)
		link_free(l);
	return 0;
}

/* ---- Entries ---- */

static int restore_file(struct restore *r, int dirfd, const struct sp_bk_node *node, struct sp_err *err)
{
	/* Made with its permission bits (less the umask; set_meta_fd sees
	 * to the rest): the directory stays 0700 until it is done. */
	cleanup_fd int fd = openat(dirfd, node->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				   (mode_t)(node->mode & 0777));

	if (fd < 0)
		return sp_fail_errno(err, errno, "create");
	if (write_content(r, fd, node, err) < 0 || set_meta_fd(r, fd, node, err) < 0)
		return -1;
	if (close(steal_fd(&fd)) < 0)
		return sp_fail_errno(err, errno, "close");
	if (r->progress)
		sp_bk_progress_add(r->progress, 1, 0);
	return 0;
}

static int restore_symlink(struct restore *r, int dirfd, const struct sp_bk_node *node, struct sp_err *err)
{
	if (symlinkat(node->target, dirfd, node->name) < 0)
		return sp_fail_errno(err, errno, "create symlink");
	return set_meta_at(r, dirfd, node, err);
}

/* 1 when NODE is a device, which is not made (struct sp_bk_dropped):
 * nothing is there then, not even a placeholder, so that nothing can
 * mistake one for the device. */
static int restore_special(struct restore *r, int dirfd, const struct sp_bk_node *node, struct sp_err *err)
{
	if (node->type != SP_BK_NODE_FIFO) {
		r->budget->dropped.devices++;
		return 1;
	}
	if (mkfifoat(dirfd, node->name, 0600) < 0)
		return sp_fail_errno(err, errno, "create fifo");
	return set_meta_at(r, dirfd, node, err);
}

static int restore_entries(struct restore *r, int *dirfd, const uint8_t id[SP_BK_ID_LEN], struct sp_err *err);

/* The directory above FD, which must be the one (DEV, INO) left for it:
 * anything else means the tree was moved meanwhile. */
static int reopen_parent(int fd, dev_t dev, ino_t ino, struct sp_err *err)
{
	struct stat st;
	int parent = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (parent < 0)
		return sp_fail_errno(err, errno, "open its parent again");
	if (fstat(parent, &st) < 0) {
		int e = errno;

		close(parent);
		return sp_fail_errno(err, e, "open its parent again");
	}
	if (st.st_dev != dev || st.st_ino != ino) {
		close(parent);
		return sp_fail(err, SP_ERR_RUNTIME, "its parent directory was moved during the restore");
	}
	return parent;
}

static int fd_ident(int fd, dev_t *dev, ino_t *ino, struct sp_err *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return sp_fail_errno(err, errno, "stat its parent");
	*dev = st.st_dev;
	*ino = st.st_ino;
	return 0;
}

/* Makes directory NODE in *DIRFD and restores what it holds.  *DIRFD is
 * closed meanwhile and replaced by a new descriptor of the same
 * directory (it may be -1 after a failure). */
static int restore_dir(struct restore *r, int *dirfd, const struct sp_bk_node *node, struct sp_err *err)
{
	cleanup_fd int fd = -1;
	dev_t dev = 0;
	ino_t ino = 0;
	int rc;

	if (r->depth >= DEPTH_MAX) {
		sp_fail(err, SP_ERR_RUNTIME, "more than %d levels of directories (a damaged or forged snapshot)", DEPTH_MAX);
		return at(r, err);
	}
	if (fd_ident(*dirfd, &dev, &ino, err) < 0)
		return at(r, err);
	if (mkdirat(*dirfd, node->name, 0700) < 0) {
		sp_fail_errno(err, errno, "create directory");
		return at(r, err);
	}
	fd = openat(*dirfd, node->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		sp_fail_errno(err, errno, "open the new directory");
		return at(r, err);
	}
	/* Not needed until the subtree is done: keeping one open per level
	 * would run out of descriptors in a deep tree. */
	close(steal_fd(dirfd));
	r->depth++;
	rc = restore_entries(r, &fd, node->subtree, err);
	r->depth--;
	if (rc < 0)
		return -1;
	/* Before its mode is set: the mode may deny us its "..". */
	*dirfd = reopen_parent(fd, dev, ino, err);
	if (*dirfd < 0 || set_meta_fd(r, fd, node, err) < 0)
		return at(r, err);
	return 0;
}

/* A copy made as a link has the first copy's mode and attributes: what
 * its own node says beyond a store's is left out all the same, and
 * counted, so that the line about it counts every forged entry. */
static void count_unused(struct restore *r, const struct sp_bk_node *node)
{
	if (node->mode & (S_ISUID | S_ISGID))
		r->budget->dropped.setid++;
	for (size_t i = 0; i < node->n_xattrs; i++)
		xattr_kept(r, node->xattrs[i].name);
}

static int restore_node(struct restore *r, int *dirfd, const struct sp_bk_node *node, struct sp_err *err)
{
	bool linked = node->nlink > 1 && node->type != SP_BK_NODE_DIR;
	int rc;

	switch ((enum sp_bk_node_type)node->type) {
	case SP_BK_NODE_DIR:
		/* Its errors name their own entries. */
		return restore_dir(r, dirfd, node, err);
	case SP_BK_NODE_FILE:
	case SP_BK_NODE_SYMLINK:
	case SP_BK_NODE_FIFO:
	case SP_BK_NODE_CHR:
	case SP_BK_NODE_BLK:
		break;
	default:
		sp_fail(err, SP_ERR_RUNTIME, "unknown type %u", node->type);
		return at(r, err);
	}
	if (linked) {
		rc = link_again(r, *dirfd, node, err);
		if (rc < 0)
			return at(r, err);
		if (rc > 0) {
			count_unused(r, node);
			return 0;
		}
	}
	if (node->type == SP_BK_NODE_FILE)
		rc = restore_file(r, *dirfd, node, err);
	else if (node->type == SP_BK_NODE_SYMLINK)
		rc = restore_symlink(r, *dirfd, node, err);
	else
		rc = restore_special(r, *dirfd, node, err);
	if (rc > 0)
		return 0; /* not made: no first copy to link others to */
	if (rc == 0 && linked)
		rc = remember_link(r, *dirfd, node, err);
	return rc < 0 ? at(r, err) : 0;
}

/* Restores the entries of tree ID into *DIRFD, the directory at r->path
 * (which restore_dir may replace by another descriptor of it). */
static int restore_entries(struct restore *r, int *dirfd, const uint8_t id[SP_BK_ID_LEN], struct sp_err *err)
{
	struct ahead ahead = { 0 }, *outer = r->ahead;
	struct sp_bk_tree tree = { 0 };
	const struct sp_bk_index_entry *e = sp_bk_index_find(r->idx, id);
	uint64_t size = e != NULL ? e->loc.raw_len : 0; /* none: the load fails */
	int ret = -1;

	if (size > HELD_MAX - r->held) {
		sp_fail(err, SP_ERR_RUNTIME,
			"the listings down to here take more than %" PRIu64 " MiB together (a damaged or forged repository)",
			HELD_MAX >> 20);
		return r->path.len > 0 ? at(r, err) : -1;
	}
	if (sp_bk_tree_load(r->repo, r->idx, id, &tree, err) < 0)
		return r->path.len > 0 ? at(r, err) : -1;
	r->held += size;
	ahead.tree = &tree;
	for (size_t i = 0; i < tree.n; i++) {
		size_t old = 0;
		int rc;

		if (ahead.an < i)
			ahead.an = i, ahead.ac = 0;
		r->ahead = &ahead;
		ask_ahead(r);
		if (path_push(r, tree.nodes[i].name, &old, err) < 0)
			goto out;
		if (++r->budget->entries > r->budget->max_entries) {
			sp_fail(err, SP_ERR_RUNTIME,
				"the snapshot holds more than the %" PRIu64 " entries it says (a damaged or forged repository)",
				r->budget->max_entries);
			path_pop(r, old);
			goto out;
		}
		rc = restore_node(r, dirfd, &tree.nodes[i], err);
		path_pop(r, old);
		if (rc < 0)
			goto out;
	}
	ret = 0;
out:
	r->held -= size;
	r->ahead = outer;
	sp_bk_tree_free(&tree);
	return ret;
}

int sp_bk_restore_tree(struct sp_bk_repo *repo, const struct sp_bk_index *idx, const uint8_t tree[SP_BK_ID_LEN],
		       int dirfd, const char *where, struct sp_bk_restore_budget *budget, struct sp_err *err)
{
	struct restore r = {
		.repo = repo,
		.idx = idx,
		.progress = budget->progress,
		.budget = budget,
		.rootfd = dirfd,
		.root = geteuid() == 0,
		.uid = geteuid(),
		.gid = getegid(),
	};
	cleanup_fd int fd = -1;
	int ret = -1;

	r.umask = umask(0);
	umask(r.umask);
	{
		struct stat st;

		/* Beneath a setgid directory new files take its group: then
		 * every owner is set. */
		if (fstat(dirfd, &st) < 0 || (st.st_mode & S_ISGID))
			r.gid = (gid_t)-1;
	}
	r.owned = budget->owner_uid == r.uid && budget->owner_gid == r.gid;
	if (sp_relpath_init(&r.path) < 0) {
		sp_fail_errno(err, ENOMEM, "path");
		goto out;
	}
	/* Our own descriptor, which restore_dir may close and reopen. */
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		sp_fail_errno(err, errno, "open");
		goto out;
	}
	r.pf = sp_bk_prefetch_start(repo, idx);
	if (restore_entries(&r, &fd, tree, err) < 0)
		goto out;
	ret = 0;
out:
	sp_bk_prefetch_stop(r.pf);
	tdestroy(r.links, link_free);
	sp_relpath_free(&r.path);
	if (ret < 0)
		sp_err_wrap(err, "restore to %s", where);
	return ret;
}

int sp_bk_tree_lookup(struct sp_bk_repo *repo, const struct sp_bk_index *idx, const uint8_t root[SP_BK_ID_LEN],
		      const char *path, uint8_t out[SP_BK_ID_LEN], struct sp_err *err)
{
	char buf[SHOWN_BUF];
	uint8_t cur[SP_BK_ID_LEN];
	const char *p = path;

	memcpy(cur, root, SP_BK_ID_LEN);
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		struct sp_bk_tree tree = { 0 };
		const struct sp_bk_node *found = NULL;
		bool is_dir;

		if (n == 0 || (slash && slash[1] == '\0'))
			return sp_fail(err, SP_ERR_USAGE, "%s: an empty path component", shown(path, buf, sizeof buf));
		if (sp_bk_tree_load(repo, idx, cur, &tree, err) < 0)
			return sp_err_wrap(err, "look up %s", shown(path, buf, sizeof buf));
		for (size_t i = 0; i < tree.n && !found; i++) {
			if (strncmp(tree.nodes[i].name, p, n) == 0 && tree.nodes[i].name[n] == '\0')
				found = &tree.nodes[i];
		}
		is_dir = found && found->type == SP_BK_NODE_DIR;
		if (is_dir)
			memcpy(cur, found->subtree, SP_BK_ID_LEN);
		sp_bk_tree_free(&tree);
		if (!is_dir)
			return sp_fail(err, SP_ERR_RUNTIME, "no %s in the snapshot", shown(path, buf, sizeof buf));
		p += slash ? n + 1 : n;
	}
	memcpy(out, cur, SP_BK_ID_LEN);
	return 0;
}

/* Whatever a snapshot claims, a restore writes no more than this: more
 * entries than a file system has inodes (ext4: 2^32), more bytes than a
 * store of this kind has (1 PiB). */
#define ENTRIES_CEILING (UINT64_C(1) << 32)
#define BYTES_CEILING (UINT64_C(1) << 50)

int sp_bk_restore_budget_set(struct sp_bk_restore_budget *budget, uint64_t files, uint64_t dirs, uint64_t bytes,
			     struct sp_err *err)
{
	uint64_t entries, max_entries, max_bytes;

	/* A little more than the snapshot says: files may have been added
	 * while it was taken, after the counting walk reached them.  Sums
	 * that wrap would make a limit small (the restore fails) or, where 0
	 * once meant "none", no limit at all: a forged count is refused. */
	if (__builtin_add_overflow(files, dirs, &entries) || __builtin_mul_overflow(entries, 2, &max_entries) ||
	    __builtin_add_overflow(max_entries, 1024, &max_entries) ||
	    __builtin_add_overflow(bytes, bytes / 8, &max_bytes) ||
	    __builtin_add_overflow(max_bytes, UINT64_C(64) << 20, &max_bytes))
		return sp_fail(err, SP_ERR_RUNTIME,
			       "the snapshot's counts (%" PRIu64 " files, %" PRIu64 " directories, %" PRIu64
			       " bytes) are impossible (a damaged or forged repository)",
			       files, dirs, bytes);
	budget->max_entries = max_entries < ENTRIES_CEILING ? max_entries : ENTRIES_CEILING;
	budget->max_bytes = max_bytes < BYTES_CEILING ? max_bytes : BYTES_CEILING;
	return 0;
}

/* Appends "N WHAT" (WHATS when N is not 1) to BUF at *LEN. */
static void count_of(char *buf, size_t size, size_t *len, uint64_t n, const char *what, const char *whats)
{
	int w;

	if (n == 0 || *len >= size)
		return;
	w = snprintf(buf + *len, size - *len, "%s%" PRIu64 " %s", buf[*len - 1] == ':' ? " " : ", ", n,
		     n == 1 ? what : whats);
	if (w > 0)
		*len += (size_t)w;
}

void sp_bk_dropped_describe(const struct sp_bk_dropped *d, char *buf, size_t size)
{
	uint64_t named = 0, total = d->setid + d->devices + d->xattrs;
	size_t len;
	int w;

	if (size == 0)
		return;
	buf[0] = '\0';
	if (total == 0)
		return;
	w = snprintf(buf, size, "dropped %" PRIu64 " thing%s a store never holds:", total, total == 1 ? "" : "s");
	if (w < 0 || (size_t)w >= size)
		return;
	len = (size_t)w;
	count_of(buf, size, &len, d->setid, "setuid/setgid mode", "setuid/setgid modes");
	count_of(buf, size, &len, d->devices, "device node", "device nodes");
	for (size_t i = 0; i < d->n_names; i++) {
		char name[SHOWN_BUF + 32], safe[SHOWN_BUF];

		snprintf(name, sizeof name, "%s attribute%s", shown(d->names[i].name, safe, sizeof safe),
			 d->names[i].n == 1 ? "" : "s");
		count_of(buf, size, &len, d->names[i].n, name, name);
		named += d->names[i].n;
	}
	count_of(buf, size, &len, d->xattrs - named, "other attribute", "other attributes");
}
