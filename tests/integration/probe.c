/* probe: one escape or leak attempt per subcommand, run inside an instance.
 *
 * Every attempt prints exactly one line and exits:
 *   "refused: WHAT (ERRNO-NAME)"  exit 0  the attempt was refused
 *   "ALLOWED: WHAT"               exit 1  the attempt succeeded
 * Information subcommands (hostname, env, fds, list-pids, ...) print their
 * data and exit 0.  Bad usage exits 2.
 *
 * The attempts are harmless on the host too: nothing is written outside the paths given on the
 * command line, sysctl and sysrq files are only opened, kernel calls that
 * would change the host get arguments the kernel rejects after its
 * permission check (so "EPERM" means refused and any later error means the
 * call went through every filter), signals are only signal 0, and network
 * attempts only connect() a UDP socket (which sends nothing) or talk to
 * loopback.  Run as root on the host, most attempts report ALLOWED: that is
 * what shows each check can fail. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/sched.h>

extern char **environ;

#ifndef AF_ALG
#define AF_ALG 38
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT 0x40000000
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif

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

/* For calls made with arguments the kernel rejects only after its
 * permission check: EPERM/EACCES/ENOSYS mean a filter or a missing
 * capability stopped the call; any other error means it got through. */
static int judge_badargs(const char *what, long ret, int e)
{
	char buf[256];
	if (ret >= 0)
		return allowed(what);
	if (e == EPERM || e == EACCES || e == ENOSYS)
		return refused(what, e);
	snprintf(buf, sizeof buf, "%s got past every permission check (%s)",
		 what, ename(e));
	return allowed(buf);
}

static int usage(void)
{
	fprintf(stderr, "usage: probe SUBCOMMAND [ARGS...] (see probe.c)\n");
	return 2;
}

static int need(int argc, int n)
{
	return argc >= n;
}

/* ---- files ---- */

static int do_read(const char *path)
{
	char what[PATH_MAX + 32], buf[64];
	snprintf(what, sizeof what, "read %s", path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return refused(what, errno);
	ssize_t n = read(fd, buf, sizeof buf);
	int e = errno;
	close(fd);
	if (n < 0)
		return refused(what, e);
	return allowed(what);
}

static int do_write(const char *path, const char *text)
{
	char what[PATH_MAX + 32];
	snprintf(what, sizeof what, "write %s", path);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return refused(what, errno);
	ssize_t n = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	if (n < 0)
		return refused(what, e);
	return allowed(what);
}

/* Creates a new file at PATH and removes it again. */
static int do_create(const char *path)
{
	char what[PATH_MAX + 32];
	snprintf(what, sizeof what, "create %s", path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return refused(what, errno);
	close(fd);
	unlink(path);
	return allowed(what);
}

static int do_mkdir(const char *path)
{
	char what[PATH_MAX + 32];
	snprintf(what, sizeof what, "mkdir %s", path);
	if (mkdir(path, 0755) < 0)
		return refused(what, errno);
	rmdir(path);
	return allowed(what);
}

/* Plants a symlink LINK -> TARGET (LINK in a writable place such as the
 * home) and reads through it. */
static int do_symlink_out(const char *link, const char *target)
{
	char what[2 * PATH_MAX + 64];
	snprintf(what, sizeof what, "read %s through symlink %s", target, link);
	unlink(link);
	if (symlink(target, link) < 0) {
		snprintf(what, sizeof what, "symlink %s -> %s", link, target);
		return refused(what, errno);
	}
	int r = 0;
	char buf[64];
	int fd = open(link, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = refused(what, errno);
	} else {
		ssize_t n = read(fd, buf, sizeof buf);
		int e = errno;
		close(fd);
		r = n < 0 ? refused(what, e) : allowed(what);
	}
	unlink(link);
	return r;
}

/* Walks DIR (not crossing into /proc, /sys, /dev, /usr) reading regular
 * files up to 1 MiB and looks for NEEDLE. */
static int grep_file(int dirfd, const char *name, const char *needle,
		     const char *path)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return 0;
	static char buf[1 << 20];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (memmem(buf, (size_t)n, needle, strlen(needle)) != NULL) {
		fprintf(stderr, "probe: found in %s\n", path);
		return 1;
	}
	return 0;
}

static int grep_tree(const char *dir, const char *needle, int depth,
		     long *files)
{
	static const char *const skip[] = { "/proc", "/sys", "/dev", "/usr", NULL };
	for (size_t i = 0; skip[i] != NULL; i++)
		if (strcmp(dir, skip[i]) == 0)
			return 0;
	if (depth > 24)
		return 0;
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	int found = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL && *files < 200000) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char path[PATH_MAX];
		int len = snprintf(path, sizeof path, "%s%s%s", dir,
				   strcmp(dir, "/") == 0 ? "" : "/", de->d_name);
		if (len < 0 || (size_t)len >= sizeof path)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			found += grep_tree(path, needle, depth + 1, files);
		else if (S_ISREG(st.st_mode)) {
			(*files)++;
			found += grep_file(dirfd(d), de->d_name, needle, path);
		}
	}
	closedir(d);
	return found;
}

