/* spectrum-agent: PID 1 in a VM instance's guest, linked statically.
 *
 * It mounts the kernel's filesystems, loads the modules the initramfs
 * lists, finds the control port, reads the plan from the host, mounts the
 * shares, runs the command (relay.c) and powers off.  The host sees
 * everything through frames on the port (proto.h); the console, which the
 * host keeps as the instance's log, gets a line for each thing that goes
 * wrong.  Every path ends in agent_power_off: PID 1 never exits. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "guest/agent.h"

#define MODULES_DIR "/lib/modules"
#define PORTS_DIR "/sys/class/virtio-ports"
#define CONSOLE_DRIVER_DIR "/sys/bus/virtio/drivers/virtio_console"
#define PORT_WAIT_MS 10000
#define PLAN_WAIT_MS 60000
#define POLL_STEP_MS 10

const int agent_ignored_signals[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGUSR1, SIGUSR2, SIGTSTP, SIGTTIN, SIGTTOU,
};
const size_t agent_n_ignored_signals = sizeof agent_ignored_signals / sizeof agent_ignored_signals[0];

/* ---- messages, frames, the end ---- */

void agent_log(struct agent *a, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	dprintf(a->console, "spectrum-agent: %s\n", line);
}

int agent_send(struct agent *a, char type, const void *payload, size_t len)
{
	if (a->host_gone || a->port < 0)
		return -1;
	if (sp_frame_write(a->port, type, payload, len) == 0)
		return 0;
	agent_log(a, "unable to write to the control port: %s", strerror(errno));
	a->host_gone = true;
	return -1;
}

void agent_fail(struct agent *a, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	agent_log(a, "fatal: %s", line);
	agent_send(a, SP_FRAME_ERROR, line, strlen(line));
	agent_power_off(a);
}

/* A busy mount point (a process the kill has not finished yet) is
 * detached: powering off must not wait for it. */
static void unmount(const char *path)
{
	if (umount2(path, 0) < 0 && errno == EBUSY)
		umount2(path, MNT_DETACH);
}

void agent_power_off(struct agent *a)
{
	/* Nothing the command left may write into the shares any more. */
	kill(-1, SIGKILL);
	sync();
	while (a->n_tmpfs > 0)
		unmount(a->plan.tmpfs[--a->n_tmpfs]);
	while (a->n_mounted > 0)
		unmount(a->plan.mounts[--a->n_mounted].path);
	sync();
	reboot(RB_POWER_OFF);
	/* QEMU runs with -no-reboot: a reboot ends it too. */
	reboot(RB_AUTOBOOT);
	agent_log(a, "unable to power off: %s", strerror(errno));
	for (;;)
		pause();
}

/* ---- boot ---- */

long agent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Every directory up to and including PATH, MODE 0755 (the umask is
 * 022): a share's mount point need not exist in the initramfs. */
static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (strcmp(path, "/") == 0)
		return 0;
	if (n >= sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (char *c = buf + 1;; c++) {
		if (*c != '/' && *c != '\0')
			continue;
		char saved = *c;
		*c = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*c = saved;
		if (saved == '\0')
			return 0;
	}
}

struct early_mount {
	const char *source, *target, *type;
	unsigned long flags;
	const char *data;
};

/* /dev/pts is a new instance so that ptys are counted and named apart
 * from anything else; ptmxmode lets the command open /dev/ptmx too. */
