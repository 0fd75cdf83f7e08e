#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/mountpoint.h"

bool sp_path_beneath(const char *path, const char *dir, const char **rest)
{
	size_t n = strlen(dir);

	if (strncmp(path, dir, n) != 0 || path[n] != '/')
		return false;
	*rest = path + n + 1;
	return true;
}

/* The directory the mount point lies in, on the host (an O_PATH
 * descriptor to close) and the rest of the path; -1 with *REST NULL when
 * it lies in the instance's own root. */
static int point_base(const struct sp_plan *plan, size_t idx, const struct sp_store *store, int home_fd,
		      bool (*is_dir)(const void *ctx, size_t i), const void *ctx, const char **rest,
		      struct sp_err *err)
{
	const struct sp_mount *m = &plan->mounts[idx];
	size_t best = 0, owner = idx;
	bool dir;
	int fd;

	*rest = NULL;
	for (size_t i = 0; i < idx; i++) {
		const struct sp_mount *o = &plan->mounts[i];
		const char *r;
		if ((o->kind != SP_MNT_HOME && o->kind != SP_MNT_GRANT) || !is_dir(ctx, i))
			continue;
		if (sp_path_beneath(m->target, o->target, &r) && strlen(o->target) >= best) {
			best = strlen(o->target);
			*rest = r;
			owner = i;
		}
	}
	if (!*rest)
		return -1;
	if (plan->mounts[owner].kind == SP_MNT_HOME) {
		fd = fcntl(home_fd, F_DUPFD_CLOEXEC, 0);
		return fd >= 0 ? fd : sp_fail_errno(err, errno, "dup");
	}
	/* Inside an earlier grant: resolve it again beneath data/. */
	if (sp_store_open_grant(store, plan->mounts[owner].source, &fd, &dir, err) < 0)
		return -1;
	return fd;
}

int sp_host_mount_point(const struct sp_plan *plan, size_t idx, const struct sp_store *store, int home_fd,
			bool (*is_dir)(const void *ctx, size_t i), const void *ctx, bool target_is_dir,
			struct sp_err *err)
{
	const char *rest;
	int base = point_base(plan, idx, store, home_fd, is_dir, ctx, &rest, err);
	int fd = -1, r;

	if (base < 0)
		return rest ? -1 : 0;
	if (target_is_dir) {
		r = sp_mkdir_beneath(base, rest, 0755, &fd, err);
		if (fd >= 0)
			close(fd);
	} else {
		r = sp_mkfile_beneath(base, rest, err);
	}
	close(base);
	return r < 0 ? sp_err_wrap(err, "mount point %s", plan->mounts[idx].target) : 0;
}