static int do_find_string(const char *needle, int ndirs, char **dirs)
{
	long files = 0;
	int found = 0;
	for (int i = 0; i < ndirs; i++)
		found += grep_tree(dirs[i], needle, 0, &files);
	char what[256];
	snprintf(what, sizeof what, "find the secret in any readable file (%ld files searched)",
		 files);
	if (found > 0)
		return allowed(what);
	if (files >= 200000) {
		/* cut short: absence is not shown */
		snprintf(what, sizeof what, "find the secret: search cut short at %ld files", files);
		return allowed(what);
	}
	return refused(what, ENOENT);
}

/* ---- kernel interfaces ---- */

static int do_keyctl(void)
{
	long r = syscall(SYS_add_key, "user", "spectrum-probe", "x", 1,
			 KEY_SPEC_PROCESS_KEYRING);
	if (r < 0)
		return refused("add_key to the kernel keyring", errno);
	return allowed("add_key to the kernel keyring");
}

static int do_keyring(void)
{
	long r = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "spectrum-probe");
	if (r < 0)
		return refused("keyctl join a session keyring", errno);
	return allowed("keyctl join a session keyring");
}

static int do_bpf(void)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	long fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
	if (fd < 0)
		return refused("bpf(BPF_MAP_CREATE)", errno);
	close((int)fd);
	return allowed("bpf(BPF_MAP_CREATE)");
}

static int do_perf(void)
{
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.size = sizeof attr;
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_CPU_CLOCK;
	attr.disabled = 1;
	long fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
	if (fd < 0)
		return refused("perf_event_open", errno);
	close((int)fd);
	return allowed("perf_event_open");
}

/* A terminal to try ioctls on: a fresh pty master when /dev/ptmx works,
 * else stdin. */
static int some_tty(void)
{
	int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0) {
		if (grantpt(fd) == 0 && unlockpt(fd) == 0) {
			const char *slave = ptsname(fd);
			if (slave != NULL) {
				int s = open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC);
				if (s >= 0)
					return s;
			}
		}
		return fd;
	}
	return 0;
}

static int do_tiocsti(void)
{
	int fd = some_tty();
	char c = '\n';
	if (ioctl(fd, TIOCSTI, &c) < 0)
		return refused("ioctl(TIOCSTI) pushing input into a terminal", errno);
	return allowed("ioctl(TIOCSTI) pushing input into a terminal");
}

static int do_tioclinux(void)
{
	/* a virtual console where there is one (the host), else any tty */
	int fd = open("/dev/tty0", O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		fd = some_tty();
	char sub = 7; /* TIOCL_GETSHIFTSTATE: reads only */
	if (ioctl(fd, TIOCLINUX, &sub) < 0)
		return refused("ioctl(TIOCLINUX)", errno);
	return allowed("ioctl(TIOCLINUX)");
}

static int do_open_by_handle(void)
{
	struct {
		struct file_handle fh;
		unsigned char data[MAX_HANDLE_SZ];
	} h;
	int mount_id;
	h.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, "/", &h.fh, &mount_id, 0) < 0)
		return refused("name_to_handle_at /", errno);
	int mfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0)
		return refused("open /", errno);
	int fd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return refused("open_by_handle_at", errno);
	close(fd);
	return allowed("open_by_handle_at");
}

/* Opens for writing only: nothing is ever written. */
static int do_open_write_only(const char *path, const char *what)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return refused(what, errno);
	close(fd);
	return allowed(what);
}

static int do_sys(void)
{
	DIR *d = opendir("/sys");
	if (d == NULL)
		return refused("see the host's /sys", errno);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	if (n == 0)
		return refused("see the host's /sys (it is empty)", ENOENT);
	char what[64];
	snprintf(what, sizeof what, "see the host's /sys (%d entries)", n);
	return allowed(what);
}

static int do_dev(void)
{
	static const char *const ok[] = {
		"null", "zero", "full", "random", "urandom", "tty", "pts",
		"ptmx", "shm", "fd", "stdin", "stdout", "stderr", "core",
		"console", "mqueue", NULL,
	};
	DIR *d = opendir("/dev");
	if (d == NULL)
		return refused("see host devices in /dev", errno);
	char extra[1024] = "";
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		bool known = false;
		for (size_t i = 0; ok[i] != NULL; i++)
			if (strcmp(de->d_name, ok[i]) == 0)
				known = true;
		struct stat st;
		if (known && fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISBLK(st.st_mode))
			known = false;
		if (!known) {
			n++;
			if (strlen(extra) + strlen(de->d_name) + 2 < sizeof extra) {
				strcat(extra, " ");
				strcat(extra, de->d_name);
			}
		}
	}
	closedir(d);
	if (n > 0) {
		char what[1200];
		snprintf(what, sizeof what, "see %d host devices in /dev:%s", n, extra);
		return allowed(what);
	}
	return refused("see host devices in /dev (only the minimal nodes)", ENOENT);
}

static int do_socket(int family, int type, int proto, const char *what)
{
	int fd = socket(family, type | SOCK_CLOEXEC, proto);
	if (fd < 0)
		return refused(what, errno);
	close(fd);
	return allowed(what);
}

