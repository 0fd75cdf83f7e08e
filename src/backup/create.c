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
 * entry.
 *
 * What instances write is read here, so nothing they can do to their
 * own files may stop a backup: an entry that cannot be read consistently
 * (vanished, changed type or replaced while read, unreadable, too deep)
 * is left out, named to the caller and counted in the snapshot, which
 * is saved all the same.  Only the repository's own failures, and
 * running out of memory, end a backup.  A sparse file is read by its
 * data extents: a hole costs no read and, where it spans a whole chunk,
 * no hash either (see read_file). */
#include "backup/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "backup/chunker.h"
#include "backup/encoder.h"
#include "backup/freeze.h"
#include "backup/index.h"
#include "backup/pack.h"
#include "backup/progress.h"
#include "backup/tree.h"
#include "util/cleanup.h"
#include "util/relpath.h"
#include "util/shown.h"
#include "util/strv.h"

#define INDEX_EVERY 8
#define READ_BUF (4u * SP_BK_CHUNK_MAX)
#define XATTR_LIST_MAX_LEN (64u * 1024)
#define MAX_DEPTH 1024
#define TARGET_MAX 4096
/* A path in a message or in the snapshot's list of what was skipped:
 * longer ones keep their end, which names the entry. */
#define SHOWN_MAX 400
/* Equal chunks in a row are kept as one id and a count from this many
 * on (1 GiB of the largest chunks): shorter repeats stay a plain list,
 * as every reader of the first tree encoding knows it. */
#define RUN_MIN 512
/* The chunk list of one file fits a tree blob with room for the rest. */
#define FILE_ENTRIES_MAX ((SP_BK_BLOB_MAX - 64u * 1024) / (SP_BK_ID_LEN + 8))

/* entry() and walk(): done, or left out (c->why says why); -1 is an error
 * that ends the backup. */
enum { DONE = 0, SKIPPED = 1 };

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
	struct sp_relpath path; /* of the entry being read, relative to the store */
	char shown[SHOWN_MAX + 8]; /* PATH as messages show it (shown()) */
	char why[256];          /* why the entry is being left out */
	uint64_t skipped;
	char **skipped_paths;   /* the first SP_BK_SKIPPED_LIST_MAX, as shown */
	char *xattr_list;       /* XATTR_LIST_MAX_LEN bytes */
	char *link;             /* TARGET_MAX + 1 bytes */
	/* The chunk of all zeros that the chunker cuts from a long run of
	 * zeros (its cut points there depend only on the gear table), and
	 * its id: computed once, then a hole is that id repeated. */
	uint8_t *zeros;
	size_t zero_len;
	uint8_t zero_id[SP_BK_ID_LEN];
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

/* ---- Names in messages ---- */

/* RAW as a terminal may show it and JSON may hold it (util/shown.h, with
 * \\, \n and \t: a name in a list reads back unambiguously); longer
 * than MAX, "..." and its end.  Returns whether it shortened. */
static bool show_name(const char *raw, size_t max, char *out, size_t out_size)
{
	return sp_shown_end(out, out_size, max, raw, SP_SHOWN_NAMES);
}

/* The entry being read, as messages show it.  A long path keeps its
 * first two names too (state/NAME: whose it is) when they are short. */
static const char *shown(struct create *c)
{
	const char *raw = c->path.len ? c->path.s : "/", *second = strchr(raw, '/');
	const char *rest = second != NULL ? strchr(second + 1, '/') : NULL;
	char head[SHOWN_MAX / 4 + 8];
	size_t hlen;

	if (!show_name(raw, SHOWN_MAX, c->shown, sizeof c->shown) || rest == NULL ||
	    (size_t)(rest - raw) >= sizeof head)
		return c->shown;
	memcpy(head, raw, (size_t)(rest - raw));
	head[rest - raw] = '\0';
	if (show_name(head, SHOWN_MAX / 4, c->shown, sizeof c->shown)) {
		show_name(raw, SHOWN_MAX, c->shown, sizeof c->shown);
		return c->shown;
	}
	hlen = strlen(c->shown);
	c->shown[hlen++] = '/';
	show_name(rest + 1, SHOWN_MAX - hlen, c->shown + hlen, sizeof c->shown - hlen);
	return c->shown;
}

