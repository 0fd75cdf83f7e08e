/* Taking a snapshot: walk the store, cut files into chunks, store each
 * chunk and directory listing the repository does not have yet, and
 * record the root.
 *
 * Reuse ("the metadata cache"): the snapshot taken last from the same
 * store is the parent; a file whose size, mtime, ctime and inode match
 * its entry there gets that entry's chunk list without being read, as
 * long as the index still has every chunk.  An unchanged tree is thus
 * one lstat per entry and one tree blob per directory.
 *
 * Order on disk: packs, then an index file listing them (every
 * INDEX_EVERY packs and at the end), then the snapshot.  A backup killed
 * at any point leaves no snapshot that needs a blob without an index
 * entry. */
#include "backup/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "backup/chunker.h"
#include "backup/encoder.h"
#include "backup/freeze.h"
#include "backup/index.h"
#include "backup/pack.h"
#include "backup/progress.h"
#include "backup/tree.h"
#include "util/cleanup.h"
#include "util/strv.h"

#define INDEX_EVERY 8
#define READ_BUF (4u * SP_BK_CHUNK_MAX)
#define XATTR_LIST_MAX_LEN (64u * 1024)
#define MAX_DEPTH 1024

/* What the store's top level holds that a snapshot takes: the user's
 * data, the instances' homes, the generations and which is current.
 * Logs and runtime files are not state. */
static const char *const top_names[] = { "current", "data", "generations", "state", NULL };

struct writer {
	uint8_t type;
	struct sp_bk_pack_writer *w;
	struct sp_bk_index *pending; /* blobs in W, not yet in a finished pack */
};

struct create {
	struct sp_bk_repo *repo;
	const struct sp_bk_create_opts *opts;
	struct sp_bk_index *idx;
	struct sp_bk_chunker chunker;
	struct writer data, trees;
	struct sp_bk_encoder *enc; /* compresses and seals on other threads */
	uint32_t indexed; /* packs [0, indexed) of IDX are in index files */
	int64_t parent_time; /* when the parent snapshot was taken */
	uint8_t *buf;
	struct sp_bk_progress progress;
	uint64_t files, dirs, bytes, added;
	char path[4096]; /* of the entry being read, for messages */
};

/* ---- Blobs ---- */

static bool have(struct create *c, struct writer *wr, const uint8_t id[SP_BK_ID_LEN])
{
	return sp_bk_index_find(c->idx, id) != NULL || sp_bk_index_find(wr->pending, id) != NULL;
}

static int flush_index(struct create *c, struct sp_err *err)
{
	cleanup_free uint8_t *plain = NULL;
	uint32_t end = (uint32_t)sp_bk_index_pack_count(c->idx);
	char name[2 * SP_BK_ID_LEN + 1];
	size_t len;

	if (end == c->indexed)
		return 0;
	if (sp_bk_index_encode(c->idx, c->indexed, end, &plain, &len, err) < 0 ||
	    sp_bk_repo_put(c->repo, SP_BK_KIND_INDEX, plain, len, name, err) < 0)
		return -1;
	c->indexed = end;
	return 0;
}

static int finish_pack(struct create *c, struct writer *wr, struct sp_err *err)
{
	if (wr->w == NULL)
		return 0;
	/* WR->pending keeps its ids: blobs still with the encoder are
	 * there too, and an id in both places is no harm. */
	if (sp_bk_pack_finish_into(steal_ptr(&wr->w), c->idx, err) < 0)
		return -1;
	if (sp_bk_index_pack_count(c->idx) - c->indexed >= INDEX_EVERY)
		return flush_index(c, err);
	return 0;
}

/* Puts a blob the encoder made into its pack. */
static int append_encoded(struct create *c, struct sp_bk_encoded *b, struct sp_err *err)
{
	struct writer *wr = b->type == SP_BK_BLOB_TREE ? &c->trees : &c->data;
	int ret = -1;

	if (wr->w == NULL && sp_bk_pack_writer_new(c->repo, &wr->w, err) < 0)
		goto out;
	if (sp_bk_pack_writer_append(wr->w, b->type, b->id, b->stored, b->stored_len, b->raw_len, err) < 0)
		goto out;
	c->added += b->stored_len;
	ret = sp_bk_pack_writer_size(wr->w) >= SP_BK_PACK_TARGET ? finish_pack(c, wr, err) : 0;
out:
	free(b->stored);
	return ret;
}