/* connect() of a UDP socket only chooses a route: no packet is sent. */
static int do_route(const char *addr, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	int family;
	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		family = AF_INET;
		in4->sin_family = AF_INET;
		in4->sin_port = htons(9);
		len = sizeof *in4;
	} else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		family = AF_INET6;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(9);
		len = sizeof *in6;
	} else {
		return usage();
	}
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return refused(what, errno);
	int r = connect(fd, (struct sockaddr *)&ss, len);
	int e = errno;
	close(fd);
	if (r < 0)
		return refused(what, e);
	return allowed(what);
}

static int do_netifs(void)
{
	struct if_nameindex *ifs = if_nameindex();
	if (ifs == NULL)
		return refused("see network interfaces other than lo", errno);
	char extra[512] = "";
	int n = 0;
	for (struct if_nameindex *i = ifs; i->if_index != 0; i++) {
		if (strcmp(i->if_name, "lo") == 0)
			continue;
		n++;
		if (strlen(extra) + strlen(i->if_name) + 2 < sizeof extra) {
			strcat(extra, " ");
			strcat(extra, i->if_name);
		}
	}
	if_freenameindex(ifs);
	if (n > 0) {
		char what[600];
		snprintf(what, sizeof what, "see network interfaces other than lo:%s", extra);
		return allowed(what);
	}
	return refused("see network interfaces other than lo", ENOENT);
}

static int abstract_addr(const char *name, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	size_t n = strlen(name);
	if (n + 1 > sizeof sun->sun_path)
		n = sizeof sun->sun_path - 1;
	memcpy(sun->sun_path + 1, name, n);
	return (int)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static void listen_for(int fd, int seconds)
{
	if (listen(fd, 16) < 0) {
		perror("probe: listen");
		exit(2);
	}
	printf("listening\n");
	fflush(stdout);
	alarm((unsigned)seconds);
	for (;;) {
		int c = accept(fd, NULL, NULL);
		if (c >= 0)
			close(c);
	}
}

static int do_unix_listen(const char *name, int seconds)
{
	struct sockaddr_un sun;
	int len = abstract_addr(name, &sun);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, (socklen_t)len) < 0) {
		perror("probe: abstract socket");
		return 2;
	}
	listen_for(fd, seconds);
	return 0;
}

static int do_unix_connect(const char *name)
{
	struct sockaddr_un sun;
	int len = abstract_addr(name, &sun);
	char what[200];
	snprintf(what, sizeof what, "connect to the host's abstract socket @%s", name);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return refused(what, errno);
	int r = connect(fd, (struct sockaddr *)&sun, (socklen_t)len);
	int e = errno;
	close(fd);
	if (r < 0)
		return refused(what, e);
	return allowed(what);
}

static int do_tcp_listen(int port, int seconds)
{
	struct sockaddr_in in;
	memset(&in, 0, sizeof in);
	in.sin_family = AF_INET;
	in.sin_port = htons((uint16_t)port);
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&in, sizeof in) < 0) {
		perror("probe: tcp socket");
		return 2;
	}
	listen_for(fd, seconds);
	return 0;
}

