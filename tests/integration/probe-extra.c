/* probe-extra: more escape and leak attempts run inside an instance, for
 * escape-extra.sh.  Same contract as probe.c:
 *   "refused: WHAT (ERRNO-NAME)"  exit 0  the attempt was refused
 *   "ALLOWED: WHAT"               exit 1  the attempt succeeded
 * Information subcommands print their data and exit 0; bad usage exits 2.
 *
 * Everything is bounded: loops have a count, holds have a time, and
 * nothing is written outside the paths given on the command line. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);
	return n != NULL ? n : "E?";
}

static int refused(const char *what, int e)
{
	printf("refused: %s (%s)\n", what, ename(e));
	return 0;
}

static int allowed(const char *what)
{
	printf("ALLOWED: %s\n", what);
	return 1;
}

static int judge(const char *what, long r, int e)
{
	return r < 0 ? refused(what, e) : allowed(what);
}

/* chmod PATH to MODE (octal); for setuid/setgid the bit must also be
 * there afterwards (a filesystem may drop it silently). */
static int do_chmod(const char *path, const char *mode_s)
{
	mode_t mode = (mode_t)strtoul(mode_s, NULL, 8);
	char what[PATH_MAX + 64];
	struct stat st;

	snprintf(what, sizeof what, "chmod %s %s", mode_s, path);
	if (chmod(path, mode) < 0)
		return refused(what, errno);
	if (stat(path, &st) < 0)
		return refused(what, errno);
	if ((st.st_mode & 07777) != (mode & 07777)) {
		printf("refused: %s (mode is %o)\n", what, (unsigned)(st.st_mode & 07777));
		return 0;
	}
	return allowed(what);
}

/* creat PATH with MODE directly (no chmod): the other way to a setuid file. */
static int do_creat_mode(const char *path, const char *mode_s)
{
	mode_t mode = (mode_t)strtoul(mode_s, NULL, 8);
	char what[PATH_MAX + 64];
	struct stat st;
	int fd;

	snprintf(what, sizeof what, "create %s with mode %s", path, mode_s);
	umask(0);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return refused(what, errno);
	close(fd);
	if (stat(path, &st) < 0)
		return refused(what, errno);
	if ((st.st_mode & 07777) != (mode & 07777)) {
		printf("refused: %s (mode is %o)\n", what, (unsigned)(st.st_mode & 07777));
		return 0;
	}
	return allowed(what);
}

static int do_link(const char *from, const char *to)
{
	char what[2 * PATH_MAX + 16];

	snprintf(what, sizeof what, "link %s %s", from, to);
	long r = link(from, to);
	return judge(what, r, errno);
}

static int do_rename(const char *from, const char *to)
{
	char what[2 * PATH_MAX + 16];

	snprintf(what, sizeof what, "rename %s %s", from, to);
	long r = rename(from, to);
	return judge(what, r, errno);
}

/* An unnamed file made in DIR (where the instance may write), then given
 * the name TO with linkat through /proc/self/fd. */
static int do_tmpfile_link(const char *dir, const char *to)
{
	char what[2 * PATH_MAX + 32], fdpath[64];
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);

	snprintf(what, sizeof what, "O_TMPFILE in %s linked as %s", dir, to);
	if (fd < 0)
		return refused(what, errno);
	if (write(fd, "x\n", 2) != 2) {
		close(fd);
		return refused(what, errno);
	}
	snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
	long r = linkat(AT_FDCWD, fdpath, AT_FDCWD, to, AT_SYMLINK_FOLLOW);
	int e = errno;
	close(fd);
	return judge(what, r, e);
}

static int do_setxattr(const char *path, const char *name, const char *value)
{
	char what[PATH_MAX + 128];
	unsigned char buf[64];
	size_t len = strlen(value);

	snprintf(what, sizeof what, "setxattr %s on %s", name, path);
	/* security.capability: a v2 capability set with CAP_SETUID (bit 7)
	 * permitted and effective. */
	if (strcmp(value, "caps") == 0) {
		memset(buf, 0, sizeof buf);
		buf[0] = 0x01; /* flags: effective */
		buf[3] = 0x02; /* VFS_CAP_REVISION_2 */
		buf[4] = 0x80; /* permitted: CAP_SETUID */
		len = 20;
		long r = setxattr(path, name, buf, len, 0);
		return judge(what, r, errno);
	}
	long r = setxattr(path, name, value, len, 0);
	return judge(what, r, errno);
}

