#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/mounts.h"
#include "store/store.h"
#include "util/cleanup.h"

/* Where the new root is assembled: any directory of the private mount
 * namespace would do, since host paths are never resolved after it is
 * mounted (every host source arrives as a descriptor). */
#define NEWROOT "/tmp"

static const char *rel(const char *target)
{
	while (*target == '/')
		target++;
	return *target ? target : ".";
}

/* Mount points and generated files are made beneath the new root (the
 * current directory) without following any symlink: part of the way may
 * lie in the home or a grant, which the instance wrote, and the host's
 * root is still reachable at this point. */
static int make_point(const char *path, bool dir, struct sp_err *err)
{
	int fd = -1;

	if (!dir)
		return sp_mkfile_beneath(AT_FDCWD, path, err);
	if (sp_mkdir_beneath(AT_FDCWD, path, 0755, &fd, err) < 0)
		return -1;
	close(fd);
	return 0;
}

/* The parent directory of PATH, made beneath the new root; *NAME is
 * what is left. */
static int make_parent(const char *path, const char **name, struct sp_err *err)
{
	const char *slash = strrchr(path, '/');
	char parent[4096];
	int fd = -1;

	*name = slash ? slash + 1 : path;
	if (!slash) {
		fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		return fd >= 0 ? fd : sp_fail_errno(err, errno, "open the new root");
	}
	snprintf(parent, sizeof parent, "%.*s", (int)(slash - path), path);
	if (sp_mkdir_beneath(AT_FDCWD, parent, 0755, &fd, err) < 0)
		return -1;
	return fd;
}

/* Opens a mount point beneath the new root without following symlinks:
 * a home or grant is written by the instance, which may have planted a
 * symlink where a later grant goes. */
static int open_point(const char *path, struct sp_err *err)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC | O_NOFOLLOW,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);

	if (fd < 0)
		return sp_fail_errno(err, errno, "mount point /%s", path);
	return fd;
}

static int move_into(int mount_fd, const char *path, bool dir, struct sp_err *err)
{
	int target;
	long r;

	if (make_point(path, dir, err) < 0)
		return -1;
	target = open_point(path, err);
	if (target < 0)
		return -1;
	r = syscall(SYS_move_mount, mount_fd, "", target, "",
		    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
	close(target);
	if (r < 0)
		return sp_fail_errno(err, errno, "mount /%s", path);
	return 0;
}

static int write_content(const char *path, const char *content, struct sp_err *err)
{
	cleanup_fd int dir = -1, fd = -1;
	size_t len = strlen(content);
	const char *name;

	dir = make_parent(path, &name, err);
	if (dir < 0)
		return -1;
	fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return sp_fail_errno(err, errno, "create /%s", path);
	if (write(fd, content, len) != (ssize_t)len)
		return sp_fail_errno(err, errno, "write /%s", path);
	return 0;
}

/* /tmp and /dev/shm get the sizes of the plan's limits (without size=
 * a tmpfs may take half of the host's RAM), and as many inodes as pages,
 * so that empty files cannot outgrow them either; the engine's own
 * tmpfs (root, /dev) hold only mount points and links. */
static int mount_tmpfs(const struct sp_plan *plan, const char *path, const char *target,
		       struct sp_err *err)
{
	unsigned long flags = MS_NOSUID | MS_NODEV;
	char opts[96] = "mode=0755,size=4m";
	uint64_t size = 0;

	if (strcmp(target, "/tmp") == 0)
		size = plan->limits.tmp_bytes;
	else if (strcmp(target, "/dev/shm") == 0)
		size = plan->limits.shm_bytes;
	if (strcmp(target, "/tmp") == 0 || strcmp(target, "/dev/shm") == 0)
		snprintf(opts, sizeof opts, "mode=1777");
	if (size)
		snprintf(opts, sizeof opts, "mode=1777,size=%" PRIu64 ",nr_inodes=%" PRIu64, size,
			 size / 4096 > 1024 ? size / 4096 : 1024);
	if (strcmp(target, "/dev/shm") == 0 || strcmp(target, "/dev") == 0)
		flags |= MS_NOEXEC;
	if (make_point(path, true, err) < 0)
		return -1;
	if (mount("tmpfs", path, "tmpfs", flags, opts) < 0)
		return sp_fail_errno(err, errno, "mount tmpfs on %s", target);
	return 0;
}

static int remount_ro(const char *path, unsigned long keep, struct sp_err *err)
{
	if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | keep, NULL) < 0)
		return sp_fail_errno(err, errno, "make /%s read-only", path);
	return 0;
}

