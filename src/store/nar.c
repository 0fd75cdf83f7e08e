/* The NAR hash, streamed: the archive is never built, only fed to
 * SHA-256 piece by piece as the tree is walked (format in nar.h). */
#include "store/nar.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/sha256.h"

#include "store/nixbase32.h"
#include "util/cleanup.h"
#include "util/relpath.h"

/* Large enough that a big file costs few read()s, small enough to stay
 * in cache alongside the hash state. */
#define CHUNK (1024 * 1024)

struct walker {
	struct sp_sha256 *nar; /* NULL when no archive hash is wanted */
	sp_nar_walk_fn fn;             /* NULL when no entries are wanted */
	void *arg;
	struct sp_nar_stats *stats;
	uint8_t *buf;                  /* CHUNK bytes */
	struct sp_relpath rel;         /* path of the current entry, "" at the top */
	const char *top;               /* the walked path, for messages */
	struct sp_err *err;
};

static void nar_bytes(struct walker *w, const void *p, size_t n)
{
	if (w->nar)
		sp_sha256_update(w->nar, p, n);
	w->stats->nar_size += n;
}

static void nar_u64(struct walker *w, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	nar_bytes(w, b, sizeof b);
}

static void nar_pad(struct walker *w, uint64_t n)
{
	static const uint8_t zeros[8];

	if (n % 8)
		nar_bytes(w, zeros, 8 - n % 8);
}

static void nar_str(struct walker *w, const char *s, size_t n)
{
	nar_u64(w, n);
	nar_bytes(w, s, n);
	nar_pad(w, n);
}

#define NAR_LIT(w, s) nar_str((w), (s), sizeof(s) - 1)

/* The walked path and the current entry, as one path for messages. */
static int fail(struct walker *w, int errnum, const char *what)
{
	const char *sep = w->rel.len ? "/" : "";

	if (errnum)
		return sp_fail_errno(w->err, errnum, "%s%s%s: %s", w->top, sep, w->rel.s, what);
	return sp_fail(w->err, SP_ERR_RUNTIME, "%s%s%s: %s", w->top, sep, w->rel.s, what);
}

/* The walked path and the current entry, as one path for messages. */
static const char *where(struct walker *w, char *buf, size_t n)
{
	snprintf(buf, n, "%s%s%s", w->top, w->rel.len ? "/" : "", w->rel.s);
	return buf;
}

static int push(struct walker *w, const char *name, size_t *saved)
{
	if (sp_relpath_push(&w->rel, name, saved) < 0)
		return fail(w, ENOMEM, "path");
	return 0;
}

static void pop(struct walker *w, size_t saved)
{
	sp_relpath_pop(&w->rel, saved);
}

static int emit(struct walker *w, struct sp_nar_entry *e, const struct stat *st)
{
	if (!w->fn)
		return 0;
	e->path = w->rel.len ? w->rel.s : ".";
	e->mode = st->st_mode & 07777;
	return w->fn(e, w->arg, w->err);
}

int sp_sha256_fd(int fd, uint64_t size, uint8_t *buf, size_t bufsize,
		 uint8_t out[32], void *nar, const char *what,
		 struct sp_err *err)
{
	struct sp_sha256 own = { NULL };
	uint64_t left = size;
	ssize_t n;
	int ret = -1;

	if (out && sp_sha256_init(&own) < 0)
		return sp_fail_errno(err, ENOMEM, "%s: sha256", what);
	if (size > bufsize)
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	while (left > 0) {
		size_t want = left < bufsize ? (size_t)left : bufsize;

		n = read(fd, buf, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			sp_fail_errno(err, errno, "%s: read", what);
			goto out;
		}
		if (n == 0) {
			sp_fail(err, SP_ERR_RUNTIME, "%s: shorter than its size (changed while being read)", what);
			goto out;
		}
		if (out)
			sp_sha256_update(&own, buf, (size_t)n);
		if (nar)
			sp_sha256_update(nar, buf, (size_t)n);
		left -= (uint64_t)n;
	}
	/* A file that grew would hash as its first SIZE bytes: say so. */
	do
		n = read(fd, buf, 1);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		sp_fail_errno(err, errno, "%s: read", what);
		goto out;
	}
	if (n > 0) {
		sp_fail(err, SP_ERR_RUNTIME, "%s: longer than its size (changed while being read)", what);
		goto out;
	}
	if (out)
		sp_sha256_final(&own, out);
	ret = 0;