static const struct early_mount early_mounts[] = {
	{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755" },
	{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620" },
	{ "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
};

/* Without fds 0, 1 and 2 (an initramfs without dev/console) a pipe
 * could take one of them and the command's stdio would be mixed up. */
static void ensure_stdio(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		int null = open("/dev/null", O_RDWR);
		if (null >= 0 && null != fd) {
			dup2(null, fd);
			close(null);
		}
	}
}

static void boot_mounts(struct agent *a)
{
	for (size_t i = 0; i < sizeof early_mounts / sizeof early_mounts[0]; i++) {
		const struct early_mount *m = &early_mounts[i];

		if (mkdir(m->target, 0755) < 0 && errno != EEXIST)
			agent_fail(a, "mkdir %s: %s", m->target, strerror(errno));
		if (mount(m->source, m->target, m->type, m->flags, m->data) < 0)
			agent_fail(a, "mount %s on %s: %s", m->type, m->target, strerror(errno));
		if (strcmp(m->target, "/dev") == 0) {
			int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
			if (fd >= 0)
				a->console = fd;
			ensure_stdio();
		}
	}
	if (access("/dev/ptmx", F_OK) < 0 && symlink("pts/ptmx", "/dev/ptmx") < 0)
		agent_fail(a, "symlink /dev/ptmx: %s", strerror(errno));
}

static void load_module(struct agent *a, const char *name)
{
	char path[512];
	int fd;

	if (snprintf(path, sizeof path, MODULES_DIR "/%s", name) >= (int)sizeof path) {
		agent_log(a, "module name too long: %.64s...", name);
		return;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		agent_log(a, "unable to open %s: %s", path, strerror(errno));
		return;
	}
	if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
		agent_log(a, "unable to load %s: %s", path, strerror(errno));
	close(fd);
}

/* MODULES_DIR/order names the modules one a line, in dependency order.
 * A module that fails is logged and the boot goes on: the port search
 * then says what is missing. */
/* The guest's kernel is the boundary: once the agent's modules are in,
 * the command may load no other (autoloading through a socket family
 * would reach modules never meant for it), create no user namespace, and
 * read no kernel address or log. */
static const struct {
	const char *path, *value;
	bool required;
} hardening[] = {
	{ "/proc/sys/kernel/modules_disabled", "1", true },
	{ "/proc/sys/user/max_user_namespaces", "0", true },
	{ "/proc/sys/kernel/kptr_restrict", "2", false },
	{ "/proc/sys/kernel/dmesg_restrict", "1", false },
	{ "/proc/sys/kernel/perf_event_paranoid", "3", false },
	{ "/proc/sys/kernel/unprivileged_bpf_disabled", "1", false },
	{ "/proc/sys/vm/unprivileged_userfaultfd", "0", false },
	{ "/proc/sys/kernel/kexec_load_disabled", "1", false },
};

static void harden_kernel(struct agent *a)
{
	for (size_t i = 0; i < sizeof hardening / sizeof hardening[0]; i++) {
		int fd = open(hardening[i].path, O_WRONLY | O_CLOEXEC);
		size_t len = strlen(hardening[i].value);
		bool ok = fd >= 0 && write(fd, hardening[i].value, len) == (ssize_t)len;

		if (fd >= 0)
			close(fd);
		if (!ok && hardening[i].required)
			agent_fail(a, "%s: %s", hardening[i].path, strerror(errno));
	}
}

static void load_modules(struct agent *a)
{
	FILE *f = fopen(MODULES_DIR "/order", "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f) {
		if (errno != ENOENT)
			agent_log(a, "unable to read " MODULES_DIR "/order: %s", strerror(errno));
		return;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' ' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n > 0)
			load_module(a, line);
	}
	free(line);
	fclose(f);
}

/* True when DIR holds an entry whose name starts with PREFIX. */
static bool dir_has(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d)))
		found = strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return found;
}

/* The port named SP_GUEST_PORT_NAME, opened; -1 when it is not there
 * (yet). */
static int open_port(void)
{
	DIR *d = opendir(PORTS_DIR);
	struct dirent *e;
	int fd = -1;

	if (!d)
		return -1;
	while (fd < 0 && (e = readdir(d))) {
		char path[512], name[128];
		ssize_t n;
		int nfd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, PORTS_DIR "/%s/name", e->d_name);
		nfd = open(path, O_RDONLY | O_CLOEXEC);
		if (nfd < 0)
			continue;
		n = read(nfd, name, sizeof name - 1);
		close(nfd);
		if (n <= 0)
			continue;
		name[n] = '\0';
		name[strcspn(name, "\n")] = '\0';
		if (strcmp(name, SP_GUEST_PORT_NAME) != 0)
			continue;
		/* devtmpfs may not have made the node yet: try again later. */
		snprintf(path, sizeof path, "/dev/%s", e->d_name);
		fd = open(path, O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	}
	closedir(d);
	return fd;
}

/* The port appears a little after virtio_console binds its device (the
 * host announces ports asynchronously, then devtmpfs makes the node).
 * Without a device for the driver no port will ever come: that is the
 * bare boot, and it powers off at once. */
static void find_port(struct agent *a)
{
	long deadline = agent_now_ms() + PORT_WAIT_MS;

	for (;;) {
		a->port = open_port();
		if (a->port >= 0)
			return;
		if (!dir_has(CONSOLE_DRIVER_DIR, "virtio") || agent_now_ms() >= deadline)
			break;
		sleep_ms(POLL_STEP_MS);
	}
	agent_log(a, "no control port, powering off");
	agent_power_off(a);
}

/* ---- the plan ---- */

/* Reads from the port until the reader holds a whole frame.  A virtio
 * port reads as end of file while its host end is not connected, so end
 * of file here means "not yet": the host connects to QEMU's socket when
 * it likes. */