/* Takes from the encoder what it has done (all of it, waiting, when
 * ALL). */
static int drain(struct create *c, bool all, struct sp_err *err)
{
	struct sp_bk_encoded b;
	int r;

	while (c->enc != NULL && (r = sp_bk_encoder_take(c->enc, all, &b, err)) != 0) {
		if (r < 0 || append_encoded(c, &b, err) < 0)
			return -1;
	}
	return 0;
}

static int add_blob(struct create *c, struct writer *wr, const uint8_t id[SP_BK_ID_LEN], const void *data, size_t len,
		    struct sp_err *err)
{
	struct sp_bk_blob_loc loc = { .type = wr->type };
	size_t before;

	if (have(c, wr, id))
		return 0;
	if (c->enc != NULL) {
		int r;

		memcpy(loc.id, id, SP_BK_ID_LEN);
		sp_bk_index_add(wr->pending, 0, &loc);
		while ((r = sp_bk_encoder_submit(c->enc, wr->type, id, data, len, err)) == 1) {
			struct sp_bk_encoded b;

			r = sp_bk_encoder_take(c->enc, true, &b, err);
			if (r < 0 || (r > 0 && append_encoded(c, &b, err) < 0))
				return -1;
		}
		return r < 0 ? -1 : drain(c, false, err);
	}
	if (wr->w == NULL && sp_bk_pack_writer_new(c->repo, &wr->w, err) < 0)
		return -1;
	before = sp_bk_pack_writer_size(wr->w);
	if (sp_bk_pack_writer_add(wr->w, wr->type, id, data, len, err) < 0)
		return -1;
	c->added += sp_bk_pack_writer_size(wr->w) - before;
	memcpy(loc.id, id, SP_BK_ID_LEN);
	sp_bk_index_add(wr->pending, 0, &loc);
	if (sp_bk_pack_writer_size(wr->w) >= SP_BK_PACK_TARGET)
		return finish_pack(c, wr, err);
	return 0;
}

/* ---- Files ---- */