static int do_tcp_connect(int port)
{
	struct sockaddr_in in;
	memset(&in, 0, sizeof in);
	in.sin_family = AF_INET;
	in.sin_port = htons((uint16_t)port);
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	char what[100];
	snprintf(what, sizeof what, "connect to the host's 127.0.0.1:%d", port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return refused(what, errno);
	int r = connect(fd, (struct sockaddr *)&in, sizeof in);
	int e = errno;
	close(fd);
	if (r < 0)
		return refused(what, e);
	return allowed(what);
}

static int do_mknod(const char *path, mode_t type, unsigned maj, unsigned min)
{
	char what[PATH_MAX + 64];
	snprintf(what, sizeof what, "mknod %s device %u:%u at %s",
		 S_ISBLK(type) ? "block" : "char", maj, min, path);
	if (mknod(path, type | 0600, makedev(maj, min)) < 0)
		return refused(what, errno);
	unlink(path);
	return allowed(what);
}

static int do_mount(const char *dir)
{
	char what[PATH_MAX + 32];
	snprintf(what, sizeof what, "mount a tmpfs on %s", dir);
	if (mount("spectrum-probe", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=1M") < 0)
		return refused(what, errno);
	umount2(dir, MNT_DETACH);
	return allowed(what);
}

static int do_bind_root(const char *dir)
{
	char what[PATH_MAX + 32];
	snprintf(what, sizeof what, "bind mount / on %s", dir);
	if (mount("/", dir, NULL, MS_BIND | MS_REC, NULL) < 0)
		return refused(what, errno);
	umount2(dir, MNT_DETACH);
	return allowed(what);
}

static int do_fsopen(void)
{
	long r = syscall(SYS_fsopen, "tmpfs", 0);
	if (r < 0)
		return refused("fsopen(tmpfs)", errno);
	close((int)r);
	return allowed("fsopen(tmpfs)");
}

static int do_open_tree(void)
{
	long r = syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC);
	if (r < 0)
		return refused("open_tree(OPEN_TREE_CLONE)", errno);
	close((int)r);
	return allowed("open_tree(OPEN_TREE_CLONE)");
}

static int do_unshare(int flags, const char *what)
{
	if (unshare(flags) < 0)
		return refused(what, errno);
	return allowed(what);
}

static int do_clone(unsigned long flags, const char *what)
{
	long pid = syscall(SYS_clone, flags | SIGCHLD, 0, NULL, NULL, 0);
	if (pid < 0)
		return refused(what, errno);
	if (pid == 0)
		_exit(0);
	waitpid((pid_t)pid, NULL, 0);
	return allowed(what);
}

static int do_clone3(void)
{
	struct clone_args args;
	memset(&args, 0, sizeof args);
	args.flags = CLONE_NEWUSER;
	args.exit_signal = SIGCHLD;
	long pid = syscall(SYS_clone3, &args, sizeof args);
	if (pid < 0)
		return refused("clone3(CLONE_NEWUSER)", errno);
	if (pid == 0)
		_exit(0);
	waitpid((pid_t)pid, NULL, 0);
	return allowed("clone3(CLONE_NEWUSER)");
}

static int do_setns(const char *path)
{
	char what[PATH_MAX + 32];
	snprintf(what, sizeof what, "setns %s", path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return refused(what, errno);
	int r = setns(fd, 0);
	int e = errno;
	close(fd);
	if (r < 0)
		return refused(what, e);
	return allowed(what);
}

static int do_ptrace(pid_t pid)
{
	char what[64];
	snprintf(what, sizeof what, "ptrace attach to pid %d", (int)pid);
	if (ptrace(PTRACE_SEIZE, pid, NULL, NULL) < 0)
		return refused(what, errno);
	ptrace(PTRACE_DETACH, pid, NULL, NULL);
	return allowed(what);
}

static int do_kill0(pid_t pid)
{
	char what[64];
	snprintf(what, sizeof what, "signal pid %d (signal 0 only)", (int)pid);
	if (kill(pid, 0) < 0)
		return refused(what, errno);
	return allowed(what);
}

static int do_setuid0(void)
{
	if (setresuid(0, 0, 0) < 0)
		return refused("setresuid(0, 0, 0)", errno);
	return allowed("setresuid(0, 0, 0)");
}

static int do_setgid0(void)
{
	if (setresgid(0, 0, 0) < 0)
		return refused("setresgid(0, 0, 0)", errno);
	gid_t g = 0;
	if (setgroups(1, &g) < 0)
		return refused("setgroups([0])", errno);
	return allowed("setresgid(0, 0, 0)");
}

/* Reads "KEY:\tVALUE" of /proc/self/status into VALUE. */
static bool status_field(const char *key, char *value, size_t size)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (f == NULL)
		return false;
	char line[512];
	size_t klen = strlen(key);
	bool found = false;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			const char *v = line + klen + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			snprintf(value, size, "%s", v);
			value[strcspn(value, "\n")] = '\0';
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

static int do_caps(void)
{
	static const char *const sets[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", NULL };
	char bad[256] = "";
	for (size_t i = 0; sets[i] != NULL; i++) {
		char v[64];
		if (!status_field(sets[i], v, sizeof v))
			return refused("read /proc/self/status", errno ? errno : ENOENT);
		if (strtoull(v, NULL, 16) != 0) {
			size_t l = strlen(bad);
			snprintf(bad + l, sizeof bad - l, " %s=%s", sets[i], v);
		}
	}
	if (bad[0] != '\0') {
		char what[300];
		snprintf(what, sizeof what, "capabilities left:%s", bad);
		return allowed(what);
	}
	return refused("keep any capability (every set is empty)", EPERM);
}

static int do_nnp(void)
{
	int r = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	if (r == 1)
		return refused("gain privileges on execve (no_new_privs is set)", EPERM);
	return allowed("gain privileges on execve (no_new_privs is not set)");
}

static int do_seccomp_mode(void)
{
	char v[32] = "?";
	if (status_field("Seccomp", v, sizeof v) && strcmp(v, "2") == 0)
		return refused("run without a seccomp filter (Seccomp: 2)", EPERM);
	char what[96];
	snprintf(what, sizeof what, "run without a seccomp filter (Seccomp: %s)", v);
	return allowed(what);
}

static int do_i386(void)
{
#if defined(__x86_64__)
	long ret;
	/* i386 getpid is 20 */
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
	if (ret < 0)
		return refused("i386 syscall through int 0x80", (int)-ret);
	return allowed("i386 syscall through int 0x80");
#else
	return refused("i386 syscall (not an x86_64 build)", ENOSYS);
#endif
}

static int do_x32(void)
{
#if defined(__x86_64__)
	long r = syscall(__X32_SYSCALL_BIT | SYS_getpid);
	if (r < 0)
		return refused("x32 syscall", errno);
	return allowed("x32 syscall");
#else
	return refused("x32 syscall (not an x86_64 build)", ENOSYS);
#endif
}

static int do_personality(void)
{
	int r = personality(READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE);
	if (r < 0)
		return refused("personality(READ_IMPLIES_EXEC|ADDR_NO_RANDOMIZE)", errno);
	personality((unsigned long)r);
	return allowed("personality(READ_IMPLIES_EXEC|ADDR_NO_RANDOMIZE)");
}

static int do_io_uring(void)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	long fd = syscall(SYS_io_uring_setup, 1, &p);
	if (fd < 0)
		return refused("io_uring_setup", errno);
	close((int)fd);
	return allowed("io_uring_setup");
}

static int do_userfaultfd(void)
{
	long fd = syscall(SYS_userfaultfd, O_CLOEXEC);
	if (fd < 0)
		return refused("userfaultfd", errno);
	close((int)fd);
	return allowed("userfaultfd");
}

static int do_chroot(const char *dir)
{
	char what[PATH_MAX + 16];
	snprintf(what, sizeof what, "chroot %s", dir);
	if (chroot(dir) < 0)
		return refused(what, errno);
	return allowed(what);
}

static int do_settime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (clock_settime(CLOCK_REALTIME, &ts) < 0)
		return refused("clock_settime(CLOCK_REALTIME)", errno);
	return allowed("clock_settime(CLOCK_REALTIME)");
}

static int do_userns(void)
{
	FILE *f = fopen("/proc/self/uid_map", "re");
	if (f == NULL)
		return refused("read /proc/self/uid_map", errno);
	unsigned long in = 0, out = 0, count = 0;
	int n = fscanf(f, "%lu %lu %lu", &in, &out, &count);
	fclose(f);
	if (n == 3 && in == 0 && out == 0 && count == 4294967295UL)
		return allowed("run in the host's user namespace (identity uid map)");
	char what[128];
	snprintf(what, sizeof what, "run in the host's user namespace (uid map %lu %lu %lu)",
		 in, out, count);
	return refused(what, EPERM);
}

static int do_devtty(void)
{
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return refused("open a controlling terminal /dev/tty", errno);
	close(fd);
	return allowed("open a controlling terminal /dev/tty");
}

/* ---- information ---- */

static int do_hostname(void)
{
	struct utsname u;
	if (uname(&u) < 0)
		return 2;
	printf("%s\n", u.nodename);
	return 0;
}

static int do_env(void)
{
	for (char **e = environ; *e != NULL; e++)
		printf("%s\n", *e);
	return 0;
}

static int list_fds(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		printf("cannot list %s: %s\n", dir, ename(errno));
		return 0;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (strcmp(dir, "/proc/self/fd") == 0 && atoi(de->d_name) == dirfd(d))
			continue;
		char target[PATH_MAX] = "?";
		ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof target - 1);
		if (n >= 0)
			target[n] = '\0';
		printf("%s %s\n", de->d_name, target);
	}
	closedir(d);
	return 0;
}