static void read_first_frame(struct agent *a, char *type, const uint8_t **payload, size_t *len)
{
	long deadline = agent_now_ms() + PLAN_WAIT_MS;
	uint8_t buf[65536];

	for (;;) {
		struct pollfd pf = { .fd = a->port, .events = POLLIN };
		long left = deadline - agent_now_ms();
		ssize_t n;
		int got = sp_frame_next(&a->in, type, payload, len);

		if (got == 1)
			return;
		if (got < 0)
			agent_fail(a, "bad frame from the host");
		if (left <= 0) {
			agent_log(a, "no plan from the host in %d s, powering off", PLAN_WAIT_MS / 1000);
			agent_power_off(a);
		}
		if (poll(&pf, 1, (int)left) < 0 && errno != EINTR)
			agent_fail(a, "poll on the control port: %s", strerror(errno));
		n = read(a->port, buf, sizeof buf);
		if (n == 0)
			sleep_ms(POLL_STEP_MS);
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			agent_fail(a, "read from the control port: %s", strerror(errno));
		else if (n > 0 && sp_frame_feed(&a->in, buf, (size_t)n) < 0)
			agent_fail(a, "read from the control port: %s", strerror(errno));
	}
}

static void read_plan(struct agent *a)
{
	const uint8_t *payload;
	char why[512], type;
	size_t len;

	read_first_frame(a, &type, &payload, &len);
	if (type != SP_FRAME_PLAN)
		agent_fail(a, "bad plan: expected a 'P' frame first, not '%c'", type);
	if (sp_guest_plan_parse(payload, len, &a->plan, why, sizeof why) < 0)
		agent_fail(a, "bad plan: %s", why);
}

#define SYSROOT "/sysroot"

/* Moves the guest's own /dev, /proc and /sys into the root share and
 * makes it "/", as switch_root does: the initramfs stays behind, out of
 * reach (it is rootfs, which cannot be unmounted). */
static void switch_root(struct agent *a)
{
	static const char *const keep[] = { "/dev", "/proc", "/sys" };
	char to[64];

	for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
		snprintf(to, sizeof to, SYSROOT "%s", keep[i]);
		if (mount(keep[i], to, NULL, MS_MOVE, NULL) < 0)
			agent_fail(a, "move %s into the root share: %s", keep[i], strerror(errno));
	}
	if (chdir(SYSROOT) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0)
		agent_fail(a, "switch to the root share: %s", strerror(errno));
}

/* The plan's filesystem, in the order proto.h gives: the root share,
 * shares (a parent before its children), then links, then tmpfs. */
static void setup_plan(struct agent *a)
{
	const struct sp_guest_plan *p = &a->plan;
	const char *prefix = p->root ? SYSROOT : "";
	char at[4200];

	if (p->root && (mkdir_p(SYSROOT) < 0 ||
			mount(p->root, SYSROOT, "virtiofs", MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0))
		agent_fail(a, "mount the root share %s: %s", p->root, strerror(errno));
	for (size_t i = 0; i < p->n_mounts; i++) {
		const struct sp_guest_mount *m = &p->mounts[i];
		unsigned long flags = MS_NOSUID | MS_NODEV | (m->readonly ? MS_RDONLY : 0);

		snprintf(at, sizeof at, "%s%s", prefix, m->path);
		if (mkdir_p(at) < 0 || mount(m->tag, at, "virtiofs", flags, NULL) < 0)
			agent_fail(a, "mount %s at %s: %s", m->tag, m->path, strerror(errno));
		a->n_mounted = i + 1;
	}
	if (p->root)
		switch_root(a);
	for (size_t i = 0; i < p->n_links; i++) {
		const struct sp_guest_link *l = &p->links[i];
		char parent[4096];

		snprintf(parent, sizeof parent, "%s", l->path);
		*strrchr(parent, '/') = '\0';
		if ((parent[0] && mkdir_p(parent) < 0) || symlink(l->target, l->path) < 0)
			agent_fail(a, "link %s to %s: %s", l->path, l->target, strerror(errno));
	}
	for (size_t i = 0; p->tmpfs[i]; i++) {
		if (mkdir_p(p->tmpfs[i]) < 0 ||
		    mount("tmpfs", p->tmpfs[i], "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
			agent_fail(a, "tmpfs at %s: %s", p->tmpfs[i], strerror(errno));
		a->n_tmpfs = i + 1;
	}
	if (sethostname(p->hostname, strlen(p->hostname)) < 0)
		agent_fail(a, "hostname %s: %s", p->hostname, strerror(errno));
}

/* SIGCHLD is blocked for the relay's signalfd from the start, so that no
 * child's end is missed; the rest are the host's to send, through 'k'. */
static void init_signals(void)
{
	sigset_t set;

	for (size_t i = 0; i < agent_n_ignored_signals; i++)
		signal(agent_ignored_signals[i], SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

int main(void)
{
	struct agent a = { .console = 2, .port = -1 };

	/* Run anywhere else, the agent would mount over the host's /dev and
	 * power it off. */
	if (getpid() != 1) {
		fprintf(stderr, "spectrum-agent: fatal: this is a guest's PID 1, not a command\n");
		return 100;
	}
	umask(022);
	init_signals();
	boot_mounts(&a);
	agent_log(&a, "up");
	load_modules(&a);
	harden_kernel(&a);
	find_port(&a);
	read_plan(&a);
	setup_plan(&a);
	agent_run(&a);
	agent_power_off(&a);
}
