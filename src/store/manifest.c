/* The manifest of the host's software (format in manifest.h). */
#include "store/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/sha256.h"

#include "store/nar.h"
#include "util/cleanup.h"
#include "util/relpath.h"

#define CHUNK (1024 * 1024)

/* Sorted by sp_listing_pathcmp(), as the walk writes them. */
const char *const sp_manifest_host_paths[] = { "etc/ld.so.cache", "usr", NULL };

struct mrec {
	const char *path;
	unsigned int mode;
	uint64_t size;
	const char *hash; /* hex (regular), target (symlink), "-" */
	int64_t mtime, ctime;
	uint64_t ino;
};

struct mwalker {
	FILE *out;
	const struct mrec *prev; /* sorted; NULL in full mode */
	size_t nprev;
	struct sp_manifest_stats *stats;
	uint8_t *buf;
	struct sp_relpath rel;
	dev_t dev;               /* of the listed path: mounts are not entered */
	const char *root;
	struct sp_err *err;
};

static int mfail(struct mwalker *w, int errnum, const char *what)
{
	const char *sep = strcmp(w->root, "/") == 0 ? "" : "/";

	if (errnum)
		return sp_fail_errno(w->err, errnum, "%s%s%s: %s", w->root, sep, w->rel.s, what);
	return sp_fail(w->err, SP_ERR_RUNTIME, "%s%s%s: %s", w->root, sep, w->rel.s, what);
}

static int mpush(struct mwalker *w, const char *name, size_t *saved)
{
	if (sp_relpath_push(&w->rel, name, saved) < 0)
		return mfail(w, ENOMEM, "path");
	return 0;
}

static void mpop(struct mwalker *w, size_t saved)
{
	sp_relpath_pop(&w->rel, saved);
}