/* openat(FD, PATH): an inherited descriptor used as a directory. */
static int do_openat_fd(int fd, const char *path)
{
	char what[PATH_MAX + 64];
	char buf[64];
	int f;

	snprintf(what, sizeof what, "openat(fd %d, %s)", fd, path);
	f = openat(fd, path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return refused(what, errno);
	ssize_t n = read(f, buf, sizeof buf);
	int e = errno;
	close(f);
	if (n < 0)
		return refused(what, e);
	return allowed(what);
}

/* fchdir(FD) then open PATH relative to it. */
static int do_fchdir_fd(int fd, const char *path)
{
	char what[PATH_MAX + 64];
	int f;

	snprintf(what, sizeof what, "fchdir(fd %d) then open %s", fd, path);
	if (fchdir(fd) < 0)
		return refused(what, errno);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return refused(what, errno);
	close(f);
	return allowed(what);
}

/* Creates up to MAX inotify instances and holds them HOLD seconds. */
static int do_inotify_hold(int max, int hold)
{
	int n = 0;

	for (; n < max; n++)
		if (inotify_init1(IN_CLOEXEC) < 0)
			break;
	printf("inotify instances: %d\n", n);
	fflush(stdout);
	sleep((unsigned)hold);
	return 0;
}

/* Queues up to MAX real-time signals to itself and holds them HOLD s. */
static int do_sigqueue_hold(long max, int hold)
{
	union sigval v = { 0 };
	sigset_t s;
	long n = 0;

	sigemptyset(&s);
	sigaddset(&s, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &s, NULL);
	for (; n < max; n++)
		if (sigqueue(getpid(), SIGRTMIN, v) < 0)
			break;
	printf("queued signals: %ld\n", n);
	fflush(stdout);
	sleep((unsigned)hold);
	return 0;
}

/* PTRACE_ATTACH to PID (the reaper is pid 1). */
static int do_ptrace_attach(pid_t pid)
{
	char what[64];

	snprintf(what, sizeof what, "ptrace attach to pid %d", (int)pid);
	long r = ptrace(PTRACE_ATTACH, pid, NULL, NULL);
	if (r == 0) {
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
		return allowed(what);
	}
	return refused(what, errno);
}

/* Reads one byte of /proc/PID/mem at the address of its stack, roughly:
 * any successful read is a leak. */
static int do_read_mem(pid_t pid)
{
	char path[64], what[64], maps[64], line[512], buf[16];
	unsigned long lo = 0;
	FILE *f;
	int fd;

	snprintf(what, sizeof what, "read /proc/%d/mem", (int)pid);
	snprintf(maps, sizeof maps, "/proc/%d/maps", (int)pid);
	f = fopen(maps, "re");
	if (f == NULL)
		return refused(what, errno);
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "%lx-", &lo) == 1 && strstr(line, "[stack]"))
			break;
	fclose(f);
	snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return refused(what, errno);
	ssize_t n = pread(fd, buf, sizeof buf, (off_t)lo);
	int e = errno;
	close(fd);
	return n > 0 ? allowed(what) : refused(what, n < 0 ? e : EIO);
}

/* The hard limit of RLIMIT_CORE: with a pipe in core_pattern, a crash
 * inside would start the host's core handler. */
static int do_core_limit(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_CORE, &r) < 0)
		return refused("read RLIMIT_CORE", errno);
	if (r.rlim_max == 0) {
		printf("refused: RLIMIT_CORE hard limit is 0\n");
		return 0;
	}
	return allowed("RLIMIT_CORE hard limit above 0");
}

static int usage(void)
{
	fprintf(stderr, "usage: probe-extra SUBCOMMAND ARGS...\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";
	const char *a = argc > 2 ? argv[2] : NULL;
	const char *b = argc > 3 ? argv[3] : NULL;
	const char *d = argc > 4 ? argv[4] : NULL;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(c, "chmod") == 0 && a && b)
		return do_chmod(a, b);
	if (strcmp(c, "creat-mode") == 0 && a && b)
		return do_creat_mode(a, b);
	if (strcmp(c, "link") == 0 && a && b)
		return do_link(a, b);
	if (strcmp(c, "rename") == 0 && a && b)
		return do_rename(a, b);
	if (strcmp(c, "tmpfile-link") == 0 && a && b)
		return do_tmpfile_link(a, b);
	if (strcmp(c, "setxattr") == 0 && a && b && d)
		return do_setxattr(a, b, d);
	if (strcmp(c, "openat-fd") == 0 && a && b)
		return do_openat_fd(atoi(a), b);
	if (strcmp(c, "fchdir-fd") == 0 && a && b)
		return do_fchdir_fd(atoi(a), b);
	if (strcmp(c, "inotify-hold") == 0 && a && b)
		return do_inotify_hold(atoi(a), atoi(b));
	if (strcmp(c, "sigqueue-hold") == 0 && a && b)
		return do_sigqueue_hold(atol(a), atoi(b));
	if (strcmp(c, "ptrace-attach") == 0 && a)
		return do_ptrace_attach((pid_t)atoi(a));
	if (strcmp(c, "read-mem") == 0 && a)
		return do_read_mem((pid_t)atoi(a));
	if (strcmp(c, "core-limit") == 0)
		return do_core_limit();
	return usage();
}