out:
	sp_sha256_free(&own);
	return ret;
}

/* The descriptor must be the entry that was stat'ed: anything else means
 * the tree changed under us. */
static int check_same(struct walker *w, int fd, const struct stat *st, struct stat *now)
{
	if (fstat(fd, now) < 0)
		return fail(w, errno, "fstat");
	if (now->st_dev != st->st_dev || now->st_ino != st->st_ino ||
	    (now->st_mode & S_IFMT) != (st->st_mode & S_IFMT))
		return fail(w, 0, "replaced while being read");
	return 0;
}

static int dump(struct walker *w, int dfd, const char *name, const struct stat *st);

static int dump_regular(struct walker *w, int dfd, const char *name, const struct stat *st)
{
	struct sp_nar_entry e = { .type = 'f' };
	cleanup_fd int fd = -1;
	struct stat now;
	char what[4096];

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail(w, errno, "open");
	if (check_same(w, fd, st, &now) < 0)
		return -1;
	NAR_LIT(w, "(");
	NAR_LIT(w, "type");
	NAR_LIT(w, "regular");
	/* Nix's own test (archive.cc): the owner's execute bit. */
	if (now.st_mode & S_IXUSR) {
		NAR_LIT(w, "executable");
		NAR_LIT(w, "");
		e.type = 'x';
	}
	NAR_LIT(w, "contents");
	nar_u64(w, (uint64_t)now.st_size);
	if (sp_sha256_fd(fd, (uint64_t)now.st_size, w->buf, CHUNK,
			 w->fn ? e.sha256 : NULL, w->nar,
			 where(w, what, sizeof what), w->err) < 0)
		return -1;
	w->stats->nar_size += (uint64_t)now.st_size;
	nar_pad(w, (uint64_t)now.st_size);
	NAR_LIT(w, ")");
	w->stats->files++;
	w->stats->bytes += (uint64_t)now.st_size;
	e.size = (uint64_t)now.st_size;
	return emit(w, &e, &now);
}