/* Leaves the entry out: sets why, with errno's text when ERRNUM. */
__attribute__((format(printf, 3, 4)))
static int skip(struct create *c, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof c->why, fmt, ap);
	va_end(ap);
	len = strlen(c->why);
	if (errnum != 0 && len < sizeof c->why)
		snprintf(c->why + len, sizeof c->why - len, "%s%s", len ? ": " : "", strerror(errnum));
	return SKIPPED;
}

/* A failed call on the entry itself, as a reason to leave it out. */
static int skip_errno(struct create *c, int errnum, const char *what)
{
	if (errnum == ENOENT)
		return skip(c, 0, "vanished while being read");
	if (errnum == ENOTDIR || errnum == ELOOP)
		return skip(c, 0, "changed type while being read");
	return skip(c, errnum, "%s", what);
}

/* Records the entry at c->path as left out, and tells the caller. */
static int record_skip(struct create *c, struct sp_err *err)
{
	shown(c);
	c->skipped++;
	if (sp_strv_len(c->skipped_paths) < SP_BK_SKIPPED_LIST_MAX && sp_strv_push(&c->skipped_paths, c->shown) < 0)
		return sp_fail_errno(err, ENOMEM, "%s", c->shown);
	if (c->opts->on_skip != NULL) {
		/* The progress line is redrawn after it, on a line of its own. */
		sp_bk_progress_done(&c->progress);
		c->opts->on_skip(c->opts->ctx, c->shown, c->why);
	}
	return 0;
}

/* ---- Files ---- */

/* The chunk list of the file being read: room, and how many entries at
 * its end are the last id once each (a run in the making). */
struct chunk_list {
	size_t cap;
	uint64_t tail;
};

static int reserve(struct sp_bk_node *node, struct chunk_list *l, size_t want, bool with_repeat)
{
	if (want > l->cap) {
		size_t ncap = l->cap ? 2 * l->cap : 16;
		void *p;

		while (ncap < want)
			ncap *= 2;
		p = realloc(node->chunks, ncap * SP_BK_ID_LEN);
		if (p == NULL)
			return -1;
		node->chunks = p;
		if (node->repeat != NULL) {
			p = realloc(node->repeat, ncap * sizeof *node->repeat);
			if (p == NULL)
				return -1;
			node->repeat = p;
		}
		l->cap = ncap;
	}
	if (with_repeat && node->repeat == NULL) {
		node->repeat = malloc(l->cap * sizeof *node->repeat);
		if (node->repeat == NULL)
			return -1;
		for (size_t i = 0; i < node->n_chunks; i++)
			node->repeat[i] = 1;
	}
	return 0;
}

/* Appends chunk ID, K times in a row: a plain list entry each, until
 * RUN_MIN of one id are in a row, which become one entry and a count. */
static int push_chunks(struct sp_bk_node *node, struct chunk_list *l, const uint8_t id[SP_BK_ID_LEN], uint64_t k)
{
	size_t n = node->n_chunks;
	bool same = n > 0 && memcmp(node->chunks[n - 1], id, SP_BK_ID_LEN) == 0;
	bool last_is_run = same && node->repeat != NULL && node->repeat[n - 1] > 1;
	uint64_t run = k + (last_is_run ? node->repeat[n - 1] : same ? l->tail : 0);

	if (run >= RUN_MIN) {
		if (same)
			n -= last_is_run ? 1 : (size_t)l->tail;
		node->n_chunks = n;
		if (reserve(node, l, n + 1, true) < 0)
			return -1;
		memcpy(node->chunks[n], id, SP_BK_ID_LEN);
		node->repeat[n] = run;
		node->n_chunks = n + 1;
		l->tail = 0;
		return 0;
	}
	/* RUN < RUN_MIN: at most that many entries. */
	if (reserve(node, l, n + (size_t)k, false) < 0)
		return -1;
	for (size_t i = 0; i < (size_t)k; i++) {
		memcpy(node->chunks[n + i], id, SP_BK_ID_LEN);
		if (node->repeat != NULL)
			node->repeat[n + i] = 1;
	}
	node->n_chunks = n + (size_t)k;
	l->tail = run;
	return 0;
}