static int read_full(int fd, uint8_t *buf, size_t want, size_t *got)
{
	*got = 0;
	while (*got < want) {
		ssize_t r = read(fd, buf + *got, want - *got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

static int push_chunk(struct sp_bk_node *node, const uint8_t id[SP_BK_ID_LEN], size_t *cap)
{
	if (node->n_chunks == *cap) {
		size_t ncap = *cap ? 2 * *cap : 16;
		void *p = realloc(node->chunks, ncap * SP_BK_ID_LEN);

		if (p == NULL)
			return -1;
		node->chunks = p;
		*cap = ncap;
	}
	memcpy(node->chunks[node->n_chunks++], id, SP_BK_ID_LEN);
	return 0;
}

static int read_file(struct create *c, int fd, struct sp_bk_node *node, struct sp_err *err)
{
	size_t have_bytes = 0, start = 0, cap = 0, got;
	uint64_t total = 0;
	bool eof = false;

	for (;;) {
		size_t len, cut;
		uint8_t id[SP_BK_ID_LEN];

		/* Keep at least one largest chunk ahead, so that a cut is
		 * never forced by the buffer's end. */
		if (!eof && have_bytes - start < SP_BK_CHUNK_MAX) {
			memmove(c->buf, c->buf + start, have_bytes - start);
			have_bytes -= start;
			start = 0;
			if (read_full(fd, c->buf + have_bytes, READ_BUF - have_bytes, &got) < 0)
				return sp_fail_errno(err, errno, "%s", c->path);
			eof = have_bytes + got < READ_BUF;
			have_bytes += got;
		}
		len = have_bytes - start;
		if (len == 0)
			break;
		cut = sp_bk_chunk_next(&c->chunker, c->buf + start, len);
		sp_bk_blob_id(&c->repo->keys, c->buf + start, cut, id);
		if (add_blob(c, &c->data, id, c->buf + start, cut, err) < 0)
			return sp_err_wrap(err, "%s", c->path);
		if (push_chunk(node, id, &cap) < 0)
			return sp_fail_errno(err, ENOMEM, "%s", c->path);
		start += cut;
		total += cut;
		sp_bk_progress_add(&c->progress, 0, cut);
	}
	/* The size recorded is what was read: a file growing meanwhile is
	 * taken as far as it was read, consistently. */
	node->size = total;
	return 0;
}

/* Whether NOW (fresh from lstat) is OLD unchanged.  A file changed in the
 * same clock tick as it was read keeps its times: one whose ctime was
 * within a second of the parent snapshot is read again (git's "racily
 * clean" entries). */
static bool same_file(const struct create *c, const struct sp_bk_node *old, const struct sp_bk_node *now)
{
	return old != NULL && old->type == SP_BK_NODE_FILE && old->size == now->size &&
	       old->ctime_sec + 1 < c->parent_time && old->dev == now->dev &&
	       old->mtime_sec == now->mtime_sec && old->mtime_nsec == now->mtime_nsec &&
	       old->ctime_sec == now->ctime_sec && old->ctime_nsec == now->ctime_nsec && old->ino == now->ino;
}

static bool chunks_present(struct create *c, const struct sp_bk_node *old)
{
	for (size_t i = 0; i < old->n_chunks; i++) {
		if (!have(c, &c->data, old->chunks[i]))
			return false;
	}
	return true;
}

static int copy_chunks(struct sp_bk_node *node, const struct sp_bk_node *old)
{
	if (old->n_chunks == 0)
		return 0;
	node->chunks = malloc(old->n_chunks * SP_BK_ID_LEN);
	if (node->chunks == NULL)
		return -1;
	memcpy(node->chunks, old->chunks, old->n_chunks * SP_BK_ID_LEN);
	node->n_chunks = old->n_chunks;
	return 0;
}

static int copy_xattrs(struct sp_bk_node *node, const struct sp_bk_node *old)
{
	if (old->n_xattrs == 0)
		return 0;
	node->xattrs = calloc(old->n_xattrs, sizeof *node->xattrs);
	if (node->xattrs == NULL)
		return -1;
	for (size_t i = 0; i < old->n_xattrs; i++) {
		struct sp_bk_xattr *x = &node->xattrs[i];

		x->name = strdup(old->xattrs[i].name);
		x->value = malloc(old->xattrs[i].len + 1);
		if (x->name == NULL || x->value == NULL) {
			free(x->name);
			free(x->value);
			return -1;
		}
		memcpy(x->value, old->xattrs[i].value, old->xattrs[i].len);
		x->len = old->xattrs[i].len;
		node->n_xattrs++;
	}
	return 0;
}

static int read_xattrs(struct create *c, int fd, struct sp_bk_node *node, struct sp_err *err)
{
	char list[XATTR_LIST_MAX_LEN];
	ssize_t len = flistxattr(fd, list, sizeof list);

	if (len < 0) {
		if (errno == ENOTSUP)
			return 0;
		return sp_fail_errno(err, errno, "%s: extended attributes", c->path);
	}
	for (ssize_t off = 0; off < len; off += (ssize_t)strlen(list + off) + 1) {
		const char *name = list + off;
		struct sp_bk_xattr *x;
		ssize_t vlen = fgetxattr(fd, name, NULL, 0);
		void *p;

		if (vlen < 0) {
			if (errno == ENODATA)
				continue;
			return sp_fail_errno(err, errno, "%s: extended attribute %s", c->path, name);
		}
		p = realloc(node->xattrs, (node->n_xattrs + 1) * sizeof *node->xattrs);
		if (p == NULL)
			return sp_fail_errno(err, ENOMEM, "%s", c->path);
		node->xattrs = p;
		x = &node->xattrs[node->n_xattrs];
		memset(x, 0, sizeof *x);
		x->name = strdup(name);
		x->value = malloc((size_t)vlen + 1);
		if (x->name == NULL || x->value == NULL) {
			free(x->name);
			free(x->value);
			return sp_fail_errno(err, ENOMEM, "%s", c->path);
		}
		vlen = fgetxattr(fd, name, x->value, (size_t)vlen);
		if (vlen < 0) {
			free(x->name);
			free(x->value);
			if (errno == ENODATA)
				continue;
			return sp_fail_errno(err, errno, "%s: extended attribute %s", c->path, name);
		}
		x->len = (size_t)vlen;
		node->n_xattrs++;
	}
	return 0;
}

/* Directories too are read without touching their access time: it is in
 * their entry, and a backup that changed it would find every directory
 * changed the next time. */
static int open_dir(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);

	if (fd < 0 && errno == EPERM) /* not the owner: O_NOATIME is not ours to ask */
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd;
}

/* ---- Directories ---- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const struct sp_bk_node *find_node(const struct sp_bk_tree *t, const char *name)
{
	size_t lo = 0, hi = t != NULL ? t->n : 0;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int r = strcmp(t->nodes[mid].name, name);

		if (r == 0)
			return &t->nodes[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int walk(struct create *c, int dirfd, size_t pathlen, const struct sp_bk_tree *parent, char *const *only,
		unsigned depth, uint8_t out[SP_BK_ID_LEN], struct sp_err *err);

static void set_path(struct create *c, size_t pathlen, const char *name)
{
	snprintf(c->path + pathlen, sizeof c->path - pathlen, "%s%s", pathlen ? "/" : "", name);
}

static int fill_meta(struct create *c, int dirfd, const char *name, struct stat *st, struct sp_bk_node *node,
		     struct sp_err *err)
{
	if (fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
		return sp_fail_errno(err, errno, "%s", c->path);
	node->name = strdup(name);
	if (node->name == NULL)
		return sp_fail_errno(err, ENOMEM, "%s", c->path);
	node->mode = st->st_mode & 07777;
	node->uid = st->st_uid;
	node->gid = st->st_gid;
	node->mtime_sec = st->st_mtim.tv_sec;
	node->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	node->atime_sec = st->st_atim.tv_sec;
	node->atime_nsec = (uint32_t)st->st_atim.tv_nsec;
	node->ctime_sec = st->st_ctim.tv_sec;
	node->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
	node->dev = st->st_dev;
	node->ino = st->st_ino;
	node->nlink = (uint32_t)st->st_nlink;
	return 0;
}

/* The metadata of directory NAME, without its content. */
static int dir_meta(struct create *c, int dirfd, const char *name, struct sp_bk_node *node, struct sp_err *err)
{
	struct stat st;
	cleanup_fd int fd = -1;

	snprintf(c->path, sizeof c->path, "%s", name);
	if (fill_meta(c, dirfd, name, &st, node, err) < 0)
		return -1;
	node->type = SP_BK_NODE_DIR;
	node->nlink = 1;
	fd = open_dir(dirfd, name);
	if (fd < 0)
		return sp_fail_errno(err, errno, "%s", c->path);
	return read_xattrs(c, fd, node, err);
}

static int entry(struct create *c, int dirfd, size_t pathlen, const char *name, const struct sp_bk_node *old,
		 unsigned depth, struct sp_bk_node *node, bool *skip, struct sp_err *err)
{
	struct stat st;
	cleanup_fd int fd = -1;

	*skip = false;
	set_path(c, pathlen, name);
	if (fill_meta(c, dirfd, name, &st, node, err) < 0) {
		if (err->errnum == ENOENT) { /* removed since readdir */
			*skip = true;
			return 0;
		}
		return -1;
	}

	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		node->type = SP_BK_NODE_FILE;
		node->size = (uint64_t)st.st_size;
		/* Unchanged: the old entry as it was (its extended attributes
		 * too: changing one changes ctime), without opening the file,
		 * and its access time, which others' reads move, stays put so
		 * that the directory's listing does not change either. */
		/* Reads by others move the access time alone: the old one
		 * stays while nothing else changed, and with it the listing. */
		if (old != NULL && old->type == SP_BK_NODE_FILE && old->mtime_sec == node->mtime_sec &&
		    old->mtime_nsec == node->mtime_nsec && old->ctime_sec == node->ctime_sec &&
		    old->ctime_nsec == node->ctime_nsec) {
			node->atime_sec = old->atime_sec;
			node->atime_nsec = old->atime_nsec;
		}
		if (same_file(c, old, node) && chunks_present(c, old)) {
			if (copy_chunks(node, old) < 0 || copy_xattrs(node, old) < 0)
				return sp_fail_errno(err, ENOMEM, "%s", c->path);
			sp_bk_progress_add(&c->progress, 0, node->size);
		} else {
			struct stat fst;

			/* Non-blocking: a fifo swapped in since lstat must not
			 * hang the backup; then checked to be what lstat saw. */
			fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME | O_NONBLOCK);
			if (fd < 0 && errno == EPERM)
				fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
			if (fd < 0)
				return sp_fail_errno(err, errno, "%s", c->path);
			if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) || fst.st_ino != st.st_ino ||
			    fst.st_dev != st.st_dev)
				return sp_fail(err, SP_ERR_RUNTIME, "%s: replaced while it was being read; try again",
					       c->path);
			if (read_xattrs(c, fd, node, err) < 0 || read_file(c, fd, node, err) < 0)
				return -1;
		}
		c->files++;
		c->bytes += node->size;
		sp_bk_progress_add(&c->progress, 1, 0);
		return 0;
	case S_IFDIR: {
		struct sp_bk_tree sub = { 0 };
		int r;

		node->type = SP_BK_NODE_DIR;
		node->nlink = 1; /* a directory's link count is not a hard link */
		/* Listing a directory moves its access time: unchanged
		 * otherwise, it keeps the old one, and its listing its id. */
		if (old != NULL && old->type == SP_BK_NODE_DIR && old->mtime_sec == node->mtime_sec &&
		    old->mtime_nsec == node->mtime_nsec && old->ctime_sec == node->ctime_sec &&
		    old->ctime_nsec == node->ctime_nsec) {
			node->atime_sec = old->atime_sec;
			node->atime_nsec = old->atime_nsec;
		}
		fd = open_dir(dirfd, name);
		if (fd < 0)
			return sp_fail_errno(err, errno, "%s", c->path);
		if (read_xattrs(c, fd, node, err) < 0)
			return -1;
		/* A parent tree that cannot be read only means no reuse. */
		if (old != NULL && old->type == SP_BK_NODE_DIR && sp_bk_tree_load(c->repo, c->idx, old->subtree, &sub, err) < 0)
			memset(&sub, 0, sizeof sub);
		r = walk(c, fd, strlen(c->path), old != NULL ? &sub : NULL, NULL, depth + 1, node->subtree, err);
		sp_bk_tree_free(&sub);
		c->dirs++;
		return r;
	}
	case S_IFLNK: {
		char target[4097];
		ssize_t n = readlinkat(dirfd, name, target, sizeof target - 1);

		if (n < 0)
			return sp_fail_errno(err, errno, "%s", c->path);
		target[n] = '\0';
		node->type = SP_BK_NODE_SYMLINK;
		node->target = strdup(target);
		if (node->target == NULL || n == 0)
			return sp_fail(err, SP_ERR_RUNTIME, "%s: symlink target empty or too long", c->path);
		c->files++;
		return 0;
	}
	case S_IFIFO:
		node->type = SP_BK_NODE_FIFO;
		c->files++;
		return 0;
	case S_IFCHR:
	case S_IFBLK:
		node->type = S_ISCHR(st.st_mode) ? SP_BK_NODE_CHR : SP_BK_NODE_BLK;
		node->rdev = st.st_rdev;
		c->files++;
		return 0;
	default: /* sockets: nothing to restore them to */
		*skip = true;
		return 0;
	}
}

