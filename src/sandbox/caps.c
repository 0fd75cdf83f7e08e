/* Capabilities of a container instance: every set emptied.  Raw prctl and
 * capset rather than libcap: five calls do not justify a dependency. */
#include "sandbox/caps.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#include "util/cleanup.h"

/* The highest capability number the kernel knows, or -1 when
 * /proc/sys/kernel/cap_last_cap cannot be read (no /proc yet). */
static int last_cap_from_proc(void)
{
	cleanup_fd int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	char buf[16];
	ssize_t n;
	char *end;
	long v;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || v < 0 || v > 255)
		return -1;
	return (int)v;
}

/* Without /proc, PR_CAPBSET_READ answers EINVAL for the first number past
 * the last capability the kernel knows. */
static int last_cap_from_prctl(void)
{
	int cap = 0;

	while (cap < 256 && prctl(PR_CAPBSET_READ, (unsigned long)cap, 0, 0, 0) >= 0)
		cap++;
	return cap - 1;
}

static int last_cap(void)
{
	int last = last_cap_from_proc();

	if (last < 0)
		last = last_cap_from_prctl();
	return last;
}

int sp_caps_drop_bounding(struct sp_err *err)
{
	int last = last_cap();

	if (SP_MUTATE_CAPS) /* tests/mutation: nothing dropped */
		return 0;
	if (last < 0)
		return sp_fail(err, SP_ERR_RUNTIME, "cannot find the last capability");
	for (int cap = 0; cap <= last; cap++) {
		if (prctl(PR_CAPBSET_DROP, (unsigned long)cap, 0, 0, 0) < 0)
			return sp_fail_errno(err, errno,
					     "drop capability %d from the bounding set", cap);
	}
	/* The ambient set would otherwise survive execve into the instance's
	 * command. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return sp_fail_errno(err, errno, "clear the ambient capabilities");
	return 0;
}

int sp_caps_clear(struct sp_err *err)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	int last;

	if (SP_MUTATE_CAPS) /* tests/mutation: nothing cleared or checked */
		return 0;
	memset(data, 0, sizeof data);
	if (syscall(SYS_capset, &hdr, data) < 0)
		return sp_fail_errno(err, errno, "clear the capability sets");

	/* Check rather than trust: a kernel with more capabilities than these
	 * headers know, or a caller that forgot sp_caps_drop_bounding(), must
	 * not start an instance that still holds something. */
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	hdr.pid = 0;
	if (syscall(SYS_capget, &hdr, data) < 0)
		return sp_fail_errno(err, errno, "read the capability sets");
	for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		if (data[i].effective != 0 || data[i].permitted != 0 ||
		    data[i].inheritable != 0)
			return sp_fail(err, SP_ERR_RUNTIME,
				       "capabilities remain after capset");
	}

	last = last_cap();
	if (last < 0)
		return sp_fail(err, SP_ERR_RUNTIME, "cannot find the last capability");
	for (int cap = 0; cap <= last; cap++) {
		int r = prctl(PR_CAPBSET_READ, (unsigned long)cap, 0, 0, 0);

		if (r < 0)
			return sp_fail_errno(err, errno,
					     "read capability %d of the bounding set", cap);
		if (r != 0)
			return sp_fail(err, SP_ERR_RUNTIME,
				       "capability %d remains in the bounding set", cap);
		r = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, (unsigned long)cap, 0, 0);
		if (r < 0)
			return sp_fail_errno(err, errno,
					     "read capability %d of the ambient set", cap);
		if (r != 0)
			return sp_fail(err, SP_ERR_RUNTIME,
				       "capability %d remains in the ambient set", cap);
	}
	return 0;
}
