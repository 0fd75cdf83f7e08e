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