/* Reads directory DIRFD into a tree blob; OUT gets its id.  ONLY, when
 * not NULL, limits it to those names (the store's top level; state/
 * for chosen instances). */
static int walk(struct create *c, int dirfd, size_t pathlen, const struct sp_bk_tree *parent, char *const *only,
		unsigned depth, uint8_t out[SP_BK_ID_LEN], struct sp_err *err)
{
	struct sp_bk_tree tree = { 0 };
	char **names = NULL;
	size_t n = 0;
	cleanup_free uint8_t *enc = NULL;
	size_t enclen;
	int ret = -1;
	DIR *d;
	struct dirent *e;
	int dupfd;

	if (depth > MAX_DEPTH)
		return sp_fail(err, SP_ERR_RUNTIME, "%s: deeper than %d directories", c->path, MAX_DEPTH);
	dupfd = dup(dirfd);
	d = dupfd < 0 ? NULL : fdopendir(dupfd);
	if (d == NULL) {
		if (dupfd >= 0)
			close(dupfd);
		return sp_fail_errno(err, errno, "%s", c->path);
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		void *p;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (only != NULL && !sp_strv_contains(only, e->d_name))
			continue;
		p = realloc(names, (n + 2) * sizeof *names);
		if (p == NULL || (names = p, names[n] = strdup(e->d_name)) == NULL) {
			/* A listing cut short would be a snapshot missing files. */
			closedir(d);
			sp_strv_free(names);
			return sp_fail_errno(err, ENOMEM, "%s", c->path);
		}
		names[++n] = NULL;
	}
	closedir(d);
	if (names == NULL)
		names = calloc(1, sizeof *names);
	if (names == NULL)
		return sp_fail_errno(err, ENOMEM, "%s", c->path);
	qsort(names, n, sizeof *names, name_cmp);
	tree.nodes = calloc(n ? n : 1, sizeof *tree.nodes);
	if (tree.nodes == NULL) {
		sp_fail_errno(err, ENOMEM, "%s", c->path);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct sp_bk_node *node = &tree.nodes[tree.n];
		struct sp_bk_freeze guard = { .pid = -1, .fd = -1 };
		bool skip, frozen_here = false;
		int r;

		/* state/NAME of a running instance is read frozen. */
		if (depth == 1 && pathlen == 5 && strncmp(c->path, "state", 5) == 0 && !c->opts->live) {
			if (sp_bk_freeze(c->opts->store, names[i], &guard, err) < 0)
				goto out;
			frozen_here = true;
		}
		r = entry(c, dirfd, pathlen, names[i], find_node(parent, names[i]), depth, node, &skip, err);
		if (frozen_here)
			sp_bk_thaw(&guard);
		c->path[pathlen] = '\0';
		if (r < 0) {
			sp_bk_node_free(node);
			goto out;
		}
		if (skip) {
			sp_bk_node_free(node);
			memset(node, 0, sizeof *node);
			continue;
		}
		tree.n++;
	}
	if (sp_bk_tree_encode(&tree, &enc, &enclen, err) < 0) {
		sp_err_wrap(err, "%s", pathlen ? c->path : "/");
		goto out;
	}
	sp_bk_blob_id(&c->repo->keys, enc, enclen, out);
	if (add_blob(c, &c->trees, out, enc, enclen, err) < 0)
		goto out;
	ret = 0;
out:
	sp_bk_tree_free(&tree);
	sp_strv_free(names);
	return ret;
}

