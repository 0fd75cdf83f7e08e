#include "net/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sp_netns_enter(int fd, int *saved, struct sp_err *err)
{
	*saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*saved < 0)
		return sp_fail_errno(err, errno, "open our network namespace");
	if (setns(fd, CLONE_NEWNET) < 0) {
		int e = errno;

		close(*saved);
		*saved = -1;
		return sp_fail_errno(err, e, "enter a network namespace");
	}
	return 0;
}

void sp_netns_leave(int saved)
{
	if (saved < 0)
		return;
	if (setns(saved, CLONE_NEWNET) < 0) {
		fprintf(stderr, "spectrum: leave a network namespace: %s\n", strerror(errno));
		abort();
	}
	close(saved);
}

int sp_net_sysctl(const char *path, const char *value, bool optional, struct sp_err *err)
{
	char full[256];
	size_t len = strlen(value);
	int fd;

	snprintf(full, sizeof full, "/proc/sys/net/%s", path);
	fd = open(full, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (optional && errno == ENOENT)
			return 0;
		return sp_fail_errno(err, errno, "open %s", full);
	}
	if (write(fd, value, len) != (ssize_t)len) {
		int e = errno;

		close(fd);
		return sp_fail_errno(err, e, "write %s", full);
	}
	close(fd);
	return 0;
}
