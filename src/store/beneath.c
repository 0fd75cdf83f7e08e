/* Path resolution that cannot leave a directory: every lookup goes through
 * openat2(2) with RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS, so a symlink or
 * ".." planted by an instance (in its home) or by anyone (in data/) is
 * refused rather than followed. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "store/store.h"
#include "util/cleanup.h"

static const unsigned long long beneath_flags =
	RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

static int openat2_beneath(int dirfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (unsigned long long)flags | O_CLOEXEC | O_NOFOLLOW,
		.resolve = beneath_flags,
	};

	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int sp_mkdir_beneath(int dirfd, const char *relpath, mode_t mode, int *fd,
		     struct sp_err *err)
{
	cleanup_free char *copy = strdup(relpath);
	int cur = -1, next;
	char *save = NULL, *part;

	if (!copy)
		return sp_fail_errno(err, ENOMEM, "%s", relpath);
	cur = openat2_beneath(dirfd, ".", O_PATH | O_DIRECTORY);
	if (cur < 0)
		return sp_fail_errno(err, errno, "open directory");
	for (part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
		if (strcmp(part, "..") == 0 || strcmp(part, ".") == 0) {
			close(cur);
			return sp_fail(err, SP_ERR_USAGE, "%s: \"..\" and \".\" are not allowed", relpath);
		}
		if (mkdirat(cur, part, mode) < 0 && errno != EEXIST) {
			int e = errno;
			close(cur);
			return sp_fail_errno(err, e, "create %s", relpath);
		}
		next = openat2_beneath(cur, part, O_PATH | O_DIRECTORY);
		if (next < 0) {
			int e = errno;
			close(cur);
			if (e == ELOOP || e == ENOTDIR)
				return sp_fail_errno(err, e, "%s: refusing a symlink or non-directory", relpath);
			return sp_fail_errno(err, e, "open %s", relpath);
		}
		close(cur);
		cur = next;
	}
	*fd = cur;
	return 0;
}

int sp_store_open_grant(const struct sp_store *store, const char *relpath,
			int *fd, bool *is_dir, struct sp_err *err)
{
	struct stat st;
	int f;

	f = openat2_beneath(store->data_fd, relpath, O_PATH);
	if (f < 0 && errno == ENOENT) {
		/* A grant names a folder the instance is meant to have:
		 * create it, beneath data/ and without following symlinks. */
		if (sp_mkdir_beneath(store->data_fd, relpath, 0755, &f, err) < 0)
			return sp_err_wrap(err, "data grant %s", relpath);
	} else if (f < 0) {
		int e = errno;
		if (e == ELOOP || e == EXDEV || e == ENOTDIR)
			return sp_fail_errno(err, e, "data grant %s: refusing a path through a symlink or out of %s/data",
					     relpath, store->root);
		return sp_fail_errno(err, e, "data grant %s", relpath);
	}
	if (fstat(f, &st) < 0) {
		int e = errno;
		close(f);
		return sp_fail_errno(err, e, "data grant %s", relpath);
	}
	if (S_ISLNK(st.st_mode)) {
		close(f);
		return sp_fail(err, SP_ERR_RUNTIME, "data grant %s: refusing a symlink (grants name real folders or files in %s/data)",
			       relpath, store->root);
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		close(f);
		return sp_fail(err, SP_ERR_RUNTIME, "data grant %s: not a directory or regular file", relpath);
	}
	*is_dir = S_ISDIR(st.st_mode);
	*fd = f;
	return 0;
}

int sp_mkfile_beneath(int dirfd, const char *relpath, struct sp_err *err)
{
	cleanup_free char *dir = strdup(relpath);
	const char *name;
	char *slash;
	struct stat st;
	int parent = -1, fd, ret = -1;

	if (!dir)
		return sp_fail_errno(err, ENOMEM, "%s", relpath);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		name = slash + 1;
		if (sp_mkdir_beneath(dirfd, dir, 0755, &parent, err) < 0)
			return -1;
	} else {
		name = relpath;
		parent = openat2_beneath(dirfd, ".", O_PATH | O_DIRECTORY);
		if (parent < 0)
			return sp_fail_errno(err, errno, "open directory of %s", relpath);
	}
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		/* Anything but a regular file is refused: a fifo would block
		 * whoever opens it, a symlink would lead elsewhere. */
		if (!S_ISREG(st.st_mode)) {
			sp_fail(err, SP_ERR_RUNTIME, "%s: exists and is not a regular file", relpath);
			goto out;
		}
		ret = 0;
		goto out;
	}
	if (errno != ENOENT) {
		sp_fail_errno(err, errno, "%s", relpath);
		goto out;
	}
	fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
	if (fd < 0) {
		sp_fail_errno(err, errno, "create %s", relpath);
		goto out;
	}
	close(fd);
	ret = 0;
out:
	close(parent);
	return ret;
}