static int print_file(const char *path)
{
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		printf("cannot read %s: %s\n", path, ename(errno));
		return 0;
	}
	int c;
	while ((c = fgetc(f)) != EOF)
		putchar(c == '\0' ? '\n' : c);
	fclose(f);
	return 0;
}

static int do_list_pids(void)
{
	DIR *d = opendir("/proc");
	if (d == NULL) {
		printf("cannot list /proc: %s\n", ename(errno));
		return 2;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0)
			continue;
		char path[64], comm[64] = "?";
		snprintf(path, sizeof path, "/proc/%ld/comm", pid);
		FILE *f = fopen(path, "re");
		if (f != NULL) {
			if (fgets(comm, sizeof comm, f) == NULL)
				strcpy(comm, "?");
			fclose(f);
		}
		comm[strcspn(comm, "\n")] = '\0';
		printf("%ld %s\n", pid, comm);
	}
	closedir(d);
	return 0;
}

static int do_ids(void)
{
	printf("pid=%d ppid=%d sid=%d pgid=%d uid=%d gid=%d euid=%d egid=%d\n",
	       (int)getpid(), (int)getppid(), (int)getsid(0), (int)getpgid(0),
	       (int)getuid(), (int)getgid(), (int)geteuid(), (int)getegid());
	return 0;
}

static int do_ctty(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		const char *name = ttyname(fd);
		struct stat st;
		if (name == NULL || stat(name, &st) < 0) {
			printf("fd%d notty\n", fd);
			continue;
		}
		printf("fd%d %s dev=%u:%u rdev=%u:%u\n", fd, name,
		       major(st.st_dev), minor(st.st_dev),
		       major(st.st_rdev), minor(st.st_rdev));
	}
	struct stat pts;
	if (stat("/dev/pts", &pts) == 0)
		printf("devpts dev=%u:%u\n", major(pts.st_dev), minor(pts.st_dev));
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	printf("devtty %s\n", fd >= 0 ? "open" : ename(errno));
	if (fd >= 0)
		close(fd);
	return 0;
}

/* ---- resources ---- */

static int do_alloc(long mib)
{
	size_t size = (size_t)mib << 20;
	char *p = malloc(size);
	if (p == NULL) {
		printf("refused: allocate %ld MiB (ENOMEM)\n", mib);
		return 0;
	}
	for (size_t off = 0; off < size; off += 4096)
		p[off] = 1;
	printf("ALLOWED: allocated and touched %ld MiB\n", mib);
	free(p);
	return 1;
}