static int dump_symlink(struct walker *w, int dfd, const char *name, const struct stat *st)
{
	struct sp_nar_entry e = { .type = 'l' };
	char *target = (char *)w->buf;
	ssize_t n;

	n = readlinkat(dfd, name, target, CHUNK);
	if (n < 0)
		return fail(w, errno, "readlink");
	if (n >= CHUNK)
		return fail(w, 0, "symlink target too long");
	target[n] = '\0';
	NAR_LIT(w, "(");
	NAR_LIT(w, "type");
	NAR_LIT(w, "symlink");
	NAR_LIT(w, "target");
	nar_str(w, target, (size_t)n);
	NAR_LIT(w, ")");
	w->stats->symlinks++;
	e.size = (uint64_t)n;
	e.target = target;
	return emit(w, &e, st);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The names in DIR, without "." and "..", in byte order. */
static int read_names(struct walker *w, DIR *dir, char ***out, size_t *count)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	for (;;) {
		errno = 0;
		de = readdir(dir);
		if (!de) {
			if (errno) {
				free_names(names, n);
				return fail(w, errno, "readdir");
			}
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			size_t c = cap ? cap * 2 : 16;
			char **p = realloc(names, c * sizeof *names);

			if (!p) {
				free_names(names, n);
				return fail(w, ENOMEM, "readdir");
			}
			names = p;
			cap = c;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			free_names(names, n);
			return fail(w, ENOMEM, "readdir");
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof *names, cmp_names);
	*out = names;
	*count = n;
	return 0;
}

static int dump_directory(struct walker *w, int dfd, const char *name, const struct stat *st)
{
	struct sp_nar_entry e = { .type = 'd' };
	char **names = NULL;
	size_t count = 0;
	struct stat now;
	DIR *dir = NULL;
	int fd, ret = -1;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail(w, errno, "open");
	if (check_same(w, fd, st, &now) < 0) {
		close(fd);
		return -1;
	}
	dir = fdopendir(fd);
	if (!dir) {
		fail(w, errno, "fdopendir");
		close(fd);
		return -1;
	}
	if (read_names(w, dir, &names, &count) < 0)
		goto out;
	NAR_LIT(w, "(");
	NAR_LIT(w, "type");
	NAR_LIT(w, "directory");
	w->stats->dirs++;
	if (emit(w, &e, &now) < 0)
		goto out;
	for (size_t i = 0; i < count; i++) {
		struct stat cst;
		size_t saved = 0;

		if (push(w, names[i], &saved) < 0)
			goto out;
		if (fstatat(dirfd(dir), names[i], &cst, AT_SYMLINK_NOFOLLOW) < 0) {
			fail(w, errno, "stat");
			goto out;
		}
		NAR_LIT(w, "entry");
		NAR_LIT(w, "(");
		NAR_LIT(w, "name");
		nar_str(w, names[i], strlen(names[i]));
		NAR_LIT(w, "node");
		if (dump(w, dirfd(dir), names[i], &cst) < 0)
			goto out;
		NAR_LIT(w, ")");
		pop(w, saved);
	}
	NAR_LIT(w, ")");
	ret = 0;
out:
	free_names(names, count);
	closedir(dir);
	return ret;
}

static int dump(struct walker *w, int dfd, const char *name, const struct stat *st)
{
	if (S_ISREG(st->st_mode))
		return dump_regular(w, dfd, name, st);
	if (S_ISDIR(st->st_mode))
		return dump_directory(w, dfd, name, st);
	if (S_ISLNK(st->st_mode))
		return dump_symlink(w, dfd, name, st);
	/* As Nix: a device, fifo or socket has no place in an archive. */
	return fail(w, 0, "not a regular file, directory or symlink");
}

int sp_nar_walk(int dirfd, const char *path, uint8_t nar_hash[32],
		sp_nar_walk_fn fn, void *arg, struct sp_nar_stats *stats,
		struct sp_err *err)
{
	struct sp_nar_stats own;
	struct sp_sha256 nar = { NULL };
	struct walker w = {
		.nar = nar_hash ? &nar : NULL,
		.fn = fn,
		.arg = arg,
		.stats = stats ? stats : &own,
		.top = path,
		.err = err,
	};
	struct stat st;
	int ret = -1;

	memset(w.stats, 0, sizeof *w.stats);
	w.buf = malloc(CHUNK);
	if (!w.buf || sp_relpath_init(&w.rel) < 0) {
		fail(&w, ENOMEM, "NAR hash");
		goto out;
	}
	if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		fail(&w, errno, "stat");
		goto out;
	}
	if (w.nar && sp_sha256_init(w.nar) < 0) {
		fail(&w, ENOMEM, "sha256");
		goto out;
	}
	NAR_LIT(&w, "nix-archive-1");
	if (dump(&w, dirfd, path, &st) < 0)
		goto out;
	if (w.nar)
		sp_sha256_final(w.nar, nar_hash);
	ret = 0;
out:
	if (w.nar)
		sp_sha256_free(w.nar);
	free(w.buf);
	sp_relpath_free(&w.rel);
	return ret;
}

int sp_nar_hash(int dirfd, const char *path, uint8_t out[32],
		struct sp_nar_stats *stats, struct sp_err *err)
{
	return sp_nar_walk(dirfd, path, out, NULL, NULL, stats, err);
}