static int64_t ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static const struct mrec *lookup(const struct mwalker *w, const char *path)
{
	size_t lo = 0, hi = w->nprev;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = sp_listing_pathcmp(path, w->prev[mid].path);

		if (c == 0)
			return &w->prev[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static void line(struct mwalker *w, const struct stat *st, uint64_t size, const char *hash,
		 bool escape_hash)
{
	sp_listing_escape(w->out, w->rel.s);
	fprintf(w->out, "\t%o\t%" PRIu64 "\t", (unsigned int)st->st_mode, size);
	if (escape_hash)
		sp_listing_escape(w->out, hash);
	else
		fputs(hash, w->out);
	fprintf(w->out, "\t%" PRId64 "\t%" PRId64 "\t%" PRIu64 "\n",
		ns(&st->st_mtim), ns(&st->st_ctim), (uint64_t)st->st_ino);
	w->stats->entries++;
}

static bool same_meta(const struct mrec *p, const struct stat *st)
{
	return p->mode == (unsigned int)st->st_mode && p->size == (uint64_t)st->st_size &&
	       p->mtime == ns(&st->st_mtim) && p->ctime == ns(&st->st_ctim) &&
	       p->ino == (uint64_t)st->st_ino && strlen(p->hash) == 64;
}

static int regular(struct mwalker *w, int dfd, const char *name, const struct stat *st)
{
	const struct mrec *p = w->prev ? lookup(w, w->rel.s) : NULL;
	cleanup_fd int fd = -1;
	struct stat before, after;
	uint8_t sum[32];
	char hex[65], what[4096];

	w->stats->files++;
	if (p && same_meta(p, st)) {
		w->stats->reused++;
		line(w, st, (uint64_t)st->st_size, p->hash, false);
		return 0;
	}
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return mfail(w, errno, "open");
	if (fstat(fd, &before) < 0)
		return mfail(w, errno, "fstat");
	if (before.st_ino != st->st_ino || before.st_dev != st->st_dev || !S_ISREG(before.st_mode))
		return mfail(w, 0, "replaced while being read");
	snprintf(what, sizeof what, "%s%s%s", w->root,
		 strcmp(w->root, "/") == 0 ? "" : "/", w->rel.s);
	if (sp_sha256_fd(fd, (uint64_t)before.st_size, w->buf, CHUNK, sum, NULL, what, w->err) < 0)
		return -1;
	/* The line's times must be those of the content hashed, or the fast
	 * mode would later trust a hash of something else. */
	if (fstat(fd, &after) < 0)
		return mfail(w, errno, "fstat");
	if (ns(&after.st_mtim) != ns(&before.st_mtim) || ns(&after.st_ctim) != ns(&before.st_ctim))
		return mfail(w, 0, "changed while being read");
	w->stats->hashed_files++;
	w->stats->hashed_bytes += (uint64_t)before.st_size;
	sp_hex(sum, 32, hex);
	line(w, &before, (uint64_t)before.st_size, hex, false);
	return 0;
}

static int symlink_entry(struct mwalker *w, int dfd, const char *name, const struct stat *st)
{
	char *target = (char *)w->buf;
	ssize_t n = readlinkat(dfd, name, target, CHUNK);

	if (n < 0)
		return mfail(w, errno, "readlink");
	if (n >= CHUNK)
		return mfail(w, 0, "symlink target too long");
	target[n] = '\0';
	line(w, st, (uint64_t)n, target, true);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int entry(struct mwalker *w, int dfd, const char *name, const struct stat *st);

static int directory(struct mwalker *w, int dfd, const char *name, const struct stat *st)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	struct stat now;
	DIR *dir = NULL;
	int fd, ret = -1;

	line(w, st, 0, "-", false);
	/* Another filesystem is listed as its mount point, not entered. */
	if (st->st_dev != w->dev)
		return 0;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return mfail(w, errno, "open");
	if (fstat(fd, &now) < 0 || now.st_ino != st->st_ino || now.st_dev != st->st_dev) {
		close(fd);
		return mfail(w, 0, "replaced while being read");
	}
	dir = fdopendir(fd);
	if (!dir) {
		mfail(w, errno, "fdopendir");
		close(fd);
		return -1;
	}
	for (;;) {
		errno = 0;
		de = readdir(dir);
		if (!de) {
			if (errno) {
				mfail(w, errno, "readdir");
				goto out;
			}
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			size_t c = cap ? cap * 2 : 16;
			char **p = realloc(names, c * sizeof *names);

			if (!p) {
				mfail(w, ENOMEM, "readdir");
				goto out;
			}
			names = p;
			cap = c;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			mfail(w, ENOMEM, "readdir");
			goto out;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof *names, cmp_names);
	for (size_t i = 0; i < n; i++) {
		struct stat cst;
		size_t saved = 0;

		if (mpush(w, names[i], &saved) < 0)
			goto out;
		if (fstatat(dirfd(dir), names[i], &cst, AT_SYMLINK_NOFOLLOW) < 0) {
			mfail(w, errno, "stat");
			goto out;
		}
		if (entry(w, dirfd(dir), names[i], &cst) < 0)
			goto out;
		mpop(w, saved);
	}
	ret = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(dir);
	return ret;
}

static int entry(struct mwalker *w, int dfd, const char *name, const struct stat *st)
{
	if (S_ISREG(st->st_mode))
		return regular(w, dfd, name, st);
	if (S_ISDIR(st->st_mode))
		return directory(w, dfd, name, st);
	if (S_ISLNK(st->st_mode))
		return symlink_entry(w, dfd, name, st);
	/* A device, fifo or socket: its mode is all there is to record. */
	line(w, st, 0, "-", false);
	return 0;
}

/* Splits TEXT (a copy, changed in place) into records. */
static int parse_manifest(char *text, const char *which, struct mrec **out,
			  size_t *count, struct sp_err *err)
{
	struct mrec *recs = NULL;
	size_t n = 0, cap = 0, lineno = 0;
	char *ln = text;

	while (*ln) {
		char *nl = strchr(ln, '\n');
		char *f[7], *end;
		struct mrec r;
		int nf = 0;

		lineno++;
		if (nl)
			*nl = '\0';
		for (char *p = ln; p; nf++) {
			if (nf == 7)
				goto bad;
			f[nf] = p;
			p = strchr(p, '\t');
			if (p)
				*p++ = '\0';
		}
		if (nf != 7)
			goto bad;
		errno = 0;
		r.path = sp_listing_unescape(f[0]);
		r.mode = (unsigned int)strtoul(f[1], &end, 8);
		if (!r.path || !*r.path || !*f[1] || *end)
			goto bad;
		r.size = strtoull(f[2], &end, 10);
		if (!*f[2] || *end)
			goto bad;
		r.hash = sp_listing_unescape(f[3]);
		r.mtime = strtoll(f[4], &end, 10);
		if (!r.hash || !*f[4] || *end)
			goto bad;
		r.ctime = strtoll(f[5], &end, 10);
		if (!*f[5] || *end)
			goto bad;
		r.ino = strtoull(f[6], &end, 10);
		if (!*f[6] || *end || errno)
			goto bad;
		if (n == cap) {
			size_t c = cap ? cap * 2 : 1024;
			struct mrec *p = realloc(recs, c * sizeof *recs);

			if (!p) {
				free(recs);
				return sp_fail_errno(err, ENOMEM, "manifest");
			}
			recs = p;
			cap = c;
		}
		recs[n++] = r;
		if (!nl)
			break;
		ln = nl + 1;
	}
	*out = recs;
	*count = n;
	return 0;
bad:
	free(recs);
	return sp_fail(err, SP_ERR_RUNTIME,
		       "%s manifest, line %zu: not PATH\\tMODE\\tSIZE\\tSHA256\\tMTIME_NS\\tCTIME_NS\\tINO",
		       which, lineno);
}

static int cmp_paths(const void *a, const void *b)
{
	return sp_listing_pathcmp(*(const char *const *)a, *(const char *const *)b);
}

int sp_manifest_write(const struct sp_manifest_opts *opts, FILE *out,
		      struct sp_manifest_stats *stats, struct sp_err *err)
{
	const char *const *paths = opts->paths ? opts->paths : sp_manifest_host_paths;
	struct sp_manifest_stats own;
	cleanup_free char *prev_text = NULL;
	cleanup_free struct mrec *prev = NULL;
	cleanup_free const char **sorted = NULL;
	cleanup_fd int rootfd = -1;
	size_t nprev = 0, npaths = 0;
	struct mwalker w = {
		.out = out,
		.stats = stats ? stats : &own,
		.root = opts->root,
		.err = err,
	};
	int ret = -1;

	memset(w.stats, 0, sizeof *w.stats);
	if (opts->previous && !opts->full) {
		prev_text = strdup(opts->previous);
		if (!prev_text)
			return sp_fail_errno(err, ENOMEM, "manifest");
		if (parse_manifest(prev_text, "previous", &prev, &nprev, err) < 0)
			return -1;
		w.prev = prev;
		w.nprev = nprev;
	}
	rootfd = open(opts->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return sp_fail_errno(err, errno, "%s", opts->root);
	/* Listed paths in the order of the lines, so the whole is sorted. */
	while (paths[npaths])
		npaths++;
	sorted = calloc(npaths + 1, sizeof *sorted);
	w.buf = malloc(CHUNK);
	if (!sorted || !w.buf) {
		sp_fail_errno(err, ENOMEM, "manifest");
		goto out;
	}
	memcpy(sorted, paths, npaths * sizeof *sorted);
	qsort(sorted, npaths, sizeof *sorted, cmp_paths);
	for (size_t i = 0; i < npaths; i++) {
		struct stat st;
		size_t saved = 0;

		w.rel.len = 0;
		if (mpush(&w, sorted[i], &saved) < 0)
			goto out;
		if (fstatat(rootfd, sorted[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			mfail(&w, errno, "stat");
			goto out;
		}
		w.dev = st.st_dev;
		if (entry(&w, rootfd, sorted[i], &st) < 0)
			goto out;
	}
	if (ferror(out)) {
		sp_fail_errno(err, errno, "manifest: write");
		goto out;
	}
	ret = 0;
out:
	free(w.buf);
	sp_relpath_free(&w.rel);
	return ret;
}

int sp_manifest_string(const struct sp_manifest_opts *opts, char **out,
		       struct sp_manifest_stats *stats, struct sp_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int ret;

	f = open_memstream(&buf, &len);
	if (!f)
		return sp_fail_errno(err, errno, "manifest");
	ret = sp_manifest_write(opts, f, stats, err);
	if (fclose(f) != 0 && ret == 0)
		ret = sp_fail_errno(err, errno, "manifest");
	if (ret < 0) {
		free(buf);
		return -1;
	}
	*out = buf;
	return 0;
}

static size_t rec_diff(const struct mrec *a, const struct mrec *b,
		       sp_manifest_report_fn report, void *arg)
{
	size_t n = 0;

	if ((a->mode & S_IFMT) != (b->mode & S_IFMT)) {
		report(a->path, "type changed", arg);
		return 1;
	}
	if (S_ISREG(a->mode) && (a->size != b->size || strcmp(a->hash, b->hash) != 0)) {
		report(a->path, "content changed", arg);
		n++;
	}
	if (S_ISLNK(a->mode) && strcmp(a->hash, b->hash) != 0) {
		report(a->path, "symlink target changed", arg);
		n++;
	}
	if ((a->mode & 07777) != (b->mode & 07777)) {
		report(a->path, "mode changed", arg);
		n++;
	}
	return n;
}

int sp_manifest_diff(const char *recorded, const char *current,
		     sp_manifest_report_fn report, void *arg,
		     struct sp_err *err)
{
	cleanup_free char *ta = strdup(recorded);
	cleanup_free char *tb = strdup(current);
	cleanup_free struct mrec *a = NULL;
	cleanup_free struct mrec *b = NULL;
	size_t na = 0, nb = 0, i = 0, j = 0, diffs = 0;

	if (!ta || !tb)
		return sp_fail_errno(err, ENOMEM, "manifest");
	if (parse_manifest(ta, "recorded", &a, &na, err) < 0 ||
	    parse_manifest(tb, "current", &b, &nb, err) < 0)
		return -1;
	while (i < na || j < nb) {
		int c = i == na ? 1 : j == nb ? -1 : sp_listing_pathcmp(a[i].path, b[j].path);

		if (c < 0) {
			report(a[i++].path, "removed", arg);
			diffs++;
		} else if (c > 0) {
			report(b[j++].path, "added", arg);
			diffs++;
		} else {
			diffs += rec_diff(&a[i++], &b[j++], report, arg);
		}
	}
	return diffs > INT32_MAX ? INT32_MAX : (int)diffs;
}

int sp_manifest_verify(const char *recorded, const char *root,
		       const char *const *paths, bool full,
		       sp_manifest_report_fn report, void *arg,
		       struct sp_manifest_stats *stats, struct sp_err *err)
{
	struct sp_manifest_opts opts = {
		.root = root,
		.paths = paths,
		.previous = recorded,
		.full = full,
	};
	cleanup_free char *current = NULL;

	if (sp_manifest_string(&opts, &current, stats, err) < 0)
		return -1;
	return sp_manifest_diff(recorded, current, report, arg, err);
}
