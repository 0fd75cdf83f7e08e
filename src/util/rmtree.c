#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/rmtree.h"

/* A mount point (a bind mount of the same filesystem too, which st_dev
 * does not tell): never descended into or emptied. */
static bool is_mount_root(int dirfd, const char *name)
{
	struct statx sx;

	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &sx) < 0)
		return true; /* unknown: leave it */
	return (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

static void empty(int fd, dev_t dev, int depth)
{
	DIR *d;
	struct dirent *e;

	/* Deeper than anything Spectrum makes: stop, leave it. */
	if (depth > 64) {
		close(fd);
		return;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((e = readdir(d))) {
		struct stat st;
		int sub;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISDIR(st.st_mode)) {
			unlinkat(fd, e->d_name, 0);
			continue;
		}
		if (st.st_dev != dev || is_mount_root(fd, e->d_name))
			continue; /* a mount point: not ours to empty */
		sub = openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0)
			empty(sub, dev, depth + 1);
		unlinkat(fd, e->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

void sp_rmtree(int dirfd, const char *name)
{
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		/* Not a directory (a file, a symlink): remove just it. */
		if (errno != ENOENT)
			unlinkat(dirfd, name, 0);
		return;
	}
	if (fstat(fd, &st) < 0 || is_mount_root(dirfd, name)) {
		close(fd);
		return;
	}
	empty(fd, st.st_dev, 0);
	unlinkat(dirfd, name, AT_REMOVEDIR);
}
