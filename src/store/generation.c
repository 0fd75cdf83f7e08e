#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/generation.h"
#include "util/rmtree.h"
#include "util/cleanup.h"

#define TMP_PREFIX ".new-"

static int gens_dir(const struct sp_store *store, struct sp_err *err)
{
	int fd = openat(store->root_fd, "generations", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return sp_fail_errno(err, errno, "open %s/generations", store->root);
	return fd;
}

/* "12" -> 12; anything else (".new-3", "x", "012") -> 0. */
static unsigned parse_number(const char *name)
{
	char *end;
	unsigned long v;

	if (name[0] < '1' || name[0] > '9')
		return 0;
	errno = 0;
	v = strtoul(name, &end, 10);
	if (errno || *end || v > 1000000000ul)
		return 0;
	return (unsigned)v;
}

int sp_gen_current(const struct sp_store *store, unsigned *number, struct sp_err *err)
{
	char target[256];
	ssize_t n = readlinkat(store->root_fd, "current", target, sizeof target - 1);

	*number = 0;
	if (n < 0) {
		if (errno == ENOENT)
			return 0;
		return sp_fail_errno(err, errno, "read %s/current", store->root);
	}
	target[n] = '\0';
	if (strncmp(target, "generations/", 12) != 0 || !(*number = parse_number(target + 12)))
		return sp_fail(err, SP_ERR_RUNTIME, "%s/current: unexpected target %s", store->root, target);
	return 0;
}

static int cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

int sp_gen_list(const struct sp_store *store, unsigned **numbers, size_t *count, struct sp_err *err)
{
	int fd = gens_dir(store, err);
	struct dirent *e;
	unsigned *v = NULL;
	size_t n = 0;
	DIR *d;

	*numbers = NULL;
	*count = 0;
	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return sp_fail_errno(err, errno, "list generations");
	}
	while ((e = readdir(d))) {
		unsigned num = parse_number(e->d_name);
		unsigned *nv;
		if (!num)
			continue;
		nv = realloc(v, (n + 1) * sizeof *v);
		if (!nv) {
			free(v);
			closedir(d);
			return sp_fail_errno(err, ENOMEM, "list generations");
		}
		v = nv;
		v[n++] = num;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof *v, cmp_unsigned);
	*numbers = v;
	*count = n;
	return 0;
}

int sp_gen_read(const struct sp_store *store, unsigned n, const char *name, char **text, size_t *len,
		struct sp_err *err)
{
	char path[128];
	cleanup_fd int fd = -1;
	struct stat st;
	char *buf;
	size_t got = 0;

	snprintf(path, sizeof path, "generations/%u/%s", n, name);
	fd = openat(store->root_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return sp_fail_errno(err, errno, "generation %u: %s", n, name);
	if (st.st_size > (64 << 20))
		return sp_fail(err, SP_ERR_RUNTIME, "generation %u: %s is too large", n, name);
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return sp_fail_errno(err, ENOMEM, "generation %u: %s", n, name);
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(buf);
			return sp_fail_errno(err, r < 0 ? errno : EIO, "generation %u: read %s", n, name);
		}
		got += (size_t)r;
	}
	buf[got] = '\0';
	*text = buf;
	if (len)
		*len = got;
	return 0;
}

static void remove_leftovers(int gfd)
{
	int fd = dup(gfd);
	struct dirent *e;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	char names[64][256];
	size_t n = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) && n < 64)
		if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0)
			snprintf(names[n++], sizeof names[0], "%s", e->d_name);
	closedir(d);
	for (size_t i = 0; i < n; i++)
		sp_rmtree(gfd, names[i]);
}