/* ---- The snapshot ---- */

static const struct sp_bk_snapshot *pick_parent(const struct sp_bk_snapshot *snaps, size_t n, const char *source)
{
	for (size_t i = n; i-- > 0;) {
		if (snaps[i].source != NULL && strcmp(snaps[i].source, source) == 0)
			return &snaps[i];
	}
	return NULL;
}

static char **instance_names(const char *store, struct sp_err *err)
{
	cleanup_free char *path = NULL;
	char **v = calloc(1, sizeof *v);
	size_t n = 0;
	DIR *d;
	struct dirent *e;

	if (v == NULL || asprintf(&path, "%s/state", store) < 0) {
		free(v);
		sp_fail_errno(err, ENOMEM, "state");
		return NULL;
	}
	d = opendir(path);
	if (d == NULL)
		return v;
	while ((e = readdir(d)) != NULL) {
		char **nv;

		if (e->d_name[0] == '.' || e->d_type != DT_DIR)
			continue;
		nv = realloc(v, (n + 2) * sizeof *v);
		if (nv == NULL)
			break;
		v = nv;
		v[n] = strdup(e->d_name);
		v[++n] = NULL;
	}
	closedir(d);
	qsort(v, n, sizeof *v, name_cmp);
	return v;
}

static int walk_root(struct create *c, const struct sp_bk_tree *parent, uint8_t root[SP_BK_ID_LEN],
		     struct sp_err *err)
{
	cleanup_fd int fd = open_dir(AT_FDCWD, c->opts->store);
	struct sp_bk_tree top = { 0 };
	struct sp_bk_node *state;
	struct sp_bk_tree old_state = { 0 };
	const struct sp_bk_node *old;
	cleanup_fd int sfd = -1;
	cleanup_free uint8_t *enc = NULL;
	size_t enclen;
	int ret = -1;