static int one(const struct sp_plan *plan, const struct sp_mount *m, const struct sp_prepared *p,
	       struct sp_err *err)
{
	const char *path = rel(m->target);
	struct stat st;

	switch (m->kind) {
	case SP_MNT_BIND:
	case SP_MNT_HOME:
	case SP_MNT_GRANT:
	case SP_MNT_DEV:
		return move_into(p->fd, path, p->is_dir, err);
	case SP_MNT_TMPFS:
		return mount_tmpfs(plan, path, m->target, err);
	case SP_MNT_PROC:
		if (make_point(path, true, err) < 0)
			return -1;
		if (mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			return sp_fail_errno(err, errno, "mount /proc");
		return 0;
	case SP_MNT_DEVPTS:
		if (make_point(path, true, err) < 0)
			return -1;
		if (mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC,
			  "newinstance,ptmxmode=0666,mode=0620") < 0)
			return sp_fail_errno(err, errno, "mount /dev/pts");
		return 0;
	case SP_MNT_SYMLINK: {
		const char *name;
		int dir = make_parent(path, &name, err);
		int r = 0;
		if (dir < 0)
			return -1;
		if (symlinkat(m->source, dir, name) < 0 && errno != EEXIST)
			r = sp_fail_errno(err, errno, "link /%s", path);
		close(dir);
		return r;
	}
	case SP_MNT_FILE:
		return write_content(path, m->source, err);
	case SP_MNT_RO_REMOUNT:
		if (lstat(path, &st) < 0)
			return 0;
		if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
			return sp_fail_errno(err, errno, "bind /%s", path);
		return remount_ro(path, MS_NOSUID | MS_NODEV | MS_NOEXEC, err);
	case SP_MNT_MASK:
		if (lstat(path, &st) < 0)
			return 0;
		if (S_ISDIR(st.st_mode)) {
			if (mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0") < 0)
				return sp_fail_errno(err, errno, "mask /%s", path);
		} else if (mount("dev/null", path, NULL, MS_BIND, NULL) < 0) {
			return sp_fail_errno(err, errno, "mask /%s", path);
		}
		return 0;
	}
	return sp_fail(err, SP_ERR_RUNTIME, "unknown mount kind %d", (int)m->kind);
}

int sp_mounts_setup(const struct sp_plan *plan, const struct sp_prepared *prep, struct sp_err *err)
{
	size_t i;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return sp_fail_errno(err, errno, "make mounts private");
	for (i = 0; i < plan->n_mounts; i++) {
		const struct sp_mount *m = &plan->mounts[i];

		if (prep[i].skip)
			continue;
		if (strcmp(m->target, "/") == 0) {
			if (mount("tmpfs", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m") < 0)
				return sp_fail_errno(err, errno, "mount the root tmpfs");
			if (chdir(NEWROOT) < 0)
				return sp_fail_errno(err, errno, "enter the new root");
			continue;
		}
		if (one(plan, m, &prep[i], err) < 0)
			return -1;
	}
	/* pivot_root(".", ".") stacks the old root under the new one; the
	 * lazy unmount then detaches the whole host tree. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return sp_fail_errno(err, errno, "pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		return sp_fail_errno(err, errno, "detach the host's root");
	if (chdir("/") < 0)
		return sp_fail_errno(err, errno, "chdir /");
	for (i = 0; i < plan->n_mounts; i++) {
		const struct sp_mount *m = &plan->mounts[i];
		unsigned long keep = MS_NOSUID | MS_NODEV;

		if (m->kind != SP_MNT_TMPFS || !m->readonly)
			continue;
		if (strcmp(m->target, "/dev") == 0)
			keep |= MS_NOEXEC;
		if (remount_ro(m->target, keep, err) < 0)
			return -1;
	}
	return 0;
}
