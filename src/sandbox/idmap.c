#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/idmap.h"
#include "util/cleanup.h"

#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif

static int write_file(const char *path, const char *text)
{
	cleanup_fd int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(text);

	if (fd < 0)
		return -1;
	return write(fd, text, len) == (ssize_t)len ? 0 : -1;
}

/* The namespace owner only waits for the pipe to close.  It shares the
 * engine's memory and descriptors (CLONE_VM, CLONE_FILES), so starting
 * it copies no page tables, and the engine closing the pipe ends it; it
 * touches nothing but its own stack and makes raw syscalls only. */
static int hold_namespace(void *arg)
{
	char c;

	while (syscall(SYS_read, *(int *)arg, &c, 1) < 0)
		;
	return 0;
}

int sp_idmap_userns(uid_t disk_uid, gid_t disk_gid, uid_t host_uid, gid_t host_gid,
		    int *userns_fd, struct sp_err *err)
{
	static const size_t stack_size = 16384;
	cleanup_free char *stack = malloc(stack_size);
	int sync[2];
	char path[64], map[64];
	pid_t pid;
	int ret = -1;

	if (!stack)
		return sp_fail_errno(err, ENOMEM, "idmap stack");
	if (pipe2(sync, O_CLOEXEC) < 0)
		return sp_fail_errno(err, errno, "pipe");
	pid = clone(hold_namespace, stack + stack_size, CLONE_NEWUSER | CLONE_VM | CLONE_FILES | SIGCHLD, &sync[0]);
	if (pid < 0) {
		sp_fail_errno(err, errno, "clone user namespace for idmapping");
		close(sync[0]);
		close(sync[1]);
		return -1;
	}
	snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
	snprintf(map, sizeof map, "%u %u 1\n", (unsigned)disk_uid, (unsigned)host_uid);
	if (write_file(path, map) < 0) {
		sp_fail_errno(err, errno, "write idmap uid_map");
		goto out;
	}
	snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
	snprintf(map, sizeof map, "%u %u 1\n", (unsigned)disk_gid, (unsigned)host_gid);
	if (write_file(path, map) < 0) {
		sp_fail_errno(err, errno, "write idmap gid_map");
		goto out;
	}
	snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
	*userns_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*userns_fd < 0) {
		sp_fail_errno(err, errno, "open %s", path);
		goto out;
	}
	ret = 0;
out:
	close(sync[1]);
	/* The stack is freed on return: wait until nothing runs on it. */
	while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
		;
	close(sync[0]);
	return ret;
}

int sp_detached_mount(int dirfd, const char *path, bool recursive, unsigned long long attr,
		      int userns_fd, int *mount_fd, struct sp_err *err)
{
	unsigned int flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
	struct mount_attr ma = { .attr_set = attr };
	int fd;

	if (!path || !*path) {
		path = "";
		flags |= AT_EMPTY_PATH;
	}
	fd = (int)syscall(SYS_open_tree, dirfd, path, flags);
	if (fd < 0)
		return sp_fail_errno(err, errno, "open_tree %s", *path ? path : "(descriptor)");
	if (userns_fd >= 0) {
		ma.attr_set |= MOUNT_ATTR_IDMAP;
		ma.userns_fd = (unsigned long long)userns_fd;
	}
	if (ma.attr_set &&
	    syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &ma, sizeof ma) < 0) {
		int e = errno;
		close(fd);
		if (userns_fd >= 0 && (e == EINVAL || e == EPERM))
			return sp_fail_errno(err, e, "idmapped mount (does this filesystem support idmapping? see `spectrum check`)");
		return sp_fail_errno(err, e, "mount_setattr");
	}
	*mount_fd = fd;
	return 0;
}

bool sp_idmap_supported(int dirfd)
{
	struct sp_err err;
	int userns = -1, m = -1;
	bool ok;

	if (sp_idmap_userns(0, 0, SP_PROBE_ID, SP_PROBE_ID, &userns, &err) < 0)
		return false;
	ok = sp_detached_mount(dirfd, "", false, 0, userns, &m, &err) == 0;
	if (m >= 0)
		close(m);
	close(userns);
	return ok;
}