/* Forks up to MAX children (each sleeps until SECONDS have passed), stops
 * at the first failure, kills them all.  Bounded in time and number. */
static int do_forkbomb(int seconds, int max)
{
	pid_t *kids = calloc((size_t)max, sizeof *kids);
	if (kids == NULL)
		return 2;
	int n = 0, err = 0;
	time_t end = time(NULL) + seconds;
	while (n < max && time(NULL) < end) {
		pid_t p = fork();
		if (p < 0) {
			err = errno;
			break;
		}
		if (p == 0) {
			alarm((unsigned)seconds + 1);
			pause();
			_exit(0);
		}
		kids[n++] = p;
	}
	for (int i = 0; i < n; i++)
		kill(kids[i], SIGKILL);
	for (int i = 0; i < n; i++)
		waitpid(kids[i], NULL, 0);
	free(kids);
	char what[96];
	snprintf(what, sizeof what, "fork without limit (forked %d processes)", n);
	if (err != 0)
		return refused(what, err);
	return allowed(what);
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int do_busy(double seconds)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	volatile unsigned long x = 0;
	double wall = 0;
	while (wall < seconds) {
		for (int i = 0; i < 100000; i++)
			x += (unsigned long)i;
		clock_gettime(CLOCK_MONOTONIC, &b);
		wall = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	}
	printf("wall_ms=%ld cpu_ms=%ld\n", (long)(wall * 1000), (long)(cpu_seconds() * 1000));
	return x == 0 ? 1 : 0; /* uses the sum, so no compiler drops the loop */
}

static volatile sig_atomic_t stop_swapping;

static void on_stop(int sig)
{
	(void)sig;
	stop_swapping = 1;
}

/* Exchanges A and B atomically, again and again, for SECONDS or until
 * SIGTERM/SIGINT; prints how many exchanges it made.  A test helper for
 * the race between checking and mounting a grant (run on the host). */
static int do_race_swap(const char *a, const char *b, int seconds)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	time_t end = time(NULL) + seconds;
	unsigned long n = 0;
	int err = 0;
	while (!stop_swapping && time(NULL) < end) {
		if (renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) < 0) {
			err = errno;
			break;
		}
		n++;
	}
	printf("%lu exchanges%s%s\n", n, err ? ", stopped by " : "", err ? ename(err) : "");
	return err ? 2 : 0;
}

/* ---- default limits (limits-default.sh) ---- */

/* Writes DIR/fill in 1 MiB blocks until the filesystem refuses; the
 * file stays, so the filesystem stays full. */
static void exhaust_fill(const char *dir)
{
	static char block[1 << 20];
	char path[256], what[300];
	long mib = 0;
	int e = 0, fd;

	memset(block, 'x', sizeof block);
	snprintf(path, sizeof path, "%s/fill", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		e = errno;
	} else {
		for (; mib < 65536; mib++) {
			ssize_t n = write(fd, block, sizeof block);
			if (n < 0) {
				e = errno;
				break;
			}
			if (n < (ssize_t)sizeof block) {
				/* a short write: the next one says why */
				if (write(fd, block, sizeof block) < 0)
					e = errno;
				break;
			}
		}
		close(fd);
	}
	snprintf(what, sizeof what, "fill %s (wrote %ld MiB)", dir, mib);
	if (e)
		refused(what, e);
	else
		allowed(what);
}

/* Opens /dev/null until refused; returns how many, *ERR why. */
static long exhaust_open(int *err)
{
	long n = 0;

	*err = 0;
	while (n < 4194304) {
		if (open("/dev/null", O_RDONLY) < 0) {
			*err = errno;
			break;
		}
		n++;
	}
	return n;
}

/* Everything a hostile instance with default limits can take at once:
 * /tmp and /dev/shm full, files open to the limit, processes forked to
 * the limit (each with its own files open to the limit); then holds all
 * of it for HOLD seconds so that the host can be tried meanwhile. */