int sp_nar_hash_format(const uint8_t hash[32], char *out, size_t n)
{
	if (n < SP_NAR_HASH_STRSIZE)
		return -1;
	memcpy(out, "sha256:", 7);
	return sp_nixbase32_encode(hash, 32, out + 7, n - 7) < 0 ? -1 : 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sp_nar_hash_parse(const char *s, uint8_t out[32])
{
	size_t len;

	if (strncmp(s, "sha256:", 7) != 0)
		return -1;
	s += 7;
	len = strlen(s);
	if (len == 52)
		return sp_nixbase32_decode(s, len, out, 32);
	if (len != 64)
		return -1;
	for (size_t i = 0; i < 32; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* The file list. */

int sp_listing_pathcmp(const char *a, const char *b)
{
	bool ra = strcmp(a, ".") == 0, rb = strcmp(b, ".") == 0;

	if (ra || rb)
		return (int)rb - (int)ra;
	/* The end of a path sorts before a separator, and a separator
	 * before every other byte: that compares component by component. */
	for (;; a++, b++) {
		int ca = *a == '\0' ? 0 : *a == '/' ? 1 : (unsigned char)*a + 1;
		int cb = *b == '\0' ? 0 : *b == '/' ? 1 : (unsigned char)*b + 1;

		if (ca != cb)
			return ca - cb;
		if (ca == 0)
			return 0;
	}
}

void sp_listing_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '\\':
			fputs("\\\\", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

char *sp_listing_unescape(char *s)
{
	char *r = s, *o = s;

	while (*r) {
		if (*r != '\\') {
			*o++ = *r++;
			continue;
		}
		switch (r[1]) {
		case '\\':
			*o++ = '\\';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'n':
			*o++ = '\n';
			break;
		default:
			return NULL;
		}
		r += 2;
	}
	*o = '\0';
	return s;
}

void sp_nar_listing_line(FILE *f, const struct sp_nar_entry *e)
{
	fprintf(f, "%c\t%04o\t%" PRIu64 "\t", e->type, e->mode, e->size);
	if (e->type == 'f' || e->type == 'x') {
		char hex[65];

		sp_hex(e->sha256, 32, hex);
		fputs(hex, f);
	} else if (e->type == 'l') {
		sp_listing_escape(f, e->target);
	} else {
		fputc('-', f);
	}
	fputc('\t', f);
	sp_listing_escape(f, e->path);
	fputc('\n', f);
}

static int listing_cb(const struct sp_nar_entry *e, void *arg, struct sp_err *err)
{
	(void)err;
	sp_nar_listing_line(arg, e);
	return 0;
}

int sp_nar_listing(int dirfd, const char *path, char **out,
		   uint8_t nar_hash[32], struct sp_nar_stats *stats,
		   struct sp_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int ret;

	f = open_memstream(&buf, &len);
	if (!f)
		return sp_fail_errno(err, errno, "%s: file list", path);
	ret = sp_nar_walk(dirfd, path, nar_hash, listing_cb, f, stats, err);
	if (fclose(f) != 0 && ret == 0)
		ret = sp_fail_errno(err, errno, "%s: file list", path);
	if (ret < 0) {
		free(buf);
		return -1;
	}
	*out = buf;
	return 0;
}

struct rec {
	const char *path;
	char type;
	unsigned int mode;
	uint64_t size;
	const char *hash; /* hex (f, x), target (l), "-" (d) */
};

/* Splits the copy TEXT of a file list into records, in place. */
static int parse_listing(char *text, const char *which, struct rec **out,
			 size_t *count, struct sp_err *err)
{
	struct rec *recs = NULL;
	size_t n = 0, cap = 0, lineno = 0;
	char *line = text;

	while (*line) {
		char *nl = strchr(line, '\n');
		char *f[5], *end;
		struct rec r;
		int nf = 0;

		lineno++;
		if (nl)
			*nl = '\0';
		for (char *p = line; p; nf++) {
			if (nf == 5)
				goto bad; /* a sixth field */
			f[nf] = p;
			p = strchr(p, '\t');
			if (p)
				*p++ = '\0';
		}
		if (nf != 5 || strlen(f[0]) != 1 || !strchr("fxdl", f[0][0]))
			goto bad;
		r.type = f[0][0];
		errno = 0;
		r.mode = (unsigned int)strtoul(f[1], &end, 8);
		if (*f[1] == '\0' || *end || r.mode > 07777)
			goto bad;
		r.size = strtoull(f[2], &end, 10);
		if (*f[2] == '\0' || *end || errno)
			goto bad;
		r.hash = sp_listing_unescape(f[3]);
		r.path = sp_listing_unescape(f[4]);
		if (!r.hash || !r.path || *r.path == '\0')
			goto bad;
		if (n == cap) {
			size_t c = cap ? cap * 2 : 64;
			struct rec *p = realloc(recs, c * sizeof *recs);

			if (!p) {
				free(recs);
				return sp_fail_errno(err, ENOMEM, "file list");
			}
			recs = p;
			cap = c;
		}
		recs[n++] = r;
		if (!nl)
			break;
		line = nl + 1;
	}
	*out = recs;
	*count = n;
	return 0;
bad:
	free(recs);
	return sp_fail(err, SP_ERR_RUNTIME, "%s file list, line %zu: not TYPE\\tMODE\\tSIZE\\tHASH\\tPATH",
		       which, lineno);
}

/* Reports what differs between two records of the same path; returns how
 * many things it reported. */
static size_t rec_diff(const struct rec *a, const struct rec *b,
		       sp_listing_report_fn report, void *arg)
{
	bool fa = a->type == 'f' || a->type == 'x';
	bool fb = b->type == 'f' || b->type == 'x';
	size_t n = 0;

	if (a->type != b->type && !(fa && fb)) {
		report(a->path, "type changed", arg);
		return 1;
	}
	if (fa && (a->size != b->size || strcmp(a->hash, b->hash) != 0)) {
		report(a->path, "content changed", arg);
		n++;
	}
	if (a->type == 'l' && strcmp(a->hash, b->hash) != 0) {
		report(a->path, "symlink target changed", arg);
		n++;
	}
	if (a->type != b->type || a->mode != b->mode) {
		report(a->path, "mode changed", arg);
		n++;
	}
	return n;
}

int sp_nar_listing_diff_all(const char *recorded, const char *current,
			    sp_listing_report_fn report, void *arg,
			    struct sp_err *err)
{
	cleanup_free char *ta = strdup(recorded);
	cleanup_free char *tb = strdup(current);
	cleanup_free struct rec *a = NULL;
	cleanup_free struct rec *b = NULL;
	size_t na = 0, nb = 0, i = 0, j = 0, diffs = 0;

	if (!ta || !tb)
		return sp_fail_errno(err, ENOMEM, "file list");
	if (parse_listing(ta, "recorded", &a, &na, err) < 0 ||
	    parse_listing(tb, "current", &b, &nb, err) < 0)
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

struct first {
	char *buf;
	size_t n;
	bool seen;
};

static void first_cb(const char *path, const char *what, void *arg)
{
	struct first *f = arg;

	if (f->seen)
		return;
	f->seen = true;
	if (f->n)
		snprintf(f->buf, f->n, "%s: %s", path, what);
}

int sp_nar_listing_diff(const char *recorded, const char *current,
			char *first_difference, size_t n)
{
	struct first f = { .buf = first_difference, .n = n };
	struct sp_err err = { 0 };
	int ret;

	if (n)
		first_difference[0] = '\0';
	ret = sp_nar_listing_diff_all(recorded, current, first_cb, &f, &err);
	if (ret < 0) {
		if (n)
			snprintf(first_difference, n, "%s", err.msg);
		return -1;
	}
	return ret > 0 ? 1 : 0;
}