/* How many bytes at P (of LEN) are zero. */
static size_t zero_prefix(const uint8_t *p, size_t len)
{
	size_t i = 0;

	for (; i < len && ((uintptr_t)(p + i) & 7) != 0; i++)
		if (p[i] != 0)
			return i;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if (w != 0)
			break;
	}
	for (; i < len; i++)
		if (p[i] != 0)
			break;
	return i;
}

/* Where a file's data and holes are: [its offset, SEG_END) is all hole
 * (HOLE) or data, as SEEK_DATA and SEEK_HOLE say; where they cannot,
 * everything is data. */
struct extents {
	int fd;
	uint64_t end, seg_end;
	bool hole, seek;
};

static void next_segment(struct extents *x, uint64_t off)
{
	off_t d, h;

	x->hole = false;
	x->seg_end = x->end;
	if (!x->seek)
		return;
	d = lseek(x->fd, (off_t)off, SEEK_DATA);
	if (d < 0) {
		/* ENXIO: no data from OFF on (or the file is shorter now:
		 * what is gone reads as zeros, as a hole does). */
		if (errno == ENXIO)
			x->hole = true;
		else
			x->seek = false;
		return;
	}
	if ((uint64_t)d > off) {
		x->hole = true;
		if ((uint64_t)d < x->end)
			x->seg_end = (uint64_t)d;
		return;
	}
	h = lseek(x->fd, (off_t)off, SEEK_HOLE);
	if (h > d && (uint64_t)h < x->end)
		x->seg_end = (uint64_t)h;
}

/* Reads the first END bytes of file FD (its size when opened: a file
 * that grows meanwhile is taken as it was, one that shrinks as far as it
 * goes) into chunks.  The chunks are those of reading every byte: holes
 * are zeros put in the buffer without reading them, and where a run of
 * zeros, read or not, spans the chunk the chunker would cut from zeros
 * (c->zero_len, the same wherever the run is), that chunk's id is
 * repeated without hashing anything: a 15 TiB hole is one entry. */