	c->path[0] = '\0';
	if (fd < 0)
		return sp_fail_errno(err, errno, "store %s", c->opts->store);
	if (c->opts->instances == NULL)
		return walk(c, fd, 0, parent, (char *const *)top_names, 0, root, err);

	/* Chosen instances: a root with only "state", holding only them. */
	for (size_t i = 0; c->opts->instances[i] != NULL; i++) {
		struct stat st;
		char sub[300];

		snprintf(sub, sizeof sub, "state/%s", c->opts->instances[i]);
		if (fstatat(fd, sub, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			return sp_fail(err, SP_ERR_USAGE, "instance %s: no state in %s (no %s/%s)",
				       c->opts->instances[i], c->opts->store, c->opts->store, sub);
	}
	top.nodes = calloc(1, sizeof *top.nodes);
	if (top.nodes == NULL)
		return sp_fail_errno(err, ENOMEM, "snapshot");
	state = &top.nodes[0];
	old = find_node(parent, "state");
	/* "state" itself: its metadata, then only the chosen names. */
	if (dir_meta(c, fd, "state", state, err) < 0)
		goto out;
	if (old != NULL && old->type == SP_BK_NODE_DIR && sp_bk_tree_load(c->repo, c->idx, old->subtree, &old_state, err) < 0)
		memset(&old_state, 0, sizeof old_state);
	sfd = open_dir(fd, "state");
	if (sfd < 0) {
		sp_fail_errno(err, errno, "%s/state", c->opts->store);
		goto out;
	}
	snprintf(c->path, sizeof c->path, "state");
	if (walk(c, sfd, 5, old != NULL ? &old_state : NULL, c->opts->instances, 1, state->subtree, err) < 0)
		goto out;
	top.n = 1;
	if (sp_bk_tree_encode(&top, &enc, &enclen, err) < 0)
		goto out;
	sp_bk_blob_id(&c->repo->keys, enc, enclen, root);
	ret = add_blob(c, &c->trees, root, enc, enclen, err);
out:
	sp_bk_tree_free(&old_state);
	sp_bk_tree_free(&top);
	return ret;
}

static char **strv_copy(char *const *v)
{
	size_t n = sp_strv_len(v);
	char **out = calloc(n + 1, sizeof *out);

	for (size_t i = 0; out != NULL && i < n; i++) {
		out[i] = strdup(v[i]);
		if (out[i] == NULL) {
			sp_strv_free(out);
			return NULL;
		}
	}
	return out;
}

static void hostname_of(char *buf, size_t size)
{
	if (gethostname(buf, size) < 0)
		snprintf(buf, size, "unknown");
	buf[size - 1] = '\0';
}

int sp_bk_create(struct sp_bk_repo *repo, const struct sp_bk_create_opts *opts, struct sp_bk_snapshot *snap,
		 struct sp_err *err)
{
	struct create c = { .repo = repo, .opts = opts };
	struct sp_bk_snapshot *snaps = NULL;
	size_t n_snaps = 0;
	const struct sp_bk_snapshot *parent;
	struct sp_bk_tree parent_tree = { 0 };
	struct sp_bk_index_load_report rep = { 0 };
	struct timespec now;
	cleanup_free char *source = NULL;
	cleanup_free char *json = NULL;
	char host[256];
	size_t jlen;
	int ret = -1;

	memset(snap, 0, sizeof *snap);
	source = realpath(opts->store, NULL);
	if (source == NULL)
		return sp_fail_errno(err, errno, "store %s", opts->store);
	if (sp_bk_clean_leftovers(repo, NULL, err) < 0)
		return -1;
	c.idx = sp_bk_index_new();
	c.data = (struct writer){ .type = SP_BK_BLOB_DATA, .pending = sp_bk_index_new() };
	c.trees = (struct writer){ .type = SP_BK_BLOB_TREE, .pending = sp_bk_index_new() };
	c.buf = malloc(READ_BUF);
	if (c.buf == NULL) {
		sp_fail_errno(err, ENOMEM, "backup");
		goto out;
	}
	if (sp_bk_index_load(repo, c.idx, &rep, err) < 0)
		goto out;
	/* Packs found only by their trailers (an index file is damaged)
	 * come last; this backup's index lists them again. */
	c.indexed = (uint32_t)(sp_bk_index_pack_count(c.idx) - sp_strv_len(rep.recovered_packs));
	if (sp_bk_snapshots_load(repo, &snaps, &n_snaps, err) < 0)
		goto out;
	sp_bk_chunker_init(&c.chunker, repo->keys.gear);
	c.enc = sp_bk_encoder_start(&repo->keys);
	parent = pick_parent(snaps, n_snaps, source);
	c.parent_time = parent != NULL ? parent->time : 0;
	if (parent != NULL && sp_bk_tree_load(repo, c.idx, parent->tree, &parent_tree, err) < 0) {
		parent = NULL;
		memset(&parent_tree, 0, sizeof parent_tree);
	}
	sp_bk_progress_init(&c.progress, "backing up", opts->quiet);
	if (walk_root(&c, parent != NULL ? &parent_tree : NULL, snap->tree, err) < 0)
		goto out;
	if (drain(&c, true, err) < 0 || finish_pack(&c, &c.data, err) < 0 || finish_pack(&c, &c.trees, err) < 0 ||
	    flush_index(&c, err) < 0)
		goto out;
	/* The damaged index files are now redundant: what they listed is in
	 * the index just written (unless a pack's trailer failed too). */
	if (rep.unreadable_packs == NULL) {
		for (size_t i = 0; rep.damaged_index != NULL && rep.damaged_index[i] != NULL; i++) {
			if (sp_bk_repo_remove(repo, SP_BK_KIND_INDEX, rep.damaged_index[i], err) < 0)
				goto out;
		}
	}

	clock_gettime(CLOCK_REALTIME, &now);
	hostname_of(host, sizeof host);
	snap->time = now.tv_sec;
	snap->time_nsec = (uint32_t)now.tv_nsec;
	snap->host = strdup(host);
	snap->source = strdup(source);
	snap->full = opts->instances == NULL;
	snap->instances = opts->instances != NULL ? strv_copy(opts->instances) : instance_names(opts->store, err);
	snap->parent = parent != NULL ? strdup(parent->id) : NULL;
	snap->files = c.files;
	snap->dirs = c.dirs;
	snap->bytes = c.bytes;
	snap->added_bytes = c.added;
	if (snap->host == NULL || snap->source == NULL || snap->instances == NULL) {
		sp_fail_errno(err, ENOMEM, "snapshot");
		goto out;
	}
	if (sp_bk_snapshot_encode(snap, &json, &jlen, err) < 0 ||
	    sp_bk_repo_put(repo, SP_BK_KIND_SNAPSHOT, json, jlen, snap->id, err) < 0)
		goto out;
	ret = 0;
out:
	sp_bk_progress_done(&c.progress);
	sp_bk_encoder_stop(c.enc);
	sp_bk_pack_writer_abort(c.data.w);
	sp_bk_pack_writer_abort(c.trees.w);
	sp_bk_index_free(c.data.pending);
	sp_bk_index_free(c.trees.pending);
	sp_bk_index_free(c.idx);
	sp_bk_tree_free(&parent_tree);
	sp_bk_index_load_report_free(&rep);
	sp_bk_snapshots_free(snaps, n_snaps);
	free(c.buf);
	if (ret < 0)
		sp_bk_snapshot_free(snap);
	return ret;
}