static int do_exhaust(int hold)
{
	int ready[2], e = 0, fork_err = 0;
	long n, forked = 0, child_files = 0, got;
	char what[128];

	exhaust_fill("/tmp");
	exhaust_fill("/dev/shm");
	n = exhaust_open(&e);
	snprintf(what, sizeof what, "open files (opened %ld)", n);
	e ? refused(what, e) : allowed(what);
	syscall(SYS_close_range, 3, ~0U, 0);
	if (pipe(ready) < 0)
		return 2;
	for (;;) {
		pid_t p = fork();
		if (p < 0) {
			fork_err = errno;
			break;
		}
		if (p == 0) {
			int ce;
			long cn;
			close(ready[0]);
			alarm((unsigned)hold + 60);
			cn = exhaust_open(&ce);
			if (write(ready[1], &cn, sizeof cn) != sizeof cn)
				_exit(1);
			for (;;)
				pause();
		}
		forked++;
	}
	close(ready[1]);
	snprintf(what, sizeof what, "fork (forked %ld processes)", forked);
	fork_err ? refused(what, fork_err) : allowed(what);
	for (long i = 0; i < forked && read(ready[0], &got, sizeof got) == sizeof got; i++)
		child_files += got;
	printf("children hold %ld open files\n", child_files);
	printf("holding for %d s\n", hold);
	sleep((unsigned)hold);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *c = argv[1];
	const char *a = argc > 2 ? argv[2] : NULL;

	/* files */
	if (strcmp(c, "read") == 0 && a != NULL)
		return do_read(a);
	if (strcmp(c, "write") == 0 && a != NULL)
		return do_write(a, argc > 3 ? argv[3] : "spectrum-probe\n");
	if ((strcmp(c, "create") == 0 || strcmp(c, "landlock-write") == 0) && a != NULL)
		return do_create(a);
	if (strcmp(c, "mkdir") == 0 && a != NULL)
		return do_mkdir(a);
	if (strcmp(c, "symlink-out") == 0 && need(argc, 4))
		return do_symlink_out(argv[2], argv[3]);
	if (strcmp(c, "find-string") == 0 && need(argc, 4))
		return do_find_string(argv[2], argc - 3, argv + 3);

	/* kernel interfaces */
	if (strcmp(c, "keyctl") == 0)
		return do_keyctl();
	if (strcmp(c, "keyring") == 0)
		return do_keyring();
	if (strcmp(c, "bpf") == 0)
		return do_bpf();
	if (strcmp(c, "perf") == 0)
		return do_perf();
	if (strcmp(c, "tiocsti") == 0)
		return do_tiocsti();
	if (strcmp(c, "tioclinux") == 0)
		return do_tioclinux();
	if (strcmp(c, "open-by-handle") == 0)
		return do_open_by_handle();
	if (strcmp(c, "sysrq") == 0)
		return do_open_write_only("/proc/sysrq-trigger", "open /proc/sysrq-trigger for writing");
	if (strcmp(c, "proc-sys-write") == 0)
		return do_open_write_only(a != NULL ? a : "/proc/sys/kernel/core_pattern",
					  "open a /proc/sys file for writing");
	if (strcmp(c, "sys-write") == 0)
		return do_open_write_only(a != NULL ? a : "/sys/kernel/mm/transparent_hugepage/enabled",
					  "open a /sys file for writing");
	if (strcmp(c, "kcore") == 0)
		return do_read("/proc/kcore");
	if (strcmp(c, "sys") == 0)
		return do_sys();
	if (strcmp(c, "dev") == 0)
		return do_dev();
	if (strcmp(c, "raw-socket") == 0)
		return do_socket(AF_INET, SOCK_RAW, IPPROTO_ICMP, "socket(AF_INET, SOCK_RAW)");
	if (strcmp(c, "packet-socket") == 0)
		return do_socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL), "socket(AF_PACKET)");
	if (strcmp(c, "alg-socket") == 0)
		return do_socket(AF_ALG, SOCK_SEQPACKET, 0, "socket(AF_ALG)");
	if (strcmp(c, "vsock-socket") == 0)
		return do_socket(AF_VSOCK, SOCK_STREAM, 0, "socket(AF_VSOCK)");
	if (strcmp(c, "route") == 0)
		return do_route(a != NULL ? a : "192.0.2.1",
				"route to an address off the host (UDP connect, nothing sent)");
	if (strcmp(c, "route6") == 0)
		return do_route(a != NULL ? a : "2001:db8::1",
				"IPv6 route off the host (UDP connect, nothing sent)");
	if (strcmp(c, "netifs") == 0)
		return do_netifs();
	if (strcmp(c, "unix-listen") == 0 && need(argc, 4))
		return do_unix_listen(argv[2], atoi(argv[3]));
	if (strcmp(c, "unix-connect") == 0 && a != NULL)
		return do_unix_connect(a);
	if (strcmp(c, "tcp-listen") == 0 && need(argc, 4))
		return do_tcp_listen(atoi(argv[2]), atoi(argv[3]));
	if (strcmp(c, "tcp-connect") == 0 && a != NULL)
		return do_tcp_connect(atoi(a));
	if (strcmp(c, "mknod") == 0)
		return do_mknod(a != NULL ? a : "/tmp/spectrum-probe-null", S_IFCHR, 1, 3);
	if (strcmp(c, "mknod-block") == 0)
		return do_mknod(a != NULL ? a : "/tmp/spectrum-probe-blk", S_IFBLK, 7, 0);
	if (strcmp(c, "mount") == 0)
		return do_mount(a != NULL ? a : "/tmp");
	if (strcmp(c, "bind-root") == 0)
		return do_bind_root(a != NULL ? a : "/tmp");
	if (strcmp(c, "fsopen") == 0)
		return do_fsopen();
	if (strcmp(c, "open-tree") == 0)
		return do_open_tree();
	if (strcmp(c, "unshare-user") == 0)
		return do_unshare(CLONE_NEWUSER, "unshare(CLONE_NEWUSER)");
	if (strcmp(c, "unshare-mnt") == 0)
		return do_unshare(CLONE_NEWNS, "unshare(CLONE_NEWNS)");
	if (strcmp(c, "unshare-net") == 0)
		return do_unshare(CLONE_NEWNET, "unshare(CLONE_NEWNET)");
	if (strcmp(c, "clone-newns") == 0)
		return do_clone(CLONE_NEWNS, "clone(CLONE_NEWNS)");
	if (strcmp(c, "clone-newuser") == 0)
		return do_clone(CLONE_NEWUSER, "clone(CLONE_NEWUSER)");
	if (strcmp(c, "clone3") == 0)
		return do_clone3();
	if (strcmp(c, "setns") == 0)
		return do_setns(a != NULL ? a : "/proc/1/ns/mnt");
	if (strcmp(c, "ptrace") == 0 && a != NULL)
		return do_ptrace((pid_t)atoi(a));
	if (strcmp(c, "kill-host") == 0 && a != NULL)
		return do_kill0((pid_t)atoi(a));
	if (strcmp(c, "setuid0") == 0)
		return do_setuid0();
	if (strcmp(c, "setgid0") == 0)
		return do_setgid0();
	if (strcmp(c, "caps") == 0)
		return do_caps();
	if (strcmp(c, "nnp") == 0)
		return do_nnp();
	if (strcmp(c, "seccomp-mode") == 0)
		return do_seccomp_mode();
	if (strcmp(c, "i386") == 0)
		return do_i386();
	if (strcmp(c, "x32") == 0)
		return do_x32();
	if (strcmp(c, "personality") == 0)
		return do_personality();
	if (strcmp(c, "io-uring") == 0)
		return do_io_uring();
	if (strcmp(c, "userfaultfd") == 0)
		return do_userfaultfd();
	if (strcmp(c, "chroot") == 0)
		return do_chroot(a != NULL ? a : "/tmp");
	if (strcmp(c, "finit-module") == 0) {
		long r = syscall(SYS_finit_module, -1, "", 0);
		return judge_badargs("finit_module", r, errno);
	}
	if (strcmp(c, "kexec") == 0) {
		/* flags outside KEXEC_FLAGS: EINVAL after the permission check */
		long r = syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0x8000UL);
		return judge_badargs("kexec_load", r, errno);
	}
	if (strcmp(c, "reboot") == 0) {
		/* wrong magic: EINVAL after the permission check */
		long r = syscall(SYS_reboot, 0, 0, 0, NULL);
		return judge_badargs("reboot", r, errno);
	}
	if (strcmp(c, "swapon") == 0) {
		long r = syscall(SYS_swapon, "/nonexistent-spectrum-probe", 0);
		return judge_badargs("swapon", r, errno);
	}
	if (strcmp(c, "settime") == 0)
		return do_settime();
	if (strcmp(c, "userns") == 0)
		return do_userns();
	if (strcmp(c, "devtty") == 0)
		return do_devtty();

	/* information */
	if (strcmp(c, "hostname") == 0)
		return do_hostname();
	if (strcmp(c, "env") == 0)
		return do_env();
	if (strcmp(c, "env-of") == 0 && a != NULL) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/environ", atoi(a));
		return print_file(path);
	}
	if (strcmp(c, "fds") == 0)
		return list_fds("/proc/self/fd");
	if (strcmp(c, "fds-of") == 0 && a != NULL) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/fd", atoi(a));
		return list_fds(path);
	}
	if (strcmp(c, "cat") == 0 && a != NULL)
		return print_file(a);
	if (strcmp(c, "list-pids") == 0)
		return do_list_pids();
	if (strcmp(c, "sid") == 0 || strcmp(c, "ids") == 0)
		return do_ids();
	if (strcmp(c, "ctty") == 0)
		return do_ctty();

	/* resources and lifecycle */
	if (strcmp(c, "alloc") == 0 && a != NULL)
		return do_alloc(atol(a));
	if (strcmp(c, "forkbomb") == 0)
		return do_forkbomb(a != NULL ? atoi(a) : 5, argc > 3 ? atoi(argv[3]) : 1000);
	if (strcmp(c, "busy") == 0)
		return do_busy(a != NULL ? atof(a) : 2.0);
	if (strcmp(c, "sleep") == 0 && a != NULL) {
		unsigned s = (unsigned)atoi(a);
		while ((s = sleep(s)) > 0)
			;
		return 0;
	}
	if (strcmp(c, "race-swap") == 0 && need(argc, 5))
		return do_race_swap(argv[2], argv[3], atoi(argv[4]));
	if (strcmp(c, "exit") == 0 && a != NULL)
		return atoi(a);
	if (strcmp(c, "selfkill") == 0 && a != NULL) {
		signal(atoi(a), SIG_DFL);
		raise(atoi(a));
		return 3;
	}
	if (strcmp(c, "exhaust") == 0 && a != NULL)
		return do_exhaust(atoi(a));
	if (strcmp(c, "open-files") == 0 && a != NULL) {
		/* At most A files: a host-side control. */
		long want = atol(a), n = 0;
		char what[64];
		while (n < want && open("/dev/null", O_RDONLY) >= 0)
			n++;
		snprintf(what, sizeof what, "open %ld files", n);
		return n < want ? refused(what, errno) : allowed(what);
	}
	return usage();
}