static int read_file(struct create *c, int fd, uint64_t end, struct sp_bk_node *node, struct sp_err *err)
{
	struct extents x = { .fd = fd, .end = end, .seek = true };
	struct chunk_list list = { 0 };
	size_t have_bytes = 0, start = 0;
	uint64_t off = 0, total = 0; /* OFF: the file offset of buf[have_bytes] */

	next_segment(&x, 0);
	for (;;) {
		size_t pending = have_bytes - start, zeros, cut;
		uint64_t run;
		uint8_t id[SP_BK_ID_LEN];

		run = zeros = zero_prefix(c->buf + start, pending);
		if (zeros == pending && x.hole && off < x.seg_end)
			run += x.seg_end - off;
		if (run >= c->zero_len) {
			uint64_t k = run / c->zero_len, take = k * c->zero_len;
			size_t from_buf = take < pending ? (size_t)take : pending;

			if (add_blob(c, &c->data, c->zero_id, c->zeros, c->zero_len, err) < 0)
				return sp_err_wrap(err, "%s", shown(c));
			if (push_chunks(node, &list, c->zero_id, k) < 0)
				return sp_fail_errno(err, ENOMEM, "%s", shown(c));
			start += from_buf;
			off += take - from_buf;
			total += take;
			if (off >= x.seg_end && off < x.end)
				next_segment(&x, off);
			sp_bk_progress_add(&c->progress, 0, take);
			continue;
		}
		/* Keep at least one largest chunk ahead, so that a cut is
		 * never forced by the buffer's end. */
		if (pending < SP_BK_CHUNK_MAX && off < x.end) {
			memmove(c->buf, c->buf + start, pending);
			have_bytes = pending;
			start = 0;
			while (have_bytes < READ_BUF && off < x.end) {
				uint64_t seg = x.seg_end - off;
				size_t want = READ_BUF - have_bytes < seg ? READ_BUF - have_bytes : (size_t)seg;
				ssize_t got;

				if (x.hole) {
					memset(c->buf + have_bytes, 0, want);
					got = (ssize_t)want;
				} else {
					got = pread(fd, c->buf + have_bytes, want, (off_t)off);
					if (got < 0 && errno == EINTR)
						continue;
					if (got < 0)
						return skip(c, errno, "read");
					if (got == 0) { /* shorter now: taken as far as it goes */
						x.end = off;
						break;
					}
				}
				have_bytes += (size_t)got;
				off += (uint64_t)got;
				if (off >= x.seg_end && off < x.end)
					next_segment(&x, off);
			}
			continue;
		}
		if (pending == 0)
			break;
		cut = sp_bk_chunk_next(&c->chunker, c->buf + start, pending);
		sp_bk_blob_id(&c->repo->keys, c->buf + start, cut, id);
		if (add_blob(c, &c->data, id, c->buf + start, cut, err) < 0)
			return sp_err_wrap(err, "%s", shown(c));
		if (push_chunks(node, &list, id, 1) < 0)
			return sp_fail_errno(err, ENOMEM, "%s", shown(c));
		start += cut;
		total += cut;
		sp_bk_progress_add(&c->progress, 0, cut);
		if (node->n_chunks > FILE_ENTRIES_MAX)
			return skip(c, 0, "more than %zu chunks: too large for one snapshot entry", (size_t)FILE_ENTRIES_MAX);
	}
	node->size = total;
	return DONE;
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
	if (old->repeat != NULL) {
		node->repeat = malloc(old->n_chunks * sizeof *node->repeat);
		if (node->repeat == NULL)
			return -1;
		memcpy(node->repeat, old->repeat, old->n_chunks * sizeof *node->repeat);
	}
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

/* The extended attributes of FD.  Their names are the instance's: no
 * message holds them. */
static int read_xattrs(struct create *c, int fd, struct sp_bk_node *node, struct sp_err *err)
{
	char *list = c->xattr_list;
	ssize_t len = flistxattr(fd, list, XATTR_LIST_MAX_LEN);

	if (len < 0) {
		if (errno == ENOTSUP)
			return DONE;
		if (errno == ENOMEM)
			return sp_fail_errno(err, errno, "%s", shown(c));
		return skip(c, errno, "extended attributes");
	}
	for (ssize_t off = 0; off < len; off += (ssize_t)strlen(list + off) + 1) {
		const char *name = list + off;
		struct sp_bk_xattr *x;
		ssize_t vlen = fgetxattr(fd, name, NULL, 0);
		void *p;

		if (vlen < 0) {
			if (errno == ENODATA)
				continue;
			return skip(c, errno, "extended attribute");
		}
		p = realloc(node->xattrs, (node->n_xattrs + 1) * sizeof *node->xattrs);
		if (p == NULL)
			return sp_fail_errno(err, ENOMEM, "%s", shown(c));
		node->xattrs = p;
		x = &node->xattrs[node->n_xattrs];
		memset(x, 0, sizeof *x);
		x->name = strdup(name);
		x->value = malloc((size_t)vlen + 1);
		if (x->name == NULL || x->value == NULL) {
			free(x->name);
			free(x->value);
			return sp_fail_errno(err, ENOMEM, "%s", shown(c));
		}
		vlen = fgetxattr(fd, name, x->value, (size_t)vlen);
		if (vlen < 0) {
			int e = errno;

			free(x->name);
			free(x->value);
			if (e == ENODATA)
				continue;
			return skip(c, e, "extended attribute");
		}
		x->len = (size_t)vlen;
		node->n_xattrs++;
	}
	return DONE;
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

/* Whether FD, just opened by name, is what lstat saw under that name
 * (not something swapped in since). */
static int check_same(struct create *c, int fd, const struct stat *st)
{
	struct stat fst;

	if (fstat(fd, &fst) < 0)
		return skip(c, errno, "fstat");
	if ((fst.st_mode & S_IFMT) != (st->st_mode & S_IFMT))
		return skip(c, 0, "changed type while being read");
	if (fst.st_ino != st->st_ino || fst.st_dev != st->st_dev)
		return skip(c, 0, "replaced while being read");
	return DONE;
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

static int walk(struct create *c, int dirfd, const struct sp_bk_tree *parent, char *const *only, unsigned depth,
		uint8_t out[SP_BK_ID_LEN], struct sp_err *err);

static int fill_meta(struct create *c, int dirfd, const char *name, struct stat *st, struct sp_bk_node *node,
		     struct sp_err *err)
{
	if (fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
		return skip_errno(c, errno, "lstat");
	node->name = strdup(name);
	if (node->name == NULL)
		return sp_fail_errno(err, ENOMEM, "%s", shown(c));
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
	return DONE;
}

/* The metadata of directory NAME (c->path), without its content. */
static int dir_meta(struct create *c, int dirfd, const char *name, struct sp_bk_node *node, struct sp_err *err)
{
	struct stat st;
	cleanup_fd int fd = -1;
	int r = fill_meta(c, dirfd, name, &st, node, err);

	if (r != DONE)
		return r;
	node->type = SP_BK_NODE_DIR;
	node->nlink = 1;
	fd = open_dir(dirfd, name);
	if (fd < 0)
		return skip_errno(c, errno, "open");
	return read_xattrs(c, fd, node, err);
}

static int regular_file(struct create *c, int dirfd, const char *name, const struct stat *st,
			const struct sp_bk_node *old, struct sp_bk_node *node, struct sp_err *err)
{
	cleanup_fd int fd = -1;
	int r;

	node->type = SP_BK_NODE_FILE;
	node->size = (uint64_t)st->st_size;
	/* Reads by others move the access time alone: the old one stays
	 * while nothing else changed, and with it the listing. */
	if (old != NULL && old->type == SP_BK_NODE_FILE && old->mtime_sec == node->mtime_sec &&
	    old->mtime_nsec == node->mtime_nsec && old->ctime_sec == node->ctime_sec &&
	    old->ctime_nsec == node->ctime_nsec) {
		node->atime_sec = old->atime_sec;
		node->atime_nsec = old->atime_nsec;
	}
	/* Unchanged: the old entry as it was (its extended attributes too:
	 * changing one changes ctime), without opening the file. */
	if (same_file(c, old, node) && chunks_present(c, old)) {
		if (copy_chunks(node, old) < 0 || copy_xattrs(node, old) < 0)
			return sp_fail_errno(err, ENOMEM, "%s", shown(c));
		sp_bk_progress_add(&c->progress, 0, node->size);
	} else {
		/* Non-blocking: a fifo swapped in since lstat must not hang
		 * the backup; then checked to be what lstat saw. */
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME | O_NONBLOCK);
		if (fd < 0 && errno == EPERM)
			fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			return skip_errno(c, errno, "open");
		r = check_same(c, fd, st);
		if (r == DONE)
			r = read_xattrs(c, fd, node, err);
		if (r == DONE)
			r = read_file(c, fd, (uint64_t)st->st_size, node, err);
		if (r != DONE)
			return r;
	}
	c->files++;
	c->bytes += node->size;
	sp_bk_progress_add(&c->progress, 1, 0);
	return DONE;
}

static int directory(struct create *c, int dirfd, const char *name, const struct stat *st,
		     const struct sp_bk_node *old, unsigned depth, struct sp_bk_node *node, struct sp_err *err)
{
	struct sp_bk_tree sub = { 0 };
	cleanup_fd int fd = -1;
	int r;

	node->type = SP_BK_NODE_DIR;
	node->nlink = 1; /* a directory's link count is not a hard link */
	/* Listing a directory moves its access time: unchanged otherwise,
	 * it keeps the old one, and its listing its id. */
	if (old != NULL && old->type == SP_BK_NODE_DIR && old->mtime_sec == node->mtime_sec &&
	    old->mtime_nsec == node->mtime_nsec && old->ctime_sec == node->ctime_sec &&
	    old->ctime_nsec == node->ctime_nsec) {
		node->atime_sec = old->atime_sec;
		node->atime_nsec = old->atime_nsec;
	}
	/* Each level holds a descriptor and a stack frame: the depth is
	 * bounded, and what is deeper is left out, named once. */
	if (depth + 1 > MAX_DEPTH)
		return skip(c, 0, "deeper than %d directories", MAX_DEPTH);
	fd = open_dir(dirfd, name);
	if (fd < 0)
		return skip_errno(c, errno, "open");
	r = check_same(c, fd, st);
	if (r == DONE)
		r = read_xattrs(c, fd, node, err);
	if (r != DONE)
		return r;
	/* A parent tree that cannot be read only means no reuse. */
	if (old != NULL && old->type == SP_BK_NODE_DIR && sp_bk_tree_load(c->repo, c->idx, old->subtree, &sub, err) < 0)
		memset(&sub, 0, sizeof sub);
	r = walk(c, fd, old != NULL ? &sub : NULL, NULL, depth + 1, node->subtree, err);
	sp_bk_tree_free(&sub);
	if (r == DONE)
		c->dirs++;
	return r;
}

static int symlink_entry(struct create *c, int dirfd, const char *name, struct sp_bk_node *node, struct sp_err *err)
{
	ssize_t n = readlinkat(dirfd, name, c->link, TARGET_MAX + 1);

	if (n < 0)
		return errno == EINVAL ? skip(c, 0, "changed type while being read") : skip_errno(c, errno, "readlink");
	if (n == 0 || n > TARGET_MAX)
		return skip(c, 0, "symlink target empty or longer than %d bytes", TARGET_MAX);
	c->link[n] = '\0';
	node->type = SP_BK_NODE_SYMLINK;
	node->target = strdup(c->link);
	if (node->target == NULL)
		return sp_fail_errno(err, ENOMEM, "%s", shown(c));
	c->files++;
	return DONE;
}

/* Reads entry NAME of DIRFD (c->path) into NODE: DONE, SKIPPED (c->why
 * says why; SILENT set when that needs no word: a socket), or -1. */
static int entry(struct create *c, int dirfd, const char *name, const struct sp_bk_node *old, unsigned depth,
		 struct sp_bk_node *node, bool *silent, struct sp_err *err)
{
	struct stat st;
	int r;

	*silent = false;
	r = fill_meta(c, dirfd, name, &st, node, err);
	if (r != DONE)
		return r;
	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		return regular_file(c, dirfd, name, &st, old, node, err);
	case S_IFDIR:
		return directory(c, dirfd, name, &st, old, depth, node, err);
	case S_IFLNK:
		return symlink_entry(c, dirfd, name, node, err);
	case S_IFIFO:
		node->type = SP_BK_NODE_FIFO;
		c->files++;
		return DONE;
	case S_IFCHR:
	case S_IFBLK:
		node->type = S_ISCHR(st.st_mode) ? SP_BK_NODE_CHR : SP_BK_NODE_BLK;
		node->rdev = st.st_rdev;
		c->files++;
		return DONE;
	default: /* sockets: nothing to restore them to */
		*silent = true;
		return SKIPPED;
	}
}

/* The names in directory DIRFD (ONLY, when not NULL: of those), sorted;
 * DONE, SKIPPED or -1. */
static int list_dir(struct create *c, int dirfd, char *const *only, char ***out, size_t *count, struct sp_err *err)
{
	char **names = NULL;
	size_t n = 0;
	DIR *d;
	struct dirent *e;
	int dupfd = dup(dirfd);

	d = dupfd < 0 ? NULL : fdopendir(dupfd);
	if (d == NULL) {
		int errnum = errno;

		if (dupfd >= 0)
			close(dupfd);
		return errnum == ENOMEM ? sp_fail_errno(err, errnum, "%s", shown(c)) : skip(c, errnum, "list");
	}
	rewinddir(d);
	for (;;) {
		void *p;

		errno = 0;
		e = readdir(d);
		if (e == NULL)
			break;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (only != NULL && !sp_strv_contains(only, e->d_name))
			continue;
		p = realloc(names, (n + 2) * sizeof *names);
		if (p == NULL || (names = p, names[n] = strdup(e->d_name)) == NULL) {
			/* A listing cut short would be a snapshot missing files. */
			closedir(d);
			sp_strv_free(names);
			return sp_fail_errno(err, ENOMEM, "%s", shown(c));
		}
		names[++n] = NULL;
	}
	if (errno != 0) {
		int errnum = errno;

		closedir(d);
		sp_strv_free(names);
		return skip(c, errnum, "list");
	}
	closedir(d);
	if (names == NULL)
		names = calloc(1, sizeof *names);
	if (names == NULL)
		return sp_fail_errno(err, ENOMEM, "%s", shown(c));
	qsort(names, n, sizeof *names, name_cmp);
	*out = names;
	*count = n;
	return DONE;
}

/* Reads directory DIRFD (c->path) into a tree blob; OUT gets its id.
 * ONLY, when not NULL, limits it to those names (the store's top level;
 * state/ for chosen instances).  DONE, SKIPPED (the whole directory) or
 * -1. */
static int walk(struct create *c, int dirfd, const struct sp_bk_tree *parent, char *const *only, unsigned depth,
		uint8_t out[SP_BK_ID_LEN], struct sp_err *err)
{
	struct sp_bk_tree tree = { 0 };
	char **names = NULL;
	size_t n = 0;
	cleanup_free uint8_t *enc = NULL;
	size_t enclen;
	int ret = -1, r;

	r = list_dir(c, dirfd, only, &names, &n, err);
	if (r != DONE)
		return r;
	tree.nodes = calloc(n ? n : 1, sizeof *tree.nodes);
	if (tree.nodes == NULL) {
		sp_fail_errno(err, ENOMEM, "%s", shown(c));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct sp_bk_node *node = &tree.nodes[tree.n];
		struct sp_bk_freeze guard = { .pid = -1, .fd = -1 };
		bool silent, frozen_here = false, in_state = depth == 1 && strcmp(c->path.s, "state") == 0;
		size_t old_len;

		if (sp_relpath_push(&c->path, names[i], &old_len) < 0) {
			sp_fail_errno(err, ENOMEM, "%s", shown(c));
			goto out;
		}
		/* state/NAME of a running instance is read frozen. */
		if (in_state && !c->opts->live) {
			if (sp_bk_freeze(c->opts->store, names[i], &guard, err) < 0) {
				sp_relpath_pop(&c->path, old_len);
				goto out;
			}
			frozen_here = true;
		}
		r = entry(c, dirfd, names[i], find_node(parent, names[i]), depth, node, &silent, err);
		if (frozen_here)
			sp_bk_thaw(&guard);
		if (r == SKIPPED && !silent && record_skip(c, err) < 0)
			r = -1;
		sp_relpath_pop(&c->path, old_len);
		if (r < 0) {
			sp_bk_node_free(node);
			goto out;
		}
		if (r == SKIPPED) {
			sp_bk_node_free(node);
			continue;
		}
		tree.n++;
	}
	if (sp_bk_tree_encode(&tree, &enc, &enclen, err) < 0) {
		/* Too many entries for one listing: the instance made it so. */
		if (err->errnum != ENOMEM)
			ret = skip(c, 0, "%s", err->msg);
		else
			sp_err_wrap(err, "%s", shown(c));
		goto out;
	}
	sp_bk_blob_id(&c->repo->keys, enc, enclen, out);
	if (add_blob(c, &c->trees, out, enc, enclen, err) < 0)
		goto out;
	ret = DONE;
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

/* [a-z0-9][a-z0-9-]{0,62}: what a snapshot's list of instances takes. */
static bool instance_name(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > 63 || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
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

		/* Only instances' homes: another name there is not one. */
		if (e->d_type != DT_DIR || !instance_name(e->d_name))
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
	size_t enclen, old_len;
	int ret = -1, r;

	if (fd < 0)
		return sp_fail_errno(err, errno, "store %s", c->opts->store);
	if (c->opts->instances == NULL) {
		r = walk(c, fd, parent, (char *const *)top_names, 0, root, err);
		/* The store itself is the host's: not reading it is an error. */
		if (r == SKIPPED)
			return sp_fail(err, SP_ERR_RUNTIME, "store %s: %s", c->opts->store, c->why);
		return r;
	}

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
	if (sp_relpath_push(&c->path, "state", &old_len) < 0) {
		sp_fail_errno(err, ENOMEM, "snapshot");
		goto out;
	}
	/* "state" itself: its metadata, then only the chosen names. */
	r = dir_meta(c, fd, "state", state, err);
	if (r == SKIPPED)
		sp_fail(err, SP_ERR_RUNTIME, "%s/state: %s", c->opts->store, c->why);
	if (r != DONE)
		goto out;
	if (old != NULL && old->type == SP_BK_NODE_DIR && sp_bk_tree_load(c->repo, c->idx, old->subtree, &old_state, err) < 0)
		memset(&old_state, 0, sizeof old_state);
	sfd = open_dir(fd, "state");
	if (sfd < 0) {
		sp_fail_errno(err, errno, "%s/state", c->opts->store);
		goto out;
	}
	r = walk(c, sfd, old != NULL ? &old_state : NULL, c->opts->instances, 1, state->subtree, err);
	if (r == SKIPPED)
		sp_fail(err, SP_ERR_RUNTIME, "%s/state: %s", c->opts->store, c->why);
	if (r != DONE)
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
	c.xattr_list = malloc(XATTR_LIST_MAX_LEN);
	c.link = malloc(TARGET_MAX + 2);
	c.zeros = calloc(1, SP_BK_CHUNK_MAX);
	if (c.buf == NULL || c.xattr_list == NULL || c.link == NULL || c.zeros == NULL ||
	    sp_relpath_init(&c.path) < 0) {
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
	c.zero_len = sp_bk_chunk_next(&c.chunker, c.zeros, SP_BK_CHUNK_MAX);
	sp_bk_blob_id(&repo->keys, c.zeros, c.zero_len, c.zero_id);
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
	snap->skipped = c.skipped;
	snap->skipped_paths = steal_ptr(&c.skipped_paths);
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
	/* The gear table is derived from a key: it tells where chunks are
	 * cut, which is what a chunk-size observer wants to know. */
	sodium_memzero(&c.chunker, sizeof c.chunker);
	free(c.buf);
	free(c.xattr_list);
	free(c.link);
	free(c.zeros);
	sp_strv_free(c.skipped_paths);
	sp_relpath_free(&c.path);
	if (ret < 0)
		sp_bk_snapshot_free(snap);
	return ret;
}