int sp_gen_begin(const struct sp_store *store, struct sp_gen_writer *w, struct sp_err *err)
{
	cleanup_fd int gfd = gens_dir(store, err);
	unsigned *nums = NULL;
	size_t count = 0;

	w->dirfd = -1;
	if (gfd < 0)
		return -1;
	remove_leftovers(gfd);
	if (sp_gen_list(store, &nums, &count, err) < 0)
		return -1;
	w->number = count ? nums[count - 1] + 1 : 1;
	free(nums);
	snprintf(w->tmp, sizeof w->tmp, TMP_PREFIX "%u-%d", w->number, (int)getpid());
	if (mkdirat(gfd, w->tmp, 0700) < 0)
		return sp_fail_errno(err, errno, "create generation %u", w->number);
	w->dirfd = openat(gfd, w->tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (w->dirfd < 0)
		return sp_fail_errno(err, errno, "open generation %u", w->number);
	return 0;
}

int sp_gen_write(struct sp_gen_writer *w, const char *name, const char *data, size_t len,
		 struct sp_err *err)
{
	cleanup_fd int fd = -1;
	const char *slash = strchr(name, '/');
	int dirfd = w->dirfd;
	cleanup_fd int sub = -1;

	if (slash) {
		char dir[64];
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - name), name);
		if (mkdirat(w->dirfd, dir, 0700) < 0 && errno != EEXIST)
			return sp_fail_errno(err, errno, "generation %u: create %s", w->number, dir);
		sub = openat(w->dirfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			return sp_fail_errno(err, errno, "generation %u: open %s", w->number, dir);
		dirfd = sub;
		name = slash + 1;
	}
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return sp_fail_errno(err, errno, "generation %u: create %s", w->number, name);
	for (size_t off = 0; off < len;) {
		ssize_t r = write(fd, data + off, len - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return sp_fail_errno(err, errno, "generation %u: write %s", w->number, name);
		off += (size_t)r;
	}
	if (fsync(fd) < 0)
		return sp_fail_errno(err, errno, "generation %u: fsync %s", w->number, name);
	if (sub >= 0 && fsync(sub) < 0)
		return sp_fail_errno(err, errno, "generation %u: fsync", w->number);
	return 0;
}

int sp_gen_commit(const struct sp_store *store, struct sp_gen_writer *w, struct sp_err *err)
{
	cleanup_fd int gfd = gens_dir(store, err);
	char final[32];

	if (gfd < 0)
		return -1;
	if (fsync(w->dirfd) < 0)
		return sp_fail_errno(err, errno, "generation %u: fsync", w->number);
	snprintf(final, sizeof final, "%u", w->number);
	if (renameat(gfd, w->tmp, gfd, final) < 0)
		return sp_fail_errno(err, errno, "generation %u: rename into place", w->number);
	if (fsync(gfd) < 0)
		return sp_fail_errno(err, errno, "fsync %s/generations", store->root);
	close(w->dirfd);
	w->dirfd = -1;
	return 0;
}

void sp_gen_abort(const struct sp_store *store, struct sp_gen_writer *w)
{
	struct sp_err err;
	int gfd;

	if (w->dirfd >= 0)
		close(w->dirfd);
	w->dirfd = -1;
	gfd = gens_dir(store, &err);
	if (gfd >= 0) {
		sp_rmtree(gfd, w->tmp);
		close(gfd);
	}
}

int sp_gen_set_current(const struct sp_store *store, unsigned n, struct sp_err *err)
{
	char target[64], tmp[64];
	cleanup_fd int root = -1;

	snprintf(target, sizeof target, "generations/%u", n);
	snprintf(tmp, sizeof tmp, ".current-%d", (int)getpid());
	unlinkat(store->root_fd, tmp, 0);
	if (symlinkat(target, store->root_fd, tmp) < 0)
		return sp_fail_errno(err, errno, "link generation %u", n);
	/* rename(2) over the old link: `current` names the old generation
	 * or the new one, never nothing. */
	if (renameat(store->root_fd, tmp, store->root_fd, "current") < 0) {
		int e = errno;
		unlinkat(store->root_fd, tmp, 0);
		return sp_fail_errno(err, e, "make generation %u current", n);
	}
	root = openat(store->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0 || fsync(root) < 0)
		return sp_fail_errno(err, errno, "fsync %s", store->root);
	return 0;
}
